//! The Hugging Face formats.
//!
//! - `hf`: the layout of a dataset repository on the Hub, what `push_to_hub` writes:
//!   `hf/data/<split>-00000-of-0000N.parquet` and `hf/README.md` (YAML front matter with the
//!   `configs` and `dataset_info` the loaders read, then a dataset card).
//! - `hf-disk`: the layout of `Dataset.save_to_disk` / `DatasetDict.save_to_disk`:
//!   `hf-disk/dataset_dict.json` and per split `data-0000i-of-0000N.arrow` (Arrow IPC
//!   streams), `dataset_info.json` and `state.json`.
//!
//! Both shard a split when its uncompressed size passes `hf.max_shard_size_mb`, write at
//! least one file per split (an empty split gets an empty file), carry the features in the
//! `huggingface` schema metadata, and read every file back before reporting it.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};

use super::options::{HfOptions, ParquetOptions};
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, SplitInfo, check_rows, file_err, rel,
};
use crate::stages::StageError;
use crate::stages::features;

const MB: u64 = 1_000_000;

/// Uncompressed bytes of a batch: the Arrow buffers its rows use (what `datasets` calls
/// `nbytes`). Depends only on the values, so shard boundaries are deterministic.
fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64)
        .sum()
}

/// One open shard of some file format.
trait ShardFile: Sized + Send {
    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<(), StageError>;
    fn close(self, path: &Path) -> Result<(), StageError>;
}

/// A finished shard.
#[derive(Debug, Clone)]
struct Shard {
    path: PathBuf,
    rows: u64,
    /// Uncompressed bytes of its rows.
    bytes: u64,
}

/// A split's shards as they are written: a new shard starts when the open one reaches the
/// size limit. Shards are written under hidden temporary names and get their final
/// `<prefix>-0000i-of-0000N.<ext>` names when the split ends (N is known only then).
struct Shards<F: ShardFile> {
    limit: u64,
    dir: PathBuf,
    prefix: String,
    ext: &'static str,
    open: Option<(F, PathBuf, u64, u64)>,
    done: Vec<Shard>,
}

impl<F: ShardFile> Shards<F> {
    fn new(limit: u64, dir: PathBuf, prefix: &str, ext: &'static str) -> Self {
        Shards {
            limit,
            dir,
            prefix: prefix.to_owned(),
            ext,
            open: None,
            done: Vec::new(),
        }
    }

    fn ensure_open(
        &mut self,
        create: &mut dyn FnMut(&Path) -> Result<F, StageError>,
    ) -> Result<(), StageError> {
        if self.open.is_none() {
            let path = self.dir.join(format!(
                ".{}-{:05}.{}.partial",
                self.prefix,
                self.done.len(),
                self.ext
            ));
            let f = create(&path)?;
            self.open = Some((f, path, 0, 0));
        }
        Ok(())
    }

    fn close_open(&mut self) -> Result<(), StageError> {
        if let Some((f, path, rows, bytes)) = self.open.take() {
            f.close(&path)?;
            self.done.push(Shard { path, rows, bytes });
        }
        Ok(())
    }

    /// Write `batch`, cutting it where a shard reaches the limit.
    fn write(
        &mut self,
        batch: &RecordBatch,
        create: &mut dyn FnMut(&Path) -> Result<F, StageError>,
    ) -> Result<(), StageError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let total = batch_bytes(batch).max(1);
        let mut start = 0;
        while start < n {
            self.ensure_open(create)?;
            let Some((f, path, rows, bytes)) = &mut self.open else {
                break;
            };
            let rest = n - start;
            let room = self.limit.saturating_sub(*bytes);
            // Rows that fill the room, estimated from the batch's mean row size (rounded up, so
            // that the shard passes the limit and closes); at least one.
            let fit = (u128::from(room) * n as u128).div_ceil(u128::from(total)) as usize;
            let take = rest.min(fit.max(1));
            let part = batch.slice(start, take);
            f.write(&part, path)?;
            *rows += take as u64;
            *bytes += batch_bytes(&part);
            start += take;
            if *bytes >= self.limit {
                self.close_open()?;
            }
        }
        Ok(())
    }

    /// Close the split: an empty split still gets one (empty) file; every shard gets its
    /// final name.
    fn finish(
        mut self,
        create: &mut dyn FnMut(&Path) -> Result<F, StageError>,
    ) -> Result<Vec<Shard>, StageError> {
        if self.done.is_empty() && self.open.is_none() {
            self.ensure_open(create)?;
        }
        self.close_open()?;
        let n = self.done.len();
        let mut out = Vec::with_capacity(n);
        for (i, s) in self.done.into_iter().enumerate() {
            let to = self
                .dir
                .join(format!("{}-{i:05}-of-{n:05}.{}", self.prefix, self.ext));
            std::fs::rename(&s.path, &to).map_err(|e| file_err(&to, e))?;
            out.push(Shard { path: to, ..s });
        }
        Ok(out)
    }
}

