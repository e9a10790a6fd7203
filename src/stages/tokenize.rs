//! `tokenize`: encode a text column of every table of the input (one per split) with a
//! `tokenizer.json` (a file, a Hub model's, or one trained here), and write per split a Parquet
//! table with `input_ids` (List<UInt32>) and optionally a flat `.bin` of ids with an index, plus
//! statistics (token totals, vocabulary and length distributions) in `reports/<stage>.json|md`.
//!
//! One streaming pass per table: batches of rows are encoded in parallel by the tokenizer
//! library, then cut into windows or blocks, filtered, padded and written in row order, so the
//! bytes do not depend on the thread count. Memory is a batch (a few MB of text) plus the
//! statistics (8 bytes per vocabulary entry, 8 per distinct length).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, ListArray, RecordBatch, UInt8Array, UInt32Array,
    UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::registry::{Accepts, Data, Kind, stage_params};
use super::rows::column_index;
use super::table::{self, ParquetSink};
use super::{AuxInput, InputFile, Progress, StageContext, StageError, StageOutput};
use crate::tokenizer::{Tokenizer, TrainKind, TrainOptions};

/// Bounds of the numeric parameters.
pub const MAX_LENGTH_LIMIT: u32 = 1 << 20;
pub const MIN_VOCAB: u32 = 32;
pub const MAX_VOCAB: u32 = 4_000_000;

/// A batch handed to the encoder: at most this many rows, or this many bytes of text.
const BATCH_MAX_ROWS: usize = 8192;
const BATCH_MAX_BYTES: usize = 8 << 20;

/// The file the stage copies its tokenizer to, next to the tables (for `sample` and readers).
pub const TOKENIZER_FILE: &str = "tokenizer.json";

stage_params! {
    /// Parameters of `tokenize`.
    #[derive(PartialEq)]
    pub struct TokenizeParams in TokenizeSpec {
        /// The tokenizer: a `tokenizer.json` path (relative to dataset.yaml), a Hub model
        /// `hf://owner/model[@revision]` (its tokenizer.json, pinned in the lock), or the name
        /// of a source holding one. Exclusive with `train`.
        #[serde(default)]
        pub tokenizer: Option<String>,
        /// Train a tokenizer on the input instead: `type` (bpe|wordpiece|unigram),
        /// `vocab_size`, `min_frequency` (2), `special_tokens`, `split` (default `train…`).
        #[serde(default)]
        pub train: Option<TrainSpec>,
        /// The text column [default: `text`, else the only string column].
        #[serde(default)]
        pub column: Option<String>,
        /// Several text columns, joined with `separator` (exclusive with `column`).
        #[serde(default)]
        pub columns: Option<Vec<String>>,
        /// Joins `columns` (default a newline).
        #[serde(default = "default_separator")]
        pub separator: String,
        /// The longest sequence in tokens, special tokens included (1 to 1048576).
        #[serde(default)]
        pub max_length: Option<u32>,
        /// With `overflow: windows`: tokens shared by consecutive windows (below `max_length`).
        #[serde(default)]
        pub stride: u32,
        /// Texts over `max_length`: `truncate` (default) or `windows` (one row per window).
        #[serde(default)]
        pub overflow: Overflow,
        /// `none` (default) or `max_length` (pad with the pad token; writes `attention_mask`).
        #[serde(default)]
        pub padding: Padding,
        /// Add the tokenizer's special tokens (`[CLS] … [SEP]`) to each sequence (default true).
        #[serde(default = "yes")]
        pub special_tokens: bool,
        /// Encode special-token strings found in the text (`<|endoftext|>`, `[SEP]`) as plain
        /// text rather than as the special tokens (default false, as the Python package does;
        /// true keeps data from injecting control tokens).
        #[serde(default)]
        pub split_special_tokens: bool,
        /// Concatenate the texts of each table with an end-of-text token between them and cut
        /// the stream into blocks of `max_length` (language-model pre-training).
        #[serde(default)]
        pub pack: bool,
        /// With `pack`: the last, partial block is `drop`ped (default), `pad`ded or `keep`t.
        #[serde(default)]
        pub pack_remainder: Remainder,
        /// With `pack`: the separator token [default: the tokenizer's end-of-text token].
        #[serde(default)]
        pub eos_token: Option<String>,
        /// The padding token [default: the one the tokenizer names].
        #[serde(default)]
        pub pad_token: Option<String>,
        /// Drop sequences with fewer tokens than this (padding excluded).
        #[serde(default)]
        pub min_length: u32,
        /// Remove special-token ids from the sequences (including ones the text spelled out).
        #[serde(default)]
        pub drop_special_tokens: bool,
        /// Remove stop words from the texts before encoding: `english` (built in) or a file with
        /// one word per line.
        #[serde(default)]
        pub stop_words: Option<String>,
        /// A null text: `skip` the row and count it (default), or `fail`.
        #[serde(default)]
        pub nulls: Nulls,
        /// Also write `attention_mask` (List<UInt8>; always written with padding).
        #[serde(default)]
        pub attention_mask: bool,
        /// Also write `offsets`: each token's (start, end) in the text, in characters.
        #[serde(default)]
        pub offsets: bool,
        /// Input columns to carry over [default: every column but the text ones].
        #[serde(default)]
        pub keep_columns: Option<Vec<String>>,
        /// Also write `<split>.bin` (flat ids, little-endian) and `<split>.idx` (u64 offsets):
        /// `none` (default), `auto`, `uint16`, `uint32`.
        #[serde(default)]
        pub bin: BinFormat,
    }
}

pub fn yes() -> bool {
    true
}

pub fn default_separator() -> String {
    "\n".to_owned()
}

/// A tokenizer trained on the stage's input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// `bpe` (byte-level, like GPT-2), `wordpiece` (like BERT) or `unigram` (like SentencePiece).
    #[serde(rename = "type")]
    pub kind: TrainType,
    /// The vocabulary size to reach, special tokens included.
    pub vocab_size: u32,
    /// Pairs (BPE, WordPiece) seen fewer times than this are not merged.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u32,
    /// Special tokens, added first (default: the usual ones of the type).
    #[serde(default)]
    pub special_tokens: Option<Vec<String>>,
    /// The input table to train on (default: the one named `train…`, else all of them).
    #[serde(default)]
    pub split: Option<String>,
}

pub fn default_min_frequency() -> u32 {
    2
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TrainType {
    Bpe,
    Wordpiece,
    Unigram,
}

/// What happens to a text longer than `max_length` tokens.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Keep the first `max_length` tokens (counted; the rest is dropped).
    #[default]
    Truncate,
    /// Cut into windows of `max_length` tokens overlapping by `stride`, one row each (what
    /// `transformers` returns with `return_overflowing_tokens=True`).
    Windows,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    #[default]
    None,
    /// Pad every sequence to `max_length` with the pad token (and an attention mask).
    MaxLength,
}

/// With `pack`: the last, partial block.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Remainder {
    /// Dropped (as `group_texts` in the `transformers` examples does).
    #[default]
    Drop,
    /// Padded to the block size.
    Pad,
    /// Kept, shorter.
    Keep,
}

/// A null text.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Nulls {
    /// Skip the row, and count it.
    #[default]
    Skip,
    /// Fail the stage, naming the file and row.
    Fail,
}

/// The flat token file beside each table.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BinFormat {
    #[default]
    None,
    /// `uint16` when the vocabulary fits, else `uint32`.
    Auto,
    Uint16,
    Uint32,
}

/// The `tokenize` stage.
#[derive(Debug)]
pub struct Tokenize {
    params: TokenizeParams,
}

impl Tokenize {
    fn tokenizer_aux(&self) -> Option<AuxInput> {
        let t = self.params.tokenizer.as_deref()?;
        // `hf://owner/model` names a model repository here (datasets are sources).
        let (uri, files) = match t.strip_prefix("hf://") {
            Some(rest) => {
                let rest = rest.strip_prefix("models/").unwrap_or(rest);
                (
                    format!("hf://models/{rest}"),
                    Some(vec![TOKENIZER_FILE.to_owned()]),
                )
            }
            None => (t.to_owned(), None),
        };
        Some(AuxInput {
            role: "tokenizer",
            uri,
            files,
        })
    }

    fn stop_words_aux(&self) -> Option<AuxInput> {
        let s = self.params.stop_words.as_deref()?;
        (s != "english").then(|| AuxInput {
            role: "stop_words",
            uri: s.to_owned(),
            files: None,
        })
    }
}

impl Kind for Tokenize {
    const NAME: &'static str = "tokenize";
    /// 2: token tables without dictionary encoding, zstd level 1.
    /// 3: the Hugging Face features in the footer (`huggingface` key), kept columns' carried over.
    /// 4: the features also in the Arrow schema's metadata, where `datasets` reads them.
    const VERSION: u32 = 4;
    const ACCEPTS: Accepts = Accepts::one(&[Data::Tables]);
    const PRODUCES: Data = Data::Tables;
    type Params = TokenizeParams;

