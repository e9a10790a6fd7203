//! The parameters of `export`: which formats, and each format's options.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An output format of `export`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FormatName {
    /// Parquet, one file per split (`parquet/<split>.parquet`).
    Parquet,
    /// JSON Lines, one file per split (`jsonl/<split>.jsonl`, or `.jsonl.gz`).
    Jsonl,
    /// A JSON array per split (`json/<split>.json`), optionally pretty-printed.
    Json,
    /// CSV per split (`csv/<split>.csv`); nested values as JSON strings.
    Csv,
    /// Each row rendered through a minijinja template (`template/<split>.jsonl` or `.txt`).
    Template,
    /// The Hugging Face Hub repository layout (`hf/README.md`, `hf/data/<split>-…parquet`).
    Hf,
    /// The `datasets` `save_to_disk` layout (`hf-disk/dataset_dict.json`, Arrow IPC streams).
    HfDisk,
    /// TFRecord files of `tf.train.Example` (`tfrecord/<split>-…tfrecord` + `schema.json`).
    Tfrecord,
    /// WebDataset tar shards (`webdataset/<split>-000000.tar`).
    Webdataset,
    /// A PyTorch-ready folder: Parquet data, a `loader.py` and a README.
    Pytorch,
    /// Croissant metadata (`croissant.json`) describing the other artifacts.
    Croissant,
}

impl FormatName {
    pub const ALL: &[FormatName] = &[
        FormatName::Parquet,
        FormatName::Jsonl,
        FormatName::Json,
        FormatName::Csv,
        FormatName::Template,
        FormatName::Hf,
        FormatName::HfDisk,
        FormatName::Tfrecord,
        FormatName::Webdataset,
        FormatName::Pytorch,
        FormatName::Croissant,
    ];

    /// The name as written in the spec, which is also the format's folder.
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Parquet => "parquet",
            FormatName::Jsonl => "jsonl",
            FormatName::Json => "json",
            FormatName::Csv => "csv",
            FormatName::Template => "template",
            FormatName::Hf => "hf",
            FormatName::HfDisk => "hf-disk",
            FormatName::Tfrecord => "tfrecord",
            FormatName::Webdataset => "webdataset",
            FormatName::Pytorch => "pytorch",
            FormatName::Croissant => "croissant",
        }
    }

    pub fn parse(s: &str) -> Option<FormatName> {
        FormatName::ALL.iter().copied().find(|f| f.as_str() == s)
    }

    pub fn names() -> String {
        FormatName::ALL
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    None,
    Snappy,
    Gzip,
    /// LZ4_RAW (the codec current readers mean by lz4; pyarrow's `compression="lz4"`).
    Lz4,
    Brotli,
    #[default]
    Zstd,
}

impl ParquetCompression {
    /// The codec as the spec writes it (`zstd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Snappy => "snappy",
            Self::Gzip => "gzip",
            Self::Lz4 => "lz4",
            Self::Brotli => "brotli",
            Self::Zstd => "zstd",
        }
    }
}

/// `parquet:` options (also used by `hf` and `pytorch` for their Parquet files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParquetOptions {
    /// `none`, `snappy`, `gzip`, `lz4`, `brotli` or `zstd` (default).
    #[serde(default)]
    pub compression: ParquetCompression,
    /// The codec's level (gzip 0–10, brotli 0–11, zstd 1–22); default: the codec's usual
    /// default.
    #[serde(default)]
    pub level: Option<u32>,
    /// Rows per row group (1 to 10,000,000; default 100,000).
    #[serde(default = "default_row_group_size")]
    pub row_group_size: u64,
}

pub fn default_row_group_size() -> u64 {
    100_000
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            compression: ParquetCompression::default(),
            level: None,
            row_group_size: default_row_group_size(),
        }
    }
}

/// How binary values appear in text formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BinaryMode {
    /// Base64 strings (default).
    #[default]
    Base64,
    /// Leave binary columns out, with a warning.
    Skip,
}

