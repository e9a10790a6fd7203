//! Reading tables of every supported format as streams of Arrow record batches, and writing
//! Parquet deterministically. Parquet is the contract between stages.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::archive::{self, Tripwire};
use super::columnar;
use super::csvread::{self, CsvOptions, Decode, Layout, Learned, PandasIndex};
use super::detect::{self, Detected, Dialect, Format};
use super::infer::ColumnStats;
use super::jsonread;
use super::{InputFile, StageError};

mod csv_parallel;
mod sink;
pub use sink::ParquetSink;

/// Rows per record batch when reading.
pub const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Records sampled to infer the types of text formats (a later mismatch triggers a full pass).
pub const SAMPLE_ROWS: usize = 50_000;

/// At most this many cells (rows × columns) are decoded into one CSV batch: arrow's CSV
/// decoder reserves room for a whole batch up front (16 bytes a cell), so a file of 5,000
/// columns would reserve 5 GB for 64 Ki rows. Wide files are decoded a few rows at a time and
/// the rows put back together into batches of [`BATCH_ROWS`] (so the output does not depend
/// on the width), which costs memory in proportion to the data.
const CSV_BATCH_CELLS: usize = 1 << 20;

/// The default of `MLDATA_MAX_COLUMNS`. Memory no longer grows with the columns when text is
/// decoded, but Parquet writers and readers keep state per column (~60 KB each, per open
/// file): 10,000 columns cost `normalize` about 600 MB whatever the rows.
const DEFAULT_MAX_COLUMNS: u64 = 10_000;
pub const ENV_COLUMNS: &str = "MLDATA_MAX_COLUMNS";

/// The default of `MLDATA_MAX_SHEET_CELLS`. calamine holds an `.ods` sheet in memory, every
/// cell of its bounding box expanded (about 56 bytes a cell with its formula), and one XML
/// element may repeat a cell 16,384 times across and a row a million times down: 20 M cells
/// is about 1.1 GB.
const DEFAULT_MAX_SHEET_CELLS: u64 = 20_000_000;
pub const ENV_SHEET_CELLS: &str = "MLDATA_MAX_SHEET_CELLS";

/// The error for a table wider than `max` columns (`what`: "`a.csv` has 20000 columns").
pub fn too_many_columns(what: &str, max: usize) -> StageError {
    StageError::new(format!(
        "{what}; a table may have at most {ENV_COLUMNS}={max} columns"
    ))
    .hint(format!(
        "each column costs memory in every stage that reads or writes the table (about 60 KB per open Parquet file); if the table is genuine, set {ENV_COLUMNS} above {max}"
    ))
}

/// A repeated name gets a suffix: the second `a` becomes `a_2` (the first `_k` not taken by
/// any column). Linear time: a header of 100,000 copies of one name is hostile input too.
pub(super) fn unique_names(names: &mut [String], file: &str, warnings: &mut Vec<String>) {
    use std::collections::{HashMap, HashSet};
    // How many columns hold each name right now (renamed ones under their new name).
    let mut count: HashMap<String, usize> = HashMap::new();
    for n in names.iter() {
        *count.entry(n.clone()).or_default() += 1;
    }
    let mut seen: HashSet<String> = HashSet::new();
    // Names only ever get added, so the first free suffix of a name never goes down.
    let mut next: HashMap<String, usize> = HashMap::new();
    for name in names.iter_mut() {
        if seen.contains(name.as_str()) {
            let base = name.clone();
            let mut k = next.get(&base).copied().unwrap_or(2);
            while count.get(&format!("{base}_{k}")).is_some_and(|&c| c > 0) {
                k += 1;
            }
            next.insert(base.clone(), k);
            let renamed = format!("{base}_{k}");
            warnings.push(format!(
                "`{file}`: column name `{base}` repeats; the second is named `{renamed}`"
            ));
            if let Some(c) = count.get_mut(&base) {
                *c -= 1;
            }
            *count.entry(renamed.clone()).or_default() += 1;
            *name = renamed;
        }
        seen.insert(name.clone());
    }
}

/// The default of `MLDATA_MAX_RECORD_MIB`: the longest CSV record or JSON Lines line.
const DEFAULT_MAX_RECORD_MIB: u64 = 64;
pub const ENV_RECORD_MIB: &str = "MLDATA_MAX_RECORD_MIB";

/// Bounds on reading one input file (every input is untrusted): how far a compressed file
/// may expand (the archive limits), and how long one CSV record or JSON Lines line may be
/// (parsers hold a whole record in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    pub expansion: archive::Limits,
    pub max_record: u64,
    pub max_columns: usize,
    /// Cells of one `.ods` sheet once its repeated rows and cells are expanded.
    pub max_sheet_cells: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            expansion: archive::Limits::default(),
            max_record: DEFAULT_MAX_RECORD_MIB << 20,
            max_columns: DEFAULT_MAX_COLUMNS as usize,
            max_sheet_cells: DEFAULT_MAX_SHEET_CELLS,
        }
    }
}

impl ReadLimits {
    /// The defaults, changed by `MLDATA_MAX_EXPANSION_RATIO`, `MLDATA_MAX_EXPANDED_GIB`,
    /// `MLDATA_MAX_ARCHIVE_ENTRIES`, `MLDATA_MAX_RECORD_MIB`, `MLDATA_MAX_COLUMNS` and
    /// `MLDATA_MAX_SHEET_CELLS`.
    pub fn from_env() -> Result<Self, StageError> {
        Ok(ReadLimits {
            expansion: archive::Limits::from_env()?,
            max_record: archive::env_limit(ENV_RECORD_MIB, DEFAULT_MAX_RECORD_MIB)?
                .saturating_mul(1 << 20),
            max_columns: usize::try_from(archive::env_limit(ENV_COLUMNS, DEFAULT_MAX_COLUMNS)?)
                .unwrap_or(usize::MAX),
            max_sheet_cells: archive::env_limit(ENV_SHEET_CELLS, DEFAULT_MAX_SHEET_CELLS)?,
        })
    }
}

/// A stream of batches.
pub type Batches<'a> = Box<dyn Iterator<Item = Result<RecordBatch, StageError>> + Send + 'a>;

/// An input file with what it was detected to be.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// Where to read it (a decompressed copy for seekable formats that came compressed).
    pub path: PathBuf,
    pub detected: Detected,
    /// The compression to undo when reading `path` (`None` once decompressed into scratch).
    pub compression: Option<detect::Compression>,
    /// `json_field:` for JSON documents with records under a key.
    pub json_field: Option<String>,
    pub limits: ReadLimits,
    /// `na_values`, `decimal`, `encoding`, `pandas_index`.
    pub csv: CsvOptions,
    /// What reading learned (a CSV file's column layout, notes for the report), shared by
    /// this table's clones.
    pub learned: Arc<Learned>,
    /// `text_mode:` and `sheet:`.
    pub read: ReadOptions,
}

/// How to read text files and spreadsheets (the stage's `text_mode:` and `sheet:`).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub text_mode: super::textlines::TextMode,
    pub sheet: Option<super::sheet::SheetRef>,
    /// The file's hive-style partition (`year=2020/` in its path), see [`hive_partitions`].
    pub partition: Option<Arc<Partition>>,
}

/// The columns a file's folders name, hive-style (`year=2020/city=Paris/part-0.parquet`), as
/// pandas (`partition_cols`), pyarrow (`write_dataset`), polars (`partition_by`) and Spark write
/// them: appended after the file's own columns, one value for all its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub fields: Vec<Field>,
    pub values: Vec<Option<String>>,
}

