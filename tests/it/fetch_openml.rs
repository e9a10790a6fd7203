//! `openml://` sources against the loopback mock of OpenML's JSON API (tests/it/mock_openml.rs):
//! Parquet preferred, ARFF verified by MD5 and converted to CSV, pinning and the cache, both
//! error shapes, the API key (sent as `api_key`, never to another origin, never printed).

use std::process::Command;
use std::sync::Arc;

use crate::context::{Output, TestContext};
use crate::mock_openml::{MockOpenMl, md5_hex};

const KEY: &str = "openml_planted_key_0d9f4b";

const WEATHER: &str = "% The weather data, with the hard parts of ARFF\n\
@RELATION weather\n\
\n\
@ATTRIBUTE outlook {sunny, overcast, 'light rain'}\n\
@ATTRIBUTE temperature REAL\n\
@ATTRIBUTE note STRING\n\
@ATTRIBUTE play {yes,no}\n\
\n\
@DATA\n\
sunny,85,'hot, dry',no\n\
overcast,?,\"said \\\"ok\\\"\",yes   % an inline comment\n\
'light rain',70.5,?,yes\n\
% a comment row\n\
sunny,-1e2,'',no\n";

const WEATHER_CSV: &str = "outlook,temperature,note,play\n\
sunny,85,\"hot, dry\",no\n\
overcast,,\"said \"\"ok\"\"\",yes\n\
light rain,70.5,,yes\n\
sunny,-1e2,\"\",no\n";

const WEATHER_FEATURES: &[&str] = &["outlook", "temperature", "note", "play"];

fn spec(uri: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: \"{uri}\"}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    )
}

fn parquet(rows: u32) -> Vec<u8> {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    let ids = Int64Array::from_iter_values(0..i64::from(rows));
    let text = StringArray::from_iter_values((0..rows).map(|i| format!("row {i}")));
    let batch = arrow::record_batch::RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as ArrayRef),
        ("text", Arc::new(text) as ArrayRef),
    ])
    .unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

