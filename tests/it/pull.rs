//! `pull`: a dataset into a folder, through the download cache, against the loopback mock Hub
//! (tests/it/mock.rs): the same events and bars as `build`, `--config`/`--split`/`--no-cache`,
//! read-only hard links to the cache (copies across file systems), a damaged cache detected,
//! and `--force` replacing a folder whole or not at all.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use mldatabuild::report::Event;

use crate::context::TestContext;
use crate::fetch::{csv, hub, multi_hub, run};
use crate::mock::{Behavior, MockHub, MockServer, Response, sha256_hex};

/// A size as the reports print it (`134 B`, `1.2 KB`, `150.0 KB`).
fn shown(bytes: u64) -> String {
    match bytes {
        0..1000 => format!("{bytes} B"),
        1000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// The download cache's copy of these bytes.
fn blob(cx: &TestContext, bytes: &[u8]) -> PathBuf {
    let sha = sha256_hex(bytes);
    cx.home()
        .join("cache/blobs")
        .join(&sha[..2])
        .join(&sha[2..])
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (a, b) = (std::fs::metadata(a).unwrap(), std::fs::metadata(b).unwrap());
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn read_only(p: &Path) -> bool {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o222 == 0
}

fn pulled(events: &[Event]) -> (usize, u64, usize) {
    events
        .iter()
        .find_map(|e| match e {
            Event::Pulled {
                files,
                bytes,
                linked,
                ..
            } => Some((*files, *bytes, *linked)),
            _ => None,
        })
        .expect("a pulled event")
}

#[test]
fn pull_links_read_only_files_from_the_cache_and_reports_like_build() {
    let (hub, commit) = hub();
    let (train, test) = (csv(0..40), csv(40..50));
    let total = (train.len() + test.len()) as u64;
    let cx = TestContext::new();
    // Not a terminal: the human report is lines, as `build`'s.
    run(&cx, &hub, &["pull", "hf://acme/tiny"])
        .success()
        .stderr_has(&format!(
            "Fetching source tiny: downloading 2 files, {}",
            shown(total)
        ))
        .stderr_has(&format!("Fetching source tiny: fetched {}", &commit[..12]))
        .stderr_has(&format!(
            "Pulled hf://acme/tiny (2 files, {}) into [ROOT]/mldata/tiny",
            shown(total)
        ));
    for (rel, bytes) in [("data/train.csv", &train), ("data/test.csv", &test)] {
        let p = cx.path(&format!("mldata/tiny/{rel}"));
        assert_eq!(&std::fs::read(&p).unwrap(), bytes, "{rel}");
        assert!(same_file(&p, &blob(&cx, bytes)), "{rel} is not a link");
        assert!(std::fs::metadata(&p).unwrap().nlink() > 1);
        assert!(read_only(&p), "{rel} is writable");
    }
    run(&cx, &hub, &["pull", "hf://acme/tiny"])
        .code(2)
        .stderr_has("already exists")
        .stderr_has("--force");

    // --json: the events `build` prints, progress included (the CDN holds the LFS file's body
    // back, so the download is under way at a report), then `pulled`.
    hub.stall_cdn(std::time::Duration::from_secs(1));
    let cx = TestContext::new();
    let out = run(&cx, &hub, &["pull", "hf://acme/tiny", "--json"]);
    hub.stall_cdn(std::time::Duration::ZERO);
    out.success();
    let events = out.events();
    let messages: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::SourceFetch { name, message } if name == "tiny" => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages.first().copied(),
        Some(format!("downloading 2 files, {}", shown(total)).as_str()),
        "{}",
        out.stdout
    );
    assert!(messages.iter().any(|m| m.starts_with("fetched ")));
    assert!(
        events.iter().any(|e| matches!(e,
            Event::SourceProgress { name, total: t, files_total: 2, .. } if name == "tiny" && *t == total)),
        "{}",
        out.stdout
    );
    assert_eq!(pulled(&events), (2, total, 2));
    assert!(cx.exists("mldata/tiny/data/test.csv"));

    // From the cache: nothing downloaded, the same links.
    let cdn = hub.cdn.requests().len();
    let out = run(
        &cx,
        &hub,
        &["pull", "hf://acme/tiny", "-o", "again", "--json"],
    );
    out.success().stdout_has("using cached data");
    assert_eq!(hub.cdn.requests().len(), cdn);
    assert_eq!(pulled(&out.events()), (2, total, 2));
    assert!(same_file(
        &cx.path("again/data/test.csv"),
        &cx.path("mldata/tiny/data/test.csv")
    ));
}

#[test]
fn pull_shows_the_size_the_server_sent() {
    let body = csv(0..5000);
    let size = body.len() as u64;
    let server = {
        let body = body.clone();
        MockServer::start(move |r| match r.path_only() {
            // The headers (with `Content-Length`) at once, the body after a pause: the size is
            // known before any byte is.
            "/files/big.csv" => Response::bytes(200, body.clone())
                .with_behavior(Behavior::Stall(std::time::Duration::from_secs(1))),
            _ => Response::new(404),
        })
    };
    let url = format!("{}/files/big.csv", server.url());
    let cx = TestContext::new();
    let hub = MockHub::start();
    let out = run(&cx, &hub, &["pull", &url, "--json"]);
    out.success();
    let events = out.events();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::SourceFetch { name, message } if name == "big"
                && *message == format!("downloading 1 file, {}", shown(size)))),
        "{}",
        out.stdout
    );
    // Every progress report knows the total, the first ones before the body came.
    let progress: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::SourceProgress { done, total, .. } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty(), "{}", out.stdout);
    assert!(progress.iter().all(|(_, t)| *t == size), "{progress:?}");
    assert_eq!(pulled(&events), (1, size, 1));
    assert_eq!(cx.read_bytes("mldata/big/big.csv"), body);

    let cx = TestContext::new();
    run(&cx, &hub, &["pull", &url])
        .success()
        .stderr_has(&format!(
            "Fetching source big: downloading 1 file, {}",
            shown(size)
        ))
        .stderr_has(&format!("Pulled {url} (1 file, {})", shown(size)));
    run(&cx, &hub, &["pull", &url, "--split", "train", "-o", "x"])
        .code(2)
        .stderr_has("`--config` and `--split` select files of an `hf://` dataset")
        .stderr_has("--files");
}

