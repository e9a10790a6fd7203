//! Hugging Face tokenizers behind one small, documented API: load a `tokenizer.json`, encode
//! batches of texts to ids (fast, parallel), decode, look up tokens and special ids, train a new
//! tokenizer.
//!
//! ## Which library does what
//!
//! - Encoding, decoding and loading use `tokenizers` 1.0.0-rc.3, whose read-only
//!   `PipelineTokenizer` gives the same ids as the Python `tokenizers` package (0.23) about ten
//!   times faster. A `tokenizer.json` of any version goes through the library's own upgrade pass
//!   (`canonicalize_value`) before it is read, so files written by Python `save()` load.
//! - Offsets ([`Tokenizer::encode_batch_with_offsets`]) need `tokenizers` 0.23.2 (the library
//!   the Python package wraps; 1.0-rc has no offsets). It is loaded lazily, from the same JSON, the
//!   first time offsets are asked for, and every batch it encodes is checked against the fast
//!   path's ids.
//! - Training ([`train`]) uses the 1.0 trainers, with the choices that make it deterministic
//!   documented there, and writes a `tokenizer.json` that both this module and the Python package
//!   load.
//!
//! ## What encoding does and does not do
//!
//! - Truncation and padding configured inside a `tokenizer.json` are **never** applied: callers
//!   window and pad ids themselves. [`Tokenizer::file_truncation_padding`] describes what the
//!   file configures so a caller can say that it is ignored.
//! - `add_special_tokens` adds what the file's post-processor adds around one sequence
//!   ([`Tokenizer::special_tokens_added`] of them: 2 for BERT's `[CLS] … [SEP]`, 0 for GPT-2).
//! - A special-token string inside the text (`"<|endoftext|>"`, `"[SEP]"`) becomes that special
//!   token's id, as in the Python package's default. [`Tokenizer::with_special_tokens_as_text`]
//!   makes such strings ordinary text instead (Python: `tokenizer.encode_special_tokens = True`).
//! - Batches are encoded in parallel on the library's own thread pool, sized to the machine's
//!   cores unless [`set_encode_threads`] says otherwise; results come back in input order.
//!
//! Errors are [`TokenizerError`]s: a message saying what happened and to which file, and a hint
//! saying what to do.

mod train;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::Value;
use tokenizers::pipeline::{EncodeOptions, Override, PipelineToken, PipelineTokenizer};

pub use train::{MAX_VOCAB_SIZE, TrainKind, TrainOptions, train};

/// What went wrong, and what to do about it (the house style of `StageError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizerError {
    /// What happened and where: names the tokenizer file (and line and column for bad JSON).
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
}

impl TokenizerError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The message only, like `StageError`; the hint is in [`TokenizerError::hint`].
impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TokenizerError {}

/// Sets how many threads [`Tokenizer::encode_batch`] uses, process-wide (0: one per core, the
/// default). The library keeps its own thread pool for encoding; the ambient rayon pool does not
/// size it.
pub fn set_encode_threads(threads: usize) {
    tokenizers::parallelism::set_num_threads(threads);
}

/// A loaded tokenizer. Cheap to clone (shared), `Send + Sync`.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
    special_tokens_as_text: bool,
}

struct Inner {
    /// The file's path or the name given to [`Tokenizer::from_json_bytes`], for messages.
    name: String,
    fast: PipelineTokenizer,
    /// The JSON as given, for the offsets tokenizer (loaded on first use).
    source: Arc<[u8]>,
    /// `[special tokens extracted, special tokens as text]`.
    offsets: [OnceLock<Result<tokenizers023::Tokenizer, TokenizerError>>; 2],
    token_to_id: HashMap<String, u32>,
    id_to_token: HashMap<u32, String>,
    vocab_size: u32,
    special_ids: Vec<u32>,
    eos_id: Option<u32>,
    pad_id: Option<u32>,
    special_tokens_added: usize,
    file_truncation_padding: Option<String>,
}