/// The `key=value` folders of a file's name (relative to its source), in order; values
/// percent-decoded, `__HIVE_DEFAULT_PARTITION__` (a null) as `None`.
fn hive_pairs(name: &str) -> Vec<(String, Option<String>)> {
    let mut dirs: Vec<&str> = name.split('/').collect();
    dirs.pop();
    dirs.iter()
        .filter_map(|d| {
            let (k, v) = d.split_once('=')?;
            if k.is_empty() {
                return None;
            }
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned();
            Some((
                k.to_owned(),
                (v != "__HIVE_DEFAULT_PARTITION__").then_some(v),
            ))
        })
        .collect()
}

/// Each file's hive partition, when every file's folders name the same keys in the same order
/// (as pyarrow's `read_table` finds them): a column per key, `int32` when every value is one
/// (as pyarrow infers), else `string`. `None` when the names have no `key=value` folders, or
/// when the files disagree (then a warning says so and no column is added).
pub fn hive_partitions(names: &[&str]) -> (Option<Vec<Partition>>, Option<String>) {
    let pairs: Vec<Vec<(String, Option<String>)>> = names.iter().map(|n| hive_pairs(n)).collect();
    let Some(first) = pairs.first().filter(|p| !p.is_empty()) else {
        return (None, None);
    };
    let keys: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    if let Some(odd) = pairs
        .iter()
        .position(|p| p.iter().map(|(k, _)| k.as_str()).ne(keys.iter().copied()))
    {
        return (
            None,
            Some(format!(
                "the files' folders name partitions (`{}=…`) but `{}` does not name the same ones; no partition columns are added",
                keys.join("=…/"),
                names[odd]
            )),
        );
    }
    let fields: Vec<Field> = keys
        .iter()
        .enumerate()
        .map(|(k, key)| {
            let ints = pairs
                .iter()
                .filter_map(|p| p[k].1.as_deref())
                .all(|v| v.parse::<i32>().is_ok());
            Field::new(
                *key,
                if ints {
                    DataType::Int32
                } else {
                    DataType::Utf8
                },
                true,
            )
        })
        .collect();
    let parts = pairs
        .into_iter()
        .map(|p| Partition {
            fields: fields.clone(),
            values: p.into_iter().map(|(_, v)| v).collect(),
        })
        .collect();
    (Some(parts), None)
}

/// Set each table's partition from the tables' names; the warning when they disagree.
pub fn apply_hive_partitions(tables: &mut [Table]) -> Option<String> {
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let (parts, warning) = hive_partitions(&names);
    if let Some(parts) = parts {
        for (t, p) in tables.iter_mut().zip(parts) {
            t.read.partition = Some(Arc::new(p));
        }
    }
    warning
}

fn err(name: &str, e: impl std::fmt::Display) -> StageError {
    StageError::new(format!("`{name}`: {e}"))
}

impl Table {
    pub fn format(&self) -> Format {
        self.detected.format.unwrap_or(Format::Csv)
    }

    fn dialect(&self) -> Dialect {
        self.detected.dialect.unwrap_or(Dialect {
            delimiter: b',',
            quote: b'"',
            header: true,
        })
    }

    /// The file's bytes, decompressed (at most [`archive::Limits::cap`] of them), with a
    /// UTF-8 byte order mark removed; and the tripwire a limit leaves its error on.
    fn reader(&self) -> Result<(Box<dyn Read + Send>, Tripwire), StageError> {
        let f = File::open(&self.path).map_err(|e| err(&self.name, format!("cannot open: {e}")))?;
        let size = f.metadata().map_or(0, |m| m.len());
        let trip = Tripwire::default();
        let mut r =
            detect::decompress(Box::new(f), self.compression).map_err(|e| err(&self.name, e))?;
        if let Some(c) = self.compression {
            let what = match c {
                detect::Compression::Gzip => "a gzip file",
                detect::Compression::Zstd => "a zstd file",
                detect::Compression::Bzip2 => "a bzip2 file",
                detect::Compression::Xz => "an xz file",
            };
            r = Box::new(archive::Capped::new(
                r,
                self.limits.expansion,
                what,
                size,
                trip.clone(),
            ));
        }
        if self.format() == Format::Csv {
            let decoded = Decode::new(
                r,
                self.csv.encoding,
                &self.name,
                trip.clone(),
                self.learned.clone(),
            );
            return Ok((Box::new(decoded), trip));
        }
        Ok((
            Box::new(SkipBom {
                inner: r,
                checked: false,
                pending: Vec::new(),
            }),
            trip,
        ))
    }

    /// Notes from reading (an encoding detected), for the stage's report.
    pub fn notes(&self) -> Vec<String> {
        self.learned.notes()
    }

    /// The file's text, guarded: no CSV record (or JSON Lines line) longer than the limit.
    fn records(
        &self,
        trip: Tripwire,
        r: Box<dyn Read + Send>,
    ) -> RecordGuard<Box<dyn Read + Send>> {
        let quote = match self.format() {
            Format::Csv => {
                let d = self.dialect();
                Some((d.quote, d.delimiter))
            }
            _ => None,
        };
        RecordGuard::new(r, quote, self.limits.max_record, trip)
    }

    /// The error of the limit that stopped a reader, if one did (it replaces the decoder's
    /// error, which only says that reading failed).
    fn tripped(&self, trip: &Tripwire) -> Option<StageError> {
        trip.get().map(|(m, h)| err(&self.name, m).hint(h.clone()))
    }

    /// Infer the schema, partition columns last; returns warnings (mixed-type columns,
    /// renamed headers).
    pub fn infer(&self, sample: Option<usize>) -> Result<(Schema, Vec<String>), StageError> {
        let (schema, warnings) = self.infer_file(sample)?;
        let Some(p) = &self.read.partition else {
            return Ok((schema, warnings));
        };
        // A column the file holds itself (polars writes the keys into the files too) keeps
        // the file's values and type, as polars reads it; the others come from the folders.
        let held = self.own_partition_columns(&schema);
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(
            p.fields
                .iter()
                .filter(|f| !held.contains(f.name()))
                .cloned(),
        );
        Ok((
            Schema::new_with_metadata(fields, schema.metadata().clone()),
            warnings,
        ))
    }

    /// The partition columns this file holds itself (remembered for [`Table::batches`]).
    fn own_partition_columns(&self, own: &Schema) -> BTreeSet<String> {
        let held: BTreeSet<String> = self
            .read
            .partition
            .iter()
            .flat_map(|p| p.fields.iter())
            .filter(|f| own.field_with_name(f.name()).is_ok())
            .map(|f| f.name().clone())
            .collect();
        if let Ok(mut h) = self.learned.own_partition_columns.lock() {
            *h = Some(held.clone());
        }
        held
    }

    /// The file's own schema (without partition columns).
    fn infer_file(&self, sample: Option<usize>) -> Result<(Schema, Vec<String>), StageError> {
        match self.format() {
            Format::Csv => self.infer_csv(sample),
            Format::Jsonl => self.infer_jsonl(sample),
            Format::Json => {
                let (records, warnings) = self.json_records()?;
                let inferred = arrow::json::reader::infer_json_schema_from_iterator(
                    records.rows.iter().map(Ok::<_, arrow::error::ArrowError>),
                )
                .map_err(|e| err(&self.name, e))?;
                let strings = self.learned.layout().map(|l| l.strings).unwrap_or_default();
                let schema =
                    json_schema(&inferred, records.columns.order(), &strings, &records.types);
                Ok((schema, warnings))
            }
            // Parquet and Arrow IPC: the types pyarrow reads, canonical (columnar.rs).
            Format::Parquet => {
                let f = File::open(&self.path).map_err(|e| err(&self.name, e))?;
                let (_, schema) = columnar::open_parquet(&self.name, f)?;
                Ok((schema.as_ref().clone(), Vec::new()))
            }
            Format::ArrowFile => {
                let f = File::open(&self.path).map_err(|e| err(&self.name, e))?;
                let r = arrow::ipc::reader::FileReader::try_new(f, None)
                    .map_err(|e| columnar::ipc_error(&self.name, false, &e))?;
                Ok((columnar::canonical_schema(&r.schema()), Vec::new()))
            }
            Format::ArrowStream => {
                let (r, trip) = self.reader()?;
                let r = arrow::ipc::reader::StreamReader::try_new(r, None).map_err(|e| {
                    self.tripped(&trip)
                        .unwrap_or_else(|| columnar::ipc_error(&self.name, true, &e))
                })?;
                Ok((columnar::canonical_schema(&r.schema()), Vec::new()))
            }
            Format::Feather1 => super::feather1::infer(self),
            Format::Text => Ok((super::textlines::schema(), Vec::new())),
            Format::Xlsx | Format::Xlsb | Format::Xls | Format::Ods => super::sheet::infer(self),
        }
    }

