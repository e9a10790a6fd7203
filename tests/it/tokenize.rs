//! tokenize: ids equal to the Python `tokenizers` package's, windows, packing, padding, `.bin`
//! files, statistics, matrices, `ls`/`rm`/`stats`/`sample`, Hub tokenizers, bad input.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{UInt32Type, UInt64Type};

use crate::context::TestContext;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizers")
        .join(rel)
}

/// Texts that exercise pre-tokenizers and normalizers: case, punctuation, numbers, runs of
/// whitespace, accents, CJK, emoji, and special-token strings written in the text.
pub(crate) fn texts() -> Vec<String> {
    let mut v: Vec<String> = [
        "Hello world",
        "Hello world, tokenizers!",
        "The quick brown fox jumps over the lazy dog.",
        "  leading and   multiple   spaces  ",
        "Numbers: 3.14159, 42, 1,000,000 and -7e10.",
        "Café naïve résumé — déjà vu",
        "日本語のテキストと中文文本",
        "emoji 🤗🚀 and ZWJ 👩‍💻 sequences",
        "tabs\tand\nnewlines\r\nmixed",
        "<|endoftext|> inside text, and [SEP] [CLS] too",
        "UPPER lower MiXeD CaSe",
        "a",
        "",
        "don't won't it's we'll they're",
        "https://example.com/path?query=1&x=y#frag",
        "code: fn main() { println!(\"hi\"); }",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let words = [
        "data", "model", "training", "token", "split", "the", "of", "and", "language", "learning",
        "a", "to", "in", "is", "dataset", "build", "hash", "lock", "parquet",
    ];
    for i in 0..60 {
        let n = 5 + (i * 37) % 90;
        let mut s = String::new();
        for j in 0..n {
            if j > 0 {
                s.push(if j % 11 == 0 { '\n' } else { ' ' });
            }
            s.push_str(words[(i * 7 + j * 13) % words.len()]);
            if j % 9 == 4 {
                s.push(',');
            }
        }
        s.push('.');
        v.push(s);
    }
    v
}

/// A JSONL file of `{id, text, label}` rows.
fn jsonl(texts: &[String]) -> String {
    let mut s = String::new();
    for (i, t) in texts.iter().enumerate() {
        let _ = writeln!(
            s,
            "{}",
            serde_json::json!({"id": i, "text": t, "label": if i % 3 == 0 { "a" } else { "b" }})
        );
    }
    s
}

fn project(tokenize: &str) -> TestContext {
    let cx = TestContext::new();
    cx.file("data.jsonl", jsonl(&texts()))
        .file(
            "tok/gpt2.json",
            std::fs::read(fixture("gpt2/tokenizer.json")).unwrap(),
        )
        .file(
            "tok/bert.json",
            std::fs::read(fixture("minilm-bert/tokenizer.json")).unwrap(),
        )
        .spec(&format!(
            "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.jsonl}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n  tokens:\n    kind: tokenize\n    input: clean\n{tokenize}"
        ));
    cx
}

/// `input_ids` (and the `id` column when kept) of a written table, in row order.
pub(crate) fn read_ids(path: &Path) -> Vec<(Option<u64>, Vec<u32>)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let ids = b.column_by_name("input_ids").unwrap().as_list::<i32>();
        let rowid = b
            .column_by_name("id")
            .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::UInt64).unwrap());
        for r in 0..b.num_rows() {
            let v = ids.value(r);
            out.push((
                rowid
                    .as_ref()
                    .map(|c| c.as_primitive::<UInt64Type>().value(r)),
                v.as_primitive::<UInt32Type>().values().to_vec(),
            ));
        }
    }
    out
}

