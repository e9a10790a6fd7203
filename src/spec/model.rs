//! The typed model of `dataset.yaml`.
//!
//! Stage entries are typed per kind without `flatten` or untagged enums: the loader first reads
//! every stage's `kind` (pass 1), then deserializes each stage into the struct of its kind
//! (pass 2), so unknown keys and wrong types are reported against the exact line.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::stages::export::ExportParams;
use crate::stages::normalize::NormalizeParams;
use crate::stages::split::SplitParams;
use crate::stages::tokenize::TokenizeParams;
use crate::stages::validate::ValidateParams;

/// The whole `dataset.yaml`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "mldatabuild dataset spec",
    description = "The `dataset.yaml` of mldatabuild."
)]
pub struct Spec {
    /// Editor schema reference; ignored by mldatabuild.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// The dataset's name: letters, digits, `-`, `_` and `.`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The dataset's own semantic version, e.g. `1.2.0`.
    #[schemars(with = "String")]
    pub version: Spanned<String>,
    /// A sentence or two about the dataset.
    #[serde(default)]
    pub description: Option<String>,
    /// The dataset folder, relative to the spec's directory. Default: `out/<name>`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub output: Option<Spanned<String>>,
    /// Named data sources.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, SourceSpec>")]
    pub sources: BTreeMap<String, Spanned<SourceSpec>>,
    /// Named stages; each has a `kind` and the keys of that kind.
    #[serde(default, deserialize_with = "crate::spec::load::deserialize_stages")]
    #[schemars(with = "BTreeMap<String, StageSchema>")]
    pub stages: Vec<StageEntry>,
}

/// A data source.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Where the data comes from: a local file, directory or glob (relative to the spec), or
    /// `hf://owner/name[@revision]`, `kaggle://owner/slug[@version]`, `openml://ID` or `https://…`.
    #[schemars(with = "String")]
    pub uri: Spanned<String>,
    /// Optional globs selecting files inside a directory source or a Hub repository (default:
    /// every file; for `hf://`, every data file).
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// For an `hf://` source: the dataset config (subset) to fetch, as its README's `configs`
    /// name it (or a folder of the `refs/convert/parquet` branch).
    #[serde(default)]
    pub config: Option<String>,
    /// For an `hf://` source: only this split's files.
    #[serde(default)]
    pub split: Option<String>,
    /// For an `https://` source: the SHA-256 its content must have (a fixed-output fetch).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub sha256: Option<Spanned<String>>,
}

/// Keys shared by every stage kind.
#[derive(Debug)]
pub struct StageCommon {
    pub kind: Spanned<String>,
    pub input: Spanned<String>,
    pub description: Option<String>,
    pub output: Option<Spanned<String>>,
    pub matrix: Option<Spanned<BTreeMap<String, Spanned<Vec<serde_json::Value>>>>>,
}

/// One entry of `stages:`, typed by its kind.
#[derive(Debug)]
pub struct StageEntry {
    pub name: Spanned<String>,
    pub common: StageCommon,
    /// The kind's parameters, as canonical JSON (struct field order, defaults filled in).
    pub params: serde_json::Value,
}

/// Declares a stage kind's spec struct (common keys + parameters) and its parameters struct
/// from one field list, so the two can never drift apart.
macro_rules! stage_spec {
    ($spec:ident, $params:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        #[derive(Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $spec {
            /// The stage kind.
            #[schemars(with = "String")]
            pub kind: Spanned<String>,
            /// The source or stage this stage reads.
            #[schemars(with = "String")]
            pub input: Spanned<String>,
            /// Free text; not hashed.
            #[serde(default)]
            pub description: Option<String>,
            /// Where the outputs go inside the dataset folder (default depends on the kind).
            #[serde(default)]
            #[schemars(with = "Option<String>")]
            pub output: Option<Spanned<String>>,
            /// Expand the stage into one node per combination of these parameter values.
            #[serde(default)]
            #[schemars(with = "Option<BTreeMap<String, Vec<serde_json::Value>>>")]
            pub matrix: Option<Spanned<BTreeMap<String, Spanned<Vec<serde_json::Value>>>>>,
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl $spec {
            pub(crate) fn into_parts(self) -> (StageCommon, $params) {
                (
                    StageCommon {
                        kind: self.kind,
                        input: self.input,
                        description: self.description,
                        output: self.output,
                        matrix: self.matrix,
                    },
                    $params { $( $field: self.$field, )* },
                )
            }
        }
    };
}

