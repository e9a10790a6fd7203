//! `diff --detailed [--key COLUMN]`: row-level diffs of two builds.

use crate::context::{Output, TestContext};
use crate::errors::SPEC;

/// Build 20 rows, keep the lock as `old.lock`, then edit the data and build again: rows 3 and 4
/// removed, 7 and 9 edited (9 with a long text), 20..23 added.
fn edited() -> TestContext {
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    cx.run(&["build"]).success();
    std::fs::copy(cx.path("dataset.lock"), cx.path("old.lock")).unwrap();
    let mut csv = String::from("id,text,label\n");
    for i in 0..20 {
        match i {
            3 | 4 => {}
            7 => csv.push_str("7,edited seven,1\n"),
            9 => csv.push_str(&format!("9,{},2\n", "long ".repeat(30).trim_end())),
            _ => csv.push_str(&format!("{i},row number {i},{}\n", i % 3)),
        }
    }
    for i in 20..23 {
        csv.push_str(&format!("{i},new row {i},0\n"));
    }
    cx.file("data.csv", csv);
    cx.run(&["build"]).success();
    cx
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", out.stdout))
}

#[test]
fn rows_added_removed_changed_by_key() {
    let cx = edited();
    let out = cx.run(&[
        "diff",
        "old.lock",
        "dataset.lock",
        "--detailed",
        "--key",
        "id",
    ]);
    out.success()
        // The lock-level diff comes first, unchanged.
        .stdout_has("stage clean:\n  rows: 20 → 21")
        .stdout_has("rows clean (by id): 20 rows → 21 rows\n")
        .stdout_has("  + 3 added\n")
        .stdout_has("  - 2 removed\n")
        .stdout_has("  ~ 2 changed: text (2), label (1)\n")
        .stdout_has("      id 7: text \"row number 7\" → \"edited seven\"\n")
        .stdout_has(
            "      id 9: label 0 → 2; text \"row number 9\" → \"long long long long long long long long…\"\n",
        )
        .stdout_has("  = 16 unchanged\n")
        .stdout_has("rows splits (by id): 20 rows → 21 rows\n");
    let lock_level = out.stdout.find("stage clean:").unwrap();
    let rows = out.stdout.find("rows clean").unwrap();
    assert!(lock_level < rows, "row diff must follow the lock diff");
}

#[test]
fn rows_by_content_without_a_key() {
    let cx = edited();
    cx.run(&["diff", "old.lock", "--detailed"])
        .success()
        .stdout_has("rows clean (by content): 20 rows → 21 rows\n")
        // Two edits count as removed + added.
        .stdout_has("  + 5 added\n")
        .stdout_has("  - 4 removed\n")
        .stdout_has("  = 16 unchanged\n")
        .stdout_has(
            "note: rows are identified by their content, so a changed row shows as removed + added",
        );
    let out = cx.run(&["diff", "old.lock", "--detailed"]);
    assert!(!out.stdout.contains("changed:"), "{}", out.stdout);
}

#[test]
fn rows_moved_between_splits_after_a_seed_change() {
    let cx = TestContext::new();
    cx.csv("data.csv", 60).spec(SPEC);
    cx.run(&["build"]).success();
    std::fs::copy(cx.path("dataset.lock"), cx.path("old.lock")).unwrap();
    cx.spec(&SPEC.replace("seed: 1", "seed: 2"));
    cx.run(&["build"]).success();
    let out = cx.run(&["diff", "old.lock", "--detailed", "--key", "id"]);
    out.success()
        .stdout_has("params.seed: 1 → 2")
        .stdout_has("rows splits (by id): 60 rows → 60 rows\n")
        .stdout_has("  + 0 added\n")
        .stdout_has("  - 0 removed\n")
        .stdout_has("  ~ 0 changed\n")
        .stdout_has("  = 60 unchanged\n")
        .stdout_has("  moved train → test: ");
    // `clean` wrote the same bytes: no row diff for it.
    assert!(!out.stdout.contains("rows clean"), "{}", out.stdout);

    let j = json(&cx.run(&["diff", "old.lock", "--detailed", "--json"]));
    let splits = &j["rows"]["splits"];
    assert_eq!(splits["status"], "compared");
    assert_eq!(splits["identity"], "content");
    assert_eq!(splits["added"], 0);
    assert_eq!(splits["removed"], 0);
    assert_eq!(splits["unchanged"], 60);
    let moved = splits["moved"].as_array().unwrap();
    assert!(!moved.is_empty());
    // Every split's new size = old size - moved out + moved in.
    for (name, s) in splits["splits"].as_object().unwrap() {
        let out_of: i64 = moved
            .iter()
            .filter(|m| m["from"] == name.as_str())
            .map(|m| m["rows"].as_i64().unwrap())
            .sum();
        let into: i64 = moved
            .iter()
            .filter(|m| m["to"] == name.as_str())
            .map(|m| m["rows"].as_i64().unwrap())
            .sum();
        assert_eq!(
            s["old_rows"].as_i64().unwrap() - out_of + into,
            s["new_rows"].as_i64().unwrap(),
            "split {name}: {s}"
        );
        assert_eq!(s["added"], 0);
        assert_eq!(s["removed"], 0);
    }
    for m in moved {
        assert_ne!(m["from"], m["to"]);
    }
    // The lock's split sizes agree with the table's.
    assert_eq!(splits["splits"]["train"]["new_rows"], 36);
}

