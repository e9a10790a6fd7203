//! `export`: write a stage's tables in the formats training code reads, in one pass.
//!
//! The driver reads the input tables once, split by split, and hands every batch to each
//! format's writer on its own thread ([`writer::FormatWriter`]). A format that fails stops
//! alone: the others finish, and the stage then fails naming it (nothing is recorded as
//! complete). Every writer reads back what it wrote before the stage counts as done.

pub mod croissant;
pub mod hf;
pub mod options;
pub mod parquet;
pub mod pytorch;
pub mod template;
pub mod text;
pub mod tfrecord;
pub mod webdataset;
pub mod writer;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use arrow::record_batch::RecordBatch;

use self::options::{
    CsvOptions, FormatName, HfOptions, JsonOptions, JsonlOptions, ParquetOptions, TemplateOptions,
    TfrecordOptions, WebdatasetOptions,
};
use self::writer::{Artifact, DatasetMeta, ExportContext, FormatResult, FormatWriter, SplitInfo};
use super::registry::{Accepts, Data, Kind, stage_params};
use super::table::{self, ParquetInputs};
use super::{Progress, StageContext, StageError, StageOutput};

/// Bounds of the numeric options.
pub const MAX_ROW_GROUP: u64 = 10_000_000;
pub const MAX_SHARD_ROWS: u64 = 100_000_000;
pub const MAX_SHARD_MB: u64 = 100_000;

stage_params! {
    /// Parameters of `export`.
    #[derive(PartialEq)]
    pub struct ExportParams in ExportSpec {
        /// The formats to write in one pass over the data: parquet, jsonl, json, csv,
        /// template, hf (Hub repository layout), hf-disk (`save_to_disk` layout), tfrecord,
        /// webdataset, pytorch, croissant.
        pub formats: Vec<FormatName>,
        /// Parquet options: `compression` (none|snappy|gzip|zstd), `level`, `row_group_size`.
        #[serde(default)]
        pub parquet: ParquetOptions,
        /// JSON Lines options: `compression` (none|gzip), `binary` (base64|skip), `columns`,
        /// `rename`.
        #[serde(default)]
        pub jsonl: JsonlOptions,
        /// JSON options: `pretty`, `binary`, `columns`, `rename`.
        #[serde(default)]
        pub json: JsonOptions,
        /// CSV options: `delimiter`, `quote` (necessary|always|non_numeric|never), `header`,
        /// `binary`, `columns`, `rename`.
        #[serde(default)]
        pub csv: CsvOptions,
        /// With format `template`: `source` (minijinja text) or `path` (a file), and `target`
        /// (jsonl|text).
        #[serde(default)]
        pub template: Option<TemplateOptions>,
        /// Hub layouts (`hf`, `hf-disk`): `max_shard_size_mb` (default 500).
        #[serde(default)]
        pub hf: HfOptions,
        /// TFRecord: `compression` (none|gzip), `shard_rows`.
        #[serde(default)]
        pub tfrecord: TfrecordOptions,
        /// WebDataset: `shard_rows`, `key` (the column naming samples).
        #[serde(default)]
        pub webdataset: WebdatasetOptions,
        /// The dataset name written into metadata [default: the spec's `name`].
        // Filled from the spec's `name:` when absent.
        #[serde(default)]
        pub name: String,
        /// The version written into metadata [default: the spec's `version`].
        // Filled from the spec's `version:` when absent.
        #[serde(default)]
        pub version: String,
        /// The description written into dataset cards [default: the spec's `description`].
        // Filled from the spec's `description:` when absent.
        #[serde(default)]
        pub dataset_description: String,
        /// The license (an SPDX id such as `mit` or `cc-by-4.0`, or a URL).
        #[serde(default)]
        pub license: String,
        /// The dataset's homepage or repository URL.
        #[serde(default)]
        pub url: String,
        /// Who made the dataset (a person or an organization).
        #[serde(default)]
        pub creator: String,
    }
}

#[derive(Debug)]
pub struct Export {
    params: ExportParams,
}

impl Export {}

