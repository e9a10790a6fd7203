//! Compression codecs: every Parquet codec pyarrow writes (and Arrow IPC / Feather v2 body
//! compression) reads through `normalize` with every value equal to what pyarrow reads, and
//! every codec `export` offers round-trips through pyarrow.

use crate::context::TestContext;
use crate::python::python_json;

/// Writes `t` (ints, floats, unicode strings, nulls, booleans, a dictionary-encoded column,
/// lists, timestamps) in every codec and layout, and prints the file names.
const WRITE: &str = r#"
import json, sys, datetime
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.feather as feather
n = 300
t = pa.table({
    "id": pa.array(range(n), pa.int64()),
    "score": pa.array([None if i % 11 == 0 else i / 7 for i in range(n)], pa.float64()),
    "text": pa.array([None if i % 13 == 0 else f"row {i} é✓ «{i % 5}»" for i in range(n)]),
    "flag": pa.array([i % 2 == 0 for i in range(n)]),
    "label": pa.array(["neg" if i % 3 else "pos" for i in range(n)]).dictionary_encode(),
    "tags": pa.array([[i, i + 1] if i % 4 else [] for i in range(n)], pa.list_(pa.int64())),
    "at": pa.array([datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=i) for i in range(n)], pa.timestamp("us")),
})
names = []
for codec in ["none", "snappy", "gzip", "brotli", "lz4", "zstd"]:
    for v in ["1.0", "2.0"]:
        name = f"p-{codec}-v{v}.parquet"
        pq.write_table(t, name, compression=codec, data_page_version=v)
        names.append(name)
for codec in ["uncompressed", "lz4", "zstd"]:
    name = f"f-{codec}.feather"
    feather.write_feather(t, name, compression=codec)
    names.append(name)
print(json.dumps(names))
"#;

/// Compares a written file with normalize's output, value by value.
const COMPARE: &str = r#"
import json, sys
import pyarrow.parquet as pq, pyarrow.feather as feather
src, out = sys.argv[1], sys.argv[2]
a = feather.read_table(src) if src.endswith(".feather") else pq.read_table(src)
b = pq.read_table(out)
def rows(t):
    return [{k: (str(v) if k == "at" else v) for k, v in r.items()} for r in t.to_pylist()]
print(json.dumps({"same": rows(a) == rows(b), "a": rows(a)[:2], "b": rows(b)[:2],
                  "cols": b.column_names}))
"#;

#[test]
fn parquet_and_feather_in_every_codec_normalize_to_the_values_pyarrow_reads() {
    let cx = TestContext::new();
    let names = python_json(cx.root(), WRITE, &[]);
    let names: Vec<String> = serde_json::from_value(names).unwrap();
    assert_eq!(names.len(), 15);
    for name in &names {
        let dir = format!("p-{name}");
        let p = TestContext::new();
        std::fs::copy(cx.path(name), p.path(name)).unwrap();
        p.spec(&format!(
            "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: {name}}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n"
        ));
        p.run(&["build"]).success();
        let v = python_json(p.root(), COMPARE, &[name, "out/demo/clean/part-0.parquet"]);
        assert_eq!(v["same"], true, "{dir}: {v}");
        assert_eq!(
            v["cols"],
            serde_json::json!(["id", "score", "text", "flag", "label", "tags", "at"]),
            "{name}"
        );
    }
}

const CODECS: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = {}
for c in sys.argv[1:]:
    f = pq.ParquetFile(f"out-{c}/dataset/export/parquet/train.parquet")
    t = f.read()
    out[c] = {"codec": f.metadata.row_group(0).column(0).compression,
              "ids": sorted(t.column("id").to_pylist())}
print(json.dumps(out))
"#;

#[test]
fn every_export_parquet_codec_round_trips_through_pyarrow() {
    let cx = TestContext::new();
    cx.file("data.csv", crate::export::data(40));
    let codecs = [
        ("none", "UNCOMPRESSED"),
        ("snappy", "SNAPPY"),
        ("gzip", "GZIP"),
        // pyarrow names the LZ4_RAW codec "LZ4" in its metadata.
        ("lz4", "LZ4"),
        ("brotli", "BROTLI"),
        ("zstd", "ZSTD"),
    ];
    for (c, _) in codecs {
        cx.run(&[
            "export",
            "data.csv",
            "--format",
            "parquet",
            "--compression",
            c,
            "-o",
            &format!("out-{c}"),
        ])
        .success();
    }
    let args: Vec<&str> = codecs.iter().map(|(c, _)| *c).collect();
    let v = python_json(cx.root(), CODECS, &args);
    let ids: Vec<u64> = (0..40).collect();
    for (c, want) in codecs {
        assert_eq!(v[c]["codec"], want, "{c}: {v}");
        assert_eq!(v[c]["ids"], serde_json::json!(ids), "{c}");
    }
    // A level where the codec has none is refused with the codec's name, not Rust debug text.
    cx.file(
        "dataset.yaml",
        crate::export::spec("    formats: [parquet]\n    parquet: {compression: lz4, level: 3}\n"),
    );
    cx.run(&["build"])
        .code(2)
        .stderr_has("`parquet.level` does not apply to lz4");
}