/// A Parquet shard of the `hf` layout.
struct ParquetShard(ArrowWriter<File>);

impl ShardFile for ParquetShard {
    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<(), StageError> {
        self.0.write(batch).map_err(|e| file_err(path, e))
    }

    fn close(self, path: &Path) -> Result<(), StageError> {
        self.0.close().map(|_| ()).map_err(|e| file_err(path, e))
    }
}

/// An Arrow IPC stream shard of the `hf-disk` layout.
struct IpcShard(StreamWriter<BufWriter<File>>);

impl ShardFile for IpcShard {
    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<(), StageError> {
        self.0.write(batch).map_err(|e| file_err(path, e))
    }

    fn close(mut self, path: &Path) -> Result<(), StageError> {
        self.0.finish().map_err(|e| file_err(path, e))?;
        let mut inner = self.0.into_inner().map_err(|e| file_err(path, e))?;
        std::io::Write::flush(&mut inner).map_err(|e| file_err(path, e))
    }
}

/// What one written split holds.
#[derive(Debug, Clone)]
struct SplitDone {
    split: SplitInfo,
    shards: Vec<Shard>,
}

impl SplitDone {
    fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes).sum()
    }
}

fn shard_limit(o: &HfOptions) -> u64 {
    o.max_shard_size_mb.saturating_mul(MB)
}

// ---------------------------------------------------------------------------------------
// `hf`: the Hub repository layout.

/// Writes `hf/data/<split>-…parquet` and `hf/README.md`.
pub struct HubWriter {
    cx: ExportContext,
    opts: ParquetOptions,
    limit: u64,
    dir: PathBuf,
    data_dir: PathBuf,
    schema: SchemaRef,
    current: Option<(SplitInfo, WriterProperties, Shards<ParquetShard>)>,
    written: Vec<SplitDone>,
}

/// The `hf` format's writer.
pub fn create_hub(
    cx: &ExportContext,
    hf: &HfOptions,
    parquet: &ParquetOptions,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let dir = cx.format_dir("hf")?;
    let data_dir = cx.format_dir("hf/data")?;
    Ok(Box::new(HubWriter {
        schema: super::parquet::export_schema(cx),
        cx: cx.clone(),
        opts: parquet.clone(),
        limit: shard_limit(hf),
        dir,
        data_dir,
        current: None,
        written: Vec::new(),
    }))
}

/// Opens the Parquet shards of one split (its footer metadata in `props`).
fn parquet_opener<'a>(
    schema: &'a SchemaRef,
    props: &'a WriterProperties,
) -> impl FnMut(&Path) -> Result<ParquetShard, StageError> + 'a {
    move |path: &Path| {
        let file = File::create(path).map_err(|e| file_err(path, e))?;
        ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))
            .map(ParquetShard)
            .map_err(|e| file_err(path, e))
    }
}

impl FormatWriter for HubWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let props = super::parquet::writer_properties(&self.cx, &self.opts, &split.name)?;
        self.current = Some((
            split.clone(),
            props,
            Shards::new(self.limit, self.data_dir.clone(), &split.name, "parquet"),
        ));
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let Some((_, props, shards)) = &mut self.current else {
            return Err(StageError::new("internal error: hf batch outside a split"));
        };
        let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
            .map_err(|e| file_err(&self.data_dir, e))?;
        let mut open = parquet_opener(&self.schema, props);
        shards.write(&batch, &mut open)
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some((split, props, shards)) = self.current.take() {
            let mut open = parquet_opener(&self.schema, &props);
            let shards = shards.finish(&mut open)?;
            let rows: u64 = shards.iter().map(|s| s.rows).sum();
            check_rows(&self.data_dir, split.rows, rows)?;
            self.written.push(SplitDone { split, shards });
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        let mut download_size = 0u64;
        for done in &self.written {
            for s in &done.shards {
                super::parquet::read_back(&s.path, &self.schema, s.rows)?;
                download_size += std::fs::metadata(&s.path)
                    .map_err(|e| file_err(&s.path, e))?
                    .len();
                res.artifacts.push(Artifact {
                    path: rel(&self.cx, &s.path),
                    rows: Some(s.rows),
                    split: Some(done.split.name.clone()),
                });
            }
        }
        let readme = self.dir.join("README.md");
        let text = readme_text(&self.cx, &self.written, download_size);
        std::fs::write(&readme, &text).map_err(|e| file_err(&readme, e))?;
        // The card's front matter must read back as what was meant.
        let back = std::fs::read_to_string(&readme).map_err(|e| file_err(&readme, e))?;
        if back != text || !back.starts_with("---\n") {
            return Err(
                file_err(&readme, "reads back different from what was written")
                    .hint("the disk is full or failing; run the export again"),
            );
        }
        res.artifacts.push(Artifact {
            path: rel(&self.cx, &readme),
            rows: None,
            split: None,
        });
        let shards: usize = self.written.iter().map(|d| d.shards.len()).sum();
        let dataset_size: u64 = self.written.iter().map(SplitDone::bytes).sum();
        res.facts.insert("shards".into(), shards.into());
        res.facts.insert("dataset_size".into(), dataset_size.into());
        res.facts
            .insert("download_size".into(), download_size.into());
        res.facts
            .insert("compression".into(), self.opts.compression.as_str().into());
        res.snippet = Some(format!(
            "from datasets import load_dataset\nds = load_dataset(\"{}\")",
            rel(&self.cx, &self.dir)
        ));
        Ok(res)
    }
}

