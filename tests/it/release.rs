//! `mldatabuild release` through the real binary: versions, the CHANGELOG, the recorded
//! locks, `--dry-run`, `--dvc` against the real DVC (from the test venv, offline) and
//! `--git-lfs` against the real git.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::context::{Output, TestContext};
use crate::errors::SPEC;
use crate::python::python;

/// 2024-03-01 00:00:00 UTC: the release date of every test (`SOURCE_DATE_EPOCH`).
const MARCH_1: &str = "1709251200";
/// 2024-04-01 00:00:00 UTC.
const APRIL_1: &str = "1711929600";

/// Run the binary with extra environment variables.
fn run_env(cx: &TestContext, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = cx.command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run mldatabuild");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: cx.filter(&String::from_utf8_lossy(&out.stdout)),
        stderr: cx.filter(&String::from_utf8_lossy(&out.stderr)),
    }
}

/// `release ARGS…` dated 2024-03-01.
fn release(cx: &TestContext, args: &[&str]) -> Output {
    let mut all = vec!["release"];
    all.extend_from_slice(args);
    run_env(cx, &all, &[("SOURCE_DATE_EPOCH", MARCH_1)])
}

/// A project built from `rows` rows of SPEC (version 1.0.0).
fn built(rows: usize) -> TestContext {
    let cx = TestContext::new();
    cx.csv("data.csv", rows).spec(SPEC);
    cx.run(&["build"]).success();
    cx
}

/// Set the spec's version (and other edits of SPEC) and build again.
fn rebuild_as(cx: &TestContext, spec: &str) {
    cx.spec(spec);
    cx.run(&["build"]).success();
}

fn output_hash(cx: &TestContext, stage: &str) -> String {
    let lock = mldatabuild::lockfile::Lock::parse(&cx.read("dataset.lock"), "dataset.lock")
        .expect("lock parses");
    lock.stages[stage].output_hash.clone()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn first_release_writes_the_changelog_and_records_the_lock() {
    let cx = built(20);
    release(&cx, &[])
        .success()
        .stderr_has("demo 1.0.0: first release")
        .stderr_has("Wrote CHANGELOG.md (adding the 1.0.0 entry)")
        .stderr_has("Recorded dataset.lock as .mldatabuild/releases/1.0.0.lock");
    assert_eq!(
        cx.read("CHANGELOG.md"),
        format!(
            "# Changelog\n\n## 1.0.0 — 2024-03-01\n\nFirst release.\n\n### Splits\n\n\
             - `splits` test: 4 rows\n- `splits` train: 12 rows\n- `splits` validation: 4 rows\n\n\
             ### Output\n\n- `splits`: `{}`\n",
            output_hash(&cx, "splits")
        )
    );
    assert_eq!(
        cx.read_bytes(".mldatabuild/releases/1.0.0.lock"),
        cx.read_bytes("dataset.lock")
    );
}

#[test]
fn a_second_release_lists_row_and_parameter_changes_newest_first() {
    let cx = built(20);
    release(&cx, &[]).success();
    let old_hash = output_hash(&cx, "splits");
    cx.csv("data.csv", 30);
    rebuild_as(
        &cx,
        &SPEC
            .replace("seed: 1", "seed: 2")
            .replace("version: 1.0.0", "version: 1.1.0"),
    );
    let out = run_env(
        &cx,
        &["release", "--json"],
        &[("SOURCE_DATE_EPOCH", APRIL_1)],
    );
    out.success();
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["version"], "1.1.0");
    assert_eq!(json["previous"]["version"], "1.0.0");
    assert_eq!(json["previous"]["from"], ".mldatabuild/releases/1.0.0.lock");
    assert_eq!(json["bump"], "minor");
    assert_eq!(json["suggested_bump"], "minor");
    assert_eq!(json["warnings"], serde_json::json!([]));
    assert_eq!(json["changelog"], "CHANGELOG.md");
    assert_eq!(json["dvc"], serde_json::Value::Null);
    let text = cx.read("CHANGELOG.md");
    let entry = format!(
        "## 1.1.0 — 2024-04-01\n\nMinor release; previous: 1.0.0.\n\n\
         ### Sources\n\n- `raw`: files changed: `data.csv`\n\n\
         ### Stages\n\n- `splits`: `seed` 1 → 2\n\n\
         ### Rows\n\n- `clean`: 20 → 30 (+50.0%)\n- `splits` test: 4 → 6 (+50.0%)\n\
         - `splits` train: 12 → 18 (+50.0%)\n- `splits` validation: 4 → 6 (+50.0%)\n\n\
         ### Output\n\n- `splits`: `{}` (was `{old_hash}`)\n",
        output_hash(&cx, "splits")
    );
    assert_eq!(json["entry"], entry.as_str());
    assert!(
        text.starts_with(&format!("# Changelog\n\n{entry}\n## 1.0.0 — 2024-03-01\n")),
        "{text}"
    );
    assert_eq!(text.matches("\n## ").count(), 2, "{text}");
    assert!(cx.exists(".mldatabuild/releases/1.0.0.lock"));
    assert_eq!(
        cx.read_bytes(".mldatabuild/releases/1.1.0.lock"),
        cx.read_bytes("dataset.lock")
    );
}