fn bound(what: &str, v: u64, lo: u64, hi: u64) -> Result<(), String> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "`{what}` must be between {lo} and {hi}: got {v} | hint: e.g. `{what}: {}`",
            lo.max(hi.min(100_000))
        ))
    }
}

fn check(p: &ExportParams) -> Result<(), String> {
    if p.formats.is_empty() {
        return Err(format!(
            "`formats` is empty | hint: list at least one of: {}",
            FormatName::names()
        ));
    }
    let mut seen = Vec::new();
    for f in &p.formats {
        if seen.contains(f) {
            return Err(format!(
                "format `{}` is listed twice | hint: list each format once",
                f.as_str()
            ));
        }
        seen.push(*f);
    }
    bound(
        "parquet.row_group_size",
        p.parquet.row_group_size,
        1,
        MAX_ROW_GROUP,
    )?;
    if let Some(level) = p.parquet.level {
        let (lo, hi) = match p.parquet.compression {
            options::ParquetCompression::Gzip => (0, 10),
            options::ParquetCompression::Brotli => (0, 11),
            options::ParquetCompression::Zstd => (1, 22),
            c @ (options::ParquetCompression::None
            | options::ParquetCompression::Snappy
            | options::ParquetCompression::Lz4) => {
                let name = c.as_str();
                return Err(format!(
                    "`parquet.level` does not apply to {name} | hint: remove it, or use gzip, brotli or zstd"
                ));
            }
        };
        bound("parquet.level", u64::from(level), lo, hi)?;
    }
    bound(
        "tfrecord.shard_rows",
        p.tfrecord.shard_rows,
        1,
        MAX_SHARD_ROWS,
    )?;
    bound(
        "webdataset.shard_rows",
        p.webdataset.shard_rows,
        1,
        MAX_SHARD_ROWS,
    )?;
    bound(
        "hf.max_shard_size_mb",
        p.hf.max_shard_size_mb,
        1,
        MAX_SHARD_MB,
    )?;
    let d = p.csv.delimiter.as_bytes();
    if d.len() != 1 || !d[0].is_ascii() || matches!(d[0], b'"' | b'\n' | b'\r') {
        return Err(format!(
            "`csv.delimiter` must be one ASCII character other than a quote or a line break: got {} | hint: e.g. `delimiter: \";\"` or `delimiter: \"\\t\"`",
            if p.csv.delimiter.is_empty() {
                "an empty string".to_owned()
            } else {
                format!("`{}`", p.csv.delimiter.escape_debug())
            }
        ));
    }
    let wants_template = p.formats.contains(&FormatName::Template);
    match &p.template {
        None if wants_template => {
            return Err(
                "format `template` needs a `template:` block | hint: e.g. `template: {source: '{\"text\": {{ text | tojson }}}'}`"
                    .into(),
            );
        }
        Some(t) => {
            if !wants_template {
                return Err(
                    "`template:` is set but `template` is not in `formats` | hint: add `template` to `formats`, or remove the block"
                        .into(),
                );
            }
            if t.source.is_some() == t.path.is_some() {
                return Err(
                    "`template:` needs exactly one of `source` (the template text) and `path` (a file) | hint: e.g. `template: {path: chat.jinja}`"
                        .into(),
                );
            }
            if let Some(src) = &t.source {
                template::compile(src, "`template.source`").map_err(|e| match e.hint {
                    Some(h) => format!("{} | hint: {h}", e.message),
                    None => e.message,
                })?;
            }
        }
        None => {}
    }
    Ok(())
}

impl Kind for Export {
    const NAME: &'static str = "export";
    /// 1: the first version.
    /// 2: Parquet (and `hf` Parquet shards) hold the features in the Arrow schema's metadata too,
    ///    where `datasets` reads them.
    const VERSION: u32 = 2;
    const ACCEPTS: Accepts = Accepts::one(&[Data::Tables, Data::SourceFiles]);
    const PRODUCES: Data = Data::Artifacts;
    type Params = ExportParams;

    fn new(params: ExportParams) -> Result<Self, String> {
        check(&params)?;
        Ok(Export { params })
    }

    fn params(&self) -> &ExportParams {
        &self.params
    }