    fn new(params: TokenizeParams) -> Result<Self, String> {
        let p = &params;
        match (&p.tokenizer, &p.train) {
            (None, None) => {
                return Err("give a `tokenizer:` (a tokenizer.json path, `hf://owner/model` or a source name) or `train:` one".into());
            }
            (Some(_), Some(_)) => {
                return Err(
                    "`tokenizer` and `train` exclude each other: use a tokenizer, or train one"
                        .into(),
                );
            }
            (Some(t), None) if t.trim().is_empty() => {
                return Err("`tokenizer` is empty".into());
            }
            _ => {}
        }
        if p.column.is_some() && p.columns.is_some() {
            return Err("`column` and `columns` exclude each other".into());
        }
        if let Some(c) = &p.columns
            && c.is_empty()
        {
            return Err("`columns` is empty: list the text columns to join".into());
        }
        if let Some(m) = p.max_length
            && !(1..=MAX_LENGTH_LIMIT).contains(&m)
        {
            return Err(format!(
                "`max_length` must be between 1 and {MAX_LENGTH_LIMIT}: got {m}"
            ));
        }
        if p.stride > 0 {
            let Some(m) = p.max_length else {
                return Err("`stride` needs `max_length` (the window size)".into());
            };
            if p.stride >= m {
                return Err(format!(
                    "`stride` ({}) must be smaller than `max_length` ({m}): windows overlap by `stride` tokens",
                    p.stride
                ));
            }
            if p.overflow != Overflow::Windows {
                return Err(
                    "`stride` is the overlap of windows: set `overflow: windows` too".into(),
                );
            }
        }
        if p.overflow == Overflow::Windows && p.max_length.is_none() {
            return Err("`overflow: windows` needs `max_length` (the window size)".into());
        }
        if p.padding == Padding::MaxLength && p.max_length.is_none() {
            return Err("`padding: max_length` needs `max_length`".into());
        }
        if p.pack {
            if p.max_length.is_none() {
                return Err("`pack` needs `max_length` (the block size)".into());
            }
            if p.overflow == Overflow::Windows {
                return Err("`pack` cuts the concatenated texts into blocks; it excludes `overflow: windows`".into());
            }
            if p.offsets {
                return Err("`offsets` point into one text; packed blocks mix texts".into());
            }
            if p.keep_columns.as_ref().is_some_and(|k| !k.is_empty()) {
                return Err("packed blocks mix rows, so `keep_columns` cannot apply".into());
            }
        } else if p.pack_remainder != Remainder::Drop || p.eos_token.is_some() {
            return Err("`pack_remainder` and `eos_token` apply with `pack: true`".into());
        }
        if let Some(m) = p.max_length
            && p.min_length > m
        {
            return Err(format!(
                "`min_length` ({}) is above `max_length` ({m}): every sequence would be dropped",
                p.min_length
            ));
        }
        if p.min_length > MAX_LENGTH_LIMIT {
            return Err(format!(
                "`min_length` must be at most {MAX_LENGTH_LIMIT}: got {}",
                p.min_length
            ));
        }
        if let Some(t) = &p.train {
            if !(MIN_VOCAB..=MAX_VOCAB).contains(&t.vocab_size) {
                return Err(format!(
                    "`train.vocab_size` must be between {MIN_VOCAB} and {MAX_VOCAB}: got {}",
                    t.vocab_size
                ));
            }
            if t.min_frequency == 0 || t.min_frequency > 1_000_000 {
                return Err(format!(
                    "`train.min_frequency` must be between 1 and 1000000: got {}",
                    t.min_frequency
                ));
            }
        }
        if let Some(s) = &p.stop_words
            && s.trim().is_empty()
        {
            return Err("`stop_words` is empty: use `english` or a file of words".into());
        }
        Ok(Tokenize { params })
    }

    fn params(&self) -> &TokenizeParams {
        &self.params
    }

    fn default_output(&self, group: &str) -> String {
        group.to_owned()
    }

    fn aux_inputs(&self) -> Vec<AuxInput> {
        self.tokenizer_aux()
            .into_iter()
            .chain(self.stop_words_aux())
            .collect()
    }

    fn run(&self, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
        run(&self.params, cx)
    }
}

/// One input table: its name, path, schema and rows.
struct InputTable<'a> {
    file: &'a InputFile,
    schema: SchemaRef,
    rows: u64,
}

fn open_tables(input: &[InputFile]) -> Result<Vec<InputTable<'_>>, StageError> {
    let mut out = Vec::new();
    for f in input.iter().filter(|f| f.name.ends_with(".parquet")) {
        let file = File::open(&f.path).map_err(|e| read_err(&f.name, &e))?;
        let b =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(&f.name, &e))?;
        out.push(InputTable {
            file: f,
            schema: b.schema().clone(),
            rows: u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0),
        });
    }
    if out.is_empty() {
        return Err(StageError::new("the input has no Parquet table")
            .hint("put a `normalize` (and usually a `split`) stage before `tokenize`"));
    }
    Ok(out)
}

fn read_err(name: &str, e: &dyn std::fmt::Display) -> StageError {
    StageError::new(format!("cannot read `{name}`: {e}"))
}

/// The text columns of a table: `columns`, `column`, else `text`, else the only string column.
fn text_columns(
    p: &TokenizeParams,
    schema: &Schema,
    table: &str,
) -> Result<Vec<usize>, StageError> {
    let names: Vec<String> = match (&p.columns, &p.column) {
        (Some(c), _) => c.clone(),
        (None, Some(c)) => vec![c.clone()],
        (None, None) => {
            let strings: Vec<&str> = schema
                .fields()
                .iter()
                .filter(|f| is_text(f.data_type()))
                .map(|f| f.name().as_str())
                .collect();
            if schema.field_with_name("text").is_ok() {
                vec!["text".to_owned()]
            } else if let [only] = strings.as_slice() {
                vec![(*only).to_owned()]
            } else if strings.is_empty() {
                return Err(
                    StageError::new(format!("`{table}` has no text column to tokenize"))
                        .hint(format!("its columns: {}", describe_columns(schema))),
                );
            } else {
                return Err(StageError::new(format!(
                    "`{table}` has several text columns ({}); which one should be tokenized?",
                    strings.join(", ")
                ))
                .hint("set `column: <name>`, or `columns: [a, b]` to join several"));
            }
        }
    };
    let mut out = Vec::new();
    for n in &names {
        let i = column_index(schema, n, "tokenize", "column")?;
        let dt = schema.field(i).data_type();
        if !is_text(dt) {
            return Err(StageError::new(format!(
                "column `{n}` of `{table}` is {}, not text",
                table::type_name(dt)
            ))
            .hint(format!(
                "tokenize a string column; the text columns are: {}",
                text_names(schema)
            )));
        }
        out.push(i);
    }
    Ok(out)
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn text_names(schema: &Schema) -> String {
    let v: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| is_text(f.data_type()))
        .map(|f| f.name().as_str())
        .collect();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

fn describe_columns(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} ({})", f.name(), table::type_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tokenizer file among an auxiliary input's files: `tokenizer.json`, else the only file.
fn pick_tokenizer(files: &[InputFile], what: &str) -> Result<PathBuf, StageError> {
    if let Some(f) = files.iter().find(|f| {
        Path::new(&f.name)
            .file_name()
            .is_some_and(|n| n == TOKENIZER_FILE)
    }) {
        return Ok(f.path.clone());
    }
    match files {
        [one] => Ok(one.path.clone()),
        [] => Err(StageError::new(format!("tokenizer `{what}` has no files"))),
        _ => Err(StageError::new(format!(
            "tokenizer `{what}` has {} files and none is named tokenizer.json",
            files.len()
        ))
        .hint("point `tokenizer:` at the tokenizer.json file itself")),
    }
}

/// Texts of a batch: one per row (`None` for a null), the columns joined by `separator`.
fn batch_texts(
    batch: &RecordBatch,
    cols: &[usize],
    separator: &str,
) -> Result<Vec<Option<String>>, StageError> {
    let mut arrays = Vec::new();
    for &c in cols {
        let a = batch.column(c);
        let a = if matches!(a.data_type(), DataType::Utf8) {
            a.clone()
        } else {
            arrow::compute::cast(a, &DataType::Utf8).map_err(|e| StageError::new(e.to_string()))?
        };
        arrays.push(a);
    }
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut text: Option<String> = None;
        for a in &arrays {
            let s = a.as_string::<i32>();
            if s.is_null(r) {
                continue;
            }
            match &mut text {
                None => text = Some(s.value(r).to_owned()),
                Some(t) => {
                    t.push_str(separator);
                    t.push_str(s.value(r));
                }
            }
        }
        out.push(text);
    }
    Ok(out)
}

/// What the stage does to each encoded text, from the parameters and the tokenizer.
struct Plan {
    max_length: Option<usize>,
    stride: usize,
    windows: bool,
    /// Special tokens added around each sequence (or window) by the stage: the tokenizer's
    /// template, found by encoding a probe with and without them.
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    /// Whether the library adds special tokens itself (no length limit: exactly its output).
    library_specials: bool,
    special: HashSet<u32>,
    drop_special: bool,
    min_length: usize,
    pad: Option<u32>,
    attention_mask: bool,
    offsets: bool,
    pack: Option<(usize, u32, Remainder)>,
}

