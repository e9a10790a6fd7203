//! `normalize`: files of any supported format (detected, decompressed, extracted from
//! archives) into one typed Parquet table, streamed batch by batch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::archive::{self, Capped, Tripwire};
use super::columnar;
use super::csvread::{self, CsvOptions, Decimal, NaValues, PandasIndex};
use super::detect::{self, Detected, Format};
use super::features::{self, ClassNames};
use super::filter::{self, Filter};
use super::media;
use super::registry::{Accepts, Data, Kind, stage_params};
use super::sheet::SheetRef;
use super::table::{self, ReadLimits, ReadOptions, SAMPLE_ROWS, Table};
use super::textlines::TextMode;
use super::{InputFile, StageContext, StageError, StageOutput};

stage_params! {
    /// Parameters of `normalize` (see docs/dataset-yaml.md).
    #[derive(Default, PartialEq)]
    pub struct NormalizeParams in NormalizeSpec {
        /// Columns to keep (in input order), each optionally renamed (`from`) and cast (`type`).
        #[serde(default)]
        pub columns: Option<BTreeMap<String, ColumnSpec>>,
        /// Columns to remove (instead of listing the ones to keep).
        #[serde(default)]
        pub drop: Vec<String>,
        /// Drop rows where any of these (output) columns is null.
        #[serde(default)]
        pub drop_nulls: Vec<String>,
        /// Keep only rows matching every filter: `column op value`, e.g. `stars >= 3`.
        #[serde(default)]
        pub filter: Vec<Filter>,
        /// Sort the output by these columns (ties keep input order); default: input order.
        #[serde(default)]
        pub sort_by: Vec<String>,
        /// `strict` fails on a value that does not convert; `lenient` makes it null and counts it.
        #[serde(default)]
        pub cast: CastMode,
        /// Input format; `auto` detects each file from its content and name.
        #[serde(default)]
        pub format: InputFormat,
        /// For JSON documents holding records under a key: that key.
        #[serde(default)]
        pub json_field: Option<String>,
        /// `fail` on a file that cannot be read, or `skip` it and report it.
        #[serde(default)]
        pub on_error: OnError,
        /// Columns that are class labels: their class names, or `auto` (sorted distinct values).
        #[serde(default)]
        pub class_labels: BTreeMap<String, ClassNames>,
        /// With `format: imagefolder`/`audiofolder`: store the files' bytes, not only their paths.
        #[serde(default)]
        pub embed_media: bool,
        /// CSV: the strings read as missing (null) in any column; default: pandas' list (`NA`,
        /// `N/A`, `null`, `NaN`, `None`, … and the empty field, which is always missing).
        #[serde(default)]
        pub na_values: Option<Vec<String>>,
        /// CSV: the decimal mark, `"."` or `","`; default: detected (a comma only in files not
        /// separated by commas).
        #[serde(default)]
        pub decimal: Option<Decimal>,
        /// CSV: the text encoding (`utf-8`, `latin-1`, `cp1252`, `utf-16`, `shift_jis`, …); default:
        /// UTF-8 (a UTF-16 byte order mark is followed; a file that is not UTF-8 from its first
        /// non-ASCII byte is read as Windows-1252, with a warning).
        #[serde(default)]
        pub encoding: Option<String>,
        /// CSV: pandas' unnamed index column (first column, no name, integers): `drop` or `keep`.
        #[serde(default)]
        pub pandas_index: PandasIndex,
        /// Text files (`.txt`): one row per `line` (default), `paragraph` (blocks separated by a
        /// blank line) or `file`, as the Hugging Face `text` loader's `sample_by`.
        // Left out of the canonical params at its default, so that existing action keys stay.
        #[serde(default, skip_serializing_if = "TextMode::is_line")]
        #[schemars(!skip_serializing_if)]
        pub text_mode: TextMode,
        /// Spreadsheets: the sheet to read, by name or 0-based position (default: the first).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(!skip_serializing_if)]
        pub sheet: Option<SheetRef>,
    }
}

/// One output column: where it comes from and its type.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The input column to take it from (default: the same name).
    #[serde(default)]
    pub from: Option<String>,
    /// Cast to this type (see `cast` for values that do not convert).
    #[serde(default, rename = "type")]
    pub ty: Option<ColumnType>,
}

/// Column types a `normalize` stage can cast to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int64,
    Int32,
    Float64,
    Float32,
    Bool,
    Date,
    Datetime,
}

impl ColumnType {
    fn arrow(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Float32 => DataType::Float32,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Date => DataType::Date32,
            ColumnType::Datetime => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }
}

/// What a cast does with a value that does not convert.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CastMode {
    /// Fail the stage, naming the file and column.
    #[default]
    Strict,
    /// Make it null, and count it per column in the report.
    Lenient,
}

/// What to do with a file that cannot be read.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail the stage.
    #[default]
    Fail,
    /// Leave the file out (none of its rows) and report it.
    Skip,
}

