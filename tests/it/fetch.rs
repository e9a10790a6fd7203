//! Remote sources against the loopback mock Hub and CDN (tests/it/mock.rs): pinning, the
//! cache, resume, retries, verification, errors, and that a token never leaks.

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;

use crate::context::TestContext;
use crate::mock::{MockHub, MockServer, Response, sha256_hex};

const TOKEN: &str = "hf_planted_secret_7f3a9c";

pub(crate) fn csv(rows: std::ops::Range<u32>) -> Vec<u8> {
    let mut s = String::from("id,text,label\n");
    for i in rows {
        s.push_str(&format!("{i},row {i},{}\n", i % 2));
    }
    s.into_bytes()
}

fn spec(uri: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: \"{uri}\"}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    )
}

/// A hub with `acme/tiny`: a README (not data), a regular CSV and an LFS CSV.
pub(crate) fn hub() -> (MockHub, String) {
    let hub = MockHub::start();
    let commit = hub.add_dataset(
        "acme/tiny",
        &[
            ("README.md", b"---\nlicense: mit\n---\n# tiny\n", false),
            ("data/train.csv", &csv(0..40), false),
            ("data/test.csv", &csv(40..50), true),
        ],
    );
    (hub, commit)
}

/// `mldatabuild` with the mock as the Hub, fast retries, and no token from the machine.
pub(crate) fn run(cx: &TestContext, hub: &MockHub, args: &[&str]) -> crate::context::Output {
    run_with(cx, hub, args, |_| {})
}

pub(crate) fn run_with(
    cx: &TestContext,
    hub: &MockHub,
    args: &[&str],
    f: impl FnOnce(&mut Command),
) -> crate::context::Output {
    let mut c = cx.command(args);
    c.env("HF_ENDPOINT", hub.url())
        .env("HF_HOME", cx.home().join("hf"))
        .env("MLDATA_HTTP_BACKOFF_MS", "1")
        .env("MLDATA_HTTP_RETRIES", "4")
        .env_remove("HF_TOKEN")
        .env_remove("HUGGING_FACE_HUB_TOKEN")
        .env_remove("HF_TOKEN_PATH")
        .env_remove("MLDATA_OFFLINE")
        .env_remove("HF_HUB_OFFLINE");
    f(&mut c);
    let out = c.output().expect("run mldatabuild");
    crate::context::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: cx.filter(&String::from_utf8_lossy(&out.stdout)),
        stderr: cx.filter(&String::from_utf8_lossy(&out.stderr)),
    }
}

fn lock_revision(cx: &TestContext) -> String {
    cx.read("dataset.lock")
        .lines()
        .find_map(|l| l.trim().strip_prefix("revision: "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn hub_source_is_fetched_verified_pinned_and_cached() {
    let (hub, commit) = hub();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run(&cx, &hub, &["build"])
        .success()
        .stderr_has("Fetching source raw: downloading 2 files")
        .stderr_has(&format!("fetched {}", &commit[..12]))
        .stderr_has("Finished clean");
    assert_eq!(lock_revision(&cx), commit);
    std::fs::copy(cx.path("dataset.lock"), cx.path("old.lock")).unwrap();
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("path: data/train.csv"), "{lock}");
    assert!(!lock.contains("README.md"), "README is not data: {lock}");
    assert!(lock.contains("rows: 50"), "{lock}");

    // Pinned and cached: the next build never asks the Hub.
    let before = hub.hub.requests().len() + hub.cdn.requests().len();
    run(&cx, &hub, &["build"])
        .success()
        .stderr_has("using cached data");
    assert_eq!(hub.hub.requests().len() + hub.cdn.requests().len(), before);
    run(&cx, &hub, &["build", "--offline", "--locked"]).success();

    // main moves on: the lock keeps the old commit until --refresh.
    let newer = hub.add_dataset("acme/tiny", &[("data/train.csv", &csv(0..60), false)]);
    run(&cx, &hub, &["build"]).success();
    assert_eq!(lock_revision(&cx), commit);
    run(&cx, &hub, &["build", "--locked", "--refresh"])
        .code(3)
        .stderr_has("--locked");
    // (the --locked run above fetched it into the cache already)
    run(&cx, &hub, &["build", "--refresh"])
        .success()
        .stderr_has(&format!("using cached data ({})", &newer[..12]));
    assert_eq!(lock_revision(&cx), newer);
    assert!(cx.read("dataset.lock").contains("rows: 60"));
    run(&cx, &hub, &["diff", "old.lock"])
        .success()
        .stdout_has(&format!("revision: {commit} → {newer}"));
}

#[test]
fn rebuild_fetches_the_pinned_revision_into_an_empty_cache() {
    let (hub, commit) = hub();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny@main"));
    run(&cx, &hub, &["build"]).success();
    hub.add_dataset("acme/tiny", &[("data/train.csv", &csv(0..7), false)]);
    let fresh = tempfile::tempdir().unwrap();
    run_with(&cx, &hub, &["rebuild"], |c| {
        c.env("MLDATA_HOME", fresh.path());
    })
    .success()
    .stdout_has("files match");
    let tree = hub
        .hub
        .requests()
        .iter()
        .filter(|r| r.path.contains("/tree/"))
        .map(|r| r.path.clone())
        .collect::<Vec<_>>();
    assert!(tree.last().is_some_and(|p| p.contains(&commit)), "{tree:?}");
}

#[test]
fn offline_without_cache_and_files_selection() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run(&cx, &hub, &["build", "--offline"])
        .code(2)
        .stderr_has("--offline forbids asking the Hub");
    run_with(&cx, &hub, &["build"], |c| {
        c.env("HF_HUB_OFFLINE", "1");
    })
    .code(2);
    assert!(!cx.exists("dataset.lock"));
    cx.spec(&spec("hf://acme/tiny").replace(
        "uri: \"hf://acme/tiny\"",
        "uri: \"hf://acme/tiny\", files: [\"data/test*\"]",
    ));
    run(&cx, &hub, &["build"]).success();
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("rows: 10") && !lock.contains("train.csv"),
        "{lock}"
    );
    cx.spec(&spec("hf://acme/tiny").replace(
        "uri: \"hf://acme/tiny\"",
        "uri: \"hf://acme/tiny\", files: [\"nope/*\"]",
    ));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("has no matching files");
}

