//! export: Parquet, JSON Lines, JSON, CSV and templates through the real binary, read back by
//! pyarrow and Python's own parsers; bad input.

use std::fmt::Write as _;

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