    fn default_output(&self, group: &str) -> String {
        format!("artifacts/{group}")
    }

    fn aux_inputs(&self) -> Vec<super::AuxInput> {
        self.params
            .template
            .as_ref()
            .and_then(|t| t.path.clone())
            .map(|uri| super::AuxInput {
                role: "template",
                uri,
                files: None,
            })
            .into_iter()
            .collect()
    }

    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        // A source of Parquet files (split tables made elsewhere) is read as it is: whether its
        // files are Parquet is known only now (the spec names a source, not its files).
        let all_parquet = cx.input.iter().all(|f| f.name.ends_with(".parquet"));
        if cx.input_is_source && !all_parquet {
            return Err(StageError::new(
                "`export` reads tables, and its input is a raw source with files that are not Parquet",
            )
            .hint("put a `normalize` (and usually a `split`) stage before it"));
        }
        run(&self.params, cx)
    }
}

/// The split a table file belongs to: its stem, without a `-00000-of-00003` shard suffix;
/// `part-N` tables (a normalize output) are `train`.
pub fn split_of(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.strip_suffix(".parquet").unwrap_or(base);
    let stem = match stem.rsplit_once("-of-") {
        Some((head, tail)) if tail.bytes().all(|b| b.is_ascii_digit()) => head
            .rsplit_once('-')
            .filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()))
            .map_or(head, |(h, _)| h),
        _ => stem,
    };
    if stem.starts_with("part-") || stem.is_empty() {
        return "train".into();
    }
    // Split names must match `^\w+(\.\w+)*$` for the Hub.
    stem.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// train, validation, test first, then the others by name.
fn split_order(name: &str) -> (u8, String) {
    let rank = match name {
        "train" => 0,
        "validation" => 1,
        "test" => 2,
        _ => 3,
    };
    (rank, name.to_owned())
}

/// The Hugging Face features of the input: the `huggingface` key of the first table's
/// metadata when a stage wrote it (ClassLabel names…), else derived from the Arrow types.
pub fn input_features(inputs: &ParquetInputs) -> serde_json::Value {
    // When every table agreed on the features, the merged schema carries them (see
    // `table::merge_schemas`); otherwise (tables written by other tools) the first table's
    // count, for the columns it has.
    let source = if inputs
        .schema
        .metadata()
        .contains_key(super::features::METADATA_KEY)
    {
        Some(inputs.schema.as_ref().clone())
    } else {
        inputs.schemas.first().map(|(_, s)| s.clone())
    };
    match source {
        Some(s) => super::features::carried(&s, &inputs.schema),
        None => super::features::features(&inputs.schema, &BTreeMap::new()),
    }
}

/// A message to one format's thread.
enum Msg {
    Begin(SplitInfo),
    Batch(RecordBatch),
    End,
}

fn create_writer(
    f: FormatName,
    p: &ExportParams,
    ecx: &ExportContext,
    cx: &StageContext<'_>,
) -> Result<Box<dyn FormatWriter>, StageError> {
    match f {
        FormatName::Parquet => parquet::ParquetWriter::create(ecx, &p.parquet, "parquet"),
        FormatName::Jsonl => text::create_jsonl(ecx, &p.jsonl),
        FormatName::Json => text::create_json(ecx, &p.json),
        FormatName::Csv => text::create_csv(ecx, &p.csv),
        FormatName::Hf => hf::create_hub(ecx, &p.hf, &p.parquet),
        FormatName::HfDisk => hf::create_disk(ecx, &p.hf),
        FormatName::Template => {
            let o = p.template.clone().unwrap_or_default();
            // A `path:` template is the stage's only auxiliary input.
            let file = cx
                .aux
                .first()
                .and_then(|files| files.first())
                .map(|f| f.path.as_path());
            template::create(ecx, &o, file)
        }
        FormatName::Tfrecord => tfrecord::create(ecx, &p.tfrecord),
        FormatName::Webdataset => webdataset::create(ecx, &p.webdataset),
        FormatName::Pytorch => pytorch::create(ecx),
        // Croissant describes the other formats' files: written after them (see `run`).
        FormatName::Croissant => Err(StageError::new(
            "internal error: croissant is not a data format",
        )),
    }
}