#[test]
fn interrupted_download_resumes_with_range() {
    let hub = MockHub::start();
    let big: Vec<u8> = csv(0..20_000);
    let sha = sha256_hex(&big);
    hub.add_dataset("acme/big", &[("train.csv", &big, true)]);
    hub.drop_cdn_body_once(&sha, 100_000);
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/big"));
    run(&cx, &hub, &["build"]).success();
    let ranges: Vec<String> = hub
        .cdn
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(
        ranges,
        vec!["bytes=100000-".to_owned()],
        "resumed where it broke"
    );
    assert!(cx.read("dataset.lock").contains("rows: 20000"));
}

#[test]
fn rate_limits_and_server_errors_are_retried() {
    let (hub, _) = hub();
    hub.rate_limit_next(2, 0);
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run(&cx, &hub, &["build"]).success();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    hub.fail_next(10, 503);
    run(&cx, &hub, &["build"])
        .code(1)
        .stderr_has("answered 503")
        .stderr_has("(after 4 tries)");
    assert!(!cx.exists("dataset.lock"));
}

#[test]
fn bad_answers_are_clear_errors_and_nothing_is_cached_as_complete() {
    let (hub, _) = hub();
    hub.add_dataset("acme/other", &[("a.csv", &csv(0..3), false)]);
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tinyy"));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("dataset `acme/tinyy` not found")
        .stderr_has("did you mean `acme/tiny`")
        .stderr_has("a private or gated dataset needs a token");
    cx.spec(&spec("hf://acme/tiny@v9"));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("revision `v9` of `acme/tiny` not found");
    cx.spec(&spec("hf://acme/tiny"));
    hub.html_instead_of_json_once();
    run(&cx, &hub, &["build"])
        .code(1)
        .stderr_has("answered with an HTML page instead of JSON");
    // A CDN whose file is one byte shorter than the Hub lists: named, not cached.
    let big = csv(0..500);
    let sha = sha256_hex(&big);
    hub.add_dataset("acme/short", &[("x.csv", &big, true)]);
    hub.cdn_wrong_size(&sha);
    cx.spec(&spec("hf://acme/short"));
    run(&cx, &hub, &["build"])
        .code(1)
        .stderr_has("has 6793 bytes, but 6794 were expected")
        .stderr_has("x.csv");
    assert!(!cx.exists("dataset.lock"));
    let snapshots = cx.home().join("cache/snapshots");
    let complete = walkdir::WalkDir::new(&snapshots)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == ".mldata-snapshot.json")
        .count();
    assert_eq!(complete, 0, "no snapshot may look complete");
}

#[test]
fn gated_and_private_datasets_need_a_token_that_never_leaks() {
    let (hub, _) = hub();
    hub.set_token(Some(TOKEN));
    hub.set_private("acme/tiny");
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("not found")
        .stderr_has("set HF_TOKEN");
    let out = run_with(&cx, &hub, &["build", "--json", "-v"], |c| {
        c.env("HF_TOKEN", TOKEN);
    });
    out.success();
    // The token went to the Hub, never to the CDN.
    assert!(
        hub.hub
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
    assert!(!hub.cdn.requests().is_empty());
    assert!(
        hub.cdn
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    // Nowhere in outputs, lock, manifest, reports or the cache's metadata.
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    for e in walkdir::WalkDir::new(cx.root()).into_iter().flatten() {
        if e.file_type().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TOKEN),
                "token in {}",
                e.path().display()
            );
        }
    }
    // A wrong token: an error that names the problem, not the token.
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    let out = run_with(&cx, &hub, &["build"], |c| {
        c.env("HF_TOKEN", "hf_wrong_token_123");
    });
    out.code(2);
    assert!(!out.stderr.contains("hf_wrong_token_123"), "{}", out.stderr);

    hub.set_gated("acme/tiny", false);
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run_with(&cx, &hub, &["build"], |c| {
        c.env("HF_TOKEN", TOKEN);
    })
    .code(2)
    .stderr_has("is gated");
}

#[test]
fn a_damaged_cache_entry_is_fetched_again() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run(&cx, &hub, &["build"]).success();
    let snap = walkdir::WalkDir::new(cx.home().join("cache/snapshots"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == "test.csv")
        .unwrap()
        .into_path();
    let mut perms = std::fs::metadata(&snap).unwrap().permissions();
    #[expect(
        clippy::permissions_set_readonly_false,
        reason = "the test damages the cache on purpose"
    )]
    perms.set_readonly(false);
    std::fs::set_permissions(&snap, perms).unwrap();
    std::fs::write(&snap, b"id,text,label\n999,damaged,0\n").unwrap();
    let cdn_before = hub.cdn.requests().len();
    run(&cx, &hub, &["build", "--no-run-cache"])
        .success()
        .stderr_has("the cached copy was damaged");
    assert!(hub.cdn.requests().len() > cdn_before, "fetched again");
    assert!(cx.read("dataset.lock").contains("rows: 50"));
}