/// Whole-file compression of text formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TextCompression {
    #[default]
    None,
    Gzip,
}

/// `jsonl:` options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlOptions {
    /// `none` (default) or `gzip` (`.jsonl.gz`).
    #[serde(default)]
    pub compression: TextCompression,
    /// Binary values: `base64` (default) or `skip`.
    #[serde(default)]
    pub binary: BinaryMode,
    /// The columns to write, in this order [default: all, in table order].
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Output names for columns: `{column: new_name}`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

/// `json:` options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    /// Indent the array (default false: one row per line).
    #[serde(default)]
    pub pretty: bool,
    #[serde(default)]
    pub binary: BinaryMode,
    /// The columns to write, in this order [default: all, in table order].
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Output names for columns: `{column: new_name}`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

/// CSV quoting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsvQuote {
    /// Quote fields only when needed (default).
    #[default]
    Necessary,
    /// Quote every field.
    Always,
    /// Quote every field that is not a number.
    NonNumeric,
    /// Never quote (fails on a field holding the delimiter, a quote or a line break).
    Never,
}

/// `csv:` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// One ASCII character (default `,`; `\t` for TSV).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    #[serde(default)]
    pub quote: CsvQuote,
    /// Write a header line (default true).
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default)]
    pub binary: BinaryMode,
    /// The columns to write, in this order [default: all, in table order].
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Output names for columns: `{column: new_name}`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

fn default_delimiter() -> String {
    ",".into()
}

fn yes() -> bool {
    true
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: default_delimiter(),
            quote: CsvQuote::default(),
            header: true,
            binary: BinaryMode::default(),
            columns: None,
            rename: BTreeMap::new(),
        }
    }
}

/// What a template renders into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateTarget {
    /// One JSON document per row, each checked (default).
    #[default]
    Jsonl,
    /// Plain text, one rendering per row followed by a newline.
    Text,
}

/// `template:` options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateOptions {
    /// The template itself (minijinja; each row's columns are variables).
    #[serde(default)]
    pub source: Option<String>,
    /// Or a template file, relative to dataset.yaml (hashed as an input).
    #[serde(default)]
    pub path: Option<String>,
    /// `jsonl` (default: every rendering must be one valid JSON document) or `text`.
    #[serde(default)]
    pub target: TemplateTarget,
}

/// `hf:` and `hf-disk:` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HfOptions {
    /// Largest shard before a new file starts, in MB of uncompressed data (1 to 100,000;
    /// default 500, as `datasets` does).
    #[serde(default = "default_shard_mb")]
    pub max_shard_size_mb: u64,
}

fn default_shard_mb() -> u64 {
    500
}

impl Default for HfOptions {
    fn default() -> Self {
        HfOptions {
            max_shard_size_mb: default_shard_mb(),
        }
    }
}

/// `tfrecord:` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TfrecordOptions {
    /// `none` (default) or `gzip` (the whole stream, as TensorFlow's `GZIP` option).
    #[serde(default)]
    pub compression: TextCompression,
    /// Rows per file (1 to 100,000,000; default 100,000).
    #[serde(default = "default_shard_rows")]
    pub shard_rows: u64,
}

fn default_shard_rows() -> u64 {
    100_000
}

impl Default for TfrecordOptions {
    fn default() -> Self {
        TfrecordOptions {
            compression: TextCompression::None,
            shard_rows: default_shard_rows(),
        }
    }
}

/// `webdataset:` options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebdatasetOptions {
    /// Samples per shard (1 to 100,000,000; default 10,000).
    #[serde(default = "default_wds_shard")]
    pub shard_rows: u64,
    /// The column whose values name the samples [default: the row number, zero-padded].
    #[serde(default)]
    pub key: Option<String>,
}

fn default_wds_shard() -> u64 {
    10_000
}

impl Default for WebdatasetOptions {
    fn default() -> Self {
        WebdatasetOptions {
            shard_rows: default_wds_shard(),
            key: None,
        }
    }
}