stage_spec!(NormalizeSpec, NormalizeParams {
    /// Columns to keep (in input order), each optionally renamed (`from`) and cast (`type`).
    #[serde(default)]
    columns: Option<BTreeMap<String, crate::stages::normalize::ColumnSpec>>,
    /// Columns to remove (instead of listing the ones to keep).
    #[serde(default)]
    drop: Vec<String>,
    /// Drop rows where any of these (output) columns is null.
    #[serde(default)]
    drop_nulls: Vec<String>,
    /// Keep only rows matching every filter: `column op value`, e.g. `stars >= 3`.
    #[serde(default)]
    filter: Vec<crate::stages::filter::Filter>,
    /// Sort the output by these columns (ties keep input order); default: input order.
    #[serde(default)]
    sort_by: Vec<String>,
    /// `strict` fails on a value that does not convert; `lenient` makes it null and counts it.
    #[serde(default)]
    cast: crate::stages::normalize::CastMode,
    /// Input format; `auto` detects each file from its content and name.
    #[serde(default)]
    format: crate::stages::normalize::InputFormat,
    /// For JSON documents holding records under a key: that key.
    #[serde(default)]
    json_field: Option<String>,
    /// `fail` on a file that cannot be read, or `skip` it and report it.
    #[serde(default)]
    on_error: crate::stages::normalize::OnError,
    /// Columns that are class labels: their class names, or `auto` (sorted distinct values).
    #[serde(default)]
    class_labels: BTreeMap<String, crate::stages::features::ClassNames>,
    /// With `format: imagefolder`/`audiofolder`: store the files' bytes, not only their paths.
    #[serde(default)]
    embed_media: bool,
    /// CSV: the strings read as missing (null) in any column; default: pandas' list (`NA`,
    /// `N/A`, `null`, `NaN`, `None`, … and the empty field, which is always missing).
    #[serde(default)]
    na_values: Option<Vec<String>>,
    /// CSV: the decimal mark, `"."` or `","`; default: detected (a comma only in files not
    /// separated by commas).
    #[serde(default)]
    decimal: Option<crate::stages::csvread::Decimal>,
    /// CSV: the text encoding (`utf-8`, `latin-1`, `cp1252`, `utf-16`, `shift_jis`, …); default:
    /// UTF-8 (a UTF-16 byte order mark is followed; a file that is not UTF-8 from its first
    /// non-ASCII byte is read as Windows-1252, with a warning).
    #[serde(default)]
    encoding: Option<String>,
    /// CSV: pandas' unnamed index column (first column, no name, integers): `drop` or `keep`.
    #[serde(default)]
    pandas_index: crate::stages::csvread::PandasIndex,
    /// Text files (`.txt`): one row per `line` (default), `paragraph` (blocks separated by a
    /// blank line) or `file`, as the Hugging Face `text` loader's `sample_by`.
    #[serde(default)]
    text_mode: crate::stages::textlines::TextMode,
    /// Spreadsheets: the sheet to read, by name or 0-based position (default: the first).
    #[serde(default)]
    sheet: Option<crate::stages::sheet::SheetRef>,
});

stage_spec!(
    SplitSpec,
    SplitParams {
        /// Split names and their shares of the rows (normalized when they do not sum to 1).
        /// Default: train 0.8, validation 0.1, test 0.1.
        #[serde(default = "crate::stages::split::default_ratios")]
        ratios: crate::stages::split::Ratios,
        /// Seed of the deterministic assignment. When absent, one is drawn on the first build,
        /// printed, and kept in dataset.lock (or given with `build --seed`).
        #[serde(default)]
        seed: Option<u64>,
        /// Balance the splits on this label column: each split gets each label's share.
        #[serde(default)]
        stratify: Option<String>,
        /// Assign each row by a hash of this column and the seed, so adding rows never moves
        /// existing rows between splits (sizes follow the ratios on average).
        #[serde(default)]
        key: Option<String>,
        /// Keep the rows of each value of this column (a user, a document) in one split.
        #[serde(default)]
        group: Option<String>,
        /// Index files next to the split tables: `csv` (default), `json`, `txt` or `none`.
        #[serde(default)]
        index: crate::stages::split::IndexFormat,
        /// The column the index files list [default: `key`, else row numbers of the input].
        #[serde(default)]
        index_column: Option<String>,
        /// With `stratify`: the largest difference between a label's share in a split and
        /// overall before a warning (default 0.02, two points).
        #[serde(default = "crate::stages::split::default_tolerance")]
        stratify_tolerance: f64,
        /// The cross-split leakage check: which columns define identical rows, and an optional
        /// text column compared for near-duplicates.
        #[serde(default)]
        leakage: crate::stages::split::Leakage,
        /// Fail the build when rows leak between splits (default: a warning).
        #[serde(default)]
        fail_on_leakage: bool,
    }
);