#[test]
fn the_same_or_a_lower_version_is_refused_with_the_next_versions() {
    let cx = built(20);
    release(&cx, &[]).success();
    let changelog = cx.read("CHANGELOG.md");
    release(&cx, &[])
        .code(1)
        .stderr_has(
            "version 1.0.0 is already released (.mldatabuild/releases/1.0.0.lock): a release needs a greater version",
        )
        .stderr_has("set `version:` in dataset.yaml to 1.0.1 (patch), 1.1.0 (minor) or 2.0.0 (major) — nothing changed since 1.0.0");
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 0.9.0"));
    release(&cx, &[])
        .code(1)
        .stderr_has("version 0.9.0 is lower than the released 1.0.0");
    assert_eq!(cx.read("CHANGELOG.md"), changelog);
    assert!(!cx.exists(".mldatabuild/releases/0.9.0.lock"));
}

/// `n` rows of id, text, label and a `score` column.
fn scored_csv(n: usize) -> String {
    let mut csv = String::from("id,text,label,score\n");
    for i in 0..n {
        csv.push_str(&format!("{i},row number {i},{},0.5\n", i % 3));
    }
    csv
}

#[test]
fn a_smaller_bump_than_the_changes_suggest_warns() {
    let cx = built(20);
    release(&cx, &[]).success();
    // A new column is a schema change: a major release, not a minor one.
    cx.file("data.csv", scored_csv(20));
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 1.1.0"));
    release(&cx, &[])
        .success()
        .stderr_has("warning: 1.0.0 → 1.1.0 is a minor release, but the changes suggest a major one (the schema of `clean` changed; the schema of `splits` changed); consider 2.0.0");
    assert!(
        cx.read("CHANGELOG.md")
            .contains("### Schema\n\n- `clean`: column added: `score` float64\n"),
        "{}",
        cx.read("CHANGELOG.md")
    );
    // More rows: a minor release, not a patch.
    cx.file("data.csv", scored_csv(25));
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 1.1.1"));
    let out = release(&cx, &["--json"]);
    out.success().stderr_has(
        "warning: 1.1.0 → 1.1.1 is a patch release, but the changes suggest a minor one (the rows of `clean` changed; the rows of `splits` changed); consider 1.2.0",
    );
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["bump"], "patch");
    assert_eq!(json["suggested_bump"], "minor");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn features_changes_suggest_major_and_metadata_patch() {
    let cx = built(20);
    release(&cx, &[]).success();
    // Only the description: a patch, and the entry says no data changed.
    let described = SPEC.replace("version: 1.0.0", "version: 1.0.1\ndescription: Reviews.");
    rebuild_as(&cx, &described);
    let out = release(&cx, &["--json"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["suggested_bump"], "patch");
    assert_eq!(
        json["reasons"],
        serde_json::json!(["the description changed"])
    );
    let entry = json["entry"].as_str().unwrap();
    assert!(
        entry.contains(
            "Patch release; previous: 1.0.0.\n\nNo changes to the data since 1.0.0.\n\n### Metadata\n\n- the description changed\n"
        ),
        "{entry}"
    );
    // Class labels turn `label` into a ClassLabel: a features change, so a major release.
    rebuild_as(
        &cx,
        &described
            .replace("version: 1.0.1", "version: 1.0.2")
            .replace(
                "input: raw}",
                "input: raw, class_labels: {label: [a, b, c]}}",
            ),
    );
    let out = release(&cx, &["--dry-run", "--json"]);
    out.success().stderr_has(
        "warning: 1.0.1 → 1.0.2 is a patch release, but the changes suggest a major one (the features of `clean` changed); consider 2.0.0",
    );
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["suggested_bump"], "major");
    let entry = json["entry"].as_str().unwrap();
    assert!(
        entry
            .contains("### Stages\n\n- `clean`: `class_labels.label` null → [\"a\",\"b\",\"c\"]\n"),
        "{entry}"
    );
    assert!(
        entry.contains(
            "### Schema\n\n- `clean`: features of `label`: Value(int64) → ClassLabel(a, b, c)\n"
        ),
        "{entry}"
    );
    assert!(!cx.exists(".mldatabuild/releases/1.0.2.lock"));
}

