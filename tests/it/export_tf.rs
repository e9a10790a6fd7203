//! export: TFRecord, WebDataset and PyTorch folders through the real binary, read back by the
//! `tfrecord` and `webdataset` Python packages, Python's `gzip` and `tarfile`, and the
//! exported loader.py; unsupported columns, bad keys, and byte-for-byte determinism.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::context::TestContext;
use crate::python::{python, python_json};

/// The expected values of row `i` of [`data`], as the readers should give them back.
fn row(i: i64) -> Value {
    let text = if i % 11 == 0 {
        Value::Null
    } else if i % 7 == 0 {
        json!(format!("café {i}, “quoted”"))
    } else {
        json!(format!("row {i}"))
    };
    let score = if i % 13 == 0 {
        Value::Null
    } else {
        json!((i % 8) as f64 * 0.25)
    };
    let len = 1 + i % 4;
    json!({
        "id": i,
        "text": text,
        "label": i % 2,
        "score": score,
        "delta": i - 25,
        "input_ids": (0..len).map(|k| 100 + i * 10 + k).collect::<Vec<_>>(),
        "attention_mask": vec![1; len as usize],
    })
}

/// `n` rows as JSON Lines: an int id, a text (null every 11th row), an int label (a
/// ClassLabel through normalize), a float score (null every 13th), a negative-or-positive
/// int, and two list columns (token ids and their mask, of lengths 1 to 4).
fn data(n: i64) -> String {
    lines((0..n).map(row))
}

/// JSON Lines of `values`.
fn lines(values: impl IntoIterator<Item = Value>) -> String {
    let mut s = String::new();
    for v in values {
        let _ = writeln!(s, "{v}");
    }
    s
}

/// A spec: normalize (label as a ClassLabel) → split (train 0.8, test 0.2) → `export`.
fn spec(export: &str) -> String {
    format!(
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.jsonl}}\nstages:\n  clean: {{kind: normalize, input: raw, class_labels: {{label: [neg, pos]}}}}\n  splits: {{kind: split, input: clean, ratios: {{train: 0.8, test: 0.2}}, seed: 1}}\n  release:\n    kind: export\n    input: splits\n{export}"
    )
}

const RELEASE: &str = "out/demo/artifacts/release";

/// A project with 50 rows built with `export` options; returns the context.
fn built(export: &str, args: &[&str]) -> TestContext {
    let cx = TestContext::new();
    cx.file("data.jsonl", data(50)).spec(&spec(export));
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    cx.run(&a).success();
    cx
}

fn fake_torch() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export/tf/fake_torch")
}

/// Every row of every split equals the input row with its id; the splits hold 40 and 10
/// rows and every id once.
#[track_caller]
fn assert_rows(splits: &Value, what: &str) {
    let mut ids = Vec::new();
    for (split, n) in [("train", 40), ("test", 10)] {
        let rows = splits[split]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no split {split}"));
        assert_eq!(rows.len(), n, "{what} {split}");
        for r in rows {
            let id = r["id"].as_i64().unwrap();
            assert_eq!(r, &row(id), "{what} {split}");
            ids.push(id);
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..50).collect::<Vec<_>>(), "{what}");
}

/// Read the TFRecord files with the `tfrecord` package (and check the framing and encoding
/// independently: both CRCs in pure Python, and protobuf's deterministic serialization of
/// each parsed Example equal to the record's bytes, so map entries are sorted).
const READ_TFRECORD: &str = r#"
import gzip, json, os, struct, sys, tempfile
from tfrecord.reader import tfrecord_loader
from tfrecord import example_pb2

root, gz = sys.argv[1], sys.argv[2] == "gzip"
schema = json.load(open(f"{root}/tfrecord/schema.json"))

TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    TABLE.append(c)