impl Plan {
    fn new(p: &TokenizeParams, tok: &Tokenizer) -> Result<Plan, StageError> {
        let max_length = p.max_length.map(|m| m as usize);
        let library_specials = p.special_tokens && max_length.is_none() && !p.pack;
        let (prefix, suffix) = if p.special_tokens && !library_specials {
            special_template(tok)?
        } else {
            (Vec::new(), Vec::new())
        };
        let specials = prefix.len() + suffix.len();
        if let Some(m) = max_length
            && !p.pack
            && specials >= m
        {
            return Err(StageError::new(format!(
                "`max_length` {m} leaves no room for text: the tokenizer adds {specials} special tokens to each sequence"
            ))
            .hint(format!(
                "raise `max_length` above {specials}, or set `special_tokens: false`"
            )));
        }
        if p.overflow == Overflow::Windows
            && let Some(m) = max_length
            && p.stride as usize >= m - specials
        {
            return Err(StageError::new(format!(
                "`stride` {} leaves windows no new tokens: each window holds {} text tokens ({m} minus {specials} special)",
                p.stride,
                m - specials
            ))
            .hint("lower `stride`, or raise `max_length`"));
        }
        let token_id = |t: &str, key: &str| {
            tok.token_to_id(t).ok_or_else(|| {
                StageError::new(format!("`{key}: {t}` is not in the tokenizer's vocabulary"))
            })
        };
        let pad =
            if p.padding == Padding::MaxLength || (p.pack && p.pack_remainder == Remainder::Pad) {
                Some(match &p.pad_token {
                    Some(t) => token_id(t, "pad_token")?,
                    None => tok.pad_id().ok_or_else(|| {
                        StageError::new("the tokenizer has no padding token").hint(
                        "name one with `pad_token:` (GPT-2 users often pad with `<|endoftext|>`)",
                    )
                    })?,
                })
            } else {
                None
            };
        let pack = if p.pack {
            let eos = match &p.eos_token {
                Some(t) => token_id(t, "eos_token")?,
                None => tok.eos_id().ok_or_else(|| {
                    StageError::new(
                        "the tokenizer has no end-of-text token to separate packed texts",
                    )
                    .hint("name one with `eos_token:`")
                })?,
            };
            Some((max_length.unwrap_or(1), eos, p.pack_remainder))
        } else {
            None
        };
        Ok(Plan {
            max_length,
            stride: p.stride as usize,
            windows: p.overflow == Overflow::Windows,
            prefix,
            suffix,
            library_specials,
            special: tok.special_ids().iter().copied().collect(),
            drop_special: p.drop_special_tokens,
            min_length: p.min_length as usize,
            pad,
            attention_mask: p.attention_mask || p.padding == Padding::MaxLength,
            offsets: p.offsets,
            pack,
        })
    }
}

/// The special tokens a tokenizer puts before and after one sequence: the ids of a probe text
/// encoded with them, around the ids encoded without.
fn special_template(tok: &Tokenizer) -> Result<(Vec<u32>, Vec<u32>), StageError> {
    let probe = ["hello world"];
    let with = tok.encode_batch(&probe, true).map_err(tok_err)?;
    let without = tok.encode_batch(&probe, false).map_err(tok_err)?;
    let (with, core) = (&with[0], &without[0]);
    if core.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let at = with
        .windows(core.len())
        .position(|w| w == core.as_slice())
        .ok_or_else(|| {
            StageError::new(
                "this tokenizer's post-processor does more than add special tokens around the text, so they cannot be added to each window",
            )
            .hint("set `special_tokens: false`, or tokenize without `max_length`")
        })?;
    Ok((with[..at].to_vec(), with[at + core.len()..].to_vec()))
}

fn tok_err(e: crate::tokenizer::TokenizerError) -> StageError {
    StageError {
        message: e.message,
        hint: e.hint,
        partial: None,
    }
}

/// One output sequence: ids, optional offsets, the input row it came from.
struct Sequence {
    ids: Vec<u32>,
    offsets: Option<Vec<(u32, u32)>>,
    row: u64,
    /// Non-padding tokens.
    len: usize,
}

/// Counts for the report.
#[derive(Debug, Default, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Counts {
    /// Rows read.
    pub rows: u64,
    /// Rows whose text was null (skipped).
    pub null_rows: u64,
    /// Sequences written (rows of the output table).
    pub sequences: u64,
    /// Tokens written, padding excluded.
    pub tokens: u64,
    /// Padding tokens written.
    pub padding_tokens: u64,
    /// Distinct token ids written.
    pub unique_tokens: u64,
    /// Texts longer than `max_length` (truncated, or cut into more than one window).
    pub overflowing_rows: u64,
    /// Tokens dropped by truncation (or left in a dropped last block when packing).
    pub truncated_tokens: u64,
    /// Windows beyond the first of each text (`overflow: windows`).
    pub extra_windows: u64,
    /// Sequences dropped for being shorter than `min_length`.
    pub short_dropped: u64,
    /// Special-token ids removed (`drop_special_tokens`).
    pub special_dropped: u64,
    /// Stop words removed from the texts.
    pub stop_words_removed: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.rows += o.rows;
        self.null_rows += o.null_rows;
        self.sequences += o.sequences;
        self.tokens += o.tokens;
        self.padding_tokens += o.padding_tokens;
        self.overflowing_rows += o.overflowing_rows;
        self.truncated_tokens += o.truncated_tokens;
        self.extra_windows += o.extra_windows;
        self.short_dropped += o.short_dropped;
        self.special_dropped += o.special_dropped;
        self.stop_words_removed += o.stop_words_removed;
    }
}

/// Statistics of a set of sequences: counts, token frequencies, lengths.
struct Stats {
    counts: Counts,
    freq: Vec<u64>,
    lengths: BTreeMap<usize, u64>,
}

impl Stats {
    fn new(vocab: usize) -> Stats {
        Stats {
            counts: Counts::default(),
            freq: vec![0; vocab],
            lengths: BTreeMap::new(),
        }
    }

    fn sequence(&mut self, s: &Sequence) {
        self.counts.sequences += 1;
        self.counts.tokens += s.len as u64;
        self.counts.padding_tokens += (s.ids.len() - s.len) as u64;
        *self.lengths.entry(s.len).or_default() += 1;
        for &id in &s.ids[..s.len] {
            if let Some(f) = self.freq.get_mut(id as usize) {
                *f += 1;
            } else {
                self.freq.resize(id as usize + 1, 0);
                self.freq[id as usize] = 1;
            }
        }
    }

    fn merge(&mut self, o: &Stats) {
        self.counts.add(&o.counts);
        if self.freq.len() < o.freq.len() {
            self.freq.resize(o.freq.len(), 0);
        }
        for (a, b) in self.freq.iter_mut().zip(&o.freq) {
            *a += b;
        }
        for (k, v) in &o.lengths {
            *self.lengths.entry(*k).or_default() += v;
        }
    }

    fn finish(&mut self) {
        self.counts.unique_tokens = self.freq.iter().filter(|&&c| c > 0).count() as u64;
    }

    fn length_summary(&self) -> LengthSummary {
        let n: u64 = self.lengths.values().sum();
        let q = |p: f64| -> u64 {
            if n == 0 {
                return 0;
            }
            let target = ((p * n as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (&len, &c) in &self.lengths {
                seen += c;
                if seen >= target {
                    return len as u64;
                }
            }
            0
        };
        let total: u64 = self.lengths.iter().map(|(l, c)| *l as u64 * c).sum();
        LengthSummary {
            min: self.lengths.keys().next().map_or(0, |&l| l as u64),
            max: self.lengths.keys().next_back().map_or(0, |&l| l as u64),
            mean: if n == 0 {
                0.0
            } else {
                (total as f64 / n as f64 * 100.0).round() / 100.0
            },
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
        }
    }

    /// Sequence lengths in at most 16 equal-width bins over [min, max].
    fn length_histogram(&self) -> Vec<Bin> {
        let (Some((&min, _)), Some((&max, _))) =
            (self.lengths.iter().next(), self.lengths.iter().next_back())
        else {
            return Vec::new();
        };
        let width = ((max - min) / 16 + 1).max(1);
        let mut bins: Vec<Bin> = (0..=(max - min) / width)
            .map(|b| Bin {
                from: (min + b * width) as u64,
                to: (min + (b + 1) * width - 1).min(max) as u64,
                count: 0,
            })
            .collect();
        for (&len, &c) in &self.lengths {
            bins[(len - min) / width].count += c;
        }
        bins
    }
}

/// Lengths of the sequences in tokens (padding excluded).
#[derive(Debug, Default, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct LengthSummary {
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
}

/// A histogram bin: values in `[from, to]`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Bin {
    pub from: u64,
    pub to: u64,
    pub count: u64,
}

/// A frequent token.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TopToken {
    pub id: u32,
    pub token: String,
    pub count: u64,
    /// Share of all tokens, in percent.
    pub percent: f64,
}

/// One split's (table's) statistics.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct SplitReport {
    /// The output table.
    pub table: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub length: LengthSummary,
}