#[test]
fn pull_selects_configs_and_splits_and_no_cache_fetches_again() {
    let hub = multi_hub();
    let files = |cx: &TestContext, dir: &str| -> Vec<String> {
        let root = cx.path(dir);
        let mut v: Vec<String> = walk(&root)
            .into_iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        v.sort();
        v
    };
    let cx = TestContext::new();
    run(&cx, &hub, &["pull", "hf://acme/multi", "--split", "test"]).success();
    assert_eq!(files(&cx, "mldata/multi"), ["data/test-00000-of-00001.csv"]);
    run(
        &cx,
        &hub,
        &[
            "pull",
            "hf://acme/multi",
            "--config",
            "extra",
            "-o",
            "extra",
        ],
    )
    .success();
    assert_eq!(files(&cx, "extra"), ["extra/x.csv"]);
    run(
        &cx,
        &hub,
        &[
            "pull",
            "hf://acme/multi",
            "--config",
            "default",
            "--split",
            "train",
            "-o",
            "tr",
        ],
    )
    .success();
    assert_eq!(files(&cx, "tr"), ["data/train-00000-of-00001.csv"]);
    run(
        &cx,
        &hub,
        &["pull", "hf://acme/multi", "--config", "nope", "-o", "n"],
    )
    .code(2)
    .stderr_has("has no config `nope`")
    .stderr_has("its configs are: default, extra");
    run(
        &cx,
        &hub,
        &["pull", "hf://acme/multi", "--split", "dev", "-o", "n"],
    )
    .code(2)
    .stderr_has("has no split `dev`");
    assert!(!cx.exists("n"));

    // The cache has the split: used as it is, unless --no-cache.
    let trees = || {
        hub.hub
            .requests()
            .iter()
            .filter(|r| r.path.contains("/tree/"))
            .count()
    };
    let before = trees();
    run(
        &cx,
        &hub,
        &["pull", "hf://acme/multi", "--split", "test", "-o", "c"],
    )
    .success()
    .stderr_has("using cached data");
    assert_eq!(trees(), before);
    run(
        &cx,
        &hub,
        &[
            "pull",
            "hf://acme/multi",
            "--split",
            "test",
            "-o",
            "c",
            "--force",
            "--no-cache",
        ],
    )
    .success()
    .stderr_has("downloading 1 file");
    assert!(trees() > before);
    assert_eq!(cx.read_bytes("c/data/test-00000-of-00001.csv"), csv(30..40));
}

