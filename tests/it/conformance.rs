//! Conformance with the columnar files people bring: every Parquet, Arrow IPC and Feather v2
//! variant pyarrow, pandas and polars write (conformance/write.py: codecs, page and format
//! versions, encodings, INT96, decimals, dictionaries, nested types, string views, every
//! temporal unit and time zone, every integer width, float16, nulls everywhere, empty files,
//! many row groups, pandas indexes, polars defaults), plus Hadoop-framed LZ4 written here,
//! goes through the real `normalize` and comes out with every value equal to what pyarrow reads
//! from the input, in the types docs/stages.md promises, with Hugging Face features `datasets`
//! takes (conformance/compare.py). `head PATH --json` shows the same values. Damaged files
//! fail with an error in words, and nothing is recorded.

use std::path::Path;
use std::sync::Arc;

use crate::context::TestContext;
use crate::python::python_json;

const WRITE: &str = include_str!("conformance/write.py");
const COMPARE: &str = include_str!("conformance/compare.py");

/// A Parquet file whose pages are LZ4 in the Hadoop framing (codec `LZ4`, the one pyarrow no
/// longer writes: it writes `LZ4_RAW`). The parquet crate's `LZ4` writer frames every page as
/// Hadoop's Lz4Codec does (big-endian uncompressed and compressed sizes, then the block), the
/// layout of parquet-testing's `hadoop_lz4_compressed.parquet`; pyarrow reads it back below.
fn write_hadoop_lz4(path: &Path) {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let n = 3000;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n))),
        (
            "text",
            Arc::new(
                (0..n)
                    .map(|i| (i % 7 != 1).then(|| format!("hadoop lz4 row {} é✓", i % 97)))
                    .collect::<StringArray>(),
            ),
        ),
        (
            "score",
            Arc::new(
                (0..n)
                    .map(|i| (i % 5 != 1).then_some(i as f64 / 3.0))
                    .collect::<Float64Array>(),
            ),
        ),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::LZ4)
        .set_data_page_row_count_limit(500)
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

const CODEC: &str = r"
import json, sys
import pyarrow.parquet as pq
md = pq.ParquetFile(sys.argv[1]).metadata
print(json.dumps(sorted({md.row_group(g).column(c).compression
                         for g in range(md.num_row_groups) for c in range(md.num_columns)})))
";

/// Normalize `name` (a file in `from`) in a project of its own; returns the output's path.
fn normalize(from: &TestContext, name: &str, failures: &mut Vec<String>) -> Option<TestContext> {
    let p = TestContext::new();
    std::fs::copy(from.path(name), p.path(name)).unwrap();
    p.spec(&format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: {name}}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    ));
    let out = p.run(&["build"]);
    if out.code != 0 {
        failures.push(format!("{name}: build failed:\n{}", out.stderr));
        return None;
    }
    Some(p)
}

