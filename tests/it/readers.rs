//! What users' own tools write: text files as the Hugging Face `text` loader reads them, and
//! spreadsheets written by pandas (openpyxl, odf) and xlwt, normalized through the real binary
//! with every value compared to what `datasets` and pandas read.

use crate::context::TestContext;
use crate::python::python_json;

/// Writes text files in several variants and prints, per file and `sample_by`, what
/// `load_dataset("text", ...)` reads.
const TEXT: &str = r#"
import json, gzip, os
from datasets import load_dataset
files = {
    "trailing.txt": b"one\ntwo\n\nthree\n",
    "no-final-newline.txt": b"one\ntwo\n\nthree",
    "crlf.txt": b"one\r\ntwo\r\n\r\n\r\nthree\r\n",
    "lone-cr.txt": b"a\rb\r\rc\n",
    "empty-lines.txt": b"\n\nlead\n\n\n\nmid\n  \n\nend\n\n",
    "unicode.txt": "é✓ «x»\n\nπ ≈ 3.14\n日本語\n".encode(),
    "paragraphs.txt": b"First para\nstill first\n\n\nSecond para\n   \nthird line\n\nLast\n",
}
for name, data in files.items():
    with open(name, "wb") as f:
        f.write(data)
with gzip.open("zipped.txt.gz", "wb") as f:
    f.write(files["paragraphs.txt"])
expected = {}
for name in files:
    for mode, sample_by in [("line", "line"), ("paragraph", "paragraph"), ("file", "document")]:
        ds = load_dataset("text", data_files=name, sample_by=sample_by, split="train",
                          cache_dir=".hf-cache")
        expected[f"{name}|{mode}"] = list(ds["text"])
print(json.dumps({"files": list(files), "expected": expected}))
"#;

/// Reads each output table back with pyarrow: its schema and its `text` values.
const READ_TEXT: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = {}
for path in sys.argv[1:]:
    t = pq.read_table(path)
    out[path] = {"schema": [(f.name, str(f.type)) for f in t.schema], "text": t.column("text").to_pylist()}
print(json.dumps(out))
"#;

fn stage_name(file: &str, mode: &str) -> String {
    let base: String = file
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{base}_{mode}")
}

#[test]
fn text_files_normalize_to_what_datasets_reads_in_every_mode() {
    let cx = TestContext::new();
    let v = python_json(cx.root(), TEXT, &[]);
    let mut files: Vec<String> = serde_json::from_value(v["files"].clone()).unwrap();
    files.push("zipped.txt.gz".into());
    let mut spec = String::from("name: demo\nversion: 1.0.0\nsources:\n");
    for (i, f) in files.iter().enumerate() {
        spec.push_str(&format!("  s{i}: {{uri: {f}}}\n"));
    }
    spec.push_str("stages:\n");
    let mut outputs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for mode in ["line", "paragraph", "file"] {
            let name = stage_name(f, mode);
            // `line` is the default: leave it out for one file, to test the default.
            let param = if mode == "line" && i == 0 {
                String::new()
            } else {
                format!(", text_mode: {mode}")
            };
            spec.push_str(&format!(
                "  {name}: {{kind: normalize, input: s{i}{param}}}\n"
            ));
            outputs.push((f.clone(), mode, format!("out/demo/{name}/part-0.parquet")));
        }
    }
    cx.spec(&spec);
    cx.run(&["build"]).success();
    let paths: Vec<&str> = outputs.iter().map(|(_, _, p)| p.as_str()).collect();
    let got = python_json(cx.root(), READ_TEXT, &paths);
    for (file, mode, path) in &outputs {
        // The gzip file holds `paragraphs.txt`.
        let source = if file == "zipped.txt.gz" {
            "paragraphs.txt"
        } else {
            file
        };
        let want = &v["expected"][format!("{source}|{mode}")];
        assert!(want.is_array(), "{source}|{mode}");
        assert_eq!(&got[path]["text"], want, "{file} in {mode} mode");
        assert_eq!(
            got[path]["schema"],
            serde_json::json!([["text", "string"]]),
            "{file}"
        );
    }
    // A text file's lock entry says what it was read as.
    let lock = cx.read("dataset.lock");
    assert!(lock.contains("format: text"), "{lock}");
}

