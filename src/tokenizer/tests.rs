use std::path::{Path, PathBuf};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizers")
        .join(name)
        .join("tokenizer.json")
}

fn gpt2() -> Tokenizer {
    Tokenizer::from_file(&fixture("gpt2")).unwrap()
}

fn bert() -> Tokenizer {
    Tokenizer::from_file(&fixture("minilm-bert")).unwrap()
}

fn one(tok: &Tokenizer, text: &str, add_special_tokens: bool) -> Vec<u32> {
    tok.encode_batch(&[text], add_special_tokens)
        .unwrap()
        .pop()
        .unwrap()
}

fn tokens(tok: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|&id| tok.id_to_token(id).unwrap()).collect()
}

/// A small deterministic generator (64-bit LCG), so tests need no data files.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "dataset",
    "build",
    "tokenizer",
    "training",
    "model",
    "Rust",
    "Python",
    "parquet",
    "stage",
    "reproducible",
    "hashing",
    "lockfile",
    "column",
    "rows",
    "validation",
    "split",
    "seed",
    "window",
    "stride",
    "padding",
    "truncation",
    "vocabulary",
    "merge",
    "byte",
    "level",
    "encoding",
    "decoding",
    "HELLO",
    "World",
    "McDonald's",
    "don't",
    "it's",
    "we'll",
    "naïve",
    "café",
    "résumé",
    "Zürich",
    "São",
    "Paulo",
    "straße",
    "ﬁnance",
    "e\u{301}cole",
    "n\u{303}",
];

const SYMBOLS: &[&str] = &[
    ",", ".", "!", "?", ";", ":", "-", "--", "...", "(", ")", "[", "]", "{", "}", "\"", "'", "/",
    "\\", "@", "#", "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`", "_",
];

const EXOTIC: &[&str] = &[
    "👋",
    "👋🏽",
    "🇫🇷",
    "👩‍👩‍👧",
    "😀😀😀",
    "世界",
    "你好，世界！",
    "日本語のテキスト",
    "한국어",
    "Привет, мир",
    "Γειά σου",
    "שלום",
    "مرحبا",
    "नमस्ते",
    "ไทย",
    "\u{200b}",
    "\u{feff}",
    "\u{0}",
    "\u{7f}",
    "\u{fffd}",
    "a\u{308}",
    "Å",
    "\u{1d400}",
    "½",
    "①",
    "™",
    "\u{a0}",
];

const SPECIALS: &[&str] = &[
    "<|endoftext|>",
    "[SEP]",
    "[CLS]",
    "[PAD]",
    "[MASK]",
    "[UNK]",
    "<s>",
    "</s>",
    "<unk>",
    "<pad>",
    "<|endoftext|><|endoftext|>",
    "[sep]",
    "< |endoftext| >",
    "[SEP ]",
];

const SPACES: &[&str] = &[
    " ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "\r\n", "    \t  ",
];

fn sentence(rng: &mut Lcg) -> String {
    let mut s = String::new();
    for _ in 0..3 + rng.below(20) {
        match rng.below(20) {
            0 => s.push_str(rng.pick(SYMBOLS)),
            1 => s.push_str(&rng.next().to_string()),
            2 => s.push_str(&format!("{}.{}", rng.below(1000), rng.below(100))),
            3 => s.push_str(rng.pick(EXOTIC)),
            4 => s.push_str(rng.pick(SPECIALS)),
            5 => s.push_str(rng.pick(SPACES)),
            _ => {
                let w = rng.pick(WORDS);
                if rng.below(8) == 0 {
                    s.push_str(&w.to_uppercase());
                } else {
                    s.push_str(w);
                }
            }
        }
        if rng.below(4) != 0 {
            s.push(' ');
        }
    }
    s
}

