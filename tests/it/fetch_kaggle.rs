//! `kaggle://` sources against the loopback mock of Kaggle's REST API and storage
//! (tests/it/mock_kaggle.rs): pinning the version, the cache, `--refresh`, `--offline`,
//! credentials (Basic and Bearer, never sent to storage, never printed or written), errors.

use std::process::Command;

use crate::context::{Output, TestContext};
use crate::mock_kaggle::{MockKaggle, base64};

const USER: &str = "alice";
const KEY: &str = "kaggle_planted_key_5c1e77";
const TOKEN: &str = "KGAT_planted_token_90ab";

fn csv(rows: std::ops::Range<u32>) -> Vec<u8> {
    let mut s = String::from("id,text,label\n");
    for i in rows {
        s.push_str(&format!("{i},row {i},{}\n", i % 2));
    }
    s.into_bytes()
}

fn spec(source: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{{source}}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    )
}

/// `mldatabuild` with the mock as Kaggle's API, fast retries, and no credential from the
/// machine (no keyring, no `~/.kaggle`, none in the environment).
fn run_with(
    cx: &TestContext,
    kaggle: &MockKaggle,
    args: &[&str],
    f: impl FnOnce(&mut Command),
) -> Output {
    let mut c = cx.command(args);
    c.env("KAGGLE_API_ENDPOINT", kaggle.endpoint())
        .env("KAGGLE_CONFIG_DIR", cx.home().join("no-kaggle-config"))
        .env("MLDATA_NO_KEYRING", "1")
        .env("MLDATA_HTTP_BACKOFF_MS", "1")
        .env("MLDATA_HTTP_RETRIES", "3")
        .env_remove("KAGGLE_USERNAME")
        .env_remove("KAGGLE_KEY")
        .env_remove("KAGGLE_API_TOKEN")
        .env_remove("MLDATA_OFFLINE")
        .env_remove("HF_HUB_OFFLINE");
    f(&mut c);
    let out = c.output().expect("run mldatabuild");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: cx.filter(&String::from_utf8_lossy(&out.stdout)),
        stderr: cx.filter(&String::from_utf8_lossy(&out.stderr)),
    }
}

/// With the legacy key in the environment.
fn run(cx: &TestContext, kaggle: &MockKaggle, args: &[&str]) -> Output {
    run_with(cx, kaggle, args, |c| {
        c.env("KAGGLE_USERNAME", USER).env("KAGGLE_KEY", KEY);
    })
}

fn lock_revision(cx: &TestContext) -> String {
    cx.read("dataset.lock")
        .lines()
        .find_map(|l| l.trim().strip_prefix("revision: "))
        .unwrap_or_default()
        .to_owned()
}

/// No secret in any output, nor in any file of the project or of `$MLDATA_HOME` (the cache).
fn assert_never_shown(cx: &TestContext, outputs: &[&Output], secrets: &[&str]) {
    for s in secrets {
        for o in outputs {
            assert!(
                !o.stdout.contains(s) && !o.stderr.contains(s),
                "secret printed:\n{}\n{}",
                o.stdout,
                o.stderr
            );
        }
        for root in [cx.root(), cx.home()] {
            for e in walkdir::WalkDir::new(root).into_iter().flatten() {
                if e.file_type().is_file() {
                    let bytes = std::fs::read(e.path()).unwrap();
                    assert!(
                        !String::from_utf8_lossy(&bytes).contains(s),
                        "secret in {}",
                        e.path().display()
                    );
                }
            }
        }
    }
}

fn wine() -> MockKaggle {
    let kaggle = MockKaggle::start();
    kaggle.require(USER, KEY, TOKEN);
    kaggle.add_version(
        "acme/wine",
        &[("train.csv", &csv(0..30)), ("test.csv", &csv(30..40))],
    );
    kaggle
}