def masked(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def check_framing(raw):
    n, pos = 0, 0
    while pos < len(raw):
        head = raw[pos:pos + 8]
        (length,) = struct.unpack("<Q", head)
        (crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        assert crc == masked(head), f"length crc of record {n}"
        data = raw[pos + 12:pos + 12 + length]
        (crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
        assert crc == masked(data), f"data crc of record {n}"
        ex = example_pb2.Example()
        ex.ParseFromString(data)
        assert ex.SerializeToString(deterministic=True) == data, f"record {n} is not canonical"
        pos += 16 + length
        n += 1
    return n

def plain(r):
    def one(a, cast):
        return None if len(a) == 0 else cast(a[0])
    text = r["text"]
    return {
        "id": one(r["id"], int),
        "text": text.decode("utf-8") if isinstance(text, bytes) else None,
        "label": one(r["label"], int),
        "score": one(r["score"], float),
        "delta": one(r["delta"], int),
        "input_ids": [int(x) for x in r["input_ids"]],
        "attention_mask": [int(x) for x in r["attention_mask"]],
    }

out = {"rows": {}, "records": {}, "headers": {}, "schema": schema}
tmp = tempfile.mkdtemp()
for split, info in schema["splits"].items():
    out["rows"][split] = []
    for name in info["files"]:
        path = f"{root}/tfrecord/{name}"
        raw = open(path, "rb").read()
        if gz:
            out["headers"][name] = list(raw[:10])
            raw = gzip.decompress(raw)
            path = os.path.join(tmp, name[:-3])
            open(path, "wb").write(raw)
        out["records"][name] = check_framing(raw)
        for r in tfrecord_loader(path, None, schema["description"]):
            out["rows"][split].append(plain(r))
print(json.dumps(out))
"#;

/// What the WebDataset shards hold: samples as the `webdataset` package decodes them, and
/// every member's header as `tarfile` reads it.
const READ_WEBDATASET: &str = r#"
import json, sys, tarfile
import webdataset as wds

root = sys.argv[1]
info = json.load(open(f"{root}/webdataset/_info.json"))
out = {"info": info, "samples": {}, "members": {}, "magic": {}, "by_pattern": {}}
for split, s in info["splits"].items():
    urls = [f"{root}/webdataset/{n}" for n in s["shards"]]
    out["samples"][split] = [
        {k: v for k, v in x.items() if k in ("__key__", "__url__") or not k.startswith("__")}
        for x in wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode()
    ]
    for x in out["samples"][split]:
        x["__url__"] = x["__url__"].rsplit("/", 1)[-1]
    brace = f"{root}/webdataset/{s['pattern']}"
    out["by_pattern"][split] = sum(1 for _ in wds.WebDataset(brace, shardshuffle=False))
    out["members"][split] = []
    for u in urls:
        with open(u, "rb") as f:
            out["magic"][u.rsplit("/", 1)[-1]] = f.read(512)[257:265].decode("latin1")
        with tarfile.open(u) as t:
            for m in t.getmembers():
                out["members"][split].append([m.name, m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname, m.isfile()])
print(json.dumps(out))
"#;

#[test]
fn tfrecord_read_by_the_tfrecord_package_equals_the_input() {
    let cx = built(
        "    formats: [tfrecord]\n    tfrecord: {shard_rows: 15}\n",
        &[],
    );
    let root = cx.path(RELEASE);
    let v = python_json(cx.root(), READ_TFRECORD, &[root.to_str().unwrap(), "none"]);
    assert_rows(&v["rows"], "tfrecord");
    // 40 train rows in files of 15: 3 files, named -0000i-of-00003.
    assert_eq!(
        v["records"],
        json!({
            "train-00000-of-00003.tfrecord": 15,
            "train-00001-of-00003.tfrecord": 15,
            "train-00002-of-00003.tfrecord": 10,
            "test-00000-of-00001.tfrecord": 10,
        })
    );
    let schema = &v["schema"];
    assert_eq!(schema["splits"]["train"]["rows"], 40);
    assert_eq!(schema["splits"]["train"]["file_rows"], json!([15, 15, 10]));
    let feature = |name: &str| {
        schema["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no feature {name} in {schema}"))
            .clone()
    };
    let text = feature("text");
    assert_eq!(text["kind"], "bytes_list");
    assert_eq!(text["length"], 1);
    // Rows 0, 11, 22, 33, 44 have a null text: empty lists, counted.
    assert_eq!(text["nulls"], 5);
    assert_eq!(text["tf"], "tf.io.VarLenFeature(tf.string)");
    let ids = feature("input_ids");
    assert_eq!(ids["kind"], "int64_list");
    assert_eq!(ids["length"], "variable");
    assert_eq!(ids["arrow_type"], "List(Int64)");
    let score = feature("score");
    assert_eq!(score["kind"], "float_list");
    assert_eq!(score["arrow_type"], "Float64");
    assert_eq!(score["nulls"], 4);
    let label = feature("label");
    assert_eq!(label["tf"], "tf.io.FixedLenFeature([], tf.int64)");
    assert_eq!(
        schema["hf_features"]["label"],
        json!({"_type": "ClassLabel", "names": ["neg", "pos"]})
    );
    assert_eq!(schema["description"]["text"], "byte");
    assert_eq!(schema["description"]["score"], "float");
    // The lock lists the files with their rows.
    let lock = cx.read("dataset.lock");
    assert!(
        lock.contains("artifacts/release/tfrecord/train-00002-of-00003.tfrecord"),
        "{lock}"
    );
}

#[test]
fn gzip_tfrecord_is_whole_file_gzip_read_by_python_gzip_and_the_same_reader() {
    let cx = built(
        "    formats: [tfrecord]\n    tfrecord: {compression: gzip, shard_rows: 15}\n",
        &[],
    );
    let root = cx.path(RELEASE);
    assert!(cx.exists(&format!(
        "{RELEASE}/tfrecord/train-00000-of-00003.tfrecord.gz"
    )));
    assert!(!cx.exists(&format!("{RELEASE}/tfrecord/train-00000-of-00003.tfrecord")));
    let v = python_json(cx.root(), READ_TFRECORD, &[root.to_str().unwrap(), "gzip"]);
    assert_rows(&v["rows"], "tfrecord.gz");
    assert_eq!(v["records"]["train-00002-of-00003.tfrecord.gz"], 10);
    assert_eq!(v["schema"]["compression"], "gzip");
    // A deterministic header: magic, deflate, no flags (no file name), mtime 0.
    for (name, h) in v["headers"].as_object().unwrap() {
        let h: Vec<u64> = h
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(&h[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "{name}");
    }
}

#[test]
fn webdataset_read_by_the_webdataset_package_and_tarfile() {
    let cx = built(
        "    formats: [webdataset]\n    webdataset: {shard_rows: 15}\n",
        &[],
    );
    let root = cx.path(RELEASE);
    let v = python_json(cx.root(), READ_WEBDATASET, &[root.to_str().unwrap()]);
    let info = &v["info"];
    assert_eq!(
        info["splits"]["train"],
        json!({
            "samples": 40,
            "shards": ["train-000000.tar", "train-000001.tar", "train-000002.tar"],
            "shard_samples": [15, 15, 10],
            "pattern": "train-{000000..000002}.tar",
        })
    );
    assert_eq!(info["splits"]["test"]["pattern"], "test-000000.tar");
    assert_eq!(
        info["members"],
        json!({"id": "json", "text": "txt", "label": "cls", "score": "json", "delta": "json",
               "input_ids": "json", "attention_mask": "json"})
    );
    // The brace pattern names every shard.
    assert_eq!(v["by_pattern"], json!({"train": 40, "test": 10}));
    let mut ids = Vec::new();
    for (split, n) in [("train", 40), ("test", 10)] {
        let samples = v["samples"][split].as_array().unwrap();
        assert_eq!(samples.len(), n, "{split}");
        for (i, s) in samples.iter().enumerate() {
            // Keys are the row numbers within the split; shards cut every 15 samples.
            assert_eq!(s["__key__"], format!("{i:09}"));
            assert_eq!(s["__url__"], format!("{split}-{:06}.tar", i / 15));
            let id = s["id.json"].as_i64().unwrap();
            ids.push(id);
            let want = row(id);
            // Decoded by extension: .txt a string, .cls an int, .json a value; a null
            // leaves its member out.
            match want["text"].as_str() {
                Some(t) => assert_eq!(s["text.txt"], t),
                None => assert!(s.get("text.txt").is_none(), "{s}"),
            }
            assert_eq!(s["label.cls"], want["label"]);
            assert_eq!(
                s.get("score.json"),
                want.get("score").filter(|x| !x.is_null())
            );
            assert_eq!(s["delta.json"], want["delta"]);
            assert_eq!(s["input_ids.json"], want["input_ids"]);
            assert_eq!(s["attention_mask.json"], want["attention_mask"]);
        }
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
    // tarfile: ustar headers, read-only, owned by bigdata, mtime 0; members sorted within
    // each sample, samples in order.
    for m in v["magic"].as_object().unwrap().values() {
        assert_eq!(m, "ustar\u{0}00");
    }
    let members = v["members"]["train"].as_array().unwrap();
    assert_eq!(
        members[0],
        json!([
            "000000000.attention_mask.json",
            0o444,
            0,
            0,
            0,
            "bigdata",
            "bigdata",
            true
        ])
    );
    let names: Vec<&str> = members.iter().map(|m| m[0].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    for m in members {
        assert_eq!(
            &m.as_array().unwrap()[1..],
            &[
                json!(0o444),
                json!(0),
                json!(0),
                json!(0),
                json!("bigdata"),
                json!("bigdata"),
                json!(true)
            ]
        );
    }
}

#[test]
fn webdataset_key_column_names_samples_and_a_duplicate_names_the_row() {
    let cx = TestContext::new();
    // Row 7 repeats row 3's name.
    let rows = lines((0..10).map(|i| {
        let name = if i == 7 { 3 } else { i };
        json!({"name": format!("n{name}"), "text": format!("t{i}")})
    }));
    let yaml = |key: &str| {
        format!(
            "name: demo\nversion: 1.0.0\nsources:\n  raw: {{uri: data.jsonl}}\nstages:\n  clean: {{kind: normalize, input: raw}}\n  release: {{kind: export, input: clean, formats: [webdataset], webdataset: {{key: {key}}}}}\n"
        )
    };
    cx.file("data.jsonl", &rows).spec(&yaml("name"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("webdataset.key: row 7 of split `train` has `name` = `n3`, which an earlier row of the split already has")
        .stderr_has("leave out `key`");
    assert!(!cx.exists(&format!("{RELEASE}/webdataset")));
    assert!(!cx.read("dataset.lock").contains("release"));

    // Unique keys name the samples.
    let unique = lines((0..10).map(|i| json!({"name": format!("n{i}"), "text": format!("t{i}")})));
    cx.file("data.jsonl", &unique);
    cx.run(&["build"]).success();
    let root = cx.path(RELEASE);
    let v = python_json(cx.root(), READ_WEBDATASET, &[root.to_str().unwrap()]);
    let samples = v["samples"]["train"].as_array().unwrap();
    assert_eq!(samples.len(), 10);
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s["__key__"], format!("n{i}"));
        assert_eq!(s["text.txt"], format!("t{i}"));
        assert_eq!(s["name.txt"], format!("n{i}"));
    }
    assert_eq!(v["info"]["key"], "the value of column `name`");

    // A key holding a `.` would split member names differently: refused, naming the row.
    let dotted = lines((0..3).map(|i| json!({"name": format!("n.{i}"), "text": "t"})));
    cx.file("data.jsonl", &dotted);
    cx.run(&["build"])
        .code(1)
        .stderr_has("row 0 of split `train` has `name` = `n.0`, which cannot be a key");
    // An unknown key column is named, with the columns.
    cx.spec(&yaml("nmae"));
    cx.run(&["build"])
        .code(1)
        .stderr_has("webdataset.key: no column `nmae` in the table")
        .stderr_has("`name`");
}

#[test]
fn a_struct_column_fails_tfrecord_alone_and_the_other_formats_are_delivered() {
    let cx = TestContext::new();
    let rows = lines((0..20).map(|i| json!({"id": i, "meta": {"a": i, "b": "x"}})));
    cx.file("data.jsonl", rows).file(
        "dataset.yaml",
        "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: data.jsonl}\nstages:\n  clean: {kind: normalize, input: raw}\n  release: {kind: export, input: clean, formats: [tfrecord, webdataset, pytorch]}\n",
    );
    cx.run(&["build"])
        .code(1)
        .stderr_has("1 of 3 formats failed")
        .stderr_has("tfrecord: column `meta` of type Struct(")
        .stderr_has("cannot be a tf.train.Example feature: structs have no flat form")
        .stderr_has("normalize `drop: [meta]`");
    // The failed format leaves nothing; the others are in the dataset folder.
    assert!(!cx.exists(&format!("{RELEASE}/tfrecord")));
    assert!(cx.exists(&format!("{RELEASE}/webdataset/train-000000.tar")));
    assert!(cx.exists(&format!("{RELEASE}/pytorch/loader.py")));
    assert!(cx.exists(&format!("{RELEASE}/pytorch/data/train.parquet")));
    // The struct went into WebDataset as JSON.
    let root = cx.path(RELEASE);
    let v = python_json(cx.root(), READ_WEBDATASET, &[root.to_str().unwrap()]);
    let first = &v["samples"]["train"][0];
    assert_eq!(first["meta.json"], json!({"a": 0, "b": "x"}));
    // The stage is not recorded.
    let lock = cx.read("dataset.lock");
    let parsed = mldatabuild::lockfile::Lock::parse(&lock, "dataset.lock").unwrap();
    assert!(parsed.stages.contains_key("clean"));
    assert!(!parsed.stages.contains_key("release"), "{lock}");
}

#[test]
fn pytorch_loader_runs_with_a_stand_in_torch_and_the_readme_counts_rows() {
    let cx = built("    formats: [pytorch]\n", &[]);
    let root = cx.path(RELEASE);
    // `python loader.py test` prints the split's size and its first row.
    let out = std::process::Command::new(python())
        .current_dir(&root)
        .arg("pytorch/loader.py")
        .arg("test")
        .env("PYTHONPATH", fake_torch())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("test: 10 rows"));
    let first: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let id = first["id"].as_i64().unwrap();
    assert_eq!(first, row(id));
    // It is the first row of the split's Parquet file.
    let pq = python_json(
        &root,
        "import json, pyarrow.parquet as pq; print(json.dumps(pq.read_table('pytorch/data/test.parquet').slice(0, 1).to_pylist()[0]))",
        &[],
    );
    assert_eq!(pq, first);

    // The data part needs no torch; the Dataset gives tensors for numeric lists; `collate`
    // pads token ids with the pad id and masks with 0.
    let v = python_json(
        &root,
        r#"
import json, sys
sys.path.insert(0, "pytorch")
import loader
rows = loader.read_rows("train")
no_torch = "torch" not in sys.modules
sys.path.insert(0, sys.argv[1])
ds = loader.load("train")
items = [ds[i] for i in range(4)]
print(json.dumps({
    "no_torch": no_torch,
    "rows": len(rows),
    "len": len(ds),
    "same": rows[0] == {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in ds[0].items()},
    "types": {k: type(v).__name__ for k, v in items[0].items()},
    "ids": [x["id"] for x in items],
    "batch": loader.collate(items),
    "padded": loader.collate([
        {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "label": 1},
        {"input_ids": [4], "attention_mask": [1], "label": 0},
    ], pad_id=9),
    "class": type(ds).__mro__[1].__module__,
}))
"#,
        &[fake_torch().to_str().unwrap()],
    );
    assert_eq!(v["no_torch"], true);
    assert_eq!(v["rows"], 40);
    assert_eq!(v["len"], 40);
    assert_eq!(v["same"], true);
    assert_eq!(v["class"], "torch.utils.data");
    assert_eq!(v["types"]["input_ids"], "Tensor");
    assert_eq!(v["types"]["attention_mask"], "Tensor");
    assert_eq!(v["types"]["label"], "int");
    assert_eq!(
        v["padded"],
        json!({"input_ids": [[1, 2, 3], [4, 9, 9]], "attention_mask": [[1, 1, 1], [1, 0, 0]], "label": [1, 0]})
    );
    let ids: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let rows: Vec<Value> = ids.iter().map(|&i| row(i)).collect();
    let width = rows
        .iter()
        .map(|r| r["input_ids"].as_array().unwrap().len())
        .max()
        .unwrap();
    let pad = |r: &Value, key: &str| {
        let mut l = r[key].as_array().unwrap().clone();
        l.resize(width, json!(0));
        Value::Array(l)
    };
    let batch = &v["batch"];
    assert_eq!(
        batch["input_ids"],
        Value::Array(rows.iter().map(|r| pad(r, "input_ids")).collect())
    );
    assert_eq!(
        batch["attention_mask"],
        Value::Array(rows.iter().map(|r| pad(r, "attention_mask")).collect())
    );
    assert_eq!(
        batch["label"],
        Value::Array(rows.iter().map(|r| r["label"].clone()).collect())
    );
    assert_eq!(
        batch["text"],
        Value::Array(rows.iter().map(|r| r["text"].clone()).collect())
    );

    let readme = cx.read(&format!("{RELEASE}/pytorch/README.md"));
    assert!(
        readme.contains("| `data/train.parquet` | the `train` split: 40 rows |"),
        "{readme}"
    );
    assert!(
        readme.contains("| `data/test.parquet` | the `test` split: 10 rows |"),
        "{readme}"
    );
    assert!(
        readme.contains("| `label` | ClassLabel(neg, pos) |"),
        "{readme}"
    );
    assert!(
        readme.contains("| `input_ids` | Sequence(int64) |"),
        "{readme}"
    );
    assert!(
        readme.contains("from loader import load, collate"),
        "{readme}"
    );
}

#[test]
fn the_snippets_say_how_to_load_each_format() {
    let cx = TestContext::new();
    cx.file("data.jsonl", data(50)).spec(&spec(
        "    formats: [tfrecord, webdataset, pytorch]\n    webdataset: {shard_rows: 15}\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("✓ tfrecord")
        .stderr_has("✓ webdataset")
        .stderr_has("✓ pytorch")
        .stderr_has("\"label\": tf.io.FixedLenFeature([], tf.int64),")
        .stderr_has("files = tf.io.gfile.glob(\"tfrecord/train-*.tfrecord\")")
        .stderr_has("wds.WebDataset(\"webdataset/train-{000000..000002}.tar\", shardshuffle=False).decode()")
        .stderr_has("ds = load(\"train\")");
}

/// Every file under `dir`, relative, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn two_builds_write_the_same_bytes() {
    let export = "    formats: [tfrecord, webdataset, pytorch]\n    tfrecord: {compression: gzip, shard_rows: 7}\n    webdataset: {shard_rows: 7}\n";
    let a = built(export, &["--jobs", "1"]);
    let b = built(export, &["--jobs", "2"]);
    let (fa, fb) = (files(&a.path(RELEASE)), files(&b.path(RELEASE)));
    let names: Vec<&str> = fa.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        fb.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    // 40 + 10 rows in files of 7: 6 + 2 shards per format, plus the sidecars.
    assert!(
        names.contains(&"tfrecord/train-00005-of-00006.tfrecord.gz"),
        "{names:?}"
    );
    assert!(names.contains(&"webdataset/test-000001.tar"), "{names:?}");
    assert!(names.contains(&"pytorch/loader.py"), "{names:?}");
    assert_eq!(names.len(), 8 + 1 + 8 + 1 + 4, "{names:?}");
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between the two builds");
    }
}

/// A valid PNG of `w`×`h` black pixels.
fn png(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let raw: Vec<u8> = (0..h)
        .flat_map(|_| std::iter::once(0).chain(std::iter::repeat_n(0, 3 * w as usize)))
        .collect();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn webdataset_writes_image_bytes_under_their_extension() {
    let cx = TestContext::new();
    let (cat, dog) = (png(2, 2), png(3, 1));
    cx.file("imgs/cat/1.png", &cat)
        .file("imgs/dog/2.PNG", &dog)
        .spec("name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: imgs}\nstages:\n  clean: {kind: normalize, input: raw, format: imagefolder, embed_media: true}\n  release: {kind: export, input: clean, formats: [webdataset]}\n");
    cx.run(&["build"]).success();
    let v = python_json(
        cx.root(),
        "
import base64, json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    print(json.dumps({m.name: base64.b64encode(t.extractfile(m).read()).decode() for m in t.getmembers()}))
",
        &[cx.path(&format!("{RELEASE}/webdataset/train-000000.tar"))
            .to_str()
            .unwrap()],
    );
    let b64 = |b: &[u8]| {
        use base64::Engine as _;
        json!(base64::engine::general_purpose::STANDARD.encode(b))
    };
    // The Image feature's bytes, named by the path's extension (lowercased); the folder
    // label as a class id.
    assert_eq!(v["000000000.image.png"], b64(&cat));
    assert_eq!(v["000000001.image.png"], b64(&dog));
    assert_eq!(v["000000000.label.cls"], b64(b"0"));
    assert_eq!(v["000000001.label.cls"], b64(b"1"));
    assert_eq!(v["000000000.width.json"], b64(b"2"));

    // Without the bytes in the table there is no image to write: a warning says so.
    cx.spec("name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: imgs}\nstages:\n  clean: {kind: normalize, input: raw, format: imagefolder}\n  release: {kind: export, input: clean, formats: [webdataset]}\n");
    cx.run(&["build"])
        .success()
        .stderr_has("column `image`: 2 image(s) have no bytes in the table (only a path)")
        .stderr_has("`embed_media: true`");
}