// ---------------------------------------------------------------------------------------
// `hf-disk`: the `save_to_disk` layout.

/// How each input column is stored in the Arrow files `datasets` memory-maps: ClassLabel
/// columns as int64 (as `datasets` stores them), string and binary views as plain strings and
/// binaries (`datasets` infers other features from view types).
fn disk_type(dt: &DataType, feature: Option<&Value>) -> DataType {
    let kind = feature.and_then(|f| f.get("_type")).and_then(Value::as_str);
    if kind == Some("ClassLabel") && dt.is_integer() {
        return DataType::Int64;
    }
    // Parquet has no seconds unit: a `timestamp[s]` column comes back from Parquet as
    // milliseconds (pyarrow restores the unit from its schema hint, arrow-rs does not), and
    // `load_from_disk` refuses data whose type differs from its features.
    if kind == Some("Value")
        && let Some(want) = feature
            .and_then(|f| f.get("dtype"))
            .and_then(Value::as_str)
            .and_then(features::temporal_type)
        && std::mem::discriminant(&want) == std::mem::discriminant(dt)
    {
        return want;
    }
    match dt {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// Writes `hf-disk/dataset_dict.json` and `hf-disk/<split>/…`.
pub struct DiskWriter {
    cx: ExportContext,
    limit: u64,
    dir: PathBuf,
    schema: SchemaRef,
    current: Option<(SplitInfo, PathBuf, Shards<IpcShard>)>,
    written: Vec<SplitDone>,
}

/// The `hf-disk` format's writer.
pub fn create_disk(
    cx: &ExportContext,
    hf: &HfOptions,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let dir = cx.format_dir("hf-disk")?;
    let fields: Vec<Field> = cx
        .schema
        .fields()
        .iter()
        .map(|f| {
            let dt = disk_type(f.data_type(), cx.features.get(f.name()));
            Field::new(f.name(), dt, f.is_nullable())
        })
        .collect();
    let meta = std::collections::HashMap::from([(
        features::METADATA_KEY.to_owned(),
        features::metadata_value(&cx.features),
    )]);
    Ok(Box::new(DiskWriter {
        cx: cx.clone(),
        limit: shard_limit(hf),
        dir,
        schema: Arc::new(Schema::new_with_metadata(fields, meta)),
        current: None,
        written: Vec::new(),
    }))
}

impl DiskWriter {
    fn opener(&self) -> impl FnMut(&Path) -> Result<IpcShard, StageError> + use<> {
        let schema = self.schema.clone();
        move |path: &Path| {
            let file = File::create(path).map_err(|e| file_err(path, e))?;
            StreamWriter::try_new(
                BufWriter::with_capacity(crate::store::WRITE_SIZE, file),
                &schema,
            )
            .map(IpcShard)
            .map_err(|e| file_err(path, e))
        }
    }

    /// The batch with the columns cast to their stored types.
    fn storage(&self, batch: &RecordBatch) -> Result<RecordBatch, StageError> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (c, f) in batch.columns().iter().zip(self.schema.fields()) {
            if c.data_type() == f.data_type() {
                cols.push(c.clone());
            } else {
                let cast = arrow::compute::cast(c, f.data_type()).map_err(|e| {
                    StageError::new(format!(
                        "hf-disk: column `{}` cannot be stored as {}: {e}",
                        f.name(),
                        f.data_type()
                    ))
                })?;
                cols.push(cast);
            }
        }
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| StageError::new(format!("internal error preparing hf-disk rows: {e}")))
    }

    fn write_json(path: &Path, v: &Value) -> Result<(), StageError> {
        let mut s = serde_json::to_string_pretty(v)
            .map_err(|e| StageError::new(format!("internal error writing JSON: {e}")))?;
        s.push('\n');
        std::fs::write(path, s).map_err(|e| file_err(path, e))?;
        let back = std::fs::read(path).map_err(|e| file_err(path, e))?;
        serde_json::from_slice::<Value>(&back)
            .map_err(|e| file_err(path, format!("not valid JSON when read back: {e}")))?;
        Ok(())
    }

    /// `dataset_info.json` as `datasets` writes it for a saved dataset.
    fn dataset_info(&self) -> Value {
        let d = &self.cx.dataset;
        let splits: serde_json::Map<String, Value> = self
            .written
            .iter()
            .map(|w| {
                (
                    w.split.name.clone(),
                    json!({
                        "name": w.split.name,
                        "num_bytes": w.bytes(),
                        "num_examples": w.split.rows,
                        "shard_lengths": if w.shards.len() > 1 {
                            Value::from(w.shards.iter().map(|s| s.rows).collect::<Vec<_>>())
                        } else {
                            Value::Null
                        },
                        "dataset_name": d.name,
                    }),
                )
            })
            .collect();
        let size: u64 = self.written.iter().map(SplitDone::bytes).sum();
        let mut info = json!({
            "citation": "",
            "description": d.description,
            "features": self.cx.features,
            "homepage": d.url,
            "license": d.license,
            "dataset_name": d.name,
            "config_name": "default",
            "splits": splits,
            "dataset_size": size,
            "size_in_bytes": size,
        });
        // `datasets` only takes MAJOR.MINOR.PATCH versions.
        if let Some((major, minor, patch)) = semver(&d.version) {
            info["version"] = json!({
                "version_str": format!("{major}.{minor}.{patch}"),
                "description": null,
                "major": major,
                "minor": minor,
                "patch": patch,
            });
        }
        info
    }
}

