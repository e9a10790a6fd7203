//! normalize: detection, compression, archives, inference, casts, filters, bad inputs.

use std::io::Write;

use crate::context::TestContext;

fn spec(uri: &str, extra: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: {uri}}}\nstages:\n  clean:\n    kind: normalize\n    input: raw\n{extra}"
    )
}

fn summary(cx: &TestContext) -> String {
    cx.read("dataset.lock")
}

const CSV: &str = "id,text,score\n1,hello,0.5\n2,world,0.25\n3,again,1\n";

#[test]
fn csv_without_extension_is_detected_by_content() {
    let cx = TestContext::new();
    cx.file("data/reviews", CSV).spec(&spec("data/reviews", ""));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(
        lock.contains("format: CSV (delimiter ',', header)")
            && lock.contains("detected_by: content"),
        "{lock}"
    );
    assert!(lock.contains("rows: 3"));
}

#[test]
fn dialects_semicolon_tab_and_no_header() {
    let cx = TestContext::new();
    cx.file("a.csv", "id;name;score\n1;a;0.5\n2;b;0.7\n")
        .file("b.tsv", "id\tname\tscore\n3\tc\t0.1\n")
        .file("c.txt", "1,2,3\n4,5,6\n");
    cx.spec(
        &spec(
            "\"*.csv\"",
            "  other: {kind: normalize, input: tsv}\n  third: {kind: normalize, input: nohead}\n",
        )
        .replace(
            "sources:\n",
            "sources:\n  tsv: {uri: b.tsv}\n  nohead: {uri: c.txt}\n",
        ),
    );
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(lock.contains("CSV (delimiter ';', header)"), "{lock}");
    assert!(lock.contains("CSV (delimiter tab, header)"), "{lock}");
    assert!(
        lock.contains("CSV (delimiter ',', no header)") && lock.contains("name: column_1"),
        "{lock}"
    );
}

#[test]
fn json_array_records_under_a_key_and_jsonl() {
    let cx = TestContext::new();
    cx.file(
        "a.json",
        r#"[{"id": 1, "text": "x"}, {"id": 2, "text": "y"}]"#,
    );
    cx.file(
        "b.json",
        "{\n  \"version\": 3,\n  \"data\": [{\"id\": 3, \"text\": \"z\"}]\n}\n",
    );
    cx.file("c.jsonl", "{\"id\": 4, \"text\": \"w\", \"tags\": [\"a\", \"b\"], \"meta\": {\"n\": 1}}\n{\"id\": 5, \"text\": \"v\", \"tags\": [], \"meta\": {\"n\": 2}}\n");
    cx.spec(&spec("\"*.json*\"", ""));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(
        lock.contains("format: JSON\n")
            || lock.contains("format: JSON\r\n")
            || lock.contains("format: JSON"),
        "{lock}"
    );
    assert!(lock.contains("format: JSON Lines"), "{lock}");
    assert!(lock.contains("rows: 5"), "{lock}");
    assert!(
        lock.contains("type: list<string>") && lock.contains("type: \"struct<n: int64>\"")
            || lock.contains("struct<n: int64>"),
        "{lock}"
    );
}

