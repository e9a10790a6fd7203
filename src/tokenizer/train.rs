//! Training a new tokenizer, deterministically.
//!
//! The 1.0 trainers are driven directly: this module normalizes and pre-tokenizes the texts with
//! the library's own components (loaded from the same JSON the result is written with, so training
//! and encoding split text the same way), counts words, trains, and writes a `tokenizer.json` in
//! the format the Python package writes (`"version": "1.0"`), which this module and the Python
//! `tokenizers` package both load.
//!
//! | kind | like | normalizer | pre-tokenizer | post-processor | default special tokens |
//! |---|---|---|---|---|---|
//! | `Bpe` | GPT-2 | none | byte-level (GPT-2 regex, all 256 bytes in the vocabulary, no unknown token) | none | `<\|endoftext\|>` |
//! | `WordPiece` | BERT uncased | `BertNormalizer` (lowercase, strip accents, CJK split) | `BertPreTokenizer` | `[CLS] $A [SEP]` | `[UNK] [CLS] [SEP] [PAD] [MASK]` |
//! | `Unigram` | SentencePiece | NFKC | `Metaspace` (`▁`, prepended) | none | `<unk> <s> </s> <pad>` |
//!
//! Special tokens get the first ids, in the order given; the ones a kind needs (WordPiece: `[UNK]`,
//! `[CLS]`, `[SEP]`; Unigram: `<unk>`) are appended when missing. `min_frequency` applies to BPE and
//! WordPiece merges; Unigram has no such knob and ignores it. WordPiece keeps the 1,000 most frequent
//! characters (ties by code point), as the Python `BertWordPieceTokenizer` does.
//!
//! ## Determinism
//!
//! The same texts (in any order) and options give byte-identical JSON, whatever the thread count.
//! The trainers themselves iterate hash maps with per-process random seeds in a few places; each is
//! neutralized here:
//! - words are counted here and handed over sorted;
//! - WordPiece: the `##` continuation of each character would get its id in hash order (and ids
//!   break ties between equally frequent pairs), so they are registered up front, sorted, right
//!   after the special tokens;
//! - Unigram: the EM sums floats in per-thread chunks, so it runs on one thread; its last step
//!   gives characters that fell out of the model scores from a ladder in hash order, and sorts
//!   equal scores in hash order, so the ladder is re-dealt in code-point order and ties are broken
//!   by token.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ahash::AHashMap;
use compact_str::CompactString;
use rayon::prelude::*;
use serde_json::{Value, json};
use tokenizers::pipeline::{
    PipelineTokenizer, PreTokenizer, PreTokenizerScratch, Span, normalize_all,
};
use tokenizers::trainers::{BpeTrainer, UnigramTrainer};
use tokenizers::vocab::bucket_added_vocabulary::AddedToken;

use super::{Tokenizer, TokenizerError};

/// The largest `vocab_size` [`train`] accepts.
pub const MAX_VOCAB_SIZE: u32 = 1 << 22;

/// WordPiece keeps this many characters at most (the Python `BertWordPieceTokenizer` default).
const WORDPIECE_ALPHABET: usize = 1000;

/// Texts handed to the thread pool at a time while counting words.
const COUNT_BATCH_TEXTS: usize = 4096;
const COUNT_BATCH_BYTES: usize = 8 << 20;

/// The kind of tokenizer [`train`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainKind {
    /// Byte-level BPE, like GPT-2.
    Bpe,
    /// WordPiece with BERT's uncased normalization and `[CLS] … [SEP]`.
    WordPiece,
    /// Unigram with Metaspace, like SentencePiece.
    Unigram,
}

