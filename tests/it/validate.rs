//! validate: every check, its actions (report, drop, fail), the reports, and bad input.

use std::fmt::Write as _;

use crate::context::TestContext;

/// Rows of a Parquet file, from its footer.
pub(crate) fn parquet_rows(cx: &TestContext, rel: &str) -> i64 {
    let f = std::fs::File::open(cx.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let r = parquet::file::reader::SerializedFileReader::new(f).unwrap();
    parquet::file::reader::FileReader::metadata(&r)
        .file_metadata()
        .num_rows()
}

fn spec(checks: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.csv}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n  checked:\n    kind: validate\n    input: clean\n{checks}"
    )
}

/// 60 distinct rows with labels a (40), b (15), c (5), then `dups` copies of rows 0..dups.
fn data(dups: usize) -> String {
    let mut s = String::from("id,text,label,score\n");
    let text = |i: usize| {
        format!(
            "document {i} talks about topic {} with words {} and more words {}",
            i * 7,
            i * 13,
            i * 31
        )
    };
    for i in 0..60 {
        let label = if i < 40 {
            "a"
        } else if i < 55 {
            "b"
        } else {
            "c"
        };
        let _ = writeln!(s, "{i},{},{label},{}", text(i), f64::from(i as u32) / 10.0);
    }
    for i in 0..dups {
        let label = if i < 40 { "a" } else { "b" };
        let _ = writeln!(s, "{i},{},{label},{}", text(i), f64::from(i as u32) / 10.0);
    }
    s
}

fn report(cx: &TestContext) -> serde_json::Value {
    serde_json::from_str(&cx.read("out/demo/reports/checked.json")).unwrap()
}

fn check<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {r}"))
}

#[test]
fn clean_data_passes_every_check() {
    let cx = TestContext::new();
    cx.file("data.csv", data(0)).spec(&spec(""));
    cx.run(&["build"])
        .success()
        .stderr_has("All checks passed (3 checks: 3 passed, 0 warnings, 0 errors)")
        .stderr_has("✓ duplicates");
    let r = report(&cx);
    assert_eq!(r["passed"], true);
    assert_eq!(r["rows"], 60);
    assert!(
        cx.read("out/demo/reports/checked.md")
            .contains("**All checks passed.**")
    );
    // Nothing dropped: the table passes through byte for byte.
    assert_eq!(
        cx.read_bytes("out/demo/checked/part-0.parquet"),
        cx.read_bytes("out/demo/clean/part-0.parquet")
    );
    // The reports are outputs: hashed in the lock, checked by verify.
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("path: reports/checked.json"), "{lock}");
    cx.run(&["verify"])
        .success()
        .stdout_has("✓ reports/checked.md");
    cx.run(&["build"]).success().stderr_has("Built demo");
    std::fs::remove_file(cx.path("out/demo/reports/checked.md")).unwrap();
    cx.run(&["status"])
        .success()
        .stdout_has("output missing: reports/checked.md");
}