/// Mixed texts: empty, whitespace-only, short, sentences with symbols, numbers, emoji, CJK,
/// combining marks, special-token strings, whitespace runs, and a few long ones (past the
/// library's 16 KB parallel chunking threshold).
fn varied_texts(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Lcg(seed);
    let mut out = vec![
        String::new(),
        " ".to_owned(),
        "\n\n\t ".to_owned(),
        "Hello world".to_owned(),
        "Hello world, tokenizers!".to_owned(),
        "<|endoftext|>".to_owned(),
        "[SEP]".to_owned(),
        "a<|endoftext|>b [CLS][SEP]c".to_owned(),
        "x".repeat(300),
        "🙂".repeat(50),
        "ab".repeat(5000),
    ];
    while out.len() < n {
        let text = match rng.below(30) {
            0 => (0..400)
                .map(|_| sentence(&mut rng))
                .collect::<Vec<_>>()
                .join(" "),
            1 => rng.pick(EXOTIC).repeat(1 + rng.below(40)),
            2 => rng.pick(SPACES).repeat(1 + rng.below(10)),
            _ => (0..=rng.below(4))
                .map(|_| sentence(&mut rng))
                .collect::<Vec<_>>()
                .join(rng.pick(SPACES)),
        };
        out.push(text);
    }
    out
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

#[test]
fn gpt2_known_answer() {
    let tok = gpt2();
    assert_eq!(one(&tok, "Hello world", true), [15496, 995]);
    assert_eq!(one(&tok, "Hello world", false), [15496, 995]);
    assert_eq!(tokens(&tok, &[15496, 995]), ["Hello", "Ġworld"]);
    assert_eq!(tok.vocab_size(), 50257);
    assert_eq!(tok.special_tokens_added(), 0);
    assert_eq!(tok.special_ids(), [50256]);
    assert_eq!(tok.eos_id(), Some(50256));
    assert_eq!(tok.pad_id(), None);
    assert_eq!(tok.file_truncation_padding(), None);
    assert_eq!(tok.token_to_id("Ġworld"), Some(995));
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(50256));
    assert_eq!(tok.id_to_token(50256).as_deref(), Some("<|endoftext|>"));
    assert_eq!(tok.id_to_token(50257), None);
    assert_eq!(tok.token_to_id("not a token at all"), None);
}

#[test]
fn bert_known_answer_without_the_files_padding() {
    let tok = bert();
    let with = one(&tok, "Hello world, tokenizers!", true);
    assert_eq!(with, [101, 7592, 2088, 1010, 19204, 17629, 2015, 999, 102]);
    assert_eq!(
        tokens(&tok, &with),
        [
            "[CLS]", "hello", "world", ",", "token", "##izer", "##s", "!", "[SEP]"
        ]
    );
    let without = one(&tok, "Hello world, tokenizers!", false);
    assert_eq!(without, with[1..with.len() - 1]);
    assert_eq!(one(&tok, "", true), [101, 102]);
    assert!(one(&tok, "", false).is_empty());
    assert_eq!(tok.vocab_size(), 30522);
    assert_eq!(tok.special_tokens_added(), 2);
    assert_eq!(tok.special_ids(), [0, 100, 101, 102, 103]);
    assert_eq!(tok.eos_id(), Some(102));
    assert_eq!(tok.pad_id(), Some(0));
    assert_eq!(
        tok.file_truncation_padding().as_deref(),
        Some("truncation to 128 tokens, padding to 128 tokens with [PAD] (id 0)")
    );
}

#[test]
fn special_tokens_added_matches_what_encoding_adds() {
    for tok in [gpt2(), bert()] {
        let texts = varied_texts(50, 7);
        let texts = refs(&texts);
        let with = tok.encode_batch(&texts, true).unwrap();
        let without = tok.encode_batch(&texts, false).unwrap();
        for (a, b) in with.iter().zip(&without) {
            assert_eq!(a.len(), b.len() + tok.special_tokens_added());
        }
    }
}

#[test]
fn special_token_strings_in_text() {
    let tok = gpt2();
    let text = "a <|endoftext|> b";
    assert_eq!(one(&tok, text, false), [64, 220, 50256, 275]);
    let plain = tok.clone().with_special_tokens_as_text(true);
    let ids = one(&plain, text, false);
    assert!(!ids.contains(&50256), "{ids:?}");
    assert_eq!(plain.decode(&ids, false).unwrap(), text);
    // The shared tables are not affected.
    assert_eq!(one(&tok, text, false), [64, 220, 50256, 275]);

    let tok = bert();
    let ids = one(&tok, "a [SEP] b", false);
    assert_eq!(tokens(&tok, &ids), ["a", "[SEP]", "b"]);
    let plain = tok.with_special_tokens_as_text(true);
    let ids = one(&plain, "a [SEP] b", false);
    assert_eq!(tokens(&plain, &ids), ["a", "[", "sep", "]", "b"]);
}