/// How to read the input files.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// Detect each file from its content and name.
    #[default]
    Auto,
    Csv,
    Tsv,
    Json,
    Jsonl,
    Parquet,
    Arrow,
    Arrows,
    /// Plain text, one row per line (`text_mode:`), as the Hugging Face `text` loader.
    Text,
    Xlsx,
    Xls,
    Ods,
    /// A folder of images (one subfolder per class, `metadata.csv`/`.jsonl` joined), as the
    /// Hugging Face `imagefolder` builder reads it.
    Imagefolder,
    /// A folder of audio files, as `audiofolder`.
    Audiofolder,
}

impl InputFormat {
    fn forced(self) -> Option<(Format, Option<u8>)> {
        match self {
            InputFormat::Auto | InputFormat::Imagefolder | InputFormat::Audiofolder => None,
            InputFormat::Csv => Some((Format::Csv, Some(b','))),
            InputFormat::Tsv => Some((Format::Csv, Some(b'\t'))),
            InputFormat::Json => Some((Format::Json, None)),
            InputFormat::Jsonl => Some((Format::Jsonl, None)),
            InputFormat::Parquet => Some((Format::Parquet, None)),
            InputFormat::Arrow => Some((Format::ArrowFile, None)),
            InputFormat::Arrows => Some((Format::ArrowStream, None)),
            InputFormat::Text => Some((Format::Text, None)),
            InputFormat::Xlsx => Some((Format::Xlsx, None)),
            InputFormat::Xls => Some((Format::Xls, None)),
            InputFormat::Ods => Some((Format::Ods, None)),
        }
    }
}

#[derive(Debug)]
pub struct Normalize {
    params: NormalizeParams,
}

impl Normalize {
    /// The CSV options of the stage's parameters (checked by `new`).
    fn csv_options(&self) -> CsvOptions {
        let p = &self.params;
        CsvOptions {
            na: p
                .na_values
                .as_ref()
                .map_or_else(NaValues::pandas, |v| Arc::new(NaValues::new(v, true))),
            decimal: p.decimal,
            encoding: p
                .encoding
                .as_deref()
                .and_then(|l| csvread::encoding(l).ok()),
            pandas_index: p.pandas_index,
        }
    }

    /// Output columns: (input index, output field), in input order.
    fn project(&self, schema: &SchemaRef) -> Result<Vec<(usize, Field)>, StageError> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let missing = |col: &str, what: &str| {
            let mut e = StageError::new(format!("{what} `{col}` is not a column of the input"));
            e = e.hint(
                match crate::spec::error::did_you_mean(col, names.iter().copied()) {
                    Some(h) => format!("{h} (columns: {})", names.join(", ")),
                    None => format!("the input's columns are: {}", names.join(", ")),
                },
            );
            e
        };
        let Some(columns) = &self.params.columns else {
            for d in &self.params.drop {
                if schema.index_of(d).is_err() {
                    return Err(missing(d, "`drop` names"));
                }
            }
            return Ok(schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| !self.params.drop.contains(f.name()))
                .map(|(i, f)| (i, Field::new(f.name(), f.data_type().clone(), true)))
                .collect());
        };
        let mut picked = Vec::new();
        for (out_name, spec) in columns {
            let from = spec.from.as_deref().unwrap_or(out_name);
            let idx = schema.index_of(from).map_err(|_| missing(from, "column"))?;
            let dt = spec
                .ty
                .map_or_else(|| schema.field(idx).data_type().clone(), ColumnType::arrow);
            picked.push((idx, Field::new(out_name, dt, true)));
        }
        picked.sort_by_key(|(idx, _)| *idx);
        Ok(picked)
    }

    /// Detect every input file, extracting archives and decompressing seekable formats into
    /// `scratch`. Returns the tables and the files that were skipped (`on_error: skip`).
    fn open(
        &self,
        cx: &StageContext<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<(Vec<Table>, Vec<(String, String)>), StageError> {
        let forced = if cx.input_is_source {
            self.params.format.forced()
        } else {
            Some((Format::Parquet, None))
        };
        // Every input is untrusted: archives and compressed files may expand only so far, and
        // a CSV record or JSON Lines line may be only so long (raised by environment variables).
        let limits = ReadLimits::from_env()?;
        let csv = self.csv_options();
        // What the archives and compressed files expand to, all together.
        let mut spent = archive::Spent::default();
        let mut tables = Vec::new();
        let mut skipped = Vec::new();
        let mut queue: Vec<InputFile> = cx.input.to_vec();
        let mut n = 0usize;
        let mut i = 0;
        while i < queue.len() {
            let file = queue[i].clone();
            i += 1;
            let result: Result<Option<Table>, StageError> = (|| {
                let det = detect::detect(&file.name, &file.path, forced).map_err(|e| {
                    let e = StageError::new(format!("`{}`: {e}", file.name));
                    if e.message.contains("unknown file format") {
                        e.hint("set `format:` on the stage to read it as one of them")
                    } else {
                        e
                    }
                })?;
                if let Some(w) = &det.warning {
                    warnings.push(w.clone());
                }
                if let Some(kind) = det.archive {
                    n += 1;
                    let dest = cx.scratch_dir.join(format!("archive-{n}"));
                    let members = archive::extract(
                        &file.path,
                        kind,
                        det.compression,
                        &dest,
                        limits.expansion,
                        &mut spent,
                    )
                    .map_err(|e| StageError {
                        message: format!("`{}`: {}", file.name, e.message),
                        ..e
                    })?;
                    for m in members {
                        queue.push(InputFile {
                            name: format!("{}/{m}", file.name),
                            path: dest.join(&m),
                        });
                    }
                    return Ok(None);
                }
                let mut path = file.path.clone();
                let detected: Detected = det;
                let mut compression = detected.compression;
                if detected.format.is_some_and(Format::needs_seek) && compression.is_some() {
                    n += 1;
                    let dest = cx.scratch_dir.join(format!("decompressed-{n}"));
                    let src = std::fs::File::open(&path)
                        .map_err(|e| StageError::new(format!("`{}`: {e}", file.name)))?;
                    let size = src.metadata().map_or(0, |m| m.len());
                    let r = detect::decompress(Box::new(src), detected.compression)
                        .map_err(|e| StageError::new(format!("`{}`: {e}", file.name)))?;
                    let trip = Tripwire::default();
                    let mut r =
                        Capped::new(r, limits.expansion, "a compressed file", size, trip.clone());
                    let mut out =
                        std::fs::File::create(&dest).map_err(|e| StageError::new(e.to_string()))?;
                    spent.bytes +=
                        std::io::copy(&mut r, &mut out).map_err(|e| match trip.get() {
                            Some((m, h)) => {
                                StageError::new(format!("`{}`: {m}", file.name)).hint(h.clone())
                            }
                            None => {
                                StageError::new(format!("`{}`: cannot decompress: {e}", file.name))
                            }
                        })?;
                    spent.check(&limits.expansion).map_err(|e| StageError {
                        message: format!("`{}`: {}", file.name, e.message),
                        ..e
                    })?;
                    path = dest;
                    compression = None;
                }
                Ok(Some(Table {
                    name: file.name.clone(),
                    path,
                    detected,
                    compression,
                    json_field: self.params.json_field.clone(),
                    limits,
                    csv: csv.clone(),
                    learned: Arc::default(),
                    read: ReadOptions {
                        text_mode: self.params.text_mode,
                        sheet: self.params.sheet.clone(),
                        partition: None,
                    },
                }))
            })();
            match result {
                Ok(Some(t)) => tables.push(t),
                Ok(None) => {}
                Err(e) if self.params.on_error == OnError::Skip => {
                    skipped.push((file.name.clone(), e.message));
                }
                Err(e) => return Err(e),
            }
        }
        Ok((tables, skipped))
    }
}