    fn infer_csv(&self, sample: Option<usize>) -> Result<(Schema, Vec<String>), StageError> {
        let d = self.dialect();
        let (r, trip) = self.reader()?;
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(d.delimiter)
            .quote(d.quote)
            .has_headers(false)
            .flexible(true)
            .from_reader(self.records(trip.clone(), r));
        let fail = |e: &csv::Error| {
            self.tripped(&trip)
                .unwrap_or_else(|| self.csv_error(&e.to_string()))
        };
        let mut records = rdr.byte_records();
        let first = match records.next() {
            None => {
                return Err(err(&self.name, "is empty: no header row")
                    .hint("remove the file from the source, or write its header row"));
            }
            Some(r) => r.map_err(|e| fail(&e))?,
        };
        let mut warnings = Vec::new();
        let width = first.len();
        if width > self.limits.max_columns {
            return Err(too_many_columns(
                &format!("`{}` has {width} columns", self.name),
                self.limits.max_columns,
            ));
        }
        let mut names: Vec<String> = if d.header {
            first
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let h = String::from_utf8_lossy(h).trim().to_owned();
                    if h.is_empty() {
                        format!("column_{}", i + 1)
                    } else {
                        h
                    }
                })
                .collect()
        } else {
            (1..=width).map(|i| format!("column_{i}")).collect()
        };
        unique_names(&mut names, &self.name, &mut warnings);
        let na = &self.csv.na;
        let comma = self.csv.comma_decimals(d.delimiter);
        let mut markers = false;
        let mut stats = vec![ColumnStats::default(); width];
        let mut add = |rec: &csv::ByteRecord| {
            for (i, v) in rec.iter().enumerate().take(width) {
                let v = String::from_utf8_lossy(v);
                if !v.is_empty() && na.contains(&v) {
                    markers = true;
                }
                stats[i].add_with(&v, |x| na.contains(x), comma);
            }
        };
        if !d.header {
            add(&first);
        }
        let limit = sample.unwrap_or(usize::MAX);
        for (n, rec) in records.enumerate() {
            if n >= limit {
                break;
            }
            match rec {
                Ok(r) => add(&r),
                Err(e) => return Err(fail(&e)),
            }
        }
        // pandas' index: `to_csv()` without `index=False` writes the row labels first, under
        // an empty header name.
        let pandas_index = d.header
            && width > 1
            && first.get(0).is_some_and(|h| h.trim_ascii().is_empty())
            && stats[0].nulls == 0
            && stats[0].resolve(&names[0]).0 == DataType::Int64;
        let dropped = (pandas_index && self.csv.pandas_index == PandasIndex::Drop).then(|| {
            warnings.push(format!(
                "`{}`: the first column has no name and holds row numbers: pandas' index (`to_csv()` without `index=False`); it is left out (set `pandas_index: keep` to keep it as `{}`)",
                self.name, names[0]
            ));
            names[0].clone()
        });
        let mut comma_columns = BTreeSet::new();
        let mut fields = Vec::with_capacity(width);
        for (name, s) in names.iter().zip(&stats) {
            if dropped.as_ref() == Some(name) {
                continue;
            }
            let (dt, warning) = s.resolve(name);
            warnings.extend(warning.map(|w| format!("`{}`: {w}", self.name)));
            if dt == DataType::Float64 && s.comma_decimals() {
                comma_columns.insert(name.clone());
            }
            fields.push(Field::new(name, dt, true));
        }
        if !comma_columns.is_empty() && self.csv.decimal.is_none() {
            let cols: Vec<String> = comma_columns.iter().map(|c| format!("`{c}`")).collect();
            warnings.push(format!(
                "`{}`: {} {} numbers with decimal commas (set `decimal: \".\"` to read them as text)",
                self.name,
                cols.join(", "),
                if cols.len() == 1 { "holds" } else { "hold" }
            ));
        }
        self.learned.set_layout(Layout {
            names,
            dropped,
            comma_columns,
            na_markers: markers || self.csv.na.explicit(),
            strings: BTreeSet::new(),
        });
        Ok((Schema::new(fields), warnings))
    }

    /// The column layout of a CSV file, from its inference (run now if it has not been).
    fn csv_layout(&self) -> Result<Layout, StageError> {
        if let Some(l) = self.learned.layout() {
            return Ok(l);
        }
        self.infer_csv(Some(SAMPLE_ROWS))?;
        self.learned
            .layout()
            .ok_or_else(|| err(&self.name, "internal error: no column layout"))
    }

    /// JSON: the records of a document (an array of records, the array under `json_field` or
    /// the only array of records at the top level, or a shape pandas' `to_json` writes), with
    /// columns that mix kinds made strings; and the warnings about those.
    fn json_records(&self) -> Result<(jsonread::Records, Vec<String>), StageError> {
        let (mut r, trip) = self.reader()?;
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).map_err(|e| {
            self.tripped(&trip)
                .unwrap_or_else(|| err(&self.name, format!("cannot read: {e}")))
        })?;
        let mut records =
            jsonread::records(&bytes, self.json_field.as_deref()).map_err(|(message, hint)| {
                let e = err(&self.name, message);
                match hint {
                    Some(h) => e.hint(h),
                    None => e,
                }
            })?;
        drop(bytes);
        let (strings, mut warnings) = records.columns.mixed(&self.name);
        if !strings.is_empty() {
            for r in &mut records.rows {
                jsonread::stringify(r, &strings);
            }
        }
        if let Some(shape) = records.shape {
            warnings.push(format!("`{}`: read as {shape}", self.name));
        }
        self.learned.set_layout(Layout {
            names: records.columns.order().to_vec(),
            strings,
            ..Layout::default()
        });
        Ok((records, warnings))
    }

    /// JSON Lines: the columns of the sampled records, in first-seen order, typed; columns
    /// whose values mix kinds are strings (with a warning).
    fn infer_jsonl(&self, sample: Option<usize>) -> Result<(Schema, Vec<String>), StageError> {
        let limit = sample.unwrap_or(usize::MAX);
        let run = |strings: &BTreeSet<String>| -> Result<
            (jsonread::Columns, Result<Schema, arrow::error::ArrowError>),
            StageError,
        > {
            let mut columns = jsonread::Columns::default();
            let mut failure: Option<StageError> = None;
            let values = self
                .jsonl_lines(jsonread::line_entries)?
                .take(limit)
                .map_while(|parsed| match parsed {
                    Ok(entries) => {
                        columns.add(&entries);
                        let mut v = serde_json::Value::Object(entries.into_iter().collect());
                        if !strings.is_empty() {
                            jsonread::stringify(&mut v, strings);
                        }
                        Some(Ok::<_, arrow::error::ArrowError>(v))
                    }
                    Err(e) => {
                        failure = Some(e);
                        None
                    }
                });
            let schema = arrow::json::reader::infer_json_schema_from_iterator(values);
            if let Some(e) = failure {
                return Err(e);
            }
            Ok((columns, schema))
        };
        let (columns, mut inferred) = run(&BTreeSet::new())?;
        let (strings, warnings) = columns.mixed(&self.name);
        if inferred.is_err() && !strings.is_empty() {
            // Objects or arrays mixed with other values: read those columns as JSON text.
            inferred = run(&strings)?.1;
        }
        let inferred = inferred.map_err(|e| err(&self.name, e))?;
        if columns.order().is_empty() {
            return Err(err(&self.name, "has no records")
                .hint("a JSON Lines file has one JSON object per line"));
        }
        let schema = json_schema(&inferred, columns.order(), &strings, &BTreeMap::new());
        self.learned.set_layout(Layout {
            names: columns.order().to_vec(),
            strings,
            ..Layout::default()
        });
        Ok((schema, warnings))
    }

    /// The non-blank lines of a JSON Lines file, each parsed by `parse`; an error names the
    /// line (or the read limit that stopped it).
    fn jsonl_lines<T>(
        &self,
        parse: impl Fn(&str) -> Result<T, serde_json::Error> + Send + 'static,
    ) -> Result<impl Iterator<Item = Result<T, StageError>> + Send + 'static, StageError> {
        let (r, trip) = self.reader()?;
        let lines = std::io::BufRead::lines(BufReader::new(self.records(trip.clone(), r)));
        let me = self.clone();
        Ok(lines
            .enumerate()
            .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(move |(i, line)| {
                let line = line.map_err(|e| {
                    me.tripped(&trip)
                        .unwrap_or_else(|| err(&me.name, format!("line {}: {e}", i + 1)))
                })?;
                parse(&line).map_err(|e| {
                    let what = if e.is_data() {
                        format!("line {} is not a JSON object", i + 1)
                    } else {
                        format!(
                            "line {}: JSON syntax error at column {}: {e}",
                            i + 1,
                            e.column()
                        )
                    };
                    err(&me.name, what).hint("each line must be one complete JSON object")
                })
            }))
    }

    /// JSON values (objects) as batches of `schema`, `rows` at a time.
    fn value_batches(
        &self,
        schema: &SchemaRef,
        values: impl Iterator<Item = Result<serde_json::Value, StageError>> + Send + 'static,
    ) -> Batches<'static> {
        let rows = decode_rows(schema.flattened_fields().len());
        let name = self.name.clone();
        let me = self.clone();
        let decoder_schema = schema.clone();
        let mut values = values.fuse();
        let mut failed = false;
        let batches = std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let mut chunk = Vec::with_capacity(rows.min(1024));
            for v in values.by_ref() {
                match v {
                    Ok(v) => chunk.push(v),
                    Err(e) => {
                        failed = true;
                        return Some(Err(e));
                    }
                }
                if chunk.len() == rows {
                    break;
                }
            }
            if chunk.is_empty() {
                return None;
            }
            Some((|| {
                let mut dec = arrow::json::ReaderBuilder::new(decoder_schema.clone())
                    .with_batch_size(rows)
                    .with_strict_mode(true)
                    .build_decoder()
                    .map_err(|e| err(&name, e))?;
                dec.serialize(&chunk)
                    .map_err(|e| me.jsonl_error(&e.to_string()))?;
                dec.flush()
                    .map_err(|e| me.jsonl_error(&e.to_string()))?
                    .ok_or_else(|| err(&name, "no rows decoded"))
            })())
        });
        Box::new(rebatch(schema, batches))
    }

    /// The file as batches of `schema` (columns cast by name), partition columns filled with
    /// the value its folders name.
    pub fn batches(&self, schema: &SchemaRef) -> Result<Batches<'static>, StageError> {
        let Some(p) = self.read.partition.clone() else {
            return self.file_batches(schema);
        };
        let known = self
            .learned
            .own_partition_columns
            .lock()
            .ok()
            .and_then(|h| h.clone());
        let held = match known {
            Some(h) => h,
            None => self.own_partition_columns(&self.infer_file(Some(SAMPLE_ROWS))?.0),
        };
        let is_part = |n: &str| !held.contains(n) && p.fields.iter().any(|f| f.name() == n);
        let own: SchemaRef = Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .filter(|f| !is_part(f.name()))
                .cloned()
                .collect::<Vec<_>>(),
            schema.metadata().clone(),
        ));
        let target = schema.clone();
        let name = self.name.clone();
        Ok(Box::new(self.file_batches(&own)?.map(move |b| {
            let b = b?;
            let columns = target
                .fields()
                .iter()
                .map(|f| {
                    match p
                        .fields
                        .iter()
                        .position(|pf| pf.name() == f.name())
                        .filter(|_| !held.contains(f.name()))
                    {
                        Some(k) => {
                            partition_column(p.values[k].as_deref(), f.data_type(), b.num_rows())
                                .map_err(|e| {
                                    err(&name, format!("partition column `{}`: {e}", f.name()))
                                })
                        }
                        None => b.column_by_name(f.name()).cloned().ok_or_else(|| {
                            err(&name, format!("internal error: no column `{}`", f.name()))
                        }),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(target.clone(), columns).map_err(|e| err(&name, e))
        })))
    }

    /// The file's own columns as batches of `schema`.
    fn file_batches(&self, schema: &SchemaRef) -> Result<Batches<'static>, StageError> {
        let name = self.name.clone();
        match self.format() {
            Format::Csv => {
                let d = self.dialect();
                // The parser reads by position: the file's own columns in its own order, typed
                // as the stage's schema types them (decimal-comma numbers as text, converted
                // below), then put in the stage's order by name (`conform`), so files whose
                // columns differ in order or number merge by name.
                let layout = self.csv_layout()?;
                let file_schema: SchemaRef = Arc::new(Schema::new(
                    layout
                        .names
                        .iter()
                        .map(|n| {
                            let dt = match schema.field_with_name(n) {
                                Ok(_) if layout.comma_columns.contains(n) => DataType::Utf8,
                                Ok(f) => f.data_type().clone(),
                                Err(_) => DataType::Utf8,
                            };
                            Field::new(n, dt, true)
                        })
                        .collect::<Vec<_>>(),
                ));
                let (r, trip) = self.reader()?;
                let guard = self.records(trip.clone(), r);
                let state = guard.state.clone();
                let mut fmt = arrow::csv::reader::Format::default()
                    .with_header(d.header)
                    .with_delimiter(d.delimiter)
                    .with_quote(d.quote);
                if layout.na_markers {
                    fmt = fmt.with_null_regex(self.csv.na.regex().clone());
                }
                // Decoded in parallel chunks (csv_parallel.rs), in the file's own layout.
                let reader = csv_parallel::decode(
                    guard,
                    file_schema.clone(),
                    fmt,
                    d.header,
                    decode_rows(file_schema.fields().len()),
                )
                .map_err(|e| self.csv_error(&e.to_string()))?;
                let me = self.clone();
                let mut done = false;
                let target = schema.clone();
                let batches = reader.map(move |b| {
                    let b = b.map_err(|e| {
                        me.tripped(&trip)
                            .unwrap_or_else(|| me.csv_error(&e.to_string()))
                    })?;
                    me.csv_to_schema(&b, &layout, &target)
                });
                Ok(Box::new(rebatch(schema, batches).chain(std::iter::from_fn(move || {
                    if done {
                        return None;
                    }
                    done = true;
                    state.unterminated().map(|line| {
                        Err(err(&name, format!("unterminated quoted field starting at line {line}"))
                            .hint("close the quote, or double a quote character inside a quoted field (\"\")"))
                    })
                }))))
            }
            Format::Jsonl => {
                let strings = if let Some(l) = self.learned.layout() {
                    l.strings
                } else {
                    self.infer_jsonl(Some(SAMPLE_ROWS))?;
                    self.learned.layout().map(|l| l.strings).unwrap_or_default()
                };
                if !strings.is_empty() {
                    // Columns read as strings: each record through serde_json, its odd values
                    // made text, then decoded.
                    let values = self
                        .jsonl_lines(|l| serde_json::from_str::<serde_json::Value>(l))?
                        .map(move |v| {
                            v.map(|mut v| {
                                jsonread::stringify(&mut v, &strings);
                                v
                            })
                        });
                    return Ok(self.value_batches(schema, values));
                }
                let (r, trip) = self.reader()?;
                let reader = arrow::json::ReaderBuilder::new(schema.clone())
                    .with_batch_size(decode_rows(schema.flattened_fields().len()))
                    .with_strict_mode(true)
                    .build(BufReader::new(self.records(trip.clone(), r)))
                    .map_err(|e| err(&name, e))?;
                let me = self.clone();
                let batches = reader.map(move |b| {
                    b.map_err(|e| {
                        me.tripped(&trip)
                            .unwrap_or_else(|| me.jsonl_error(&e.to_string()))
                    })
                });
                Ok(Box::new(rebatch(schema, batches)))
            }
            Format::Json => {
                let (records, _) = self.json_records()?;
                Ok(self.value_batches(schema, records.rows.into_iter().map(Ok)))
            }
            Format::Parquet => {
                let f = File::open(&self.path).map_err(|e| err(&name, e))?;
                let (builder, _) = columnar::open_parquet(&name, f)?;
                let reader = builder
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| columnar::parquet_error(&name, &e))?;
                let schema = schema.clone();
                Ok(Box::new(reader.map(move |b| {
                    let b = b.map_err(|e| columnar::parquet_data_error(&name, &e))?;
                    columnar::conform(&b, &schema).map_err(|e| err(&name, e.message))
                })))
            }
            Format::ArrowFile => {
                let f = File::open(&self.path).map_err(|e| err(&name, e))?;
                let reader = arrow::ipc::reader::FileReader::try_new(f, None)
                    .map_err(|e| columnar::ipc_error(&name, false, &e))?;
                let schema = schema.clone();
                Ok(Box::new(reader.map(move |b| {
                    let b = b.map_err(|e| columnar::ipc_error(&name, false, &e))?;
                    columnar::conform(&b, &schema).map_err(|e| err(&name, e.message))
                })))
            }
            Format::ArrowStream => {
                let (r, trip) = self.reader()?;
                let reader = arrow::ipc::reader::StreamReader::try_new(r, None).map_err(|e| {
                    self.tripped(&trip)
                        .unwrap_or_else(|| columnar::ipc_error(&name, true, &e))
                })?;
                let schema = schema.clone();
                let me = self.clone();
                Ok(Box::new(reader.map(move |b| {
                    let b = b.map_err(|e| {
                        me.tripped(&trip)
                            .unwrap_or_else(|| columnar::ipc_error(&name, true, &e))
                    })?;
                    columnar::conform(&b, &schema).map_err(|e| err(&name, e.message))
                })))
            }
            Format::Feather1 => super::feather1::batches(self, schema),
            Format::Text => {
                let (r, trip) = self.reader()?;
                let mode = self.read.text_mode;
                super::textlines::batches(r, trip, &name, mode, self.limits.max_record, schema)
            }
            Format::Xlsx | Format::Xlsb | Format::Xls | Format::Ods => {
                super::sheet::batches(self, schema)
            }
        }
    }

    /// A batch read in a CSV file's own layout, in the stage's schema: decimal-comma numbers
    /// converted, columns by name (a column the file lacks is null; a dropped one goes).
    fn csv_to_schema(
        &self,
        batch: &RecordBatch,
        layout: &Layout,
        schema: &SchemaRef,
    ) -> Result<RecordBatch, StageError> {
        let mut batch = batch.clone();
        if !layout.comma_columns.is_empty() {
            let mut columns = batch.columns().to_vec();
            let mut fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            for (i, f) in fields.iter_mut().enumerate() {
                let wanted = schema
                    .field_with_name(f.name())
                    .ok()
                    .map(|t| t.data_type().clone());
                if layout.comma_columns.contains(f.name()) && wanted == Some(DataType::Float64) {
                    columns[i] = csvread::comma_floats(&columns[i], f.name(), false)
                        .map_err(|e| self.csv_error(&e))?;
                    *f = Field::new(f.name(), DataType::Float64, true);
                }
            }
            batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                .map_err(|e| err(&self.name, e))?;
        }
        conform(&batch, schema).map_err(|e| self.csv_error(&e.to_string()))
    }

    fn csv_error(&self, msg: &str) -> StageError {
        let msg = msg
            .trim_start_matches("Csv error: ")
            .trim_start_matches("Parser error: ")
            .trim_start_matches("CSV error: ");
        let hint = if msg.contains("incorrect number of fields")
            || msg.contains("found record with")
        {
            "every row needs as many fields as the header; quote fields that contain the delimiter"
        } else if msg.contains("UTF-8") || msg.contains("utf-8") {
            "the file must be UTF-8; convert it (e.g. `iconv -f latin1 -t utf-8`)"
        } else if msg.contains("parsing value") || msg.contains("as type") {
            "a value does not match its column's type; set `cast: lenient` to read it as null, or give the column `type: string`"
        } else {
            "check the file near that line"
        };
        err(&self.name, msg).hint(hint)
    }

    /// A JSON Lines error, located at its line when the decoder does not say.
    fn jsonl_error(&self, msg: &str) -> StageError {
        let located = (|| {
            let (r, trip) = self.reader().ok()?;
            let r = BufReader::new(self.records(trip, r));
            for (i, line) in std::io::BufRead::lines(r).enumerate() {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => return Some(format!("line {}: {e}", i + 1)),
                };
                if line.trim().is_empty() {
                    continue;
                }
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&line) {
                    return Some(format!(
                        "line {}: JSON syntax error at column {}: {e}",
                        i + 1,
                        e.column()
                    ));
                }
            }
            None
        })();
        let msg = msg.trim_start_matches("Json error: ");
        if let Some(rest) = msg.split("column '").nth(1)
            && let Some(key) = rest.strip_suffix("' missing from schema")
        {
            return err(
                &self.name,
                format!("a record has the key `{key}`, first seen after the sampled records"),
            );
        }
        match located {
            Some(l) => err(&self.name, l).hint("each line must be one complete JSON object"),
            None => err(&self.name, msg),
        }
    }
}

