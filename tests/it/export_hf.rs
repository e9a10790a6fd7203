//! export: the Hugging Face layouts (`hf`, `hf-disk`) and Croissant, through the real binary,
//! read back by the real `datasets` (`load_dataset`, `load_from_disk`) and `mlcroissant`.

use std::fmt::Write as _;
use std::path::Path;

use sha2::Digest as _;

use crate::context::TestContext;
use crate::export::{data, spec};
use crate::python::python_json;
use crate::tokenize::{read_ids, texts};

/// Loads both layouts with `datasets` and the Parquet files with pyarrow; parses the README's
/// front matter with `yaml.safe_load`.
const LOAD_HF: &str = r#"
import json, sys, yaml, datasets, pyarrow.parquet as pq
root = sys.argv[1]
def feats(ds):
    out = {}
    for name, f in ds.features.items():
        if isinstance(f, datasets.ClassLabel):
            out[name] = {"type": "ClassLabel", "names": f.names}
        elif isinstance(f, (datasets.List, datasets.LargeList)):
            out[name] = {"type": "List", "item": f.feature.dtype}
        else:
            out[name] = {"type": type(f).__name__, "dtype": getattr(f, "dtype", None)}
    return out
hub = datasets.load_dataset(f"{root}/hf")
disk = datasets.load_from_disk(f"{root}/hf-disk")
readme = open(f"{root}/hf/README.md", encoding="utf-8").read()
front = yaml.safe_load(readme.split("---\n")[1])
out = {"hub_splits": list(hub.keys()), "disk_splits": list(disk.keys()), "front": front,
       "readme": readme, "hub": {}, "disk": {}}
for name, ds in [("hub", hub), ("disk", disk)]:
    for split in ds:
        out[name][split] = {"rows": ds[split].num_rows, "features": feats(ds[split]),
                            "values": ds[split].to_list()}
parquet = {}
for split in hub:
    path = f"{root}/parquet/{split}.parquet"
    try:
        parquet[split] = pq.read_table(path).to_pylist()
    except FileNotFoundError:
        pass
out["parquet"] = parquet
print(json.dumps(out, default=str))
"#;

/// Validates `croissant.json` with mlcroissant (the Python API and the `validate` command) and
/// loads every record set.
const LOAD_CROISSANT: &str = r#"
import json, os, subprocess, sys, mlcroissant as mlc
path = sys.argv[1]
cli = os.path.join(os.path.dirname(sys.executable), "mlcroissant")
v = subprocess.run([cli, "validate", "--jsonld", path], capture_output=True, text=True)
ds = mlc.Dataset(path)
issues = ds.metadata.ctx.issues
def plain(x):
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "tolist"):
        return plain(x.tolist())
    return x
records = {}
for rs in ds.metadata.record_sets:
    records[rs.uuid] = [plain(r) for r in ds.records(rs.uuid)]
print(json.dumps({"validate_code": v.returncode, "validate_err": v.stderr[-3000:],
                  "errors": sorted(issues.errors), "warnings": sorted(issues.warnings),
                  "records": records}, default=str))
"#;