/// The vocabulary in use.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct VocabularyReport {
    /// The tokenizer's vocabulary size.
    pub size: u64,
    /// Distinct ids written, and their share of the vocabulary (percent).
    pub used: u64,
    pub used_percent: f64,
    /// The most frequent tokens.
    pub top: Vec<TopToken>,
    /// How many distinct tokens occur 1, 2–9, 10–99, … times.
    pub frequency_histogram: Vec<Bin>,
}

/// `reports/<stage>.json` of a tokenize stage.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TokenizeReport {
    /// The node name.
    pub stage: String,
    /// Where the tokenizer came from, and its SHA-256.
    pub tokenizer: String,
    pub tokenizer_sha256: String,
    /// Totals over every split.
    pub totals: Counts,
    pub length: LengthSummary,
    pub splits: Vec<SplitReport>,
    pub vocabulary: VocabularyReport,
    /// Sequence lengths (tokens, padding excluded), all splits.
    pub length_histogram: Vec<Bin>,
    /// With `bin`: the id type of the `.bin` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin_dtype: Option<String>,
    pub warnings: Vec<String>,
}

/// The built-in English stop words (lower case).
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Stop words from a file: one per line, `#` starts a comment, compared in lower case.
fn read_stop_words(path: &Path, name: &str) -> Result<HashSet<String>, StageError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StageError::new(format!("cannot read the stop-word list `{name}`: {e}"))
            .hint("a UTF-8 text file with one word per line")
    })?;
    let words: HashSet<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(
            StageError::new(format!("the stop-word list `{name}` has no words"))
                .hint("one word per line; `#` starts a comment"),
        );
    }
    Ok(words)
}

/// Remove stop words from a text: each whitespace-separated word whose letters (lower-cased,
/// without surrounding punctuation) are a stop word goes, with the whitespace after it; its
/// punctuation stays. Returns the new text and how many words were removed.
pub fn remove_stop_words<S: std::hash::BuildHasher>(
    text: &str,
    words: &HashSet<String, S>,
) -> (String, u64) {
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    let mut rest = text;
    let mut skip_space = false;
    while !rest.is_empty() {
        let ws_end = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        if ws_end > 0 {
            if !skip_space {
                out.push_str(&rest[..ws_end]);
            }
            rest = &rest[ws_end..];
            skip_space = false;
            continue;
        }
        let w_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..w_end];
        rest = &rest[w_end..];
        let core = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
        if !core.is_empty() && words.contains(&core.to_lowercase()) {
            removed += 1;
            let start = word.find(core).unwrap_or(0);
            let kept = format!("{}{}", &word[..start], &word[start + core.len()..]);
            if kept.is_empty() {
                skip_space = true;
            } else {
                out.push_str(&kept);
            }
        } else {
            out.push_str(word);
        }
    }
    (out, removed)
}

/// The stage's work.
fn run(p: &TokenizeParams, cx: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let tables = open_tables(cx.input)?;
    let mut out = StageOutput::default();
    let mut aux = cx.aux.iter();

    // The tokenizer: a file of an auxiliary input, or trained now on the input.
    let (tok_path, tokenizer_label) = if let Some(t) = &p.tokenizer {
        let files = aux.next().map(Vec::as_slice).unwrap_or_default();
        (pick_tokenizer(files, t)?, t.clone())
    } else if let Some(spec) = &p.train {
        let path = cx.out_dir.join(TOKENIZER_FILE);
        let trained_on = train(p, spec, &tables, &path)?;
        (
            path,
            format!(
                "trained here ({}, vocabulary {}) on {}",
                train_type_name(spec.kind),
                spec.vocab_size,
                trained_on.join(", ")
            ),
        )
    } else {
        return Err(StageError::new("no tokenizer"));
    };
    let tok = Tokenizer::from_file(&tok_path)
        .map_err(tok_err)?
        .with_special_tokens_as_text(p.split_special_tokens);
    let tok_bytes = std::fs::read(&tok_path)
        .map_err(|e| StageError::new(format!("cannot read `{}`: {e}", tok_path.display())))?;
    let tok_sha = crate::statcache::hex(&sha2::Digest::finalize(
        <sha2::Sha256 as sha2::Digest>::new_with_prefix(&tok_bytes),
    ));
    if p.tokenizer.is_some() {
        std::fs::write(cx.out_dir.join(TOKENIZER_FILE), &tok_bytes)
            .map_err(|e| StageError::new(format!("cannot write tokenizer.json: {e}")))?;
    }
    if let Some(cfg) = tok.file_truncation_padding() {
        out.warnings.push(format!(
            "the tokenizer file configures {cfg}; the stage ignores it and applies its own `max_length`/`padding`"
        ));
    }
    let stop_words: Option<HashSet<String>> = match p.stop_words.as_deref() {
        None => None,
        Some("english") => Some(ENGLISH_STOP_WORDS.iter().map(|w| (*w).to_owned()).collect()),
        Some(name) => {
            let files = aux.next().map(Vec::as_slice).unwrap_or_default();
            let [f] = files else {
                return Err(StageError::new(format!(
                    "the stop-word list `{name}` must be one file"
                )));
            };
            Some(read_stop_words(&f.path, name)?)
        }
    };
    let plan = Plan::new(p, &tok)?;
    let vocab = tok.vocab_size() as usize;
    let dtype = match p.bin {
        BinFormat::None => None,
        BinFormat::Uint16 if vocab > 1 << 16 => {
            return Err(StageError::new(format!(
                "`bin: uint16` cannot hold this tokenizer's ids: its vocabulary has {vocab} entries"
            ))
            .hint("use `bin: uint32` or `bin: auto`"));
        }
        BinFormat::Uint16 => Some(Dtype::U16),
        BinFormat::Auto if vocab <= 1 << 16 => Some(Dtype::U16),
        BinFormat::Uint32 | BinFormat::Auto => Some(Dtype::U32),
    };

    let total_rows: u64 = tables.iter().map(|t| t.rows).sum();
    let mut progress = ProgressTicker {
        report: cx.progress,
        total: total_rows,
        done: 0,
        tokens: 0,
        last: Instant::now(),
    };
    let mut all = Stats::new(vocab);
    let mut splits = Vec::new();
    for t in &tables {
        let stats = tokenize_table(
            p,
            &plan,
            &tok,
            t,
            stop_words.as_ref(),
            dtype,
            cx.out_dir,
            &mut progress,
            &mut out,
        )?;
        all.merge(&stats);
        let mut st = stats;
        st.finish();
        splits.push(SplitReport {
            table: t.file.name.clone(),
            counts: st.counts.clone(),
            length: st.length_summary(),
        });
    }
    progress.flush();
    all.finish();
    if all.counts.null_rows > 0 {
        out.warnings.push(format!(
            "{} rows with a null text were skipped",
            all.counts.null_rows
        ));
    }
    if all.counts.sequences == 0 {
        out.warnings
            .push("no sequence was written: every text was null, empty or too short".into());
    }
    out.files.push((TOKENIZER_FILE.to_owned(), None));

    let report = TokenizeReport {
        stage: cx.name.to_owned(),
        tokenizer: tokenizer_label,
        tokenizer_sha256: tok_sha,
        totals: all.counts.clone(),
        length: all.length_summary(),
        splits,
        vocabulary: vocabulary_report(&all, &tok, vocab),
        length_histogram: all.length_histogram(),
        bin_dtype: dtype.map(|d| d.name().to_owned()),
        warnings: out.warnings.clone(),
    };
    write_report(cx, &report)?;
    summarize(&report, &mut out);
    out.display = Some(render_terminal(&report));
    Ok(out)
}

fn train_type_name(k: TrainType) -> &'static str {
    match k {
        TrainType::Bpe => "bpe",
        TrainType::Wordpiece => "wordpiece",
        TrainType::Unigram => "unigram",
    }
}