/// The ids the Python `tokenizers` package gives (no truncation, no padding).
fn python_ids(tokenizer: &Path, texts: &[String], add_special_tokens: bool) -> Vec<Vec<u32>> {
    let python = std::env::var("MLDATA_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MLDATA_TEST_PYTHON is not set: run the suite with `bash scripts/test`, which installs the Python `tokenizers` package this test compares against"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("req.json");
    std::fs::write(
        &req,
        serde_json::json!({
            "tokenizer": tokenizer,
            "add_special_tokens": add_special_tokens,
            "texts": texts,
        })
        .to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(&python)
        .arg(fixture("compare_ids.py"))
        .arg(&req)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "compare_ids.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    serde_json::from_value(v["ids"].clone()).unwrap()
}

fn check_against_python(tok: &str, fixture_rel: &str, special: bool) {
    let cx = project(&format!(
        "    tokenizer: tok/{tok}.json\n    special_tokens: {special}\n"
    ));
    cx.run(&["build"]).success();
    let got = read_ids(&cx.path("out/demo/tokens/part-0.parquet"));
    let all = texts();
    assert_eq!(got.len(), all.len());
    let want = python_ids(&fixture(fixture_rel), &all, special);
    for ((id, ids), (text, py)) in got.iter().zip(all.iter().zip(&want)) {
        assert_eq!(ids, py, "row {id:?}: {text:?}");
    }
}

#[test]
fn gpt2_ids_equal_the_python_package() {
    check_against_python("gpt2", "gpt2/tokenizer.json", true);
    check_against_python("gpt2", "gpt2/tokenizer.json", false);
}

#[test]
fn bert_ids_equal_the_python_package() {
    check_against_python("bert", "minilm-bert/tokenizer.json", true);
    check_against_python("bert", "minilm-bert/tokenizer.json", false);
}

#[test]
fn windows_truncation_padding_and_mask() {
    let cx = project(
        "    tokenizer: tok/bert.json\n    max_length: 16\n    overflow: windows\n    stride: 4\n    padding: max_length\n",
    );
    cx.run(&["build"]).success();
    let path = cx.path("out/demo/tokens/part-0.parquet");
    let rows = read_ids(&path);
    let cls = 101;
    let sep = 102;
    let pad = 0;
    assert!(rows.iter().all(|(_, ids)| ids.len() == 16));
    assert!(rows.iter().all(|(_, ids)| ids[0] == cls));
    // Windows of one text: each holds 14 text tokens, consecutive ones share 4.
    let texts = texts();
    let long = texts
        .iter()
        .position(|t| t.split(' ').count() > 40)
        .unwrap() as u64;
    let windows: Vec<&Vec<u32>> = rows
        .iter()
        .filter(|(id, _)| *id == Some(long))
        .map(|(_, ids)| ids)
        .collect();
    assert!(windows.len() > 2, "{}", windows.len());
    for w in windows.windows(2) {
        let a: Vec<u32> = w[0]
            .iter()
            .copied()
            .filter(|&i| i != sep && i != cls && i != pad)
            .collect();
        let b: Vec<u32> = w[1]
            .iter()
            .copied()
            .filter(|&i| i != sep && i != cls && i != pad)
            .collect();
        assert_eq!(a[a.len() - 4..], b[..4], "windows overlap by the stride");
    }
    // The mask marks the padding, and overflow_to_sample_mapping names the input row.
    let f = std::fs::File::open(&path).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let ids = b.column_by_name("input_ids").unwrap().as_list::<i32>();
    let mask = b.column_by_name("attention_mask").unwrap().as_list::<i32>();
    let map = b
        .column_by_name("overflow_to_sample_mapping")
        .unwrap()
        .as_primitive::<UInt64Type>();
    for r in 0..b.num_rows() {
        let ids = ids.value(r);
        let ids = ids.as_primitive::<UInt32Type>();
        let m = mask.value(r);
        let m = m.as_primitive::<arrow::datatypes::UInt8Type>();
        for i in 0..ids.len() {
            assert_eq!(m.value(i) == 0, ids.value(i) == pad, "row {r} token {i}");
        }
    }
    assert!(map.values().windows(2).all(|w| w[0] <= w[1]));
    let report = cx.read("out/demo/reports/tokens.json");
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        v["totals"]["extra_windows"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(v["totals"]["padding_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn packing_bin_files_and_statistics() {
    let cx = project(
        "    tokenizer: tok/gpt2.json\n    pack: true\n    max_length: 32\n    bin: auto\n",
    );
    let out = cx.run(&["build"]);
    out.success()
        .stderr_has("tokens in")
        .stderr_has("most frequent tokens:");
    let rows = read_ids(&cx.path("out/demo/tokens/part-0.parquet"));
    assert!(rows.len() > 10);
    assert!(rows.iter().all(|(_, ids)| ids.len() == 32));
    // Every text ends with <|endoftext|> (50256) in the stream.
    let eos = rows
        .iter()
        .flat_map(|(_, ids)| ids)
        .filter(|&&i| i == 50256)
        .count();
    assert!(eos >= rows.len() / 2, "{eos}");
    // The .bin holds the same ids as uint16, the .idx the offsets.
    let bin = cx.read_bytes("out/demo/tokens/part-0.bin");
    let flat: Vec<u32> = rows
        .iter()
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    let from_bin: Vec<u32> = bin
        .chunks(2)
        .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();
    assert_eq!(from_bin, flat);
    let idx = cx.read_bytes("out/demo/tokens/part-0.idx");
    let offsets: Vec<u64> = idx
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(offsets.len(), rows.len() + 1);
    assert_eq!(*offsets.last().unwrap(), flat.len() as u64);
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("bin_dtype: uint16"), "{lock}");
    assert!(lock.contains(&format!("tokens: {}", flat.len())), "{lock}");
    // `stats` shows the stored report again; the Markdown report exists.
    cx.run(&["stats", "tokens"])
        .success()
        .stdout_has("tokens in")
        .stdout_has("sequence lengths");
    assert!(
        cx.read("out/demo/reports/tokens.md")
            .contains("# Tokenization report")
    );
}

#[test]
fn outputs_do_not_depend_on_the_thread_count() {
    let mut hashes = Vec::new();
    for jobs in ["1", "2"] {
        let cx = project(
            "    tokenizer: tok/gpt2.json\n    max_length: 24\n    overflow: windows\n    stride: 3\n    bin: uint32\n",
        );
        let out = cx.command(&["build", "--jobs", jobs]).output().unwrap();
        assert!(out.status.success());
        let lock =
            mldatabuild::lockfile::Lock::parse(&cx.read("dataset.lock"), "dataset.lock").unwrap();
        let hash = lock.stages["tokens"].output_hash.clone();
        hashes.push(hash);
    }
    assert_eq!(hashes[0], hashes[1]);
}

#[test]
fn stop_words_min_length_and_dropped_specials() {
    let cx = project(
        "    tokenizer: tok/gpt2.json\n    stop_words: english\n    min_length: 3\n    drop_special_tokens: true\n",
    );
    cx.run(&["build"]).success();
    let v: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/reports/tokens.json")).unwrap();
    let t = &v["totals"];
    assert!(t["stop_words_removed"].as_u64().unwrap() > 50, "{t}");
    assert!(t["short_dropped"].as_u64().unwrap() >= 2, "{t}");
    assert_eq!(t["special_dropped"].as_u64().unwrap(), 1, "{t}");
    // With split_special_tokens, `<|endoftext|>` in the text is plain text.
    let cx3 = project("    tokenizer: tok/gpt2.json\n    split_special_tokens: true\n");
    cx3.run(&["build"]).success();
    let rows = read_ids(&cx3.path("out/demo/tokens/part-0.parquet"));
    assert!(rows.iter().all(|(_, ids)| !ids.contains(&50256)));
    let rows = read_ids(&cx.path("out/demo/tokens/part-0.parquet"));
    assert!(
        rows.iter()
            .all(|(_, ids)| ids.len() >= 3 && !ids.contains(&50256))
    );
    // A stop-word file is an input: editing it reruns the stage.
    let cx2 = project("    tokenizer: tok/gpt2.json\n    stop_words: stop.txt\n");
    cx2.file("stop.txt", "# mine\nthe\n");
    cx2.run(&["build"]).success();
    cx2.run(&["build"])
        .success()
        .stderr_has("lockfile unchanged");
    cx2.file("stop.txt", "the\nand\n");
    cx2.run(&["build"]).success().stderr_has("[tokenize]");
}

#[test]
fn a_matrix_shares_upstream_work_and_ls_rm_sample_work() {
    let cx =
        project("    matrix: {tokenizer: [tok/gpt2.json, tok/bert.json], max_length: [16, 64]}\n");
    let out = cx.run(&["build"]);
    out.success();
    assert_eq!(
        out.stderr.matches("[normalize]").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("[tokenize]").count(),
        4,
        "{}",
        out.stderr
    );
    let ls = cx.run(&["ls"]);
    ls.success()
        .stdout_has("Tokenizations:")
        .stdout_has("tokens[max_length=16,tokenizer=tok/bert.json]");
    let member = "tokens[max_length=16,tokenizer=tok/gpt2.json]";
    cx.run(&[
        "sample",
        member,
        "--page",
        "2",
        "--page-size",
        "3",
        "--tokens",
    ])
    .success()
    .stdout_has("page 2 of")
    .stdout_has("tokens:");
    cx.run(&["sample", "tokens"])
        .code(2)
        .stderr_has("has 4 members");
    cx.run(&["rm", member]).success().stderr_has("Removed");
    assert!(!cx.exists("out/demo/tokens/max_length=16,tokenizer=tok_gpt2.json/part-0.parquet"));
    assert!(cx.exists("out/demo/tokens/max_length=64,tokenizer=tok_gpt2.json/part-0.parquet"));
    assert!(!cx.read("dataset.lock").contains(&format!("{member}:")));
    // Building again restores it from the run cache.
    cx.run(&["build"])
        .success()
        .stderr_has("from the run cache");
    // History: a run with other parameters shows in `ls`.
    let json = cx.run(&["ls", "--json"]);
    json.success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "tokenize")
            .count(),
        4
    );
}

#[test]
fn trains_a_tokenizer_deterministically() {
    let mut outs = Vec::new();
    for _ in 0..2 {
        let cx = project("    train: {type: bpe, vocab_size: 300}\n    max_length: 64\n");
        cx.run(&["build"]).success();
        let tok = cx.read("out/demo/tokens/tokenizer.json");
        assert!(tok.contains("\"BPE\""), "{}", &tok[..200.min(tok.len())]);
        outs.push((tok, read_ids(&cx.path("out/demo/tokens/part-0.parquet"))));
    }
    assert_eq!(outs[0], outs[1]);
    let cx = project("    train: {type: wordpiece, vocab_size: 10}\n");
    cx.run(&["build"])
        .code(2)
        .stderr_has("`train.vocab_size` must be between 32");
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let cases: &[(&str, &str)] = &[
        ("    tokenizer: tok/missing.json\n", "tok/missing.json"),
        (
            "    tokenizer: tok/gpt2.json\n    max_length: 0\n",
            "`max_length` must be between 1 and 1048576: got 0",
        ),
        (
            "    tokenizer: tok/gpt2.json\n    max_length: 8\n    overflow: windows\n    stride: 8\n",
            "`stride` (8) must be smaller than `max_length` (8)",
        ),
        (
            "    tokenizer: tok/gpt2.json\n    column: label2\n",
            "label2",
        ),
        (
            "    tokenizer: tok/gpt2.json\n    column: id\n",
            "column `id` of `part-0.parquet` is int64, not text",
        ),
        ("    tokenizer: tok/broken.json\n", "broken.json"),
        (
            "    tokenizer: tok/gpt2.json\n    max_length: -3\n",
            "max_length",
        ),
    ];
    for (yaml, needle) in cases {
        let cx = project(yaml);
        cx.file(
            "tok/broken.json",
            "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", \"vocab\": {",
        );
        let out = cx.run(&["build"]);
        assert_ne!(out.code, 0, "{yaml}");
        assert!(out.stderr.contains(needle), "{yaml}: {}", out.stderr);
        assert!(!cx.exists("out/demo/tokens"), "{yaml}");
        if cx.exists("dataset.lock") {
            assert!(
                !cx.read("dataset.lock").contains("kind: tokenize"),
                "{yaml}"
            );
        }
    }
}

#[test]
fn null_texts_are_skipped_and_counted_or_fail() {
    let cx = TestContext::new();
    cx.file(
        "data.jsonl",
        "{\"text\": \"hello\"}\n{\"text\": null}\n{\"text\": \"world\"}\n",
    )
    .file(
        "tok/gpt2.json",
        std::fs::read(fixture("gpt2/tokenizer.json")).unwrap(),
    );
    let spec = |extra: &str| {
        format!(
            "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.jsonl}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n  tokens: {{kind: tokenize, input: clean, tokenizer: tok/gpt2.json{extra}}}\n"
        )
    };
    cx.spec(&spec(""));
    cx.run(&["build"])
        .success()
        .stderr_has("1 rows with a null text were skipped");
    assert_eq!(
        read_ids(&cx.path("out/demo/tokens/part-0.parquet")).len(),
        2
    );
    cx.spec(&spec(", nulls: fail"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("row 1 of `part-0.parquet` has a null text");
}

#[test]
fn a_hub_tokenizer_is_fetched_pinned_and_hashed() {
    let hub = crate::mock::MockHub::start();
    let tok = std::fs::read(fixture("gpt2/tokenizer.json")).unwrap();
    let sha = hub.add_model(
        "acme/gpt",
        &[
            ("tokenizer.json", &tok, false),
            ("config.json", b"{}", false),
        ],
    );
    let cx = project("    tokenizer: hf://acme/gpt\n");
    let out = cx
        .command(&["build"])
        .env("HF_ENDPOINT", hub.url())
        .env_remove("HF_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("tokenizer:hf://models/acme/gpt"), "{lock}");
    assert!(lock.contains(&sha), "the commit is pinned: {lock}");
    assert!(
        !lock.contains("config.json"),
        "only tokenizer.json is fetched: {lock}"
    );
    let want = python_free_known_answer(&cx);
    assert!(want);
    // Offline, from the cache and the pinned commit.
    let out = cx
        .command(&["build", "--offline"])
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// "Hello world" is the first text: GPT-2 gives [15496, 995].
fn python_free_known_answer(cx: &TestContext) -> bool {
    read_ids(&cx.path("out/demo/tokens/part-0.parquet"))[0].1 == vec![15496, 995]
}

#[test]
fn json_events_report_progress() {
    let cx = project("    tokenizer: tok/gpt2.json\n");
    let out = cx.run(&["build", "--json"]);
    out.success();
    assert!(out.events().iter().any(|e| matches!(
        e,
        mldatabuild::report::Event::StageProgress { tokens: Some(t), .. } if *t > 0
    )));
}

#[test]
fn many_batches_keep_their_order() {
    let cx = TestContext::new();
    let n = 20_000;
    let mut data = String::new();
    for i in 0..n {
        let _ = writeln!(
            data,
            "{}",
            serde_json::json!({"id": i, "text": format!("row number {i} of the table")})
        );
    }
    cx.file("data.jsonl", data)
        .file("tok/gpt2.json", std::fs::read(fixture("gpt2/tokenizer.json")).unwrap())
        .spec("name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: data.jsonl}\nstages:\n  clean: {kind: normalize, input: raw}\n  tokens: {kind: tokenize, input: clean, tokenizer: tok/gpt2.json}\n");
    cx.run(&["build"]).success();
    let rows = read_ids(&cx.path("out/demo/tokens/part-0.parquet"));
    assert_eq!(rows.len(), n);
    let tok =
        mldatabuild::tokenizer::Tokenizer::from_file(&fixture("gpt2/tokenizer.json")).unwrap();
    for (i, (id, ids)) in rows.iter().enumerate().step_by(997) {
        assert_eq!(*id, Some(i as u64));
        let text = format!("row number {i} of the table");
        assert_eq!(
            ids,
            &tok.encode_batch(&[text.as_str()], true).unwrap()[0],
            "row {i}"
        );
    }
}

#[test]
fn offsets_point_into_the_text() {
    let cx = project("    tokenizer: tok/bert.json\n    offsets: true\n");
    cx.run(&["build"]).success();
    let f = std::fs::File::open(cx.path("out/demo/tokens/part-0.parquet")).unwrap();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let offsets = b.column_by_name("offsets").unwrap().as_list::<i32>();
    // Row 0 is "Hello world": [CLS] hello world [SEP], in characters.
    let first = offsets.value(0);
    let pairs = first.as_fixed_size_list();
    let got: Vec<(u32, u32)> = (0..pairs.len())
        .map(|i| {
            let p = pairs.value(i);
            let p = p.as_primitive::<UInt32Type>();
            (p.value(0), p.value(1))
        })
        .collect();
    assert_eq!(got, vec![(0, 0), (0, 5), (6, 11), (0, 0)]);
}

#[test]
fn ls_shows_the_history_of_a_tokenization() {
    let cx = project("    tokenizer: tok/gpt2.json\n    max_length: 16\n");
    cx.run(&["build"]).success();
    let yaml = cx
        .read("dataset.yaml")
        .replace("max_length: 16", "max_length: 32");
    cx.spec(&yaml);
    cx.run(&["build"]).success();
    let out = cx.run(&["ls", "--json"]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let tokens = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "tokens")
        .unwrap();
    let history = tokens["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{tokens}");
    assert_eq!(history.iter().filter(|h| h["current"] == true).count(), 1);
    let old = history.iter().find(|h| h["current"] == false).unwrap();
    assert_eq!(old["params"]["max_length"], 16, "{old}");
    cx.run(&["ls"])
        .success()
        .stdout_has("max_length=16")
        .stdout_has("← current");
}
