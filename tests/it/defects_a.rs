//! Regressions: what the ad-hoc commands wrote reads back, class-label names in validation
//! reports and filters, and no Rust debug text in messages.

use crate::context::TestContext;

fn lines(cx: &TestContext, rel: &str) -> usize {
    cx.read(rel).lines().count()
}

/// `split` writes `train.parquet` beside its index file `train.csv`; `export`, `validate` and
/// `split` of that folder (or of the project folder `split` made) read the tables and leave
/// the index files alone, instead of failing on them as CSV data.
#[test]
fn a_split_folder_reads_back() {
    let cx = TestContext::new();
    cx.csv("data.csv", 50);
    cx.run(&["split", "data.csv", "--ratios", "0.8,0.2", "--seed", "7"])
        .success();
    assert!(cx.exists("data-splits/dataset/splits/train.csv"));

    // The project folder split wrote stands for its splits.
    cx.run(&["export", "data-splits", "--format", "parquet,jsonl"])
        .success()
        .stderr_has("the split index files `test.csv`, `train.csv` are not data");
    let (train, test) = (
        lines(&cx, "data-splits-export/dataset/export/jsonl/train.jsonl"),
        lines(&cx, "data-splits-export/dataset/export/jsonl/test.jsonl"),
    );
    assert_eq!(train + test, 50, "every row once, in its split");
    assert!(train > test && test > 0);
    assert!(cx.exists("data-splits-export/dataset/export/parquet/test.parquet"));

    // The splits folder itself.
    cx.run(&[
        "export",
        "data-splits/dataset/splits",
        "--format",
        "jsonl",
        "-o",
        "again",
    ])
    .success();
    assert_eq!(lines(&cx, "again/dataset/export/jsonl/train.jsonl"), train);

    cx.run(&["validate", "data-splits", "--label", "label"])
        .success()
        .stderr_has("label distribution:");
    let report: serde_json::Value =
        serde_json::from_str(&cx.read("data-splits-validation/dataset/reports/validation.json"))
            .unwrap();
    assert_eq!(report["rows"], 50, "{report}");

    cx.run(&[
        "split",
        "data-splits",
        "--ratios",
        "0.5,0.5",
        "-o",
        "halves",
    ])
    .success();
}

/// JSON index files (`--index json`) are recognized too; a folder of plain data is read whole.
#[test]
fn json_split_index_files_are_not_data() {
    let cx = TestContext::new();
    cx.csv("data.csv", 30);
    cx.run(&[
        "split", "data.csv", "--ratios", "0.5,0.5", "--index", "json", "--seed", "1",
    ])
    .success();
    assert!(cx.exists("data-splits/dataset/splits/train.json"));
    cx.run(&["validate", "data-splits/dataset/splits", "-o", "checked"])
        .success()
        .stderr_has("`test.json`, `train.json` are not data");
    assert!(
        cx.read("checked/dataset.yaml")
            .contains(r#"files: ["test.parquet", "train.parquet"]"#)
    );
    // A CSV that only looks like an index (no table beside it) is data.
    cx.file("mixed/a.csv", "id,text\n1,a\n2,b\n");
    cx.file("mixed/b.csv", "id,text\n3,c\n");
    cx.run(&["export", "mixed", "--format", "jsonl"]).success();
    assert_eq!(
        lines(&cx, "mixed-export/dataset/export/jsonl/train.jsonl"),
        3
    );
}

/// A project folder that is not one of the ad-hoc commands' is named as such, not read as
/// data (its dataset.yaml is not a table).
#[test]
fn a_project_folder_is_not_data() {
    let cx = TestContext::new();
    cx.csv("proj/data.csv", 5);
    cx.file("proj/dataset.yaml", "name: p\nversion: 1.0.0\n");
    cx.run(&["validate", "proj"])
        .code(2)
        .stderr_has(
            "`[ROOT]/proj` is a project folder (it holds a dataset.yaml), not a folder of data",
        )
        .stderr_has("proj/dataset/<stage>");
}

/// 50 rows, labelled `neg` 40 times and `pos` 10 times.
fn labelled(cx: &TestContext) {
    let mut s = String::from("id,text,label\n");
    for i in 0..50 {
        let label = if i % 5 == 0 { "pos" } else { "neg" };
        s.push_str(&format!("{i},row number {i},{label}\n"));
    }
    cx.file("data.csv", s);
}

fn class_label_spec(filter: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.csv}}\nstages:\n  clean:\n    kind: normalize\n    input: raw\n    class_labels: {{label: [neg, pos]}}\n{filter}  checked:\n    kind: validate\n    input: clean\n    labels: {{column: label, max_imbalance: 3}}\n"
    )
}

/// A ClassLabel column holds ids; the label report names them (`neg (0)`) in the terminal,
/// the JSON report (`names` beside the id-keyed `counts`), the Markdown report and `stats`.
#[test]
fn the_label_report_names_class_labels() {
    let cx = TestContext::new();
    labelled(&cx);
    cx.spec(&class_label_spec(""));
    cx.run(&["build"])
        .success()
        .stderr_has("severe class imbalance: `neg (0)` has 40 rows, `pos (1)` 10")
        .stderr_has("  neg (0)  ██████████████████████████████        40   80.0 %")
        .stderr_has("  pos (1)  ████████");
    let report: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/reports/checked.json")).unwrap();
    let labels = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "labels")
        .unwrap();
    assert_eq!(
        labels["details"]["counts"],
        serde_json::json!({"0": 40, "1": 10})
    );
    assert_eq!(
        labels["details"]["names"],
        serde_json::json!({"0": "neg", "1": "pos"})
    );
    let md = cx.read("out/demo/reports/checked.md");
    assert!(md.contains("neg (0)  "), "{md}");
    // Status and action as the spec and the JSON say them, not Rust's names.
    assert!(md.contains("| labels | ! warning | report |"), "{md}");
    assert!(!md.contains("Warning") && !md.contains("Report"), "{md}");
    // The stored report, shown again without running.
    let out = cx.run(&["stats", "checked"]);
    out.success()
        .stdout_has("label distribution:")
        .stdout_has("pos (1)");
}

/// A filter on a `class_labels` column takes class names; a name that is not a class, or a
/// value of the wrong type, is said as written, never as Rust debug text (`Str("neu")`).
#[test]
fn a_filter_on_class_labels_takes_names() {
    let cx = TestContext::new();
    labelled(&cx);
    cx.spec(&class_label_spec("    filter: [\"label == 'pos'\"]\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("every labelled row has the same label `pos (1)`");
    let report: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/reports/checked.json")).unwrap();
    assert_eq!(report["rows"], 10);

    cx.spec(&class_label_spec(
        "    filter: [\"label in ['neg', 'neu']\"]\n",
    ));
    let out = cx.run(&["build"]);
    out.code(1).stderr_has(
        "filter `label in ['neg', 'neu']`: `neu` is not a class of the class-label column `label`; its classes are `neg`, `pos`",
    );
    assert!(!out.stderr.contains("Str("), "{}", out.stderr);

    cx.spec(&class_label_spec("    filter: [\"id == 'x'\"]\n"));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("filter `id == 'x'`: `'x'` does not convert to the column's type, int64");
    assert!(!out.stderr.contains("Str("), "{}", out.stderr);
}