/// `MAJOR.MINOR.PATCH` of a version, when it is one (no pre-release, no build metadata).
fn semver(v: &str) -> Option<(u64, u64, u64)> {
    crate::release::Version::parse(v)
        .filter(|v| v.pre.is_empty() && v.build.is_empty())
        .map(|v| (v.major, v.minor, v.patch))
}

impl FormatWriter for DiskWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let dir = self.cx.format_dir(&format!("hf-disk/{}", split.name))?;
        self.current = Some((
            split.clone(),
            dir.clone(),
            Shards::new(self.limit, dir, "data", "arrow"),
        ));
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let batch = self.storage(batch)?;
        let mut open = self.opener();
        let Some((_, _, shards)) = &mut self.current else {
            return Err(StageError::new(
                "internal error: hf-disk batch outside a split",
            ));
        };
        shards.write(&batch, &mut open)
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some((split, dir, shards)) = self.current.take() {
            let mut open = self.opener();
            let shards = shards.finish(&mut open)?;
            let rows: u64 = shards.iter().map(|s| s.rows).sum();
            check_rows(&dir, split.rows, rows)?;
            self.written.push(SplitDone { split, shards });
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        for done in &self.written {
            for s in &done.shards {
                read_back_ipc(&s.path, &self.schema, s.rows)?;
            }
        }
        let info = self.dataset_info();
        for done in &self.written {
            let split_dir = self.dir.join(&done.split.name);
            for s in &done.shards {
                res.artifacts.push(Artifact {
                    path: rel(&self.cx, &s.path),
                    rows: Some(s.rows),
                    split: Some(done.split.name.clone()),
                });
            }
            let info_path = split_dir.join("dataset_info.json");
            Self::write_json(&info_path, &info)?;
            let files: Vec<Value> = done
                .shards
                .iter()
                .map(|s| {
                    json!({"filename": s.path.file_name().map(|n| n.to_string_lossy().into_owned())})
                })
                .collect();
            let state = json!({
                "_data_files": files,
                "_fingerprint": fingerprint(&self.cx.dataset.content_hash, &done.split.name),
                "_format_columns": null,
                "_format_kwargs": {},
                "_format_type": null,
                "_output_all_columns": false,
                "_split": done.split.name,
            });
            let state_path = split_dir.join("state.json");
            Self::write_json(&state_path, &state)?;
            for p in [&info_path, &state_path] {
                res.artifacts.push(Artifact {
                    path: rel(&self.cx, p),
                    rows: None,
                    split: Some(done.split.name.clone()),
                });
            }
        }
        let dict = self.dir.join("dataset_dict.json");
        let names: Vec<&str> = self.written.iter().map(|d| d.split.name.as_str()).collect();
        Self::write_json(&dict, &json!({ "splits": names }))?;
        res.artifacts.push(Artifact {
            path: rel(&self.cx, &dict),
            rows: None,
            split: None,
        });
        let shards: usize = self.written.iter().map(|d| d.shards.len()).sum();
        let dataset_size: u64 = self.written.iter().map(SplitDone::bytes).sum();
        res.facts.insert("shards".into(), shards.into());
        res.facts.insert("dataset_size".into(), dataset_size.into());
        let cast: Vec<String> = self
            .cx
            .schema
            .fields()
            .iter()
            .zip(self.schema.fields())
            .filter(|(a, b)| a.data_type() != b.data_type())
            .map(|(a, b)| format!("{} {} → {}", a.name(), a.data_type(), b.data_type()))
            .collect();
        if !cast.is_empty() {
            res.facts.insert("cast".into(), cast.into());
        }
        res.snippet = Some(format!(
            "from datasets import load_from_disk\nds = load_from_disk(\"{}\")",
            rel(&self.cx, &self.dir)
        ));
        Ok(res)
    }
}

