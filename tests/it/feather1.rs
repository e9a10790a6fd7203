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

/// For each (Feather file, normalized Parquet) pair: whether the schemas and every value are
/// the same as pyarrow reads them.
const COMPARE: &str = r#"
import json, sys, math, warnings
import pyarrow as pa, pyarrow.feather as feather, pyarrow.parquet as pq
warnings.simplefilter("ignore")
def rows(t):
    def v(x):
        if isinstance(x, float) and math.isnan(x):
            return "NaN"
        return x
    return [{k: v(x) for k, x in r.items()} for r in t.to_pylist()]
def seconds(ty):
    # normalize's Parquet holds second-unit timestamps and times as their integers, whatever
    # the input format (Feather 2 too): a limitation of its Parquet writing, kept visible here.
    return (pa.types.is_timestamp(ty) or pa.types.is_time32(ty)) and ty.unit == "s"
def storage(t):
    cols = [c.cast(pa.int64() if pa.types.is_timestamp(f.type) else pa.int32())
            if seconds(f.type) else c for f, c in zip(t.schema, t.columns)]
    return pa.table(cols, names=t.column_names)
def expected(ty):
    if seconds(ty):
        return "int64" if pa.types.is_timestamp(ty) else "int32"
    # Dictionaries come back from normalize's Parquet as they do from Feather 2 input: string
    # levels (not large_string) without the `ordered` flag, other levels as plain values.
    if pa.types.is_dictionary(ty):
        if pa.types.is_string(ty.value_type) or pa.types.is_large_string(ty.value_type):
            return str(pa.dictionary(ty.index_type, pa.string()))
        return str(ty.value_type)
    return str(ty)
out = {}
args = sys.argv[1:]
for src, dst in zip(args[::2], args[1::2]):
    a = feather.read_table(src)
    b = pq.read_table(dst)
    sa = [(f.name, expected(f.type)) for f in a.schema]
    sb = [(f.name, str(f.type)) for f in b.schema]
    ra, rb = rows(storage(a)), rows(b)
    diff = next((i for i, (x, y) in enumerate(zip(ra, rb)) if x != y), None)
    out[src] = {"schema": sa == sb, "a_schema": sa, "b_schema": sb,
                "rows": [len(ra), len(rb)], "same": ra == rb,
                "first_diff": None if diff is None else [repr(ra[diff]), repr(rb[diff])]}
print(json.dumps(out))
"#;

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
    // Each file against its output (the compressed copy against the file it holds).
    let mut args = Vec::new();
    for n in &names {
        let src = if n == "ints2.feather.gz" {
            "ints.feather"
        } else {
            n.as_str()
        };
        args.push(src.to_owned());
        args.push(format!("out/demo/n_{}/part-0.parquet", stage(n)));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = python_json(cx.root(), COMPARE, &args);
    let forced = python_json(
        cx.root(),
        COMPARE,
        &["strings.feather", "out/demo/forced/part-0.parquet"],
    );
    assert_eq!(forced["strings.feather"]["same"], true, "{forced}");
    for n in &names {
        let src = if n == "ints2.feather.gz" {
            "ints.feather"
        } else {
            n.as_str()
        };
        let r = &v[src];
        assert_eq!(r["schema"], true, "{n}: {r}");
        assert_eq!(r["same"], true, "{n}: {r}");
    }
    assert_eq!(
        v["many.feather"]["rows"],
        serde_json::json!([200_003, 200_003])
    );
    assert_eq!(v["empty.feather"]["rows"], serde_json::json!([0, 0]));
    // Categories stay dictionaries, timestamps keep their unit and zone.
    let types = |f: &str| v[f]["b_schema"].to_string();
    assert!(types("category.feather").contains("dictionary<values=string, indices=int8"));
    assert!(types("times.feather").contains("timestamp[ns, tz=America/New_York]"));
    assert!(types("times.feather").contains("time32[ms]"));
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
