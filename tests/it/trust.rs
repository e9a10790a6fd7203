//! Untrusted files (docs/trust.md): a lockfile, manifest, run-cache record or local cache that
//! mldatabuild did not just write can never make it write or delete outside the dataset folder,
//! nor put an unchecked value into a lock; `verify` checks every field it documents.

use std::path::{Path, PathBuf};

use mldatabuild::fingerprint::{OUTPUT_DOMAIN, files_hash};
use mldatabuild::lockfile::Lock;

use crate::context::TestContext;
use crate::errors::SPEC;

fn built() -> TestContext {
    let cx = TestContext::new();
    cx.csv("data.csv", 60).spec(SPEC);
    cx.run(&["build"]).success();
    cx
}

fn lock(cx: &TestContext) -> Lock {
    Lock::parse(&cx.read("dataset.lock"), "dataset.lock").unwrap()
}

/// A file outside the project and the store that no command may touch.
struct Victim {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Victim {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("victim.csv");
        std::fs::write(&path, "precious\n").unwrap();
        Victim { _dir: dir, path }
    }

    #[track_caller]
    fn intact(&self) {
        assert_eq!(
            std::fs::read_to_string(&self.path).unwrap_or_default(),
            "precious\n",
            "{} was touched",
            self.path.display()
        );
    }
}

/// Replace the first occurrence of `from` in a file.
fn edit(cx: &TestContext, rel: &str, from: &str, to: &str) {
    let text = cx.read(rel);
    assert!(text.contains(from), "{rel} lacks {from:?}:\n{text}");
    cx.file(rel, text.replacen(from, to, 1));
}

/// The relative path from `base` to `target` through `..` (both absolute).
fn climb_to(base: &Path, target: &Path) -> String {
    let depth = base.components().count() - 1;
    format!(
        "{}{}",
        "../".repeat(depth),
        target.strip_prefix("/").unwrap().display()
    )
}

#[test]
fn an_absolute_output_path_in_the_lock_deletes_nothing() {
    let cx = built();
    let victim = Victim::new();
    edit(
        &cx,
        "dataset.lock",
        "path: clean/part-0.parquet",
        &format!("path: {}", victim.path.display()),
    );
    let forged = cx.read("dataset.lock");
    for args in [&["build"][..], &["rm", "clean"], &["status"], &["verify"]] {
        cx.run(args)
            .code(2)
            .stderr_has("is not a lockfile mldatabuild wrote")
            .stderr_has("stages.clean.outputs[0].path")
            .stderr_has("is an absolute path")
            .stderr_has("nothing was read from it, written or deleted");
        victim.intact();
    }
    // Nothing else changed either: the dataset is still there.
    assert!(cx.exists("out/demo/clean/part-0.parquet"));
    assert_eq!(cx.read("dataset.lock"), forged, "the lock was rewritten");
}

#[test]
fn a_dotdot_output_path_in_the_lock_deletes_nothing() {
    let cx = built();
    let victim = Victim::new();
    let rel = climb_to(&cx.path("out/demo"), &victim.path);
    edit(
        &cx,
        "dataset.lock",
        "path: clean/part-0.parquet",
        &format!("path: {rel}"),
    );
    cx.run(&["build"])
        .code(2)
        .stderr_has("climbs out of its folder with `..`");
    cx.run(&["rm", "clean"]).code(2);
    victim.intact();
}

#[test]
fn rebuild_refuses_a_stage_output_outside_its_folder() {
    let cx = built();
    let mut l = lock(&cx);
    let st = l.stages.get_mut("clean").unwrap();
    st.output = "../../elsewhere".into();
    for f in &mut st.outputs {
        f.path = f.path.replace("clean/", "../../elsewhere/");
    }
    // Written by hand: `to_yaml` of a lock the parser would refuse.
    cx.file("forged.lock", l.to_yaml());
    let out = cx.path("rebuilt/a/b");
    cx.run(&["rebuild", "forged.lock", "--out", out.to_str().unwrap()])
        .code(2)
        .stderr_has("stages.clean.output: `../../elsewhere` climbs out of its folder");
    assert!(!cx.exists("rebuilt/elsewhere"));
    assert!(!cx.exists("rebuilt"), "rebuild created its folder anyway");
}