/// `mldatabuild` with the mock as OpenML, fast retries, and no API key from the machine.
fn run_with(
    cx: &TestContext,
    openml: &MockOpenMl,
    args: &[&str],
    f: impl FnOnce(&mut Command),
) -> Output {
    let mut c = cx.command(args);
    c.env("OPENML_ENDPOINT", openml.endpoint())
        .env("XDG_CONFIG_HOME", cx.home().join("xdg"))
        .env("MLDATA_NO_KEYRING", "1")
        .env("MLDATA_HTTP_BACKOFF_MS", "1")
        .env("MLDATA_HTTP_RETRIES", "2")
        .env_remove("OPENML_API_KEY")
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

fn run(cx: &TestContext, openml: &MockOpenMl, args: &[&str]) -> Output {
    run_with(cx, openml, args, |_| {})
}

fn with_key(cx: &TestContext, openml: &MockOpenMl, args: &[&str]) -> Output {
    run_with(cx, openml, args, |c| {
        c.env("OPENML_API_KEY", KEY);
    })
}

fn lock_revision(cx: &TestContext) -> String {
    cx.read("dataset.lock")
        .lines()
        .find_map(|l| l.trim().strip_prefix("revision: "))
        .unwrap_or_default()
        .to_owned()
}

/// The file named `name` in the download cache's snapshots.
fn cached_file(cx: &TestContext, name: &str) -> Option<String> {
    walkdir::WalkDir::new(cx.home().join("cache/snapshots"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == name)
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
}

fn complete_snapshots(cx: &TestContext) -> usize {
    walkdir::WalkDir::new(cx.home().join("cache/snapshots"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == ".mldata-snapshot.json")
        .count()
}

#[test]
fn parquet_is_preferred_pinned_cached_and_refreshed() {
    let openml = MockOpenMl::start();
    openml.add_arff(61, "iris", WEATHER.as_bytes(), WEATHER_FEATURES);
    openml.set_parquet(61, &parquet(6));
    let cx = TestContext::new();
    cx.spec(&spec("openml://61"));
    run(&cx, &openml, &["build"])
        .success()
        .stderr_has("Fetching source raw: downloading 1 file")
        .stderr_has("Finished clean");
    let revision = format!("v1-md5:{}", md5_hex(WEATHER.as_bytes()));
    assert_eq!(lock_revision(&cx), revision);
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("path: iris.parquet") && lock.contains("rows: 6"),
        "{lock}"
    );
    let api: Vec<String> = openml
        .api
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        api,
        ["/api/v1/json/data/61", "/api/v1/json/data/features/61"],
        "description and features; the ARFF is not needed"
    );
    assert_eq!(
        openml.files.requests()[0].path,
        "/datasets/0000/0061/dataset_61.pq"
    );

    // Pinned and cached: no request, online or offline.
    let before = openml.request_count();
    run(&cx, &openml, &["build"])
        .success()
        .stderr_has("using cached data (v1-md5:");
    run(&cx, &openml, &["build", "--offline", "--locked"]).success();
    assert_eq!(openml.request_count(), before);

    // OpenML re-processes the dataset: the lock keeps the old pin until --refresh.
    let newer = WEATHER.replace("sunny,-1e2,'',no\n", "");
    openml.add_arff(61, "iris", newer.as_bytes(), WEATHER_FEATURES);
    openml.set_parquet(61, &parquet(9));
    run(&cx, &openml, &["build"]).success();
    assert_eq!(lock_revision(&cx), revision);
    assert_eq!(openml.request_count(), before);
    run(&cx, &openml, &["build", "--refresh"]).success();
    assert_eq!(
        lock_revision(&cx),
        format!("v2-md5:{}", md5_hex(newer.as_bytes()))
    );
    assert!(cx.read("dataset.lock").contains("rows: 9"));
}

#[test]
fn arff_only_datasets_are_verified_and_converted_to_csv() {
    let openml = MockOpenMl::start();
    openml.add_arff(41, "weather", WEATHER.as_bytes(), WEATHER_FEATURES);
    let cx = TestContext::new();
    cx.spec(&spec("openml://41"));
    run(&cx, &openml, &["build"]).success();
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("path: weather.csv") && lock.contains("rows: 4"),
        "{lock}"
    );
    assert_eq!(cached_file(&cx, "weather.csv").unwrap(), WEATHER_CSV);
    assert!(
        openml
            .api
            .requests()
            .iter()
            .any(|r| r.path == "/data/v1/download/4101/weather.arff")
    );

    // Sparse ARFF: omitted values are 0 (the first value of a nominal attribute).
    let sparse = "@relation sparse\n@attribute a numeric\n@attribute b numeric\n\
                  @attribute c {x,y}\n@data\n{0 1, 2 y}\n{1 5}\n{}\n";
    openml.add_arff(42, "sparse data", sparse.as_bytes(), &["a", "b", "c"]);
    // A Parquet URL that serves something else: a warning, then the ARFF.
    openml.set_parquet(42, b"<html>not parquet</html>");
    let cx = TestContext::new();
    cx.spec(&spec("openml://42"));
    run(&cx, &openml, &["build"])
        .success()
        .stderr_has("is not a Parquet file; using the ARFF file instead");
    assert_eq!(
        cached_file(&cx, "sparse_data.csv").unwrap(),
        "a,b,c\n1,0,y\n0,5,x\n0,0,x\n"
    );
    assert!(cx.read("dataset.lock").contains("rows: 3"));

    // A malformed ARFF: a data error naming the line.
    openml.add_arff(
        43,
        "bad",
        b"@relation r\n@attribute a numeric\n@data\n1\nx\n",
        &["a"],
    );
    let cx = TestContext::new();
    cx.spec(&spec("openml://43"));
    run(&cx, &openml, &["build"])
        .code(2)
        .stderr_has("`bad.arff` line 5: `x` is not a number");
    assert_eq!(complete_snapshots(&cx), 0);
}