#[test]
fn kaggle_source_is_fetched_pinned_cached_and_refreshed() {
    let kaggle = wine();
    kaggle.page_size(1);
    let cx = TestContext::new();
    cx.spec(&spec("uri: \"kaggle://acme/wine\""));
    let first = run(&cx, &kaggle, &["build"]);
    first
        .success()
        .stderr_has("Fetching source raw: downloading 2 files")
        .stderr_has("fetched version:1")
        .stderr_has("Finished clean");
    assert_eq!(lock_revision(&cx), "version:1");
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("path: train.csv") && lock.contains("rows: 40"),
        "{lock}"
    );

    // The key went to the API as HTTP Basic, the listing was paged, and storage (another
    // origin, reached by redirect) never saw the Authorization header.
    let basic = format!("Basic {}", base64(format!("{USER}:{KEY}").as_bytes()));
    let api = kaggle.api.requests();
    assert!(
        api.iter()
            .all(|r| r.header("authorization") == Some(basic.as_str()))
    );
    assert!(
        api.iter()
            .any(|r| r.path.starts_with("/api/v1/datasets/view/acme/wine"))
    );
    assert!(
        api.iter()
            .any(|r| r.path.contains("/datasets/list/acme/wine") && r.path.contains("pageToken=p1")),
        "the listing was not paged"
    );
    assert!(
        api.iter()
            .any(|r| r.path
                == "/api/v1/datasets/download/acme/wine/train.csv?datasetVersionNumber=1")
    );
    let storage = kaggle.storage.requests();
    assert_eq!(storage.len(), 2);
    assert!(storage.iter().all(|r| r.header("authorization").is_none()));

    // Pinned and cached: no request at all, online or offline.
    let before = kaggle.request_count();
    let second = run(&cx, &kaggle, &["build"]);
    second.success().stderr_has("using cached data (version:1)");
    run(&cx, &kaggle, &["build", "--offline", "--locked"]).success();
    assert_eq!(kaggle.request_count(), before);

    // A new version: the lock keeps version 1 until --refresh.
    kaggle.add_version("acme/wine", &[("train.csv", &csv(0..50))]);
    run(&cx, &kaggle, &["build"]).success();
    assert_eq!(lock_revision(&cx), "version:1");
    assert_eq!(kaggle.request_count(), before);
    let refreshed = run(&cx, &kaggle, &["build", "--refresh"]);
    refreshed.success().stderr_has("fetched version:2");
    assert_eq!(lock_revision(&cx), "version:2");
    assert!(cx.read("dataset.lock").contains("rows: 50"));

    assert_never_shown(&cx, &[&first, &second, &refreshed], &[KEY, &basic]);
}

#[test]
fn pinned_version_files_globs_and_a_bearer_token() {
    let kaggle = wine();
    kaggle.add_version("acme/wine", &[("train.csv", &csv(0..5))]);
    let cx = TestContext::new();
    cx.spec(&spec("uri: \"kaggle://acme/wine@1\", files: [\"test*\"]"));
    let out = run_with(&cx, &kaggle, &["build", "--json"], |c| {
        c.env("KAGGLE_API_TOKEN", TOKEN);
    });
    out.success();
    assert_eq!(lock_revision(&cx), "version:1");
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("rows: 10") && !lock.contains("train.csv"),
        "{lock}"
    );
    let api = kaggle.api.requests();
    // The URI names the version: nothing asks for the current one.
    assert!(!api.iter().any(|r| r.path.contains("/datasets/view/")));
    assert!(
        api.iter()
            .all(|r| r.header("authorization") == Some(format!("Bearer {TOKEN}").as_str()))
    );
    assert_eq!(kaggle.storage.requests().len(), 1);
    assert!(
        kaggle
            .storage
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    assert_never_shown(&cx, &[&out], &[TOKEN]);

    // A token given as the path of a file holding it.
    let cx = TestContext::new();
    cx.spec(&spec("uri: \"kaggle://acme/wine@2\""));
    cx.file("token.txt", format!("{TOKEN}\n"));
    let path = cx.path("token.txt").display().to_string();
    run_with(&cx, &kaggle, &["build"], |c| {
        c.env("KAGGLE_API_TOKEN", &path);
    })
    .success();
    assert!(cx.read("dataset.lock").contains("rows: 5"));
}

