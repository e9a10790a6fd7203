//! export: Parquet, JSON Lines, JSON, CSV and templates through the real binary, read back by
//! pyarrow and Python's own parsers; bad input.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::context::TestContext;
use crate::python::python_json;

/// `n` rows: id, text (with a comma and a quote now and then), label (neg/pos), score, day.
pub(crate) fn data(n: usize) -> String {
    let mut s = String::from("id,text,label,score,day\n");
    for i in 0..n {
        let text = if i % 7 == 0 {
            format!("\"row {i}, with \"\"quotes\"\"\"")
        } else {
            format!("row {i}")
        };
        let label = if i % 3 == 0 { "pos" } else { "neg" };
        let _ = writeln!(
            s,
            "{i},{text},{label},{}.5,2024-01-{:02}",
            i % 10,
            i % 28 + 1
        );
    }
    s
}

/// A spec: normalize (label as a ClassLabel) → split (train 0.8, test 0.2) → `export`.
pub(crate) fn spec(export: &str) -> String {
    format!(
        "name: demo\nversion: 1.2.0\ndescription: A demo dataset.\nsources:\n  raw: {{uri: data.csv}}\nstages:\n  clean: {{kind: normalize, input: raw, class_labels: {{label: [neg, pos]}}}}\n  splits: {{kind: split, input: clean, ratios: {{train: 0.8, test: 0.2}}, seed: 1}}\n  release:\n    kind: export\n    input: splits\n{export}"
    )
}

const READ_ALL: &str = r#"
import json, sys, gzip, csv, pyarrow.parquet as pq
root = sys.argv[1]
out = {}
for split in ["train", "test"]:
    t = pq.read_table(f"{root}/parquet/{split}.parquet")
    md = pq.read_metadata(f"{root}/parquet/{split}.parquet").metadata
    out[split] = {
        "parquet_rows": t.num_rows,
        "parquet_schema": {f.name: str(f.type) for f in t.schema},
        "hf": json.loads(md[b"huggingface"]),
        "ours": json.loads(md[b"mldatabuild"]),
        "ids": sorted(t.column("id").to_pylist()),
        "jsonl": [json.loads(l) for l in open(f"{root}/jsonl/{split}.jsonl", encoding="utf-8")],
        "json": json.load(open(f"{root}/json/{split}.json", encoding="utf-8")),
        "csv": list(csv.DictReader(open(f"{root}/csv/{split}.csv", encoding="utf-8", newline=""))),
        "first": t.slice(0, 1).to_pylist()[0],
    }
print(json.dumps(out, default=str))
"#;