#[test]
fn a_missing_or_stale_build_is_refused() {
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    release(&cx, &[])
        .code(1)
        .stderr_has("the dataset is not built (or stale): run `mldatabuild build` first")
        .stderr_has("there is no dataset.lock yet");
    cx.run(&["build"]).success();
    cx.csv("data.csv", 21);
    release(&cx, &[])
        .code(1)
        .stderr_has("the dataset is not built (or stale)")
        .stderr_has("  clean: input raw changed");
    cx.csv("data.csv", 20);
    cx.spec(&SPEC.replace("version: 1.0.0", "version: 1.0.1"));
    release(&cx, &[]).code(1).stderr_has(
        "dataset.yaml changed since the last build (the lock has version 1.0.0, the spec 1.0.1)",
    );
    assert!(!cx.exists("CHANGELOG.md"));
    assert!(!cx.exists(".mldatabuild/releases"));
}

#[test]
fn dry_run_prints_the_entry_and_writes_nothing() {
    let cx = built(20);
    let out = release(&cx, &["--dry-run", "--dvc"]);
    out.success()
        .stderr_has("Would write CHANGELOG.md (adding the 1.0.0 entry)")
        .stderr_has("Would record dataset.lock as .mldatabuild/releases/1.0.0.lock")
        .stderr_has("DVC: would write out/demo.dvc (md5 ")
        .stderr_has("Dry run: nothing was written");
    assert!(
        out.stdout
            .starts_with("## 1.0.0 — 2024-03-01\n\nFirst release.\n\n### Splits\n"),
        "{}",
        out.stdout
    );
    for path in [
        "CHANGELOG.md",
        ".mldatabuild/releases",
        "out/demo.dvc",
        "out/.gitignore",
    ] {
        assert!(!cx.exists(path), "{path} was written by a dry run");
    }
}