#[test]
fn missing_or_wrong_credentials_and_unknown_datasets_are_user_errors() {
    let kaggle = wine();
    let cx = TestContext::new();
    cx.spec(&spec("uri: \"kaggle://acme/wine\""));
    run_with(&cx, &kaggle, &["build"], |_| {})
        .code(2)
        .stderr_has("without credentials")
        .stderr_has("KAGGLE_USERNAME")
        .stderr_has("KAGGLE_KEY")
        .stderr_has("KAGGLE_API_TOKEN")
        .stderr_has("mldatabuild auth login kaggle");
    let wrong = run_with(&cx, &kaggle, &["build"], |c| {
        c.env("KAGGLE_USERNAME", USER)
            .env("KAGGLE_KEY", "kaggle_wrong_key_31337");
    });
    wrong
        .code(2)
        .stderr_has("refused the credentials from environment (KAGGLE_USERNAME, KAGGLE_KEY)")
        .stderr_has("mldatabuild auth login kaggle");
    assert!(!wrong.stderr.contains("kaggle_wrong_key_31337"));

    cx.spec(&spec("uri: \"kaggle://acme/nope\""));
    run(&cx, &kaggle, &["build"])
        .code(2)
        .stderr_has("Kaggle dataset `acme/nope` not found");
    cx.spec(&spec("uri: \"kaggle://acme/wine@7\""));
    run(&cx, &kaggle, &["build"])
        .code(2)
        .stderr_has("Kaggle dataset `acme/wine` (version 7) not found");
    cx.spec(&spec("uri: \"kaggle://acme/wine\", files: [\"nope/*\"]"));
    run(&cx, &kaggle, &["build"])
        .code(2)
        .stderr_has("has no matching files")
        .stderr_has("`test.csv`");

    // Offline: nothing pinned, nothing cached.
    cx.spec(&spec("uri: \"kaggle://acme/wine\""));
    let before = kaggle.request_count();
    run(&cx, &kaggle, &["build", "--offline"])
        .code(2)
        .stderr_has("--offline forbids asking Kaggle");
    cx.spec(&spec("uri: \"kaggle://acme/wine@1\""));
    run(&cx, &kaggle, &["build", "--offline"])
        .code(2)
        .stderr_has("is not in the cache");
    assert_eq!(kaggle.request_count(), before);
    assert!(!cx.exists("dataset.lock"));
}

#[test]
fn whole_version_zip_and_files_kaggle_sends_zipped() {
    let kaggle = MockKaggle::start();
    kaggle.add_version(
        "acme/bundle",
        &[("a.csv", &csv(0..7)), ("b.csv", &csv(7..10))],
    );
    kaggle.hide_listing("acme/bundle");
    let cx = TestContext::new();
    cx.spec(&spec("uri: \"kaggle://acme/bundle\""));
    run(&cx, &kaggle, &["build"]).success();
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("path: bundle.zip") && lock.contains("rows: 10"),
        "{lock}"
    );
    assert!(
        kaggle
            .storage
            .requests()
            .iter()
            .any(|r| r.path == "/zip/acme/bundle/1/bundle.zip")
    );

    // A large file arrives as a zip of itself: its size differs from the listing's, and it is
    // kept (normalize extracts it).
    kaggle.add_version("acme/big", &[("big.csv", &csv(0..300))]);
    kaggle.serve_zipped("acme/big", "big.csv");
    let cx = TestContext::new();
    cx.spec(&spec("uri: \"kaggle://acme/big\""));
    run(&cx, &kaggle, &["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 300"));
}