/// Run one format's writer over the messages; after an error it drains the channel so the
/// reader and the other formats go on.
fn drive(mut w: Box<dyn FormatWriter>, rx: &Receiver<Msg>) -> Result<FormatResult, StageError> {
    let mut failed: Option<StageError> = None;
    for msg in rx {
        if failed.is_some() {
            continue;
        }
        let r = match msg {
            Msg::Begin(s) => w.begin_split(&s),
            Msg::Batch(b) => w.write(&b),
            Msg::End => w.end_split(),
        };
        if let Err(e) = r {
            failed = Some(e);
        }
    }
    match failed {
        Some(e) => Err(e),
        None => w.finish(),
    }
}

fn run(p: &ExportParams, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let inputs = table::open_parquet_inputs(cx.input)?;
    // Group the tables into splits, in split order.
    let mut by_split: BTreeMap<(u8, String), Vec<usize>> = BTreeMap::new();
    for (i, t) in inputs.tables.iter().enumerate() {
        by_split
            .entry(split_order(&split_of(&t.name)))
            .or_default()
            .push(i);
    }
    let mut splits = Vec::new();
    let mut total_rows = 0u64;
    for ((_, name), tables) in &by_split {
        let mut rows = 0;
        for &i in tables {
            rows += table_rows(&inputs.tables[i].path, &inputs.tables[i].name)?;
        }
        total_rows += rows;
        splits.push(SplitInfo {
            name: name.clone(),
            rows,
        });
    }
    let ecx = ExportContext {
        out_dir: cx.out_dir.to_owned(),
        dataset: DatasetMeta {
            name: p.name.clone(),
            version: p.version.clone(),
            description: p.dataset_description.clone(),
            license: p.license.clone(),
            url: p.url.clone(),
            creator: p.creator.clone(),
            content_hash: cx.input_hash.to_owned(),
        },
        schema: inputs.schema.clone(),
        features: input_features(&inputs),
        splits: splits.clone(),
    };
    check_free_space(&inputs, p, cx)?;

    let data_formats: Vec<FormatName> = p
        .formats
        .iter()
        .copied()
        .filter(|f| *f != FormatName::Croissant)
        .collect();
    let mut results: Vec<(FormatName, Result<FormatResult, StageError>)> = Vec::new();
    let mut writers = Vec::new();
    for &f in &data_formats {
        match create_writer(f, p, &ecx, cx) {
            Ok(w) => writers.push((f, w)),
            Err(e) => results.push((f, Err(e))),
        }
    }
    let read_result: Result<(), StageError> = std::thread::scope(|s| {
        let mut senders: Vec<SyncSender<Msg>> = Vec::new();
        let mut handles = Vec::new();
        for (f, w) in writers {
            let (tx, rx) = sync_channel::<Msg>(4);
            senders.push(tx);
            handles.push((f, s.spawn(move || drive(w, &rx))));
        }
        let send_all = |m: &dyn Fn() -> Msg| {
            for tx in &senders {
                // A writer thread only ends early by panicking; its join reports it.
                let _ = tx.send(m());
            }
        };
        let mut read = Ok(());
        let mut done = 0u64;
        'splits: for (tables, split) in by_split.values().zip(&splits) {
            send_all(&|| Msg::Begin(split.clone()));
            for &i in tables {
                let t = &inputs.tables[i];
                let batches = match t.batches(&inputs.schema) {
                    Ok(b) => b,
                    Err(e) => {
                        read = Err(e);
                        break 'splits;
                    }
                };
                for b in batches {
                    match b {
                        Ok(b) => {
                            done += b.num_rows() as u64;
                            send_all(&|| Msg::Batch(b.clone()));
                            (cx.progress)(Progress {
                                done,
                                total: total_rows,
                                tokens: None,
                            });
                        }
                        Err(e) => {
                            read = Err(e);
                            break 'splits;
                        }
                    }
                }
            }
            send_all(&|| Msg::End);
        }
        drop(senders);
        for (f, h) in handles {
            let r = h.join().unwrap_or_else(|_| {
                Err(StageError::new(format!(
                    "internal error in the `{}` writer",
                    f.as_str()
                )))
            });
            results.push((f, r));
        }
        read
    });
    read_result?;
    if p.formats.contains(&FormatName::Croissant) {
        let r = describe(cx, &results).and_then(|files| croissant(&ecx, &files));
        results.push((FormatName::Croissant, r));
    }
    // Keep the order of `formats:`.
    results.sort_by_key(|(f, _)| p.formats.iter().position(|x| x == f));
    finish(p, cx, &ecx, results)
}