impl TrainKind {
    fn name(self) -> &'static str {
        match self {
            Self::Bpe => "BPE",
            Self::WordPiece => "WordPiece",
            Self::Unigram => "Unigram",
        }
    }

    fn default_specials(self) -> &'static [&'static str] {
        match self {
            Self::Bpe => &["<|endoftext|>"],
            Self::WordPiece => &["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"],
            Self::Unigram => &["<unk>", "<s>", "</s>", "<pad>"],
        }
    }

    fn required_specials(self) -> &'static [&'static str] {
        match self {
            Self::Bpe => &[],
            Self::WordPiece => &["[UNK]", "[CLS]", "[SEP]"],
            Self::Unigram => &["<unk>"],
        }
    }
}

/// What to train.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainOptions {
    pub kind: TrainKind,
    /// The vocabulary size to reach, special tokens included (at most; a small corpus can give
    /// fewer). 1 to [`MAX_VOCAB_SIZE`], and enough for the corpus's characters.
    pub vocab_size: u32,
    /// Pairs seen fewer times are not merged (BPE, WordPiece; Unigram ignores it).
    pub min_frequency: u32,
    /// Special tokens, given the first ids in this order. Empty: the kind's defaults.
    pub special_tokens: Vec<String>,
}

/// Trains a tokenizer on `texts` and returns its `tokenizer.json` (UTF-8 JSON bytes), loadable by
/// [`Tokenizer::from_json_bytes`] and by the Python `tokenizers` package. Deterministic: see the
/// module documentation. Runs on the ambient rayon pool (Unigram's EM on one thread).
pub fn train<I, S>(opts: &TrainOptions, texts: I) -> Result<Vec<u8>, TokenizerError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + Sync,
{
    let kind = opts.kind;
    let specials = special_tokens(opts)?;
    check_vocab_size(opts, &specials)?;
    let skeleton = skeleton(kind, &specials);
    let splitter = Splitter::new(kind, &skeleton)?;
    let words = count_words(&splitter, texts)?;
    if words.is_empty() {
        return Err(TokenizerError::new(format!(
            "cannot train a {} tokenizer: the training texts hold no words",
            kind.name()
        ))
        .hint("check the text column: the training texts are empty (or, for WordPiece and Unigram, whitespace only)"));
    }
    let model = match kind {
        TrainKind::Bpe => train_bpe(opts, &specials, &words)?,
        TrainKind::WordPiece => train_wordpiece(opts, &specials, words)?,
        TrainKind::Unigram => train_unigram(opts, &specials, words)?,
    };
    let mut doc = skeleton;
    doc["model"] = model;
    let bytes = serde_json::to_vec_pretty(&doc)
        .map_err(|e| TokenizerError::new(format!("cannot write the trained tokenizer: {e}")))?;
    // A guard against writing a file nothing can read.
    let check = Tokenizer::from_json_bytes(&bytes, "the trained tokenizer").map_err(|e| {
        TokenizerError::new(format!(
            "the trained {} tokenizer does not load: {}",
            kind.name(),
            e.message
        ))
        .hint("this is a bug in mldatabuild; please report it")
    })?;
    if check.vocab_size() > opts.vocab_size {
        return Err(TokenizerError::new(format!(
            "the trained {} tokenizer has {} ids, more than vocab_size {}",
            kind.name(),
            check.vocab_size(),
            opts.vocab_size
        ))
        .hint("this is a bug in mldatabuild; please report it"));
    }
    Ok(bytes)
}