#[test]
fn every_parquet_arrow_and_feather_variant_normalizes_to_the_values_pyarrow_reads() {
    let cx = TestContext::new();
    let names: Vec<String> = serde_json::from_value(python_json(cx.root(), WRITE, &[])).unwrap();
    write_hadoop_lz4(&cx.path("codec-lz4-hadoop.parquet"));
    // The deprecated LZ4 codec in the footer (pyarrow, which reads it, names it "UNKNOWN").
    let reader = parquet::file::reader::SerializedFileReader::new(
        std::fs::File::open(cx.path("codec-lz4-hadoop.parquet")).unwrap(),
    )
    .unwrap();
    let meta = parquet::file::reader::FileReader::metadata(&reader);
    assert!(
        meta.row_groups()
            .iter()
            .flat_map(parquet::file::metadata::RowGroupMetaData::columns)
            .all(|c| c.compression() == parquet::basic::Compression::LZ4)
    );
    let codec = python_json(cx.root(), CODEC, &["codec-lz4-hadoop.parquet"]);
    assert_eq!(codec, serde_json::json!(["UNKNOWN"]), "{codec}");
    let names: Vec<String> = names
        .into_iter()
        .chain(["codec-lz4-hadoop.parquet".to_owned()])
        .collect();
    assert!(names.len() >= 75, "{} variants", names.len());
    let mut failures = Vec::new();
    let mut projects = Vec::new();
    let mut pairs = Vec::new();
    for name in &names {
        if let Some(p) = normalize(&cx, name, &mut failures) {
            pairs.push(serde_json::json!([
                cx.path(name),
                p.path("out/demo/clean/part-0.parquet")
            ]));
            projects.push(p);
        }
    }
    let pairs = serde_json::Value::Array(pairs).to_string();
    let result = python_json(cx.root(), COMPARE, &[&pairs]);
    for (src, problem) in result.as_object().unwrap() {
        if !problem.is_null() {
            let name = Path::new(src).file_name().unwrap().to_string_lossy();
            failures.push(format!("{name}: {}", problem.as_str().unwrap_or_default()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} variants differ from what pyarrow reads:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

/// `head PATH --json`'s rows against pyarrow's values, under the JSON mapping docs/commands.md
/// describes: floats that are not finite as strings, decimals as exact strings, binary as hex,
/// maps as [key, value] pairs, temporal values as ISO 8601 text.
const HEAD_COMPARE: &str = r#"
import base64, datetime as dt, decimal, json, math, sys
import pandas as pd, pyarrow as pa, pyarrow.feather as feather, pyarrow.ipc as ipc, pyarrow.parquet as pq

def read(path):
    if path.endswith(".parquet"):
        return pq.read_table(path)
    if path.endswith(".arrows"):
        return ipc.open_stream(path).read_all()
    return feather.read_table(path)

def same(x, y):
    """x: pyarrow's value, y: head's JSON value."""
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, bool):
        return y is x
    if isinstance(x, float):
        if math.isnan(x):
            return y == "NaN"
        if math.isinf(x):
            return y == ("Infinity" if x > 0 else "-Infinity")
        return isinstance(y, (int, float)) and not isinstance(y, bool) and float(y) == x and math.copysign(1, float(y)) == math.copysign(1, x)
    if isinstance(x, int):
        return type(y) is int and y == x
    if isinstance(x, decimal.Decimal):
        return isinstance(y, str) and decimal.Decimal(y) == x and str(decimal.Decimal(y)) == str(x)
    if isinstance(x, str):
        return y == x
    if isinstance(x, bytes):
        return y == x.hex()
    if isinstance(x, dict):
        return isinstance(y, dict) and sorted(x) == sorted(y) and all(same(x[k], y[k]) for k in x)
    if isinstance(x, list) and x and isinstance(x[0], tuple):  # a map
        return isinstance(y, list) and len(x) == len(y) and all(same(k, a) and same(v, b) for (k, v), (a, b) in zip(x, y))
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    if isinstance(x, (pd.Timestamp, dt.datetime)):
        got = pd.Timestamp(y)
        if x.tzinfo is None:
            return got.tzinfo is None and got == pd.Timestamp(x)
        return got.tzinfo is not None and got == pd.Timestamp(x) and got.utcoffset() == pd.Timestamp(x).utcoffset()
    if isinstance(x, dt.date):
        return y == x.isoformat()
    if isinstance(x, dt.time):
        return dt.time.fromisoformat(y[:15]) == x.replace(microsecond=x.microsecond) if len(y) <= 15 else y.startswith(x.isoformat())
    if isinstance(x, (pd.Timedelta, dt.timedelta)):
        return pd.Timedelta(y) == pd.Timedelta(x)
    return False

out = {}
for path, head_json in json.loads(sys.argv[1]):
    t = read(path)
    v = json.loads(head_json)
    rows = t.slice(0, len(v["rows"])).to_pylist()
    problem = None
    if [c["name"] for c in v["schema"]] != t.column_names:
        problem = f"columns {[c['name'] for c in v['schema']]}, pyarrow reads {t.column_names}"
    for r, (want, got) in enumerate(zip(rows, v["rows"])):
        for name, y in zip(t.column_names, got):
            if problem is None and not same(want[name], y):
                problem = f"row {r} column {name}: pyarrow reads {want[name]!r}, head shows {y!r}"
    if problem is None and len(v["rows"]) != min(t.num_rows, 40):
        problem = f"{len(v['rows'])} rows shown"
    out[path] = problem
print(json.dumps(out))
"#;

#[test]
fn head_json_shows_the_values_pyarrow_reads() {
    let cx = TestContext::new();
    let names: Vec<String> = serde_json::from_value(python_json(cx.root(), WRITE, &[])).unwrap();
    let some = [
        "scalars.parquet",
        "strings.arrow",
        "dicts.parquet",
        "temporal.parquet",
        "temporal.arrow",
        "decimals.parquet",
        "nested.parquet",
        "views.arrows",
        "int96-pandas.parquet",
        "pandas-named-index.parquet",
        "polars-default.parquet",
        "polars-ipc-zstd.feather",
    ];
    let mut pairs = Vec::new();
    for name in some {
        assert!(names.iter().any(|n| n == name), "{name} is not written");
        let out = cx.run(&["head", name, "--json", "-n", "40"]);
        out.success();
        pairs.push(serde_json::json!([cx.path(name), out.stdout.trim()]));
    }
    let pairs = serde_json::Value::Array(pairs).to_string();
    let result = python_json(cx.root(), HEAD_COMPARE, &[&pairs]);
    let failures: Vec<String> = result
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| !p.is_null())
        .map(|(f, p)| format!("{f}: {}", p.as_str().unwrap_or_default()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A build that must fail on a damaged input: exit code 1 (a stage failed on its input), the
/// file named, the words expected, no Rust debug text, and nothing recorded or left behind.
fn damaged(name: &str, data: &[u8], expect: &[&str]) {
    let cx = TestContext::new();
    cx.file(name, data).spec(&format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: {name}}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
    ));
    let out = cx.run(&["build"]);
    out.code(1).stderr_has(&format!("`{name}`"));
    for e in expect {
        out.stderr_has(e);
    }
    for bad in [
        "panicked",
        "Disabled feature",
        "Some(",
        "Error {",
        "Custom {",
        "kind:",
    ] {
        assert!(!out.stderr.contains(bad), "{bad:?} in:\n{}", out.stderr);
    }
    assert!(!cx.exists("out/demo/clean"), "no partial output for {name}");
    if cx.exists("dataset.lock") {
        assert!(
            !cx.read("dataset.lock").contains("  clean:"),
            "a failed stage is not recorded"
        );
    }
    // `head` on the same file: the same kind of message, exit code 2 (bad input).
    let head = cx.run(&["head", name]);
    head.code(2).stderr_has(&format!("`{name}`"));
    assert!(!head.stderr.contains("panicked"), "{}", head.stderr);
}

/// Files for the damaged-input tests, written by pyarrow.
const WRITE_DAMAGED: &str = r#"
import gzip, io, json
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.feather as feather
n = 5000
t = pa.table({"id": pa.array(range(n), pa.int64()),
              "text": pa.array([f"row {i} with some text to compress {i * 7919 % 10007}" for i in range(n)])})
pq.write_table(t, "ok.parquet", compression="zstd", use_dictionary=False)
feather.write_feather(t, "ok.feather", compression="zstd")
import csv
with open("ok.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "text"])
    for i in range(n):
        w.writerow([i, f"row {i} with some text {i * 7919 % 10007}"])
print(json.dumps(True))
"#;

fn damaged_inputs() -> TestContext {
    let cx = TestContext::new();
    python_json(cx.root(), WRITE_DAMAGED, &[]);
    cx
}

#[test]
fn damaged_parquet_footer_is_an_error_in_words() {
    let cx = damaged_inputs();
    let pq = cx.read_bytes("ok.parquet");
    // The last bytes (footer length and magic) are missing: a download cut short.
    damaged(
        "cut.parquet",
        &pq[..pq.len() - 3],
        &["footer", "cut short", "download or write it again"],
    );
}

#[test]
fn damaged_parquet_zstd_page_is_an_error_in_words() {
    let cx = damaged_inputs();
    let mut pq = cx.read_bytes("ok.parquet");
    // Every zstd frame starts with 28 b5 2f fd: damage the first page's frame after its magic
    // (the frame header and the first block), so the page no longer decompresses.
    let magic = [0x28, 0xb5, 0x2f, 0xfd];
    let at = pq
        .windows(4)
        .position(|w| w == magic)
        .expect("a zstd frame");
    for b in &mut pq[at + 4..at + 12] {
        *b ^= 0xff;
    }
    damaged(
        "bad-page.parquet",
        &pq,
        &[
            "has damaged data",
            "does not decompress",
            "download or write it again",
        ],
    );
}

#[test]
fn truncated_arrow_ipc_file_is_an_error_in_words() {
    let cx = damaged_inputs();
    let f = cx.read_bytes("ok.feather");
    damaged(
        "cut.feather",
        &f[..f.len() / 2],
        &["is not a complete Arrow IPC (Feather v2) file", "cut short"],
    );
}

#[test]
fn bad_zstd_frame_in_a_compressed_csv_is_an_error_in_words() {
    let cx = damaged_inputs();
    let csv = cx.read_bytes("ok.csv");
    let mut z = zstd::encode_all(&csv[..], 3).unwrap();
    let mid = z.len() / 2;
    for b in &mut z[mid..mid + 16] {
        *b ^= 0x5a;
    }
    damaged(
        "data.csv.zst",
        &z,
        &["zstd", "damaged", "download or write it again"],
    );
}

/// Folders written with hive-style partitions by pandas (`partition_cols`), polars
/// (`partition_by`) and pyarrow (`write_dataset`, with a null and an escaped value): their
/// `key=value` folders are columns, typed and valued as `pyarrow.parquet.read_table` reads
/// them (dictionaries decoded); polars' files, which hold the keys themselves, as polars reads
/// them. `export PATH` of such a folder keeps them too.
#[test]
fn hive_partitioned_folders_read_as_pyarrow_reads_them() {
    let cx = TestContext::new();
    python_json(
        cx.root(),
        r#"
import pandas as pd, polars as pl, pyarrow as pa, pyarrow.dataset as ds
df = pd.DataFrame({"v": [1.5, 2.5, 3.5, 4.5], "year": [2020, 2020, 2021, 2021],
                   "city": ["Paris", "São Paulo", "Paris", "a/b"]})
df.to_parquet("pandas", partition_cols=["year", "city"])
pl.from_pandas(df).write_parquet("polars", partition_by=["year"])
t = pa.table({"v": [1, 2, 3], "region": ["north", None, "a b"]})
ds.write_dataset(t, "arrow", format="parquet", partitioning=["region"], partitioning_flavor="hive")
print("[]")
"#,
        &[],
    );
    let mut spec = String::from("name: demo\nversion: 1.0.0\nsources:\n");
    for d in ["pandas", "polars", "arrow"] {
        spec.push_str(&format!("  {d}: {{uri: {d}}}\n"));
    }
    spec.push_str("stages:\n");
    for d in ["pandas", "polars", "arrow"] {
        spec.push_str(&format!("  n_{d}: {{kind: normalize, input: {d}}}\n"));
    }
    cx.spec(&spec);
    let out = cx.run(&["build"]);
    out.success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    cx.run(&["export", "pandas", "--format", "parquet", "-o", "exported"])
        .success();
    let v = python_json(
        cx.root(),
        r#"
import glob, json, pyarrow as pa, pyarrow.parquet as pq
def plain(t):
    # The canonical types normalize writes: dictionaries decoded, large strings plain.
    cols = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in t.columns]
    cols = [c.cast(pa.string()) if pa.types.is_large_string(c.type) else c for c in cols]
    return pa.table(cols, names=t.column_names)
out = {}
import polars as pl
for d in ["pandas", "polars", "arrow"]:
    # polars writes the keys into the files too, which pyarrow refuses to merge with the
    # folders' (int64 against int32); polars reads the files' columns.
    want = plain(pl.read_parquet(f"{d}/**/*.parquet", hive_partitioning=True).to_arrow()
                 if d == "polars" else pq.read_table(d))
    got = pq.read_table(f"out/demo/n_{d}/part-0.parquet")
    key = lambda r: json.dumps(r, sort_keys=True, default=str)
    out[d] = {"want": str(want.schema.remove_metadata()), "got": str(got.schema.remove_metadata()),
              "same": sorted(map(key, want.to_pylist())) == sorted(map(key, got.to_pylist())),
              "rows": got.num_rows}
exported = pq.read_table(glob.glob("exported/**/*.parquet", recursive=True))
out["exported"] = sorted(exported.column_names)
print(json.dumps(out))
"#,
        &[],
    );
    for d in ["pandas", "polars", "arrow"] {
        assert_eq!(v[d]["want"], v[d]["got"], "{d}: {v}");
        assert_eq!(v[d]["same"], true, "{d}: {v}");
    }
    assert_eq!(v["pandas"]["rows"], 4, "{v}");
    assert_eq!(v["arrow"]["rows"], 3, "{v}");
    assert_eq!(
        v["exported"],
        serde_json::json!(["city", "v", "year"]),
        "{v}"
    );
}