/// Strips a UTF-8 byte order mark.
struct SkipBom {
    inner: Box<dyn Read + Send>,
    checked: bool,
    pending: Vec<u8>,
}

impl Read for SkipBom {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            self.checked = true;
            let mut head = [0u8; 3];
            let mut n = 0;
            while n < 3 {
                let k = self.inner.read(&mut head[n..])?;
                if k == 0 {
                    break;
                }
                n += k;
            }
            if head[..n] != [0xef, 0xbb, 0xbf] {
                self.pending = head[..n].to_vec();
            }
        }
        if !self.pending.is_empty() {
            let k = self.pending.len().min(buf.len());
            buf[..k].copy_from_slice(&self.pending[..k]);
            self.pending.drain(..k);
            return Ok(k);
        }
        self.inner.read(buf)
    }
}

/// Whether the bytes read so far end inside a quoted field, and the line it opened on.
#[derive(Default)]
struct QuoteState {
    open: AtomicBool,
    open_line: AtomicU64,
}

impl QuoteState {
    fn unterminated(&self) -> Option<u64> {
        self.open
            .load(Ordering::Relaxed)
            .then(|| self.open_line.load(Ordering::Relaxed))
    }
}

/// Rows decoded at a time for a table of `columns` columns: [`BATCH_ROWS`], or fewer for wide
/// tables so that one decode stays within [`CSV_BATCH_CELLS`] cells (a power of two, so the
/// pieces add up to whole batches exactly).
pub(super) fn decode_rows(columns: usize) -> usize {
    let rows = (CSV_BATCH_CELLS / columns.max(1)).clamp(1, BATCH_ROWS);
    1 << rows.ilog2()
}