fn special_tokens(opts: &TrainOptions) -> Result<Vec<String>, TokenizerError> {
    let mut out: Vec<String> = if opts.special_tokens.is_empty() {
        opts.kind
            .default_specials()
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        opts.special_tokens.clone()
    };
    if let Some(bad) = out.iter().find(|t| t.trim().is_empty()) {
        return Err(TokenizerError::new(format!(
            "special token `{}` is empty or whitespace",
            bad.escape_debug()
        ))
        .hint("remove it from `special_tokens`"));
    }
    for required in opts.kind.required_specials() {
        if !out.iter().any(|t| t == required) {
            out.push((*required).to_owned());
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|t| seen.insert(t.clone()));
    Ok(out)
}

fn check_vocab_size(opts: &TrainOptions, specials: &[String]) -> Result<(), TokenizerError> {
    let v = opts.vocab_size;
    if v == 0 || v > MAX_VOCAB_SIZE {
        return Err(TokenizerError::new(format!(
            "vocab_size {v} is out of range (1 to {MAX_VOCAB_SIZE})"
        ))
        .hint("a few thousand to a few hundred thousand is usual (GPT-2: 50257, BERT: 30522)"));
    }
    let floor = match opts.kind {
        TrainKind::Bpe => {
            let alphabet = byte_alphabet();
            specials.len() + 256
                - specials
                    .iter()
                    .filter(|s| {
                        s.chars().count() == 1
                            && alphabet.contains(&s.chars().next().unwrap_or(' '))
                    })
                    .count()
        }
        _ => specials.len() + 1,
    };
    if (v as usize) < floor {
        let why = match opts.kind {
            TrainKind::Bpe => format!(
                "a byte-level BPE vocabulary starts with the 256 byte tokens and {} special token{}",
                specials.len(),
                if specials.len() == 1 { "" } else { "s" }
            ),
            _ => format!("{} special tokens leave no room for text", specials.len()),
        };
        return Err(TokenizerError::new(format!(
            "vocab_size {v} is too small for a {} tokenizer: {why}",
            opts.kind.name()
        ))
        .hint(format!("raise vocab_size to at least {floor}")));
    }
    Ok(())
}

fn too_small(opts: &TrainOptions, needed: usize, why: &str) -> TokenizerError {
    TokenizerError::new(format!(
        "vocab_size {} is too small for this corpus: a {} vocabulary needs {needed} tokens before \
         any merge ({why})",
        opts.vocab_size,
        opts.kind.name()
    ))
    .hint(format!(
        "raise vocab_size to at least {needed} (a few thousand is usual)"
    ))
}

/// The tokenizer.json without its model, in the Python package's format.
fn skeleton(kind: TrainKind, specials: &[String]) -> Value {
    let added: Vec<Value> = specials
        .iter()
        .enumerate()
        .map(|(id, content)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let (normalizer, pre_tokenizer, post_processor, decoder) = match kind {
        TrainKind::Bpe => (
            Value::Null,
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}),
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}),
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        ),
        TrainKind::WordPiece => {
            let special = |t: &str| {
                let id = specials.iter().position(|s| s == t).unwrap_or(0);
                json!({"id": t, "ids": [id], "tokens": [t]})
            };
            (
                json!({"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true}),
                json!({"type": "BertPreTokenizer"}),
                json!({
                    "type": "TemplateProcessing",
                    "single": [
                        {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}
                    ],
                    "pair": [
                        {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                        {"Sequence": {"id": "B", "type_id": 1}},
                        {"SpecialToken": {"id": "[SEP]", "type_id": 1}}
                    ],
                    "special_tokens": {"[CLS]": special("[CLS]"), "[SEP]": special("[SEP]")}
                }),
                json!({"type": "WordPiece", "prefix": "##", "cleanup": true}),
            )
        }
        TrainKind::Unigram => {
            let metaspace = json!({"type": "Metaspace", "replacement": "▁",
                                   "prepend_scheme": "always", "split": true});
            (
                json!({"type": "NFKC"}),
                metaspace.clone(),
                Value::Null,
                metaspace,
            )
        }
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": null
    })
}

/// Splits training text into words exactly as the trained tokenizer will: its normalizers and
/// pre-tokenizer, loaded from the skeleton with a placeholder model.
struct Splitter {
    tok: PipelineTokenizer,
    /// Byte-level BPE: each byte of a word spelled as GPT-2's printable character for it.
    byte_level: Option<[char; 256]>,
}