/// A deterministic `_fingerprint`: 16 hex characters of a hash of the data's content hash and
/// the split.
fn fingerprint(content_hash: &str, split: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"mldatabuild hf-disk\0");
    h.update(content_hash.as_bytes());
    h.update(b"\0");
    h.update(split.as_bytes());
    h.finalize().to_hex()[..16].to_owned()
}

/// Read an Arrow IPC stream back: its schema and row count must be the ones written.
fn read_back_ipc(path: &Path, schema: &Schema, rows: u64) -> Result<(), StageError> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let reader = StreamReader::try_new(std::io::BufReader::with_capacity(1 << 20, file), None)
        .map_err(|e| file_err(path, e))?;
    if reader.schema().fields() != schema.fields()
        || reader.schema().metadata().get(features::METADATA_KEY)
            != schema.metadata().get(features::METADATA_KEY)
    {
        return Err(StageError::new(format!(
            "`{}` reads back with a different schema than was written",
            path.display()
        ))
        .hint("this is a bug in mldatabuild; please report it with the spec"));
    }
    let mut found = 0u64;
    for b in reader {
        found += b.map_err(|e| file_err(path, e))?.num_rows() as u64;
    }
    check_rows(path, rows, found)
}

// ---------------------------------------------------------------------------------------
// The dataset card.

/// A YAML value, written in block style.
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    /// A scalar, already rendered (quoted when needed).
    Scalar(String),
    Map(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
}

/// A YAML scalar for a string: plain when that reads back as the same string, else
/// double-quoted (JSON string syntax is valid YAML).
fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n" | "nan" | "inf"
        );
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

fn ys(s: &str) -> Yaml {
    Yaml::Scalar(yaml_str(s))
}

fn emit_entries(out: &mut String, entries: &[(String, Yaml)], indent: usize, dash: bool) {
    for (i, (k, v)) in entries.iter().enumerate() {
        let pad = if i == 0 && dash {
            format!("{}- ", " ".repeat(indent - 2))
        } else {
            " ".repeat(indent)
        };
        let k = yaml_str(k);
        match v {
            Yaml::Scalar(s) => {
                let _ = writeln!(out, "{pad}{k}: {s}");
            }
            Yaml::Map(m) if m.is_empty() => {
                let _ = writeln!(out, "{pad}{k}: {{}}");
            }
            Yaml::Map(m) => {
                let _ = writeln!(out, "{pad}{k}:");
                emit_entries(out, m, indent + 2, false);
            }
            Yaml::List(l) if l.is_empty() => {
                let _ = writeln!(out, "{pad}{k}: []");
            }
            Yaml::List(l) => {
                let _ = writeln!(out, "{pad}{k}:");
                emit_list(out, l, indent);
            }
        }
    }
}

fn emit_list(out: &mut String, items: &[Yaml], indent: usize) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Yaml::Scalar(s) => {
                let _ = writeln!(out, "{pad}- {s}");
            }
            Yaml::Map(m) if m.is_empty() => {
                let _ = writeln!(out, "{pad}- {{}}");
            }
            Yaml::Map(m) => emit_entries(out, m, indent + 2, true),
            Yaml::List(l) if l.is_empty() => {
                let _ = writeln!(out, "{pad}- []");
            }
            Yaml::List(l) => {
                let _ = writeln!(out, "{pad}-");
                emit_list(out, l, indent + 2);
            }
        }
    }
}

/// `ClassLabel` → `class_label`, `Array2D` → `array2_d`, as `datasets` names feature types in
/// YAML.
fn snake_case(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &ch) in c.iter().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            let prev = c[i - 1];
            let next_lower = c.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// Any JSON value as YAML.
fn json_yaml(v: &Value) -> Yaml {
    match v {
        Value::String(s) => ys(s),
        Value::Null => Yaml::Scalar("null".into()),
        Value::Bool(b) => Yaml::Scalar(b.to_string()),
        Value::Number(n) => Yaml::Scalar(n.to_string()),
        Value::Array(a) => Yaml::List(a.iter().map(json_yaml).collect()),
        Value::Object(o) => Yaml::Map(o.iter().map(|(k, v)| (k.clone(), json_yaml(v))).collect()),
    }
}

/// `list: {dtype: int32}` → `list: int32` and `list: {struct: […]}` → `list: […]`, as
/// `datasets` simplifies them.
fn simplify_inner(inner: Yaml) -> Yaml {
    match inner {
        Yaml::Map(m) if m.len() == 1 && (m[0].0 == "dtype" || m[0].0 == "struct") => m
            .into_iter()
            .next()
            .map_or(Yaml::Map(Vec::new()), |(_, v)| v),
        other => other,
    }
}