/// The end-of-text tokens [`Tokenizer::eos_id`] looks for, in this order, when the file names no
/// `eos_token` role.
pub const WELL_KNOWN_EOS: [&str; 5] =
    ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "[SEP]"];

/// The padding tokens [`Tokenizer::pad_id`] looks for, in this order, when the file configures
/// no padding and names no `pad_token` role.
pub const WELL_KNOWN_PAD: [&str; 4] = ["[PAD]", "<pad>", "<|pad|>", "<|padding|>"];

const FORMAT_HINT: &str = "a tokenizer is a `tokenizer.json` written by the Hugging Face \
    `tokenizers` library; a SentencePiece `.model`, a `vocab.txt` or `vocab.json` + `merges.txt` \
    must be converted first (in Python: `AutoTokenizer.from_pretrained(...).backend_tokenizer\
    .save(\"tokenizer.json\")`)";

impl Tokenizer {
    /// Loads a `tokenizer.json`. Each failure names the file and says what to do: a missing or
    /// unreadable file, a folder instead of a file, bad JSON (with line and column), a truncated
    /// file, JSON that is not a tokenizer (`tokenizer_config.json`, `config.json`), or a component
    /// this build cannot run.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| read_error(path, &name, &e))?;
        Self::from_json_bytes(&bytes, &name)
    }

    /// Loads a tokenizer from the bytes of a `tokenizer.json`; `name` is used in messages.
    pub fn from_json_bytes(bytes: &[u8], name: &str) -> Result<Self, TokenizerError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(
                TokenizerError::new(format!("tokenizer file `{name}` is empty"))
                    .hint("copy or download the tokenizer.json again"),
            );
        }
        let mut doc: Value = serde_json::from_slice(bytes).map_err(|e| json_error(name, &e))?;
        check_shape(name, &doc)?;
        tokenizers::canonicalize_value(&mut doc).map_err(|e| unsupported(name, &e.to_string()))?;
        let tables = Tables::read(name, &doc)?;
        let canonical = serde_json::to_string(&doc)
            .map_err(|e| TokenizerError::new(format!("tokenizer `{name}`: {e}")))?;
        drop(doc);
        let fast = catch_unwind(|| tokenizers::from_json(&canonical))
            .map_err(|_| unsupported(name, "the reader panicked"))?
            .map_err(|e| unsupported(name, &e.to_string()))?;
        Ok(Self::assemble(name, fast, tables, bytes))
    }

    fn assemble(name: &str, fast: PipelineTokenizer, tables: Tables, bytes: &[u8]) -> Self {
        let Tables {
            token_to_id,
            id_to_token,
            vocab_size,
            special_ids,
        } = tables;
        let lookup = |t: &str| token_to_id.get(t).copied();
        // A well-known name counts among the special tokens first, then anywhere (a trained
        // vocabulary can hold `<|endoftext|>` as an ordinary piece).
        let well_known = |names: &[&str]| {
            let special = |t: &str| lookup(t).filter(|id| special_ids.binary_search(id).is_ok());
            (names.iter().find_map(|t| special(t))).or_else(|| names.iter().find_map(|t| lookup(t)))
        };
        let role = |names: &[&str]| {
            names
                .iter()
                .find_map(|r| fast.get_token_for_role(r))
                .and_then(lookup)
        };
        let eos_id = role(&["eos_token", "eos"]).or_else(|| well_known(&WELL_KNOWN_EOS));
        let pad_id = fast
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| role(&["pad_token", "pad"]))
            .or_else(|| well_known(&WELL_KNOWN_PAD));
        let special_tokens_added = fast.get_post_processor().single.n_special();
        let file_truncation_padding = describe_truncation_padding(&fast);
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                fast,
                source: Arc::from(bytes),
                offsets: [OnceLock::new(), OnceLock::new()],
                token_to_id,
                id_to_token,
                vocab_size,
                special_ids,
                eos_id,
                pad_id,
                special_tokens_added,
                file_truncation_padding,
            }),
            special_tokens_as_text: false,
        }
    }

    /// With `true`, special-token strings inside a text (`"[SEP]"`, `"<|endoftext|>"`) are
    /// tokenized as ordinary text instead of becoming the special token's id (the default, as in
    /// the Python package). Added tokens that are not special are still matched.
    #[must_use]
    pub fn with_special_tokens_as_text(mut self, as_text: bool) -> Self {
        self.special_tokens_as_text = as_text;
        self
    }

    /// The file's path (or the name given to [`Tokenizer::from_json_bytes`]).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The number of ids: the largest id of the model's vocabulary or of an added token, plus 1
    /// (the size an embedding table needs). 50,257 for GPT-2, 30,522 for BERT base.
    pub fn vocab_size(&self) -> u32 {
        self.inner.vocab_size
    }

    /// Encodes each text to ids, in input order, in parallel. Truncation and padding configured
    /// in the file are not applied. With `add_special_tokens`, the post-processor's tokens are
    /// added around each text (e.g. `[CLS] … [SEP]`).
    pub fn encode_batch(
        &self,
        texts: &[&str],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>, TokenizerError> {
        let options = EncodeOptions {
            add_special_tokens,
            encode_special_tokens: self.special_tokens_as_text,
            padding: Override::Off,
            truncation: Override::Off,
        };
        let inputs: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        let fast = &self.inner.fast;
        let encodings = catch_unwind(AssertUnwindSafe(|| fast.encode(inputs, &options).wait()))
            .map_err(|_| self.encode_error("the library panicked"))?
            .map_err(|e| self.encode_error(&e.to_string()))?;
        Ok(encodings
            .iter()
            .map(|e| PipelineToken::cast_slice(e.ids()).to_vec())
            .collect())
    }

    /// Like [`Tokenizer::encode_batch`], with each token's offsets: `(start, end)` in
    /// **characters** (Unicode scalar values) of the original text, end exclusive, the same as
    /// `Encoding.offsets` in the Python package. Special tokens added by the post-processor have
    /// `(0, 0)`. Several tokens can share one character's offsets (byte-level BPE splits a
    /// character into several tokens).
    ///
    /// This runs `tokenizers` 0.23 (the first call loads it, about as long as loading the file
    /// again) and is several times slower than [`Tokenizer::encode_batch`]; its ids are checked
    /// against the fast path's, and a difference is an error.
    pub fn encode_batch_with_offsets(
        &self,
        texts: &[&str],
        add_special_tokens: bool,
    ) -> Result<Vec<(Vec<u32>, Vec<(u32, u32)>)>, TokenizerError> {
        let slow = self.offsets_tokenizer()?;
        let encodings = catch_unwind(AssertUnwindSafe(|| {
            slow.encode_batch_char_offsets(texts.to_vec(), add_special_tokens)
        }))
        .map_err(|_| self.encode_error("the offsets library panicked"))?
        .map_err(|e| self.encode_error(&e.to_string()))?;
        let fast = self.encode_batch(texts, add_special_tokens)?;
        let mut out = Vec::with_capacity(texts.len());
        for (row, (encoding, ids)) in encodings.iter().zip(fast).enumerate() {
            if encoding.get_ids() != ids.as_slice() {
                return Err(TokenizerError::new(format!(
                    "tokenizer `{}`: text {row} of the batch gets different ids with offsets \
                     (tokenizers 0.23) than without (tokenizers 1.0)",
                    self.inner.name
                ))
                .hint(
                    "encode without offsets, and report the text so the difference can be fixed",
                ));
            }
            let offsets = encoding
                .get_offsets()
                .iter()
                .map(|&(s, e)| Some((u32::try_from(s).ok()?, u32::try_from(e).ok()?)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.encode_error("an offset does not fit in 32 bits"))?;
            out.push((ids, offsets));
        }
        Ok(out)
    }

    fn offsets_tokenizer(&self) -> Result<&tokenizers023::Tokenizer, TokenizerError> {
        let as_text = self.special_tokens_as_text;
        self.inner.offsets[usize::from(as_text)]
            .get_or_init(|| {
                let name = &self.inner.name;
                let source = &self.inner.source;
                let loaded = catch_unwind(|| tokenizers023::Tokenizer::from_bytes(source))
                    .map_err(|_| "the reader panicked".to_owned())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                let mut tok = loaded.map_err(|e| {
                    TokenizerError::new(format!(
                        "tokenizer `{name}` cannot give offsets: the offsets library \
                         (tokenizers 0.23) cannot read it: {e}"
                    ))
                    .hint("encode without offsets")
                })?;
                tok.with_truncation(None)
                    .map_err(|e| TokenizerError::new(format!("tokenizer `{name}`: {e}")))?;
                tok.with_padding(None);
                tok.set_encode_special_tokens(as_text);
                Ok(tok)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn encode_error(&self, what: &str) -> TokenizerError {
        TokenizerError::new(format!(
            "tokenizer `{}` failed to encode: {what}",
            self.inner.name
        ))
        .hint("this is a bug in the tokenizer library or in mldatabuild; please report it with the text")
    }

    /// Decodes ids to text (special tokens left out with `skip_special_tokens`). An id outside
    /// the vocabulary is an error.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        if let Some(&bad) = ids.iter().find(|&&id| id >= self.inner.vocab_size) {
            return Err(TokenizerError::new(format!(
                "id {bad} is not in the vocabulary of tokenizer `{}` ({} ids)",
                self.inner.name, self.inner.vocab_size
            ))
            .hint("were these ids made with another tokenizer?"));
        }
        let fast = &self.inner.fast;
        catch_unwind(AssertUnwindSafe(|| fast.decode(ids, skip_special_tokens)))
            .map_err(|_| self.decode_error("the library panicked"))?
            .map_err(|e| self.decode_error(&e.to_string()))
    }

    fn decode_error(&self, what: &str) -> TokenizerError {
        TokenizerError::new(format!(
            "tokenizer `{}` failed to decode: {what}",
            self.inner.name
        ))
    }

    /// The token of an id as the vocabulary spells it (the Python package's `id_to_token`:
    /// `"Ġworld"` for GPT-2, `"##s"` for BERT), added tokens included.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token.get(&id).cloned()
    }

    /// The id of a token as the vocabulary spells it; added tokens take precedence.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id.get(token).copied()
    }

    /// The ids of the added tokens flagged `special`, ascending.
    pub fn special_ids(&self) -> &[u32] {
        &self.inner.special_ids
    }

    /// The end-of-text id: the token of the file's `eos_token` role if it names one (only
    /// canonical 2.0 files can), else the first of [`WELL_KNOWN_EOS`] among the special tokens,
    /// else the first of them in the vocabulary: `<|endoftext|>`, `<|end_of_text|>`, `</s>`,
    /// `<eos>`, `[SEP]`.
    pub fn eos_id(&self) -> Option<u32> {
        self.inner.eos_id
    }

    /// The padding id: the file's padding `pad_id` if it configures padding, else the token of
    /// its `pad_token` role, else the first of [`WELL_KNOWN_PAD`] among the special tokens, else
    /// in the vocabulary: `[PAD]`, `<pad>`, `<|pad|>`, `<|padding|>`. GPT-2 has none.
    pub fn pad_id(&self) -> Option<u32> {
        self.inner.pad_id
    }

    /// How many ids `add_special_tokens = true` adds to one sequence (2 for BERT, 0 for GPT-2).
    pub fn special_tokens_added(&self) -> usize {
        self.inner.special_tokens_added
    }

    /// The truncation and padding the file configures, in words (e.g. `"truncation to 128
    /// tokens, padding to 128 tokens with [PAD] (id 0)"`), or `None`. Encoding ignores both.
    pub fn file_truncation_padding(&self) -> Option<String> {
        self.inner.file_truncation_padding.clone()
    }
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.inner.name)
            .field("vocab_size", &self.inner.vocab_size)
            .field("special_tokens_as_text", &self.special_tokens_as_text)
            .finish_non_exhaustive()
    }
}