#[test]
fn https_source_with_a_sha256_pin_and_register_checksums() {
    let body = csv(0..12);
    let sha = sha256_hex(&body);
    let served = body.clone();
    let server = MockServer::start(move |req| {
        if req.path_only() == "/files/data.csv" {
            Response::bytes(200, served.clone()).header("etag", "\"v1\"")
        } else {
            Response::text(404, "not found")
        }
    });
    let url = format!("{}/files/data.csv", server.url());
    let cx = TestContext::new();
    cx.spec(&format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw:\n    uri: {url}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    ));
    cx.run(&["build", "--register-checksums"])
        .success()
        .stderr_has(&format!("Registered sha256 of source raw: {sha}"));
    assert!(
        cx.read("dataset.yaml")
            .contains(&format!("    uri: {url}\n    sha256: {sha}\n"))
    );
    cx.run(&["build", "--locked"]).success();
    cx.spec(&cx.read("dataset.yaml").replace(&sha, &"0".repeat(64)));
    let fresh = tempfile::tempdir().unwrap();
    let out = cx
        .command(&["build"])
        .env("MLDATA_HOME", fresh.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains("data.csv"), "{stderr}");
    // A missing file: the status, named.
    cx.spec(&spec(&format!("{}/files/missing.csv", server.url())));
    cx.run(&["build"]).code(1).stderr_has("answered 404");
    // A bad pin in the spec is a spec error.
    cx.spec(&format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: \"{url}\", sha256: nothex}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    ));
    cx.run(&["build"])
        .code(2)
        .stderr_has("`sha256` must be 64 hexadecimal digits");
}

#[test]
fn cache_commands_list_limit_and_clear() {
    let (hub, commit) = hub();
    hub.add_dataset("acme/second", &[("a.csv", &csv(0..300), true)]);
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run(&cx, &hub, &["build"]).success();
    run(&cx, &hub, &["cache", "ls"])
        .success()
        .stdout_has("hf://acme/tiny")
        .stdout_has(&commit[..12]);
    let json = run(&cx, &hub, &["cache", "ls", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v[0]["files"], 2);
    run(&cx, &hub, &["cache", "size"])
        .success()
        .stdout_has("in 1 snapshot");
    // A limit below the cache's size evicts the least recently used snapshot on the next fetch.
    cx.spec(&spec("hf://acme/second"));
    run_with(&cx, &hub, &["build"], |c| {
        c.env("MLDATA_CACHE_MAX_GB", "0.000001");
    })
    .success()
    .stderr_has("the cache was over cache.max_size_gb: removed 1 least recently used snapshot");
    let ls = run(&cx, &hub, &["cache", "ls"]);
    assert!(
        ls.stdout.contains("acme/second") && !ls.stdout.contains("acme/tiny"),
        "{}",
        ls.stdout
    );
    run(&cx, &hub, &["cache", "gc", "--max-size-gb", "0"])
        .success()
        .stdout_has("Removed 1 snapshot");
    run(&cx, &hub, &["cache", "ls"])
        .success()
        .stdout_has("is empty");
    run(&cx, &hub, &["cache", "clear"])
        .success()
        .stdout_has("Cleared");
    // An unwritable cache folder: a temporary one, with a warning, and the build works.
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run_with(&cx, &hub, &["build"], |c| {
        c.env("MLDATA_CACHE_DIR", "/proc/mldata-cache-not-writable");
    })
    .success()
    .stderr_has("is not writable")
    .stderr_has("for this run");
}

#[test]
fn auth_login_status_logout_and_doctor_never_show_secrets() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    let login = |service: &str, input: &str| {
        let mut c = cx.command(&["auth", "login", service]);
        c.env("MLDATA_NO_KEYRING", "1")
            .env("HF_ENDPOINT", hub.url())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = login("hf", &format!("{TOKEN}\n"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("mode 0600") && stderr.contains("unencrypted"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
    let file = cx.home().join("credentials.json");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions())
            & 0o777,
        0o600
    );
    let (code, _) = login("kaggle", "alice\nkaggle_secret_key_42\n");
    assert_eq!(code, Some(0));
    let (code, stderr) = login("openml", "\n");
    assert_eq!(code, Some(2), "{stderr}");

    let no_keyring = |c: &mut Command| {
        c.env("MLDATA_NO_KEYRING", "1")
            .env("OPENML_API_KEY", "openml_planted_key_9")
            .env("KAGGLE_CONFIG_DIR", "/nonexistent");
    };
    let status = run_with(&cx, &hub, &["auth", "status"], no_keyring);
    status
        .success()
        .stdout_has("✓ Hugging Face")
        .stdout_has("credentials.json")
        .stdout_has("✓ Kaggle")
        .stdout_has("as alice")
        .stdout_has("✓ OpenML        from environment (OPENML_API_KEY)");
    let doctor = run_with(&cx, &hub, &["doctor"], no_keyring);
    doctor
        .success()
        .stdout_has("Credentials (values are never shown)");
    for out in [&status, &doctor] {
        for secret in [TOKEN, "kaggle_secret_key_42", "openml_planted_key_9"] {
            assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret));
        }
    }
    // The stored token is used for the Hub.
    hub.set_token(Some(TOKEN));
    hub.set_private("acme/tiny");
    cx.spec(&spec("hf://acme/tiny"));
    run_with(&cx, &hub, &["build"], |c| {
        c.env("MLDATA_NO_KEYRING", "1");
    })
    .success();
    run_with(&cx, &hub, &["auth", "logout", "hf"], no_keyring)
        .success()
        .stderr_has("Removed the stored Hugging Face credential");
    run_with(&cx, &hub, &["auth", "status"], no_keyring)
        .success()
        .stdout_has("✗ Hugging Face");
    run(&cx, &hub, &["completions", "bash"])
        .success()
        .stdout_has("mldatabuild");
}