/// One feature (the `Features.to_dict()` form) in the YAML form of `dataset_info`: the
/// entries that follow its `name:`.
fn feature_yaml(f: &Value) -> Vec<(String, Yaml)> {
    match f {
        Value::Array(items) => {
            let inner = items.first().map(feature_yaml).unwrap_or_default();
            vec![("list".into(), simplify_inner(Yaml::Map(inner)))]
        }
        Value::Object(o) => {
            let Some(ty) = o.get("_type").and_then(Value::as_str) else {
                // A plain object is a struct of features.
                let fields = o
                    .iter()
                    .map(|(name, sub)| {
                        let mut e = vec![("name".to_owned(), ys(name))];
                        e.extend(feature_yaml(sub));
                        Yaml::Map(e)
                    })
                    .collect();
                return vec![("struct".into(), Yaml::List(fields))];
            };
            let rest: Vec<(&String, &Value)> = o.iter().filter(|(k, _)| *k != "_type").collect();
            match ty {
                "Value" => rest
                    .into_iter()
                    .map(|(k, v)| (k.clone(), json_yaml(v)))
                    .collect(),
                "List" | "LargeList" | "Sequence" => {
                    let inner = o.get("feature").map(feature_yaml).unwrap_or_default();
                    // A legacy Sequence over a dict is a dict of lists: keep its own key.
                    let key = match ty {
                        "LargeList" => "large_list",
                        "Sequence" if o.get("feature").is_some_and(is_struct) => "sequence",
                        _ => "list",
                    };
                    let mut e = vec![(key.to_owned(), simplify_inner(Yaml::Map(inner)))];
                    if let Some(len) = o.get("length").filter(|l| l.as_i64() != Some(-1)) {
                        e.push(("length".into(), json_yaml(len)));
                    }
                    e
                }
                other => {
                    let name = snake_case(other);
                    let params: Vec<(String, Yaml)> = rest
                        .into_iter()
                        .map(|(k, v)| {
                            if other == "ClassLabel" && k == "names" {
                                // Class names are a map from id to name (the Hub wants string keys).
                                let names = v
                                    .as_array()
                                    .map(|a| {
                                        a.iter()
                                            .enumerate()
                                            .map(|(i, n)| (i.to_string(), json_yaml(n)))
                                            .collect()
                                    })
                                    .unwrap_or_default();
                                (k.clone(), Yaml::Map(names))
                            } else {
                                (k.clone(), json_yaml(v))
                            }
                        })
                        .collect();
                    if params.is_empty() {
                        vec![("dtype".into(), Yaml::Scalar(name))]
                    } else {
                        vec![("dtype".into(), Yaml::Map(vec![(name, Yaml::Map(params))]))]
                    }
                }
            }
        }
        other => vec![("dtype".into(), json_yaml(other))],
    }
}

fn is_struct(f: &Value) -> bool {
    f.as_object().is_some_and(|o| !o.contains_key("_type"))
}

/// The license as the Hub's card metadata names it (lowercase ids; a URL becomes `other` with
/// a `license_link`); nothing when it is unknown.
fn hub_license(license: &str) -> Vec<(String, Yaml)> {
    let l = license.trim();
    if l.is_empty() || l.eq_ignore_ascii_case("unknown") {
        return Vec::new();
    }
    if l.contains("://") {
        return vec![
            ("license".into(), ys("other")),
            ("license_link".into(), ys(l)),
        ];
    }
    vec![("license".into(), ys(&l.to_ascii_lowercase()))]
}

/// The README's YAML front matter.
fn front_matter(cx: &ExportContext, written: &[SplitDone], download_size: u64) -> String {
    let mut top: Vec<(String, Yaml)> = hub_license(&cx.dataset.license);
    top.push(("pretty_name".into(), ys(&cx.dataset.name)));
    let data_files = written
        .iter()
        .map(|w| {
            Yaml::Map(vec![
                ("split".into(), ys(&w.split.name)),
                ("path".into(), ys(&format!("data/{}-*", w.split.name))),
            ])
        })
        .collect();
    top.push((
        "configs".into(),
        Yaml::List(vec![Yaml::Map(vec![
            ("config_name".into(), ys("default")),
            ("data_files".into(), Yaml::List(data_files)),
        ])]),
    ));
    let feats = cx
        .schema
        .fields()
        .iter()
        .map(|f| {
            let feat = cx
                .features
                .get(f.name())
                .cloned()
                .unwrap_or_else(|| features::feature(f.data_type()));
            let mut e = vec![("name".to_owned(), ys(f.name()))];
            e.extend(feature_yaml(&feat));
            Yaml::Map(e)
        })
        .collect();
    let splits = written
        .iter()
        .map(|w| {
            Yaml::Map(vec![
                ("name".into(), ys(&w.split.name)),
                ("num_bytes".into(), Yaml::Scalar(w.bytes().to_string())),
                (
                    "num_examples".into(),
                    Yaml::Scalar(w.split.rows.to_string()),
                ),
            ])
        })
        .collect();
    let dataset_size: u64 = written.iter().map(SplitDone::bytes).sum();
    top.push((
        "dataset_info".into(),
        Yaml::Map(vec![
            ("features".into(), Yaml::List(feats)),
            ("splits".into(), Yaml::List(splits)),
            (
                "download_size".into(),
                Yaml::Scalar(download_size.to_string()),
            ),
            (
                "dataset_size".into(),
                Yaml::Scalar(dataset_size.to_string()),
            ),
        ]),
    ));
    let mut out = String::from("---\n");
    emit_entries(&mut out, &top, 0, false);
    out.push_str("---\n");
    out
}

