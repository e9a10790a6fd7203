//! Feather version 1 (`FEA1`), as pyarrow's `write_feather(..., version=1)` and pandas'
//! `to_feather(..., version=1)` write it: every type the format has, normalized through the
//! real binary with every value and type compared to what `pyarrow.feather.read_table` reads;
//! damaged files fail naming the file, with nothing recorded.

use crate::context::TestContext;
use crate::python::python_json;
use crate::readers::{fails_unrecorded, one_file_spec};

/// Writes one Feather version 1 file per case and prints their names.
const WRITE: &str = r#"
import json, gzip, shutil, warnings, datetime
import pyarrow as pa, pyarrow.feather as feather, pandas as pd
warnings.simplefilter("ignore")
def write(name, t):
    feather.write_feather(t, name, version=1)
    names.append(name)
names = []
n = 37
def nulls(values, every):
    return [None if i % every == 1 else v for i, v in enumerate(values)]
ints = {}
for ty, lo, hi in [(pa.int8(), -128, 127), (pa.int16(), -2**15, 2**15 - 1),
                   (pa.int32(), -2**31, 2**31 - 1), (pa.int64(), -2**63, 2**63 - 1),
                   (pa.uint8(), 0, 255), (pa.uint16(), 0, 2**16 - 1),
                   (pa.uint32(), 0, 2**32 - 1), (pa.uint64(), 0, 2**64 - 1)]:
    vals = [lo, hi] + [lo + (hi - lo) // n * i for i in range(n - 2)]
    ints[str(ty)] = pa.array(vals, ty)
    ints[str(ty) + "_nulls"] = pa.array(nulls(vals, 3), ty)
write("ints.feather", pa.table(ints))
floats = [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e-300, 3.4e38]
floats = floats + [i / 7 for i in range(n - len(floats))]
write("floats.feather", pa.table({
    "f32": pa.array(floats, pa.float32()), "f32_nulls": pa.array(nulls(floats, 4), pa.float32()),
    "f64": pa.array(floats, pa.float64()), "f64_nulls": pa.array(nulls(floats, 4), pa.float64()),
}))
write("bools.feather", pa.table({
    "b": pa.array([i % 3 == 0 for i in range(13)]),
    "b_nulls": pa.array(nulls([i % 2 == 0 for i in range(13)], 5)),
    "all_null": pa.array([None] * 13, pa.bool_()),
}))
texts = ["", "a", "é✓ «x»", "日本語", "line\nbreak", "tab\there", "x" * 1000] * 5
write("strings.feather", pa.table({
    "s": pa.array(texts), "s_nulls": pa.array(nulls(texts, 3)),
    "bin": pa.array([t.encode() for t in texts]),
    "bin_nulls": pa.array(nulls([t.encode() + b"\x00\xff" for t in texts], 4)),
    "none": pa.array([None] * len(texts)),
}))
write("large.feather", pa.table({
    "ls": pa.array(nulls(texts, 3), pa.large_string()),
    "lb": pa.array(nulls([t.encode() for t in texts], 2), pa.large_binary()),
}))
cats = pd.DataFrame({
    "plain": pd.Categorical(nulls(["red", "green", "blue", "green"] * 10, 7)),
    "ordered": pd.Categorical(["lo", "hi", "mid", "lo"] * 10, categories=["lo", "mid", "hi"], ordered=True),
    "many": pd.Categorical([f"level {i % 300}" for i in range(40)]),
})
cats.to_feather("category.feather", version=1)
names.append("category.feather")
write("dictionary.feather", pa.table({
    "ints": pa.array(nulls([i % 4 for i in range(30)], 5)).dictionary_encode(),
    "strs": pa.array(nulls([f"k{i % 3}" for i in range(30)], 6)).dictionary_encode(),
}))
base = datetime.datetime(2024, 2, 29, 23, 59, 58)
stamps = nulls([base + datetime.timedelta(seconds=i * 3601, microseconds=i) for i in range(n)], 6)
write("times.feather", pa.table({
    "ns": pa.array(stamps, pa.timestamp("ns")),
    "ns_tz": pa.array(stamps, pa.timestamp("ns", tz="America/New_York")),
    "us_utc": pa.array(stamps, pa.timestamp("us", tz="UTC")),
    "ms": pa.array(stamps, pa.timestamp("ms")),
    "s_offset": pa.array(stamps, pa.timestamp("s", tz="+05:30")),
    "date": pa.array(nulls([datetime.date(1900 + i * 5, 1 + i % 12, 1 + i % 28) for i in range(n)], 4), pa.date32()),
    "time_s": pa.array(nulls([i * 2333 for i in range(n)], 5), pa.time32("s")),
    "time_ms": pa.array(nulls([i * 2333001 for i in range(n)], 5), pa.time32("ms")),
}))
write("empty.feather", pa.table({
    "i": pa.array([], pa.int64()), "s": pa.array([], pa.string()),
    "c": pa.array([], pa.string()).dictionary_encode(), "t": pa.array([], pa.timestamp("ns")),
}))
m = 200_003
write("many.feather", pa.table({
    "id": pa.array(range(m), pa.int64()),
    "score": pa.array([None if i % 11 == 0 else i / 3 for i in range(m)], pa.float64()),
    "text": pa.array([None if i % 13 == 0 else f"row {i} é" * (i % 4) for i in range(m)]),
    "flag": pa.array([None if i % 17 == 0 else i % 2 == 0 for i in range(m)]),
    "label": pa.array([["neg", "pos", "mid"][i % 3] for i in range(m)]).dictionary_encode(),
    "small": pa.array([i % 100 - 50 for i in range(m)], pa.int8()),
}))
pandas = pd.DataFrame({
    "id": range(25),
    "x": [None if i % 4 == 0 else i * 0.5 for i in range(25)],
    "n": pd.array([None if i % 5 == 0 else i for i in range(25)], dtype="Int64"),
    "name": [None if i % 6 == 0 else f"name {i}" for i in range(25)],
    "when": pd.date_range("2020-01-01", periods=25, freq="37h"),
    "when_tz": pd.date_range("2020-03-28", periods=25, freq="5h", tz="Europe/Paris"),
    "ok": [i % 3 == 0 for i in range(25)],
    "kind": pd.Categorical(["a", "b", None, "c", "a"] * 5),
})
pandas.to_feather("pandas.feather", version=1)
names.append("pandas.feather")
# Content wins over the name, and a compressed file is read too.
shutil.copy("strings.feather", "named.arrow")
names.append("named.arrow")
with open("ints.feather", "rb") as src, gzip.open("ints2.feather.gz", "wb") as dst:
    shutil.copyfileobj(src, dst)
names.append("ints2.feather.gz")
print(json.dumps(names))
"#;

/// Each (Feather file, normalized Parquet) pair compared as the Parquet/Arrow conformance
/// suite compares them: types by the documented mapping, every value exactly, the features.
const COMPARE: &str = include_str!("conformance/compare.py");

fn stage(file: &str) -> String {
    file.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[test]
fn feather_v1_files_normalize_to_what_pyarrow_reads() {
    let cx = TestContext::new();
    let names: Vec<String> = serde_json::from_value(python_json(cx.root(), WRITE, &[])).unwrap();
    assert_eq!(names.len(), 13);
    let mut spec = String::from("name: demo\nversion: 1.0.0\nsources:\n");
    for n in &names {
        spec.push_str(&format!("  {}: {{uri: {n}}}\n", stage(n)));
    }
    spec.push_str("stages:\n");
    for n in &names {
        let s = stage(n);
        spec.push_str(&format!("  n_{s}: {{kind: normalize, input: {s}}}\n"));
    }
    // `format: arrow` (what a `.feather` name suggests) reads a Feather version 1 file too.
    spec.push_str("  forced: {kind: normalize, input: named_arrow, format: arrow}\n");
    cx.spec(&spec);
    let out = cx.run(&["build"]);
    out.success();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    // Each file against its output; the compressed copy and the `format: arrow` stage in a
    // second call (the answer is keyed by input file).
    let mut pairs = Vec::new();
    let mut again = Vec::new();
    for n in &names {
        let out = cx.path(&format!("out/demo/n_{}/part-0.parquet", stage(n)));
        if n == "ints2.feather.gz" {
            again.push(serde_json::json!([cx.path("ints.feather"), out]));
        } else {
            pairs.push(serde_json::json!([cx.path(n), out]));
        }
    }
    again.push(serde_json::json!([
        cx.path("strings.feather"),
        cx.path("out/demo/forced/part-0.parquet")
    ]));
    let mut differ = Vec::new();
    for (list, expected) in [(pairs, 12), (again, 2)] {
        let v = python_json(
            cx.root(),
            COMPARE,
            &[&serde_json::Value::Array(list).to_string()],
        );
        let answers = v.as_object().unwrap();
        assert_eq!(answers.len(), expected, "{v}");
        differ.extend(
            answers
                .iter()
                .filter(|(_, d)| !d.is_null())
                .map(|(f, d)| format!("{f}: {d}")),
        );
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // The big and the empty file, and the types that pyarrow's Parquet keeps: categories
    // decoded to their values, timestamps with their unit and zone (seconds as milliseconds).
    let info = python_json(
        cx.root(),
        r#"
import json, pyarrow.parquet as pq
out = {}
for stage in ["n_many_feather", "n_empty_feather", "n_category_feather", "n_times_feather"]:
    f = pq.ParquetFile(f"out/demo/{stage}/part-0.parquet")
    out[stage] = [f.metadata.num_rows, str(f.schema_arrow)]
print(json.dumps(out))
"#,
        &[],
    );
    assert_eq!(info["n_many_feather"][0], 200_003, "{info}");
    assert_eq!(info["n_empty_feather"][0], 0, "{info}");
    let types = |s: &str| info[s][1].as_str().unwrap().to_owned();
    assert!(
        !types("n_category_feather").contains("dictionary"),
        "{info}"
    );
    assert!(
        types("n_times_feather").contains("timestamp[ns, tz=America/New_York]"),
        "{info}"
    );
    assert!(
        types("n_times_feather").contains("timestamp[ms, tz=+05:30]"),
        "{info}"
    );
    assert!(types("n_times_feather").contains("time32[ms]"), "{info}");
    // The report names the format.
    let manifest = cx.read("out/demo/manifest.yaml");
    assert!(manifest.contains("Feather version 1"), "{manifest}");
}

#[test]
fn head_shows_a_feather_v1_file() {
    let cx = TestContext::new();
    python_json(
        cx.root(),
        r#"
import warnings, pyarrow as pa, pyarrow.feather as feather
warnings.simplefilter("ignore")
feather.write_feather(pa.table({"id": [1, 2, 3], "name": ["ann", None, "cy"],
                                "c": pa.array(["x", "y", "x"]).dictionary_encode()}),
                      "old.feather", version=1)
print("[]")
"#,
        &[],
    );
    let out = cx.run(&["head", "old.feather", "--json"]);
    out.success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["rows"],
        serde_json::json!([[1, "ann", "x"], [2, null, "y"], [3, "cy", "x"]]),
        "{v}"
    );
}

/// Damages a good file in several ways and prints the names.
const DAMAGE: &str = r#"
import json, struct, warnings
import pyarrow as pa, pyarrow.feather as feather
warnings.simplefilter("ignore")
# Two int64 columns of 1000 rows: the second's data starts at byte 8 + 8000 = 8008.
feather.write_feather(pa.table({"a": pa.array(range(1000), pa.int64()),
                                "b": pa.array(range(1000), pa.int64())}), "good.feather", version=1)
data = open("good.feather", "rb").read()
size = len(data)
meta_len = struct.unpack("<I", data[-8:-4])[0]
meta = data[size - 8 - meta_len:size - 8]
def put(name, b):
    open(name, "wb").write(b)
put("cut.feather", data[:size // 2])
put("cut-tail.feather", data[:-1])
put("huge-meta.feather", data[:-8] + struct.pack("<I", 0xFFFFFFF0) + b"FEA1")
put("shifted-meta.feather", data[:-8] + struct.pack("<I", meta_len + 64) + b"FEA1")
at = struct.pack("<q", 8008)
assert meta.count(at) == 1, meta.count(at)
forged = meta.replace(at, struct.pack("<q", 1 << 40))
put("far-column.feather", data[:size - 8 - meta_len] + forged + data[-8:])
near = meta.replace(at, struct.pack("<q", size - 8 - meta_len - 100))
put("overlapping-column.feather", data[:size - 8 - meta_len] + near + data[-8:])
print(json.dumps(["cut.feather", "cut-tail.feather", "huge-meta.feather",
                  "shifted-meta.feather", "far-column.feather", "overlapping-column.feather"]))
"#;

#[test]
fn damaged_feather_v1_files_fail_naming_the_file() {
    let cx = TestContext::new();
    let names: Vec<String> = serde_json::from_value(python_json(cx.root(), DAMAGE, &[])).unwrap();
    // The good file reads.
    cx.spec(&one_file_spec("good.feather", ""));
    cx.run(&["build"]).success().stderr_has("1000");
    for n in &names {
        let other = TestContext::new();
        std::fs::copy(cx.path(n), other.path(n)).unwrap();
        other.spec(&one_file_spec(n, ""));
        let want = format!("`{n}`: a damaged Feather version 1 file");
        fails_unrecorded(&other, &[&want], &[]);
    }
    // The column limit holds for Feather too.
    let wide = TestContext::new();
    std::fs::copy(cx.path("good.feather"), wide.path("good.feather")).unwrap();
    wide.spec(&one_file_spec("good.feather", ""));
    fails_unrecorded(
        &wide,
        &["`good.feather` has 2 columns", "MLDATA_MAX_COLUMNS=1"],
        &[("MLDATA_MAX_COLUMNS", "1")],
    );
    // `head` says the same, with exit code 2 (bad input), and never panics.
    let out = cx.run(&["head", "far-column.feather"]);
    out.code(2)
        .stderr_has("`far-column.feather`: a damaged Feather version 1 file");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
