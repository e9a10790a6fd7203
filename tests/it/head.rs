//! `mldatabuild head`: the first rows of a stage's table or of a data file, with its schema.

use std::io::Write as _;

use crate::context::TestContext;
use crate::errors::SPEC;

#[test]
fn head_of_a_stage_and_of_files() {
    let cx = TestContext::new();
    cx.csv("data.csv", 30).spec(SPEC);
    cx.run(&["build"]).success();
    let out = cx.run(&["head", "splits", "-n", "3"]);
    out.success()
        .stdout_has("out/demo/splits/train.parquet")
        .stdout_has("  id     int64")
        .stdout_has("(3 rows, -n for more)");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains("row number"))
            .count(),
        3
    );
    // A chosen split and columns, as JSON with typed values in column order.
    let out = cx.run(&[
        "head",
        "splits",
        "--split",
        "test",
        "--columns",
        "label,id",
        "--json",
        "-n",
        "2",
    ]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["source"], "out/demo/splits/test.parquet");
    assert_eq!(
        v["schema"],
        serde_json::json!([{"name": "label", "type": "int64"}, {"name": "id", "type": "int64"}])
    );
    assert_eq!(v["rows"].as_array().unwrap().len(), 2);
    assert!(v["rows"][0][1].is_u64(), "{v}");
    // A normalize stage's parts; a CSV file; a gzipped JSON Lines file with a long value.
    cx.run(&["head", "clean", "-n", "1"])
        .success()
        .stdout_has("out/demo/clean/part-0.parquet");
    cx.run(&["head", "data.csv", "-n", "2"])
        .success()
        .stdout_has("data.csv")
        .stdout_has("row number 1");
    let long = "x".repeat(500);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(
        gz,
        "{{\"a\": 1, \"t\": \"{long}\"}}\n{{\"a\": 2, \"t\": null}}"
    )
    .unwrap();
    cx.file("rows.jsonl.gz", gz.finish().unwrap());
    let out = cx.run(&["head", "rows.jsonl.gz", "--width", "10"]);
    out.success()
        .stdout_has("xxxxxxxxx…")
        .stdout_has("null")
        .stdout_has("(2 rows)");
    assert!(!out.stdout.contains(&long));
}

#[test]
fn head_explains_what_it_cannot_show() {
    let cx = TestContext::new();
    cx.csv("data.csv", 10).spec(SPEC);
    cx.run(&["head", "splits"])
        .code(2)
        .stderr_has("has not been built yet");
    cx.run(&["build"]).success();
    cx.run(&["head", "splits", "--split", "dev"])
        .code(2)
        .stderr_has("has no split `dev`")
        .stderr_has("its tables: test, train, validation");
    cx.run(&["head", "splits", "--columns", "txt"])
        .code(2)
        .stderr_has("has no column `txt`")
        .stderr_has("did you mean `text`?");
    cx.run(&["head", "spilts"])
        .code(2)
        .stderr_has("no stage `spilts`")
        .stderr_has("splits");
    cx.run(&["head", "data.csv", "-n", "20000"])
        .code(2)
        .stderr_has("more than 10000 rows");
    let mut zip = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        z.start_file("a.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(b"a\n1\n").unwrap();
        z.finish().unwrap();
    }
    cx.file("data.zip", zip);
    cx.run(&["head", "data.zip"])
        .code(2)
        .stderr_has("is an archive");
    cx.file("empty.csv", "");
    cx.run(&["head", "empty.csv"]).code(2).stderr_has("empty");
}

/// `info PATH` describes a local file as `info` describes a remote dataset: format, size, rows
/// (from a Parquet footer, or counted), schema, features, first rows; `--json` the same facts.
#[test]
fn info_describes_a_local_file() {
    let cx = TestContext::new();
    cx.csv("data.csv", 30).spec(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: data.csv}\nstages:\n  clean: {kind: normalize, input: raw, class_labels: {label: [a, b, c]}}\n",
    );
    cx.run(&["build"]).success();
    // A CSV: rows counted by reading it.
    let out = cx.run(&["info", "data.csv", "--sample", "2"]);
    out.success()
        .stdout_has("  format    CSV")
        .stdout_has("  rows      30 (counted by reading the file)")
        .stdout_has("  columns   3")
        .stdout_has("  id     int64")
        .stdout_has("row number 1");
    assert!(!out.stdout.contains("row number 2"), "{}", out.stdout);
    // The Parquet that normalize wrote: the footer's facts and the class labels.
    let out = cx.run(&["info", "out/demo/clean/part-0.parquet"]);
    out.success()
        .stdout_has("  rows      30\n")
        .stdout_has("1 row group, zstd, written by mldatabuild")
        .stdout_has("class labels: label (a, b, c)");
    let out = cx.run(&[
        "info",
        "file://out/demo/clean/part-0.parquet",
        "--json",
        "--sample",
        "3",
    ]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["rows"], 30, "{v}");
    assert_eq!(v["rows_counted"], false, "{v}");
    assert_eq!(v["parquet"]["row_groups"], 1, "{v}");
    assert_eq!(
        v["features"]["label"]["names"],
        serde_json::json!(["a", "b", "c"]),
        "{v}"
    );
    assert_eq!(v["sample"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(
        v["schema"][1],
        serde_json::json!({"name": "text", "type": "string"}),
        "{v}"
    );
    // What it cannot describe.
    cx.run(&["info", "out"])
        .code(2)
        .stderr_has("`out` is a folder");
    cx.run(&["info", "nothing.csv"])
        .code(2)
        .stderr_has("`nothing.csv` is not a file here");
}