#[test]
fn a_non_hex_sha256_is_refused_without_a_panic() {
    let cx = built();
    let sha = lock(&cx).stages["clean"].outputs[0].sha256.clone();
    let forged = cx.read("dataset.lock").replace(&sha, &"é".repeat(32));
    cx.file("forged.lock", forged);
    cx.run(&["rebuild", "forged.lock"])
        .code(2)
        .stderr_has("outputs[0].sha256: is not a SHA-256");
    cx.run(&["verify", "forged.lock"]).code(2);
}

/// The run-cache record of a stage, as JSON, and its path.
fn record(cx: &TestContext, stage: &str) -> (PathBuf, serde_json::Value) {
    let key = lock(cx).stages[stage].key.clone();
    let hex = key.strip_prefix("b3:").unwrap();
    let path = cx
        .home()
        .join("runs-v1")
        .join(&hex[..2])
        .join(format!("{}.json", &hex[2..]));
    let rec = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, rec)
}

/// Rewrite a record with a consistent `output_hash`, as a forger would.
fn forge(path: &Path, mut rec: serde_json::Value) {
    let outs: Vec<(String, u64, String)> = rec["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["path"].as_str().unwrap().to_owned(),
                o["size"].as_u64().unwrap(),
                o["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let refs: Vec<(&str, u64, &str)> = outs
        .iter()
        .map(|(p, s, h)| (p.as_str(), *s, h.as_str()))
        .collect();
    rec["output_hash"] = files_hash(OUTPUT_DOMAIN, &refs).into();
    std::fs::write(path, serde_json::to_string_pretty(&rec).unwrap()).unwrap();
}

#[test]
fn a_forged_run_record_cannot_place_a_file_outside_the_dataset() {
    let cx = built();
    let (path, mut rec) = record(&cx, "clean");
    let target = cx.root().parent().unwrap().join("planted.csv");
    let _ = std::fs::remove_file(&target);
    rec["outputs"][0]["path"] = climb_to(&cx.path("out/demo/clean"), &target).into();
    forge(&path, rec);
    cx.run(&["rm", "clean"]).success();
    let out = cx.run(&["build"]);
    out.success()
        .stderr_has("is damaged or was not written by mldatabuild")
        .stderr_has("climbs out of its folder")
        .stderr_has("Running clean");
    assert!(
        !target.exists(),
        "a file was placed at {}",
        target.display()
    );
    cx.run(&["verify"]).success();
}

#[test]
fn forged_row_counts_and_summaries_in_a_record_never_reach_the_lock() {
    for (what, field) in [("rows", "/outputs/0/rows"), ("summary", "/summary/rows")] {
        let cx = built();
        let honest = cx.read("dataset.lock");
        let (path, mut rec) = record(&cx, "clean");
        // The table output, not a report.
        let i = rec["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .position(|o| o["path"] == "part-0.parquet")
            .unwrap();
        let field = field.replace("/0/", &format!("/{i}/"));
        *rec.pointer_mut(&field).unwrap() = 999_999.into();
        forge(&path, rec);
        cx.run(&["rm", "clean"]).success();
        cx.run(&["build"])
            .success()
            .stderr_has("is damaged or was not written by mldatabuild")
            .stderr_has("Running clean");
        assert!(!cx.read("dataset.lock").contains("999999"), "{what}");
        assert_eq!(
            lock(&cx).identity(),
            Lock::parse(&honest, "x").unwrap().identity(),
            "{what}"
        );
        cx.run(&["verify"]).success();
    }
}

#[test]
fn an_edited_stat_cache_cannot_put_a_wrong_hash_into_the_lock() {
    let cx = TestContext::new();
    cx.csv("data.csv", 60).spec(SPEC);
    // Old enough for the stat cache to keep it (a just-written file is "racily clean").
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(cx.path("data.csv"))
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    cx.run(&["build"]).success();
    let honest = cx.read("dataset.lock");
    let real = mldatabuild::statcache::sha256_file(&cx.path("data.csv")).unwrap();
    let fake = "0".repeat(64);
    edit(&cx, ".mldatabuild/stat-cache-v1", &real, &fake);
    cx.run(&["build"]).success();
    let now = cx.read("dataset.lock");
    assert!(!now.contains(&fake));
    assert_eq!(now, honest);
    cx.run(&["verify"]).success();
}

#[test]
fn an_edited_lock_cache_is_never_copied_into_the_lock() {
    let cx = built();
    cx.run(&["status"]).success(); // writes the parse cache
    let honest = cx.read("dataset.lock");
    let rows = lock(&cx).stages["clean"].outputs[0].rows.unwrap();
    edit(
        &cx,
        ".mldatabuild/lock-cache-v1",
        &format!("\"rows\":{rows}"),
        "\"rows\":4242",
    );
    cx.run(&["build"]).success();
    assert_eq!(cx.read("dataset.lock"), honest);
}

#[test]
fn verify_checks_rows_schemas_and_sources_and_build_repairs_the_entry() {
    let honest_lock = {
        let cx = built();
        cx.read("dataset.lock")
    };
    let rows = Lock::parse(&honest_lock, "x").unwrap().stages["clean"].outputs[0]
        .rows
        .unwrap();
    let cases: Vec<(&str, String, String, &str)> = vec![
        (
            "row count",
            format!("rows: {rows}\n"),
            "rows: 7\n".into(),
            "has 60 rows, but 7 are recorded",
        ),
        (
            "schema type",
            " type: int64".into(),
            " type: string".into(),
            "summary.schema differs from its tables",
        ),
        (
            "summary rows",
            format!("  rows: {rows}\n      rows_dropped"),
            "  rows: 5\n      rows_dropped".into(),
            "summary.rows is 5",
        ),
    ];
    for (what, from, to, says) in cases {
        let cx = built();
        edit(&cx, "dataset.lock", &from, &to);
        let v = cx.run(&["verify"]);
        v.code(1).stdout_has(says);
        // The entry fails verify, so build does not call the stage fresh: it repairs it.
        cx.run(&["status"]).stdout_has("lock entry damaged");
        cx.run(&["build"])
            .success()
            .stderr_has("lock entry damaged");
        cx.run(&["verify"]).success();
        assert_eq!(
            cx.read("dataset.lock"),
            cx.read("out/demo/manifest.yaml"),
            "{what}"
        );
    }

    // A source file changed behind the lock's back, and a forged source hash.
    let cx = built();
    cx.file("data.csv", "id,text,label\n1,changed,0\n");
    cx.run(&["verify"])
        .code(1)
        .stdout_has("✗ raw: `data.csv` changed");
    let cx = built();
    let sha = lock(&cx).sources["raw"].files[0].sha256.clone();
    edit(&cx, "dataset.lock", &sha, &"1".repeat(64));
    cx.run(&["verify"])
        .code(1)
        .stdout_has("✗ raw: its hash does not match its file list");
    let out = cx.run(&["verify", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["sources"][0]["ok"], false);
}

#[test]
fn verify_of_a_manifest_says_which_sources_it_could_not_check() {
    let cx = built();
    let moved = tempfile::tempdir().unwrap();
    let manifest = moved.path().join("manifest.yaml");
    std::fs::copy(cx.path("out/demo/manifest.yaml"), &manifest).unwrap();
    let out = cx.run(&["verify", manifest.to_str().unwrap()]);
    out.code(1).stdout_has("0/").stdout_has("raw: not checked");
    // With the project named, the sources are checked.
    cx.run(&[
        "verify",
        "out/demo/manifest.yaml",
        "--root",
        cx.root().to_str().unwrap(),
    ])
    .success()
    .stdout_has("Sources: 1/1 match");
}

#[test]
fn a_symlink_planted_in_the_dataset_folder_is_never_written_through() {
    let cx = built();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(cx.path("out/demo/splits")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), cx.path("out/demo/splits")).unwrap();
    cx.run(&["build"])
        .code(1)
        .stderr_has("goes through the symbolic link `splits`");
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "a file was written through the link"
    );
    cx.run(&["verify"])
        .code(1)
        .stdout_has("behind a symbolic link");
    // Removing the link repairs the dataset.
    std::fs::remove_file(cx.path("out/demo/splits")).unwrap();
    cx.run(&["build"]).success();
    cx.run(&["verify"]).success();
}

#[test]
fn clean_waits_for_a_running_build_and_keeps_the_build_lock() {
    let cx = built();
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(cx.path(".mldatabuild/build.lock"))
        .unwrap();
    held.lock().unwrap();
    let mut child = cx
        .command(&["clean"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the event (clean says it waits), not for a time.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("Waiting for another build"), "{line}");
    assert!(cx.exists("out/demo/clean/part-0.parquet"));
    held.unlock().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!cx.exists("out/demo"));
    assert!(cx.exists(".mldatabuild/build.lock"));
}

#[test]
fn temporaries_of_a_killed_build_are_cleaned_and_rm_keeps_the_manifest_true() {
    let cx = built();
    // A pid that cannot be running (above the kernel's pid_max).
    cx.file(".mldatabuild/.mldatabuild-tmp-99999999-abc", "x");
    cx.run(&["build"]).success();
    assert!(!cx.exists(".mldatabuild/.mldatabuild-tmp-99999999-abc"));
    cx.run(&["rm", "splits"]).success();
    assert_eq!(cx.read("dataset.lock"), cx.read("out/demo/manifest.yaml"));
    cx.run(&["verify", "out/demo/manifest.yaml"]).success();
}

#[test]
fn a_failed_first_build_does_not_say_the_lockfile_is_unchanged() {
    let cx = TestContext::new();
    cx.csv("data.csv", 10).spec(
        "name: demo
version: 1.0.0
sources:
  raw: {uri: data.csv}
stages:
  clean: {kind: normalize, input: raw, columns: {nope: {type: int64}}}
",
    );
    let out = cx.run(&["build"]);
    out.code(1);
    assert!(!out.stderr.contains("lockfile unchanged"), "{}", out.stderr);
}

// ---- property test: mutated locks and run records never touch anything outside -------------

mod mutated {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use crate::context::TestContext;

    /// A built project and its store, copied for every case.
    fn template() -> &'static TestContext {
        static T: OnceLock<TestContext> = OnceLock::new();
        T.get_or_init(super::built)
    }

    fn copy_tree(from: &Path, to: &Path) {
        for e in walkdir_lite(from) {
            let rel = e.strip_prefix(from).unwrap();
            let dest = to.join(rel);
            if e.is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
            } else {
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(&e, &dest).unwrap();
            }
        }
    }

    /// Every path below `dir` (folders first), without following links.
    fn walkdir_lite(dir: &Path) -> Vec<PathBuf> {
        let mut out = vec![dir.to_path_buf()];
        let mut i = 0;
        while i < out.len() {
            let p = out[i].clone();
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
                && let Ok(rd) = std::fs::read_dir(&p)
            {
                let mut kids: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                kids.sort();
                out.extend(kids);
            }
            i += 1;
        }
        out
    }

    /// Names and contents of everything below `dir`.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        walkdir_lite(dir)
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap_or_default();
                (p, bytes)
            })
            .collect()
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        LockOutputPath(String),
        LockStageOutput(String),
        LockSha(String),
        LockRows(u64),
        RecordPath(String),
        RecordSha(String),
        RecordRows(u64),
        RecordSummaryRows(u64),
    }

    /// Paths an attacker would write: absolute, climbing, not normalized, odd bytes.
    fn hostile_path(outside: &'static str) -> impl Strategy<Value = String> {
        prop_oneof![
            Just(format!("{outside}/victim.csv")),
            (0usize..9).prop_map(|k| format!("{}outside/victim.csv", "../".repeat(k))),
            (0usize..9).prop_map(|k| format!("clean/{}outside/victim.csv", "../".repeat(k))),
            (0usize..9).prop_map(|k| format!("reports/{}outside/dir/x", "../".repeat(k))),
            Just("clean//part-0.parquet".to_owned()),
            Just("clean/./part-0.parquet".to_owned()),
            Just(String::new()),
            Just("clean/a\nb".to_owned()),
            "[a-z./]{0,24}",
        ]
    }

    fn hostile_sha() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("../../../../outside/victim.csv".to_owned()),
            Just("A".repeat(64)),
            Just("é".repeat(32)),
            Just(String::new()),
            "[0-9a-f./]{0,70}",
        ]
    }

    fn mutation(outside: &'static str) -> impl Strategy<Value = Mutation> {
        prop_oneof![
            hostile_path(outside).prop_map(Mutation::LockOutputPath),
            hostile_path(outside).prop_map(Mutation::LockStageOutput),
            hostile_sha().prop_map(Mutation::LockSha),
            any::<u64>().prop_map(Mutation::LockRows),
            hostile_path(outside).prop_map(Mutation::RecordPath),
            hostile_sha().prop_map(Mutation::RecordSha),
            any::<u64>().prop_map(Mutation::RecordRows),
            any::<u64>().prop_map(Mutation::RecordSummaryRows),
        ]
    }

    /// Apply a mutation to the copied project and store.
    fn apply(m: &Mutation, project: &Path, store: &Path) {
        let lock_path = project.join("dataset.lock");
        let lock = std::fs::read_to_string(&lock_path).unwrap();
        let mut l = mldatabuild::lockfile::Lock::parse(&lock, "x").unwrap();
        let key = l.stages["clean"].key.clone();
        let hex = key.strip_prefix("b3:").unwrap();
        let rec_path = store
            .join("runs-v1")
            .join(&hex[..2])
            .join(format!("{}.json", &hex[2..]));
        let mut rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&rec_path).unwrap()).unwrap();
        let st = l.stages.get_mut("clean").unwrap();
        match m {
            Mutation::LockOutputPath(p) => st.outputs[0].path.clone_from(p),
            Mutation::LockStageOutput(p) => st.output.clone_from(p),
            Mutation::LockSha(s) => st.outputs[0].sha256.clone_from(s),
            Mutation::LockRows(n) => st.outputs[0].rows = Some(*n),
            Mutation::RecordPath(p) => rec["outputs"][0]["path"] = p.clone().into(),
            Mutation::RecordSha(s) => rec["outputs"][0]["sha256"] = s.clone().into(),
            Mutation::RecordRows(n) => rec["outputs"][0]["rows"] = (*n).into(),
            Mutation::RecordSummaryRows(n) => rec["summary"]["rows"] = (*n).into(),
        }
        if matches!(
            m,
            Mutation::RecordPath(_) | Mutation::RecordSha(_) | Mutation::RecordRows(_)
        ) {
            // A forger keeps the record self-consistent.
            let path = rec_path.clone();
            super::forge(&path, rec);
        } else if matches!(m, Mutation::RecordSummaryRows(_)) {
            std::fs::write(&rec_path, serde_json::to_string(&rec).unwrap()).unwrap();
        } else {
            std::fs::write(&lock_path, l.to_yaml()).unwrap();
        }
        // Record mutations matter when the stage is restored: drop its outputs and lock entry.
        if matches!(
            m,
            Mutation::RecordPath(_)
                | Mutation::RecordSha(_)
                | Mutation::RecordRows(_)
                | Mutation::RecordSummaryRows(_)
        ) {
            let mut l = mldatabuild::lockfile::Lock::parse(&lock, "x").unwrap();
            l.stages.remove("clean");
            l.stages.remove("splits");
            std::fs::write(&lock_path, l.to_yaml()).unwrap();
            let _ = std::fs::remove_dir_all(project.join("out"));
        }
    }

    fn run(project: &Path, store: &Path, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_mldatabuild"))
            .args(args)
            .current_dir(project)
            .env("MLDATA_HOME", store)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// The sandbox's `outside` folder, at a fixed place so the strategies can name it.
    fn outside_name() -> &'static str {
        static O: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
        let (_, name) = O.get_or_init(|| {
            let d = tempfile::tempdir().unwrap();
            let s = d.path().join("outside").display().to_string();
            (d, s)
        });
        name
    }

    proptest! {
        #![proptest_config(crate::fuzz::cases(12))]

        /// Whatever a lock or run record says, no command writes or deletes outside the project
        /// and the store, and none panics.
        #[test]
        fn nothing_outside_is_ever_touched(m in mutation(outside_name())) {
            let outside = PathBuf::from(outside_name());
            let sandbox = outside.parent().unwrap();
            let project = sandbox.join("project");
            let store = sandbox.join("store");
            for d in [&project, &store, &outside] {
                let _ = std::fs::remove_dir_all(d);
            }
            copy_tree(template().root(), &project);
            copy_tree(template().home(), &store);
            std::fs::create_dir_all(outside.join("dir")).unwrap();
            std::fs::write(outside.join("victim.csv"), "precious\n").unwrap();
            std::fs::write(outside.join("dir/x"), "precious too\n").unwrap();
            let before = snapshot(&outside);
            apply(&m, &project, &store);
            let rebuilt = project.join("rebuilt");
            for args in [
                &["status"][..],
                &["verify"],
                &["build"],
                &["verify"],
                &["rebuild", "dataset.lock", "--out", rebuilt.to_str().unwrap()],
                &["rm", "clean"],
                &["clean"],
            ] {
                let out = run(&project, &store, args);
                let code = out.status.code();
                prop_assert!(
                    code.is_some_and(|c| c <= 3),
                    "{args:?} after {m:?} exited {code:?}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                prop_assert_eq!(&snapshot(&outside), &before, "{:?} after {:?}", args, m);
            }
        }
    }
}