fn read_error(path: &Path, name: &str, e: &io::Error) -> TokenizerError {
    if path.is_dir() {
        let inside = path.join("tokenizer.json");
        let err = TokenizerError::new(format!("tokenizer `{name}` is a folder, not a file"));
        return if inside.is_file() {
            err.hint(format!("name the file inside it: `{}`", inside.display()))
        } else {
            err.hint("name the tokenizer.json file itself")
        };
    }
    match e.kind() {
        io::ErrorKind::NotFound => {
            TokenizerError::new(format!("tokenizer file `{name}` does not exist"))
                .hint("check the path; a tokenizer is a `tokenizer.json` written by the Hugging Face `tokenizers` library")
        }
        _ => TokenizerError::new(format!("cannot read tokenizer file `{name}`: {e}")),
    }
}

fn json_error(name: &str, e: &serde_json::Error) -> TokenizerError {
    let (line, column) = (e.line(), e.column());
    if e.is_eof() {
        return TokenizerError::new(format!(
            "tokenizer file `{name}` ends in the middle of its JSON (at line {line}, column \
             {column}): it is truncated"
        ))
        .hint("copy or download the tokenizer.json again; an interrupted download leaves a file like this");
    }
    // serde_json's message ends with " at line L column C"; keep the reason only.
    let text = e.to_string();
    let reason = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(reason, _)| reason);
    TokenizerError::new(format!(
        "tokenizer file `{name}` is not valid JSON: {reason} at line {line}, column {column}"
    ))
    .hint(FORMAT_HINT)
}

