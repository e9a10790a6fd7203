//! Hostile input: files the tool did not write are untrusted. Each case ends in a clear error
//! (or a correct result) with bounded memory, never a panic, and writes no lock or output.

use crate::context::{Output, TestContext};
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

/// Run the binary with its data segment limited to `mib` MiB (`ulimit -d`): an allocation past
/// it fails and the process aborts, so a test sees unbounded memory as a failure instead of
/// taking the machine's memory. (`RUST_BACKTRACE` is cleared: printing a backtrace while out
/// of memory can deadlock.)
#[cfg(unix)]
fn run_limited(cx: &TestContext, mib: u64, args: &[&str], env: &[(&str, &str)]) -> Output {
    let inner = cx.command(args);
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("ulimit -d \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg((mib * 1024).to_string())
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(cx.root())
        .env("RUST_BACKTRACE", "0");
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run mldatabuild under sh");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: cx.filter(&String::from_utf8_lossy(&out.stdout)),
        stderr: cx.filter(&String::from_utf8_lossy(&out.stderr)),
    }
}

/// The stage failed without a trace: no lock entry, nothing in its output folder.
#[track_caller]
fn stage_not_recorded(cx: &TestContext, stage: &str) {
    if cx.exists("dataset.lock") {
        let lock = cx.read("dataset.lock");
        assert!(
            !lock.contains(&format!("\n  {stage}:\n")),
            "a failed stage may not be recorded:\n{lock}"
        );
    }
    assert!(
        !cx.exists(&format!("out/demo/{stage}")),
        "a failed stage may not publish outputs"
    );
}

const GZ_SPEC: &str = "name: demo
version: 1.0.0
sources:
  raw: {uri: data.csv.gz}
stages:
  clean: {kind: normalize, input: raw}
";

/// A CSV of 5,000 columns (54 KB): arrow's decoder reserved room for 64 Ki rows of every
/// column (about 1 MB a column, 5 GB in all) and the process aborted.
#[cfg(unix)]
#[test]
fn csv_of_5000_columns_normalizes_in_bounded_memory() {
    let cx = TestContext::new();
    let cols = 5000;
    let mut csv = (0..cols)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    for r in 0..3 {
        let row: Vec<String> = (0..cols).map(|i| ((i + r) % 10).to_string()).collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    assert!(csv.len() < 64_000, "a small file: {} bytes", csv.len());
    cx.file("data.csv", &csv)
        .spec(&GZ_SPEC.replace("data.csv.gz", "data.csv"));
    // Before: an abort on a 5 GB allocation. Now about 300 MB (most of it Parquet's
    // per-column writer state).
    let out = run_limited(&cx, 1536, &["build"], &[]);
    out.success();
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("rows: 3"), "{lock}");
    assert!(lock.contains("name: c4999"), "every column is kept");
    assert!(cx.exists("out/demo/clean/part-0.parquet"));
}

/// A 1 MB `.csv.gz` holding one 1 GiB field: the CSV reader held the whole record (4 GB at
/// its peak). Now a record may be at most 64 MiB, and the read stops there.
#[cfg(unix)]
#[test]
fn csv_gz_with_a_1gib_field_stops_at_the_record_limit() {
    use std::io::Write;
    let cx = TestContext::new();
    {
        let f = std::fs::File::create(cx.path("data.csv.gz")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(f),
            flate2::Compression::default(),
        );
        gz.write_all(b"id,text\n1,").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..1024 {
            gz.write_all(&chunk).unwrap();
        }
        gz.write_all(b"\n2,b\n").unwrap();
        gz.finish().unwrap().flush().unwrap();
    }
    let size = std::fs::metadata(cx.path("data.csv.gz")).unwrap().len();
    assert!(size < 2 << 20, "the test file is {size} bytes");
    cx.spec(GZ_SPEC);
    let out = run_limited(&cx, 1024, &["build"], &[]);
    out.code(1)
        .stderr_has("`data.csv.gz`: the record starting at line 2 is longer than 64 MiB")
        .stderr_has("MLDATA_MAX_RECORD_MIB=64")
        .stderr_has("set MLDATA_MAX_RECORD_MIB above 64");
    stage_not_recorded(&cx, "clean");
}

