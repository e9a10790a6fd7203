//! The committed JSON Schemas must match what the code generates.

#[test]
fn committed_schemas_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, expected) in mldatabuild::schema::files() {
        let committed = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        assert!(
            committed == expected,
            "`{path}` is stale: run `cargo run -- schema --write` and commit the result"
        );
    }
}

#[test]
fn schema_command_prints_and_checks() {
    let cx = crate::context::TestContext::new();
    let out = cx.run(&["schema"]);
    out.success()
        .stdout_has("\"title\": \"mldatabuild dataset spec\"");
    cx.run(&["schema", "--check"])
        .code(1)
        .stderr_has("run `mldatabuild schema --write`");
    cx.run(&["schema", "--write"]).success();
    cx.run(&["schema", "--check"]).success();
    let lock = cx
        .run(&["schema", "--kind", "lockfile"])
        .success()
        .stdout
        .clone();
    assert!(lock.contains("\"title\": \"mldatabuild lockfile\""));
}