#[test]
fn an_md5_mismatch_is_an_error_and_nothing_is_cached() {
    let openml = MockOpenMl::start();
    openml.add_arff(41, "weather", WEATHER.as_bytes(), WEATHER_FEATURES);
    openml.set_md5(41, Some(&"0".repeat(32)));
    let cx = TestContext::new();
    cx.spec(&spec("openml://41"));
    run(&cx, &openml, &["build"])
        .code(1)
        .stderr_has("`weather.arff` of OpenML dataset 41 does not match the MD5 OpenML lists")
        .stderr_has("it was not cached");
    assert!(!cx.exists("dataset.lock"));
    assert_eq!(complete_snapshots(&cx), 0);
    let partial = walkdir::WalkDir::new(cx.home().join("cache/partial"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    assert_eq!(partial, 0, "the bad download was removed");
    // Fixed on the server: the next build downloads and verifies it.
    openml.set_md5(41, None);
    run(&cx, &openml, &["build"]).success();
    assert_eq!(complete_snapshots(&cx), 1);
}

#[test]
fn unknown_datasets_offline_builds_and_deactivated_datasets() {
    let openml = MockOpenMl::start();
    openml.add_arff(41, "weather", WEATHER.as_bytes(), WEATHER_FEATURES);
    let cx = TestContext::new();
    // Both error shapes: the PHP server's 412 + code 111, and problem+json 404.
    cx.spec(&spec("openml://999"));
    for problem_json in [false, true] {
        openml.problem_json(problem_json);
        run(&cx, &openml, &["build"])
            .code(2)
            .stderr_has("OpenML dataset 999 not found")
            .stderr_has("https://www.openml.org/d/999");
    }
    openml.problem_json(false);
    cx.spec(&spec("openml://41"));
    let before = openml.request_count();
    run(&cx, &openml, &["build", "--offline"])
        .code(2)
        .stderr_has("--offline forbids asking OpenML");
    assert_eq!(openml.request_count(), before);
    assert!(!cx.exists("dataset.lock"));

    openml.set_status(41, "deactivated");
    run(&cx, &openml, &["build"])
        .success()
        .stderr_has("OpenML dataset 41 (weather) has status `deactivated`");
}

#[test]
fn private_datasets_need_the_api_key_which_never_leaks() {
    let openml = MockOpenMl::start();
    openml.set_api_key(KEY);
    openml.add_arff(41, "weather", WEATHER.as_bytes(), WEATHER_FEATURES);
    openml.set_private(41);
    openml.add_arff(61, "iris", WEATHER.as_bytes(), WEATHER_FEATURES);
    openml.set_parquet(61, &parquet(6));
    openml.set_private(61);
    let cx = TestContext::new();
    cx.spec(&spec("openml://41"));
    for problem_json in [false, true] {
        openml.problem_json(problem_json);
        run(&cx, &openml, &["build"])
            .code(2)
            .stderr_has("OpenML dataset 41: no access")
            .stderr_has("set OPENML_API_KEY")
            .stderr_has("mldatabuild auth login openml");
    }
    openml.problem_json(false);
    let wrong = run_with(&cx, &openml, &["build"], |c| {
        c.env("OPENML_API_KEY", "openml_wrong_key_4242");
    });
    wrong
        .code(2)
        .stderr_has("the API key from environment (OPENML_API_KEY) is invalid");
    assert!(!wrong.stderr.contains("openml_wrong_key_4242"));

    // A failing download prints its URL with the key masked.
    openml.fail_downloads(Some(503));
    let failed = with_key(&cx, &openml, &["build"]);
    failed.code(1).stderr_has("api_key=***");
    openml.fail_downloads(None);

    let arff = with_key(&cx, &openml, &["build", "-v"]);
    arff.success();
    assert!(cx.read("dataset.lock").contains("rows: 4"));
    cx.spec(&spec("openml://61"));
    let pq = with_key(&cx, &openml, &["build", "--json"]);
    pq.success();
    assert!(cx.read("dataset.lock").contains("rows: 6"));

    // The key went to the API (and the ARFF download on its origin) as `api_key`; the Parquet
    // server, another origin, never saw it; nothing printed or written holds it.
    let api = openml.api.requests();
    assert!(
        api.iter()
            .any(|r| r.path_only() == "/data/v1/download/4101/weather.arff"
                && r.query_param("api_key").as_deref() == Some(KEY))
    );
    assert!(
        api.iter()
            .filter(|r| r.path.contains("/data/61"))
            .all(|r| r.query_param("api_key").as_deref() == Some(KEY))
    );
    assert!(!openml.files.requests().is_empty());
    assert!(
        openml
            .files
            .requests()
            .iter()
            .all(|r| !r.path.contains(KEY) && r.headers.iter().all(|(_, v)| !v.contains(KEY)))
    );
    for o in [&failed, &arff, &pq] {
        assert!(!o.stdout.contains(KEY) && !o.stderr.contains(KEY), "{o:?}");
    }
    for root in [cx.root(), cx.home()] {
        for e in walkdir::WalkDir::new(root).into_iter().flatten() {
            if e.file_type().is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(KEY),
                    "key in {}",
                    e.path().display()
                );
            }
        }
    }
}

#[test]
fn info_shows_description_and_features() {
    let openml = MockOpenMl::start();
    openml.add_arff(61, "weather", WEATHER.as_bytes(), WEATHER_FEATURES);
    let cx = TestContext::new();
    run_with(
        &cx,
        &openml,
        &["info", "openml://61", "--sample", "2"],
        |_| {},
    )
    .success()
    .stdout_has("openml://61  weather")
    .stdout_has("outlook")
    .stdout_has("sample (2 rows, from the ARFF file)")
    .stdout_has("outlook=sunny  temperature=85  note=hot, dry  play=no")
    .stdout_has("note=said \"ok\"");
    let out = run_with(&cx, &openml, &["info", "openml://61", "--json"], |_| {});
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["name"], "weather");
    // Five rows asked, four in the file.
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(4), "{v}");
    assert_eq!(v["rows"][2]["outlook"], "light rain");
    let none = run_with(
        &cx,
        &openml,
        &["info", "openml://61", "--sample", "0"],
        |_| {},
    );
    none.success();
    assert!(!none.stdout.contains("sample"), "{}", none.stdout);
    run_with(&cx, &openml, &["info", "openml://999"], |_| {})
        .code(2)
        .stderr_has("not found");
}