stage_spec!(
    ValidateSpec,
    ValidateParams {
        /// Exact duplicate rows (on by default): `columns` (default all), `severity`, `action`.
        #[serde(default)]
        duplicates: crate::stages::validate::DuplicatesCheck,
        /// Near-duplicates of a text column (MinHash, word 5-grams, 14 bands × 8 rows) or an
        /// image column (perceptual hash): `column`, `threshold` / `max_distance`.
        #[serde(default)]
        near_duplicates: Option<crate::stages::validate::NearDuplicatesCheck>,
        /// Label distribution of `column`: counts, imbalance (`max_imbalance`, default 10).
        #[serde(default)]
        labels: Option<crate::stages::validate::LabelsCheck>,
        /// Missing values (on by default): nulls, NaN, empty strings; `threshold` default 0.05.
        #[serde(default)]
        missing: crate::stages::validate::MissingCheck,
        /// Schema (on by default): consistent across files; `types`, `not_null` expected.
        #[serde(default = "crate::stages::validate::default_schema")]
        schema: crate::stages::validate::SchemaCheck,
        /// Media files in `column` decode and have reasonable sizes (sampled; `full: true`).
        #[serde(default)]
        files: Option<crate::stages::validate::FilesCheck>,
    }
);

stage_spec!(
    TokenizeSpec,
    TokenizeParams {
        /// The tokenizer: a `tokenizer.json` path (relative to dataset.yaml), a Hub model
        /// `hf://owner/model[@revision]` (its tokenizer.json, pinned in the lock), or the name
        /// of a source holding one. Exclusive with `train`.
        #[serde(default)]
        tokenizer: Option<String>,
        /// Train a tokenizer on the input instead: `type` (bpe|wordpiece|unigram),
        /// `vocab_size`, `min_frequency` (2), `special_tokens`, `split` (default `train…`).
        #[serde(default)]
        train: Option<crate::stages::tokenize::TrainSpec>,
        /// The text column [default: `text`, else the only string column].
        #[serde(default)]
        column: Option<String>,
        /// Several text columns, joined with `separator` (exclusive with `column`).
        #[serde(default)]
        columns: Option<Vec<String>>,
        /// Joins `columns` (default a newline).
        #[serde(default = "crate::stages::tokenize::default_separator")]
        separator: String,
        /// The longest sequence in tokens, special tokens included (1 to 1048576).
        #[serde(default)]
        max_length: Option<u32>,
        /// With `overflow: windows`: tokens shared by consecutive windows (below `max_length`).
        #[serde(default)]
        stride: u32,
        /// Texts over `max_length`: `truncate` (default) or `windows` (one row per window).
        #[serde(default)]
        overflow: crate::stages::tokenize::Overflow,
        /// `none` (default) or `max_length` (pad with the pad token; writes `attention_mask`).
        #[serde(default)]
        padding: crate::stages::tokenize::Padding,
        /// Add the tokenizer's special tokens (`[CLS] … [SEP]`) to each sequence (default true).
        #[serde(default = "crate::stages::tokenize::yes")]
        special_tokens: bool,
        /// Encode special-token strings found in the text (`<|endoftext|>`, `[SEP]`) as plain
        /// text rather than as the special tokens (default false, as the Python package does;
        /// true keeps data from injecting control tokens).
        #[serde(default)]
        split_special_tokens: bool,
        /// Concatenate the texts of each table with an end-of-text token between them and cut
        /// the stream into blocks of `max_length` (language-model pre-training).
        #[serde(default)]
        pack: bool,
        /// With `pack`: the last, partial block is `drop`ped (default), `pad`ded or `keep`t.
        #[serde(default)]
        pack_remainder: crate::stages::tokenize::Remainder,
        /// With `pack`: the separator token [default: the tokenizer's end-of-text token].
        #[serde(default)]
        eos_token: Option<String>,
        /// The padding token [default: the one the tokenizer names].
        #[serde(default)]
        pad_token: Option<String>,
        /// Drop sequences with fewer tokens than this (padding excluded).
        #[serde(default)]
        min_length: u32,
        /// Remove special-token ids from the sequences (including ones the text spelled out).
        #[serde(default)]
        drop_special_tokens: bool,
        /// Remove stop words from the texts before encoding: `english` (built in) or a file with
        /// one word per line.
        #[serde(default)]
        stop_words: Option<String>,
        /// A null text: `skip` the row and count it (default), or `fail`.
        #[serde(default)]
        nulls: crate::stages::tokenize::Nulls,
        /// Also write `attention_mask` (List<UInt8>; always written with padding).
        #[serde(default)]
        attention_mask: bool,
        /// Also write `offsets`: each token's (start, end) in the text, in characters.
        #[serde(default)]
        offsets: bool,
        /// Input columns to carry over [default: every column but the text ones].
        #[serde(default)]
        keep_columns: Option<Vec<String>>,
        /// Also write `<split>.bin` (flat ids, little-endian) and `<split>.idx` (u64 offsets):
        /// `none` (default), `auto`, `uint16`, `uint32`.
        #[serde(default)]
        bin: crate::stages::tokenize::BinFormat,
    }
);