#[test]
fn decode_round_trips() {
    let tok = gpt2();
    for text in varied_texts(200, 11) {
        let ids = one(&tok, &text, false);
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
    let ids = one(&tok, "Hello<|endoftext|> world", false);
    assert_eq!(tok.decode(&ids, true).unwrap(), "Hello world");

    let tok = bert();
    let ids = one(&tok, "Hello world, tokenizers!", true);
    assert_eq!(tok.decode(&ids, true).unwrap(), "hello world, tokenizers!");
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        "[CLS] hello world, tokenizers! [SEP]"
    );
}

#[test]
fn decode_rejects_ids_outside_the_vocabulary() {
    let err = gpt2().decode(&[15496, 50257], false).unwrap_err();
    assert!(
        err.message.contains("id 50257 is not in the vocabulary"),
        "{err}"
    );
    assert!(err.message.contains("50257 ids"), "{err}");
    assert!(err.hint.is_some());
    assert_eq!(gpt2().decode(&[], false).unwrap(), "");
}

#[test]
fn batches_keep_input_order_and_match_single_encodes() {
    for tok in [gpt2(), bert()] {
        let texts = varied_texts(300, 3);
        let batch = tok.encode_batch(&refs(&texts), true).unwrap();
        assert_eq!(batch.len(), texts.len());
        for (text, ids) in texts.iter().zip(&batch) {
            assert_eq!(&one(&tok, text, true), ids, "{text:?}");
        }
    }
}

#[test]
fn empty_and_unusual_texts_do_not_panic() {
    let texts: Vec<String> = [
        "",
        " ",
        "\u{0}",
        "\u{0}\u{0}abc",
        "🙂",
        "👩‍👩‍👧‍👦",
        "你好，世界！",
        "e\u{301}\u{301}\u{301}",
        "\u{202e}rtl\u{202c}",
        "\u{fffd}",
        "\u{10ffff}",
        "\u{e000}",
        "a\u{200d}b",
        "\t\r\n",
        "<|endoftext|>",
        "[SEP][SEP]",
        "[PAD]",
        "##",
        "Ġ",
        "▁",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain(EXOTIC.iter().map(|s| (*s).to_owned()))
    .chain(
        [
            &"\u{301}".repeat(200),
            &"字".repeat(20_000),
            &" ".repeat(20_000),
        ]
        .map(Clone::clone),
    )
    .collect();
    let texts = refs(&texts);
    for tok in [gpt2(), bert()] {
        for add in [true, false] {
            let ids = tok.encode_batch(&texts, add).unwrap();
            let with_offsets = tok.encode_batch_with_offsets(&texts, add).unwrap();
            for ((ids, (same, offsets)), text) in ids.iter().zip(&with_offsets).zip(&texts) {
                assert_eq!(ids, same);
                assert_eq!(ids.len(), offsets.len());
                let chars = text.chars().count() as u32;
                assert!(
                    offsets.iter().all(|&(s, e)| s <= e && e <= chars),
                    "{text:?}"
                );
                tok.decode(ids, false).unwrap();
                tok.decode(ids, true).unwrap();
            }
        }
    }
    assert_eq!(tok_empty(&gpt2()), Vec::<Vec<u32>>::new());
}

fn tok_empty(tok: &Tokenizer) -> Vec<Vec<u32>> {
    tok.encode_batch(&[], true).unwrap()
}

#[test]
fn offsets_are_character_offsets_like_python() {
    let tok = gpt2();
    let out = tok
        .encode_batch_with_offsets(&["Hello world, tokenizers!", "héllo 👋🏽 世界"], false)
        .unwrap();
    assert_eq!(out[0].0, [15496, 995, 11, 11241, 11341, 0]);
    assert_eq!(
        out[0].1,
        [(0, 5), (5, 11), (11, 12), (12, 18), (18, 23), (23, 24)]
    );
    // Known answer from the Python package (`Encoding.offsets`).
    assert_eq!(
        out[1].0,
        [
            71, 2634, 18798, 50169, 233, 8582, 237, 121, 220, 10310, 244, 45911, 234
        ]
    );
    assert_eq!(
        out[1].1,
        [
            (0, 1),
            (1, 2),
            (2, 5),
            (5, 7),
            (6, 7),
            (7, 8),
            (7, 8),
            (7, 8),
            (8, 9),
            (9, 10),
            (9, 10),
            (10, 11),
            (10, 11)
        ]
    );

    let tok = bert();
    let out = tok
        .encode_batch_with_offsets(&["Hello world, tokenizers!"], true)
        .unwrap();
    assert_eq!(
        out[0].0,
        [101, 7592, 2088, 1010, 19204, 17629, 2015, 999, 102]
    );
    assert_eq!(
        out[0].1,
        [
            (0, 0),
            (0, 5),
            (6, 11),
            (11, 12),
            (13, 18),
            (18, 22),
            (22, 23),
            (23, 24),
            (0, 0)
        ]
    );
    let plain = tok.with_special_tokens_as_text(true);
    let out = plain
        .encode_batch_with_offsets(&["a [SEP] b"], false)
        .unwrap();
    assert_eq!(tokens(&plain, &out[0].0), ["a", "[", "sep", "]", "b"]);
    assert_eq!(out[0].1, [(0, 1), (2, 3), (3, 6), (6, 7), (8, 9)]);
}

#[test]
fn offsets_path_gives_the_fast_paths_ids() {
    for tok in [gpt2(), bert()] {
        let texts = varied_texts(300, 5);
        let texts = refs(&texts);
        for add in [true, false] {
            let fast = tok.encode_batch(&texts, add).unwrap();
            let slow = tok.encode_batch_with_offsets(&texts, add).unwrap();
            for ((a, (b, _)), text) in fast.iter().zip(&slow).zip(&texts) {
                assert_eq!(a, b, "{text:?}");
            }
        }
    }
}

#[test]
fn tokenizer_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Tokenizer>();
}