#[test]
fn json_shape() {
    let cx = edited();
    let j = json(&cx.run(&["diff", "old.lock", "--detailed", "--key", "id", "--json"]));
    // The existing fields are unchanged.
    assert_eq!(j["old"], "old.lock");
    assert_eq!(j["stages"][0]["name"], "clean");
    assert_eq!(j["stages"][0]["rows"], serde_json::json!([20, 21]));
    let clean = &j["rows"]["clean"];
    assert_eq!(clean["status"], "compared");
    assert_eq!(clean["identity"], "key");
    assert_eq!(clean["key"], "id");
    assert_eq!(clean["old_rows"], 20);
    assert_eq!(clean["new_rows"], 21);
    assert_eq!(clean["added"], 3);
    assert_eq!(clean["removed"], 2);
    assert_eq!(clean["changed"], 2);
    assert_eq!(clean["unchanged"], 16);
    assert_eq!(
        clean["duplicate_keys"],
        serde_json::json!({"old": 0, "new": 0})
    );
    assert_eq!(
        clean["changed_columns"],
        serde_json::json!([{"column": "text", "rows": 2}, {"column": "label", "rows": 1}])
    );
    assert_eq!(
        clean["examples"][0],
        serde_json::json!({"key": "7", "columns": [
            {"column": "text", "old": "\"row number 7\"", "new": "\"edited seven\""}
        ]})
    );
    assert_eq!(clean["examples"].as_array().unwrap().len(), 2);
    // Split stages also count rows per split.
    let splits = &j["rows"]["splits"];
    let per_split = splits["splits"].as_object().unwrap();
    assert_eq!(
        per_split.keys().collect::<Vec<_>>(),
        ["test", "train", "validation"]
    );
    let added: i64 = per_split
        .values()
        .map(|s| s["added"].as_i64().unwrap())
        .sum();
    assert_eq!(added, 3);

    // Without a key, `changed` is null.
    let j = json(&cx.run(&["diff", "old.lock", "--detailed", "--json"]));
    assert_eq!(j["rows"]["clean"]["identity"], "content");
    assert!(j["rows"]["clean"]["changed"].is_null());
    // Without --detailed, no `rows` at all.
    let j = json(&cx.run(&["diff", "old.lock", "--json"]));
    assert!(j.get("rows").is_none());
}

#[test]
fn duplicate_keys_are_counted() {
    let cx = edited();
    cx.run(&["diff", "old.lock", "--detailed", "--key", "label"])
        .success()
        .stdout_has("rows clean (by label)")
        .stdout_has("repeat a key: rows sharing a key are compared in file order");
}

#[test]
fn missing_key_column_is_an_error_with_a_hint() {
    let cx = edited();
    cx.run(&["diff", "old.lock", "--detailed", "--key", "idd"])
        .code(2)
        .stderr_has("--key idd: no such column")
        .stderr_has("did you mean `id`?")
        .stderr_has("the columns are: id, text, label");
    // --key needs --detailed (clap).
    cx.run(&["diff", "old.lock", "--key", "id"]).code(2);
}

/// Run with `MLDATA_HOME` pointing at `home` instead of the context's store.
fn run_with_home(cx: &TestContext, home: &std::path::Path, args: &[&str]) -> Output {
    let out = cx.command(args).env("MLDATA_HOME", home).output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn old_outputs_missing_from_the_store() {
    let cx = edited();
    let empty = tempfile::tempdir().unwrap();
    let args = ["diff", "old.lock", "--detailed", "--key", "id"];
    run_with_home(&cx, empty.path(), &args)
        .success()
        .stdout_has("stage clean:")
        .stdout_has(
            "rows clean: unavailable: old outputs of `clean` are not in the store; \
             run `mldatabuild rebuild old.lock` to recreate them",
        )
        .stdout_has("rows splits: unavailable: old outputs of `splits`");
    // Nothing was written to the (empty) store.
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    let j = json(&run_with_home(
        &cx,
        empty.path(),
        &["diff", "old.lock", "--detailed", "--json"],
    ));
    assert_eq!(j["rows"]["clean"]["status"], "unavailable");
    assert!(
        j["rows"]["clean"]["reason"]
            .as_str()
            .unwrap()
            .contains("not in the store")
    );
    assert!(j["rows"]["clean"].get("added").is_none());
    // With the store, the same diff compares rows.
    let j = json(&cx.run(&["diff", "old.lock", "--detailed", "--json"]));
    assert_eq!(j["rows"]["clean"]["status"], "compared");
}