#[test]
fn a_password_in_a_spec_never_appears_in_an_error() {
    let cx = TestContext::new();
    cx.csv("data.csv", 10);
    // A tokenizer URL with a password: refused (it would be a recorded parameter), and the
    // snippet that points at it masks the password.
    cx.spec(
        "name: demo
version: 1.0.0
sources:
  raw: {uri: data.csv}
stages:
  clean: {kind: normalize, input: raw}
  tokens: {kind: tokenize, input: clean, tokenizer: \"https://u:s3cr3t@127.0.0.1:9/tok.json\"}
",
    );
    for args in [&["build"][..], &["dag"], &["status"]] {
        let out = cx.run(args);
        out.code(2).stderr_has("has a password");
        assert!(!out.stderr.contains("s3cr3t"), "{}", out.stderr);
        assert!(!out.stdout.contains("s3cr3t"), "{}", out.stdout);
    }
    // Any other error on a line holding a password masks it too.
    cx.spec(
        "name: demo
version: 1.0.0
sources:
  raw: {uri: \"https://u:s3cr3t@127.0.0.1:9/x.csv\", bogus: 1}
stages:
  clean: {kind: normalize, input: raw}
",
    );
    let out = cx.run(&["build"]);
    out.code(2).stderr_has("bogus");
    assert!(!out.stderr.contains("s3cr3t"), "{}", out.stderr);
    assert!(!cx.exists("dataset.lock"));
}

#[test]
fn a_lock_that_is_a_device_is_refused_before_reading() {
    let cx = built();
    for dev in ["/dev/zero", "/dev/urandom"] {
        cx.run(&["verify", dev])
            .code(2)
            .stderr_has("is not a lockfile mldatabuild wrote: it is not a regular file");
    }
}
