//! status, why, verify, rebuild, diff, clean, init, dag, schema through the binary.

use crate::context::TestContext;
use crate::errors::SPEC;

fn built(rows: usize) -> TestContext {
    let cx = TestContext::new();
    cx.csv("data.csv", rows).spec(SPEC);
    cx.run(&["build"]).success();
    cx
}

#[test]
fn status_of_a_fresh_project() {
    let cx = built(20);
    let out = cx.run(&["status"]);
    out.success().stdout_has("demo is up to date");
    let json: serde_json::Value =
        serde_json::from_str(cx.run(&["status", "--json"]).success().stdout.trim()).unwrap();
    assert_eq!(json["stages"][0]["state"], "fresh");
    assert_eq!(json["stages"][1]["name"], "splits");
}

#[test]
fn why_before_the_first_build_and_for_members() {
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    cx.run(&["why", "clean"])
        .success()
        .stdout_has("clean: not built before (no lock entry)");
    cx.run(&["why", "nope"])
        .code(2)
        .stderr_has("no stage named `nope`");
}

#[test]
fn verify_checks_lock_consistency() {
    let cx = built(20);
    cx.run(&["verify"])
        .success()
        .stdout_has("Verification: 7/7 files match")
        .stdout_has("Lock consistency: ok");
    // A hand-edited parameter no longer matches its key or the spec.
    let lock = cx.read("dataset.lock").replace("seed: 1\n", "seed: 5\n");
    cx.file("dataset.lock", lock);
    let out = cx.run(&["verify"]);
    out.code(1)
        .stdout_has("stage splits: key b3:")
        .stdout_has("does not match its recorded kind, params and inputs")
        .stdout_has("stage splits: params.seed is 5 in the lock but 1 in the spec");
    let json: serde_json::Value =
        serde_json::from_str(cx.run(&["verify", "--json"]).stdout.trim()).unwrap();
    assert_eq!(json["ok"], false);
}

#[test]
fn verify_a_shipped_manifest_without_the_project() {
    let cx = built(20);
    let shipped = tempfile::tempdir().unwrap();
    for e in walkdir::WalkDir::new(cx.path("out/demo")) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(cx.path("out/demo")).unwrap();
        let dest = shipped.path().join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
    let manifest = shipped.path().join("manifest.yaml");
    cx.run(&["verify", manifest.to_str().unwrap()])
        .success()
        .stdout_has("7/7 files match");
}

#[test]
fn rebuild_reproduces_from_the_lock_and_from_a_manifest() {
    let cx = built(50);
    let out = cx.run(&["rebuild"]);
    out.success()
        .stdout_has("✓ splits/train.parquet")
        .stdout_has("Verification: 7/7 files match");
    cx.run(&["rebuild", "out/demo/manifest.yaml", "--out", "again"])
        .success()
        .stdout_has("Verification: 7/7 files match");
    assert_eq!(
        cx.read_bytes("again/splits/test.parquet"),
        cx.read_bytes("out/demo/splits/test.parquet")
    );
    cx.run(&["rebuild", "--out", "again"])
        .code(2)
        .stderr_has("is not empty");
}

#[test]
fn rebuild_refuses_changed_sources() {
    let cx = built(50);
    cx.csv("data.csv", 51);
    cx.run(&["rebuild"])
        .code(1)
        .stderr_has("the sources raw differ from the ones the lock pinned");
}

#[test]
fn rebuild_reports_a_mismatching_artifact() {
    let cx = built(50);
    // Pretend the lock recorded different bytes for one split.
    let lock = cx.read("dataset.lock");
    let train_sha = lock
        .split("path: splits/train.parquet")
        .nth(1)
        .unwrap()
        .split("sha256: ")
        .nth(1)
        .unwrap()[..64]
        .to_owned();
    cx.file("dataset.lock", lock.replace(&train_sha, &"0".repeat(64)));
    let out = cx.run(&["rebuild"]);
    out.code(1)
        .stdout_has("✗ splits/train.parquet  (expected 000000000000…")
        .stdout_has("Verification: 6/7 files match");
}

#[test]
fn diff_two_lockfiles() {
    let cx = built(50);
    std::fs::copy(cx.path("dataset.lock"), cx.path("old.lock")).unwrap();
    cx.spec(
        &SPEC
            .replace(
                "{train: 0.6, validation: 0.2, test: 0.2}",
                "{train: 0.8, validation: 0.1, test: 0.1}",
            )
            .replace("version: 1.0.0", "version: 1.1.0"),
    );
    cx.run(&["build"]).success();
    let out = cx.run(&["diff", "old.lock", "dataset.lock"]);
    out.success()
        .stdout_has("dataset version: 1.0.0 → 1.1.0")
        .stdout_has("params.ratios.train: 0.6 → 0.8")
        .stdout_has("split train: 30 → 40 rows")
        .stdout_has("file splits/train.parquet:");
    let json: serde_json::Value = serde_json::from_str(
        cx.run(&["diff", "old.lock", "dataset.lock", "--json"])
            .success()
            .stdout
            .trim(),
    )
    .unwrap();
    assert_eq!(json["stages"][0]["name"], "splits");
    cx.run(&["diff", "dataset.lock", "dataset.lock"])
        .success()
        .stdout_has("no changes");
}