#[test]
fn text_that_is_not_utf8_names_the_line_and_offset() {
    let cx = TestContext::new();
    cx.file("notes.txt", b"fine\nalso fine\ncaf\xe9 latin-1\n");
    cx.spec("name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: notes.txt}\nstages:\n  clean: {kind: normalize, input: raw}\n");
    let out = cx.run(&["build"]);
    out.code(1)
        .stderr_has("`notes.txt`: line 3 is not UTF-8 text (byte 0xe9 at byte offset 18)")
        .stderr_has("iconv");
    assert!(!out.stderr.contains("panicked"));
    assert!(!cx.read("dataset.lock").contains("  clean:"));
    // A line longer than the record limit stops the read, naming the limit.
    cx.file("notes.txt", format!("short\n{}\n", "x".repeat(3 << 20)));
    let out = cx
        .command(&["build"])
        .env("MLDATA_MAX_RECORD_MIB", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2 is longer than 1 MiB")
            && stderr.contains("MLDATA_MAX_RECORD_MIB=1"),
        "{stderr}"
    );
    // `format: text` reads a file of any name as text.
    cx.file("notes.md", "# Title\n\nbody, with, commas\n");
    cx.spec("name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: notes.md}\nstages:\n  clean: {kind: normalize, input: raw, format: text, text_mode: paragraph}\n");
    cx.run(&["build"]).success();
    let out = cx.run(&["head", "clean", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["rows"],
        serde_json::json!([["# Title"], ["body, with, commas\n"]])
    );
}

/// Writes the same table with pandas' openpyxl and odf engines (two sheets each) and with
/// xlwt (which pandas no longer drives), and a sheet with empty leading rows and columns.
const SHEETS: &str = r#"
import json, datetime as dt
import pandas as pd, openpyxl, xlwt
df = pd.DataFrame({
    "id": [1, 2, 3, 4, 5],
    "score": [1.5, 2.0, None, 4.25, -0.125],
    "whole": [1.0, 2.0, 3.0, 4.0, 5.0],
    "sparse": [10, None, 30, None, 50],
    "name": ["a", None, "é✓ «x»", "d", "long text, with commas"],
    "flag": [True, False, True, False, True],
    "maybe": [True, None, False, True, None],
    "day": [dt.date(2024, 1, 1), dt.date(2024, 2, 29), None, dt.date(1900, 3, 1), dt.date(2099, 12, 31)],
    "at": [dt.datetime(2024, 1, 1, 12, 30), dt.datetime(2024, 1, 2, 0, 0, 0, 500000), None,
           dt.datetime(1999, 12, 31, 23, 59, 59), dt.datetime(2024, 6, 1)],
    "mixed": [1, "x", 2.5, True, None],
})
second = pd.DataFrame({"k": ["p", "q"], "v": [7, 8]})
for engine, name in [("openpyxl", "book.xlsx"), ("odf", "book.ods")]:
    with pd.ExcelWriter(name, engine=engine) as w:
        df.to_excel(w, sheet_name="first", index=False)
        second.to_excel(w, sheet_name="second", index=False)
# xlwt: the same cells, with date formats.
wb = xlwt.Workbook()
s = wb.add_sheet("first")
date_fmt = xlwt.easyxf(num_format_str="YYYY-MM-DD")
ts_fmt = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
for c, col in enumerate(df.columns):
    s.write(0, c, col)
    for r, v in enumerate(df[col].tolist()):
        if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
            continue
        if isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        if col == "day":
            s.write(r + 1, c, v, date_fmt)
        elif col == "at":
            # xlwt drops the fraction of a second of a datetime: write the serial number.
            serial = (v - dt.datetime(1899, 12, 30)).total_seconds() / 86400
            s.write(r + 1, c, serial, ts_fmt)
        else:
            s.write(r + 1, c, v)
s2 = wb.add_sheet("second")
for c, col in enumerate(second.columns):
    s2.write(0, c, col)
    for r, v in enumerate(second[col].tolist()):
        s2.write(r + 1, c, v)
wb.save("book.xls")
# Empty leading rows and columns, a blank row inside, a header gap.
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "offset"
ws["B2"] = "a"; ws["C2"] = "b"; ws["E2"] = "e"
ws["B3"] = 1; ws["C3"] = "x"
ws["B5"] = 2; ws["C5"] = "y"; ws["D5"] = 3.5
wb.save("offset.xlsx")
print(json.dumps(["book.xlsx", "book.ods", "book.xls", "offset.xlsx"]))
"#;

/// Compares normalize's output with pandas' `read_excel`, value by value (`.xls` with the
/// xlsx's values: pandas reads `.xls` only through xlrd). Prints the mismatches.
const COMPARE_SHEETS: &str = r#"
import json, sys, math, datetime as dt
import pandas as pd, pyarrow.parquet as pq
src, sheet, out = sys.argv[1], sys.argv[2], sys.argv[3]
sheet = int(sheet) if sheet.isdigit() else sheet
ref = "book.xlsx" if src.endswith(".xls") else src
want = pd.read_excel(ref, sheet_name=sheet)
got = pq.read_table(out)
def norm(v):
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, dt.date):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    return str(v)
problems = []
if len(want.columns) != got.num_columns:
    problems.append(f"columns: {list(want.columns)} vs {got.column_names}")