/// Size and SHA-256 of every artifact of the formats that succeeded.
fn describe(
    cx: &StageContext<'_>,
    results: &[(FormatName, Result<FormatResult, StageError>)],
) -> Result<Vec<writer::DescribedFile>, StageError> {
    let mut out = Vec::new();
    for (f, r) in results {
        let Ok(res) = r else { continue };
        for a in &res.artifacts {
            let path = cx.out_dir.join(&a.path);
            let size = std::fs::metadata(&path)
                .map_err(|e| writer::file_err(&path, e))?
                .len();
            let sha256 =
                crate::statcache::sha256_file(&path).map_err(|e| writer::file_err(&path, e))?;
            out.push(writer::DescribedFile {
                artifact: a.clone(),
                format: *f,
                size,
                sha256,
            });
        }
    }
    Ok(out)
}

fn croissant(
    ecx: &ExportContext,
    files: &[writer::DescribedFile],
) -> Result<FormatResult, StageError> {
    croissant::write(ecx, files)
}

/// Rows of one Parquet table, from its footer.
fn table_rows(path: &std::path::Path, name: &str) -> Result<u64, StageError> {
    let file = std::fs::File::open(path)
        .map_err(|e| StageError::new(format!("cannot read `{name}`: {e}")))?;
    let reader = ::parquet::file::reader::SerializedFileReader::new(file)
        .map_err(|e| StageError::new(format!("cannot read `{name}`: {e}")))?;
    Ok(u64::try_from(
        ::parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .num_rows(),
    )
    .unwrap_or(0))
}

/// Refuse to start when the disk cannot hold the export: an estimate from the input's size
/// (Parquet is compressed; text formats take several times as much).
fn check_free_space(
    inputs: &ParquetInputs,
    p: &ExportParams,
    cx: &StageContext<'_>,
) -> Result<(), StageError> {
    let input_bytes: u64 = inputs
        .tables
        .iter()
        .filter_map(|t| std::fs::metadata(&t.path).ok())
        .map(|m| m.len())
        .sum();
    let factor: u64 = p
        .formats
        .iter()
        .map(|f| match f {
            FormatName::Parquet | FormatName::Hf | FormatName::Pytorch | FormatName::Croissant => 1,
            FormatName::HfDisk | FormatName::Webdataset | FormatName::Tfrecord => 3,
            FormatName::Jsonl | FormatName::Json | FormatName::Csv | FormatName::Template => 4,
        })
        .sum();
    let need = input_bytes.saturating_mul(factor);
    let free = crate::fetch::free_bytes(cx.out_dir);
    if let Some(free) = free
        && free < need
    {
        return Err(StageError::new(format!(
            "not enough free disk space for the export: about {} needed, {} free",
            crate::report::human::size(need),
            crate::report::human::size(free)
        ))
        .hint("free some space, export fewer formats, or set MLDATA_HOME to a larger disk"));
    }
    Ok(())
}