#[test]
fn a_cached_file_written_through_a_pulled_link_is_detected() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    run(&cx, &hub, &["pull", "hf://acme/tiny"]).success();
    // The user makes a pulled file writable and edits it: the cache's copy is the same file.
    let p = cx.path("mldata/tiny/data/test.csv");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&p, b"id,text,label\n1,edited,0\n").unwrap();
    let out = run(&cx, &hub, &["pull", "hf://acme/tiny", "-o", "second"]);
    out.success().stderr_has("the cached copy was damaged");
    assert_eq!(cx.read_bytes("second/data/test.csv"), csv(40..50));
    assert_eq!(cx.read_bytes("second/data/train.csv"), csv(0..40));
    assert!(read_only(&cx.path("second/data/test.csv")));
    // A build from the same cache finds it whole again.
    cx.spec(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: \"hf://acme/tiny\"}\nstages:\n  clean: {kind: normalize, input: raw}\n",
    );
    run(&cx, &hub, &["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 50"));
}

#[test]
fn force_replaces_a_folder_whole_or_not_at_all() {
    let (hub, _) = hub();
    let cx = TestContext::new();
    cx.file("out/mine.txt", "keep me");
    // A fetch that fails leaves the folder as it was.
    run(
        &cx,
        &hub,
        &["pull", "hf://acme/nope", "-o", "out", "--force"],
    )
    .code(2)
    .stderr_has("not found");
    assert_eq!(cx.read("out/mine.txt"), "keep me");
    run(
        &cx,
        &hub,
        &["pull", "hf://acme/tiny", "-o", "out", "--force"],
    )
    .success();
    assert!(!cx.exists("out/mine.txt"));
    assert_eq!(cx.read_bytes("out/data/train.csv"), csv(0..40));
    // Replacing a pulled folder unlinks its files, never the cache's copies.
    run(
        &cx,
        &hub,
        &[
            "pull",
            "hf://acme/tiny",
            "-o",
            "out",
            "--force",
            "--files",
            "data/test*",
        ],
    )
    .success()
    .stderr_has("(1 file, ");
    assert!(cx.exists("out/data/test.csv") && !cx.exists("out/data/train.csv"));
    assert_eq!(std::fs::read(blob(&cx, &csv(0..40))).unwrap(), csv(0..40));
    // Nothing left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(cx.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mldatabuild-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    cx.file("afile", "x");
    run(
        &cx,
        &hub,
        &["pull", "hf://acme/tiny", "-o", "afile", "--force"],
    )
    .code(2)
    .stderr_has("is not a folder");
}

#[test]
fn pull_copies_when_the_cache_is_on_another_file_system() {
    // /dev/shm is a tmpfs on Linux: another file system than the temporary folders, if they
    // are on a disk. Elsewhere there is nothing to test.
    let shm = Path::new("/dev/shm");
    let cx = TestContext::new();
    let other = shm.is_dir()
        && std::fs::metadata(shm).unwrap().dev() != std::fs::metadata(cx.root()).unwrap().dev();
    let Some(dir) = other.then(|| tempfile::tempdir_in(shm).ok()).flatten() else {
        eprintln!("no second file system to pull into: skipped");
        return;
    };
    let (hub, _) = hub();
    let dest = dir.path().join("tiny");
    let out = run(
        &cx,
        &hub,
        &["pull", "hf://acme/tiny", "-o", dest.to_str().unwrap()],
    );
    out.success()
        .stderr_has("2 files copied, the download cache being on another file system");
    let p = dest.join("data/test.csv");
    assert_eq!(std::fs::read(&p).unwrap(), csv(40..50));
    assert_eq!(std::fs::metadata(&p).unwrap().nlink(), 1);
    assert!(read_only(&p));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