fn release(cx: &TestContext) -> std::path::PathBuf {
    cx.path("out/demo/artifacts/release")
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    sha2::Sha256::digest(&bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[test]
fn hf_and_hf_disk_load_with_datasets_keeping_class_labels_and_values() {
    let cx = TestContext::new();
    cx.file("data.csv", data(50)).spec(&spec(
        "    formats: [hf, hf-disk, parquet, croissant]\n    license: cc-by-4.0\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("✓ hf ")
        .stderr_has("✓ hf-disk")
        .stderr_has("load_dataset(\"hf\")")
        .stderr_has("load_from_disk(\"hf-disk\")");
    let root = release(&cx);
    for f in [
        "hf/README.md",
        "hf/data/train-00000-of-00001.parquet",
        "hf/data/test-00000-of-00001.parquet",
        "hf-disk/dataset_dict.json",
        "hf-disk/train/data-00000-of-00001.arrow",
        "hf-disk/train/dataset_info.json",
        "hf-disk/train/state.json",
        "hf-disk/test/data-00000-of-00001.arrow",
    ] {
        assert!(root.join(f).is_file(), "{f} is missing");
    }
    // The `.arrow` files are IPC streams (continuation marker first), as save_to_disk writes.
    let arrow = std::fs::read(root.join("hf-disk/train/data-00000-of-00001.arrow")).unwrap();
    assert_eq!(&arrow[..4], &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        &arrow[arrow.len() - 8..],
        &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
    );

    let v = python_json(cx.root(), LOAD_HF, &[root.to_str().unwrap()]);
    assert_eq!(v["hub_splits"], serde_json::json!(["train", "test"]));
    assert_eq!(v["disk_splits"], serde_json::json!(["train", "test"]));
    for layout in ["hub", "disk"] {
        let l = &v[layout];
        assert_eq!(l["train"]["rows"], 40, "{layout}");
        assert_eq!(l["test"]["rows"], 10, "{layout}");
        for split in ["train", "test"] {
            let f = &l[split]["features"];
            assert_eq!(
                f["label"],
                serde_json::json!({"type": "ClassLabel", "names": ["neg", "pos"]}),
                "{layout} {split}"
            );
            assert_eq!(f["text"]["dtype"], "string", "{layout}");
            assert_eq!(f["score"]["dtype"], "float64", "{layout}");
            assert_eq!(f["id"]["dtype"], "int64", "{layout}");
            // The same rows, in the same order, as the Parquet export.
            assert_eq!(l[split]["values"], v["parquet"][split], "{layout} {split}");
        }
    }
    // Labels are class ids: `pos` (every third id) is 1.
    let first = &v["hub"]["train"]["values"][0];
    let id = first["id"].as_u64().unwrap();
    assert_eq!(first["label"], u64::from(id.is_multiple_of(3)));

    // The front matter: configs pointing at the shards, dataset_info in the YAML form.
    let front = &v["front"];
    assert_eq!(front["license"], "cc-by-4.0");
    assert_eq!(front["pretty_name"], "demo");
    assert_eq!(
        front["configs"],
        serde_json::json!([{"config_name": "default", "data_files": [
            {"split": "train", "path": "data/train-*"},
            {"split": "test", "path": "data/test-*"}
        ]}])
    );
    let info = &front["dataset_info"];
    let feats = info["features"].as_array().unwrap();
    let names: Vec<&str> = feats.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["id", "text", "label", "score", "day"]);
    assert_eq!(
        feats[2]["dtype"],
        serde_json::json!({"class_label": {"names": {"0": "neg", "1": "pos"}}})
    );
    assert_eq!(feats[1]["dtype"], "string");
    assert_eq!(info["splits"][0]["name"], "train");
    assert_eq!(info["splits"][0]["num_examples"], 40);
    assert_eq!(info["splits"][1]["num_examples"], 10);
    let train_bytes = info["splits"][0]["num_bytes"].as_u64().unwrap();
    let test_bytes = info["splits"][1]["num_bytes"].as_u64().unwrap();
    assert!(train_bytes > test_bytes && test_bytes > 0);
    assert_eq!(info["dataset_size"], train_bytes + test_bytes);
    let download: u64 = ["train", "test"]
        .iter()
        .map(|s| {
            std::fs::metadata(root.join(format!("hf/data/{s}-00000-of-00001.parquet")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(info["download_size"], download);
    // The card after it.
    let readme = v["readme"].as_str().unwrap();
    assert!(readme.contains("\n# demo\n\nA demo dataset.\n"), "{readme}");
    assert!(readme.contains("| Version | 1.2.0 |"), "{readme}");
    assert!(readme.contains("| train | 40 | 1 |"), "{readme}");
    assert!(
        readme.contains("| `label` | ClassLabel | 0 = neg, 1 = pos |"),
        "{readme}"
    );
    assert!(readme.contains("load_dataset(\"path/to/hf\")"), "{readme}");
    let lock = cx.read("dataset.lock");
    let parsed = mldatabuild::lockfile::Lock::parse(&lock, "dataset.lock").unwrap();
    let hash = parsed.stages["splits"].output_hash.as_str();
    assert!(
        readme.contains(&format!("| Content hash | `{hash}` |")),
        "{readme}"
    );

    // save_to_disk's state files.
    let dict: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/artifacts/release/hf-disk/dataset_dict.json"))
            .unwrap();
    assert_eq!(dict, serde_json::json!({"splits": ["train", "test"]}));
    let state: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/artifacts/release/hf-disk/test/state.json"))
            .unwrap();
    assert_eq!(state["_split"], "test");
    assert_eq!(
        state["_data_files"],
        serde_json::json!([{"filename": "data-00000-of-00001.arrow"}])
    );
    let fp = state["_fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
    let info: serde_json::Value = serde_json::from_str(
        &cx.read("out/demo/artifacts/release/hf-disk/train/dataset_info.json"),
    )
    .unwrap();
    assert_eq!(info["dataset_name"], "demo");
    assert_eq!(info["version"]["version_str"], "1.2.0");
    assert_eq!(info["splits"]["test"]["num_examples"], 10);
    assert_eq!(info["license"], "cc-by-4.0");
    // The lock lists every file of both layouts and the shard counts.
    assert!(
        lock.contains("artifacts/release/hf/data/train-00000-of-00001.parquet"),
        "{lock}"
    );
    assert!(
        lock.contains("artifacts/release/hf-disk/test/state.json"),
        "{lock}"
    );
    assert!(lock.contains("shards: 2"), "{lock}");
}

/// A JSON Lines file of `{id, text}` rows.
fn jsonl(texts: &[String]) -> String {
    let mut s = String::new();
    for (i, t) in texts.iter().enumerate() {
        let _ = writeln!(s, "{}", serde_json::json!({"id": i, "text": t}));
    }
    s
}

#[test]
fn token_ids_load_as_sequences_of_ints_equal_to_the_parquet_values() {
    let cx = TestContext::new();
    cx.file("data.jsonl", jsonl(&texts()))
        .file(
            "tok/bert.json",
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/tokenizers/minilm-bert/tokenizer.json"),
            )
            .unwrap(),
        )
        .spec(
            "name: demo\nversion: 1.0.0\nsources:\n  raw: {uri: data.jsonl}\nstages:\n  clean: {kind: normalize, input: raw}\n  splits: {kind: split, input: clean, ratios: {train: 0.75, test: 0.25}, seed: 3}\n  tokens: {kind: tokenize, input: splits, tokenizer: tok/bert.json, attention_mask: true}\n  release: {kind: export, input: tokens, formats: [hf, hf-disk, croissant]}\n",
        );
    cx.run(&["build"]).success().stderr_has("✓ croissant");
    let root = release(&cx);
    let v = python_json(cx.root(), LOAD_HF, &[root.to_str().unwrap()]);
    let total = texts().len() as u64;
    let mut rows = 0;
    for split in ["train", "test"] {
        // What the tokenize stage wrote, read with the Parquet reader.
        let expected = read_ids(&cx.path(&format!("out/demo/tokens/{split}.parquet")));
        assert!(!expected.is_empty());
        let from_shard = read_ids(&root.join(format!("hf/data/{split}-00000-of-00001.parquet")));
        assert_eq!(from_shard, expected, "{split}");
        for layout in ["hub", "disk"] {
            let s = &v[layout][split];
            assert_eq!(
                s["features"]["input_ids"],
                serde_json::json!({"type": "List", "item": "uint32"}),
                "{layout}"
            );
            assert_eq!(
                s["features"]["attention_mask"],
                serde_json::json!({"type": "List", "item": "uint8"}),
                "{layout}"
            );
            let values = s["values"].as_array().unwrap();
            assert_eq!(values.len(), expected.len(), "{layout} {split}");
            for (row, (id, ids)) in values.iter().zip(&expected) {
                assert_eq!(row["id"].as_u64(), *id, "{layout} {split}");
                let got: Vec<u32> = row["input_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
                    .collect();
                assert_eq!(&got, ids, "{layout} {split} row {id:?}");
                assert_eq!(
                    row["attention_mask"].as_array().unwrap().len(),
                    ids.len(),
                    "{layout}"
                );
            }
        }
        rows += expected.len() as u64;
    }
    assert_eq!(rows, total);
    // The README describes the ids as a list of uint32.
    let front = &v["front"]["dataset_info"]["features"];
    assert_eq!(
        front[1],
        serde_json::json!({"name": "input_ids", "list": "uint32"})
    );

    // Croissant falls back to the `hf` shards and types the ids as an integer array.
    let c = python_json(
        cx.root(),
        LOAD_CROISSANT,
        &[root.join("croissant/croissant.json").to_str().unwrap()],
    );
    assert_eq!(c["errors"], serde_json::json!([]), "{c}");
    let doc: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/artifacts/release/croissant/croissant.json"))
            .unwrap();
    assert_eq!(
        doc["distribution"][0]["contentUrl"],
        "../hf/data/train-00000-of-00001.parquet"
    );
    let ids_field = &doc["recordSet"][1]["field"][2];
    assert_eq!(ids_field["@id"], "train/input_ids");
    assert_eq!(ids_field["dataType"], "sc:Integer");
    assert_eq!(ids_field["isArray"], true);
    let expected = read_ids(&cx.path("out/demo/tokens/test.parquet"));
    let records = c["records"]["test"].as_array().unwrap();
    assert_eq!(records.len(), expected.len());
    for (r, (_, ids)) in records.iter().zip(&expected) {
        let got: Vec<u32> = r["test/input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
            .collect();
        assert_eq!(&got, ids);
        assert_eq!(r["test/split"], "test");
    }
}

#[test]
fn croissant_validates_with_mlcroissant_and_its_records_load() {
    let cx = TestContext::new();
    cx.file("data.csv", data(30)).spec(&spec(
        "    formats: [parquet, croissant]\n    license: mit\n    url: https://example.org/demo\n    creator: ACME Research\n",
    ));
    cx.run(&["build"])
        .success()
        .stderr_has("✓ croissant")
        .stderr_has("mlc.Dataset(\"croissant/croissant.json\")");
    let root = release(&cx);
    let path = root.join("croissant/croissant.json");
    let v = python_json(cx.root(), LOAD_CROISSANT, &[path.to_str().unwrap()]);
    assert_eq!(v["validate_code"], 0, "{}", v["validate_err"]);
    assert_eq!(v["errors"], serde_json::json!([]), "{v}");
    // Only the date is missing, on purpose: the output does not depend on the day it is built.
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .all(|w| w.as_str().unwrap().contains("datePublished")),
        "{warnings:?}"
    );
    // The split record set, and every row of each split with its split name.
    assert_eq!(
        v["records"]["splits"],
        serde_json::json!([{"splits/split_name": "train"}, {"splits/split_name": "test"}])
    );
    let pq = python_json(
        cx.root(),
        "import json, sys, pyarrow.parquet as pq\nprint(json.dumps({s: pq.read_table(f'{sys.argv[1]}/parquet/{s}.parquet').to_pylist() for s in ['train', 'test']}, default=str))",
        &[root.to_str().unwrap()],
    );
    for split in ["train", "test"] {
        let records = v["records"][split].as_array().unwrap();
        let rows = pq[split].as_array().unwrap();
        assert_eq!(records.len(), rows.len(), "{split}");
        assert!(!rows.is_empty());
        for (r, row) in records.iter().zip(rows) {
            assert_eq!(r[format!("{split}/split")], split);
            assert_eq!(r[format!("{split}/id")], row["id"]);
            assert_eq!(r[format!("{split}/text")], row["text"]);
            assert_eq!(r[format!("{split}/label")], row["label"]);
            assert_eq!(r[format!("{split}/score")], row["score"]);
            // Dates load as dates (mlcroissant gives a timestamp at midnight).
            let day = r[format!("{split}/day")].as_str().unwrap();
            assert!(
                day.starts_with(row["day"].as_str().unwrap()),
                "{day} vs {}",
                row["day"]
            );
        }
    }
    // The metadata: license as an SPDX URL, the given url and creator, each file's checksum.
    let doc: serde_json::Value =
        serde_json::from_str(&cx.read("out/demo/artifacts/release/croissant/croissant.json"))
            .unwrap();
    assert_eq!(doc["conformsTo"], "http://mlcommons.org/croissant/1.1");
    assert_eq!(doc["@type"], "sc:Dataset");
    assert_eq!(doc["license"], "https://spdx.org/licenses/MIT.html");
    assert_eq!(doc["url"], "https://example.org/demo");
    assert_eq!(doc["creator"]["name"], "ACME Research");
    assert_eq!(doc["version"], "1.2.0");
    assert!(doc.get("datePublished").is_none());
    let dist = doc["distribution"].as_array().unwrap();
    assert_eq!(dist.len(), 2);
    for (f, split) in dist.iter().zip(["train", "test"]) {
        assert_eq!(f["contentUrl"], format!("../parquet/{split}.parquet"));
        assert_eq!(f["encodingFormat"], "application/x-parquet");
        let file = root.join(format!("parquet/{split}.parquet"));
        assert_eq!(f["sha256"], sha256_hex(&file));
        assert_eq!(
            f["contentSize"],
            format!("{} B", std::fs::metadata(&file).unwrap().len())
        );
    }
    let train = &doc["recordSet"][1];
    let types: Vec<(&str, &str)> = train["field"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["@id"].as_str().unwrap(), f["dataType"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("train/split", "sc:Text"),
            ("train/id", "sc:Integer"),
            ("train/text", "sc:Text"),
            ("train/label", "sc:Integer"),
            ("train/score", "sc:Float"),
            ("train/day", "sc:Date"),
        ]
    );
    assert_eq!(
        train["field"][3]["description"],
        "Class label ids: 0 = neg, 1 = pos."
    );
}

#[test]
fn croissant_without_parquet_fails_saying_what_to_add() {
    let cx = TestContext::new();
    cx.file("data.csv", data(20))
        .spec(&spec("    formats: [jsonl, croissant]\n"));
    cx.run(&["build"])
        .code(1)
        .stderr_has(
            "croissant: croissant describes the exported Parquet files, and none were exported",
        )
        .stderr_has("add `parquet` (or `hf`) to `formats`");
    // The other format was still delivered; croissant left nothing behind.
    assert!(cx.exists("out/demo/artifacts/release/jsonl/train.jsonl"));
    assert!(!cx.exists("out/demo/artifacts/release/croissant"));
}

/// `n` rows of about 1.2 KB of text each, so that a few thousand pass 1 MB.
fn wide_data(n: usize) -> String {
    let mut s = String::from("id,text,label,score\n");
    for i in 0..n {
        let text: String = (0..200)
            .map(|j| format!("w{:04}", (i * 31 + j * 7) % 9973))
            .collect::<Vec<_>>()
            .join(" ");
        let label = if i % 2 == 0 { "pos" } else { "neg" };
        let _ = writeln!(s, "{i},{text},{label},{}.25", i % 7);
    }
    s
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

#[test]
fn shards_and_every_byte_are_the_same_across_two_builds() {
    let export = "    formats: [hf, hf-disk, parquet, croissant]\n    hf: {max_shard_size_mb: 1}\n";
    let build = || {
        let cx = TestContext::new();
        cx.file("data.csv", wide_data(3000)).spec(&spec(export));
        cx.run(&["build"]).success();
        cx
    };
    let (a, b) = (build(), build());
    let (ta, tb) = (tree(&release(&a)), tree(&release(&b)));
    let names: Vec<&str> = ta.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        tb.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    for ((n, x), (_, y)) in ta.iter().zip(&tb) {
        assert!(x == y, "{n} differs between two builds");
    }
    // About 2.9 MB of train rows: three shards of about 1 MB; test (0.7 MB) fits in one.
    let train: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("hf/data/train-"))
        .collect();
    assert_eq!(
        train,
        [
            &"hf/data/train-00000-of-00003.parquet",
            &"hf/data/train-00001-of-00003.parquet",
            &"hf/data/train-00002-of-00003.parquet"
        ]
    );
    assert!(names.contains(&"hf/data/test-00000-of-00001.parquet"));
    assert!(names.contains(&"hf-disk/train/data-00002-of-00003.arrow"));
    assert!(!names.iter().any(|n| n.contains(".partial")), "{names:?}");
    // Both loaders see every row across the shards, in the Parquet export's order.
    let root = release(&a);
    let v = python_json(a.root(), LOAD_HF, &[root.to_str().unwrap()]);
    for layout in ["hub", "disk"] {
        assert_eq!(v[layout]["train"]["rows"], 2400, "{layout}");
        assert_eq!(v[layout]["test"]["rows"], 600, "{layout}");
        assert_eq!(
            v[layout]["train"]["values"], v["parquet"]["train"],
            "{layout}"
        );
    }
    let state: serde_json::Value =
        serde_json::from_str(&a.read("out/demo/artifacts/release/hf-disk/train/state.json"))
            .unwrap();
    assert_eq!(
        state["_data_files"],
        serde_json::json!([
            {"filename": "data-00000-of-00003.arrow"},
            {"filename": "data-00001-of-00003.arrow"},
            {"filename": "data-00002-of-00003.arrow"}
        ])
    );
    // The README's front matter is YAML that Python parses to the split sizes.
    assert_eq!(
        v["front"]["dataset_info"]["splits"][0],
        serde_json::json!({"name": "train", "num_bytes": v["front"]["dataset_info"]["splits"][0]["num_bytes"], "num_examples": 2400})
    );
    assert!(
        v["front"]["dataset_info"]["splits"][0]["num_bytes"]
            .as_u64()
            .unwrap()
            > 2_000_000
    );
}

/// Writes two split tables with the real `datasets`: an Image column, a struct, a list of
/// strings, a fixed-size list of floats, a ClassLabel and a `timestamp[s]` column (which
/// Parquet can only hold as milliseconds).
const WRITE_RICH: &str = r#"
import datetime, io, sys, datasets
from PIL import Image
def png(i):
    b = io.BytesIO(); Image.new("RGB", (3, 2), (40 * i % 255, 7, 9)).save(b, "PNG"); return b.getvalue()
feats = datasets.Features({
    "id": datasets.Value("int64"), "text": datasets.Value("string"),
    "label": datasets.ClassLabel(names=["neg", "pos"]),
    "tags": datasets.List(datasets.Value("string")),
    "meta": {"score": datasets.Value("float32"), "src": datasets.Value("string")},
    "img": datasets.Image(), "ts": datasets.Value("timestamp[s]"),
    "emb": datasets.List(datasets.Value("float32"), length=3),
})
n = 12
ds = datasets.Dataset.from_dict({
    "id": list(range(n)), "text": [f"row {i}, \"q\"\nline" for i in range(n)],
    "label": [i % 2 for i in range(n)], "tags": [["a", "b"][: i % 3] for i in range(n)],
    "meta": [{"score": i / 4, "src": None if i == 3 else "x"} for i in range(n)],
    "img": [{"bytes": png(i), "path": None} for i in range(n)],
    "ts": [datetime.datetime(2024, 1, 1 + i, 12, 30, 5) for i in range(n)],
    "emb": [[i, i + 0.5, -1.0] for i in range(n)]}, features=feats)
ds.select(range(9)).to_parquet(f"{sys.argv[1]}/train.parquet")
ds.select(range(9, n)).to_parquet(f"{sys.argv[1]}/test.parquet")
"#;

/// Loads the source tables and both exported layouts with `datasets`: features as text and
/// rows with images as (size, mode) and timestamps as ISO strings.
const LOAD_RICH: &str = r#"
import json, sys, datasets
src, out = sys.argv[1], sys.argv[2]
def rows(ds):
    res = []
    for r in ds:
        r = dict(r)
        r["img"] = [list(r["img"].size), r["img"].mode]
        r["ts"] = r["ts"].isoformat()
        res.append(r)
    return res
source = datasets.load_dataset("parquet", data_files={"train": f"{src}/train.parquet",
                                                     "test": f"{src}/test.parquet"})
layouts = {"hub": datasets.load_dataset(f"{out}/hf"), "disk": datasets.load_from_disk(f"{out}/hf-disk")}
res = {"source": {s: rows(source[s]) for s in source}}
for name, d in layouts.items():
    res[name] = {"features": {k: str(v) for k, v in d["train"].features.items()},
                 "rows": {s: rows(d[s]) for s in d}}
print(json.dumps(res))
"#;

/// A table `datasets` wrote itself (images, structs, fixed-size lists, class labels, second
/// timestamps) goes through `mldatabuild export` and loads back with `load_dataset` and
/// `load_from_disk`: the same rows, the features `datasets` declared (the seconds unit kept,
/// although Parquet stored milliseconds).
#[test]
fn a_table_written_by_datasets_round_trips_through_both_layouts() {
    let cx = TestContext::new();
    let input = cx.path("in");
    std::fs::create_dir_all(&input).unwrap();
    crate::python::run_python(cx.root(), WRITE_RICH, &[input.to_str().unwrap()]);
    cx.run(&["export", "in", "--format", "hf,hf-disk", "-o", "out"])
        .success();
    let out = cx.path("out/dataset/export");
    let v = python_json(
        cx.root(),
        LOAD_RICH,
        &[input.to_str().unwrap(), out.to_str().unwrap()],
    );
    for layout in ["hub", "disk"] {
        let f = &v[layout]["features"];
        assert_eq!(f["ts"], "Value('timestamp[s]')", "{layout}: {f}");
        assert_eq!(f["label"], "ClassLabel(names=['neg', 'pos'])", "{layout}");
        assert_eq!(f["img"], "Image(mode=None, decode=True)", "{layout}");
        assert_eq!(f["emb"], "List(Value('float32'), length=3)", "{layout}");
        assert_eq!(
            f["meta"], "{'score': Value('float32'), 'src': Value('string')}",
            "{layout}"
        );
        assert_eq!(v[layout]["rows"], v["source"], "{layout}");
    }
    assert_eq!(v["source"]["train"].as_array().unwrap().len(), 9);
    assert_eq!(
        v["source"]["test"][0]["img"],
        serde_json::json!([[3, 2], "RGB"])
    );
    assert_eq!(v["source"]["test"][0]["ts"], "2024-01-10T12:30:05");
}

/// Every Parquet table the stages and `export` write carries its features where `datasets`
/// reads them (the Arrow schema stored in the file), so a plain `Dataset.from_parquet` of any
/// of them keeps the ClassLabel names.
#[test]
fn every_parquet_written_keeps_class_labels_for_datasets() {
    let cx = TestContext::new();
    let tokenizer = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizers/minilm-bert/tokenizer.json");
    cx.file("data.csv", data(60))
        .file("tok.json", std::fs::read(tokenizer).unwrap())
        .spec(&format!(
            "{}    formats: [parquet, hf]\n  checked: {{kind: validate, input: splits}}\n  tokens: {{kind: tokenize, input: splits, tokenizer: tok.json, max_length: 8}}\n",
            spec("")
        ));
    cx.run(&["build"]).success();
    let v = python_json(
        cx.root(),
        r#"
import glob, json, datasets, pyarrow.parquet as pq
datasets.disable_progress_bars()
out = {}
for f in sorted(glob.glob("out/demo/**/*.parquet", recursive=True)):
    label = datasets.Dataset.from_parquet(f).features.get("label")
    out[f] = label.names if isinstance(label, datasets.ClassLabel) else repr(label)
print(json.dumps(out))
"#,
        &[],
    );
    let files = v.as_object().unwrap();
    for stage in [
        "clean/",
        "splits/",
        "checked/",
        "tokens/",
        "artifacts/release/parquet/",
        "artifacts/release/hf/",
    ] {
        assert!(
            files.keys().any(|f| f.contains(stage)),
            "no Parquet file under {stage}: {v}"
        );
    }
    for (f, label) in files {
        assert_eq!(label, &serde_json::json!(["neg", "pos"]), "{f}: {v}");
    }
}
