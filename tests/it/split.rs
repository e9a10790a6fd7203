//! split: ratios, seeds, stratified / key / group assignment, index files, leakage, bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::context::TestContext;
use crate::validate::parquet_rows;

fn spec(split: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.csv}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n  splits:\n    kind: split\n    input: clean\n{split}"
    )
}

/// `n` rows: id, text, label (a: 60 %, b: 30 %, c: 10 %), user (`n / 5` users).
fn data(n: usize) -> String {
    let mut s = String::from("id,text,label,user\n");
    for i in 0..n {
        let label = match i % 10 {
            0..=5 => "a",
            6..=8 => "b",
            _ => "c",
        };
        let _ = writeln!(s, "{i},text {i},{label},u{}", i % (n / 5).max(1));
    }
    s
}

/// Split → ids, from the CSV index files (`row` or id column).
fn index(cx: &TestContext, splits: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    splits
        .iter()
        .map(|s| {
            let text = cx.read(&format!("out/demo/splits/{s}.csv"));
            let ids = text
                .lines()
                .skip(2)
                .map(str::to_owned)
                .collect::<BTreeSet<_>>();
            ((*s).to_owned(), ids)
        })
        .collect()
}

#[test]
fn default_ratios_and_index_files_carry_seed_and_ratios() {
    let cx = TestContext::new();
    cx.file("data.csv", data(200)).spec(&spec("    seed: 5\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("Split with seed: 5 (random)")
        .stderr_has("train               160 rows   80.00 %");
    assert_eq!(parquet_rows(&cx, "out/demo/splits/train.parquet"), 160);
    assert_eq!(parquet_rows(&cx, "out/demo/splits/test.parquet"), 20);
    let csv = cx.read("out/demo/splits/test.csv");
    assert!(
        csv.starts_with(
            "# mldatabuild split=test seed=5 ratios=test:0.1,train:0.8,validation:0.1\nrow\n"
        ),
        "{csv}"
    );
    let all = index(&cx, &["train", "validation", "test"]);
    let union: BTreeSet<&String> = all.values().flatten().collect();
    assert_eq!(union.len(), 200);

    // JSON and plain-text index files; the id column instead of row numbers.
    cx.spec(&spec(
        "    seed: 5\n    index: json\n    index_column: id\n",
    ));
    cx.run(&["build"]).success();
    let json: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/splits/test.json")).unwrap();
    assert_eq!(json["seed"], 5);
    assert_eq!(json["column"], "id");
    assert_eq!(json["ratios"]["train"], 0.8);
    assert_eq!(json["rows"].as_array().unwrap().len(), 20);
    assert!(!cx.exists("out/demo/splits/test.csv"));
    cx.spec(&spec("    seed: 5\n    index: txt\n"));
    cx.run(&["build"]).success();
    assert_eq!(cx.read("out/demo/splits/test.txt").lines().count(), 21);
    cx.spec(&spec("    seed: 5\n    index: none\n"));
    cx.run(&["build"]).success();
    assert!(!cx.exists("out/demo/splits/test.txt"));
}

#[test]
fn ratios_not_summing_to_one_are_normalized_with_a_warning() {
    let cx = TestContext::new();
    cx.file("data.csv", data(100))
        .spec(&spec("    seed: 1\n    ratios: {train: 7, test: 3}\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("ratios sum to 10, not 1; normalized to test 0.3, train 0.7");
    assert_eq!(parquet_rows(&cx, "out/demo/splits/train.parquet"), 70);
    assert!(cx.read("dataset.lock").contains("ratios sum to 10"));
}

#[test]
fn a_missing_seed_is_drawn_printed_and_pinned_in_the_lock() {
    let cx = TestContext::new();
    cx.file("data.csv", data(50)).spec(&spec(""));
    let out = cx.run(&["build"]);
    out.success().stderr_has("Split with seed: ");
    let lock = cx.read("dataset.lock");
    let seed: u64 = lock
        .lines()
        .find_map(|l| l.trim().strip_prefix("seed: "))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seed in {lock}"));
    assert!(out.stderr.contains(&format!("Split with seed: {seed}")));
    // The next build reuses it: nothing runs, nothing is drawn.
    let second = cx.run(&["build"]);
    second.success().stderr_has("Built demo");
    assert!(!second.stderr.contains("Running"), "{}", second.stderr);
    let again = cx.run(&["build", "-v"]);
    assert!(!again.stderr.contains("drawn"), "{}", again.stderr);
    assert_eq!(cx.read("dataset.lock"), lock);
    cx.run(&["build", "--locked"]).success();
    cx.run(&["verify"])
        .success()
        .stdout_has("Lock consistency: ok");
    // --seed replaces it; the spec's own seed would win over both.
    cx.run(&["build", "--seed", "7"])
        .success()
        .stderr_has("Running splits");
    assert!(cx.read("dataset.lock").contains("seed: 7"));
}

#[test]
fn stratified_splits_keep_label_proportions() {
    let cx = TestContext::new();
    let mut csv = data(1000);
    csv.push_str("1000,lonely,z,u0\n");
    cx.file("data.csv", csv)
        .spec(&spec("    seed: 3\n    stratify: label\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("Split with seed: 3 (stratified)")
        .stderr_has("1 label with a single row (`z`) went to `train`")
        .stderr_has("label             overall       test      train validation");
    let lock: serde_json::Value = serde_json::to_value(
        serde_saphyr::from_str::<serde_json::Value>(&cx.read("dataset.lock")).unwrap(),
    )
    .unwrap();
    let s = &lock["stages"]["splits"]["summary"];
    assert!(
        s["stratify"]["max_deviation"].as_f64().unwrap() <= 0.02,
        "{s}"
    );
    let d = &s["stratify"]["distribution"];
    assert_eq!(d["a"]["train"], 480);
    assert_eq!(d["a"]["test"], 60);
    assert_eq!(d["c"]["validation"], 10);
    assert_eq!(d["z"]["train"], 1);
    assert_eq!(s["splits"]["train"].as_u64().unwrap(), 801);

    cx.file("data.csv", "id,score\n1,0.5\n2,0.25\n3,0.125\n");
    cx.spec(&spec("    seed: 3\n    stratify: score\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`stratify: score` is a float64 column")
        .stderr_has("hint: stratify by a categorical column");
    cx.file("data.csv", data(100));
    cx.spec(&spec("    seed: 3\n    stratify: lable\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`stratify: lable`: the input has no column `lable`")
        .stderr_has("did you mean `label`?");
}

#[test]
fn stratify_on_an_all_null_column_fails() {
    let cx = TestContext::new();
    let mut s = String::from("id,label\n");
    for i in 0..30 {
        let _ = writeln!(s, "{i},");
    }
    cx.file("data.csv", s)
        .spec(&spec("    seed: 1\n    stratify: label\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("the column is null in all 30 rows")
        .stderr_has("hint: stratify by a column that holds the labels");
    assert!(!cx.exists("out/demo/splits"));
}

#[test]
fn key_assignment_is_stable_when_rows_are_added() {
    let cx = TestContext::new();
    cx.file("data.csv", data(300))
        .spec(&spec("    seed: 9\n    key: id\n"));
    cx.run(&["build"]).success().stderr_has("(key)");
    let names = ["train", "validation", "test"];
    let before = index(&cx, &names);
    cx.file("data.csv", data(600));
    cx.run(&["build"]).success();
    let after = index(&cx, &names);
    for (split, ids) in &before {
        assert!(ids.is_subset(&after[split]), "rows moved out of {split}");
    }
    // Index files list the key column.
    assert!(cx.read("out/demo/splits/train.csv").lines().nth(1) == Some("id"));
}

#[test]
fn a_group_never_spans_two_splits() {
    let cx = TestContext::new();
    cx.file("data.csv", data(500)).spec(&spec(
        "    seed: 2\n    group: user\n    index_column: user\n",
    ));
    cx.run(&["build"]).success().stderr_has("(group)");
    let all = index(&cx, &["train", "validation", "test"]);
    let mut seen: BTreeMap<&String, &String> = BTreeMap::new();
    for (split, users) in &all {
        for u in users {
            if let Some(other) = seen.insert(u, split) {
                panic!("group {u} in {other} and {split}");
            }
        }
    }
    cx.spec(&spec("    seed: 2\n    group: user\n    key: id\n"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("`key` and `group` cannot be combined");
}

#[test]
fn leakage_across_splits_is_reported_or_fails() {
    let cx = TestContext::new();
    let mut s = String::from("id,text\n");
    for i in 0..100 {
        let text = if i < 20 {
            "the same text".to_owned()
        } else {
            format!("text {i}")
        };
        let _ = writeln!(s, "{i},{text}");
    }
    cx.file("data.csv", s).spec(&spec("    seed: 4\n"));
    // Every column but ids: the 20 copies of one text leak across splits.
    cx.run(&["build"])
        .success()
        .stderr_has("leakage: 20 rows have an identical row in another split");
    cx.spec(&spec("    seed: 4\n    leakage: {columns: [id]}\n"));
    let out = cx.run(&["build"]);
    assert!(!out.stderr.contains("leakage:"), "{}", out.stderr);
    cx.spec(&spec("    seed: 4\n    fail_on_leakage: true\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("leakage: 20 rows")
        .stderr_has("hint: deduplicate before splitting");
}

#[test]
fn near_duplicate_leakage_is_counted() {
    let cx = TestContext::new();
    let mut s = String::from("id,text\n");
    let base: Vec<String> = (0..60).map(|j| format!("w{j}")).collect();
    for i in 0..40 {
        let mut words = base.clone();
        words[i] = format!("x{i}");
        let _ = writeln!(s, "{i},{}", words.join(" "));
    }
    cx.file("data.csv", s).spec(&spec(
        "    seed: 4\n    leakage: {near_duplicates: text, threshold: 0.8}\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("near-duplicate pairs across splits");
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("near_pairs:"), "{lock}");
}

#[test]
fn a_split_that_would_be_empty_is_an_error_and_small_ones_warn() {
    let cx = TestContext::new();
    cx.file("data.csv", data(5)).spec(&spec("    seed: 1\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("would be empty: 5 rows × 0.1 = 0.5")
        .stderr_has("hint: use more data, a larger share for that split, or fewer splits");
    assert!(!cx.exists("out/demo/splits"));
    cx.spec(&spec("    seed: 1\n    ratios: {train: 0.5, test: 0.5}\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("has only 2 rows; metrics on it will be noisy");
}

#[test]
fn stratified_split_is_deterministic_across_thread_counts() {
    let cx = TestContext::new();
    cx.file("data.csv", data(2000))
        .spec(&spec("    seed: 11\n    stratify: label\n"));
    cx.run(&["build", "--jobs", "1"]).success();
    let one = cx.read_bytes("out/demo/splits/train.parquet");
    let idx = cx.read("out/demo/splits/train.csv");
    cx.run(&["build", "--force", "--jobs", "2"]).success();
    assert_eq!(cx.read_bytes("out/demo/splits/train.parquet"), one);
    assert_eq!(cx.read("out/demo/splits/train.csv"), idx);
}

#[test]
fn standalone_split_command() {
    let cx = TestContext::new();
    cx.file("data.csv", data(100));
    cx.run(&[
        "split",
        "data.csv",
        "--ratios",
        "0.7,0.2,0.1",
        "--stratify",
        "label",
        "--seed",
        "42",
    ])
    .success()
    .stderr_has("Split with seed: 42 (stratified)")
    .stderr_has("Splits: [ROOT]/data-splits/dataset/splits");
    assert_eq!(
        parquet_rows(&cx, "data-splits/dataset/splits/train.parquet"),
        70
    );
    let spec = cx.read("data-splits/dataset.yaml");
    assert!(
        spec.contains("ratios: {train: 0.7, validation: 0.2, test: 0.1}"),
        "{spec}"
    );
    cx.run(&["split", "data.csv", "--ratios", "0.7,-0.3"])
        .code(2)
        .stderr_has("ratios.test must be a positive number: got -0.3");
    cx.run(&["split", "data.csv", "--ratios", "0.5,0.3,0.1,0.1"])
        .code(2)
        .stderr_has("name the splits with --names");
    cx.run(&["split", "data.csv", "--stratify", "nope", "-o", "other"])
        .code(1)
        .stderr_has("no column `nope`");
}