stage_spec!(
    ExportSpec,
    ExportParams {
        /// The formats to write in one pass over the data: parquet, jsonl, json, csv,
        /// template, hf (Hub repository layout), hf-disk (`save_to_disk` layout), tfrecord,
        /// webdataset, pytorch, croissant.
        formats: Vec<crate::stages::export::options::FormatName>,
        /// Parquet options: `compression` (none|snappy|gzip|zstd), `level`, `row_group_size`.
        #[serde(default)]
        parquet: crate::stages::export::options::ParquetOptions,
        /// JSON Lines options: `compression` (none|gzip), `binary` (base64|skip), `columns`,
        /// `rename`.
        #[serde(default)]
        jsonl: crate::stages::export::options::JsonlOptions,
        /// JSON options: `pretty`, `binary`, `columns`, `rename`.
        #[serde(default)]
        json: crate::stages::export::options::JsonOptions,
        /// CSV options: `delimiter`, `quote` (necessary|always|non_numeric|never), `header`,
        /// `binary`, `columns`, `rename`.
        #[serde(default)]
        csv: crate::stages::export::options::CsvOptions,
        /// With format `template`: `source` (minijinja text) or `path` (a file), and `target`
        /// (jsonl|text).
        #[serde(default)]
        template: Option<crate::stages::export::options::TemplateOptions>,
        /// Hub layouts (`hf`, `hf-disk`): `max_shard_size_mb` (default 500).
        #[serde(default)]
        hf: crate::stages::export::options::HfOptions,
        /// TFRecord: `compression` (none|gzip), `shard_rows`.
        #[serde(default)]
        tfrecord: crate::stages::export::options::TfrecordOptions,
        /// WebDataset: `shard_rows`, `key` (the column naming samples).
        #[serde(default)]
        webdataset: crate::stages::export::options::WebdatasetOptions,
        /// The dataset name written into metadata [default: the spec's `name`].
        #[serde(default)]
        name: String,
        /// The version written into metadata [default: the spec's `version`].
        #[serde(default)]
        version: String,
        /// The description written into dataset cards [default: the spec's `description`].
        #[serde(default)]
        dataset_description: String,
        /// The license (an SPDX id such as `mit` or `cc-by-4.0`, or a URL).
        #[serde(default)]
        license: String,
        /// The dataset's homepage or repository URL.
        #[serde(default)]
        url: String,
        /// Who made the dataset (a person or an organization).
        #[serde(default)]
        creator: String,
    }
);

/// The JSON Schema of one stage entry: one of the kinds (generated by `schema.rs`).
#[derive(JsonSchema)]
#[schemars(untagged)]
#[expect(dead_code, reason = "only used to generate the JSON schema")]
#[allow(
    clippy::large_enum_variant,
    reason = "never built: only its JSON schema is used"
)]
pub(crate) enum StageSchema {
    Normalize(NormalizeSpec),
    Validate(ValidateSpec),
    Split(SplitSpec),
    Tokenize(TokenizeSpec),
    Export(ExportSpec),
}