/// JSON, but is it a tokenizer? Checked before the library sees it, for a better message.
fn check_shape(name: &str, doc: &Value) -> Result<(), TokenizerError> {
    let not_a_tokenizer = |why: String| {
        TokenizerError::new(format!("`{name}` is JSON but not a tokenizer.json: {why}"))
    };
    let Some(obj) = doc.as_object() else {
        return Err(
            not_a_tokenizer(format!("it holds {}, not an object", kind_of(doc))).hint(FORMAT_HINT),
        );
    };
    match obj.get("model") {
        Some(Value::Object(model)) => match model.get("type") {
            Some(Value::String(t)) if MODEL_TYPES.contains(&t.as_str()) => Ok(()),
            // No type: the upgrade pass infers it from the model's keys.
            None => Ok(()),
            Some(t) => Err(unsupported(
                name,
                &format!(
                    "its model type {t} is not one of {}",
                    MODEL_TYPES.join(", ")
                ),
            )),
        },
        Some(other) => Err(not_a_tokenizer(format!(
            "its `model` is {}, not an object",
            kind_of(other)
        ))
        .hint(FORMAT_HINT)),
        None => {
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
            keys.sort_unstable();
            let keys = if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            };
            let err = not_a_tokenizer(format!("it has no `model` (its keys: {keys})"));
            Err(
                if obj.contains_key("tokenizer_class") || obj.contains_key("model_max_length") {
                    err.hint("this looks like tokenizer_config.json, which describes a tokenizer but does not hold it; use the tokenizer.json next to it")
                } else if obj.contains_key("architectures") || obj.contains_key("hidden_size") {
                    err.hint("this looks like a model's config.json; use the tokenizer.json of the same repository")
                } else {
                    err.hint(FORMAT_HINT)
                },
            )
        }
    }
}