impl Splitter {
    fn new(kind: TrainKind, skeleton: &Value) -> Result<Self, TokenizerError> {
        let alphabet = byte_alphabet();
        let mut doc = skeleton.clone();
        doc["added_tokens"] = json!([]);
        doc["post_processor"] = Value::Null;
        doc["model"] = match kind {
            TrainKind::Bpe => {
                let vocab: serde_json::Map<String, Value> = alphabet
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.to_string(), json!(i)))
                    .collect();
                json!({"type": "BPE", "dropout": null, "unk_token": null,
                       "continuing_subword_prefix": null, "end_of_word_suffix": null,
                       "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                       "vocab": vocab, "merges": []})
            }
            TrainKind::WordPiece => json!({"type": "WordPiece", "unk_token": "[UNK]",
                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                "vocab": {"[UNK]": 0}}),
            TrainKind::Unigram => json!({"type": "Unigram", "unk_id": 0,
                "vocab": [["<unk>", 0.0]], "byte_fallback": false}),
        };
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| TokenizerError::new(format!("cannot prepare training: {e}")))?;
        let tok = Tokenizer::from_json_bytes(&bytes, "the training pre-tokenizer")?;
        Ok(Self {
            tok: tok.inner.fast.clone(),
            byte_level: (kind == TrainKind::Bpe).then_some(alphabet),
        })
    }

    fn words(
        &self,
        text: &str,
        scratch: &mut (PreTokenizerScratch, Vec<Span>),
        counts: &mut HashMap<String, u64>,
    ) -> Result<(), TokenizerError> {
        let fail = |e: &dyn std::fmt::Display| {
            TokenizerError::new(format!("cannot split a training text into words: {e}"))
        };
        let normalized =
            normalize_all(self.tok.get_normalizers(), text, 0).map_err(|e| fail(&e))?;
        let (pre, spans) = scratch;
        spans.clear();
        self.tok
            .get_pre_tokenizer()
            .pre_tokenize(&normalized, pre, spans)
            .map_err(|e| fail(&e))?;
        for span in spans.iter() {
            let Some(piece) = normalized.get(span.range()).filter(|p| !p.is_empty()) else {
                continue;
            };
            let word = match &self.byte_level {
                Some(table) => piece.bytes().map(|b| table[usize::from(b)]).collect(),
                None => piece.to_owned(),
            };
            *counts.entry(word).or_default() += 1;
        }
        Ok(())
    }
}

/// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the others for U+0100 on.
fn byte_alphabet() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in (0u8..=255).zip(table.iter_mut()) {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        *slot = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).unwrap_or(char::REPLACEMENT_CHARACTER);
            next += 1;
            c
        };
    }
    table
}

/// Word counts over all texts, sorted by word.
fn count_words<I, S>(splitter: &Splitter, texts: I) -> Result<Vec<(String, u64)>, TokenizerError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + Sync,
{
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut batch: Vec<S> = Vec::new();
    let mut bytes = 0;
    let flush = |batch: &mut Vec<S>, counts: &mut HashMap<String, u64>| {
        let part = batch
            .par_iter()
            .try_fold(
                || (HashMap::new(), (PreTokenizerScratch::default(), Vec::new())),
                |(mut map, mut scratch), text| {
                    splitter.words(text.as_ref(), &mut scratch, &mut map)?;
                    Ok::<_, TokenizerError>((map, scratch))
                },
            )
            .map(|r| r.map(|(map, _)| map))
            .try_reduce(HashMap::new, |a, b| {
                let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                for (w, n) in small {
                    *big.entry(w).or_default() += n;
                }
                Ok(big)
            })?;
        for (w, n) in part {
            *counts.entry(w).or_default() += n;
        }
        batch.clear();
        Ok::<_, TokenizerError>(())
    };
    for text in texts {
        bytes += text.as_ref().len();
        batch.push(text);
        if batch.len() >= COUNT_BATCH_TEXTS || bytes >= COUNT_BATCH_BYTES {
            flush(&mut batch, &mut counts)?;
            bytes = 0;
        }
    }
    flush(&mut batch, &mut counts)?;
    let mut words: Vec<(String, u64)> = counts.into_iter().collect();
    words.sort_unstable();
    Ok(words)
}