/// Batches of [`BATCH_ROWS`] rows (the last may be shorter) from smaller pieces, so that the
/// batches (and the Parquet written from them) do not depend on how the rows were decoded.
/// The first error ends the stream.
fn rebatch<'a>(
    schema: &SchemaRef,
    pieces: impl Iterator<Item = Result<RecordBatch, StageError>> + Send + 'a,
) -> impl Iterator<Item = Result<RecordBatch, StageError>> + Send + 'a {
    let schema = schema.clone();
    let mut pieces = pieces.fuse();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut rows = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        while rows < BATCH_ROWS {
            match pieces.next() {
                None => break,
                Some(Err(e)) => {
                    failed = true;
                    return Some(Err(e));
                }
                Some(Ok(b)) => {
                    rows += b.num_rows();
                    pending.push(b);
                }
            }
        }
        if pending.is_empty() {
            return None;
        }
        let all = if pending.len() == 1 {
            pending
                .pop()
                .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()))
        } else {
            let schema = pending[0].schema();
            match arrow::compute::concat_batches(&schema, &pending) {
                Ok(b) => b,
                Err(e) => {
                    failed = true;
                    return Some(Err(StageError::new(format!("internal error: {e}"))));
                }
            }
        };
        pending.clear();
        rows = 0;
        if all.num_rows() > BATCH_ROWS {
            let rest = all.slice(BATCH_ROWS, all.num_rows() - BATCH_ROWS);
            rows = rest.num_rows();
            pending.push(rest);
            return Some(Ok(all.slice(0, BATCH_ROWS)));
        }
        Some(Ok(all))
    })
}