#[test]
fn search_across_sources_with_filters_and_a_hanging_source() {
    let (hub, _) = hub();
    hub.add_dataset(
        "nlp/sentiment-reviews",
        &[
            ("README.md", b"---\nlicense: cc-by-nc-4.0\n---\n", false),
            ("a.csv", &csv(0..3), false),
        ],
    );
    hub.set_stats("nlp/sentiment-reviews", 5000, 10);
    // Kaggle hangs; OpenML answers.
    let kaggle = MockServer::start(|_| {
        std::thread::sleep(std::time::Duration::from_secs(20));
        Response::text(200, "[]")
    });
    let openml = MockServer::start(|req| {
        if req.path_only().contains("/data/list/data_name/sentiment") {
            Response::json(
                200,
                &serde_json::json!({"data": {"dataset": [{"did": 61, "name": "sentiment", "version": 2, "status": "active",
                    "quality": [{"name": "NumberOfInstances", "value": "150.0"}]}]}}),
            )
        } else {
            Response::json(
                412,
                &serde_json::json!({"error": {"code": "372", "message": "No results"}}),
            )
        }
    });
    let cx = TestContext::new();
    let t = std::time::Instant::now();
    let out = run_with(&cx, &hub, &["search", "sentiment"], |c| {
        c.env("KAGGLE_API_ENDPOINT", kaggle.url())
            .env("KAGGLE_USERNAME", "alice")
            .env("KAGGLE_KEY", "k3y_planted")
            .env("OPENML_ENDPOINT", openml.url());
    });
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        t.elapsed()
    );
    out.success()
        .stdout_has("Found 2 datasets")
        .stdout_has("hf://nlp/sentiment-reviews")
        .stdout_has("openml://61")
        .stdout_has("cc-by-nc-4.0")
        .stderr_has("warning: kaggle did not answer within 5 s; results without it");
    assert!(!out.stdout.contains("k3y_planted") && !out.stderr.contains("k3y_planted"));
    // Filters: values are checked, notes say what a source cannot apply.
    run(&cx, &hub, &["search", "x", "--modality", "smell"])
        .code(2)
        .stderr_has("possible values: text, image, audio");
    run(
        &cx,
        &hub,
        &["search", "x", "--min-size", "2XB", "--source", "hf"],
    )
    .code(2)
    .stderr_has("unknown size unit");
    let out = run_with(
        &cx,
        &hub,
        &[
            "search",
            "sentiment",
            "--source",
            "hf,openml",
            "--modality",
            "image",
            "--json",
        ],
        |c| {
            c.env("OPENML_ENDPOINT", openml.url());
        },
    );
    out.success().stderr_has("openml only has tabular data");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["total"], 0);
}