/// Text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A feature as a person reads it: its type and details.
fn describe_feature(f: &Value) -> (String, String) {
    let Some(o) = f.as_object() else {
        if let Some(inner) = f.as_array().and_then(|a| a.first()) {
            return (
                format!("list of {}", describe_feature(inner).0),
                String::new(),
            );
        }
        return ("unknown".into(), String::new());
    };
    match o.get("_type").and_then(Value::as_str) {
        None => (
            "struct".into(),
            o.keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some("Value") => (
            o.get("dtype")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            String::new(),
        ),
        Some("ClassLabel") => {
            let names: Vec<String> = o
                .get("names")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(i, n)| format!("{i} = {}", n.as_str().unwrap_or("?")))
                        .collect()
                })
                .unwrap_or_default();
            ("ClassLabel".into(), names.join(", "))
        }
        Some("List" | "LargeList" | "Sequence") => {
            let (inner, details) = o
                .get("feature")
                .map_or_else(|| ("?".into(), String::new()), describe_feature);
            let len = o
                .get("length")
                .and_then(Value::as_i64)
                .filter(|&l| l >= 0)
                .map_or(String::new(), |l| format!(" (length {l})"));
            (format!("list of {inner}{len}"), details)
        }
        Some(other) => (other.to_owned(), String::new()),
    }
}