/// Train a tokenizer on the chosen table(s)' texts; write it to `dest`. Returns the tables used.
fn train(
    p: &TokenizeParams,
    spec: &TrainSpec,
    tables: &[InputTable<'_>],
    dest: &Path,
) -> Result<Vec<String>, StageError> {
    let stem = |t: &InputTable<'_>| {
        Path::new(&t.file.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let chosen: Vec<&InputTable<'_>> = if let Some(s) = &spec.split {
        let v: Vec<_> = tables.iter().filter(|t| stem(t) == *s).collect();
        if v.is_empty() {
            let names: Vec<String> = tables.iter().map(stem).collect();
            return Err(
                StageError::new(format!("`train.split: {s}` names no input table"))
                    .hint(format!("the input's tables: {}", names.join(", "))),
            );
        }
        v
    } else {
        let v: Vec<_> = tables
            .iter()
            .filter(|t| stem(t).starts_with("train"))
            .collect();
        if v.is_empty() {
            tables.iter().collect()
        } else {
            v
        }
    };
    let mut texts: Vec<String> = Vec::new();
    for t in &chosen {
        let cols = text_columns(p, &t.schema, &t.file.name)?;
        let mut sorted = cols.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let idx: Vec<usize> = cols.iter().map(|&c| projected(&sorted, c)).collect();
        for batch in read_batches(t, &cols, &[])? {
            let batch = batch.map_err(|e| read_err(&t.file.name, &e))?;
            texts.extend(
                batch_texts(&batch, &idx, &p.separator)?
                    .into_iter()
                    .flatten(),
            );
        }
    }
    let opts = TrainOptions {
        kind: match spec.kind {
            TrainType::Bpe => TrainKind::Bpe,
            TrainType::Wordpiece => TrainKind::WordPiece,
            TrainType::Unigram => TrainKind::Unigram,
        },
        vocab_size: spec.vocab_size,
        min_frequency: spec.min_frequency,
        special_tokens: spec.special_tokens.clone().unwrap_or_default(),
    };
    let json = crate::tokenizer::train(&opts, texts).map_err(tok_err)?;
    std::fs::write(dest, json)
        .map_err(|e| StageError::new(format!("cannot write the trained tokenizer: {e}")))?;
    Ok(chosen.iter().map(|t| t.file.name.clone()).collect())
}

/// Record batches of a table with only `cols` (text) and `keep` columns, sized so a batch holds
/// a few MB of text. Batch columns come in schema order: map with [`projected`].
fn read_batches(
    t: &InputTable<'_>,
    text_cols: &[usize],
    keep: &[usize],
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, StageError> {
    let name = &t.file.name;
    let file = File::open(&t.file.path).map_err(|e| read_err(name, &e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(name, &e))?;
    let mut roots: Vec<usize> = text_cols.iter().chain(keep).copied().collect();
    roots.sort_unstable();
    roots.dedup();
    // Rows per batch from the text columns' uncompressed size.
    let meta = b.metadata().clone();
    let mut text_bytes: i64 = 0;
    let schema_descr = meta.file_metadata().schema_descr();
    for rg in meta.row_groups() {
        for (ci, c) in rg.columns().iter().enumerate() {
            let root = schema_descr.get_column_root_idx(ci);
            if text_cols.contains(&root) {
                text_bytes += c.uncompressed_size();
            }
        }
    }
    let per_row = (text_bytes.max(0) as u64)
        .checked_div(t.rows)
        .unwrap_or(1)
        .max(1);
    let rows = ((BATCH_MAX_BYTES as u64 / per_row) as usize).clamp(16, BATCH_MAX_ROWS);
    let mask = ProjectionMask::roots(meta.file_metadata().schema_descr(), roots);
    b.with_projection(mask)
        .with_batch_size(rows)
        .build()
        .map_err(|e| read_err(name, &e))
}

/// Where original column `c` is in a projected batch (projection keeps schema order).
fn projected(sorted_roots: &[usize], c: usize) -> usize {
    sorted_roots.iter().position(|&r| r == c).unwrap_or(0)
}

#[derive(Debug, Clone, Copy)]
enum Dtype {
    U16,
    U32,
}

impl Dtype {
    fn name(self) -> &'static str {
        match self {
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
        }
    }
}

/// The flat id file and its index of sequence starts (little-endian u64, one more than the
/// sequences: the last is the total).
struct BinWriter {
    bin: BufWriter<File>,
    idx: BufWriter<File>,
    dtype: Dtype,
    written: u64,
}

impl BinWriter {
    fn create(dir: &Path, stem: &str, dtype: Dtype) -> Result<BinWriter, StageError> {
        let open = |name: String| {
            File::create(dir.join(&name))
                .map(|f| BufWriter::with_capacity(crate::store::WRITE_SIZE, f))
                .map_err(|e| StageError::new(format!("cannot write `{name}`: {e}")))
        };
        let mut idx = open(format!("{stem}.idx"))?;
        idx.write_all(&0u64.to_le_bytes())
            .map_err(|e| StageError::new(e.to_string()))?;
        Ok(BinWriter {
            bin: open(format!("{stem}.bin"))?,
            idx,
            dtype,
            written: 0,
        })
    }

    fn push(&mut self, ids: &[u32]) -> Result<(), StageError> {
        let io = |e: std::io::Error| StageError::new(format!("cannot write the .bin file: {e}"));
        match self.dtype {
            Dtype::U16 => {
                let mut buf = Vec::with_capacity(ids.len() * 2);
                for &id in ids {
                    buf.extend_from_slice(&(id as u16).to_le_bytes());
                }
                self.bin.write_all(&buf).map_err(io)?;
            }
            Dtype::U32 => {
                let mut buf = Vec::with_capacity(ids.len() * 4);
                for &id in ids {
                    buf.extend_from_slice(&id.to_le_bytes());
                }
                self.bin.write_all(&buf).map_err(io)?;
            }
        }
        self.written += ids.len() as u64;
        self.idx.write_all(&self.written.to_le_bytes()).map_err(io)
    }

    fn finish(mut self) -> Result<(), StageError> {
        let io = |e: std::io::Error| StageError::new(format!("cannot write the .bin file: {e}"));
        self.bin.flush().map_err(io)?;
        self.idx.flush().map_err(io)
    }
}

struct ProgressTicker<'a> {
    report: &'a (dyn Fn(Progress) + Sync),
    total: u64,
    done: u64,
    tokens: u64,
    last: Instant,
}

impl ProgressTicker<'_> {
    fn add(&mut self, rows: u64, tokens: u64) {
        self.done += rows;
        self.tokens += tokens;
        if self.last.elapsed() >= Duration::from_millis(200) {
            self.flush();
        }
    }
    fn flush(&mut self) {
        (self.report)(Progress {
            done: self.done,
            total: self.total,
            tokens: Some(self.tokens),
        });
        self.last = Instant::now();
    }
}