#[test]
fn exact_duplicates_reported_then_dropped_keeping_the_first() {
    let cx = TestContext::new();
    cx.file("data.csv", data(6)).spec(&spec(""));
    cx.run(&["build"])
        .success()
        .stderr_has("6 rows (9.09 %) duplicate an earlier row, in 6 groups")
        .stderr_has("more than 1 % of the rows are duplicates");
    let r = report(&cx);
    let d = check(&r, "duplicates");
    assert_eq!(d["status"], "warning");
    assert_eq!(d["details"]["duplicate_rows"], 6);
    assert_eq!(d["details"]["examples"][0]["kept"], 0);
    assert_eq!(d["details"]["examples"][0]["duplicate"], 60);
    assert_eq!(d["details"]["examples"].as_array().unwrap().len(), 5);
    assert_eq!(parquet_rows(&cx, "out/demo/checked/part-0.parquet"), 66);

    cx.spec(&spec("    duplicates: {action: drop}\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("dropped 6 duplicates")
        .stderr_has("kept 60 of 66 rows");
    assert_eq!(parquet_rows(&cx, "out/demo/checked/part-0.parquet"), 60);
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("rows_dropped: 6"), "{lock}");
    // Deterministic: a forced rebuild gives the same bytes.
    let before = cx.read_bytes("out/demo/checked/part-0.parquet");
    cx.run(&["build", "--force", "--jobs", "1"]).success();
    assert_eq!(cx.read_bytes("out/demo/checked/part-0.parquet"), before);
}

#[test]
fn duplicates_on_chosen_columns_and_fail_action() {
    let cx = TestContext::new();
    // Same text, different ids: duplicates only on `text`.
    cx.file(
        "data.csv",
        "id,text\n1,hello there\n2,hello there\n3,other\n",
    );
    cx.spec(&spec("    duplicates: {columns: [text], action: fail}\n"));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("validation failed")
        .stderr_has("duplicates: 1 rows (33.33 %) duplicate an earlier row");
    assert!(!cx.exists("out/demo/reports/checked.json"));
    assert!(!cx.read("dataset.lock").contains("checked:"));
    cx.spec(&spec("    duplicates: {columns: [txt]}\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("no column `txt`")
        .stderr_has("did you mean `text`?");
}

#[test]
fn near_duplicate_texts_found_and_dropped() {
    let cx = TestContext::new();
    let base: Vec<String> = (0..80).map(|i| format!("w{i}")).collect();
    let mut s = String::from("id,text\n");
    let _ = writeln!(s, "0,{}", base.join(" "));
    let mut edited = base.clone();
    edited[40] = "CHANGED".into();
    let _ = writeln!(s, "1,{}", edited.join(" "));
    // Punctuation and case only: identical after normalization.
    let _ = writeln!(s, "2,\"{}!\"", base.join(" ").to_uppercase());
    for i in 3..40 {
        let words: Vec<String> = (0..80).map(|j| format!("d{i}x{j}")).collect();
        let _ = writeln!(s, "{i},{}", words.join(" "));
    }
    cx.file("data.csv", s);
    cx.spec(&spec(
        "    near_duplicates: {column: text, threshold: 0.85}\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("near-duplicate text pairs; 2 rows");
    let r = report(&cx);
    let n = check(&r, "near_duplicates");
    assert_eq!(n["details"]["redundant_rows"], 2);
    assert_eq!(n["details"]["clusters"], 1);
    cx.spec(&spec(
        "    near_duplicates: {column: text, threshold: 0.85, action: drop}\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("kept 38 of 40 rows");
    // A low threshold gets a warning about false positives.
    cx.spec(&spec(
        "    near_duplicates: {column: text, threshold: 0.5}\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("near_duplicates.threshold 0.5 is low");
    cx.spec(&spec(
        "    near_duplicates: {column: text, threshold: 1.5}\n",
    ));
    cx.run(&["build"])
        .code(2)
        .stderr_has("near_duplicates.threshold must be in (0, 1]");
}

#[test]
fn labels_distribution_imbalance_and_histogram() {
    let cx = TestContext::new();
    cx.file("data.csv", data(0));
    cx.spec(&spec("    labels: {column: label, max_imbalance: 5}\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("severe class imbalance: `a` has 40 rows, `c` 5 (8.0× > 5)")
        .stderr_has("label distribution:")
        .stderr_has("a  ██████████████████████████████        40   66.7 %");
    let r = report(&cx);
    let l = check(&r, "labels");
    assert_eq!(l["details"]["counts"]["b"], 15);
    assert_eq!(l["details"]["classes"], 3);
    // The distribution is in the lock, so `diff` shows how it changed.
    std::fs::copy(cx.path("dataset.lock"), cx.path("old.lock")).unwrap();
    cx.file("data.csv", data(20));
    cx.run(&["build"]).success();
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("distribution:"), "{lock}");
    cx.run(&["diff", "old.lock"])
        .success()
        .stdout_has("checks.labels.distribution.counts.a: 40 → 60");
}

#[test]
fn continuous_and_multi_label() {
    let cx = TestContext::new();
    cx.file("data.csv", data(0));
    cx.spec(&spec("    labels: {column: score}\n"));
    cx.run(&["build"])
        .success()
        .stderr_has("continuous labels: mean 2.950");
    let r = report(&cx);
    assert_eq!(check(&r, "labels")["details"]["type"], "continuous");
    assert_eq!(check(&r, "labels")["details"]["median"], 3.0);

    let cx = TestContext::new();
    cx.file(
        "data.jsonl",
        "{\"id\": 1, \"tags\": [\"x\", \"y\"]}\n{\"id\": 2, \"tags\": [\"x\"]}\n{\"id\": 3, \"tags\": []}\n",
    );
    cx.spec(&spec("    labels: {column: tags}\n").replace("data.csv", "data.jsonl"));
    cx.run(&["build"]).success();
    let r = report(&cx);
    let l = check(&r, "labels");
    assert_eq!(l["details"]["type"], "multi_label");
    assert_eq!(l["details"]["counts"]["x"], 2);
    assert_eq!(l["details"]["labels_per_row"]["rows_without"], 1);
}

#[test]
fn many_classes_are_summarized() {
    let cx = TestContext::new();
    let mut s = String::from("id,label\n");
    for i in 0..300 {
        let _ = writeln!(s, "{i},class{}", i % 150);
    }
    cx.file("data.csv", s);
    cx.spec(&spec("    labels: {column: label, max_imbalance: 100}\n"));
    cx.run(&["build"]).success();
    let r = report(&cx);
    let l = check(&r, "labels");
    assert_eq!(l["details"]["classes"], 150);
    assert_eq!(l["details"]["counts"].as_object().unwrap().len(), 20);
}

#[test]
fn all_null_label_column_is_an_error() {
    let cx = TestContext::new();
    cx.file("data.csv", "id,label\n1,\n2,\n");
    cx.spec(&spec("    labels: {column: label}\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`labels.column: label`: the column is null in all 2 rows")
        .stderr_has("hint: name the column that holds the labels");
    assert!(!cx.exists("out/demo/checked"));
}

#[test]
fn missing_values_nulls_nan_empty_strings() {
    let cx = TestContext::new();
    // JSON Lines keeps empty strings apart from nulls (CSV reads an empty field as null).
    let mut s = String::new();
    for i in 0..100 {
        let text = if i < 3 { "" } else { "t" };
        let score = if i < 10 {
            "null".to_owned()
        } else {
            "0.5".to_owned()
        };
        let _ = writeln!(
            s,
            "{{\"id\": {i}, \"text\": \"{text}\", \"score\": {score}, \"empty\": null}}"
        );
    }
    cx.file("data.jsonl", s);
    cx.spec(&spec("").replace("data.csv", "data.jsonl"));
    cx.run(&["build"])
        .success()
        .stderr_has("column empty is missing in every row");
    let r = report(&cx);
    let m = check(&r, "missing");
    assert_eq!(m["status"], "error");
    let cols = m["details"]["columns"].as_array().unwrap();
    let col = |n: &str| cols.iter().find(|c| c["column"] == n).unwrap().clone();
    assert_eq!(col("text")["empty_strings"], 3);
    assert_eq!(col("text")["level"], "yellow");
    assert_eq!(col("score")["nulls"], 10);
    assert_eq!(col("score")["level"], "red");
    assert_eq!(m["details"]["rows_with_missing"], 100);

    // Only some columns, empty strings not counted, drop rows missing a value.
    cx.spec(
        &spec("    missing: {columns: [text, score], empty_strings: false, action: drop}\n")
            .replace("data.csv", "data.jsonl"),
    );
    cx.run(&["build"])
        .success()
        .stderr_has("1 column above 5 % missing: score (10.0 %)")
        .stderr_has("kept 90 of 100 rows");
}

#[test]
fn schema_expected_types_and_not_null() {
    let cx = TestContext::new();
    cx.file("data.csv", "id,text,score\n1,a,\n2,b,0.5\n");
    cx.spec(&spec(
        "    schema: {types: {id: int64, text: int64, gone: string}, not_null: [score]}\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("`text` is string, expected int64")
        .stderr_has("`gone` is missing (expected string)")
        .stderr_has("`score` has 1 nulls");
    cx.spec(&spec(
        "    schema: {types: {id: int64}, no_extra_columns: true, action: fail}\n",
    ));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`text` is not expected");
    cx.spec(&spec("    schema: {action: drop}\n"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("`schema.action: drop` is not possible");
}

#[test]
fn validates_every_split_of_a_split_stage() {
    let cx = TestContext::new();
    cx.file("data.csv", data(0));
    cx.spec(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: data.csv}\nstages:\n  clean: {kind: normalize, input: raw}\n  splits: {kind: split, input: clean, seed: 3}\n  checked: {kind: validate, input: splits, duplicates: {action: drop}}\n",
    );
    cx.run(&["build"])
        .success()
        .stderr_has("consistent across 3 files");
    // Index files are not tables: only the three Parquet files pass through.
    for s in ["train", "validation", "test"] {
        assert!(cx.exists(&format!("out/demo/checked/{s}.parquet")));
        assert!(!cx.exists(&format!("out/demo/checked/{s}.csv")));
    }
}

fn png(seed: u32, size: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(size, size, |x, y| {
        let v = ((x * seed + y * 3 + (x ^ y) * seed) % 256) as u8;
        image::Rgb([v, v.wrapping_mul(3), 255 - v])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn image_files_checked_quarantined_and_near_duplicates_found() {
    let cx = TestContext::new();
    let good = png(7, 64);
    cx.file("imgs/cat/a.png", &good);
    cx.file("imgs/cat/b.png", png(11, 64));
    cx.file("imgs/dog/c.png", png(29, 64));
    // The same picture saved again (a copy under another name): a near-duplicate.
    cx.file("imgs/dog/d.png", &good);
    // Cut in half: truncated.
    cx.file("imgs/dog/e.png", &good[..good.len() / 2]);
    cx.spec(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: imgs}\nstages:\n  clean: {kind: normalize, input: raw, format: imagefolder, embed_media: true, on_error: skip}\n  checked:\n    kind: validate\n    input: clean\n    duplicates: {enabled: false}\n    near_duplicates: {column: image}\n    files: {column: image, quarantine: true}\n",
    );
    let out = cx.run(&["build"]);
    out.success()
        .stderr_has("1 of 5 files are unusable (e.g. dog/e.png: truncated");
    let r = report(&cx);
    let f = check(&r, "files");
    assert_eq!(f["details"]["by_problem"]["truncated"], 1);
    let q = f["details"]["quarantine"][0].as_str().unwrap();
    assert!(cx.exists(&format!("out/demo/{q}")), "{q}");
    let n = check(&r, "near_duplicates");
    assert_eq!(n["details"]["kind"], "image");
    assert_eq!(n["details"]["redundant_rows"], 1);
    // Drop the unusable rows.
    cx.spec(&cx.read("dataset.yaml").replace(
        "files: {column: image, quarantine: true}",
        "files: {column: image, action: drop}",
    ));
    cx.run(&["build"]).success().stderr_has("kept 4 of 5 rows");
}

#[test]
fn file_checks_need_the_bytes_in_the_table() {
    let cx = TestContext::new();
    cx.file("imgs/cat/a.png", png(7, 16));
    cx.spec(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: imgs}\nstages:\n  clean: {kind: normalize, input: raw, format: imagefolder}\n  checked:\n    kind: validate\n    input: clean\n    files: {column: image}\n",
    );
    cx.run(&["build"])
        .code(1)
        .stderr_has("none of the 1 rows checked holds file bytes")
        .stderr_has("embed_media: true");
}

#[test]
fn standalone_validate_command() {
    let cx = TestContext::new();
    cx.file("data.csv", data(3));
    cx.run(&["validate", "data.csv", "--label", "label"])
        .success()
        .stderr_has("3 rows (4.76 %) duplicate an earlier row")
        .stderr_has("label distribution:")
        .stderr_has("Reports: [ROOT]/data-validation/dataset/reports/validation.md");
    assert!(cx.exists("data-validation/dataset.yaml"));
    assert!(cx.exists("data-validation/dataset.lock"));
    // Again: nothing runs, the stored report is shown.
    cx.run(&["validate", "data.csv", "--label", "label"])
        .success()
        .stderr_has("! duplicates");
    cx.run(&["validate", "data.csv", "--strict"])
        .code(1)
        .stderr_has("validation failed");
    cx.run(&["validate", "nope.csv"])
        .code(2)
        .stderr_has("`nope.csv`: no such file or folder");
    cx.run(&["validate", "data.csv", "--label", "lab"])
        .code(1)
        .stderr_has("did you mean `label`?");
}