fn added_tokens(specials: &[String]) -> Vec<AddedToken> {
    specials
        .iter()
        .map(|s| AddedToken::from(s.clone(), true))
        .collect()
}

fn trainer_error(kind: TrainKind, e: &dyn std::fmt::Display) -> TokenizerError {
    TokenizerError::new(format!(
        "training the {} tokenizer failed: {e}",
        kind.name()
    ))
}

fn train_bpe(
    opts: &TrainOptions,
    specials: &[String],
    words: &[(String, u64)],
) -> Result<Value, TokenizerError> {
    let alphabet = byte_alphabet();
    let trainer = BpeTrainer::builder()
        .vocab_size(opts.vocab_size as usize)
        .min_frequency(u64::from(opts.min_frequency))
        .show_progress(false)
        .special_tokens(added_tokens(specials))
        .initial_alphabet(alphabet.iter().copied().collect())
        .build();
    let counts: AHashMap<CompactString, u64> = words
        .iter()
        .map(|(w, n)| (CompactString::from(w.as_str()), *n))
        .collect();
    let (vocab, merges, _) = trainer
        .do_train(&counts)
        .map_err(|e| trainer_error(TrainKind::Bpe, &e))?;
    let vocab: BTreeMap<String, u32> = vocab.into_iter().collect();
    let merges: Vec<[String; 2]> = merges.into_iter().map(|(a, b)| [a, b]).collect();
    Ok(json!({
        "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
        "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
        "ignore_merges": false, "vocab": vocab, "merges": merges
    }))
}

fn train_wordpiece(
    opts: &TrainOptions,
    specials: &[String],
    mut words: Vec<(String, u64)>,
) -> Result<Value, TokenizerError> {
    // The alphabet: the most frequent characters, ties by code point.
    let mut freq: HashMap<char, u64> = HashMap::new();
    for (w, n) in &words {
        for c in w.chars() {
            *freq.entry(c).or_default() += n;
        }
    }
    let mut chars: Vec<(char, u64)> = freq.into_iter().collect();
    chars.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if chars.len() > WORDPIECE_ALPHABET {
        let kept: BTreeSet<char> = chars[..WORDPIECE_ALPHABET].iter().map(|c| c.0).collect();
        for (w, _) in &mut words {
            if !w.chars().all(|c| kept.contains(&c)) {
                w.retain(|c| kept.contains(&c));
            }
        }
        words.retain(|(w, _)| !w.is_empty());
        // Removing characters can make two words equal: count them once.
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        for (w, n) in words {
            *merged.entry(w).or_default() += n;
        }
        words = merged.into_iter().collect();
    }
    let alphabet: BTreeSet<char> = words.iter().flat_map(|(w, _)| w.chars()).collect();
    let continuations: BTreeSet<String> = words
        .iter()
        .flat_map(|(w, _)| w.chars().skip(1))
        .map(|c| format!("##{c}"))
        .collect();
    let mut initial: BTreeSet<String> = specials.iter().cloned().collect();
    initial.extend(alphabet.iter().map(char::to_string));
    initial.extend(continuations.iter().cloned());
    if initial.len() > opts.vocab_size as usize {
        return Err(too_small(
            opts,
            initial.len(),
            &format!(
                "{} special tokens, {} characters and {} `##` continuations",
                specials.len(),
                alphabet.len(),
                continuations.len()
            ),
        ));
    }
    // Continuations get their ids right after the special tokens, in a fixed order.
    let mut registered = added_tokens(specials);
    registered.extend(
        continuations
            .iter()
            .filter(|c| !specials.contains(c))
            .map(|c| AddedToken::from(c.clone(), false)),
    );
    let trainer = BpeTrainer::builder()
        .vocab_size(opts.vocab_size as usize)
        .min_frequency(u64::from(opts.min_frequency))
        .show_progress(false)
        .special_tokens(registered)
        .continuing_subword_prefix("##".to_owned())
        .build();
    let counts: AHashMap<CompactString, u64> = words
        .iter()
        .map(|(w, n)| (CompactString::from(w.as_str()), *n))
        .collect();
    let (vocab, _merges, _) = trainer
        .do_train(&counts)
        .map_err(|e| trainer_error(TrainKind::WordPiece, &e))?;
    let vocab: BTreeMap<String, u32> = vocab.into_iter().collect();
    Ok(json!({
        "type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
        "max_input_chars_per_word": 100, "vocab": vocab
    }))
}