/// Passes bytes through while following records, and fails once one record is longer than
/// `max_record` bytes (a CSV parser holds a whole record in memory: one endless field must not
/// take all of it).
///
/// For CSV it follows quoted fields as csv-core does: a quote opens a field only at the start
/// of one; inside, `""` is an escaped quote; a line break outside quotes ends a record. At
/// the end of the input, [`QuoteState::unterminated`] tells whether a quoted field was left
/// open, and where. For JSON Lines (no quote), every `\n` ends a record.
struct RecordGuard<R> {
    inner: R,
    /// (quote, delimiter) for CSV; `None` for JSON Lines.
    csv: Option<(u8, u8)>,
    line: u64,
    offset: u64,
    last_byte: Option<u8>,
    /// Absolute offset of the quote that last closed a field.
    closed_at: Option<u64>,
    state: Arc<QuoteState>,
    /// Where the current record starts: byte offset and line.
    record_start: u64,
    record_line: u64,
    max_record: u64,
    trip: Tripwire,
}

impl<R> RecordGuard<R> {
    fn new(inner: R, csv: Option<(u8, u8)>, max_record: u64, trip: Tripwire) -> Self {
        RecordGuard {
            inner,
            csv,
            line: 1,
            offset: 0,
            last_byte: None,
            closed_at: None,
            state: Arc::new(QuoteState::default()),
            record_start: 0,
            record_line: 1,
            max_record,
            trip,
        }
    }

    /// The error for a record past the limit: which record, which limit, how to raise it.
    fn too_long(&self) -> std::io::Error {
        let limit = archive::human(self.max_record);
        let mib = self.max_record >> 20;
        let raise = format!("set {ENV_RECORD_MIB} above {mib} (MiB)");
        let (message, hint) = match self.state.unterminated() {
            Some(open) => (
                format!(
                    "the quoted field opened at line {open} is still open after {limit} (a CSV record may be at most {ENV_RECORD_MIB}={mib} MiB)"
                ),
                format!(
                    "close the quote, or double a quote character inside a quoted field (\"\"); if the field is genuine, {raise}"
                ),
            ),
            None if self.csv.is_some() => (
                format!(
                    "the record starting at line {} is longer than {limit} (a CSV record may be at most {ENV_RECORD_MIB}={mib} MiB)",
                    self.record_line
                ),
                format!("if the record is genuine, {raise}"),
            ),
            None => (
                format!(
                    "line {} is longer than {limit} (a JSON Lines record may be at most {ENV_RECORD_MIB}={mib} MiB)",
                    self.record_line
                ),
                format!("if the record is genuine, {raise}"),
            ),
        };
        self.trip.trip(message, hint)
    }
}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        match self.csv {
            Some((quote, delimiter)) => {
                let mut open = self.state.open.load(Ordering::Relaxed);
                for i in memchr::memchr3_iter(quote, b'\n', b'\r', data) {
                    let at = self.offset + i as u64;
                    if data[i] != quote {
                        if data[i] == b'\n' {
                            self.line += 1;
                        }
                        if !open {
                            self.record_start = at + 1;
                            self.record_line = self.line;
                        }
                        continue;
                    }
                    let prev = if i > 0 {
                        Some(data[i - 1])
                    } else {
                        self.last_byte
                    };
                    if open {
                        open = false;
                        self.closed_at = Some(at);
                    } else if at > 0 && self.closed_at == Some(at - 1) {
                        open = true; // `""` inside a quoted field
                        self.closed_at = None;
                    } else if prev.is_none_or(|p| p == delimiter || p == b'\n' || p == b'\r') {
                        open = true;
                        self.state.open_line.store(self.line, Ordering::Relaxed);
                    }
                }
                self.state.open.store(open, Ordering::Relaxed);
            }
            None => {
                for i in memchr::memchr_iter(b'\n', data) {
                    self.line += 1;
                    self.record_start = self.offset + i as u64 + 1;
                    self.record_line = self.line;
                }
            }
        }
        if n > 0 {
            self.last_byte = Some(data[n - 1]);
        }
        self.offset += n as u64;
        if self.offset - self.record_start > self.max_record {
            return Err(self.too_long());
        }
        Ok(n)
    }
}

/// A JSON table's schema: `order`'s columns (first-seen), typed as a `table` orient's schema
/// says, as strings when their values mix kinds, or as arrow inferred them.
fn json_schema(
    inferred: &Schema,
    order: &[String],
    strings: &BTreeSet<String>,
    types: &BTreeMap<String, DataType>,
) -> Schema {
    Schema::new(
        order
            .iter()
            .map(|name| {
                let dt = if strings.contains(name) {
                    DataType::Utf8
                } else if let Some(t) = types.get(name) {
                    t.clone()
                } else {
                    inferred
                        .field_with_name(name)
                        .map_or(DataType::Null, |f| f.data_type().clone())
                };
                Field::new(name, dt, true)
            })
            .collect::<Vec<_>>(),
    )
}