#[test]
fn info_shows_metadata_schema_and_sample_rows() {
    let (hub, commit) = hub();
    hub.set_viewer_rows(
        "acme/tiny",
        "default",
        "train",
        &serde_json::json!({"text": {"dtype": "string", "_type": "Value"}, "label": {"names": ["neg", "pos"], "_type": "ClassLabel"}, "img": {"_type": "Image"}}),
        &serde_json::json!([{"text": "a very long review text that goes on and on and on and on beyond forty characters", "label": 1, "img": {"src": "http://x/1.png", "height": 4, "width": 4}}]),
    );
    let cx = TestContext::new();
    run(&cx, &hub, &["info", "hf://acme/tiny", "--sample", "1"])
        .success()
        .stdout_has(&commit)
        .stdout_has("license    mit (permissive)")
        .stdout_has("class label (neg, pos)")
        .stdout_has("img=[image]")
        .stdout_has("…");
    let out = run(&cx, &hub, &["info", "hf://acme/tiny", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["commit"], commit);
    assert_eq!(v["license_class"], "permissive");
    run(&cx, &hub, &["info", "hf://acme/nope"])
        .code(2)
        .stderr_has("dataset `acme/nope` not found");
    run(&cx, &hub, &["info", "hf://a/b/c"])
        .code(2)
        .stderr_has("accepted forms");
}

#[test]
fn progress_events_and_ctrl_c_leaves_nothing_half_recorded() {
    let (hub, _) = hub();
    hub.stall_cdn(std::time::Duration::from_millis(1500));
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    let out = run(&cx, &hub, &["build", "--json"]);
    out.success();
    let progress: Vec<_> = out
        .events()
        .into_iter()
        .filter_map(|e| match e {
            mldatabuild::report::Event::SourceProgress {
                files_total,
                idle_secs,
                files,
                ..
            } => Some((files_total, idle_secs, files)),
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty(), "{}", out.stdout);
    assert!(progress.iter().all(|(t, _, _)| *t == 2));
    assert!(
        progress.iter().any(|(_, idle, _)| *idle >= 1),
        "{progress:?}"
    );
    // Per-file progress: the file the stalled CDN holds back is named, with its size.
    assert!(
        progress.iter().any(|(_, _, files)| files
            .iter()
            .any(|f| f.name == "data/test.csv" && f.total > 0 && f.done < f.total)),
        "{progress:?}"
    );
    assert!(progress.iter().all(|(_, _, files)| files.len() <= 2));

    // Ctrl-C in the middle of the download (the CDN holds a file back), sent to a build that
    // started with SIGINT ignored, as every command a script starts with `&` does (a CI run
    // started that way saw the build swallow it and exit 0): the build dies of SIGINT, with no
    // lock and no snapshot recorded as complete.
    hub.stall_cdn(std::time::Duration::from_secs(600));
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    let fresh = tempfile::tempdir().unwrap();
    let mut c = cx.command(&["build", "--json"]);
    c.env("HF_ENDPOINT", hub.url())
        .env("HF_HOME", fresh.path().join("hf"))
        .env("MLDATA_HOME", fresh.path())
        // One try: a build that ignored the Ctrl-C fails at the first timeout, not minutes on.
        .env("MLDATA_HTTP_RETRIES", "1")
        .env_remove("HF_TOKEN");
    let mut child = ignoring_sigint(&c)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Not a time: the first progress event says the download is under way.
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let progress = std::io::BufRead::lines(stdout)
        .map_while(Result::ok)
        .find(|l| l.contains(r#""type":"source_progress""#));
    assert!(progress.is_some(), "the build ended without downloading");
    interrupt(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(!cx.exists("dataset.lock"));
    assert!(!snapshot_recorded(fresh.path()));
    hub.stall_cdn(std::time::Duration::ZERO);
    run_with(&cx, &hub, &["build"], |c| {
        c.env("MLDATA_HOME", fresh.path());
    })
    .success();
}

/// `c` (its program, arguments, environment and folder; not its stdio) run through `sh`, which
/// ignores SIGINT and then `exec`s it: the process starts with SIGINT ignored, as a command a
/// non-interactive shell starts in the background does.
fn ignoring_sigint(c: &Command) -> Command {
    let mut w = Command::new("sh");
    w.args(["-c", "trap '' INT; exec \"$@\"", "sh"])
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    if let Some(d) = c.get_current_dir() {
        w.current_dir(d);
    }
    // The wrapper does what it says (Linux shows it; SIGINT is bit 2 of SigIgn).
    if let Ok(out) = Command::new("sh")
        .args(["-c", "trap '' INT; exec cat /proc/self/status"])
        .output()
        && let Some(mask) = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
    {
        assert_ne!(
            mask & (1 << (libc::SIGINT - 1)),
            0,
            "sh did not ignore SIGINT"
        );
    }
    w
}

/// Send SIGINT (what Ctrl-C sends) to a child.
fn interrupt(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Whether the download cache under `home` has a snapshot recorded as complete.
fn snapshot_recorded(home: &std::path::Path) -> bool {
    walkdir::WalkDir::new(home.join("cache/snapshots"))
        .into_iter()
        .flatten()
        .any(|e| e.file_name() == ".mldata-snapshot.json")
}

#[test]
fn ctrl_c_before_the_server_answers_ends_the_build() {
    // The server holds its answer (before any header) until the gate opens, and says when a
    // request arrived.
    let gate = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let (arrived_tx, arrived) = std::sync::mpsc::channel::<()>();
    let server = {
        let gate = gate.clone();
        let arrived_tx = std::sync::Mutex::new(arrived_tx);
        MockServer::start(move |_| {
            let _ = arrived_tx.lock().unwrap().send(());
            let (open, opened) = &*gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = opened.wait(open).unwrap();
            }
            Response::bytes(200, csv(0..10))
        })
    };
    let release = || {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    };
    let cx = TestContext::new();
    cx.spec(&spec(&format!("{}/file.csv", server.url())));
    let mut c = cx.command(&["build", "--json"]);
    c.env("MLDATA_HTTP_RETRIES", "1");
    let mut child = ignoring_sigint(&c)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let asked = arrived.recv_timeout(std::time::Duration::from_secs(300));
    if asked.is_err() {
        let _ = child.kill();
        release();
        panic!("the build never asked the server");
    }
    interrupt(&child);
    let status = child.wait().unwrap();
    release();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(!cx.exists("dataset.lock"));
    assert!(!snapshot_recorded(cx.home()));
    cx.run(&["build"]).success();
    assert!(cx.exists("dataset.lock") && snapshot_recorded(cx.home()));
}

/// A hub with `acme/multi`: configs `default` (splits `train`: 30 rows, `test`: 10) and
/// `extra` (5 rows), declared in its README.
pub(crate) fn multi_hub() -> MockHub {
    let hub = MockHub::start();
    let readme = b"---\nlicense: mit\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n  - split: test\n    path: data/test-*\n- config_name: extra\n  data_files: extra/*.csv\n---\n";
    hub.add_dataset(
        "acme/multi",
        &[
            ("README.md", readme, false),
            ("data/train-00000-of-00001.csv", &csv(0..30), false),
            ("data/test-00000-of-00001.csv", &csv(30..40), false),
            ("extra/x.csv", &csv(0..5), false),
        ],
    );
    hub
}

#[test]
fn configs_splits_and_the_parquet_branch() {
    let hub = multi_hub();
    hub.add_branch(
        "acme/multi",
        "refs/convert/parquet",
        &[
            ("default/train/0000.csv", &csv(0..30), false),
            ("default/test/0000.csv", &csv(30..40), false),
        ],
    );
    let src = |extra: &str| {
        format!(
            "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: \"hf://acme/multi\"{extra}}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
        )
    };
    let cx = TestContext::new();
    cx.spec(&src(", split: test"));
    run(&cx, &hub, &["build"]).success();
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("rows: 10") && lock.contains("split: test"),
        "{lock}"
    );
    cx.spec(&src(", config: extra"));
    run(&cx, &hub, &["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 5"));
    cx.spec(&src(", config: nope"));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("has no config `nope`")
        .stderr_has("its configs are: default, extra");
    cx.spec(&src(", split: dev"));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("has no split `dev`")
        .stderr_has("its splits are: train, test");
    // A split by the folder layout of the parquet branch (no README there).
    cx.spec(
        &src(", split: train").replace("hf://acme/multi", "hf://acme/multi@refs/convert/parquet"),
    );
    run(&cx, &hub, &["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 30"));
    // config/split only make sense for the Hub.
    cx.spec(&src(", split: train").replace("hf://acme/multi", "https://example.invalid/x.csv"));
    run(&cx, &hub, &["build"])
        .code(2)
        .stderr_has("`config` and `split` select files of an `hf://` dataset");
}

#[test]
fn a_server_that_ignores_range_or_changes_the_file_restarts_the_download() {
    // The CDN answers a resume with the whole body (200): the download starts over.
    let hub = MockHub::start();
    let big = csv(0..20_000);
    let sha = sha256_hex(&big);
    hub.add_dataset("acme/big", &[("train.csv", &big, true)]);
    hub.drop_cdn_body_once(&sha, 50_000);
    hub.cdn_ignore_range(true);
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/big"));
    run(&cx, &hub, &["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 20000"));

    // A URL whose content changes while a download is interrupted: If-Range with the first
    // ETag makes the server send the new file whole.
    let state = std::sync::Arc::new(std::sync::Mutex::new((csv(0..5_000), "\"v1\"", true)));
    let s2 = state.clone();
    let server = MockServer::start(move |req| {
        let mut st = s2.lock().unwrap();
        let (body, etag, drop_first) = (st.0.clone(), st.1, st.2);
        if drop_first {
            // The first answer breaks off; then the file changes.
            st.2 = false;
            st.0 = csv(0..7_000);
            st.1 = "\"v2\"";
            return Response::bytes(200, body)
                .header("etag", etag)
                .with_behavior(crate::mock::Behavior::DropAfter(10_000));
        }
        match (req.header("range"), req.header("if-range")) {
            (Some(r), Some(v)) if v == etag => {
                let start: usize = r
                    .trim_start_matches("bytes=")
                    .trim_end_matches('-')
                    .parse()
                    .unwrap();
                let total = body.len();
                Response::bytes(206, body[start..].to_vec())
                    .header("etag", etag)
                    .header(
                        "content-range",
                        format!("bytes {start}-{}/{total}", total - 1),
                    )
            }
            _ => Response::bytes(200, body).header("etag", etag),
        }
    });
    let cx = TestContext::new();
    cx.spec(&spec(&format!("{}/data.csv", server.url())));
    let out = cx
        .command(&["build"])
        .env("MLDATA_HTTP_BACKOFF_MS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "one broken answer, one whole new file");
    assert_eq!(reqs[1].header("if-range"), Some("\"v1\""));
    assert!(cx.read("dataset.lock").contains("rows: 7000"));
}

#[test]
fn concurrent_builds_download_a_file_once() {
    let hub = MockHub::start();
    let big = csv(0..5_000);
    hub.add_dataset("acme/big", &[("train.csv", &big, true)]);
    hub.stall_cdn(std::time::Duration::from_millis(800));
    let home = tempfile::tempdir().unwrap();
    let a = TestContext::new();
    let b = TestContext::new();
    for cx in [&a, &b] {
        cx.spec(&spec("hf://acme/big"));
    }
    let spawn = |cx: &TestContext| {
        let mut c = cx.command(&["build"]);
        c.env("HF_ENDPOINT", hub.url())
            .env("MLDATA_HOME", home.path())
            .env_remove("HF_TOKEN")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    let (mut pa, mut pb) = (spawn(&a), spawn(&b));
    assert!(pa.wait().unwrap().success());
    assert!(pb.wait().unwrap().success());
    let gets = hub
        .cdn
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(
        gets, 1,
        "the second build waited for the first and used its download"
    );
    assert_eq!(
        a.read("dataset.lock")
            .lines()
            .find(|l| l.contains("revision")),
        b.read("dataset.lock")
            .lines()
            .find(|l| l.contains("revision"))
    );
}

/// A disk that fills up mid-download (the precheck passed): the kernel's ENOSPC, made real by
/// pointing the file's partial download at /dev/full. A clear error naming the file, nothing
/// published to the cache, no lock; the next build (space freed) succeeds.
#[test]
#[cfg(target_os = "linux")]
fn a_disk_filling_up_mid_download_fails_cleanly() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    // The partial file of the LFS file `data/test.csv` (named by its SHA-256).
    let id = &sha256_hex(sha256_hex(&csv(40..50)).as_bytes())[..32];
    let partial_dir = cx.home().join("cache/partial");
    std::fs::create_dir_all(&partial_dir).unwrap();
    let part = partial_dir.join(format!("{id}.part"));
    std::os::unix::fs::symlink("/dev/full", &part).unwrap();
    let out = run(&cx, &hub, &["build"]);
    out.code(1)
        .stderr_has("`data/test.csv`: cannot write")
        .stderr_has("No space left on device")
        .stderr_has("check the free space");
    assert!(!cx.exists("dataset.lock"));
    let published = walkdir::WalkDir::new(cx.home().join("cache/snapshots"))
        .into_iter()
        .flatten()
        .any(|e| e.file_name() == ".mldata-snapshot.json");
    assert!(
        !published,
        "a snapshot was published from a failed download"
    );
    std::fs::remove_file(&part).unwrap();
    run(&cx, &hub, &["build"]).success();
    assert!(cx.read("dataset.lock").contains("data/test.csv"));
}

#[test]
fn a_full_disk_is_refused_before_downloading() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    cx.spec(&spec("hf://acme/tiny"));
    run_with(&cx, &hub, &["build"], |c| {
        c.env("MLDATA_TEST_FREE_BYTES", "1000");
    })
    .code(1)
    .stderr_has("not enough free space in")
    .stderr_has("the download needs 608 B and 1.0 KB is free")
    .stderr_has("mldatabuild cache gc");
    assert!(hub.cdn.requests().is_empty() && !cx.exists("dataset.lock"));
    let partial = walkdir::WalkDir::new(cx.home().join("cache"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && !e.path().to_string_lossy().contains("/locks/"))
        .count();
    assert_eq!(partial, 0, "nothing half-written (only lock files)");
    run(&cx, &hub, &["build"]).success();
}

/// The password planted in URLs below, and `Basic base64("user:s3cr3t")`.
const PASSWORD: &str = "s3cr3t";
const BASIC: &str = "Basic dXNlcjpzM2NyM3Q=";

/// Every file under `dir` (names and contents) whose text holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str, skip: &[&std::path::Path]) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| !skip.contains(&e.path()))
        .filter(|e| {
            e.path().to_string_lossy().contains(needle)
                || (e.file_type().is_file()
                    && std::fs::read(e.path())
                        .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())))
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

/// `mldatabuild` with quick retries (a refused connection fails fast).
fn run_fast(cx: &TestContext, args: &[&str]) -> crate::context::Output {
    let out = cx
        .command(args)
        .env("MLDATA_HTTP_BACKOFF_MS", "1")
        .env("MLDATA_HTTP_RETRIES", "2")
        .output()
        .expect("run mldatabuild");
    crate::context::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: cx.filter(&String::from_utf8_lossy(&out.stdout)),
        stderr: cx.filter(&String::from_utf8_lossy(&out.stderr)),
    }
}

#[track_caller]
fn shows_no_password(out: &crate::context::Output) {
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(&BASIC[6..]),
            "the password leaked\n--- stdout\n{}\n--- stderr\n{}",
            out.stdout,
            out.stderr
        );
    }
}

/// A server that wants `user:s3cr3t` for `/file.csv` (401 otherwise), and answers 404 for
/// anything else.
fn password_server(body: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> MockServer {
    let body = body.clone();
    MockServer::start(move |req| match req.path_only() {
        "/file.csv" if req.header("authorization") == Some(BASIC) => {
            Response::bytes(200, body.lock().unwrap().clone())
        }
        "/file.csv" => Response::text(401, "who are you?").header("WWW-Authenticate", "Basic"),
        _ => Response::text(404, "not found"),
    })
}

#[test]
fn a_password_in_a_url_is_used_but_never_shown_or_recorded() {
    let body = std::sync::Arc::new(std::sync::Mutex::new(csv(0..10)));
    let server = password_server(&body);
    let port = server.addr.port();
    let url = format!("http://user:{PASSWORD}@127.0.0.1:{port}/file.csv");
    let shown = format!("http://user:***@127.0.0.1:{port}/file.csv");
    let cx = TestContext::new();
    cx.spec(&spec(&url));
    let first = cx.run(&["build", "-v"]);
    first.success();
    shows_no_password(&first);
    // The server was asked with the credential (and only sees it in the header).
    let asked = server.requests();
    assert!(
        asked
            .iter()
            .any(|r| r.method == "GET" && r.header("authorization") == Some(BASIC)),
        "{asked:?}"
    );
    assert!(asked.iter().all(|r| !r.path.contains(PASSWORD)));
    let lock = cx.read("dataset.lock");
    assert!(lock.contains(&format!("uri: {shown}")), "{lock}");
    // Nothing on disk holds it: the lock, manifest.yaml, local state, the store, the cache.
    let spec_file = cx.path("dataset.yaml");
    for dir in [cx.root(), cx.home()] {
        let found = files_holding(dir, PASSWORD, &[&spec_file]);
        assert!(found.is_empty(), "{found:?}");
        let found = files_holding(dir, &BASIC[6..], &[&spec_file]);
        assert!(found.is_empty(), "{found:?}");
    }
    assert!(
        walkdir::WalkDir::new(cx.root())
            .into_iter()
            .flatten()
            .any(|e| e.file_name() == "manifest.yaml"),
        "a manifest.yaml was checked"
    );

    // The next build is a no-op: the lock's redacted URI is this source's (no refetch), in
    // JSON and verbose output alike.
    let before = server.requests().len();
    for args in [&["build", "--json", "-v"][..], &["build", "-v"][..]] {
        let again = cx.run(args);
        again.success();
        shows_no_password(&again);
    }
    assert_eq!(server.requests().len(), before, "nothing fetched again");
    assert_eq!(cx.read("dataset.lock"), lock);
    for args in [
        &["status"][..],
        &["status", "--json"][..],
        &["dag"][..],
        &["cache", "ls"][..],
        &["cache", "ls", "--json"][..],
    ] {
        let out = cx.run(args);
        shows_no_password(&out);
    }
    cx.run(&["cache", "ls"]).success().stdout_has(&shown);
    let info = cx.run(&["info", &url]);
    info.success().stdout_has(&shown);
    shows_no_password(&info);
    let doctor = cx
        .command(&["doctor"])
        .env("MLDATA_OFFLINE", "1")
        .env(
            "HF_ENDPOINT",
            format!("http://mirror:{PASSWORD}@127.0.0.1:{port}"),
        )
        .output()
        .unwrap();
    let doctor_text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        doctor_text.contains("http://mirror:***@127.0.0.1"),
        "{doctor_text}"
    );
    assert!(!doctor_text.contains(PASSWORD), "{doctor_text}");

    // A new password for the same URL keeps the pin and the cache.
    let before = server.requests().len();
    cx.spec(&spec(&url.replace(PASSWORD, "n3w-pa55")));
    cx.run(&["build"]).success();
    assert_eq!(server.requests().len(), before, "nothing fetched again");
    cx.spec(&spec(&url));

    // The file changes on the server: `--refresh` fetches it again, and `diff` shows the
    // change without the password.
    std::fs::write(cx.path("old.lock"), &lock).unwrap();
    *body.lock().unwrap() = csv(0..20);
    let refreshed = cx.run(&["build", "--refresh", "--json"]);
    refreshed.success();
    shows_no_password(&refreshed);
    assert!(cx.read("dataset.lock").contains("rows: 20"));
    for args in [
        &["diff", "old.lock"][..],
        &["diff", "old.lock", "--json"][..],
    ] {
        let diff = cx.run(args);
        diff.success().stdout_has("raw");
        shows_no_password(&diff);
    }

    // `rebuild` reads the URI from the lock: the cached copy serves it; without the cache it
    // cannot download (the lock has no password) and says so, never sending the mask.
    let rebuilt = cx.run(&["rebuild"]);
    rebuilt.success();
    shows_no_password(&rebuilt);
    let asked = server.requests().len();
    let fresh = tempfile::tempdir().unwrap();
    let out = cx
        .command(&["rebuild"])
        .env("MLDATA_HOME", fresh.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot be downloaded without its password"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(server.requests().len(), asked, "nothing sent");
}

#[test]
fn a_failing_url_with_a_password_never_shows_it() {
    let body = std::sync::Arc::new(std::sync::Mutex::new(csv(0..10)));
    let server = password_server(&body);
    let base = format!("127.0.0.1:{}", server.addr.port());
    // A closed port: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cases = [
        (
            format!("http://user:{PASSWORD}@{base}/missing.csv"),
            1,
            "answered 404",
        ),
        (
            format!("http://user:wr0ng-{PASSWORD}@{base}/file.csv"),
            1,
            "answered 401",
        ),
        (
            format!("http://user:{PASSWORD}@127.0.0.1:{closed}/file.csv"),
            1,
            "cannot reach http://127.0.0.1",
        ),
    ];
    for (url, code, says) in cases {
        let cx = TestContext::new();
        cx.spec(&spec(&url));
        for args in [&["build"][..], &["build", "--json", "-v"][..]] {
            let out = run_fast(&cx, args);
            out.code(code).stderr_has(says);
            shows_no_password(&out);
        }
        assert!(!cx.exists("dataset.lock"));
        let found = files_holding(cx.home(), PASSWORD, &[]);
        assert!(found.is_empty(), "{found:?}");
    }
    // A password with an unencoded `/`: where the user info ends cannot be told, so the
    // message does not quote the URL. (The spec error's excerpt of dataset.yaml below it
    // does quote the line, as any spec error quotes the spec.)
    let cx = TestContext::new();
    cx.spec(&spec(&format!("http://user:{PASSWORD}/x@{base}/file.csv")));
    let out = run_fast(&cx, &["build"]);
    out.code(2).stderr_has("percent-encode");
    let message = out.stderr.lines().next().unwrap_or_default();
    assert!(message.contains("`http://…`"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");
}

#[test]
fn a_password_in_a_url_never_follows_a_redirect_to_another_origin() {
    let data = csv(0..10);
    let elsewhere = {
        let data = data.clone();
        MockServer::start(move |_| Response::bytes(200, data.clone()))
    };
    let target = format!("{}/file.csv", elsewhere.url());
    let origin = MockServer::start(move |req| match req.path_only() {
        "/same.csv" => Response::new(302).header("Location", "/moved/file.csv"),
        "/moved/file.csv" if req.header("authorization") == Some(BASIC) => {
            Response::new(302).header("Location", target.clone())
        }
        _ => Response::text(401, "who are you?"),
    });
    let cx = TestContext::new();
    cx.spec(&spec(&format!(
        "http://user:{PASSWORD}@127.0.0.1:{}/same.csv",
        origin.addr.port()
    )));
    let out = cx.run(&["build"]);
    out.success();
    shows_no_password(&out);
    // Its own origin got it on every hop (a same-origin redirect included) ...
    let hops: Vec<_> = origin.requests();
    assert_eq!(hops.len(), 2, "{hops:?}");
    assert!(
        hops.iter()
            .all(|r| r.header("authorization") == Some(BASIC))
    );
    // ... another origin (another port) never did.
    let got = elsewhere.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].header("authorization"), None);
}
