//! `mldatabuild gc`: the store keeps what locks reference and what was built recently.

use std::path::PathBuf;

use crate::context::TestContext;
use crate::errors::SPEC;

/// Every object in the store, with its mtime moved two hours back (past gc's grace period).
fn age_objects(cx: &TestContext) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = cx.home().join("objects-v1/sha256");
    for d in std::fs::read_dir(root).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
            std::fs::File::open(f.path())
                .unwrap()
                .set_modified(old)
                .unwrap();
            out.push(f.path());
        }
    }
    out.sort();
    out
}

#[test]
fn gc_keeps_what_locks_reference_and_frees_the_rest() {
    let cx = TestContext::new();
    cx.csv("data.csv", 40).spec(SPEC);
    cx.run(&["build"]).success();
    cx.spec(&SPEC.replace("seed: 1", "seed: 2"));
    cx.run(&["build"]).success();
    let before = age_objects(&cx);

    // Within the default 30 days, the seed-1 outputs stay (reverting restores them).
    cx.run(&["gc"]).success().stderr_has("Removed 0 objects");
    // A dry run says what would go and removes nothing.
    cx.run(&["gc", "--keep-days", "0", "--dry-run"])
        .success()
        .stderr_has("Would remove ")
        .stderr_has("referenced by the locks of 1 project");
    assert_eq!(age_objects(&cx), before);

    let out = cx.run(&["gc", "--keep-days", "0"]);
    out.success().stderr_has("Removed ");
    let after = age_objects(&cx);
    assert!(after.len() < before.len(), "{}", out.stderr);
    // The current build is intact and still a no-op; the old seed runs again.
    cx.run(&["verify"]).success();
    let noop = cx.run(&["build", "--json"]);
    noop.success();
    assert!(!noop.stdout.contains("stage_started"), "{}", noop.stdout);
    cx.spec(SPEC);
    cx.run(&["build"]).success().stderr_has("Running splits");

    // A project whose lock is gone is forgotten, and what only it used is collected.
    std::fs::remove_file(cx.path("dataset.lock")).unwrap();
    age_objects(&cx);
    cx.run(&["gc", "--keep-days", "0"])
        .success()
        .stderr_has("Forgot 1 project whose lockfile is gone")
        .stderr_has("kept 0 objects");
}

#[test]
fn gc_max_size_drops_the_oldest_unreferenced_runs_first() {
    let cx = TestContext::new();
    cx.csv("data.csv", 40).spec(SPEC);
    for seed in [1, 2, 3] {
        cx.spec(&SPEC.replace("seed: 1", &format!("seed: {seed}")));
        cx.run(&["build"]).success();
    }
    age_objects(&cx);
    cx.run(&["gc", "--max-size", "1B"])
        .success()
        .stderr_has("and 2 run records");
    // What the lock references survives any size limit.
    cx.run(&["verify"]).success();
    cx.run(&["gc", "--max-size", "lots"])
        .code(2)
        .stderr_has("--max-size");
}

#[test]
fn ls_all_lists_every_dataset_built_with_the_store() {
    let a = TestContext::new();
    a.csv("data.csv", 20).spec(SPEC);
    a.run(&["ls", "--all"])
        .success()
        .stdout_has("No dataset has been built with this store");
    a.run(&["build"]).success();
    // A second project sharing the same store.
    let b = TestContext::new();
    b.csv("data.csv", 5)
        .spec(&SPEC.replace("name: demo", "name: other"));
    b.command(&["build"])
        .env("MLDATA_HOME", a.home())
        .output()
        .unwrap();
    std::fs::remove_file(a.path("out/demo/clean/part-0.parquet")).unwrap();
    let out = a.run(&["ls", "--all"]);
    out.success()
        .stdout_has("dataset")
        .stdout_has("demo")
        .stdout_has("other")
        .stdout_has("1 output missing");
    let v: serde_json::Value =
        serde_json::from_str(a.run(&["ls", "--all", "--json"]).stdout.trim()).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let other = rows.iter().find(|r| r["dataset"] == "other").unwrap();
    assert_eq!(other["status"], "ok");
    assert_eq!(other["rows"], 5);
    assert_eq!(other["stages"], 2);
}