fn temp_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn error_missing_file() {
    let err = Tokenizer::from_file(Path::new("/nonexistent/dir/tokenizer.json")).unwrap_err();
    assert_eq!(
        err.message,
        "tokenizer file `/nonexistent/dir/tokenizer.json` does not exist"
    );
    assert!(err.hint.unwrap().contains("tokenizer.json"));
}

#[test]
fn error_folder_instead_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Tokenizer::from_file(dir.path()).unwrap_err();
    assert!(err.message.ends_with("is a folder, not a file"), "{err}");
    assert_eq!(
        err.hint.as_deref(),
        Some("name the tokenizer.json file itself")
    );
    temp_file(&dir, "tokenizer.json", b"{}");
    let err = Tokenizer::from_file(dir.path()).unwrap_err();
    assert!(err.hint.unwrap().contains("tokenizer.json`"));
}

#[test]
fn error_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(fixture("minilm-bert")).unwrap();
    let path = temp_file(&dir, "tokenizer.json", &full[..full.len() / 2]);
    let err = Tokenizer::from_file(&path).unwrap_err();
    let name = path.display().to_string();
    assert!(
        err.message.starts_with(&format!(
            "tokenizer file `{name}` ends in the middle of its JSON (at line "
        )),
        "{err}"
    );
    assert!(err.message.ends_with("it is truncated"), "{err}");
    assert!(err.hint.unwrap().contains("again"));

    let path = temp_file(&dir, "empty.json", b"");
    let err = Tokenizer::from_file(&path).unwrap_err();
    assert_eq!(
        err.message,
        format!("tokenizer file `{}` is empty", path.display())
    );
}

#[test]
fn error_not_json() {
    let err = Tokenizer::from_json_bytes(b"[PAD]\n[unused0]\n", "vocab.txt").unwrap_err();
    assert_eq!(
        err.message,
        "tokenizer file `vocab.txt` is not valid JSON: expected value at line 1, column 2"
    );
    assert!(err.hint.unwrap().contains("vocab.txt"));
    let err = Tokenizer::from_json_bytes(b"{\"model\": {}\n,,}", "t.json").unwrap_err();
    assert!(err.message.contains("at line 2, column 2"), "{err}");
    let err = Tokenizer::from_json_bytes(&[0x0a, 0x0b, 0xff, 0x00], "spm.model").unwrap_err();
    assert!(
        err.message
            .starts_with("tokenizer file `spm.model` is not valid JSON"),
        "{err}"
    );
}