#[test]
fn parquet_jsonl_json_csv_in_one_pass_read_back_by_python() {
    let cx = TestContext::new();
    cx.file("data.csv", data(50))
        .spec(&spec("    formats: [parquet, jsonl, json, csv]\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("✓ parquet")
        .stderr_has("✓ csv");
    let root = cx.path("out/demo/artifacts/release");
    let v = python_json(cx.root(), READ_ALL, &[root.to_str().unwrap()]);
    let (train, test) = (&v["train"], &v["test"]);
    assert_eq!(train["parquet_rows"], 40);
    assert_eq!(test["parquet_rows"], 10);
    // Every id exactly once across the splits.
    let mut ids: Vec<u64> = train["ids"]
        .as_array()
        .unwrap()
        .iter()
        .chain(test["ids"].as_array().unwrap())
        .map(|x| x.as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
    // The features travel from normalize into the export's footer; so do our metadata.
    assert_eq!(
        train["hf"]["info"]["features"]["label"],
        serde_json::json!({"_type": "ClassLabel", "names": ["neg", "pos"]})
    );
    assert_eq!(train["ours"]["dataset"], "demo");
    assert_eq!(train["ours"]["version"], "1.2.0");
    assert_eq!(train["ours"]["split"], "train");
    let lock = cx.read("dataset.lock");
    let parsed = mldatabuild::lockfile::Lock::parse(&lock, "dataset.lock").unwrap();
    assert_eq!(
        train["ours"]["content_hash"],
        parsed.stages["splits"].output_hash.as_str()
    );
    assert_eq!(train["parquet_schema"]["day"], "date32[day]");
    // The same rows, in the same order, in every text format.
    for split in [train, test] {
        let first = &split["first"];
        let jsonl = split["jsonl"].as_array().unwrap();
        let json = split["json"].as_array().unwrap();
        let csv = split["csv"].as_array().unwrap();
        assert_eq!(
            jsonl.len(),
            split["parquet_rows"].as_u64().unwrap() as usize
        );
        assert_eq!(json.len(), jsonl.len());
        assert_eq!(csv.len(), jsonl.len());
        assert_eq!(jsonl[0]["id"], first["id"]);
        assert_eq!(jsonl[0]["text"], first["text"]);
        assert_eq!(jsonl[0], json[0]);
        assert_eq!(csv[0]["text"], first["text"].as_str().unwrap());
        // Dates are ISO strings.
        assert_eq!(jsonl[0]["day"], first["day"].as_str().unwrap());
        assert!(jsonl[0]["day"].as_str().unwrap().starts_with("2024-01-"));
    }
    // A text with a comma and quotes survives CSV quoting.
    let all_csv: Vec<&serde_json::Value> = train["csv"]
        .as_array()
        .unwrap()
        .iter()
        .chain(test["csv"].as_array().unwrap())
        .collect();
    assert!(
        all_csv
            .iter()
            .any(|r| r["text"] == "row 7, with \"quotes\""),
        "{all_csv:?}"
    );
    // The lock lists every artifact with its rows, and per-format facts.
    assert!(
        lock.contains("artifacts/release/jsonl/train.jsonl"),
        "{lock}"
    );
    assert!(lock.contains("compression_ratio"), "{lock}");
}

#[test]
fn template_chat_format_gzip_jsonl_and_binary_skip() {
    let cx = TestContext::new();
    cx.file("data.csv", data(20)).spec(&spec(
        "    formats: [template, jsonl, json]\n    jsonl: {compression: gzip, columns: [text, label], rename: {text: prompt}}\n    json: {pretty: true}\n    template:\n      source: '{\"messages\": [{\"role\": \"user\", \"content\": {{ text | tojson }}},\n        {\"role\": \"assistant\", \"content\": \"{{ [\"neg\", \"pos\"][label] }}\"}]}'\n",
    ));
    cx.run(&["build"]).success();
    let root = cx.path("out/demo/artifacts/release");
    let code = r#"
import json, sys, gzip
root = sys.argv[1]
chat = [json.loads(l) for l in open(f"{root}/template/train.jsonl", encoding="utf-8")]
raw = open(f"{root}/template/train.jsonl", encoding="utf-8").read()
gz = [json.loads(l) for l in gzip.open(f"{root}/jsonl/train.jsonl.gz", "rt", encoding="utf-8")]
pretty = open(f"{root}/json/train.json", encoding="utf-8").read()
print(json.dumps({"chat": chat, "lines": raw.count("\n"), "gz": gz, "pretty": pretty, "json": json.loads(pretty)}))
"#;
    let v = python_json(cx.root(), code, &[root.to_str().unwrap()]);
    let chat = v["chat"].as_array().unwrap();
    assert_eq!(chat.len(), 16);
    // One rendering per line, even though the template spans two.
    assert_eq!(v["lines"], 16);
    let first = &chat[0]["messages"];
    assert_eq!(first[0]["role"], "user");
    assert!(first[0]["content"].as_str().unwrap().starts_with("row "));
    assert!(["neg", "pos"].contains(&first[1]["content"].as_str().unwrap()));
    // Field selection and renaming, in the given order.
    let gz = v["gz"].as_array().unwrap();
    assert_eq!(gz.len(), 16);
    let keys: Vec<&String> = gz[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["label", "prompt"]);
    assert_eq!(gz[0]["prompt"], first[0]["content"]);
    // Pretty JSON keeps the columns' order and is the same data.
    let pretty = v["pretty"].as_str().unwrap();
    assert!(pretty.starts_with("[\n  {\n    \"id\": "), "{pretty}");
    assert_eq!(v["json"].as_array().unwrap().len(), 16);
}

#[test]
fn one_failing_format_does_not_stop_the_others() {
    let cx = TestContext::new();
    // The template names a column that does not exist: rendering fails on the first row.
    cx.file("data.csv", data(20)).spec(&spec(
        "    formats: [parquet, template, csv]\n    template: {source: '{\"t\": {{ txt | tojson }}}'}\n",
    ));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("1 of 3 formats failed")
        .stderr_has("template: `template.source` uses `txt`, which is not a column of the table")
        .stderr_has("did you mean `text`?")
        .stderr_has("the other formats (parquet, csv) were written and read back");
    // The others are delivered; the failed format leaves nothing; the stage is not recorded.
    assert!(cx.exists("out/demo/artifacts/release/parquet/train.parquet"));
    assert!(cx.exists("out/demo/artifacts/release/csv/test.csv"));
    assert!(!cx.exists("out/demo/artifacts/release/template"));
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("  splits:"), "{lock}");
    assert!(!lock.contains("kind: export"), "{lock}");
    // Fixing the template completes the stage.
    cx.spec(&spec(
        "    formats: [parquet, template, csv]\n    template: {source: '{\"t\": {{ text | tojson }}}'}\n",
    ));
    cx.run(&["build"]).success();
    assert!(cx.read("dataset.lock").contains("kind: export"));
    assert!(cx.exists("out/demo/artifacts/release/template/train.jsonl"));
}

#[test]
fn bad_export_specs_are_refused_before_anything_is_written() {
    let cases: &[(&str, &[&str])] = &[
        (
            "    formats: [parquet, xml]\n",
            &[
                "unknown value `xml`",
                "expected one of: parquet, jsonl, json, csv, template",
            ],
        ),
        (
            "    formats: [jsonl, jsonl]\n",
            &["format `jsonl` is listed twice"],
        ),
        (
            "    formats: [template]\n    template: {source: '{\"a\": {{ text | tojson }'}\n",
            &[
                "template error in `template.source` at line 1, column 24: syntax error",
                "minijinja syntax",
            ],
        ),
        (
            "    formats: [template]\n",
            &["format `template` needs a `template:` block"],
        ),
        (
            "    formats: [parquet]\n    parquet: {row_group_size: 0}\n",
            &["`parquet.row_group_size` must be between 1 and 10000000: got 0"],
        ),
        (
            "    formats: [parquet]\n    parquet: {compression: snappy, level: 3}\n",
            &["`parquet.level` does not apply to snappy"],
        ),
        (
            "    formats: [csv]\n    csv: {delimiter: '::'}\n",
            &[
                "`csv.delimiter` must be one ASCII character other than a quote or a line break: got `::`",
            ],
        ),
        ("    formats: []\n", &["`formats` is empty"]),
    ];
    for (stage, needles) in cases {
        let cx = TestContext::new();
        cx.file("data.csv", data(10)).spec(&spec(stage));
        let out = cx.run(&["build"]);
        out.code(2);
        for n in *needles {
            out.stderr_has(n);
        }
        assert!(!cx.exists("dataset.lock"), "{stage}");
        assert!(!cx.exists("out"), "{stage}");
    }
}

#[test]
fn unknown_columns_and_unholdable_values_name_the_problem() {
    let cx = TestContext::new();
    cx.file("data.csv", data(10)).spec(&spec(
        "    formats: [jsonl]\n    jsonl: {columns: [text, lable]}\n",
    ));
    cx.run(&["build"])
        .code(1)
        .stderr_has("jsonl.columns: no column `lable` in the table")
        .stderr_has("did you mean `label`?");
    assert!(!cx.exists("out/demo/artifacts"));
    // `quote: never` cannot write a value holding the delimiter.
    cx.spec(&spec("    formats: [csv]\n    csv: {quote: never}\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("column `text` holds a value with a delimiter, quote or line break")
        .stderr_has("quote: necessary");
    assert!(!cx.exists("out/demo/artifacts"));
}

#[test]
fn a_full_disk_is_refused_before_writing() {
    let cx = TestContext::new();
    cx.file("data.csv", data(10))
        .spec(&spec("    formats: [parquet, jsonl]\n"));
    let out = cx
        .command(&["build"])
        .env("MLDATA_TEST_FREE_BYTES", "1000")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not enough free disk space for the export"),
        "{err}"
    );
    assert!(!cx.exists("out/demo/artifacts"));
    assert!(!cx.read("dataset.lock").contains("kind: export"));
}

#[test]
fn exports_are_byte_identical_whatever_the_thread_count() {
    let build = |jobs: &str| {
        let cx = TestContext::new();
        cx.file("data.csv", data(300)).spec(&spec(
            "    formats: [parquet, jsonl, json, csv]\n    parquet: {row_group_size: 50}\n",
        ));
        cx.run(&["build", "--jobs", jobs]).success();
        let mut files = std::collections::BTreeMap::new();
        for e in walkdir::WalkDir::new(cx.path("out/demo/artifacts")) {
            let e = e.unwrap();
            if e.file_type().is_file() {
                files.insert(
                    e.path().strip_prefix(cx.root()).unwrap().to_owned(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
        files
    };
    let (a, b) = (build("1"), build("2"));
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
}

#[test]
fn standalone_export_command() {
    let cx = TestContext::new();
    cx.file("data.csv", data(12));
    cx.run(&["export", "data.csv", "--format", "parquet,jsonl,csv"])
        .success()
        .stderr_has("Exported to: [ROOT]/data-export/dataset/export");
    let jsonl = cx.read("data-export/dataset/export/jsonl/train.jsonl");
    assert_eq!(jsonl.lines().count(), 12);
    assert!(cx.exists("data-export/dataset/export/csv/train.csv"));
    // A folder of split tables keeps its splits.
    cx.run(&[
        "export",
        "data-export/dataset/export/parquet",
        "--format",
        "csv",
        "-o",
        "again",
    ])
    .success();
    assert_eq!(
        cx.read("again/dataset/export/csv/train.csv")
            .lines()
            .count(),
        13
    );
    // Bad input: an unknown format lists the supported ones; an occupied folder needs --force.
    cx.run(&["export", "data.csv", "--format", "parquet,jsonlines"])
        .code(2)
        .stderr_has("unknown export format `jsonlines`")
        .stderr_has("parquet, jsonl, json, csv");
    cx.file("mine/notes.txt", "keep me");
    cx.run(&["export", "data.csv", "--format", "jsonl", "-o", "mine"])
        .code(2)
        .stderr_has("already exists and holds other files")
        .stderr_has("--force");
    assert!(!cx.exists("mine/dataset.yaml"));
    assert_eq!(cx.read("mine/notes.txt"), "keep me");
}

#[test]
fn tokenized_tables_export_with_their_features() {
    let cx = TestContext::new();
    let tok = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizers/minilm-bert/tokenizer.json");
    cx.file("tok.json", std::fs::read(tok).unwrap());
    cx.file("data.csv", data(30)).spec(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: data.csv}\nstages:\n  clean: {kind: normalize, input: raw, class_labels: {label: [neg, pos]}}\n  splits: {kind: split, input: clean, ratios: {train: 0.8, test: 0.2}, seed: 1}\n  tokens: {kind: tokenize, input: splits, tokenizer: tok.json, keep_columns: [id, label]}\n  release: {kind: export, input: tokens, formats: [parquet, jsonl]}\n",
    );
    cx.run(&["build"]).success();
    let code = r#"
import json, sys, pyarrow.parquet as pq
p = sys.argv[1] + "/parquet/train.parquet"
md = pq.read_metadata(p).metadata
t = pq.read_table(p)
first = json.loads(open(sys.argv[1] + "/jsonl/train.jsonl").readline())
print(json.dumps({"features": json.loads(md[b"huggingface"])["info"]["features"],
                  "types": {f.name: str(f.type) for f in t.schema},
                  "ids": t.column("input_ids")[0].as_py(), "jsonl_ids": first["input_ids"]}))
"#;
    let root = cx.path("out/demo/artifacts/release");
    let v = python_json(cx.root(), code, &[root.to_str().unwrap()]);
    assert_eq!(
        v["features"]["label"],
        serde_json::json!({"_type": "ClassLabel", "names": ["neg", "pos"]})
    );
    assert_eq!(v["features"]["input_ids"]["feature"]["dtype"], "uint32");
    assert_eq!(v["types"]["input_ids"], "list<item: uint32 not null>");
    // [CLS] … [SEP], the same ids in Parquet and JSON Lines.
    assert_eq!(v["ids"][0], 101);
    assert_eq!(v["ids"], v["jsonl_ids"]);
}

#[test]
fn wide_and_nested_tables_keep_their_shape() {
    let cx = TestContext::new();
    // 1,000 columns.
    let mut wide = (0..1000)
        .map(|c| format!("c{c}"))
        .collect::<Vec<_>>()
        .join(",");
    wide.push('\n');
    for r in 0..5 {
        wide.push_str(
            &(0..1000)
                .map(|c| (r * c).to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        wide.push('\n');
    }
    cx.file("wide/data.csv", wide);
    // Nested values: a struct, a list of ints, a list of structs.
    let mut nested = String::new();
    for i in 0..6 {
        let _ = writeln!(
            nested,
            r#"{{"id": {i}, "meta": {{"lang": "en", "score": {i}.5}}, "ids": [{i}, {}, 7], "spans": [{{"start": 0, "end": {i}}}]}}"#,
            i + 1
        );
    }
    cx.file("nested/data.jsonl", nested);
    cx.spec("name: shapes\nversion: 1.0.0\nsources:\n  wide_raw: {uri: wide}\n  nested_raw: {uri: nested}\nstages:\n  wide: {kind: normalize, input: wide_raw}\n  nested: {kind: normalize, input: nested_raw}\n  wide_out: {kind: export, input: wide, formats: [parquet, jsonl, csv]}\n  nested_out: {kind: export, input: nested, formats: [parquet, jsonl, csv]}\n");
    cx.run(&["build"]).success();
    let code = r#"
import json, sys, csv, pyarrow.parquet as pq
w, n = sys.argv[1], sys.argv[2]
wt = pq.read_table(f"{w}/parquet/train.parquet")
wj = [json.loads(l) for l in open(f"{w}/jsonl/train.jsonl")]
wc = list(csv.reader(open(f"{w}/csv/train.csv", newline="")))
nt = pq.read_table(f"{n}/parquet/train.parquet")
nj = [json.loads(l) for l in open(f"{n}/jsonl/train.jsonl")]
nc = list(csv.DictReader(open(f"{n}/csv/train.csv", newline="")))
print(json.dumps({"wide_cols": wt.num_columns, "wide_rows": wt.num_rows, "wide_json_keys": len(wj[0]),
  "wide_last": wj[4]["c999"], "wide_csv_header": len(wc[0]), "wide_csv_rows": len(wc) - 1,
  "nested_types": {f.name: str(f.type) for f in nt.schema}, "nested_json": nj[2], "nested_csv": nc[2],
  "nested_parquet": nt.slice(2, 1).to_pylist()[0]}))
"#;
    let v = python_json(
        cx.root(),
        code,
        &[
            cx.path("out/shapes/artifacts/wide_out").to_str().unwrap(),
            cx.path("out/shapes/artifacts/nested_out").to_str().unwrap(),
        ],
    );
    assert_eq!(v["wide_cols"], 1000);
    assert_eq!(v["wide_rows"], 5);
    assert_eq!(v["wide_json_keys"], 1000);
    assert_eq!(v["wide_last"], 4 * 999);
    assert_eq!(v["wide_csv_header"], 1000);
    assert_eq!(v["wide_csv_rows"], 5);
    let types = &v["nested_types"];
    assert!(
        types["meta"].as_str().unwrap().starts_with("struct<"),
        "{types}"
    );
    assert!(
        types["ids"].as_str().unwrap().starts_with("list<"),
        "{types}"
    );
    // The same nested values in Parquet and JSON Lines; JSON strings in CSV.
    let j = &v["nested_json"];
    assert_eq!(j["meta"], serde_json::json!({"lang": "en", "score": 2.5}));
    assert_eq!(j["ids"], serde_json::json!([2, 3, 7]));
    assert_eq!(j["spans"], serde_json::json!([{"start": 0, "end": 2}]));
    assert_eq!(v["nested_parquet"]["ids"], j["ids"]);
    let c = &v["nested_csv"];
    let meta: serde_json::Value = serde_json::from_str(c["meta"].as_str().unwrap()).unwrap();
    assert_eq!(meta, j["meta"]);
    assert_eq!(c["ids"], "[2,3,7]");
}

#[test]
fn binary_is_base64_or_skipped_and_long_lines_warn() {
    let cx = TestContext::new();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x04\0\0\0\x02\x08\x02\0\0\0\0\0\0\0".to_vec();
    cx.file("pics/cat/1.png", &png).file("pics/dog/2.png", &png);
    cx.spec("name: pics\nversion: 1.0.0\nsources:\n  raw: {uri: pics}\nstages:\n  clean: {kind: normalize, input: raw, format: imagefolder, embed_media: true}\n  out: {kind: export, input: clean, formats: [jsonl, csv]}\n  bare: {kind: export, input: clean, formats: [jsonl], jsonl: {binary: skip}}\n");
    cx.run(&["build"]).success();
    let code = r#"
import json, sys, base64
rows = [json.loads(l) for l in open(sys.argv[1] + "/jsonl/train.jsonl")]
bare = [json.loads(l) for l in open(sys.argv[2] + "/jsonl/train.jsonl")]
def find_bytes(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "bytes" and isinstance(x, str):
                return x
            r = find_bytes(x)
            if r: return r
    return None
print(json.dumps({"b64": find_bytes(rows[0]), "keys": sorted(rows[0]), "bare_keys": sorted(bare[0])}))
"#;
    let v = python_json(
        cx.root(),
        code,
        &[
            cx.path("out/pics/artifacts/out").to_str().unwrap(),
            cx.path("out/pics/artifacts/bare").to_str().unwrap(),
        ],
    );
    let lock = cx.read("dataset.lock");
    let b64 = v["b64"].as_str().unwrap_or_else(|| panic!("{v}\n{lock}"));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        png
    );
    // A top-level binary column (a Parquet table from elsewhere): base64, or left out with
    // a warning under `binary: skip`.
    let cx = TestContext::new();
    crate::python::run_python(
        cx.root(),
        "import pyarrow as pa, pyarrow.parquet as pq\npq.write_table(pa.table({'id': [1, 2], 'blob': [b'\\x00\\xffab', None]}), 'train.parquet')",
        &[],
    );
    cx.spec("name: bin\nversion: 1.0.0\nsources:\n  raw: {uri: train.parquet}\nstages:\n  out: {kind: export, input: raw, formats: [jsonl, csv]}\n  bare: {kind: export, input: raw, formats: [jsonl], jsonl: {binary: skip}}\n");
    cx.run(&["build"]).success().stderr_has(
        "bare: jsonl: binary column(s) blob left out of the jsonl files (`binary: skip`)",
    );
    assert_eq!(
        cx.read("out/bin/artifacts/out/jsonl/train.jsonl"),
        "{\"id\":1,\"blob\":\"AP9hYg==\"}\n{\"id\":2,\"blob\":null}\n"
    );
    assert_eq!(
        cx.read("out/bin/artifacts/out/csv/train.csv"),
        "id,blob\n1,AP9hYg==\n2,\n"
    );
    assert_eq!(
        cx.read("out/bin/artifacts/bare/jsonl/train.jsonl"),
        "{\"id\":1}\n{\"id\":2}\n"
    );

    // A line over 1 MB is written, with a warning.
    let cx = TestContext::new();
    let long = "x".repeat(1_100_000);
    cx.file("data.csv", format!("id,text\n1,short\n2,{long}\n"));
    cx.spec("name: long\nversion: 1.0.0\nsources:\n  raw: {uri: data.csv}\nstages:\n  clean: {kind: normalize, input: raw}\n  out: {kind: export, input: clean, formats: [jsonl]}\n");
    cx.run(&["build"])
        .success()
        .stderr_has("jsonl: 1 line(s) are longer than 1 MB");
    assert_eq!(
        cx.read("out/long/artifacts/out/jsonl/train.jsonl")
            .lines()
            .count(),
        2
    );
}