/// Tokenize one table into `<name>.parquet` (and `.bin`/`.idx`) in `out_dir`.
#[expect(
    clippy::too_many_arguments,
    reason = "the stage's whole context, one call site"
)]
fn tokenize_table(
    p: &TokenizeParams,
    plan: &Plan,
    tok: &Tokenizer,
    t: &InputTable<'_>,
    stop_words: Option<&HashSet<String>>,
    dtype: Option<Dtype>,
    out_dir: &Path,
    progress: &mut ProgressTicker<'_>,
    out: &mut StageOutput,
) -> Result<Stats, StageError> {
    let name = &t.file.name;
    let text_cols = text_columns(p, &t.schema, name)?;
    let keep: Vec<usize> = if plan.pack.is_some() {
        Vec::new()
    } else {
        match &p.keep_columns {
            Some(k) => k
                .iter()
                .map(|c| column_index(&t.schema, c, "keep", "keep_columns"))
                .collect::<Result<_, _>>()?,
            None => (0..t.schema.fields().len())
                .filter(|i| !text_cols.contains(i))
                .collect(),
        }
    };
    for &k in &keep {
        let n = t.schema.field(k).name();
        if matches!(
            n.as_str(),
            "input_ids" | "attention_mask" | "offsets" | "overflow_to_sample_mapping"
        ) {
            return Err(StageError::new(format!(
                "`{name}` already has a column `{n}`, which the stage writes"
            ))
            .hint("drop or rename it in a `normalize` stage first, or leave it out with `keep_columns`"));
        }
    }
    let mut roots: Vec<usize> = text_cols.iter().chain(&keep).copied().collect();
    roots.sort_unstable();
    roots.dedup();
    let text_idx: Vec<usize> = text_cols.iter().map(|&c| projected(&roots, c)).collect();
    let keep_idx: Vec<usize> = keep.iter().map(|&c| projected(&roots, c)).collect();

    // The output schema.
    let mut fields: Vec<Field> = keep.iter().map(|&k| t.schema.field(k).clone()).collect();
    fields.push(Field::new(
        "input_ids",
        DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, false))),
        false,
    ));
    if plan.attention_mask {
        fields.push(Field::new(
            "attention_mask",
            DataType::List(Arc::new(Field::new_list_field(DataType::UInt8, false))),
            false,
        ));
    }
    if plan.offsets {
        fields.push(Field::new("offsets", offsets_type(), false));
    }
    if plan.windows {
        fields.push(Field::new(
            "overflow_to_sample_mapping",
            DataType::UInt64,
            false,
        ));
    }
    // Kept columns keep their features (ClassLabel names…) for exports and `datasets`: in the
    // Arrow schema's metadata, where pyarrow and `datasets` read them, and in the footer.
    let plain = Schema::new(fields);
    let features = super::features::metadata_value(&super::features::carried(&t.schema, &plain));
    let schema: SchemaRef = Arc::new(plain.with_metadata(std::collections::HashMap::from([(
        super::features::METADATA_KEY.to_owned(),
        features.clone(),
    )])));
    let path = out_dir.join(name);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| StageError::new(e.to_string()))?;
    }
    let mut sink = ParquetSink::create_with(&path, &schema, table::token_writer_properties())?;
    sink.footer(super::features::METADATA_KEY, &features);
    let stem = name.strip_suffix(".parquet").unwrap_or(name);
    let bin = match dtype {
        Some(d) => Some(BinWriter::create(out_dir, stem, d)?),
        None => None,
    };
    let writer = TableWriter {
        plan,
        schema,
        keep_idx,
        sink,
        bin,
        stats: Stats::new(tok.vocab_size() as usize),
        carry: Vec::new(),
    };
    let reader = read_batches(t, &text_cols, &keep)?;

    // Three threads: reading and decoding Parquet; extracting texts and encoding them (the
    // library spreads each batch over its own pool); cutting, counting and writing. Batches
    // keep their order through bounded channels, so the output does not depend on timing.
    let (stats, rows, has_bin) = std::thread::scope(|sc| {
        let (rtx, rrx) = std::sync::mpsc::sync_channel::<Result<RecordBatch, StageError>>(2);
        sc.spawn(move || {
            for b in reader {
                let b = b.map_err(|e| read_err(name, &e));
                let failed = b.is_err();
                if rtx.send(b).is_err() || failed {
                    break;
                }
            }
        });
        let (wtx, wrx) = std::sync::mpsc::sync_channel::<EncodedBatch>(2);
        let written = sc.spawn(move || {
            let mut w = writer;
            for e in wrx {
                let rows = e.batch.num_rows() as u64;
                let tokens = w.batch(e)?;
                progress.add(rows, tokens);
            }
            w.finish()
        });
        let mut failed: Option<StageError> = None;
        let mut row_base = 0u64;
        for batch in rrx {
            let step = batch.and_then(|batch| {
                let e = encode_batch(p, plan, tok, name, &text_idx, stop_words, batch, row_base)?;
                row_base += e.batch.num_rows() as u64;
                Ok(e)
            });
            match step {
                Ok(e) => {
                    if wtx.send(e).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(wtx);
        let written = written
            .join()
            .map_err(|_| StageError::new("internal error: the writing thread panicked"))?;
        match failed {
            Some(e) => Err(e),
            None => written,
        }
    })?;
    out.files.push((name.clone(), Some(rows)));
    if has_bin {
        out.files.push((format!("{stem}.bin"), None));
        out.files.push((format!("{stem}.idx"), None));
    }
    Ok(stats)
}

/// One encoded batch on its way to the writer, with the counts of the encoding side.
struct EncodedBatch {
    batch: RecordBatch,
    /// Rows of `batch` that had a text, in order; `encoded` holds their ids.
    present: Vec<usize>,
    encoded: Vec<(Vec<u32>, Option<Vec<(u32, u32)>>)>,
    null_rows: u64,
    stop_words_removed: u64,
}

/// Texts of one batch (stop words removed), encoded.
#[expect(
    clippy::too_many_arguments,
    reason = "the stage's context, one call site"
)]
fn encode_batch(
    p: &TokenizeParams,
    plan: &Plan,
    tok: &Tokenizer,
    name: &str,
    text_idx: &[usize],
    stop_words: Option<&HashSet<String>>,
    batch: RecordBatch,
    row_base: u64,
) -> Result<EncodedBatch, StageError> {
    let texts = batch_texts(&batch, text_idx, &p.separator)?;
    let mut present: Vec<usize> = Vec::with_capacity(texts.len());
    let mut owned: Vec<String> = Vec::with_capacity(texts.len());
    let mut null_rows = 0;
    let mut stop_words_removed = 0;
    for (r, text) in texts.into_iter().enumerate() {
        match text {
            Some(s) => {
                let s = match stop_words {
                    Some(w) => {
                        let (s, n) = remove_stop_words(&s, w);
                        stop_words_removed += n;
                        s
                    }
                    None => s,
                };
                present.push(r);
                owned.push(s);
            }
            None if p.nulls == Nulls::Fail => {
                return Err(StageError::new(format!(
                    "row {} of `{name}` has a null text",
                    row_base + r as u64
                ))
                .hint(
                    "drop such rows in a `normalize` stage (`drop_nulls`), or set `nulls: skip`",
                ));
            }
            None => null_rows += 1,
        }
    }
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let encoded: Vec<(Vec<u32>, Option<Vec<(u32, u32)>>)> = if plan.offsets {
        tok.encode_batch_with_offsets(&refs, plan.library_specials)
            .map_err(tok_err)?
            .into_iter()
            .map(|(ids, off)| (ids, Some(off)))
            .collect()
    } else {
        tok.encode_batch(&refs, plan.library_specials)
            .map_err(tok_err)?
            .into_iter()
            .map(|ids| (ids, None))
            .collect()
    };
    Ok(EncodedBatch {
        batch,
        present,
        encoded,
        null_rows,
        stop_words_removed,
    })
}

/// The writing end of one table: cuts encoded texts into sequences, counts them, writes the
/// Parquet table and the `.bin`/`.idx` files.
struct TableWriter<'a> {
    plan: &'a Plan,
    schema: SchemaRef,
    keep_idx: Vec<usize>,
    sink: ParquetSink,
    bin: Option<BinWriter>,
    stats: Stats,
    /// With `pack`: tokens waiting for the next block.
    carry: Vec<u32>,
}

impl TableWriter<'_> {
    /// Cut, count and write one batch; returns the tokens written.
    fn batch(&mut self, e: EncodedBatch) -> Result<u64, StageError> {
        let plan = self.plan;
        let stats = &mut self.stats;
        stats.counts.rows += e.batch.num_rows() as u64;
        stats.counts.null_rows += e.null_rows;
        stats.counts.stop_words_removed += e.stop_words_removed;
        let mut seqs: Vec<Sequence> = Vec::new();
        let mut tokens = 0u64;
        for ((ids, offsets), &r) in e.encoded.into_iter().zip(&e.present) {
            let row = r as u64;
            if let Some((block, eos, _)) = plan.pack {
                let (ids, dropped) = drop_special(plan, ids);
                stats.counts.special_dropped += dropped;
                let carry = &mut self.carry;
                carry.extend_from_slice(&plan.prefix);
                carry.extend_from_slice(&ids);
                carry.extend_from_slice(&plan.suffix);
                if plan.suffix.last() != Some(&eos) {
                    carry.push(eos);
                }
                while carry.len() >= block {
                    let rest = carry.split_off(block);
                    let s = Sequence {
                        len: block,
                        ids: std::mem::replace(carry, rest),
                        offsets: None,
                        row,
                    };
                    tokens += s.len as u64;
                    seqs.push(s);
                }
                continue;
            }
            for s in cut(plan, ids, offsets, row, &mut stats.counts) {
                if s.len < plan.min_length {
                    stats.counts.short_dropped += 1;
                    continue;
                }
                tokens += s.len as u64;
                seqs.push(s);
            }
        }
        self.write(&e.batch, &seqs)?;
        Ok(tokens)
    }

    fn write(&mut self, batch: &RecordBatch, seqs: &[Sequence]) -> Result<(), StageError> {
        for s in seqs {
            self.stats.sequence(s);
            if let Some(b) = &mut self.bin {
                b.push(&s.ids[..s.len])?;
            }
        }
        if !seqs.is_empty() {
            let keep: &[usize] = if batch.num_columns() == 0 {
                &[]
            } else {
                &self.keep_idx
            };
            let out_batch = build_batch(&self.schema, batch, keep, seqs, self.plan)?;
            self.sink.write(&out_batch)?;
        }
        Ok(())
    }

    /// The last, partial block of a packed table; close the files. Returns the statistics,
    /// the rows written and whether `.bin` files were.
    fn finish(mut self) -> Result<(Stats, u64, bool), StageError> {
        if let Some((block, _, remainder)) = self.plan.pack
            && !self.carry.is_empty()
        {
            let mut carry = std::mem::take(&mut self.carry);
            match remainder {
                Remainder::Drop => self.stats.counts.truncated_tokens += carry.len() as u64,
                Remainder::Keep | Remainder::Pad => {
                    let len = carry.len();
                    if remainder == Remainder::Pad
                        && let Some(pad) = self.plan.pad
                    {
                        carry.resize(block, pad);
                    }
                    let s = Sequence {
                        ids: carry,
                        offsets: None,
                        row: 0,
                        len,
                    };
                    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
                    self.write(&empty, &[s])?;
                }
            }
        }
        let rows = self.sink.finish()?;
        let has_bin = self.bin.is_some();
        if let Some(b) = self.bin {
            b.finish()?;
        }
        Ok((self.stats, rows, has_bin))
    }
}

fn offsets_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::FixedSizeList(Arc::new(Field::new_list_field(DataType::UInt32, false)), 2),
        false,
    )))
}

/// Remove special-token ids when asked; returns the ids and how many were removed.
fn drop_special(plan: &Plan, ids: Vec<u32>) -> (Vec<u32>, u64) {
    if !plan.drop_special {
        return (ids, 0);
    }
    let before = ids.len();
    let kept: Vec<u32> = ids
        .into_iter()
        .filter(|i| !plan.special.contains(i))
        .collect();
    let n = (before - kept.len()) as u64;
    (kept, n)
}