#[test]
fn since_a_git_revision_and_a_rerun_replaces_the_entry() {
    let cx = built(20);
    git(cx.root(), &["init", "-q"]);
    git(cx.root(), &["add", "dataset.yaml", "dataset.lock"]);
    git(cx.root(), &["commit", "-qm", "1.0.0"]);
    git(cx.root(), &["tag", "v1.0"]);
    cx.file(
        "docs/CHANGES.md",
        include_str!("../fixtures/release/CHANGELOG.md"),
    );
    cx.csv("data.csv", 30);
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 1.1.0"));
    let args = ["--since", "v1.0", "--changelog", "docs/CHANGES.md"];
    release(&cx, &args)
        .success()
        .stderr_has("demo 1.1.0: a minor release after 1.0.0 (from git revision v1.0)")
        .stderr_has("Wrote docs/CHANGES.md (adding the 1.1.0 entry)");
    let first = cx.read("docs/CHANGES.md");
    // Running the same release again regenerates its entry in place: one entry, replaced.
    release(&cx, &args)
        .success()
        .stderr_has("Wrote docs/CHANGES.md (replacing the 1.1.0 entry)");
    let text = cx.read("docs/CHANGES.md");
    assert_eq!(text, first);
    assert_eq!(text.matches("## 1.1.0 — 2024-03-01").count(), 1);
    assert!(
        text.starts_with(
            "# Changelog\n\nAll notable changes to the demo dataset. Entries before 1.1.0 were written by hand.\n\n## 1.1.0 — 2024-03-01\n\nMinor release; previous: 1.0.0.\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("\n## 1.0.0 — 2024-01-15\n\n- Initial import of the reviews.\n"),
        "{text}"
    );
    assert!(!cx.exists("CHANGELOG.md"));
    release(&cx, &["--since", "nosuchrev"])
        .code(2)
        .stderr_has("git cannot find `nosuchrev:dataset.lock`");
}

/// Run the venv's real DVC in `dir`, offline: no analytics, no update check.
fn dvc(dir: &Path, site: &Path, args: &[&str]) -> String {
    let out = Command::new(python())
        .args(["-m", "dvc"])
        .args(args)
        .current_dir(dir)
        .env("DVC_NO_ANALYTICS", "1")
        .env("DVC_TEST", "1")
        .env("DVC_SITE_CACHE_DIR", site)
        .env("DVC_GLOBAL_CONFIG_DIR", site.join("global"))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("run python -m dvc");
    assert!(
        out.status.success(),
        "dvc {args:?} failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `md5`, `size` and `nfiles` of a `.dvc` file's single output.
fn dvc_out(text: &str) -> (String, u64, u64) {
    let v: serde_json::Value = serde_saphyr::from_str(text).expect(".dvc file parses");
    let o = &v["outs"][0];
    (
        o["md5"].as_str().unwrap().to_owned(),
        o["size"].as_u64().unwrap(),
        o["nfiles"].as_u64().unwrap(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest: PathBuf = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

#[test]
fn dvc_pointer_equals_what_the_real_dvc_add_writes() {
    let cx = built(40);
    git(cx.root(), &["init", "-q"]);
    cx.file("out/.gitignore", "*.tmp");
    // A file name DVC's listing escapes (non-ASCII, a quote), in a sub-folder.
    cx.file("out/demo/notes/naïve \"q\".txt", "é\n");
    let out = release(&cx, &["--dvc", "--json"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["dvc"]["file"], "out/demo.dvc");
    assert_eq!(json["dvc"]["gitignore_changed"], true);
    assert_eq!(json["next"][1], "git add out/demo.dvc out/.gitignore");
    let ours = cx.read("out/demo.dvc");
    let (md5, size, nfiles) = dvc_out(&ours);
    assert_eq!(json["dvc"]["md5"], md5.as_str());
    assert_eq!(nfiles, 9, "8 built files and the note");
    assert_eq!(cx.read("out/.gitignore"), "*.tmp\n/demo\n");

    // The real `dvc add` on a copy of the folder, in a fresh git + DVC repository.
    let other = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    copy_dir(&cx.path("out/demo"), &other.path().join("demo"));
    git(other.path(), &["init", "-q"]);
    dvc(other.path(), site.path(), &["init", "-q"]);
    dvc(other.path(), site.path(), &["add", "-q", "demo"]);
    let theirs = std::fs::read_to_string(other.path().join("demo.dvc")).unwrap();
    assert_eq!(dvc_out(&theirs), (md5, size, nfiles));
    assert_eq!(ours, theirs);
    assert_eq!(
        std::fs::read_to_string(other.path().join(".gitignore")).unwrap(),
        "/demo\n"
    );

    // DVC accepts the pointer in place: committing it stores the folder, and then nothing
    // differs.
    dvc(cx.root(), site.path(), &["init", "-q"]);
    dvc(cx.root(), site.path(), &["commit", "-q", "out/demo.dvc"]);
    assert!(
        dvc(cx.root(), site.path(), &["status"]).contains("Data and pipelines are up to date."),
    );

    // A second release keeps the folder in .gitignore once.
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 1.0.1"));
    release(&cx, &["--dvc"])
        .success()
        .stderr_has("out/.gitignore already ignores /demo");
    assert_eq!(cx.read("out/.gitignore"), "*.tmp\n/demo\n");
}

const LFS_LINE: &str = "out/demo/**/*.parquet filter=lfs diff=lfs merge=lfs -text\n";

#[test]
fn git_lfs_rules_are_added_once() {
    let cx = built(20);
    git(cx.root(), &["init", "-q"]);
    cx.file(".gitattributes", "*.png binary");
    release(&cx, &["--git-lfs"])
        .success()
        .stderr_has("Git LFS: added to .gitattributes: out/demo/**/*.parquet")
        .stderr_has("git add .gitattributes out/demo");
    assert_eq!(
        cx.read(".gitattributes"),
        format!("*.png binary\n{LFS_LINE}")
    );
    let attrs = git(
        cx.root(),
        &[
            "check-attr",
            "filter",
            "--",
            "out/demo/splits/train.parquet",
            "out/demo/clean/part-0.parquet",
            "out/demo/splits/train.csv",
        ],
    );
    assert_eq!(
        attrs,
        "out/demo/splits/train.parquet: filter: lfs\nout/demo/clean/part-0.parquet: filter: lfs\nout/demo/splits/train.csv: filter: unspecified\n"
    );
    // Second run: nothing to add.
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 1.0.1"));
    let out = release(&cx, &["--git-lfs", "--json"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["git_lfs"]["added"], serde_json::json!([]));
    assert_eq!(
        json["git_lfs"]["present"],
        serde_json::json!(["out/demo/**/*.parquet"])
    );
    assert_eq!(
        cx.read(".gitattributes"),
        format!("*.png binary\n{LFS_LINE}")
    );
    // A broader rule already sends the files through LFS: nothing added either.
    cx.file(
        ".gitattributes",
        "*.parquet filter=lfs diff=lfs merge=lfs -text\n",
    );
    rebuild_as(&cx, &SPEC.replace("version: 1.0.0", "version: 1.0.2"));
    release(&cx, &["--git-lfs"]).success().stderr_has(
        "Git LFS: .gitattributes already tracks out/demo/**/*.parquet; nothing changed",
    );
    assert_eq!(
        cx.read(".gitattributes"),
        "*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    );
}

#[test]
fn git_lfs_outside_a_repository_is_refused() {
    let cx = built(20);
    release(&cx, &["--git-lfs"])
        .code(1)
        .stderr_has("error: not inside a git repository: out/demo")
        .stderr_has("hint: git init, or drop --git-lfs");
    assert!(!cx.exists("CHANGELOG.md"));
    assert!(!cx.exists(".gitattributes"));
}

/// The folder on PATH holding `git`.
fn git_binary() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH")
}

#[test]
fn git_lfs_not_installed_is_explained() {
    let cx = built(20);
    git(cx.root(), &["init", "-q"]);
    // A PATH with git but without git-lfs.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(git_binary(), bin.path().join("git")).unwrap();
    let path = bin.path().to_str().unwrap();
    run_env(
        &cx,
        &["release", "--git-lfs"],
        &[("PATH", path), ("SOURCE_DATE_EPOCH", MARCH_1)],
    )
    .code(1)
    .stderr_has("error: git-lfs is not installed: `git lfs version` failed: ")
    .stderr_has("hint: install Git LFS (`apt-get install git-lfs`, `brew install git-lfs`");
    assert!(!cx.exists("CHANGELOG.md"));
    assert!(!cx.exists(".gitattributes"));
}