#[test]
fn error_json_that_is_not_a_tokenizer() {
    let err = Tokenizer::from_json_bytes(
        br#"{"tokenizer_class": "BertTokenizer", "model_max_length": 512}"#,
        "tokenizer_config.json",
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "`tokenizer_config.json` is JSON but not a tokenizer.json: it has no `model` (its keys: model_max_length, tokenizer_class)"
    );
    assert!(
        err.hint
            .unwrap()
            .contains("looks like tokenizer_config.json")
    );
    let err = Tokenizer::from_json_bytes(br#"{"architectures": ["BertModel"]}"#, "config.json")
        .unwrap_err();
    assert!(err.hint.unwrap().contains("config.json"));
    let err = Tokenizer::from_json_bytes(b"[1, 2]", "list.json").unwrap_err();
    assert_eq!(
        err.message,
        "`list.json` is JSON but not a tokenizer.json: it holds an array, not an object"
    );
    let err = Tokenizer::from_json_bytes(br#"{"model": "BPE"}"#, "m.json").unwrap_err();
    assert!(
        err.message
            .ends_with("its `model` is a string, not an object"),
        "{err}"
    );
}

#[test]
fn error_unsupported_component() {
    let text = std::fs::read_to_string(fixture("minilm-bert")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["model"]["type"] = "FancyModel".into();
    let err = Tokenizer::from_json_bytes(doc.to_string().as_bytes(), "fancy.json").unwrap_err();
    assert!(
        err.message
            .starts_with("tokenizer `fancy.json` cannot be loaded: "),
        "{err}"
    );
    assert!(
        err.message.ends_with(
            "its model type \"FancyModel\" is not one of BPE, WordPiece, Unigram, WordLevel"
        ),
        "{err}"
    );
    assert!(err.hint.unwrap().contains("WordPiece"));

    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["pre_tokenizer"] = serde_json::json!({"type": "NoSuchPreTokenizer"});
    let err = Tokenizer::from_json_bytes(doc.to_string().as_bytes(), "pre.json").unwrap_err();
    assert!(
        err.message
            .starts_with("tokenizer `pre.json` cannot be loaded: "),
        "{err}"
    );
    assert!(err.message.contains("NoSuchPreTokenizer"), "{err}");

    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["model"]["vocab"]["hello"] = (-3).into();
    let err = Tokenizer::from_json_bytes(doc.to_string().as_bytes(), "neg.json").unwrap_err();
    assert!(err.message.contains("gives `hello` the id -3"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Training

fn corpus(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|_| {
            let mut s = sentence(&mut rng);
            if rng.below(10) == 0 {
                s.push_str(" 日本語のテキスト 世界");
            }
            s
        })
        .collect()
}

fn opts(kind: TrainKind, vocab_size: u32) -> TrainOptions {
    TrainOptions {
        kind,
        vocab_size,
        min_frequency: 2,
        special_tokens: Vec::new(),
    }
}

fn train_in_pool(threads: usize, opts: &TrainOptions, texts: &[String]) -> Vec<u8> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| train(opts, texts.iter()).unwrap())
}

fn check_trained(kind: TrainKind, vocab_size: u32) -> Tokenizer {
    let texts = corpus(3000, 42);
    let o = opts(kind, vocab_size);
    let one_thread = train_in_pool(1, &o, &texts);
    let two_threads = train_in_pool(2, &o, &texts);
    let again = train_in_pool(2, &o, &texts);
    assert!(
        one_thread == two_threads,
        "{kind:?}: 1 and 2 threads differ"
    );
    assert!(two_threads == again, "{kind:?}: two runs differ");
    let mut reversed = texts.clone();
    reversed.reverse();
    assert!(
        train_in_pool(2, &o, &reversed) == one_thread,
        "{kind:?}: text order matters"
    );
    let tok = Tokenizer::from_json_bytes(&one_thread, "trained").unwrap();
    assert!(
        tok.vocab_size() <= vocab_size,
        "{kind:?}: {}",
        tok.vocab_size()
    );
    assert!(
        tok.vocab_size() > vocab_size / 2,
        "{kind:?}: {}",
        tok.vocab_size()
    );
    tok
}

#[test]
fn train_bpe() {
    let tok = check_trained(TrainKind::Bpe, 600);
    assert_eq!(tok.vocab_size(), 600);
    assert_eq!(tok.special_ids(), [0]);
    assert_eq!(tok.eos_id(), Some(0));
    assert_eq!(tok.id_to_token(0).as_deref(), Some("<|endoftext|>"));
    assert_eq!(tok.special_tokens_added(), 0);
    // Byte-level: any text round-trips, characters never seen included.
    for text in varied_texts(100, 9) {
        let ids = one(&tok, &text, true);
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
    let ids = one(&tok, "the dataset", false);
    assert!(ids.len() <= 4, "{ids:?}");
}

#[test]
fn train_wordpiece() {
    let tok = check_trained(TrainKind::WordPiece, 700);
    assert_eq!(tok.special_ids(), [0, 1, 2, 3, 4]);
    assert_eq!(
        tokens(&tok, &[0, 1, 2, 3, 4]),
        ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    );
    assert_eq!(tok.special_tokens_added(), 2);
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.pad_id(), Some(3));
    let ids = one(&tok, "The dataset, the MODEL!", true);
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    assert_eq!(tok.decode(&ids, true).unwrap(), "the dataset, the model!");
    assert!(one(&tok, "☃", false) == [0], "an unseen character is [UNK]");
}

#[test]
fn train_unigram() {
    let tok = check_trained(TrainKind::Unigram, 500);
    assert_eq!(tok.special_ids(), [0, 1, 2, 3]);
    assert_eq!(
        tokens(&tok, &[0, 1, 2, 3]),
        ["<unk>", "<s>", "</s>", "<pad>"]
    );
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.pad_id(), Some(3));
    assert_eq!(tok.special_tokens_added(), 0);
    let text = "the dataset is reproducible";
    let ids = one(&tok, text, false);
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
}

#[test]
fn train_special_tokens_first_and_required_ones_added() {
    let texts = corpus(500, 1);
    let o = TrainOptions {
        special_tokens: vec!["<bos>".into(), "<eos>".into(), "<bos>".into()],
        ..opts(TrainKind::WordPiece, 400)
    };
    let tok = Tokenizer::from_json_bytes(&train(&o, &texts).unwrap(), "t").unwrap();
    assert_eq!(
        tokens(&tok, &[0, 1, 2, 3, 4]),
        ["<bos>", "<eos>", "[UNK]", "[CLS]", "[SEP]"]
    );
    assert_eq!(tok.eos_id(), Some(1));
}

#[test]
fn train_errors() {
    let texts = corpus(300, 2);
    let err = train(&opts(TrainKind::Bpe, 0), &texts).unwrap_err();
    assert_eq!(err.message, "vocab_size 0 is out of range (1 to 4194304)");
    let err = train(&opts(TrainKind::Bpe, 5_000_000), &texts).unwrap_err();
    assert!(
        err.message
            .starts_with("vocab_size 5000000 is out of range"),
        "{err}"
    );
    let err = train(&opts(TrainKind::Bpe, 200), &texts).unwrap_err();
    assert_eq!(
        err.message,
        "vocab_size 200 is too small for a BPE tokenizer: a byte-level BPE vocabulary starts with the 256 byte tokens and 1 special token"
    );
    assert_eq!(
        err.hint.as_deref(),
        Some("raise vocab_size to at least 257")
    );
    let err = train(&opts(TrainKind::WordPiece, 60), &texts).unwrap_err();
    assert!(
        err.message.starts_with(
            "vocab_size 60 is too small for this corpus: a WordPiece vocabulary needs "
        ),
        "{err}"
    );
    assert!(err.message.contains("`##` continuations"), "{err}");
    let err = train(&opts(TrainKind::Unigram, 20), &texts).unwrap_err();
    assert!(
        err.message
            .starts_with("vocab_size 20 is too small for this corpus: a Unigram vocabulary needs "),
        "{err}"
    );
    let err = train(&opts(TrainKind::Unigram, 3), &texts).unwrap_err();
    assert!(
        err.message.contains("4 special tokens leave no room"),
        "{err}"
    );
    let err = train(&opts(TrainKind::Bpe, 1000), ["", "", ""]).unwrap_err();
    assert_eq!(
        err.message,
        "cannot train a BPE tokenizer: the training texts hold no words"
    );
    let err = train(&opts(TrainKind::Bpe, 1000), Vec::<String>::new()).unwrap_err();
    assert!(err.message.ends_with("hold no words"));
    let o = TrainOptions {
        special_tokens: vec![" ".into()],
        ..opts(TrainKind::Bpe, 1000)
    };
    assert!(
        train(&o, &texts)
            .unwrap_err()
            .message
            .contains("empty or whitespace")
    );
}

#[test]
fn train_on_exotic_text_does_not_panic() {
    let texts = varied_texts(200, 13);
    for kind in [TrainKind::Bpe, TrainKind::WordPiece, TrainKind::Unigram] {
        // Big enough for every character these texts hold.
        let json = train(&opts(kind, 3000), &texts).unwrap();
        let tok = Tokenizer::from_json_bytes(&json, "t").unwrap();
        let ids = tok.encode_batch(&refs(&texts), true).unwrap();
        assert_eq!(ids.len(), texts.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Against the Python package (ignored: needs `MLDATA_TOK_PYTHON`, a Python with `tokenizers`).

fn python_ids(
    python: &str,
    tokenizer: &Path,
    texts: &[String],
    add_special_tokens: bool,
    encode_special_tokens: bool,
) -> Vec<Vec<u32>> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizers/compare_ids.py");
    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    let body = serde_json::json!({
        "tokenizer": tokenizer, "add_special_tokens": add_special_tokens,
        "encode_special_tokens": encode_special_tokens, "texts": texts
    });
    std::fs::write(&request, body.to_string()).unwrap();
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&request)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    serde_json::from_value(reply["ids"].clone()).unwrap()
}

fn compare_with_python(python: &str, path: &Path, tok: &Tokenizer, texts: &[String]) -> usize {
    let mut mismatches = 0;
    for add in [true, false] {
        for as_text in [false, true] {
            let tok = tok.clone().with_special_tokens_as_text(as_text);
            let ours = tok.encode_batch(&refs(texts), add).unwrap();
            let theirs = python_ids(python, path, texts, add, as_text);
            assert_eq!(ours.len(), theirs.len());
            for ((a, b), text) in ours.iter().zip(&theirs).zip(texts) {
                if a != b {
                    mismatches += 1;
                    eprintln!(
                        "MISMATCH {} add_special_tokens={add} special_tokens_as_text={as_text} text={text:?}\n  rust:   {a:?}\n  python: {b:?}",
                        path.display()
                    );
                }
            }
        }
    }
    mismatches
}

/// Ids equal the Python `tokenizers` package's on the shipped and on freshly trained
/// tokenizers. Runs in the suite with the test venv's interpreter (`bash scripts/test` sets
/// MLDATA_TEST_PYTHON); MLDATA_TOK_PYTHON names another one.
#[test]
fn python_ids_match() {
    let Ok(python) =
        std::env::var("MLDATA_TOK_PYTHON").or_else(|_| std::env::var("MLDATA_TEST_PYTHON"))
    else {
        panic!(
            "MLDATA_TEST_PYTHON is not set: run the suite with `bash scripts/test` (or set MLDATA_TOK_PYTHON to a Python with `tokenizers`)"
        );
    };
    let texts = varied_texts(400, 2024);
    let mut mismatches = 0;
    for name in ["gpt2", "minilm-bert"] {
        let path = fixture(name);
        mismatches += compare_with_python(
            &python,
            &path,
            &Tokenizer::from_file(&path).unwrap(),
            &texts,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let training = corpus(3000, 42);
    for (kind, size) in [
        (TrainKind::Bpe, 800),
        (TrainKind::WordPiece, 800),
        (TrainKind::Unigram, 800),
    ] {
        let path = dir.path().join(format!("{kind:?}.json"));
        std::fs::write(&path, train(&opts(kind, size), &training).unwrap()).unwrap();
        let tok = Tokenizer::from_file(&path).unwrap();
        mismatches += compare_with_python(&python, &path, &tok, &texts);
    }
    assert_eq!(mismatches, 0);
}