#[test]
fn diff_schema_and_sources() {
    let cx = built(20);
    std::fs::copy(cx.path("dataset.lock"), cx.path("old.lock")).unwrap();
    let mut csv = String::from("id,text,label,score\n");
    for i in 1..=12 {
        csv.push_str(&format!("{i},t{i},{},0.5\n", i % 2));
    }
    cx.file("data.csv", csv);
    cx.run(&["build"]).success();
    cx.run(&["diff", "old.lock"])
        .success()
        .stdout_has("source raw: changed")
        .stdout_has("~ data.csv")
        .stdout_has("schema + score: float64")
        .stdout_has("rows: 20 → 12");
}

fn git(cx: &TestContext, args: &[&str]) {
    let st = std::process::Command::new("git")
        .args(args)
        .current_dir(cx.root())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn diff_git_revisions() {
    let cx = built(40);
    git(&cx, &["init", "-q"]);
    git(&cx, &["add", "dataset.yaml", "dataset.lock"]);
    git(&cx, &["commit", "-qm", "v1"]);
    git(&cx, &["tag", "v1.0"]);
    cx.spec(&SPEC.replace("seed: 1", "seed: 2"));
    cx.run(&["build"]).success();
    cx.run(&["diff", "HEAD"])
        .success()
        .stdout_has("params.seed: 1 → 2");
    git(&cx, &["commit", "-qam", "v2"]);
    cx.run(&["diff", "v1.0", "HEAD"])
        .success()
        .stdout_has("params.seed: 1 → 2");
    cx.run(&["diff", "HEAD~1"])
        .success()
        .stdout_has("params.seed: 1 → 2");
    cx.run(&["diff", "nosuchrev"])
        .code(2)
        .stderr_has("git cannot find `nosuchrev:dataset.lock`");
}

#[test]
fn diff_outside_git_explains() {
    let cx = built(10);
    cx.run(&["diff", "HEAD~1"])
        .code(2)
        .stderr_has("is not a file");
}

#[test]
fn clean_removes_outputs_and_state() {
    let cx = built(10);
    cx.run(&["clean"])
        .success()
        .stderr_has("Removed out/demo, .mldatabuild/ (its build lock kept)");
    assert!(!cx.exists("out") || !cx.exists("out/demo"));
    assert!(cx.exists("dataset.lock"));
    cx.run(&["clean", "--lock"])
        .success()
        .stderr_has("dataset.lock");
    assert!(!cx.exists("dataset.lock"));
    cx.run(&["clean"]).success().stderr_has("Nothing to clean");
}

#[test]
fn init_writes_a_valid_commented_spec() {
    let cx = TestContext::new();
    cx.run(&["init", "--name", "reviews"])
        .success()
        .stderr_has("Wrote dataset.yaml");
    let spec = cx.read("dataset.yaml");
    assert!(spec.starts_with("# yaml-language-server: $schema=.mldatabuild/dataset.schema.json"));
    assert!(cx.exists(".mldatabuild/dataset.schema.json"));
    cx.run(&["dag"]).success().stdout_has("splits  split");
    cx.csv("data/a.csv", 30);
    cx.run(&["build"]).success();
    cx.run(&["init"]).code(2).stderr_has("already exists");
}

#[test]
fn dag_formats() {
    let cx = TestContext::new();
    cx.spec(SPEC);
    let text = cx.run(&["dag"]).success().stdout.clone();
    assert_eq!(
        text,
        "raw     source    \nclean   normalize  ← raw\nsplits  split      ← clean\n"
    );
    let dot = cx.run(&["dag", "--format", "dot"]).success().stdout.clone();
    assert!(
        dot.starts_with("digraph \"demo\" {")
            && dot.contains("\"raw\" -> \"clean\";")
            && dot.contains("\"clean\" -> \"splits\";")
    );
    let mermaid = cx
        .run(&["dag", "--format", "mermaid"])
        .success()
        .stdout
        .clone();
    assert!(
        mermaid.starts_with("flowchart LR")
            && mermaid.contains("n0 --> n1")
            && mermaid.contains("n1 --> n2")
    );
}