/// One encoded text → its output sequences: truncated, or cut into overlapping windows, with
/// the special tokens around each, then padded.
fn cut(
    plan: &Plan,
    ids: Vec<u32>,
    offsets: Option<Vec<(u32, u32)>>,
    row: u64,
    counts: &mut Counts,
) -> Vec<Sequence> {
    let (ids, offsets) = if plan.drop_special {
        let keep: Vec<bool> = ids.iter().map(|i| !plan.special.contains(i)).collect();
        counts.special_dropped += keep.iter().filter(|k| !**k).count() as u64;
        let ids: Vec<u32> = ids
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(i, _)| *i)
            .collect();
        let offsets = offsets.map(|o| {
            o.into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(o, _)| o)
                .collect()
        });
        (ids, offsets)
    } else {
        (ids, offsets)
    };
    let Some(max) = plan.max_length else {
        return vec![Sequence {
            len: ids.len(),
            ids,
            offsets,
            row,
        }];
    };
    let room = max - plan.prefix.len() - plan.suffix.len();
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    if ids.len() <= room {
        pieces.push((0, ids.len()));
    } else {
        counts.overflowing_rows += 1;
        if plan.windows {
            let step = room - plan.stride;
            let mut start = 0;
            loop {
                let end = (start + room).min(ids.len());
                pieces.push((start, end));
                if end == ids.len() {
                    break;
                }
                start += step;
            }
            counts.extra_windows += pieces.len() as u64 - 1;
        } else {
            pieces.push((0, room));
            counts.truncated_tokens += (ids.len() - room) as u64;
        }
    }
    pieces
        .into_iter()
        .map(|(a, b)| {
            let mut v = Vec::with_capacity(max);
            v.extend_from_slice(&plan.prefix);
            v.extend_from_slice(&ids[a..b]);
            v.extend_from_slice(&plan.suffix);
            let off = offsets.as_ref().map(|o| {
                let mut w = Vec::with_capacity(v.len());
                w.extend(std::iter::repeat_n((0, 0), plan.prefix.len()));
                w.extend_from_slice(&o[a..b]);
                w.extend(std::iter::repeat_n((0, 0), plan.suffix.len()));
                w
            });
            let len = v.len();
            let mut off = off;
            if let Some(pad) = plan.pad
                && len < max
            {
                v.resize(max, pad);
                if let Some(o) = &mut off {
                    o.resize(max, (0, 0));
                }
            }
            Sequence {
                ids: v,
                offsets: off,
                row,
                len,
            }
        })
        .collect()
}

/// The output batch: the kept columns (rows repeated per window), then the token columns.
fn build_batch(
    schema: &SchemaRef,
    input: &RecordBatch,
    keep_idx: &[usize],
    seqs: &[Sequence],
    plan: &Plan,
) -> Result<RecordBatch, StageError> {
    let err = |e: arrow::error::ArrowError| StageError::new(e.to_string());
    let mut cols: Vec<ArrayRef> = Vec::new();
    if !keep_idx.is_empty() {
        let rows = UInt64Array::from_iter_values(seqs.iter().map(|s| s.row));
        for &k in keep_idx {
            cols.push(arrow::compute::take(input.column(k), &rows, None).map_err(err)?);
        }
    }
    let list = |field: DataType, values: ArrayRef, lens: &mut dyn Iterator<Item = usize>| {
        let offsets = OffsetBuffer::<i32>::from_lengths(lens);
        ListArray::try_new(
            Arc::new(Field::new_list_field(field, false)),
            offsets,
            values,
            None,
        )
        .map_err(err)
    };
    let ids = UInt32Array::from_iter_values(seqs.iter().flat_map(|s| s.ids.iter().copied()));
    cols.push(Arc::new(list(
        DataType::UInt32,
        Arc::new(ids),
        &mut seqs.iter().map(|s| s.ids.len()),
    )?));
    if plan.attention_mask {
        let mask = UInt8Array::from_iter_values(
            seqs.iter()
                .flat_map(|s| (0..s.ids.len()).map(move |i| u8::from(i < s.len))),
        );
        cols.push(Arc::new(list(
            DataType::UInt8,
            Arc::new(mask),
            &mut seqs.iter().map(|s| s.ids.len()),
        )?));
    }
    if plan.offsets {
        let flat = UInt32Array::from_iter_values(seqs.iter().flat_map(|s| {
            s.offsets
                .iter()
                .flatten()
                .flat_map(|&(a, b)| [a, b])
                .collect::<Vec<_>>()
        }));
        let pairs = FixedSizeListArray::try_new(
            Arc::new(Field::new_list_field(DataType::UInt32, false)),
            2,
            Arc::new(flat),
            None,
        )
        .map_err(err)?;
        let pair_type = pairs.data_type().clone();
        cols.push(Arc::new(list(
            pair_type,
            Arc::new(pairs),
            &mut seqs.iter().map(|s| s.offsets.as_ref().map_or(0, Vec::len)),
        )?));
    }
    if plan.windows {
        cols.push(Arc::new(UInt64Array::from_iter_values(
            seqs.iter().map(|s| s.row),
        )));
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(err)
}

fn vocabulary_report(all: &Stats, tok: &Tokenizer, vocab: usize) -> VocabularyReport {
    let total: u64 = all.freq.iter().sum();
    let mut ranked: Vec<(u64, u32)> = all
        .freq
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| (*c, i as u32))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let top = ranked
        .iter()
        .take(50)
        .map(|&(count, id)| TopToken {
            id,
            token: tok.id_to_token(id).unwrap_or_default(),
            count,
            percent: percent(count, total),
        })
        .collect();
    // Distinct tokens by how often they occur: 1, 2–9, 10–99, …
    let mut hist: Vec<Bin> = Vec::new();
    let mut lo = 1u64;
    let mut hi = 1u64;
    loop {
        let count = all.freq.iter().filter(|&&c| c >= lo && c <= hi).count() as u64;
        hist.push(Bin {
            from: lo,
            to: hi,
            count,
        });
        if hi >= all.freq.iter().copied().max().unwrap_or(0) {
            break;
        }
        lo = hi + 1;
        hi = if hi == 1 { 9 } else { hi * 10 + 9 };
    }
    let used = all.counts.unique_tokens;
    VocabularyReport {
        size: vocab as u64,
        used,
        used_percent: percent(used, vocab as u64),
        top,
        frequency_histogram: hist,
    }
}

fn percent(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 10000.0 / b as f64).round() / 100.0
    }
}

fn write_report(cx: &StageContext<'_>, report: &TokenizeReport) -> Result<(), StageError> {
    let dir = cx.reports_dir();
    std::fs::create_dir_all(&dir).map_err(|e| StageError::new(e.to_string()))?;
    let stem = cx.report_stem();
    let json =
        serde_json::to_string_pretty(report).map_err(|e| StageError::new(e.to_string()))? + "\n";
    std::fs::write(dir.join(format!("{stem}.json")), json)
        .map_err(|e| StageError::new(format!("cannot write the report: {e}")))?;
    std::fs::write(dir.join(format!("{stem}.md")), render_markdown(report))
        .map_err(|e| StageError::new(format!("cannot write the report: {e}")))
}

/// Facts for the lock's `summary:` (and so for `diff`).
fn summarize(r: &TokenizeReport, out: &mut StageOutput) {
    let t = &r.totals;
    let s = &mut out.summary;
    s.insert("rows".into(), t.sequences.into());
    s.insert("tokens".into(), t.tokens.into());
    s.insert("unique_tokens".into(), t.unique_tokens.into());
    s.insert("vocab_size".into(), r.vocabulary.size.into());
    s.insert("tokenizer_sha256".into(), r.tokenizer_sha256.clone().into());
    if t.overflowing_rows > 0 {
        s.insert("overflowing_rows".into(), t.overflowing_rows.into());
        s.insert("truncated_tokens".into(), t.truncated_tokens.into());
    }
    if t.null_rows > 0 {
        s.insert("null_rows".into(), t.null_rows.into());
    }
    let splits: serde_json::Map<String, serde_json::Value> = r
        .splits
        .iter()
        .map(|sp| {
            (
                sp.table.trim_end_matches(".parquet").to_owned(),
                serde_json::json!({"sequences": sp.counts.sequences, "tokens": sp.counts.tokens}),
            )
        })
        .collect();
    s.insert("splits".into(), splits.into());
    s.insert(
        "length".into(),
        serde_json::to_value(&r.length).unwrap_or_default(),
    );
    if let Some(d) = &r.bin_dtype {
        s.insert("bin_dtype".into(), d.clone().into());
    }
}

fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A token for display: control and whitespace characters made visible.
fn show_token(t: &str) -> String {
    t.chars()
        .map(|c| match c {
            '\n' => "\\n".to_owned(),
            '\t' => "\\t".to_owned(),
            ' ' => "␣".to_owned(),
            c if c.is_control() => format!("\\u{{{:x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

fn bin_label(b: &Bin) -> String {
    if b.from == b.to {
        b.from.to_string()
    } else {
        format!("{}–{}", b.from, b.to)
    }
}

/// The terminal summary (also `mldatabuild stats`).
pub fn render_terminal(r: &TokenizeReport) -> String {
    let pad = " ".repeat(10);
    let t = &r.totals;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{pad}{} tokens in {} sequences from {} rows; {} distinct tokens of {} ({:.1} %)",
        fmt_count(t.tokens),
        fmt_count(t.sequences),
        fmt_count(t.rows),
        fmt_count(t.unique_tokens),
        fmt_count(r.vocabulary.size),
        r.vocabulary.used_percent
    );
    let l = &r.length;
    let _ = writeln!(
        s,
        "{pad}length: min {}, mean {}, p50 {}, p90 {}, p99 {}, max {}",
        l.min, l.mean, l.p50, l.p90, l.p99, l.max
    );
    let mut notes = Vec::new();
    if t.overflowing_rows > 0 {
        notes.push(format!(
            "{} texts over max_length ({} tokens truncated, {} extra windows)",
            fmt_count(t.overflowing_rows),
            fmt_count(t.truncated_tokens),
            fmt_count(t.extra_windows)
        ));
    }
    if t.null_rows > 0 {
        notes.push(format!("{} null texts skipped", fmt_count(t.null_rows)));
    }
    if t.short_dropped > 0 {
        notes.push(format!(
            "{} sequences under min_length dropped",
            fmt_count(t.short_dropped)
        ));
    }
    if t.stop_words_removed > 0 {
        notes.push(format!(
            "{} stop words removed",
            fmt_count(t.stop_words_removed)
        ));
    }
    if t.special_dropped > 0 {
        notes.push(format!(
            "{} special tokens dropped",
            fmt_count(t.special_dropped)
        ));
    }
    for n in notes {
        let _ = writeln!(s, "{pad}{n}");
    }
    if r.splits.len() > 1 {
        for sp in &r.splits {
            let _ = writeln!(
                s,
                "{pad}  {:<20} {:>14} tokens {:>10} sequences",
                sp.table,
                fmt_count(sp.counts.tokens),
                fmt_count(sp.counts.sequences)
            );
        }
    }
    if !r.length_histogram.is_empty() {
        let _ = writeln!(s, "{pad}sequence lengths (tokens):");
        let rows: Vec<(String, u64)> = r
            .length_histogram
            .iter()
            .map(|b| (bin_label(b), b.count))
            .collect();
        for line in super::validate::bars(&rows, t.sequences).lines() {
            let _ = writeln!(s, "{pad}  {line}");
        }
    }
    if !r.vocabulary.top.is_empty() {
        let _ = writeln!(s, "{pad}most frequent tokens:");
        let rows: Vec<(String, u64)> = r
            .vocabulary
            .top
            .iter()
            .take(10)
            .map(|t| (format!("{:>6} {}", t.id, show_token(&t.token)), t.count))
            .collect();
        for line in super::validate::bars(&rows, t.tokens).lines() {
            let _ = writeln!(s, "{pad}  {line}");
        }
    }
    s
}

/// A stored report rendered for the terminal, if it is a tokenize report.
pub fn render_stored(json: &str) -> Option<String> {
    serde_json::from_str::<TokenizeReport>(json)
        .ok()
        .map(|r| render_terminal(&r))
}

fn render_markdown(r: &TokenizeReport) -> String {
    let t = &r.totals;
    let mut s = String::new();
    let _ = writeln!(s, "# Tokenization report: `{}`\n", r.stage);
    let _ = writeln!(
        s,
        "Tokenizer: {} (SHA-256 `{}`).\n",
        r.tokenizer, r.tokenizer_sha256
    );
    let _ = writeln!(s, "| | value |\n|---|---:|");
    for (k, v) in [
        ("rows read", t.rows),
        ("null texts skipped", t.null_rows),
        ("sequences", t.sequences),
        ("tokens (padding excluded)", t.tokens),
        ("padding tokens", t.padding_tokens),
        ("distinct tokens", t.unique_tokens),
        ("vocabulary size", r.vocabulary.size),
        ("texts over max_length", t.overflowing_rows),
        ("tokens truncated", t.truncated_tokens),
        ("extra windows", t.extra_windows),
        ("sequences under min_length dropped", t.short_dropped),
        ("special tokens dropped", t.special_dropped),
        ("stop words removed", t.stop_words_removed),
    ] {
        let _ = writeln!(s, "| {k} | {} |", fmt_count(v));
    }
    let l = &r.length;
    let _ = writeln!(
        s,
        "\nSequence length: min {}, mean {}, median {}, p90 {}, p99 {}, max {}.\n",
        l.min, l.mean, l.p50, l.p90, l.p99, l.max
    );
    let _ = writeln!(
        s,
        "## Splits\n\n| table | rows | sequences | tokens | distinct | mean length |\n|---|---:|---:|---:|---:|---:|"
    );
    for sp in &r.splits {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            sp.table,
            fmt_count(sp.counts.rows),
            fmt_count(sp.counts.sequences),
            fmt_count(sp.counts.tokens),
            fmt_count(sp.counts.unique_tokens),
            sp.length.mean
        );
    }
    let _ = writeln!(s, "\n## Sequence lengths\n\n```");
    let rows: Vec<(String, u64)> = r
        .length_histogram
        .iter()
        .map(|b| (bin_label(b), b.count))
        .collect();
    s.push_str(&super::validate::bars(&rows, t.sequences));
    let _ = writeln!(
        s,
        "```\n\n## Most frequent tokens\n\n| rank | id | token | count | % |\n|---:|---:|---|---:|---:|"
    );
    for (i, tt) in r.vocabulary.top.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | `{}` | {} | {} |",
            i + 1,
            tt.id,
            show_token(&tt.token).replace('|', "\\|").replace('`', "'"),
            fmt_count(tt.count),
            tt.percent
        );
    }
    let _ = writeln!(
        s,
        "\n## Token frequencies\n\n| occurrences | distinct tokens |\n|---|---:|"
    );
    for b in &r.vocabulary.frequency_histogram {
        let _ = writeln!(s, "| {} | {} |", bin_label(b), fmt_count(b.count));
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(s, "\n## Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(s, "- {w}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_keep_punctuation_and_spacing() {
        let w: HashSet<String> = ["the", "and", "a"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let (s, n) = remove_stop_words("The cat, and the dog. A end", &w);
        assert_eq!(s, "cat, dog. end");
        assert_eq!(n, 4);
        let (s, n) = remove_stop_words("  nothing here  ", &w);
        assert_eq!((s.as_str(), n), ("  nothing here  ", 0));
        let (s, _) = remove_stop_words("(the) x", &w);
        assert_eq!(s, "() x");
    }

    #[test]
    fn bounds_are_checked() {
        let base = || TokenizeParams {
            tokenizer: Some("t.json".into()),
            train: None,
            column: None,
            columns: None,
            separator: default_separator(),
            max_length: Some(8),
            stride: 0,
            overflow: Overflow::Truncate,
            padding: Padding::None,
            special_tokens: true,
            split_special_tokens: false,
            pack: false,
            pack_remainder: Remainder::Drop,
            eos_token: None,
            pad_token: None,
            min_length: 0,
            drop_special_tokens: false,
            stop_words: None,
            nulls: Nulls::Skip,
            attention_mask: false,
            offsets: false,
            keep_columns: None,
            bin: BinFormat::None,
        };
        assert!(Tokenize::new(base()).is_ok());
        let e = Tokenize::new(TokenizeParams {
            max_length: Some(0),
            ..base()
        })
        .unwrap_err();
        assert!(e.contains("`max_length` must be between 1"), "{e}");
        let e = Tokenize::new(TokenizeParams {
            stride: 8,
            overflow: Overflow::Windows,
            ..base()
        })
        .unwrap_err();
        assert!(e.contains("must be smaller than `max_length`"), "{e}");
        let e = Tokenize::new(TokenizeParams {
            stride: 2,
            ..base()
        })
        .unwrap_err();
        assert!(e.contains("overflow: windows"), "{e}");
        let e = Tokenize::new(TokenizeParams {
            tokenizer: None,
            ..base()
        })
        .unwrap_err();
        assert!(e.contains("give a `tokenizer:`"), "{e}");
        let e = Tokenize::new(TokenizeParams {
            pack: true,
            overflow: Overflow::Windows,
            ..base()
        })
        .unwrap_err();
        assert!(e.contains("excludes `overflow: windows`"), "{e}");
    }

    fn plan(max: Option<usize>, windows: bool, stride: usize) -> Plan {
        Plan {
            max_length: max,
            stride,
            windows,
            prefix: vec![100],
            suffix: vec![101],
            library_specials: false,
            special: [100, 101].into_iter().collect(),
            drop_special: false,
            min_length: 0,
            pad: None,
            attention_mask: false,
            offsets: false,
            pack: None,
        }
    }

    #[test]
    fn windows_overlap_by_stride_and_cover_the_text() {
        let mut c = Counts::default();
        let ids: Vec<u32> = (0..10).collect();
        let s = cut(&plan(Some(6), true, 1), ids, None, 7, &mut c);
        let got: Vec<Vec<u32>> = s.iter().map(|s| s.ids.clone()).collect();
        assert_eq!(
            got,
            vec![
                vec![100, 0, 1, 2, 3, 101],
                vec![100, 3, 4, 5, 6, 101],
                vec![100, 6, 7, 8, 9, 101]
            ]
        );
        assert!(s.iter().all(|s| s.row == 7));
        assert_eq!((c.overflowing_rows, c.extra_windows), (1, 2));
    }

    #[test]
    fn truncation_counts_dropped_tokens_and_pads() {
        let mut c = Counts::default();
        let mut p = plan(Some(5), false, 0);
        p.pad = Some(0);
        let s = cut(&p, (10..20).collect(), None, 0, &mut c);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].ids, vec![100, 10, 11, 12, 101]);
        assert_eq!(c.truncated_tokens, 7);
        let s = cut(&p, vec![10], None, 0, &mut c);
        assert_eq!((s[0].ids.clone(), s[0].len), (vec![100, 10, 101, 0, 0], 3));
    }
}