const MODEL_TYPES: [&str; 4] = ["BPE", "WordPiece", "Unigram", "WordLevel"];

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn unsupported(name: &str, what: &str) -> TokenizerError {
    TokenizerError::new(format!("tokenizer `{name}` cannot be loaded: {what}")).hint(
        "BPE, WordPiece, Unigram and WordLevel tokenizers written by Hugging Face `tokenizers` \
         load; if this file was written by an old version, re-save it with a recent one (Python: \
         `Tokenizer.from_file(p).save(p)`), else report the component named above",
    )
}

/// Lookup tables read from the canonical JSON, in the Python package's spelling.
struct Tables {
    token_to_id: HashMap<String, u32>,
    id_to_token: HashMap<u32, String>,
    vocab_size: u32,
    special_ids: Vec<u32>,
}

impl Tables {
    fn read(name: &str, doc: &Value) -> Result<Self, TokenizerError> {
        let bad = |what: &str| unsupported(name, what);
        let mut token_to_id = HashMap::new();
        let mut id_to_token = HashMap::new();
        let mut max_id: Option<u32> = None;
        let model = doc
            .get("model")
            .ok_or_else(|| bad("the config has no `model`"))?;
        match model.get("vocab") {
            Some(Value::Object(vocab)) => {
                token_to_id.reserve(vocab.len());
                id_to_token.reserve(vocab.len());
                for (token, id) in vocab {
                    let id = id
                        .as_u64()
                        .and_then(|id| u32::try_from(id).ok())
                        .ok_or_else(|| {
                            bad(&format!("the vocabulary gives `{token}` the id {id}"))
                        })?;
                    token_to_id.insert(token.clone(), id);
                    id_to_token.insert(id, token.clone());
                    max_id = max_id.max(Some(id));
                }
            }
            // Unigram: `[[token, score], …]`, the index is the id.
            Some(Value::Array(vocab)) => {
                for (i, entry) in vocab.iter().enumerate() {
                    let token = entry.get(0).and_then(Value::as_str).ok_or_else(|| {
                        bad(&format!("vocabulary entry {i} is not `[token, score]`"))
                    })?;
                    let id = u32::try_from(i).map_err(|_| bad("the vocabulary is too large"))?;
                    token_to_id.entry(token.to_owned()).or_insert(id);
                    id_to_token.insert(id, token.to_owned());
                    max_id = max_id.max(Some(id));
                }
            }
            _ => return Err(bad("the model has no `vocab` object or array")),
        }
        let mut special_ids = Vec::new();
        if let Some(added) = doc.get("added_tokens").and_then(Value::as_array) {
            for token in added {
                let content = token.get("content").and_then(Value::as_str);
                let id = token
                    .get("id")
                    .and_then(Value::as_u64)
                    .and_then(|id| u32::try_from(id).ok());
                let (Some(content), Some(id)) = (content, id) else {
                    return Err(bad(&format!(
                        "an added token is not `{{\"id\", \"content\", …}}`: {token}"
                    )));
                };
                token_to_id.insert(content.to_owned(), id);
                id_to_token.insert(id, content.to_owned());
                max_id = max_id.max(Some(id));
                if token.get("special").and_then(Value::as_bool) == Some(true) {
                    special_ids.push(id);
                }
            }
        }
        special_ids.sort_unstable();
        special_ids.dedup();
        let vocab_size = match max_id {
            None => 0,
            Some(id) => id
                .checked_add(1)
                .ok_or_else(|| bad("an id is 4294967295"))?,
        };
        Ok(Self {
            token_to_id,
            id_to_token,
            vocab_size,
            special_ids,
        })
    }
}

fn describe_truncation_padding(tok: &PipelineTokenizer) -> Option<String> {
    use tokenizers::{PaddingDirection, PaddingStrategy, TruncationDirection};
    let mut parts = Vec::new();
    if let Some(t) = tok.get_truncation() {
        let mut s = format!("truncation to {} tokens", t.max_length);
        if t.direction == TruncationDirection::Left {
            s.push_str(" (from the left)");
        }
        if t.stride > 0 {
            s.push_str(&format!(" with stride {}", t.stride));
        }
        parts.push(s);
    }
    if let Some(p) = tok.get_padding() {
        let mut s = match p.strategy {
            PaddingStrategy::Fixed(n) => format!("padding to {n} tokens"),
            PaddingStrategy::BatchLongest => "padding to the longest text of each batch".to_owned(),
        };
        if let Some(m) = p.pad_to_multiple_of.filter(|&m| m > 1) {
            s.push_str(&format!(" (a multiple of {m})"));
        }
        s.push_str(&format!(" with {} (id {})", p.pad_token, p.pad_id));
        if p.direction == PaddingDirection::Left {
            s.push_str(" on the left");
        }
        parts.push(s);
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}
