//! Hostile input: files the tool did not write are untrusted. Each case ends in a clear error
//! (or a correct result) with bounded memory, never a panic, and writes no lock or output.

use crate::context::TestContext;
use crate::errors::SPEC;

/// Nothing was recorded or published.
#[track_caller]
fn nothing_written(cx: &TestContext) {
    assert!(!cx.exists("dataset.lock"), "no lock may be written");
    assert!(!cx.exists("out"), "no output may be published");
}

#[test]
fn spec_from_a_device_is_refused_before_reading() {
    let cx = TestContext::new();
    let out = cx.run(&["-f", "/dev/zero", "build"]);
    out.code(2)
        .stderr_has("cannot read `/dev/zero`: it is a device")
        .stderr_has("at most 1048576 bytes");
    nothing_written(&cx);
    let out = cx.run(&["-f", ".", "build"]);
    out.code(2)
        .stderr_has("cannot read `.`: it is a folder")
        .stderr_has("at most 1048576 bytes");
}

/// A pipe is read (`-f <(generate)`), but never past the limit: an endless writer is cut off.
#[cfg(unix)]
#[test]
fn endless_spec_pipe_is_cut_at_the_limit() {
    use std::io::Write;
    let cx = TestContext::new();
    let fifo = cx.path("spec.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            // Blocks until the binary opens the pipe; ends when it closes it (EPIPE).
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let chunk = vec![b'#'; 64 * 1024];
            let mut sent = 0u64;
            while f.write_all(&chunk).is_ok() {
                sent += chunk.len() as u64;
            }
            sent
        })
    };
    let out = cx.run(&["-f", "spec.fifo", "build"]);
    // Had the binary not opened the pipe, the writer would wait for a reader forever: open
    // (and close) one, so it always ends.
    {
        use std::os::unix::fs::OpenOptionsExt;
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo);
    }
    out.code(2)
        .stderr_has("`spec.fifo` is more than 1048576 bytes")
        .stderr_has("a spec may be at most 1048576 bytes");
    let sent = writer.join().unwrap();
    assert!(sent < 16 << 20, "the binary read {sent} bytes of the pipe");
    nothing_written(&cx);
}

/// miette pads underlines with a format width, which panics past 65,535 columns: an error far
/// right on a long line is shown as a clipped excerpt instead.
#[test]
fn spec_error_past_column_65536_is_rendered_not_a_panic() {
    let cx = TestContext::new();
    cx.csv("data.csv", 5);
    let long = "x".repeat(70_000);
    cx.spec(&format!(
        "{{name: demo, version: 1.0.0, description: \"{long}\", bogus: 1}}\n"
    ));
    let out = cx.run(&["build"]);
    out.code(2)
        .stderr_has("error: dataset.yaml:1:70047: unknown key `bogus`")
        .stderr_has("--> dataset.yaml:1:70047 (line 1 is 70055 characters long)")
        .stderr_has("xxx\", bogus: 1}\n")
        .stderr_has("^^^^^ unknown key")
        .stderr_has("hint: expected one of:");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        out.stderr.len() < 2000,
        "the long line is clipped:\n{}",
        out.stderr
    );
    nothing_written(&cx);
    // Inside a stage, with tabs and wide characters before the error.
    let wide = "é\t".repeat(40_000);
    cx.spec(&SPEC.replace(
        "clean: {kind: normalize, input: raw}",
        &format!("clean: {{kind: normalize, input: raw, note: \"{wide}\", bogus: 1}}"),
    ));
    let out = cx.run(&["build"]);
    out.code(2)
        .stderr_has("error: dataset.yaml:6:")
        .stderr_has("unknown key `note`");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    nothing_written(&cx);
}