fn train_unigram(
    opts: &TrainOptions,
    specials: &[String],
    words: Vec<(String, u64)>,
) -> Result<Value, TokenizerError> {
    let chars: BTreeSet<char> = words.iter().flat_map(|(w, _)| w.chars()).collect();
    let needed = specials.len() + chars.len();
    if needed > opts.vocab_size as usize {
        return Err(too_small(
            opts,
            needed,
            &format!(
                "{} special tokens and {} characters",
                specials.len(),
                chars.len()
            ),
        ));
    }
    let unk = specials.iter().position(|s| s == "<unk>").unwrap_or(0);
    let trainer = UnigramTrainer::builder()
        .show_progress(false)
        .vocab_size(opts.vocab_size)
        .special_tokens(added_tokens(specials))
        .unk_token(Some(specials[unk].clone()))
        .build()
        .map_err(|e| trainer_error(TrainKind::Unigram, &e))?;
    let sentences: Vec<(String, u32)> = words
        .into_iter()
        .map(|(w, n)| (w, u32::try_from(n).unwrap_or(u32::MAX)))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| trainer_error(TrainKind::Unigram, &e))?;
    let mut model = tokenizers::models::unigram::Unigram::default();
    pool.install(|| trainer.do_train(sentences, &mut model))
        .map_err(|e| trainer_error(TrainKind::Unigram, &e))?;
    let vocab = canonical_unigram_vocab(model.vocab(), specials.len());
    let vocab: Vec<Value> = vocab
        .into_iter()
        .map(|(token, score)| json!([token, score]))
        .collect();
    Ok(json!({"type": "Unigram", "unk_id": unk, "vocab": vocab, "byte_fallback": false}))
}

/// The trained Unigram vocabulary, made independent of the trainer's hash-map order: the scores
/// its last step deals to characters missing from the model (`min_score + k × 0.0001`, k in hash
/// order) are re-dealt in code-point order, and pieces are sorted by score, then token. Special
/// tokens stay first, in order.
fn canonical_unigram_vocab(vocab: &[(String, f64)], n_specials: usize) -> Vec<(String, f64)> {
    let n_specials = n_specials.min(vocab.len());
    let (specials, pieces) = vocab.split_at(n_specials);
    let mut pieces: Vec<(String, f64)> = pieces.to_vec();
    let min = pieces.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    if min.is_finite() {
        // The ladder, computed as the trainer computes it.
        let single_chars = pieces.iter().filter(|p| p.0.chars().count() == 1).count();
        let mut ladder = std::collections::HashSet::new();
        let mut penalty = 0.0;
        for _ in 0..single_chars {
            ladder.insert((min + penalty).to_bits());
            penalty += 0.0001;
        }
        let on_ladder: Vec<usize> = (0..pieces.len())
            .filter(|&i| {
                pieces[i].0.chars().count() == 1 && ladder.contains(&pieces[i].1.to_bits())
            })
            .collect();
        let mut scores: Vec<f64> = on_ladder.iter().map(|&i| pieces[i].1).collect();
        scores.sort_by(f64::total_cmp);
        let mut tokens: Vec<String> = on_ladder.iter().map(|&i| pieces[i].0.clone()).collect();
        tokens.sort_unstable();
        for ((&i, token), score) in on_ladder.iter().zip(tokens).zip(scores) {
            pieces[i] = (token, score);
        }
    }
    pieces.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    specials.iter().cloned().chain(pieces).collect()
}
