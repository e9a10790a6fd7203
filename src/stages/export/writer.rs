//! The contract between the export driver and one output format.
//!
//! The driver reads the input tables once and hands every batch to each format's
//! [`FormatWriter`] (each on its own thread), split by split. A writer owns one folder under
//! the stage's output (`<out_dir>/<format>/`), writes deterministic bytes (no timestamps, no
//! random names, nothing that depends on the thread count), and in [`FormatWriter::finish`]
//! reads back what it wrote (row counts, schema) before returning the files: an artifact that
//! cannot be read back is an error, not a result.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::stages::StageError;

/// Facts about the dataset that formats write into their metadata (Parquet footers, dataset
/// cards, `dataset_info.json`, Croissant).
#[derive(Debug, Clone, Default)]
pub struct DatasetMeta {
    /// The dataset's `name:`.
    pub name: String,
    /// The dataset's semantic `version:`.
    pub version: String,
    /// The spec's `description:` (may be empty).
    pub description: String,
    /// An SPDX license id or URL (may be empty: "unknown").
    pub license: String,
    /// A homepage or repository URL (may be empty).
    pub url: String,
    /// Who made the dataset (may be empty).
    pub creator: String,
    /// BLAKE3 of the exported data (the input's file hashes, in order): identifies the data
    /// state in every artifact's metadata.
    pub content_hash: String,
}

/// One split of the exported table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitInfo {
    /// `train`, `validation`, `test`, or the input file's stem.
    pub name: String,
    /// Rows in the split (known before writing, from the Parquet footers).
    pub rows: u64,
}

/// What every format writer is told before the data flows.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// The stage's output folder; a format writes under `out_dir.join(<its folder>)`.
    pub out_dir: PathBuf,
    pub dataset: DatasetMeta,
    /// The Arrow schema of every batch (field mapping is each format's own business).
    pub schema: SchemaRef,
    /// The Hugging Face features of the schema (`Features.to_dict()` form: ClassLabel names,
    /// `List` of ints for token ids, `Image`…), as recorded by normalize/tokenize.
    pub features: serde_json::Value,
    /// The splits, in export order (train, validation, test, then the rest by name).
    pub splits: Vec<SplitInfo>,
}

impl ExportContext {
    /// The folder a format writes into, created.
    pub fn format_dir(&self, folder: &str) -> Result<PathBuf, StageError> {
        let dir = self.out_dir.join(folder);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StageError::new(format!("cannot create `{}`: {e}", dir.display())))?;
        Ok(dir)
    }
}

/// A file a format wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Relative to the stage's output folder, with `/` separators (`jsonl/train.jsonl`).
    pub path: String,
    /// Rows it holds, when it holds rows of a split (not for READMEs, schemas, indexes).
    pub rows: Option<u64>,
    /// The split it belongs to, when it holds one.
    pub split: Option<String>,
}

/// A finished artifact with what metadata formats (Croissant) record about it.
#[derive(Debug, Clone)]
pub struct DescribedFile {
    pub artifact: Artifact,
    /// The format that wrote it.
    pub format: super::options::FormatName,
    pub size: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// What a finished format reports.
#[derive(Debug, Default)]
pub struct FormatResult {
    pub artifacts: Vec<Artifact>,
    /// Things the user should know (a skipped binary column, lines over 1 MB…).
    pub warnings: Vec<String>,
    /// How to load what was written (Python), printed after the export.
    pub snippet: Option<String>,
    /// Extra facts for the lock's summary of this format (compression ratio, shard count…).
    pub facts: BTreeMap<String, serde_json::Value>,
}

/// One output format being written. Calls come in this order: for each split of
/// [`ExportContext::splits`], `begin_split`, `write` for each of its batches (possibly none),
/// `end_split`; then `finish` once.
pub trait FormatWriter: Send {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError>;
    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError>;
    fn end_split(&mut self) -> Result<(), StageError>;
    /// Close every file, read them back (row counts, schema), and report what was written.
    fn finish(self: Box<Self>) -> Result<FormatResult, StageError>;
}

/// The path of `file` relative to the stage's output folder, with `/` separators.
pub fn rel(cx: &ExportContext, file: &Path) -> String {
    file.strip_prefix(&cx.out_dir)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// An error about one file, naming it.
pub fn file_err(path: &Path, e: impl std::fmt::Display) -> StageError {
    StageError::new(format!("`{}`: {e}", path.display()))
}

/// The read-back check every format runs: the rows found equal the rows written.
pub fn check_rows(path: &Path, expected: u64, found: u64) -> Result<(), StageError> {
    if expected == found {
        Ok(())
    } else {
        Err(StageError::new(format!(
            "`{}` reads back {found} rows, but {expected} were written",
            path.display()
        ))
        .hint("the file is damaged or the disk is full; run the export again"))
    }
}

/// An output file being written through a 1 MiB buffer, maybe gzipped as a whole.
pub enum Sink {
    Plain(BufWriter<File>),
    /// Boxed: the encoder's state is eight times the size of a plain writer.
    Gzip(Box<flate2::write::GzEncoder<BufWriter<File>>>),
}

impl Sink {
    pub fn create(
        path: &Path,
        compression: super::options::TextCompression,
    ) -> Result<Sink, StageError> {
        let f = BufWriter::with_capacity(
            crate::store::WRITE_SIZE,
            File::create(path).map_err(|e| file_err(path, e))?,
        );
        Ok(match compression {
            super::options::TextCompression::None => Sink::Plain(f),
            // Level 6, no file name and mtime 0 in the header: reproducible bytes.
            super::options::TextCompression::Gzip => Sink::Gzip(Box::new(
                flate2::GzBuilder::new().write(f, flate2::Compression::new(6)),
            )),
        })
    }

    pub fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(b),
            Sink::Gzip(w) => w.write_all(b),
        }
    }

    pub fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
        }
    }
}