/// Cast a batch to `schema` by column name; a column the batch lacks is null.
pub fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    if batch.schema().fields() == schema.fields() {
        return RecordBatch::try_new(schema.clone(), batch.columns().to_vec());
    }
    // By name, looked up once (a wide table must not cost columns² comparisons).
    let by_name: std::collections::HashMap<&str, &arrow::array::ArrayRef> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .zip(batch.columns())
        .collect();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match by_name.get(field.name().as_str()).copied() {
            Some(col) if col.data_type() == field.data_type() => Ok(col.clone()),
            Some(col) => arrow::compute::cast(col, field.data_type()),
            None => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// The widest of two types: integers widen to floats, dates to timestamps, anything else to
/// strings (reported by [`merge_schemas`]).
fn widen(a: &DataType, b: &DataType) -> DataType {
    use DataType as T;
    match (a, b) {
        _ if a == b => a.clone(),
        (T::Null, x) | (x, T::Null) => x.clone(),
        (T::Int64, T::Float64) | (T::Float64, T::Int64) => T::Float64,
        (T::Date32, t @ T::Timestamp(..)) | (t @ T::Timestamp(..), T::Date32) => t.clone(),
        _ => T::Utf8,
    }
}

/// One schema for several files: columns by name in first-seen order, types widened. Returns
/// warnings for columns whose types conflict between files.
pub fn merge_schemas(schemas: &[(String, Schema)]) -> (Schema, Vec<String>) {
    let mut fields: Vec<Field> = Vec::new();
    // Where each name is in `fields` (wide tables: no search per column).
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut warnings = Vec::new();
    for (i, (file, schema)) in schemas.iter().enumerate() {
        for f in schema.fields() {
            if let Some(existing) = at.get(f.name()).map(|&k| &mut fields[k]) {
                let dt = widen(existing.data_type(), f.data_type());
                if dt == DataType::Utf8
                    && existing.data_type() != &DataType::Utf8
                    && f.data_type() != &DataType::Utf8
                {
                    warnings.push(format!(
                        "column `{}` is {} in earlier files but {} in `{file}`; it is read as string",
                        f.name(),
                        type_name(existing.data_type()),
                        type_name(f.data_type())
                    ));
                }
                *existing = Field::new(f.name(), dt, true);
            } else {
                at.insert(f.name().clone(), fields.len());
                fields.push(Field::new(
                    f.name(),
                    f.data_type().clone(),
                    f.is_nullable() || i > 0,
                ));
            }
        }
        let here: std::collections::HashSet<&str> =
            schema.fields().iter().map(|f| f.name().as_str()).collect();
        for existing in &mut fields {
            if !here.contains(existing.name().as_str()) {
                *existing = existing.clone().with_nullable(true);
            }
        }
    }
    // Columns some files lack: null in those files' rows, which the user should know.
    if schemas.len() > 1 {
        for f in &fields {
            let lacking: Vec<&str> = schemas
                .iter()
                .filter(|(_, s)| s.field_with_name(f.name()).is_err())
                .map(|(file, _)| file.as_str())
                .collect();
            if lacking.is_empty() {
                continue;
            }
            let shown: Vec<String> = lacking.iter().take(3).map(|n| format!("`{n}`")).collect();
            let more = if lacking.len() > 3 {
                format!(" and {} more files", lacking.len() - 3)
            } else {
                String::new()
            };
            warnings.push(format!(
                "column `{}` is missing from {}{more} (null in {} rows)",
                f.name(),
                shown.join(", "),
                if lacking.len() == 1 { "its" } else { "their" }
            ));
        }
    }
    // The Hugging Face features (ClassLabel names…) travel with the tables when every file
    // agrees on them.
    let key = super::features::METADATA_KEY;
    let first = schemas.first().and_then(|(_, s)| s.metadata().get(key));
    let mut metadata = std::collections::HashMap::new();
    if let Some(v) = first
        && schemas
            .iter()
            .all(|(_, s)| s.metadata().get(key) == Some(v))
    {
        metadata.insert(key.to_owned(), v.clone());
    }
    (Schema::new_with_metadata(fields, metadata), warnings)
}

/// Every Parquet file of a stage input, as one schema and its batches (in memory).
/// The Parquet tables of a stage's input (the files of the stage it reads), opened for
/// streaming: one merged schema, batches read file by file in name order.
pub struct ParquetInputs {
    pub schema: SchemaRef,
    pub tables: Vec<Table>,
    /// Each file's own schema, for consistency checks.
    pub schemas: Vec<(String, Schema)>,
    /// Type differences between files (the merged column became a string).
    pub warnings: Vec<String>,
}

impl ParquetInputs {
    /// Batches of every file in order, conformed to the merged schema, with the file's index.
    pub fn batches(&self) -> impl Iterator<Item = Result<(usize, RecordBatch), StageError>> + '_ {
        self.tables.iter().enumerate().flat_map(move |(i, t)| {
            let it: Box<dyn Iterator<Item = Result<(usize, RecordBatch), StageError>>> =
                match t.batches(&self.schema) {
                    Ok(b) => Box::new(b.map(move |r| r.map(|b| (i, b)))),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
            it
        })
    }

    /// Total rows, from the Parquet footers (no data read).
    pub fn rows(&self) -> Result<u64, StageError> {
        let mut n = 0;
        for t in &self.tables {
            let file = File::open(&t.path).map_err(|e| err(&t.name, e))?;
            let meta = parquet::file::reader::SerializedFileReader::new(file)
                .map_err(|e| err(&t.name, e))?;
            n += u64::try_from(
                parquet::file::reader::FileReader::metadata(&meta)
                    .file_metadata()
                    .num_rows(),
            )
            .unwrap_or(0);
        }
        Ok(n)
    }
}

/// One value repeated `rows` times, as a column of `dt` (a partition's value is text).
fn partition_column(
    value: Option<&str>,
    dt: &DataType,
    rows: usize,
) -> Result<arrow::array::ArrayRef, arrow::error::ArrowError> {
    let text: arrow::array::ArrayRef = Arc::new(arrow::array::StringArray::from(vec![value; rows]));
    arrow::compute::cast_with_options(
        &text,
        dt,
        &arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        },
    )
}

/// Open the Parquet tables of a stage's input (non-Parquet files, such as index files, are
/// not part of the table); a folder written with hive-style partitions gets their columns.
pub fn open_parquet_inputs(input: &[InputFile]) -> Result<ParquetInputs, StageError> {
    let mut tables: Vec<Table> = input
        .iter()
        .filter(|f| f.name.ends_with(".parquet"))
        .map(|f| Table {
            name: f.name.clone(),
            path: f.path.clone(),
            detected: Detected {
                compression: None,
                archive: None,
                format: Some(Format::Parquet),
                dialect: None,
                by: "extension",
                warning: None,
            },
            compression: None,
            json_field: None,
            limits: ReadLimits::default(),
            csv: CsvOptions::default(),
            learned: Arc::default(),
            read: ReadOptions::default(),
        })
        .collect();
    if tables.is_empty() {
        return Err(StageError::new("the input has no Parquet table")
            .hint("put a `normalize` stage before this one"));
    }
    let partition_warning = apply_hive_partitions(&mut tables);
    let schemas = tables
        .iter()
        .map(|t| t.infer(None).map(|(s, _)| (t.name.clone(), s)))
        .collect::<Result<Vec<_>, _>>()?;
    let (merged, mut warnings) = merge_schemas(&schemas);
    warnings.extend(partition_warning);
    Ok(ParquetInputs {
        schema: Arc::new(merged),
        tables,
        schemas,
        warnings,
    })
}

/// Read a stage's whole input table into memory.
pub fn read_parquet_inputs(
    input: &[InputFile],
) -> Result<(SchemaRef, Vec<RecordBatch>), StageError> {
    let inputs = open_parquet_inputs(input)?;
    let batches = inputs
        .batches()
        .map(|r| r.map(|(_, b)| b))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((inputs.schema, batches))
}

/// Writer properties fixed for reproducible bytes.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by("mldatabuild".to_owned())
        .build()
}

