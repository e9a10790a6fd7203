//! A reader that goes away (`mldatabuild … | head -1`) ends the command quietly: SIGPIPE's
//! default action, no panic, no "Broken pipe" message.
//!
//! Most tests hand the binary a pipe whose read end is closed *before* it starts, so its first
//! write fails whatever its output size or timing: no sleeps, nothing racy.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use crate::context::TestContext;
use crate::errors::SPEC;

/// The write end of a pipe nobody reads any more.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer
}

/// Run with stdout going to a closed pipe; returns the exit status and stderr.
fn stdout_closed(cx: &TestContext, args: &[&str]) -> (ExitStatus, String) {
    let out = cx
        .command(args)
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("run mldatabuild");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run with stderr going to a closed pipe; returns the exit status and stdout.
fn stderr_closed(cx: &TestContext, args: &[&str]) -> (ExitStatus, String) {
    let out = cx
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(closed_pipe())
        .output()
        .expect("run mldatabuild");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[track_caller]
fn ended_by_sigpipe(status: ExitStatus, other: &str) {
    assert_eq!(
        status.signal(),
        Some(libc::SIGPIPE),
        "expected the end by SIGPIPE, got {status}\n--- other stream\n{other}"
    );
    assert!(!other.contains("panicked"), "a panic:\n{other}");
    assert!(!other.contains("Broken pipe"), "an error spew:\n{other}");
}

fn built() -> TestContext {
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    cx.run(&["build"]).success();
    cx
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    let cx = TestContext::new();
    for shell in ["bash", "zsh", "fish"] {
        let (status, stderr) = stdout_closed(&cx, &["completions", shell]);
        ended_by_sigpipe(status, &stderr);
        assert_eq!(stderr, "", "{shell}");
    }
}

#[test]
fn completions_piped_into_head_end_quietly() {
    // What a user types: `mldatabuild completions bash | head -1`. The reader takes one line
    // and goes away; the script is larger than a pipe's buffer, but whether the binary has
    // finished writing by then is up to the scheduler, so either end is fine, a panic is not.
    let cx = TestContext::new();
    let mut child = cx
        .command(&["completions", "bash"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("_mldatabuild"), "{first}");
    // The reader is dropped here, closing the read end.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success() || status.signal() == Some(libc::SIGPIPE),
        "{status}\n{stderr}"
    );
    assert_eq!(stderr, "");
}

#[test]
fn data_commands_into_a_closed_pipe_end_quietly() {
    let cx = built();
    for args in [
        &["dag"][..],
        &["dag", "--format", "mermaid"],
        &["schema"],
        &["status"],
        &["status", "--json"],
        &["why", "splits"],
        &["verify"],
        &["diff", "dataset.lock", "dataset.lock"],
        &["ls", "--json"],
    ] {
        let (status, stderr) = stdout_closed(&cx, args);
        ended_by_sigpipe(status, &stderr);
    }
}

#[test]
fn a_json_build_whose_reader_went_away_ends_quietly() {
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    let (status, stderr) = stdout_closed(&cx, &["build", "--json"]);
    ended_by_sigpipe(status, &stderr);
    // Ended at its first event: nothing half-recorded, and the next build does the work.
    assert!(!cx.exists("dataset.lock"));
    cx.run(&["build"]).success();
}

#[test]
fn a_closed_stderr_ends_quietly_too() {
    // The human report goes to stderr; `eprintln!` would panic on it.
    let cx = TestContext::new();
    cx.csv("data.csv", 20).spec(SPEC);
    let (status, stdout) = stderr_closed(&cx, &["build"]);
    ended_by_sigpipe(status, &stdout);
    let (status, stdout) = stderr_closed(&cx, &["build", "--register-checksums"]);
    ended_by_sigpipe(status, &stdout);
}