fn finish(
    p: &ExportParams,
    cx: &StageContext<'_>,
    ecx: &ExportContext,
    results: Vec<(FormatName, Result<FormatResult, StageError>)>,
) -> Result<StageOutput, StageError> {
    let mut out = StageOutput::default();
    let mut failures = Vec::new();
    let mut formats = serde_json::Map::new();
    let mut display = String::new();
    let mut artifacts: Vec<Artifact> = Vec::new();
    let mut loads = String::new();
    for (f, r) in results {
        match r {
            Ok(res) => {
                let bytes: u64 = res
                    .artifacts
                    .iter()
                    .filter_map(|a| std::fs::metadata(cx.out_dir.join(&a.path)).ok())
                    .map(|m| m.len())
                    .sum();
                let rows: u64 = res.artifacts.iter().filter_map(|a| a.rows).sum();
                let mut fact = serde_json::Map::new();
                fact.insert("files".into(), res.artifacts.len().into());
                fact.insert("rows".into(), rows.into());
                fact.insert("bytes".into(), bytes.into());
                let ratio = res
                    .facts
                    .get("compression_ratio")
                    .and_then(serde_json::Value::as_f64)
                    .map(|r| format!(", {r:.1}× compressed"))
                    .unwrap_or_default();
                for (k, v) in res.facts {
                    fact.insert(k, v);
                }
                formats.insert(f.as_str().into(), fact.into());
                let _ = writeln!(
                    display,
                    "  ✓ {:<11} {:>4} file{}  {:>10}{}{ratio}",
                    f.as_str(),
                    res.artifacts.len(),
                    if res.artifacts.len() == 1 { " " } else { "s" },
                    crate::report::human::size(bytes),
                    if rows > 0 {
                        format!("  {rows} rows")
                    } else {
                        String::new()
                    }
                );
                out.warnings.extend(
                    res.warnings
                        .into_iter()
                        .map(|w| format!("{}: {w}", f.as_str())),
                );
                if let Some(s) = res.snippet {
                    let _ = writeln!(loads, "  # {}\n{}", f.as_str(), indent(&s));
                }
                artifacts.extend(res.artifacts);
            }
            Err(e) => {
                let _ = writeln!(display, "  ✗ {:<11} {}", f.as_str(), e.message);
                failures.push((f, e));
            }
        }
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    out.files = artifacts.iter().map(|a| (a.path.clone(), a.rows)).collect();
    out.summary.insert("formats".into(), formats.clone().into());
    out.summary.insert(
        "rows".into(),
        ecx.splits.iter().map(|s| s.rows).sum::<u64>().into(),
    );
    out.summary.insert(
        "splits".into(),
        serde_json::Value::Object(
            ecx.splits
                .iter()
                .map(|s| (s.name.clone(), s.rows.into()))
                .collect(),
        ),
    );
    if !loads.is_empty() {
        let _ = write!(
            display,
            "\n  Load them (paths inside {}/):\n{loads}",
            cx.shown_dir
        );
    }
    // Under the stage's status line, as the other stages' summaries.
    let shown: Vec<String> = display
        .trim_end()
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("        {l}")
            }
        })
        .collect();
    out.display = Some(shown.join("\n") + "\n");
    if failures.is_empty() {
        return Ok(out);
    }
    // Nothing half-written stays: a failed format's folder goes; the others are delivered
    // (placed in the dataset folder) but the stage is not recorded as complete.
    for (f, _) in &failures {
        let _ = std::fs::remove_dir_all(cx.out_dir.join(f.as_str()));
    }
    // Name files as they will be in the dataset folder's export folder, not the temporary one.
    let tmp = format!("{}/", cx.out_dir.display());
    let list: Vec<String> = failures
        .iter()
        .map(|(f, e)| {
            let mut s = format!("{}: {}", f.as_str(), e.message.replace(&tmp, ""));
            if let Some(h) = &e.hint {
                let _ = write!(s, " (hint: {h})");
            }
            s
        })
        .collect();
    let ok: Vec<&str> = p
        .formats
        .iter()
        .map(|f| f.as_str())
        .filter(|f| formats.contains_key(*f))
        .collect();
    let mut err = StageError::new(format!(
        "{} of {} formats failed:\n  {}",
        failures.len(),
        p.formats.len(),
        list.join("\n  ")
    ))
    .hint(if ok.is_empty() {
        "fix the failing formats and build again".to_owned()
    } else {
        format!(
            "the other formats ({}) were written and read back, but the stage is not recorded until every format succeeds; fix the failing ones or remove them from `formats`",
            ok.join(", ")
        )
    });
    if !ok.is_empty() {
        err.partial = Some(Box::new(out));
    }
    Err(err)
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
