//! Every file in tests/fixtures/invalid is a spec error: `build` exits 2, names the file and
//! line, writes nothing; the rendered message is a snapshot.

use crate::context::TestContext;

#[test]
fn invalid_specs() {
    insta::glob!("../fixtures/invalid", "*.yaml", |path| {
        let cx = TestContext::new();
        cx.file("dataset.yaml", std::fs::read(path).unwrap())
            .csv("data.csv", 5);
        let out = cx.run(&["build"]);
        out.code(2);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
        if !out.stderr.contains("is empty") {
            assert!(
                out.stderr.contains("dataset.yaml:"),
                "no file:line in\n{}",
                out.stderr
            );
        }
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(
            !cx.exists("dataset.lock"),
            "a bad spec must not write a lockfile"
        );
        assert!(!cx.exists("out"), "a bad spec must not write outputs");
        insta::assert_snapshot!(out.stderr);
    });
}

#[test]
fn oversized_spec_is_refused() {
    let cx = TestContext::new();
    let mut big = String::from("name: demo\nversion: 1.0.0\ndescription: |\n");
    while big.len() < 1_100_000 {
        big.push_str("  lorem ipsum dolor sit amet, consectetur adipiscing elit\n");
    }
    cx.spec(&big);
    cx.run(&["build"])
        .code(2)
        .stderr_has("a spec may be at most 1048576 bytes");
}

#[test]
fn missing_spec_has_a_hint() {
    let cx = TestContext::new();
    cx.run(&["build"])
        .code(2)
        .stderr_has("cannot read `dataset.yaml`: no such file")
        .stderr_has("mldatabuild init");
}

#[test]
fn non_utf8_spec() {
    let cx = TestContext::new();
    cx.file("dataset.yaml", b"name: d\xff\xfe\n");
    cx.run(&["build"]).code(2).stderr_has("not valid UTF-8");
}

#[test]
fn bad_spec_leaves_existing_lock_and_outputs_untouched() {
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    cx.run(&["build"]).success();
    let lock = cx.read_bytes("dataset.lock");
    let part = cx.read_bytes("out/demo/clean/part-0.parquet");
    cx.spec(&SPEC.replace("seed: 1", "seed: [1"));
    cx.run(&["build"]).code(2).stderr_has("dataset.yaml:");
    assert_eq!(cx.read_bytes("dataset.lock"), lock);
    assert_eq!(cx.read_bytes("out/demo/clean/part-0.parquet"), part);
}

#[test]
fn missing_source_file_names_it() {
    let cx = TestContext::new();
    cx.spec(SPEC);
    cx.run(&["build"])
        .code(2)
        .stderr_has("source `data.csv`: no such file or directory");
    assert!(!cx.exists("dataset.lock"));
}

#[test]
fn remote_source_errors_are_clear() {
    let cx = TestContext::new();
    cx.spec(&SPEC.replace("uri: data.csv", "uri: hf://acme/reviews/extra"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("a Hugging Face dataset is `hf://owner/name`")
        .stderr_has("accepted forms: hf://owner/name[@revision]");
    cx.spec(&SPEC.replace("uri: data.csv", "uri: s3://bucket/key"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("unknown scheme `s3://`");
    // Nothing listens on the endpoint: a clear error, no lock, nothing cached as complete.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cx.spec(&SPEC.replace("uri: data.csv", "uri: hf://acme/reviews"));
    let out = cx
        .command(&["build"])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("MLDATA_HTTP_RETRIES", "2")
        .env("MLDATA_HTTP_BACKOFF_MS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert!(stderr.contains("(after 2 tries)"), "{stderr}");
    assert!(!cx.exists("dataset.lock"));
}

#[test]
fn ragged_csv_fails_the_stage_with_file_and_line() {
    let cx = TestContext::new();
    cx.file("data.csv", "id,text,label\n1,a,0\n2,b\n3,c,1\n")
        .spec(SPEC);
    let out = cx.run(&["build"]);
    out.code(1).stderr_has("data.csv").stderr_has("Failed");
    assert!(!cx.exists("out/demo/clean/part-0.parquet"));
}

#[test]
fn unknown_target_suggests_a_stage() {
    let cx = TestContext::new();
    cx.csv("data.csv", 5).spec(SPEC);
    cx.run(&["build", "splts"])
        .code(2)
        .stderr_has("no stage named `splts`")
        .stderr_has("did you mean `splits`?");
}

pub(crate) const SPEC: &str = "name: demo
version: 1.0.0
sources:
  raw: {uri: data.csv}
stages:
  clean: {kind: normalize, input: raw}
  splits:
    kind: split
    input: clean
    ratios: {train: 0.6, validation: 0.2, test: 0.2}
    seed: 1
";
