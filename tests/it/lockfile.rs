//! The lockfile: stable text, round trip, versioning.

use mldatabuild::lockfile::Lock;

use crate::context::TestContext;
use crate::errors::SPEC;

#[test]
fn lock_text_is_stable() {
    let cx = TestContext::new();
    cx.csv("data.csv", 25).spec(SPEC);
    cx.run(&["build"]).success();
    let lock = crate::build::strip_built(&cx.read("dataset.lock"));
    insta::assert_snapshot!(lock);
}

#[test]
fn lock_round_trips() {
    let cx = TestContext::new();
    cx.csv("data.csv", 25).spec(SPEC);
    cx.run(&["build"]).success();
    let text = cx.read("dataset.lock");
    let lock = Lock::parse(&text, "dataset.lock").unwrap();
    assert_eq!(lock.to_yaml(), text);
}

#[test]
fn newer_lock_version_is_refused_with_a_hint() {
    let cx = TestContext::new();
    cx.csv("data.csv", 25).spec(SPEC);
    cx.run(&["build"]).success();
    let text = cx
        .read("dataset.lock")
        .replacen("version: 1\n", "version: 2\n", 1);
    cx.file("dataset.lock", text);
    cx.run(&["build"])
        .code(2)
        .stderr_has("has lockfile version 2; this mldatabuild reads version 1")
        .stderr_has("upgrade mldatabuild");
}

#[test]
fn damaged_lock_is_an_error_not_a_panic() {
    let cx = TestContext::new();
    cx.csv("data.csv", 25).spec(SPEC);
    cx.file("dataset.lock", "version: 1\nstages: [oops\n");
    cx.run(&["build"])
        .code(2)
        .stderr_has("is not a valid lockfile")
        .stderr_has("delete it and run `mldatabuild build`");
}