/// Writer properties for tables of token ids: no dictionary encoding (hashing every id of a
/// large vocabulary costs as much CPU as encoding the text did) and zstd level 1.
pub fn token_writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by("mldatabuild".to_owned())
        .build()
}

/// Write batches to a Parquet file; returns the row count.
pub fn write_parquet(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<u64, StageError> {
    let mut sink = ParquetSink::create(path, schema)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish()
}

/// The schema as recorded in the lock: name, type, nullable (and null counts when known).
pub fn schema_summary(schema: &Schema, nulls: Option<&[u64]>) -> serde_json::Value {
    serde_json::Value::Array(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut v = serde_json::json!({"name": f.name(), "type": type_name(f.data_type())});
                match nulls.and_then(|n| n.get(i)) {
                    Some(&n) => {
                        v["nullable"] = (n > 0).into();
                        v["nulls"] = n.into();
                    }
                    None => v["nullable"] = f.is_nullable().into(),
                }
                v
            })
            .collect(),
    )
}

/// A short, stable name for an Arrow type.
pub fn type_name(dt: &DataType) -> String {
    use DataType as T;
    match dt {
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "string".into(),
        T::Int8 => "int8".into(),
        T::Int16 => "int16".into(),
        T::Int32 => "int32".into(),
        T::Int64 => "int64".into(),
        T::UInt8 => "uint8".into(),
        T::UInt16 => "uint16".into(),
        T::UInt32 => "uint32".into(),
        T::UInt64 => "uint64".into(),
        T::Float16 => "float16".into(),
        T::Float32 => "float32".into(),
        T::Float64 => "float64".into(),
        T::Boolean => "bool".into(),
        T::Date32 | T::Date64 => "date".into(),
        T::Timestamp(_, None) => "datetime".into(),
        T::Timestamp(_, Some(tz)) => format!("datetime[{tz}]"),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => "binary".into(),
        T::Null => "null".into(),
        T::List(f) | T::LargeList(f) | T::FixedSizeList(f, _) => {
            format!("list<{}>", type_name(f.data_type()))
        }
        T::Map(entries, _) => match entries.data_type() {
            T::Struct(kv) if kv.len() == 2 => format!(
                "map<{}, {}>",
                type_name(kv[0].data_type()),
                type_name(kv[1].data_type())
            ),
            _ => "map".into(),
        },
        T::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read `text` through a guard in small reads (to cross buffer boundaries).
    fn guarded(text: &str, csv: bool, max_record: u64) -> (RecordGuard<&[u8]>, Result<(), String>) {
        let mut t = RecordGuard::new(
            text.as_bytes(),
            csv.then_some((b'"', b',')),
            max_record,
            Tripwire::default(),
        );
        let mut buf = [0u8; 3];
        loop {
            match t.read(&mut buf) {
                Ok(0) => return (t, Ok(())),
                Ok(_) => {}
                Err(e) => return (t, Err(e.to_string())),
            }
        }
    }

    fn unterminated(text: &str) -> Option<u64> {
        let (t, r) = guarded(text, true, u64::MAX);
        r.unwrap();
        t.state.unterminated()
    }

    #[test]
    fn quotes_are_followed_like_csv_core() {
        assert_eq!(unterminated("a,b\n\"x, y\",1\n"), None);
        assert_eq!(unterminated("a,b\n\"say \"\"hi\"\"\",1\n"), None);
        assert_eq!(
            unterminated("a,b\n5\" screen,1\n"),
            None,
            "a quote inside an unquoted field is literal"
        );
        assert_eq!(unterminated("a,b\n1,2\n\"open,3\n4,5\n"), Some(3));
        assert_eq!(unterminated("a,b\n\"multi\nline\",1\n"), None);
    }

    #[test]
    fn records_longer_than_the_limit_stop_the_read() {
        // Records of at most 10 bytes (line breaks included) pass, whatever the line endings.
        for text in [
            "a,b\n123456,8\n1,2\n",
            "a,b\r\n123456,8\r\n",
            "a,b\r1234567,8\r",
        ] {
            assert!(guarded(text, true, 10).1.is_ok(), "{text:?}");
        }
        let (t, r) = guarded("a,b\n1,2\n12345678901,2\n", true, 10);
        assert!(
            r.unwrap_err()
                .contains("the record starting at line 3 is longer than 10 bytes")
        );
        assert!(t.trip.get().unwrap().1.contains("MLDATA_MAX_RECORD_MIB"));
        // A line break inside quotes does not end the record.
        let (_, r) = guarded("a,b\n\"1\n2\n3\n4\n5\n6\",2\n", true, 10);
        assert!(
            r.unwrap_err()
                .contains("the quoted field opened at line 2 is still open")
        );
        // JSON Lines: a line is a record.
        assert!(guarded("{\"a\": 1}\n{\"a\": 22}\n", false, 10).1.is_ok());
        let (_, r) = guarded("{\"a\": 1}\n{\"a\": \"xxxxx\"}\n", false, 10);
        assert!(r.unwrap_err().contains("line 2 is longer than 10 bytes"));
    }

    /// The quadratic search this replaced, as the reference.
    fn unique_names_slowly(names: &mut [String]) {
        for i in 0..names.len() {
            if names[..i].contains(&names[i]) {
                let mut k = 2;
                while names.contains(&format!("{}_{k}", names[i])) {
                    k += 1;
                }
                names[i] = format!("{}_{k}", names[i]);
            }
        }
    }

    #[test]
    fn repeated_names_get_the_same_suffixes_in_linear_time() {
        for header in [
            "a,a,a",
            "a,a_2,a,a",
            "a_2,a,a,a_2,a_2_2,a",
            "x,y,x,x_3,x,y,y_2,y",
            "a,,a,,b",
        ] {
            let mut fast: Vec<String> = header.split(',').map(str::to_owned).collect();
            let mut slow = fast.clone();
            let mut w = Vec::new();
            unique_names(&mut fast, "f", &mut w);
            unique_names_slowly(&mut slow);
            assert_eq!(fast, slow, "{header}");
        }
        let mut many = vec!["a".to_owned(); 200_000];
        let mut w = Vec::new();
        unique_names(&mut many, "f", &mut w);
        assert_eq!(many[199_999], "a_200000");
        assert_eq!(w.len(), 199_999);
    }

    #[test]
    fn wide_tables_decode_fewer_rows_in_whole_batches() {
        assert_eq!(decode_rows(3), BATCH_ROWS);
        assert_eq!(decode_rows(16), BATCH_ROWS);
        assert_eq!(decode_rows(17), BATCH_ROWS / 2);
        assert_eq!(decode_rows(5000), 128);
        assert_eq!(decode_rows(10_000_000), 1);
        for cols in [1, 17, 5000, 1 << 21] {
            assert_eq!(BATCH_ROWS % decode_rows(cols), 0);
        }
    }

    #[test]
    fn rebatch_makes_whole_batches() {
        use arrow::array::{AsArray, Int64Array};
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let total = BATCH_ROWS * 2 + 5;
        let pieces: Vec<Result<RecordBatch, StageError>> = (0..total)
            .step_by(1000)
            .map(|s| {
                let e = (s + 1000).min(total);
                let a = Int64Array::from_iter_values(s as i64..e as i64);
                Ok(RecordBatch::try_new(schema.clone(), vec![Arc::new(a)]).unwrap())
            })
            .collect();
        let out: Vec<RecordBatch> = rebatch(&schema, pieces.into_iter())
            .collect::<Result<_, _>>()
            .unwrap();
        let sizes: Vec<usize> = out.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [BATCH_ROWS, BATCH_ROWS, 5]);
        let values: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(values, (0..total as i64).collect::<Vec<_>>());
    }
}