/// How a `class_labels` column becomes class ids.
#[derive(Debug)]
struct LabelMap {
    names: Vec<String>,
    /// The column holds class ids already (an integer column with names given in the spec).
    ids: bool,
    lookup: std::collections::HashMap<String, i64>,
}

impl LabelMap {
    fn new(names: Vec<String>, ids: bool) -> Self {
        let lookup = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as i64))
            .collect();
        LabelMap { names, ids, lookup }
    }

    /// The column as Int64 class ids; values that are not classes fail, or become null and are
    /// counted when `lenient`.
    fn apply(
        &self,
        col: &ArrayRef,
        column: &str,
        file: &str,
        lenient: bool,
        coerced: &mut u64,
    ) -> Result<ArrayRef, StageError> {
        let n = self.names.len() as i64;
        let bad = |v: &str| {
            let what = if self.ids {
                format!("is not a class id (0 to {})", n - 1)
            } else {
                format!("is not one of the class names ({})", preview(&self.names))
            };
            StageError::new(format!("`{file}`: column `{column}` value `{v}` {what}"))
                .hint("add it to `class_labels`, or set `cast: lenient` to make it null")
        };
        let mut out = arrow::array::Int64Builder::with_capacity(col.len());
        if self.ids {
            let ints = arrow::compute::cast(col, &DataType::Int64)
                .map_err(|e| StageError::new(e.to_string()))?;
            let ints = ints
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .ok_or_else(|| StageError::new("class ids are not integers"))?;
            for v in ints {
                match v {
                    None => out.append_null(),
                    Some(v) if (0..n).contains(&v) => out.append_value(v),
                    Some(_) if lenient => {
                        *coerced += 1;
                        out.append_null();
                    }
                    Some(v) => return Err(bad(&v.to_string())),
                }
            }
        } else {
            let strings = arrow::compute::cast(col, &DataType::Utf8)
                .map_err(|e| StageError::new(e.to_string()))?;
            let strings = strings
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| StageError::new("labels are not text"))?;
            for v in strings {
                match v.map(|v| (v, self.lookup.get(v))) {
                    None => out.append_null(),
                    Some((_, Some(&id))) => out.append_value(id),
                    Some((_, None)) if lenient => {
                        *coerced += 1;
                        out.append_null();
                    }
                    Some((v, None)) => return Err(bad(v)),
                }
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

fn preview(names: &[String]) -> String {
    if names.len() <= 8 {
        names.join(", ")
    } else {
        format!("{}, … {} more", names[..8].join(", "), names.len() - 8)
    }
}

/// Inputs listed one by one in the lock's summary; more are grouped by format.
const MAX_LISTED_INPUTS: usize = 100;

/// At most this many classes are collected for `class_labels: {c: auto}`.
const MAX_AUTO_CLASSES: usize = 100_000;

/// Per-run state while writing.
#[derive(Default)]
struct Pass {
    rows_in: u64,
    rows_out: u64,
    nulls: Vec<u64>,
    coercions: BTreeMap<String, u64>,
    /// Class names of `class_labels` columns, by output name.
    label_names: BTreeMap<String, Vec<String>>,
}

fn type_error(msg: &str) -> bool {
    msg.contains("parsing value")
        || msg.contains("first seen after the sampled records")
        || msg.contains("whilst decoding field")
        || msg.contains("as type")
        || msg.contains("Failed to parse")
        || msg.contains("failed to parse")
}

impl Kind for Normalize {
    const NAME: &'static str = "normalize";
    /// Bumped whenever the same inputs and parameters would give different bytes.
    /// 2: format detection by content, sampled type inference (dates, leading-zero ids as
    ///    strings).
    /// 3: the Hugging Face features in the Parquet footer (`huggingface` key).
    /// 4: real-world inputs: pandas' missing-value markers, decimal commas, CSV files merged by
    ///    column name, pandas' index column left out, JSON columns in first-seen order; Parquet
    ///    and Arrow inputs in canonical types, as pyarrow reads them (dictionaries decoded, large
    ///    and view layouts plain, INT96 as nanoseconds, timestamp[s] as [ms]; columnar.rs); the
    ///    features also in the Arrow schema's metadata, and for every type `datasets` derives;
    ///    dictionary encoding only for the columns whose values repeat in the first batch.
    /// 5: CSV date-times with offsets as UTC instants (they were naive); hive-style partition
    ///    folders (`year=2020/`) as columns.
    const VERSION: u32 = 5;
    const ACCEPTS: Accepts = Accepts::one(&[Data::SourceFiles, Data::Tables]);
    const PRODUCES: Data = Data::Tables;
    type Params = NormalizeParams;

    fn new(params: NormalizeParams) -> Result<Self, String> {
        if params.columns.as_ref().is_some_and(BTreeMap::is_empty) {
            return Err("`columns` is empty: list at least one column, or leave `columns` out to keep them all".into());
        }
        if params.columns.is_some() && !params.drop.is_empty() {
            return Err("use either `columns` (the columns to keep) or `drop` (the columns to remove), not both".into());
        }
        if let Some(label) = &params.encoding {
            csvread::encoding(label)?;
        }
        if let Some(na) = &params.na_values
            && let Some(long) = na.iter().find(|v| v.len() > 1024)
        {
            return Err(format!(
                "`na_values` holds a value of {} bytes; a missing-value marker is a short string such as `NA`",
                long.len()
            ));
        }
        Ok(Self { params })
    }

    fn params(&self) -> &NormalizeParams {
        &self.params
    }

    /// A media folder is read from a source; other formats from a source or a stage's tables.
    fn accepts(&self) -> Accepts {
        match self.params.format {
            InputFormat::Imagefolder | InputFormat::Audiofolder => Accepts::one(&[
                Data::SourceFiles,
            ])
            .because(
                "`format: imagefolder`/`audiofolder` reads a source folder, not a stage's output",
            ),
            _ => Self::ACCEPTS,
        }
    }

    fn default_output(&self, group: &str) -> String {
        group.to_owned()
    }

    fn reports_schema(&self) -> bool {
        true
    }

    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        if cx.input.is_empty() {
            return Err(StageError::new("the input has no files")
                .hint("check the source's `uri` and `files` globs"));
        }
        let mut warnings = Vec::new();
        let media_kind = match self.params.format {
            InputFormat::Imagefolder => Some(media::Kind::Image),
            InputFormat::Audiofolder => Some(media::Kind::Audio),
            _ => None,
        };
        if let Some(kind) = media_kind {
            return self.run_media(cx, kind);
        }
        let (mut tables, skipped) = self.open(cx, &mut warnings)?;
        // Folders named `key=value` (pandas `partition_cols`, pyarrow `write_dataset`, Spark)
        // are columns of the files below them.
        warnings.extend(table::apply_hive_partitions(&mut tables));
        self.finish(cx, &tables, skipped, warnings, None)
    }
}

impl Normalize {
    /// A media folder: one table of file references and header metadata, then the usual pass.
    fn run_media(
        &self,
        cx: &StageContext<'_>,
        kind: media::Kind,
    ) -> Result<StageOutput, StageError> {
        let folder =
            media::read(kind, cx.input, self.params.embed_media).map_err(StageError::new)?;
        let mut warnings = Vec::new();
        let problems: Vec<String> = folder
            .missing
            .iter()
            .map(|m| format!("`{m}` is named in metadata but missing"))
            .chain(folder.unreadable.iter().map(|(f, e)| format!("`{f}`: {e}")))
            .collect();
        if !problems.is_empty() {
            let line = media::found_line(kind, &folder);
            if self.params.on_error == OnError::Fail {
                let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
                return Err(
                    StageError::new(format!("{line}: {}", shown.join("; "))).hint(
                        "restore the files, or set `on_error: skip` to leave them out and go on",
                    ),
                );
            }
            warnings.push(line);
            warnings.extend(problems.iter().take(20).cloned());
        }
        if folder.found == 0 {
            return Err(
                StageError::new(format!("no {} in the source", kind.column()))
                    .hint("check the source's `uri`; files are recognized by extension"),
            );
        }
        let ipc = cx.scratch_dir.join("media.arrow");
        {
            let f = std::fs::File::create(&ipc).map_err(|e| StageError::new(e.to_string()))?;
            let mut w = arrow::ipc::writer::FileWriter::try_new(f, &folder.batch.schema())
                .map_err(|e| StageError::new(e.to_string()))?;
            w.write(&folder.batch)
                .map_err(|e| StageError::new(e.to_string()))?;
            w.finish().map_err(|e| StageError::new(e.to_string()))?;
        }
        let table = Table {
            name: format!("{} folder", kind.column()),
            path: ipc,
            detected: Detected {
                compression: None,
                archive: None,
                format: Some(Format::ArrowFile),
                dialect: None,
                by: "spec",
                warning: None,
            },
            compression: None,
            json_field: None,
            limits: ReadLimits::default(),
            csv: CsvOptions::default(),
            learned: Arc::default(),
            read: ReadOptions::default(),
        };
        // Labels from class folders are class labels, as `imagefolder` makes them.
        let mut params = self.params.clone();
        if folder.labels_from_folders {
            params
                .class_labels
                .entry("label".into())
                .or_insert(ClassNames::Auto);
        }
        let effective = Normalize { params };
        let info = serde_json::json!({
            "kind": kind.column(),
            "found": folder.found,
            "missing": folder.missing.len(),
            "unreadable": folder.unreadable.len(),
            "metadata_files": folder.metadata_files,
            "labels_from_folders": folder.labels_from_folders,
            "embedded": self.params.embed_media,
        });
        let mut out = effective.finish(cx, &[table], Vec::new(), warnings, Some(&(kind, info)))?;
        out.warnings.insert(0, media::found_line(kind, &folder));
        Ok(out)
    }

    /// Infer, write, and summarize the tables.
    fn finish(
        &self,
        cx: &StageContext<'_>,
        tables: &[Table],
        mut skipped: Vec<(String, String)>,
        mut warnings: Vec<String>,
        media: Option<&(media::Kind, serde_json::Value)>,
    ) -> Result<StageOutput, StageError> {
        // Sampled inference first; a file whose later rows do not fit gets a full pass.
        let mut full: BTreeSet<usize> = BTreeSet::new();
        let out_path = cx.out_dir.join("part-0.parquet");
        let (pass, out_schema, used) = loop {
            let mut schemas = Vec::new();
            let mut used = Vec::new();
            let mut file_warnings = Vec::new();
            for (i, t) in tables.iter().enumerate() {
                match t.infer(if full.contains(&i) {
                    None
                } else {
                    Some(SAMPLE_ROWS)
                }) {
                    Ok((s, w)) => {
                        file_warnings.extend(w);
                        schemas.push((t.name.clone(), s));
                        used.push(i);
                    }
                    Err(e) if self.params.on_error == OnError::Skip => {
                        skipped.push((t.name.clone(), e.message));
                    }
                    Err(e) => return Err(e),
                }
            }
            if used.is_empty() {
                return Err(StageError::new("no input file could be read")
                    .hint("see the skipped files above"));
            }
            let (schema, merge_warnings) = table::merge_schemas(&schemas);
            let max_columns = tables.first().map_or(usize::MAX, |t| t.limits.max_columns);
            let width = schema.flattened_fields().len();
            if width > max_columns {
                let what = if used.len() == 1 {
                    format!("`{}` has {width} columns", tables[used[0]].name)
                } else {
                    format!(
                        "the {} input files have {width} columns together",
                        used.len()
                    )
                };
                return Err(table::too_many_columns(&what, max_columns));
            }
            let schema = Arc::new(schema);
            match self.write(tables, &used, &schema, &out_path, &mut skipped) {
                Ok((pass, out_schema)) => {
                    warnings.extend(file_warnings);
                    warnings.extend(merge_warnings);
                    break (pass, out_schema, used);
                }
                Err((i, e)) if !full.contains(&i) && type_error(&e.message) => {
                    full.insert(i);
                }
                Err((_, e)) => return Err(e),
            }
        };
        for &i in &used {
            warnings.extend(tables[i].notes());
        }
        for (col, n) in &pass.coercions {
            if *n > 0 {
                warnings.push(format!(
                    "`cast: lenient` turned {n} values of column `{col}` into null"
                ));
            }
        }
        for (file, why) in &skipped {
            warnings.push(format!("skipped `{file}`: {why}"));
        }
        let mut summary = BTreeMap::new();
        summary.insert("rows".into(), pass.rows_out.into());
        summary.insert("rows_in".into(), pass.rows_in.into());
        summary.insert("rows_dropped".into(), (pass.rows_in - pass.rows_out).into());
        let feats = self.output_features(&out_schema, &pass.label_names);
        if let Some((_, info)) = media {
            summary.insert("media".into(), info.clone());
        }
        summary.insert("features".into(), feats);
        summary.insert(
            "schema".into(),
            table::schema_summary(&out_schema, Some(&pass.nulls)),
        );
        // One entry per file for small inputs; for many files (the source already lists each
        // with its hash), one entry per format, so the lock does not repeat every name.
        let inputs: Vec<serde_json::Value> = if used.len() <= MAX_LISTED_INPUTS {
            used.iter()
                .map(|&i| {
                    let t = &tables[i];
                    serde_json::json!({"file": t.name, "format": t.detected.describe(), "detected_by": t.detected.by})
                })
                .collect()
        } else {
            let mut groups: BTreeMap<(String, &str), (u64, &str)> = BTreeMap::new();
            for &i in &used {
                let t = &tables[i];
                let g = groups
                    .entry((t.detected.describe(), t.detected.by))
                    .or_insert((0, t.name.as_str()));
                g.0 += 1;
            }
            groups
                .into_iter()
                .map(|((format, by), (n, first))| serde_json::json!({"files": n, "first": first, "format": format, "detected_by": by}))
                .collect()
        };
        summary.insert("inputs".into(), inputs.into());
        if pass.coercions.values().any(|n| *n > 0) {
            summary.insert(
                "coercions".into(),
                serde_json::to_value(&pass.coercions).unwrap_or_default(),
            );
        }
        if !skipped.is_empty() {
            let s: Vec<serde_json::Value> = skipped
                .iter()
                .map(|(f, e)| serde_json::json!({"file": f, "error": e}))
                .collect();
            summary.insert("skipped_files".into(), s.into());
        }
        Ok(StageOutput {
            files: vec![("part-0.parquet".into(), Some(pass.rows_out))],
            summary,
            warnings,
            display: None,
        })
    }
}

impl Normalize {
    /// One pass over the tables into `out`. An error names the table it came from.
    fn write(
        &self,
        tables: &[Table],
        used: &[usize],
        schema: &SchemaRef,
        out: &std::path::Path,
        skipped: &mut Vec<(String, String)>,
    ) -> Result<(Pass, SchemaRef), (usize, StageError)> {
        let picked = self.project(schema).map_err(|e| (usize::MAX, e))?;
        let labels = self.label_maps(tables, used, schema, &picked)?;
        let fields: Vec<Field> = picked
            .iter()
            .enumerate()
            .map(|(k, (_, f))| {
                if labels.contains_key(&k) {
                    Field::new(f.name(), DataType::Int64, true)
                } else {
                    f.clone()
                }
            })
            .collect();
        if let Some(f) = fields
            .iter()
            .find(|f| !columnar::parquet_can_hold(f.data_type()))
        {
            return Err((
                usize::MAX,
                StageError::new(format!(
                    "column `{}` is of type {}, which a Parquet table cannot hold",
                    f.name(),
                    table::type_name(f.data_type())
                ))
                .hint(format!(
                    "leave it out with `drop: [{}]`, or convert it before normalizing",
                    f.name()
                )),
            ));
        }
        let names: BTreeMap<String, Vec<String>> = labels
            .iter()
            .map(|(k, m)| (picked[*k].1.name().clone(), m.names.clone()))
            .collect();
        // The features travel with the data, in the footer where `datasets` looks for them:
        // the Arrow schema's metadata (which pyarrow reads) and the Parquet key-value pairs.
        let footer =
            features::metadata_value(&self.output_features(&Schema::new(fields.clone()), &names));
        let out_schema: SchemaRef = Arc::new(Schema::new_with_metadata(
            fields,
            std::collections::HashMap::from([(features::METADATA_KEY.to_owned(), footer.clone())]),
        ));
        for col in self.params.drop_nulls.iter().chain(&self.params.sort_by) {
            if out_schema.index_of(col).is_err() {
                return Err((
                    usize::MAX,
                    StageError::new(format!(
                        "column `{col}` (in `drop_nulls` or `sort_by`) is not in the output"
                    ))
                    .hint("name output columns, after renaming"),
                ));
            }
        }
        for f in &self.params.filter {
            if out_schema.index_of(&f.column).is_err() {
                return Err((
                    usize::MAX,
                    StageError::new(format!("filter `{f}`: no output column `{}`", f.column))
                        .hint("filters use output column names, after renaming"),
                ));
            }
        }
        let mut pass = Pass {
            rows_in: 0,
            rows_out: 0,
            nulls: vec![0; picked.len()],
            ..Pass::default()
        };
        let mut sink = if self.params.sort_by.is_empty() {
            Some(
                table::ParquetSink::create_adaptive(out, &out_schema)
                    .map_err(|e| (usize::MAX, e))?,
            )
        } else {
            None
        };
        let mut held: Vec<RecordBatch> = Vec::new();
        let skip = self.params.on_error == OnError::Skip;
        for &i in used {
            let t = &tables[i];
            let result = (|| -> Result<Vec<RecordBatch>, StageError> {
                let mut file_batches = Vec::new();
                // Decode and transform on one thread while this one encodes Parquet: the two
                // halves of the work overlap (bounded by a small channel, so memory stays flat).
                let batches = t.batches(schema)?;
                let file_pass = std::thread::scope(|scope| -> Result<Pass, StageError> {
                    let (tx, rx) =
                        std::sync::mpsc::sync_channel::<Result<RecordBatch, StageError>>(2);
                    let (picked, labels, out_schema) = (&picked, &labels, &out_schema);
                    let producer = scope.spawn(move || {
                        let mut file_pass = Pass {
                            nulls: vec![0; picked.len()],
                            ..Pass::default()
                        };
                        for batch in batches {
                            let r = batch.and_then(|b| {
                                self.transform(&b, picked, labels, out_schema, t, &mut file_pass)
                            });
                            let failed = r.is_err();
                            if tx.send(r).is_err() || failed {
                                break;
                            }
                        }
                        file_pass
                    });
                    for r in rx {
                        let batch = r?;
                        // Streaming unless the file must be all-or-nothing or the output sorted.
                        match (&mut sink, skip) {
                            (Some(s), false) => s.write(&batch)?,
                            _ => file_batches.push(batch),
                        }
                    }
                    producer
                        .join()
                        .map_err(|_| StageError::new("internal error: the reader thread panicked"))
                })?;
                pass.rows_in += file_pass.rows_in;
                pass.rows_out += file_pass.rows_out;
                for (a, b) in pass.nulls.iter_mut().zip(&file_pass.nulls) {
                    *a += b;
                }
                for (c, n) in file_pass.coercions {
                    *pass.coercions.entry(c).or_default() += n;
                }
                Ok(file_batches)
            })();
            match result {
                Ok(batches) => match &mut sink {
                    Some(s) => {
                        for b in &batches {
                            s.write(b).map_err(|e| (i, e))?;
                        }
                    }
                    None => held.extend(batches),
                },
                Err(e) if skip && !type_error(&e.message) => {
                    skipped.push((t.name.clone(), e.message));
                }
                Err(e) => return Err((i, e)),
            }
        }
        let mut sink = if let Some(s) = sink {
            s
        } else {
            let sorted =
                sort(&out_schema, &held, &self.params.sort_by).map_err(|e| (usize::MAX, e))?;
            let mut s = table::ParquetSink::create_adaptive(out, &out_schema)
                .map_err(|e| (usize::MAX, e))?;
            for b in &sorted {
                s.write(b).map_err(|e| (usize::MAX, e))?;
            }
            s
        };
        sink.footer(features::METADATA_KEY, &footer);
        sink.finish().map_err(|e| (usize::MAX, e))?;
        Ok((
            Pass {
                label_names: names,
                ..pass
            },
            out_schema,
        ))
    }

    /// The Hugging Face features of the output: ClassLabel names, and the Image/Audio
    /// column of a media folder.
    fn output_features(
        &self,
        schema: &arrow::datatypes::Schema,
        names: &BTreeMap<String, Vec<String>>,
    ) -> serde_json::Value {
        let mut feats = features::features(schema, names);
        let kind = match self.params.format {
            InputFormat::Imagefolder => Some(media::Kind::Image),
            InputFormat::Audiofolder => Some(media::Kind::Audio),
            _ => None,
        };
        if let Some(kind) = kind
            && let Some(col) = feats.get_mut(kind.column())
        {
            *col = match kind {
                media::Kind::Image => serde_json::json!({"_type": "Image"}),
                media::Kind::Audio => serde_json::json!({"_type": "Audio"}),
            };
        }
        feats
    }

    /// Class names per `class_labels` column (by position in `picked`); `auto` reads the
    /// column's distinct values first (a pass over that column).
    fn label_maps(
        &self,
        tables: &[Table],
        used: &[usize],
        schema: &SchemaRef,
        picked: &[(usize, Field)],
    ) -> Result<BTreeMap<usize, LabelMap>, (usize, StageError)> {
        let mut out = BTreeMap::new();
        for (col, spec) in &self.params.class_labels {
            let Some(k) = picked.iter().position(|(_, f)| f.name() == col) else {
                return Err((
                    usize::MAX,
                    StageError::new(format!(
                        "`class_labels` names column `{col}`, which is not in the output"
                    ))
                    .hint("name output columns, after renaming"),
                ));
            };
            let (idx, field) = &picked[k];
            let map = match spec {
                ClassNames::Names(names) => {
                    LabelMap::new(names.clone(), field.data_type().is_integer())
                }
                ClassNames::Auto => {
                    let mut values: BTreeSet<String> = BTreeSet::new();
                    let mut ints: BTreeSet<i64> = BTreeSet::new();
                    let integer = field.data_type().is_integer();
                    for &i in used {
                        let t = &tables[i];
                        for batch in t.batches(schema).map_err(|e| (i, e))? {
                            let batch = batch.map_err(|e| (i, e))?;
                            let c = cast_with_options(
                                batch.column(*idx),
                                &if integer {
                                    DataType::Int64
                                } else {
                                    DataType::Utf8
                                },
                                &CastOptions::default(),
                            )
                            .map_err(|e| (i, StageError::new(e.to_string())))?;
                            if integer {
                                if let Some(a) =
                                    c.as_any().downcast_ref::<arrow::array::Int64Array>()
                                {
                                    ints.extend(a.iter().flatten());
                                }
                            } else if let Some(a) =
                                c.as_any().downcast_ref::<arrow::array::StringArray>()
                            {
                                values.extend(a.iter().flatten().map(str::to_owned));
                            }
                            if values.len() + ints.len() > MAX_AUTO_CLASSES {
                                return Err((i, StageError::new(format!("column `{col}` has more than {MAX_AUTO_CLASSES} distinct values; it is not a class label")).hint("remove it from `class_labels`")));
                            }
                        }
                    }
                    let names: Vec<String> = if integer {
                        ints.iter().map(i64::to_string).collect()
                    } else {
                        values.into_iter().collect()
                    };
                    if names.is_empty() {
                        return Err((
                            usize::MAX,
                            StageError::new(format!(
                                "column `{col}` has no values to take class names from"
                            )),
                        ));
                    }
                    LabelMap::new(names, false)
                }
            };
            out.insert(k, map);
        }
        Ok(out)
    }

    /// Select, rename and cast columns, then filter rows and drop rows with nulls.
    fn transform(
        &self,
        batch: &RecordBatch,
        picked: &[(usize, Field)],
        labels: &BTreeMap<usize, LabelMap>,
        out_schema: &SchemaRef,
        t: &Table,
        pass: &mut Pass,
    ) -> Result<RecordBatch, StageError> {
        pass.rows_in += batch.num_rows() as u64;
        let lenient = self.params.cast == CastMode::Lenient;
        let opts = CastOptions {
            safe: lenient,
            ..CastOptions::default()
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(picked.len());
        for (k, (idx, field)) in picked.iter().enumerate() {
            let col = batch.column(*idx);
            if let Some(map) = labels.get(&k) {
                let mut coerced = 0;
                columns.push(map.apply(col, field.name(), &t.name, lenient, &mut coerced)?);
                if coerced > 0 {
                    *pass.coercions.entry(field.name().clone()).or_default() += coerced;
                }
                continue;
            }
            if col.data_type() == field.data_type() {
                columns.push(col.clone());
                continue;
            }
            let cast = cast_with_options(col, field.data_type(), &opts).map_err(|e| {
                StageError::new(format!("`{}`: column `{}` does not convert to {}: {e}", t.name, field.name(), table::type_name(field.data_type())))
                    .hint("set `cast: lenient` on the stage to make such values null (they are counted), or fix the data")
            })?;
            if lenient {
                let added = cast.null_count().saturating_sub(col.null_count()) as u64;
                *pass.coercions.entry(field.name().clone()).or_default() += added;
            }
            columns.push(cast);
        }
        let mut out = RecordBatch::try_new(out_schema.clone(), columns)
            .map_err(|e| StageError::new(format!("`{}`: {e}", t.name)))?;
        let classes: BTreeMap<&str, &[String]> = labels
            .iter()
            .map(|(k, m)| (picked[*k].1.name().as_str(), m.names.as_slice()))
            .collect();
        let mut keep =
            filter::mask(&self.params.filter, &out, &classes).map_err(StageError::new)?;
        if !self.params.drop_nulls.is_empty() {
            let valid: BooleanArray = (0..out.num_rows())
                .map(|row| {
                    Some(
                        self.params
                            .drop_nulls
                            .iter()
                            .all(|c| out.column_by_name(c).is_some_and(|a| a.is_valid(row))),
                    )
                })
                .collect();
            keep = Some(match keep {
                None => valid,
                Some(k) => {
                    arrow::compute::and(&k, &valid).map_err(|e| StageError::new(e.to_string()))?
                }
            });
        }
        if let Some(k) = keep {
            out = filter_record_batch(&out, &k).map_err(|e| StageError::new(e.to_string()))?;
        }
        for (i, col) in out.columns().iter().enumerate() {
            pass.nulls[i] += col.logical_null_count() as u64;
        }
        pass.rows_out += out.num_rows() as u64;
        Ok(out)
    }
}

/// Rows sorted by `keys` (stable: ties keep input order).
fn sort(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    keys: &[String],
) -> Result<Vec<RecordBatch>, StageError> {
    let all = arrow::compute::concat_batches(schema, batches)
        .map_err(|e| StageError::new(e.to_string()))?;
    let mut columns: Vec<arrow::compute::SortColumn> = keys
        .iter()
        .filter_map(|k| all.column_by_name(k))
        .map(|c| arrow::compute::SortColumn {
            values: c.clone(),
            options: None,
        })
        .collect();
    // The row number breaks ties, so equal keys keep their input order.
    let rows: ArrayRef = Arc::new(arrow::array::UInt64Array::from_iter_values(
        0..all.num_rows() as u64,
    ));
    columns.push(arrow::compute::SortColumn {
        values: rows,
        options: None,
    });
    let idx = arrow::compute::lexsort_to_indices(&columns, None)
        .map_err(|e| StageError::new(e.to_string()))?;
    let sorted = arrow::compute::take_record_batch(&all, &idx)
        .map_err(|e| StageError::new(e.to_string()))?;
    Ok(vec![sorted])
}