#[test]
fn json_with_several_arrays_asks_for_json_field() {
    let cx = TestContext::new();
    cx.file("a.json", r#"{"train": [{"a": 1}], "test": [{"a": 2}]}"#)
        .spec(&spec("a.json", ""));
    cx.run(&["build"])
        .code(1)
        .stderr_has("has several arrays of records: `train`, `test`")
        .stderr_has("json_field");
    cx.spec(&spec("a.json", "    json_field: test\n"));
    cx.run(&["build"]).success();
    assert!(summary(&cx).contains("rows: 1"));
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn compressed_files() {
    let cx = TestContext::new();
    cx.file("d/a.csv.gz", gz(CSV.as_bytes()));
    cx.file("d/b.csv.zst", zstd::encode_all(CSV.as_bytes(), 3).unwrap());
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(CSV.as_bytes()).unwrap();
    cx.file("d/c.csv.bz2", bz.finish().unwrap());
    let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    xz.write_all(CSV.as_bytes()).unwrap();
    cx.file("d/e.csv.xz", xz.finish().unwrap());
    cx.spec(&spec("d", ""));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    for c in ["gzip", "zstd", "bzip2", "xz"] {
        assert!(
            lock.contains(&format!("CSV ({c}; delimiter ',', header)")),
            "{c}\n{lock}"
        );
    }
    assert!(lock.contains("rows: 12"));
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn tar_gz_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    gz(&b.into_inner().unwrap())
}

#[test]
fn archives_are_extracted() {
    let cx = TestContext::new();
    cx.file(
        "in/a.zip",
        zip_of(&[
            ("part1.csv", CSV.as_bytes()),
            ("sub/part2.csv", CSV.as_bytes()),
        ]),
    );
    cx.file(
        "in/b.tar.gz",
        tar_gz_of(&[("x.jsonl", b"{\"id\": 9, \"text\": \"t\", \"score\": 2.0}\n")]),
    );
    cx.spec(&spec("in", ""));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(
        lock.contains("file: a.zip/part1.csv")
            && lock.contains("file: a.zip/sub/part2.csv")
            && lock.contains("file: b.tar.gz/x.jsonl"),
        "{lock}"
    );
    assert!(lock.contains("rows: 7"));
}

#[test]
fn zip_with_parent_path_is_refused() {
    let cx = TestContext::new();
    cx.file("a.zip", zip_of(&[("../evil.csv", CSV.as_bytes())]))
        .spec(&spec("a.zip", ""));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`a.zip`: entry `../evil.csv` escapes the archive");
    assert!(!cx.root().parent().unwrap().join("evil.csv").exists());
    assert!(!cx.exists("out/demo/clean/part-0.parquet"));
}

#[test]
fn tar_with_symlink_is_refused() {
    let cx = TestContext::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    b.append_link(&mut h, "link.csv", "/etc/passwd").unwrap();
    cx.file("a.tar", b.into_inner().unwrap())
        .spec(&spec("a.tar", ""));
    cx.run(&["build"])
        .code(1)
        .stderr_has("entry `link.csv` is a link");
}

#[test]
fn parquet_and_arrow_inputs() {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, true),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Int64Array::from(vec![1, 2])),
            std::sync::Arc::new(StringArray::from(vec![Some("a"), None])),
        ],
    )
    .unwrap();
    let cx = TestContext::new();
    let mut file = Vec::new();
    let mut w = arrow::ipc::writer::FileWriter::try_new(&mut file, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    cx.file("in/a.arrow", file);
    let mut stream = Vec::new();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut stream, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    cx.file("in/b.arrows", stream);
    let mut pq = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut pq, schema.clone(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    cx.file("in/c.parquet", &pq);
    cx.file("in/d.parquet.gz", gz(&pq));
    cx.spec(&spec("in", ""));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    for f in [
        "Arrow IPC file",
        "Arrow IPC stream",
        "format: Parquet",
        "Parquet (gzip)",
    ] {
        assert!(lock.contains(f), "{f}\n{lock}");
    }
    assert!(
        lock.contains("rows: 8") && lock.contains("nulls: 4"),
        "{lock}"
    );
}

#[test]
fn mixed_types_become_string_with_a_warning() {
    let cx = TestContext::new();
    cx.file("a.csv", "id,value\n1,10\n2,unknown\n3,30\n")
        .spec(&spec("a.csv", ""));
    let out = cx.run(&["build"]);
    out.success()
        .stderr_has("column `value` mixes 2 integers and 1 strings (e.g. `unknown`)");
    let lock = summary(&cx);
    assert!(
        lock.contains(
            "name: value\n        nullable: false\n        nulls: 0\n        type: string"
        ),
        "{lock}"
    );
    assert!(lock.contains("warnings:"));
}

#[test]
fn lenient_cast_counts_coercions_and_strict_fails() {
    let cx = TestContext::new();
    cx.file("a.csv", "id,value\n1,10\n2,unknown\n3,30\n");
    cx.spec(&spec(
        "a.csv",
        "    columns: {id: {}, value: {type: int64}}\n",
    ));
    cx.run(&["build"])
        .code(1)
        .stderr_has("column `value` does not convert to int64")
        .stderr_has("cast: lenient");
    cx.spec(&spec(
        "a.csv",
        "    columns: {id: {}, value: {type: int64}}\n    cast: lenient\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("`cast: lenient` turned 1 values of column `value` into null");
    let lock = summary(&cx);
    assert!(lock.contains("coercions:\n        value: 1"), "{lock}");
}

#[test]
fn filters_drop_and_sort() {
    let cx = TestContext::new();
    cx.file(
        "a.csv",
        "id,lang,stars,text\n1,en,5,a\n2,fr,4,b\n3,en,2,\n4,en,4,d\n5,de,1,e\n",
    );
    cx.spec(&spec(
        "a.csv",
        "    drop: [text]\n    filter: [\"lang == 'en'\", \"stars >= 2\"]\n    sort_by: [stars]\n",
    ));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(
        lock.contains("rows: 3")
            && lock.contains("rows_dropped: 2")
            && !lock.contains("name: text"),
        "{lock}"
    );
    // Bad filter: an error at the line of the spec.
    cx.spec(&spec("a.csv", "    filter: [\"stars => 2\"]\n"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("dataset.yaml:")
        .stderr_has("unknown operator");
    cx.spec(&spec("a.csv", "    filter: [\"starz >= 2\"]\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("filter `starz >= 2`: no output column `starz`");
}

#[test]
fn on_error_skip_leaves_bad_files_out_and_reports_them() {
    let cx = TestContext::new();
    cx.file("d/a.csv", CSV)
        .file("d/b.csv", "id,text,score\n1,a\n")
        .file("d/c.bin", [0u8, 1, 2, 3, 255]);
    cx.spec(&spec("d", "    on_error: skip\n"));
    let out = cx.run(&["build"]);
    out.success()
        .stderr_has("skipped `b.csv`")
        .stderr_has("skipped `c.bin`: `c.bin`: unknown file format");
    let lock = summary(&cx);
    assert!(
        lock.contains("skipped_files:") && lock.contains("rows: 3"),
        "{lock}"
    );
}

fn bad(name: &str, data: &[u8], expect: &[&str]) {
    let cx = TestContext::new();
    cx.file(name, data).spec(&spec(name, ""));
    let out = cx.run(&["build"]);
    out.code(1);
    for e in expect {
        out.stderr_has(e);
    }
    assert!(!out.stderr.contains("panicked"));
    assert!(!cx.exists("out/demo/clean"), "no partial output for {name}");
    let lock = cx.read("dataset.lock");
    assert!(!lock.contains("  clean:"), "a failed stage is not recorded");
}

#[test]
fn bad_ragged_csv_names_the_line() {
    bad(
        "a.csv",
        b"id,text,label\n1,a,0\n2,b\n3,c,1\n",
        &[
            "`a.csv`",
            "line 3",
            "expected 3",
            "as many fields as the header",
        ],
    );
}

#[test]
fn bad_invalid_utf8_names_the_line() {
    // UTF-8 text first, then a byte that is not: no single encoding reads the file.
    bad(
        "a.csv",
        "id,text\n1,café\n2,caf"
            .bytes()
            .chain(*b"\xe9\n")
            .collect::<Vec<u8>>()
            .as_slice(),
        &[
            "`a.csv`",
            "line 3 (byte offset 21): 0xE9 is not UTF-8",
            "line 2 holds UTF-8 text",
            "encoding:",
        ],
    );
    // Given as UTF-8, latin-1 text fails too.
    let cx = TestContext::new();
    cx.file("a.csv", &b"id,text\n1,ok\n2,caf\xe9\n"[..])
        .spec(&spec("a.csv", "    encoding: utf-8\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`a.csv`: line 3 (byte offset 18): 0xE9 is not UTF-8 text")
        .stderr_has("set `encoding:`");
    assert!(!cx.read("dataset.lock").contains("  clean:"));
}

#[test]
fn bad_unterminated_quote_names_the_line() {
    bad(
        "a.csv",
        b"id,text\n1,ok\n2,\"never closed\n3,x\n",
        &["`a.csv`", "unterminated quoted field starting at line 3"],
    );
}

#[test]
fn bad_json_syntax_names_line_and_column() {
    bad(
        "a.json",
        b"[{\"id\": 1},\n {\"id\": 2,,}]\n",
        &["`a.json`", "JSON syntax error at line 2 column"],
    );
    bad(
        "a.jsonl",
        b"{\"id\": 1}\n{\"id\": 2\n",
        &["`a.jsonl`", "line 2"],
    );
}

#[test]
fn bad_truncated_parquet() {
    let cx = TestContext::new();
    cx.file("a.csv", CSV).spec(&spec("a.csv", ""));
    cx.run(&["build"]).success();
    let pq = cx.read_bytes("out/demo/clean/part-0.parquet");
    bad(
        "t.parquet",
        &pq[..pq.len() / 2],
        &["`t.parquet`", "not a readable Parquet file", "truncated"],
    );
}

#[test]
fn bad_empty_file() {
    bad("a.csv", b"", &["`a.csv`", "empty"]);
}

#[test]
fn unknown_binary_lists_supported_formats() {
    bad(
        "a.dat",
        &[0u8, 159, 146, 150, 0, 1],
        &[
            "`a.dat`: unknown file format",
            "JSON Lines",
            "Parquet",
            "format:",
        ],
    );
}

#[test]
fn late_type_change_triggers_a_full_inference_pass() {
    // The first 50,000 rows are integers; a later row is text: no failure, the column is string.
    let mut s = String::from("id,value\n");
    for i in 0..50_010 {
        s.push_str(&format!(
            "{i},{}\n",
            if i == 50_005 {
                "oops".to_owned()
            } else {
                i.to_string()
            }
        ));
    }
    let cx = TestContext::new();
    cx.file("a.csv", s).spec(&spec("a.csv", ""));
    cx.run(&["build"])
        .success()
        .stderr_has("column `value` mixes");
    assert!(summary(&cx).contains("rows: 50010"));
}

#[test]
fn build_prints_the_schema_and_the_dataset_tree() {
    let cx = TestContext::new();
    cx.file("a.csv", CSV).spec(&spec("a.csv", ""));
    let out = cx.run(&["build"]);
    out.success()
        .stderr_has("          column  type     nullable\n          id      int64    no\n          text    string   no\n          score   float64  no\n")
        .stderr_has("out/demo/\n├── manifest.yaml")
        .stderr_has("└── clean/  (1 file, ");
    let events = cx.run(&["build", "--force", "--json"]).success().events();
    let schema = events.iter().find_map(|e| match e {
        mldatabuild::report::Event::StageFinished { schema, .. } => Some(schema.clone()),
        _ => None,
    });
    assert_eq!(schema.unwrap().len(), 3);
}

#[test]
fn wide_schemas_are_summarized() {
    let header: Vec<String> = (0..150).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..150).map(|i| i.to_string()).collect();
    let cx = TestContext::new();
    cx.file(
        "a.csv",
        format!("{}\n{}\n", header.join(","), row.join(",")),
    )
    .spec(&spec("a.csv", ""));
    cx.run(&["build"])
        .success()
        .stderr_has("… 125 more columns …")
        .stderr_has("150 columns: 150 int64");
}

#[test]
fn class_labels_from_names_auto_and_ids() {
    let cx = TestContext::new();
    cx.file(
        "a.csv",
        "text,sentiment,stars\ngood,pos,2\nbad,neg,0\nmeh,neutral,1\n",
    );
    cx.spec(&spec(
        "a.csv",
        "    class_labels: {sentiment: [neg, neutral, pos], stars: [zero, one, two]}\n",
    ));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(lock.contains("sentiment:\n          _type: ClassLabel\n          names:\n          - neg\n          - neutral\n          - pos"), "{lock}");
    assert!(
        lock.contains("text:\n          _type: Value\n          dtype: string"),
        "{lock}"
    );
    // auto: the sorted distinct values.
    cx.spec(&spec("a.csv", "    class_labels: {sentiment: auto}\n"));
    cx.run(&["build"]).success();
    assert!(summary(&cx).contains("names:\n          - neg\n          - neutral\n          - pos"));
    // A value that is not a class, then the same with lenient casting.
    cx.spec(&spec(
        "a.csv",
        "    class_labels: {sentiment: [neg, pos]}\n",
    ));
    cx.run(&["build"])
        .code(1)
        .stderr_has("column `sentiment` value `neutral` is not one of the class names (neg, pos)");
    cx.spec(&spec(
        "a.csv",
        "    class_labels: {sentiment: [neg, pos]}\n    cast: lenient\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("turned 1 values of column `sentiment` into null");
    // Integer ids out of range.
    cx.spec(&spec("a.csv", "    class_labels: {stars: [low, high]}\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("column `stars` value `2` is not a class id (0 to 1)");
}

#[test]
fn class_labels_are_checked_in_the_spec() {
    let cx = TestContext::new();
    cx.file("a.csv", CSV);
    cx.spec(&spec("a.csv", "    class_labels: {text: maybe}\n"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("dataset.yaml:")
        .stderr_has("class labels must be `auto` or a list of names");
    cx.spec(&spec("a.csv", "    class_labels: {text: [a, a]}\n"));
    cx.run(&["build"])
        .code(2)
        .stderr_has("class name `a` is listed twice");
    cx.spec(&spec("a.csv", "    class_labels: {nope: auto}\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("`class_labels` names column `nope`");
}

#[test]
fn many_inputs_are_grouped_by_format_in_the_lock() {
    let cx = TestContext::new();
    for i in 0..120 {
        cx.file(&format!("d/{i:03}.csv"), CSV);
    }
    cx.spec(&spec("d", ""));
    cx.run(&["build"]).success();
    let lock = summary(&cx);
    assert!(lock.contains("- detected_by: content\n        files: 120\n        first: 000.csv\n        format: CSV (delimiter ',', header)"), "{lock}");
    assert!(!lock.contains("file: 001.csv"));
}

/// A CSV of several decoding chunks (4 MiB each), batches and row groups, with quoted fields
/// holding delimiters, doubled quotes and line breaks (also across chunk boundaries).
fn many_batches_csv(rows: usize) -> (String, Vec<String>) {
    let mut s = String::from("id,code,score,note,cat\n");
    let mut notes = Vec::with_capacity(rows);
    for i in 0..rows {
        let note = match i % 5 {
            0 => format!("line {i}\nnext, \"quoted\" {}", "x".repeat(i % 37)),
            1 => String::new(),
            _ => format!("plain {i} {}", "y".repeat(i % 23)),
        };
        let field = if note.contains(['\n', ',', '"']) {
            format!("\"{}\"", note.replace('"', "\"\""))
        } else {
            note.clone()
        };
        let end = if i % 3 == 0 { "\r\n" } else { "\n" };
        s.push_str(&format!(
            "{i},{},{:.3},{field},{}{end}",
            (i * 7919) % 100_003,
            i as f64 / 7.0,
            ["red", "green", "blue"][i % 3]
        ));
        notes.push(note);
    }
    (s, notes)
}

#[test]
fn output_is_byte_identical_for_any_thread_count() {
    use arrow::array::{Array, AsArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let rows = 260_000;
    let (csv, notes) = many_batches_csv(rows);
    assert!(csv.len() > 12 << 20, "several chunks: {}", csv.len());
    let cx = TestContext::new();
    cx.file("a.csv", &csv).spec(&spec("a.csv", ""));
    let mut outputs = Vec::new();
    for jobs in ["1", "2", "4"] {
        cx.run(&["build", "--force", "--jobs", jobs]).success();
        outputs.push((jobs, cx.read_bytes("out/demo/clean/part-0.parquet")));
    }
    for (jobs, bytes) in &outputs[1..] {
        assert!(
            *bytes == outputs[0].1,
            "--jobs {jobs} wrote other bytes than --jobs 1"
        );
    }
    // The values are the file's: every row, in order.
    let file = std::fs::File::open(cx.path("out/demo/clean/part-0.parquet")).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let meta = reader.metadata().clone();
    assert_eq!(meta.num_row_groups(), 2);
    // A dictionary for the column of three colors, none for ids, codes, scores and notes.
    let encodings = |col: usize| -> Vec<String> {
        meta.row_group(0)
            .column(col)
            .encodings()
            .map(|e| format!("{e:?}"))
            .collect()
    };
    assert!(
        encodings(4).iter().any(|e| e.contains("DICTIONARY")),
        "{:?}",
        encodings(4)
    );
    for col in 0..4 {
        assert!(
            !encodings(col).iter().any(|e| e.contains("DICTIONARY")),
            "{col}: {:?}",
            encodings(col)
        );
    }
    let mut next = 0usize;
    for batch in reader.build().unwrap() {
        let batch = batch.unwrap();
        let ids = batch
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>();
        let note = batch.column(3).as_string::<i32>();
        for r in 0..batch.num_rows() {
            assert_eq!(ids.value(r), next as i64);
            let want = &notes[next];
            if want.is_empty() {
                assert!(note.is_null(r), "row {next}");
            } else {
                assert_eq!(note.value(r), want, "row {next}");
            }
            next += 1;
        }
    }
    assert_eq!(next, rows);
}