for i, col in enumerate(want.columns):
    if i >= got.num_columns:
        break
    ours = got.column(i).to_pylist()
    theirs = want[col].tolist()
    if len(ours) != len(theirs):
        problems.append(f"{col}: {len(ours)} rows vs {len(theirs)}")
        continue
    for r, (a, b) in enumerate(zip(ours, theirs)):
        if got.schema.field(i).type == "string" and b is not None and not (isinstance(b, float) and math.isnan(b)):
            # A mixed column is text: pandas' objects as Python prints them.
            if a != str(b):
                problems.append(f"{col}[{r}]: {a!r} vs {b!r}")
        elif norm(a) != norm(b):
            problems.append(f"{col}[{r}]: {a!r} vs {b!r}")
print(json.dumps({"problems": problems, "names": got.column_names,
                  "types": [str(f.type) for f in got.schema], "rows": got.num_rows}))
"#;

#[test]
fn spreadsheets_normalize_to_what_pandas_reads() {
    let cx = TestContext::new();
    let files: Vec<String> = serde_json::from_value(python_json(cx.root(), SHEETS, &[])).unwrap();
    let mut spec = String::from("name: demo\nversion: 1.0.0\nsources:\n");
    for (i, f) in files.iter().enumerate() {
        spec.push_str(&format!("  s{i}: {{uri: {f}}}\n"));
    }
    spec.push_str("stages:\n");
    // (file, sheet as given to pandas, stage)
    let mut runs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let base = stage_name(f, "");
        if f.starts_with("book") {
            spec.push_str(&format!(
                "  {base}first: {{kind: normalize, input: s{i}}}\n"
            ));
            spec.push_str(&format!(
                "  {base}second: {{kind: normalize, input: s{i}, sheet: second}}\n"
            ));
            spec.push_str(&format!(
                "  {base}index: {{kind: normalize, input: s{i}, sheet: 1}}\n"
            ));
            runs.push((f.clone(), "0", format!("{base}first")));
            runs.push((f.clone(), "second", format!("{base}second")));
            runs.push((f.clone(), "1", format!("{base}index")));
        } else {
            spec.push_str(&format!("  {base}: {{kind: normalize, input: s{i}}}\n"));
            runs.push((f.clone(), "0", base));
        }
    }
    cx.spec(&spec);
    let out = cx.run(&["build"]);
    out.success();
    for f in ["book.xlsx", "book.ods", "book.xls"] {
        out.stderr_has(&format!("`{f}` (sheet `first`): column `mixed` mixes"));
    }
    for (file, sheet, stage) in &runs {
        let v = python_json(
            cx.root(),
            COMPARE_SHEETS,
            &[file, sheet, &format!("out/demo/{stage}/part-0.parquet")],
        );
        assert_eq!(
            v["problems"],
            serde_json::json!([]),
            "{file} sheet {sheet}: {v}"
        );
        if file.starts_with("book") && *sheet == "0" {
            assert_eq!(
                v["types"],
                serde_json::json!([
                    "int64",
                    "double",
                    "int64",
                    "int64",
                    "string",
                    "bool",
                    "bool",
                    "date32[day]",
                    "timestamp[us]",
                    "string"
                ]),
                "{file}"
            );
            assert_eq!(v["rows"], 5);
        }
        if file == "offset.xlsx" {
            // The grid starts at A1, as in pandas: its empty first row is the header. pandas
            // names the empty header cells `Unnamed: 0`…; mldatabuild as for CSV.
            assert_eq!(
                v["names"],
                serde_json::json!(["column_1", "column_2", "column_3", "column_4", "column_5"])
            );
            assert_eq!(v["rows"], 4);
        }
    }
    let lock = cx.read("dataset.lock");
    for format in [
        "Excel workbook (xlsx)",
        "OpenDocument spreadsheet (ods)",
        "Excel 97-2003 workbook (xls)",
    ] {
        assert!(lock.contains(format), "{format}: {lock}");
    }
}