/// `README.md`: front matter, then the card.
fn readme_text(cx: &ExportContext, written: &[SplitDone], download_size: u64) -> String {
    let d = &cx.dataset;
    let mut s = front_matter(cx, written, download_size);
    let _ = writeln!(s, "\n# {}\n", d.name);
    if d.description.trim().is_empty() {
        s.push_str("No description was given in the dataset's spec.\n");
    } else {
        let _ = writeln!(s, "{}", d.description.trim_end());
    }
    s.push_str("\n| | |\n|---|---|\n");
    if !d.version.is_empty() {
        let _ = writeln!(s, "| Version | {} |", cell(&d.version));
    }
    let _ = writeln!(s, "| Content hash | `{}` |", cell(&d.content_hash));
    let license = if d.license.trim().is_empty() {
        "unknown"
    } else {
        d.license.trim()
    };
    let _ = writeln!(s, "| License | {} |", cell(license));
    if !d.url.is_empty() {
        let _ = writeln!(s, "| Homepage | {} |", cell(&d.url));
    }
    if !d.creator.is_empty() {
        let _ = writeln!(s, "| Creator | {} |", cell(&d.creator));
    }
    s.push_str(
        "\nBuilt by mldatabuild; the content hash identifies the exported data (it is also in every Parquet file's `mldatabuild` footer key).\n",
    );
    s.push_str("\n## Splits\n\n| Split | Rows | Files |\n|---|---:|---:|\n");
    for w in written {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            cell(&w.split.name),
            w.split.rows,
            w.shards.len()
        );
    }
    s.push_str("\n## Features\n\n| Column | Type | Details |\n|---|---|---|\n");
    for f in cx.schema.fields() {
        let feat = cx
            .features
            .get(f.name())
            .cloned()
            .unwrap_or_else(|| features::feature(f.data_type()));
        let (ty, details) = describe_feature(&feat);
        let _ = writeln!(
            s,
            "| `{}` | {} | {} |",
            cell(f.name()),
            cell(&ty),
            cell(&details)
        );
    }
    s.push_str(
        "\n## How to load\n\n```python\nfrom datasets import load_dataset\n\nds = load_dataset(\"path/to/hf\")\n",
    );
    if let Some(w) = written.first() {
        let _ = writeln!(s, "print(ds[\"{}\"][0])", w.split.name);
    }
    s.push_str("```\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_take_the_yaml_form_of_datasets() {
        let f = json!({
            "label": {"_type": "ClassLabel", "names": ["neg", "pos"]},
            "ids": {"_type": "Sequence", "feature": {"_type": "Value", "dtype": "uint32"}},
            "fixed": {"_type": "List", "feature": {"_type": "Value", "dtype": "float32"}, "length": 3},
            "meta": {"score": {"_type": "Value", "dtype": "float64"}},
            "img": {"_type": "Image"},
            "audio": {"_type": "Audio", "sampling_rate": 16000},
        });
        let mut out = String::new();
        let entries: Vec<Yaml> = ["label", "ids", "fixed", "meta", "img", "audio"]
            .iter()
            .map(|k| {
                let mut e = vec![("name".to_owned(), ys(k))];
                e.extend(feature_yaml(&f[*k]));
                Yaml::Map(e)
            })
            .collect();
        emit_entries(
            &mut out,
            &[("features".into(), Yaml::List(entries))],
            0,
            false,
        );
        let expected = "features:
- name: label
  dtype:
    class_label:
      names:
        \"0\": neg
        \"1\": pos
- name: ids
  list: uint32
- name: fixed
  list: float32
  length: 3
- name: meta
  struct:
  - name: score
    dtype: float64
- name: img
  dtype: image
- name: audio
  dtype:
    audio:
      sampling_rate: 16000
";
        assert_eq!(out, expected);
    }

    #[test]
    fn yaml_scalars_are_quoted_when_needed() {
        assert_eq!(yaml_str("neg"), "neg");
        assert_eq!(yaml_str("data/train-*"), "\"data/train-*\"");
        assert_eq!(yaml_str("yes"), "\"yes\"");
        assert_eq!(yaml_str("0"), "\"0\"");
        assert_eq!(yaml_str("a: b"), "\"a: b\"");
        assert_eq!(yaml_str("timestamp[us]"), "\"timestamp[us]\"");
        assert_eq!(yaml_str(""), "\"\"");
        assert_eq!(snake_case("ClassLabel"), "class_label");
        assert_eq!(snake_case("Array2D"), "array2_d");
        assert_eq!(snake_case("Image"), "image");
    }

    fn ipc_opener(schema: SchemaRef) -> impl FnMut(&Path) -> Result<IpcShard, StageError> {
        move |path: &Path| {
            let file = File::create(path).map_err(|e| file_err(path, e))?;
            Ok(IpcShard(
                StreamWriter::try_new(BufWriter::new(file), &schema).unwrap(),
            ))
        }
    }

    #[test]
    fn shards_cut_at_the_limit_and_an_empty_split_gets_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow::array::Int64Array::from_iter_values(0..1000)) as ArrayRef],
        )
        .unwrap();
        // 8,000 bytes of values with a 3,000-byte limit: 375 rows per shard, three shards.
        let mut open = ipc_opener(schema.clone());
        let mut shards = Shards::new(3000, dir.path().to_owned(), "data", "arrow");
        shards.write(&batch, &mut open).unwrap();
        let done = shards.finish(&mut open).unwrap();
        let rows: Vec<u64> = done.iter().map(|s| s.rows).collect();
        assert_eq!(rows, [375, 375, 250]);
        assert_eq!(done[0].bytes, 3000);
        let names: Vec<String> = done
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "data-00000-of-00003.arrow",
                "data-00001-of-00003.arrow",
                "data-00002-of-00003.arrow"
            ]
        );
        for s in &done {
            read_back_ipc(&s.path, &schema, s.rows).unwrap();
        }
        // No temporary file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);

        let empty = tempfile::tempdir().unwrap();
        let shards: Shards<IpcShard> = Shards::new(3000, empty.path().to_owned(), "data", "arrow");
        let done = shards.finish(&mut open).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].rows, 0);
        assert!(done[0].path.ends_with("data-00000-of-00001.arrow"));
        read_back_ipc(&done[0].path, &schema, 0).unwrap();
        let e = read_back_ipc(&done[0].path, &schema, 5).unwrap_err();
        assert!(e.message.contains("reads back 0 rows, but 5 were written"));
    }

    #[test]
    fn versions_and_fingerprints() {
        assert_eq!(semver("1.2.0"), Some((1, 2, 0)));
        assert_eq!(semver("1.2"), None);
        assert_eq!(semver("1.2.0-rc1"), None);
        assert_eq!(semver("1.2.0+b1"), None);
        assert_eq!(semver("1.2.0+"), None);
        assert_eq!(semver("1.2.0.4"), None);
        assert_eq!(semver("1..0"), None);
        assert_eq!(semver("01.2.03"), Some((1, 2, 3)));
        assert_eq!(semver("1.2.99999999999999999999"), None);
        let a = fingerprint("abc", "train");
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint("abc", "train"));
        assert_ne!(a, fingerprint("abc", "test"));
    }

    #[test]
    fn licenses_for_the_hub() {
        assert!(hub_license("").is_empty());
        assert!(hub_license("Unknown").is_empty());
        assert_eq!(hub_license("MIT"), vec![("license".into(), ys("mit"))]);
        assert_eq!(
            hub_license("https://example.org/terms")[0],
            ("license".into(), ys("other"))
        );
    }
}