#[test]
fn info_shows_the_dataset_and_its_files() {
    let kaggle = MockKaggle::start();
    kaggle.add_version("acme/wine", &[("wine.csv", b"id,points\n1,90\n")]);
    let cx = TestContext::new();
    run(&cx, &kaggle, &["info", "kaggle://acme/wine"])
        .success()
        .stdout_has("kaggle://acme/wine")
        .stdout_has("wine.csv")
        .stdout_has("sample (1 row, from wine.csv)")
        .stdout_has("id=1  points=90");
    // Sample rows come from the start of the file, read through storage without credentials.
    assert!(kaggle.storage.requests().iter().all(
        |r| r.header("range") == Some("bytes=0-262143") && r.header("authorization").is_none()
    ));
    let json = run(&cx, &kaggle, &["info", "kaggle://acme/wine", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["rows"], serde_json::json!([{"id": "1", "points": "90"}]));
    assert_eq!(v["version"], 1);
    run(&cx, &kaggle, &["info", "kaggle://acme/nope"])
        .code(2)
        .stderr_has("not found");
}

/// Kaggle's current API (the default when `KAGGLE_API_ENDPOINT` is not set): JSON POSTs to
/// `datasets.DatasetApiService`, the download's redirect followed to storage without the
/// credential, an access token from `$KAGGLE_CONFIG_DIR/access_token`, and search, info and
/// errors through the same API.
#[test]
fn current_rpc_api_with_an_access_token_file() {
    let kaggle = wine();
    kaggle.page_size(1);
    kaggle.add_version("acme/wine", &[("train.csv", &csv(0..12))]);
    let cx = TestContext::new();
    let config = cx.home().join("kaggle-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("access_token"), format!("{TOKEN}\n")).unwrap();
    let rpc = |args: &[&str]| {
        run_with(&cx, &kaggle, args, |c| {
            c.env_remove("KAGGLE_API_ENDPOINT")
                .env("MLDATA_KAGGLE_RPC_ENDPOINT", kaggle.rpc_endpoint())
                .env("KAGGLE_CONFIG_DIR", &config);
        })
    };
    cx.spec(&spec("uri: \"kaggle://acme/wine@1\""));
    let first = rpc(&["build"]);
    first
        .success()
        .stderr_has("downloading 2 files")
        .stderr_has("Finished clean");
    assert_eq!(lock_revision(&cx), "version:1");
    assert!(cx.read("dataset.lock").contains("rows: 40"));

    let api = kaggle.api.requests();
    let bearer = format!("Bearer {TOKEN}");
    assert!(!api.is_empty());
    for r in &api {
        assert_eq!(r.method, "POST", "{}", r.path);
        assert!(r.path.starts_with("/api/v1/datasets.DatasetApiService/"));
        assert_eq!(r.header("authorization"), Some(bearer.as_str()));
    }
    let bodies: Vec<serde_json::Value> = api
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    // Paged listing, and one download call per file naming it.
    assert!(bodies.iter().any(|b| b["pageToken"] == "p1"), "{bodies:?}");
    assert!(bodies.iter().any(|b| b["fileName"] == "train.csv"
        && b["datasetVersionNumber"] == 1
        && b["ownerSlug"] == "acme"
        && b["datasetSlug"] == "wine"));
    // The URI names the version: nothing asked for the current one.
    assert!(!api.iter().any(|r| r.path.ends_with("/GetDataset")));
    let storage = kaggle.storage.requests();
    assert_eq!(storage.len(), 2);
    assert!(storage.iter().all(|r| r.method == "GET"));
    assert!(storage.iter().all(|r| r.header("authorization").is_none()));

    // No version in the URI: GetDataset resolves the current one (2).
    cx.spec(&spec("uri: \"kaggle://acme/wine\""));
    rpc(&["build"]).success().stderr_has("fetched version:2");
    assert_eq!(lock_revision(&cx), "version:2");
    assert!(
        kaggle
            .api
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/GetDataset"))
    );

    // Search and info go through the same API.
    let search = rpc(&["search", "wine", "--source", "kaggle"]);
    search.success().stdout_has("kaggle://acme/wine");
    rpc(&["info", "kaggle://acme/wine", "--sample", "2"])
        .success()
        .stdout_has("kaggle://acme/wine")
        .stdout_has("train.csv")
        .stdout_has("sample (2 rows, from train.csv)")
        .stdout_has("id=1  text=row 1  label=1");
    rpc(&["info", "kaggle://acme/nope"])
        .code(2)
        .stderr_has("Kaggle dataset `acme/nope` not found");
    let status = rpc(&["auth", "status"]);
    status.success().stdout_has("access_token");

    // DownloadDataset answering with the file itself (no redirect) works too.
    kaggle.direct_downloads(true);
    let storage_before = kaggle.storage.requests().len();
    cx.spec(&spec("uri: \"kaggle://acme/wine@2\""));
    rpc(&["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 12"));
    assert_eq!(kaggle.storage.requests().len(), storage_before);
    kaggle.direct_downloads(false);

    // A wrong token names where it came from, never its value.
    std::fs::write(config.join("access_token"), "KGAT_wrong_token_4242\n").unwrap();
    cx.spec(&spec("uri: \"kaggle://acme/wine@1\", files: [\"test*\"]"));
    let wrong = rpc(&["build", "--no-cache"]);
    wrong
        .code(2)
        .stderr_has("refused the credentials from")
        .stderr_has("access_token");
    assert!(!wrong.stderr.contains("KGAT_wrong_token_4242"));
    std::fs::remove_file(config.join("access_token")).unwrap();
    assert_never_shown(&cx, &[&first, &search, &status, &wrong], &[TOKEN, &bearer]);
}