/// A table that compresses well: its sheet expands far past its size.
const BOMB: &str = r#"
import pandas as pd
pd.DataFrame({"a": ["same text in every row"] * 60000, "b": [1] * 60000}).to_excel("big.xlsx", index=False)
pd.DataFrame({"a": [1, 2]}).to_excel("ok.xlsx", sheet_name="data", index=False)
"#;

pub(crate) fn one_file_spec(file: &str, extra: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: {file}}}\nstages:\n  clean: {{kind: normalize, input: raw{extra}}}\n"
    )
}

pub(crate) fn fails_unrecorded(cx: &TestContext, expect: &[&str], env: &[(&str, &str)]) {
    let mut c = cx.command(&["build"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{e} not in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lock = cx.read("dataset.lock");
    assert!(
        !lock.contains("  clean:"),
        "a failed stage is not recorded: {lock}"
    );
}

#[test]
fn bad_spreadsheets_name_the_file() {
    let cx = TestContext::new();
    python_json(cx.root(), &format!("{BOMB}\nprint('[]')"), &[]);
    // A sheet that is not there: the error lists the sheets.
    cx.spec(&one_file_spec("ok.xlsx", ", sheet: Data"));
    fails_unrecorded(
        &cx,
        &["`ok.xlsx`: has no sheet `Data`; its sheets: `data`"],
        &[],
    );
    cx.spec(&one_file_spec("ok.xlsx", ", sheet: 3"));
    fails_unrecorded(
        &cx,
        &["`ok.xlsx`: has no sheet 3 (counting from 0): it has 1 sheet: `data`"],
        &[],
    );
    // A damaged (truncated) workbook.
    let bytes = cx.read_bytes("ok.xlsx");
    cx.file("cut.xlsx", &bytes[..bytes.len() / 2]);
    cx.spec(&one_file_spec("cut.xlsx", ""));
    fails_unrecorded(&cx, &["`cut.xlsx`: not a readable", "damaged"], &[]);
    // A zip bomb by the archive limits' measure.
    cx.spec(&one_file_spec("big.xlsx", ""));
    fails_unrecorded(
        &cx,
        &[
            "`big.xlsx`: expands past",
            "(a decompression bomb?)",
            "MLDATA_MAX_EXPANSION_RATIO=2",
        ],
        &[("MLDATA_MAX_EXPANSION_RATIO", "2")],
    );
    // Feather version 1 is read by its own reader (tests/it/feather1.rs), not as Arrow IPC: a
    // damaged one says so.
    cx.file(
        "old.feather",
        b"FEA1\x00\x00\x00\x00 and the rest of a v1 file FEA1",
    );
    cx.spec(&one_file_spec("old.feather", ""));
    fails_unrecorded(
        &cx,
        &["`old.feather`: a damaged Feather version 1 file"],
        &[],
    );
    // Garbage named .xls.
    cx.file(
        "junk.xls",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 not really an OLE file",
    );
    cx.spec(&one_file_spec("junk.xls", ""));
    fails_unrecorded(
        &cx,
        &["`junk.xls`: not a readable Excel 97-2003 workbook"],
        &[],
    );
    // Within the limits, the large sheet reads.
    cx.spec(&one_file_spec("big.xlsx", ""));
    cx.run(&["build"]).success().stderr_has("60000 rows");
}

/// An `.ods` whose few hundred bytes of XML repeat one cell 16,384 times across and a row a
/// million times down is refused before calamine expands it (it would hold 100 M cells, about
/// 5 GB); the count is the sheet's expanded bounding box, exact for an ordinary file.
#[test]
fn ods_cell_bombs_are_refused_before_reading() {
    let cx = TestContext::new();
    python_json(
        cx.root(),
        r#"
import zipfile, pandas as pd
pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_excel("small.ods", index=False, engine="odf")
bomb_row = ('<table:table-row table:number-rows-repeated="1000000">'
            '<table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"/>'
            '</table:table-row></table:table>')
with zipfile.ZipFile("small.ods") as src, zipfile.ZipFile("bomb.ods", "w") as dst:
    for info in src.infolist():
        data = src.read(info)
        if info.filename == "content.xml":
            data = data.decode().replace("</table:table>", bomb_row, 1).encode()
        dst.writestr(info, data, compress_type=info.compress_type)
print("[]")
"#,
        &[],
    );
    assert!(cx.read_bytes("bomb.ods").len() < 10_000);
    cx.spec(&one_file_spec("bomb.ods", ""));
    fails_unrecorded(
        &cx,
        &[
            "`bomb.ods`: sheet `Sheet1` expands to more than 20000000 cells",
            "MLDATA_MAX_SHEET_CELLS=20000000 (a spreadsheet bomb?)",
            "set MLDATA_MAX_SHEET_CELLS above",
        ],
        &[],
    );
    // The count of an ordinary sheet: a header and two rows of two columns.
    cx.spec(&one_file_spec("small.ods", ""));
    fails_unrecorded(
        &cx,
        &["`small.ods`: sheet `Sheet1` expands to more than 5 cells (6 counted"],
        &[("MLDATA_MAX_SHEET_CELLS", "5")],
    );
    cx.run(&["build"]).success().stderr_has("2 rows");
}

#[test]
fn head_reads_spreadsheets_and_text_detected_by_content() {
    let cx = TestContext::new();
    python_json(
        cx.root(),
        r#"
import pandas as pd, shutil, xlwt
df = pd.DataFrame({"n": [1, 2], "s": ["a", "b"]})
df.to_excel("a.xlsx", index=False)
df.to_excel("a.ods", index=False, engine="odf")
wb = xlwt.Workbook(); s = wb.add_sheet("x")
for c, col in enumerate(df.columns):
    s.write(0, c, col)
    for r, v in enumerate(df[col].tolist()):
        s.write(r + 1, c, v)
wb.save("a.xls")
# Misleading or missing names: content decides.
shutil.copy("a.xlsx", "xlsx-data.bin")
shutil.copy("a.ods", "ods-data")
shutil.copy("a.xls", "xls-data.dat")
print("[]")
"#,
        &[],
    );
    let mut text = String::from("first line\nsecond line\n");
    for i in 3..=20 {
        text.push_str(&format!("line {i}\n"));
    }
    cx.file("a.txt", text);
    for (file, format) in [
        ("a.xlsx", "xlsx"),
        ("a.ods", "ods"),
        ("a.xls", "xls"),
        ("xlsx-data.bin", "xlsx"),
        ("ods-data", "ods"),
        ("xls-data.dat", "xls"),
    ] {
        let out = cx.run(&["head", file, "--json"]);
        out.success();
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(
            v["rows"],
            serde_json::json!([[1, "a"], [2, "b"]]),
            "{file} ({format})"
        );
        assert_eq!(v["schema"][0]["type"], "int64", "{file}");
    }
    let out = cx.run(&["head", "a.txt", "--json", "-n", "2"]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["rows"],
        serde_json::json!([["first line"], ["second line"]])
    );
    // The other ad-hoc commands read them through the same reader.
    cx.run(&["validate", "a.xlsx", "-o", "v"]).success();
    cx.run(&["export", "a.ods", "--format", "jsonl", "-o", "e"])
        .success();
    cx.run(&["split", "a.txt", "-o", "s"]).success();
}