/// A single compressed file is held to the archive caps: at most 1000 times its size (at
/// least 1 MiB). A zstd file expands far past that; raising the ratio lets it through.
#[test]
fn compressed_csv_past_the_expansion_ratio_is_refused() {
    let cx = TestContext::new();
    let mut csv = b"id,text\n".to_vec();
    for _ in 0..400_000 {
        csv.extend_from_slice(b"1,hello\n");
    }
    let z = zstd::encode_all(&csv[..], 19).unwrap();
    assert!(z.len() < 1000, "{} bytes", z.len());
    cx.file("data.csv.zst", &z)
        .spec(&GZ_SPEC.replace("data.csv.gz", "data.csv.zst"));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("`data.csv.zst`: expands past 1 MiB, more than 1000x its")
        .stderr_has("(a decompression bomb?)")
        .stderr_has(
            "a zstd file may expand to at most MLDATA_MAX_EXPANSION_RATIO=1000 times its size",
        );
    stage_not_recorded(&cx, "clean");
    // The limit is the user's to raise.
    let out = cx
        .command(&["build"])
        .env("MLDATA_MAX_EXPANSION_RATIO", "100000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cx.read("dataset.lock").contains("rows: 400000"));
}

/// A compressed Parquet file is decompressed into scratch before reading: held to the same cap.
#[test]
fn compressed_parquet_past_the_expansion_ratio_is_refused() {
    let cx = TestContext::new();
    let mut data = b"PAR1".to_vec();
    data.resize(32 << 20, 0);
    let z = zstd::encode_all(&data[..], 3).unwrap();
    cx.file("data.parquet.zst", &z)
        .spec(&GZ_SPEC.replace("data.csv.gz", "data.parquet.zst"));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("`data.parquet.zst`: expands past 1 MiB, more than 1000x its")
        .stderr_has("MLDATA_MAX_EXPANSION_RATIO=1000");
    stage_not_recorded(&cx, "clean");
}

/// A tar.gz member is capped as before, and so is the whole decompressed stream (the tar
/// reader holds headers in memory); the ratio can be lowered as well as raised.
#[test]
fn tar_gz_past_the_expansion_ratio_is_refused() {
    use std::io::Write;
    let cx = TestContext::new();
    let mut member = b"id,text\n".to_vec();
    for _ in 0..300_000 {
        member.extend_from_slice(b"1,hello\n");
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(member.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "big.csv", &member[..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    cx.file("data.tar.gz", gz.finish().unwrap())
        .spec(&GZ_SPEC.replace("data.csv.gz", "data.tar.gz"));
    let out = cx
        .command(&["build"])
        .env("MLDATA_MAX_EXPANSION_RATIO", "10")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`data.tar.gz`: "), "{stderr}");
    assert!(
        stderr.contains("expands past 1 MiB, more than 10x its"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "an archive may expand to at most MLDATA_MAX_EXPANSION_RATIO=10 times its size"
        ),
        "{stderr}"
    );
    stage_not_recorded(&cx, "clean");
    // With the default ratio it is an ordinary archive.
    cx.run(&["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 300000"));
}

/// A JSON Lines line is a record: the same limit, named, and raised by the same variable.
#[test]
fn long_json_lines_line_names_the_limit_and_how_to_raise_it() {
    let cx = TestContext::new();
    let long = "x".repeat(3 << 20);
    cx.file(
        "data.jsonl",
        format!("{{\"id\": 1, \"text\": \"a\"}}\n{{\"id\": 2, \"text\": \"{long}\"}}\n"),
    )
    .spec(&GZ_SPEC.replace("data.csv.gz", "data.jsonl"));
    let out = cx
        .command(&["build"])
        .env("MLDATA_MAX_RECORD_MIB", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`data.jsonl`: line 2 is longer than 1 MiB (a JSON Lines record may be at most MLDATA_MAX_RECORD_MIB=1 MiB)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("set MLDATA_MAX_RECORD_MIB above 1"),
        "{stderr}"
    );
    stage_not_recorded(&cx, "clean");
    // Within the default (64 MiB) it reads.
    cx.run(&["build"]).success();
    assert!(cx.read("dataset.lock").contains("rows: 2"));
}

#[test]
fn a_bad_limit_variable_is_an_error() {
    let cx = TestContext::new();
    cx.csv("data.csv", 5)
        .spec(&GZ_SPEC.replace("data.csv.gz", "data.csv"));
    let out = cx
        .command(&["build"])
        .env("MLDATA_MAX_RECORD_MIB", "lots")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("MLDATA_MAX_RECORD_MIB must be a whole number above 0: got `lots`"),
        "{stderr}"
    );
    stage_not_recorded(&cx, "clean");
}

/// A `template` export of the table `clean` with `source` (YAML single-quoted).
fn template_spec(source: &str) -> String {
    format!(
        "name: demo
version: 1.0.0
sources:
  raw: {{uri: data.csv}}
stages:
  clean: {{kind: normalize, input: raw}}
  chat:
    kind: export
    input: clean
    formats: [template]
    template:
      target: text
      source: '{source}'
"
    )
}

/// Nested loops ran forever: a row's rendering now has minijinja fuel (10,000,000
/// instructions), and running out is an error naming the template, the row and the knob.
#[test]
fn template_with_endless_loops_runs_out_of_fuel() {
    let cx = TestContext::new();
    cx.csv("data.csv", 3).spec(&template_spec(
        "{% for i in \"x\" * 100000 %}{% for j in \"x\" * 100000 %}{% for k in \"x\" * 100000 %}{% endfor %}{% endfor %}{% endfor %}{{ text }}",
    ));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("template `template.source` at line 1 (row 0 of split `train`) ran out of fuel")
        .stderr_has("at most 10000000 template instructions (MLDATA_TEMPLATE_FUEL)")
        .stderr_has("set MLDATA_TEMPLATE_FUEL above 10000000");
    stage_not_recorded(&cx, "chat");
    assert!(!cx.exists("out/demo/artifacts/chat"), "nothing published");
    // Fuel is per row and the knob works both ways: a loop over a row's text fits the default
    // and not a fuel of 50.
    cx.spec(&template_spec("{% for c in text %}{{ c }}{% endfor %}"));
    let out = cx
        .command(&["build"])
        .env("MLDATA_TEMPLATE_FUEL", "50")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ran out of fuel"), "{stderr}");
    cx.run(&["build"]).success();
    assert_eq!(
        cx.read("out/demo/artifacts/chat/template/train.txt"),
        "row number 0\nrow number 1\nrow number 2\n"
    );
}

/// A row's rendering is held in memory: it may be at most 64 MiB.
#[test]
fn template_rendering_past_the_output_limit_is_refused() {
    let cx = TestContext::new();
    cx.csv("data.csv", 3).spec(&template_spec(
        "{% for i in \"x\" * 1000 %}{{ \"y\" * 100000 }}{% endfor %}",
    ));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("(row 0 of split `train`) renders to more than 64 MiB")
        .stderr_has("MLDATA_TEMPLATE_MAX_OUTPUT_MIB=64")
        .stderr_has("set MLDATA_TEMPLATE_MAX_OUTPUT_MIB above 64");
    stage_not_recorded(&cx, "chat");
    assert!(!cx.exists("out/demo/artifacts/chat"), "nothing published");
}

/// A template file is read like a spec: at most 1 MiB.
#[test]
fn oversized_template_file_is_refused() {
    let cx = TestContext::new();
    let mut big = String::from("{{ text }}");
    big.push_str(&" ".repeat(1 << 20));
    cx.csv("data.csv", 3)
        .file("chat.jinja", &big)
        .spec(&template_spec("x").replace("      source: 'x'\n", "      path: chat.jinja\n"));
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("the template `chat.jinja` is more than 1048576 bytes");
    stage_not_recorded(&cx, "chat");
    cx.file("chat.jinja", "{{ text }}");
    cx.run(&["build"]).success();
    assert_eq!(
        cx.read("out/demo/artifacts/chat/template/train.txt"),
        "row number 0\nrow number 1\nrow number 2\n"
    );
}

/// Parquet keeps state per column in every file it reads or writes, so a table may have at
/// most 10,000 columns (`MLDATA_MAX_COLUMNS`); the error says so before anything is decoded.
#[test]
fn too_many_columns_name_the_limit_and_how_to_raise_it() {
    let cx = TestContext::new();
    let header: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
    let row: Vec<&str> = vec!["1"; 101];
    cx.file(
        "data.csv",
        format!("{}\n{}\n", header.join(","), row.join(",")),
    )
    .spec(&GZ_SPEC.replace("data.csv.gz", "data.csv"));
    let out = cx
        .command(&["build"])
        .env("MLDATA_MAX_COLUMNS", "100")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "`data.csv` has 101 columns; a table may have at most MLDATA_MAX_COLUMNS=100 columns"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("set MLDATA_MAX_COLUMNS above 100"),
        "{stderr}"
    );
    stage_not_recorded(&cx, "clean");
    // Within the default.
    cx.run(&["build"]).success();
    // A header of 20,000 columns is refused at once (before: a quadratic search for unique
    // names, cubic when they all repeat).
    let header = vec!["a"; 20_000].join(",");
    let row = vec!["1"; 20_000].join(",");
    cx.file("data.csv", format!("{header}\n{row}\n"));
    cx.run(&["build"]).code(1).stderr_has(
        "`data.csv` has 20000 columns; a table may have at most MLDATA_MAX_COLUMNS=10000 columns",
    );
}

/// 5,000 columns of the same name: each repeat gets the first free suffix, in linear time
/// (the search was cubic: minutes for a 10 KB header).
#[cfg(unix)]
#[test]
fn repeated_header_names_are_renamed_in_linear_time() {
    let cx = TestContext::new();
    let header = vec!["a"; 5000].join(",");
    let row = vec!["1"; 5000].join(",");
    cx.file("data.csv", format!("{header}\n{row}\n"))
        .spec(&GZ_SPEC.replace("data.csv.gz", "data.csv"));
    let out = run_limited(&cx, 1536, &["build"], &[]);
    out.success()
        .stderr_has("column name `a` repeats; the second is named `a_5000`");
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("name: a_4999"), "every column is kept");
}
