//! The `pytorch` format: a folder PyTorch code can use as it is: the data as Parquet
//! (`pytorch/data/<split>.parquet`, written by the Parquet writer), a small `loader.py` (a
//! `torch.utils.data.Dataset` over one split, and a `collate` that pads token ids) and a
//! README saying what is there and how to load it.

use std::fmt::Write as _;
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::options::ParquetOptions;
use super::parquet::ParquetWriter;
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, SplitInfo, file_err, rel,
};
use crate::stages::StageError;

/// The format's folder.
const FOLDER: &str = "pytorch";

/// The loader, with `@NAME@`, `@VERSION@` and `@SPLITS@` filled in. It imports torch only
/// where it is used, so the data part runs (and can be tested) without it.
const LOADER: &str = r#""""PyTorch loader for the `@NAME@` dataset (version @VERSION@), written by mldatabuild.

    from loader import load, collate
    from torch.utils.data import DataLoader
    batches = DataLoader(load("train"), batch_size=32, shuffle=True, collate_fn=collate)

`load(split)` is a `torch.utils.data.Dataset` over `data/<split>.parquet`: each item is a
dict of the row's columns, numeric list columns (`input_ids`, ...) as tensors. `collate` pads
`input_ids` (with `pad_id`, 0 by default) and `attention_mask` (with 0) to the longest row
of the batch. Needs pyarrow, and torch; torch is imported only where it is used.

    python loader.py [split]    # prints the split's size and its first row (as JSON)
"""

import base64
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
# Rows per split.
SPLITS = @SPLITS@
# The padding id of `input_ids` (the tokenizer's pad id).
PAD_ID = 0
# Columns `collate` pads to the batch's longest row, and the id each is padded with
# (None: `pad_id`).
PAD_COLUMNS = {"input_ids": None, "attention_mask": 0}


def path_of(split):
    """The Parquet file of a split."""
    if split not in SPLITS:
        raise KeyError(f"no split {split!r}; the splits are {', '.join(SPLITS)}")
    return os.path.join(HERE, "data", split + ".parquet")


def _numeric_list(t):
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        v = t.value_type
        return pa.types.is_integer(v) or pa.types.is_floating(v) or pa.types.is_boolean(v)
    return False


def read_rows(split="train", columns=None):
    """A split's rows as a list of dicts (plain Python values, no torch)."""
    return pq.read_table(path_of(split), columns=columns).to_pylist()


_CLASSES = {}


def _dataset_class():
    if "ParquetDataset" in _CLASSES:
        return _CLASSES["ParquetDataset"]
    import torch
    from torch.utils.data import Dataset

    class ParquetDataset(Dataset):
        """One split's rows as dicts; numeric list columns as tensors."""

        def __init__(self, split="train", columns=None):
            self.split = split
            self.table = pq.read_table(path_of(split), columns=columns)
            self.tensor_columns = [f.name for f in self.table.schema if _numeric_list(f.type)]

        def __len__(self):
            return self.table.num_rows

        def __getitem__(self, i):
            n = self.table.num_rows
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"row {i} of {n}")
            row = self.table.slice(i, 1).to_pylist()[0]
            for name in self.tensor_columns:
                if row[name] is not None:
                    row[name] = torch.tensor(row[name])
            return row

    _CLASSES["ParquetDataset"] = ParquetDataset
    return ParquetDataset


def __getattr__(name):
    # `from loader import ParquetDataset` builds the class (and imports torch) on first use.
    if name == "ParquetDataset":
        return _dataset_class()
    raise AttributeError(name)


def load(split="train", columns=None):
    """A `torch.utils.data.Dataset` over one split."""
    return _dataset_class()(split, columns)


def _as_list(v):
    return v.tolist() if hasattr(v, "tolist") else list(v)


def collate(batch, pad_id=PAD_ID):
    """Merge rows into a batch: `input_ids` and `attention_mask` padded to the longest row
    and stacked; other numbers as tensors; anything else as lists."""
    import torch

    out = {}
    for key in batch[0]:
        values = [row[key] for row in batch]
        if key in PAD_COLUMNS and all(v is not None for v in values):
            fill = pad_id if PAD_COLUMNS[key] is None else PAD_COLUMNS[key]
            lists = [_as_list(v) for v in values]
            width = max((len(v) for v in lists), default=0)
            out[key] = torch.tensor([v + [fill] * (width - len(v)) for v in lists])
        elif values and all(isinstance(v, (bool, int, float)) for v in values):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


def _plain(v):
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    return str(v)


if __name__ == "__main__":
    split = sys.argv[1] if len(sys.argv) > 1 else next(iter(SPLITS))
    ds = load(split)
    print(f"{split}: {len(ds)} rows")
    if len(ds):
        print(json.dumps(ds[0], default=_plain, ensure_ascii=False, sort_keys=False))
"#;

/// Writes `pytorch/data/<split>.parquet` through the Parquet writer, then `loader.py` and
/// `README.md`.
struct PytorchWriter {
    cx: ExportContext,
    dir: PathBuf,
    data: Box<dyn FormatWriter>,
}

pub fn create(cx: &ExportContext) -> Result<Box<dyn FormatWriter>, StageError> {
    let data = ParquetWriter::create(cx, &ParquetOptions::default(), &format!("{FOLDER}/data"))?;
    Ok(Box::new(PytorchWriter {
        dir: cx.format_dir(FOLDER)?,
        cx: cx.clone(),
        data,
    }))
}

impl FormatWriter for PytorchWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        self.data.begin_split(split)
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        self.data.write(batch)
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        self.data.end_split()
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let this = *self;
        let data = this.data.finish()?;
        let mut res = FormatResult {
            artifacts: data.artifacts,
            warnings: data.warnings,
            ..FormatResult::default()
        };
        res.facts = data.facts;
        for (file, text) in [
            ("loader.py", loader(&this.cx)),
            ("README.md", readme(&this.cx)),
        ] {
            let path = this.dir.join(file);
            std::fs::write(&path, text).map_err(|e| file_err(&path, e))?;
            res.artifacts.push(Artifact {
                path: rel(&this.cx, &path),
                rows: None,
                split: None,
            });
        }
        let dir = rel(&this.cx, &this.dir);
        res.snippet = Some(load_lines(&dir, first_split(&this.cx)));
        Ok(res)
    }
}

fn first_split(cx: &ExportContext) -> &str {
    cx.splits.first().map_or("train", |s| s.name.as_str())
}

/// The Python lines that load the export, from the folder holding `dir`.
fn load_lines(dir: &str, split: &str) -> String {
    format!(
        "import sys; sys.path.insert(0, \"{dir}\")  # the folder holding loader.py\nfrom loader import load, collate\nfrom torch.utils.data import DataLoader\nds = load(\"{split}\")\nbatches = DataLoader(ds, batch_size=32, shuffle=True, collate_fn=collate)"
    )
}

/// A Python string literal (JSON strings are valid Python strings).
fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn loader(cx: &ExportContext) -> String {
    let splits: Vec<String> = cx
        .splits
        .iter()
        .map(|s| format!("{}: {}", py_str(&s.name), s.rows))
        .collect();
    // The docstring holds the name and version: keep them free of quotes and backslashes.
    let clean = |s: &str| s.replace(['"', '\\'], "");
    LOADER
        .replace("@NAME@", &clean(&cx.dataset.name))
        .replace("@VERSION@", &clean(&cx.dataset.version))
        .replace("@SPLITS@", &format!("{{{}}}", splits.join(", ")))
}

/// A feature in a few words: `string`, `ClassLabel(neg, pos)`, `Sequence(int64)`, `Image`.
fn describe_feature(f: &Value) -> String {
    match f.get("_type").and_then(Value::as_str) {
        Some("Value") => f["dtype"].as_str().unwrap_or("?").to_owned(),
        Some("ClassLabel") => {
            let names: Vec<&str> = f["names"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!("ClassLabel({})", names.join(", "))
        }
        Some("Sequence" | "List" | "LargeList") => {
            let inner = describe_feature(&f["feature"]);
            match f.get("length").and_then(Value::as_i64) {
                Some(n) if n >= 0 => format!("Sequence({inner}, length={n})"),
                _ => format!("Sequence({inner})"),
            }
        }
        Some(other) => other.to_owned(),
        None => match f.as_object() {
            Some(o) => format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("{k}: {}", describe_feature(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => f.to_string(),
        },
    }
}

fn readme(cx: &ExportContext) -> String {
    let d = &cx.dataset;
    let mut s = format!("# {} — PyTorch\n\n", d.name);
    if !d.description.is_empty() {
        let _ = writeln!(s, "{}\n", d.description.trim());
    }
    let _ = writeln!(
        s,
        "Version {} of `{}`, written by mldatabuild (content hash `{}`).\n",
        d.version, d.name, d.content_hash
    );
    s.push_str("| file | what |\n|---|---|\n");
    for sp in &cx.splits {
        let _ = writeln!(
            s,
            "| `data/{}.parquet` | the `{}` split: {} rows |",
            sp.name, sp.name, sp.rows
        );
    }
    s.push_str("| `loader.py` | a `torch.utils.data.Dataset` over one split, and a `collate` that pads `input_ids`/`attention_mask` |\n");
    s.push_str("\n## Features\n\n| column | feature |\n|---|---|\n");
    if let Some(o) = cx.features.as_object() {
        // In table order.
        for f in cx.schema.fields() {
            if let Some(v) = o.get(f.name()) {
                let _ = writeln!(s, "| `{}` | {} |", f.name(), describe_feature(v));
            }
        }
    }
    let _ = write!(
        s,
        "\n## Load\n\nFrom the folder holding `pytorch/`:\n\n```python\n{}\n```\n\n`python pytorch/loader.py {}` prints the split's size and first row. The loader needs `pyarrow` and `torch`; without torch, `read_rows(split)` gives the rows as dicts. Numeric list columns (such as `input_ids`) come as tensors; `collate` pads `input_ids` with the tokenizer's pad id (`PAD_ID` in loader.py, 0 by default) and `attention_mask` with 0.\n",
        load_lines("pytorch", first_split(cx)),
        first_split(cx)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn features_are_described_briefly() {
        assert_eq!(
            describe_feature(&json!({"_type": "Value", "dtype": "string"})),
            "string"
        );
        assert_eq!(
            describe_feature(&json!({"_type": "ClassLabel", "names": ["neg", "pos"]})),
            "ClassLabel(neg, pos)"
        );
        assert_eq!(
            describe_feature(
                &json!({"_type": "Sequence", "feature": {"_type": "Value", "dtype": "int32"}})
            ),
            "Sequence(int32)"
        );
        assert_eq!(
            describe_feature(&json!({"a": {"_type": "Value", "dtype": "bool"}})),
            "{a: bool}"
        );
        assert_eq!(describe_feature(&json!({"_type": "Image"})), "Image");
    }

    #[test]
    fn the_loader_template_is_filled() {
        let cx = ExportContext {
            out_dir: PathBuf::from("/tmp/x"),
            dataset: super::super::writer::DatasetMeta {
                name: "demo\"".into(),
                version: "1.0.0".into(),
                ..Default::default()
            },
            schema: std::sync::Arc::new(arrow::datatypes::Schema::empty()),
            features: json!({}),
            splits: vec![
                SplitInfo {
                    name: "train".into(),
                    rows: 40,
                },
                SplitInfo {
                    name: "test".into(),
                    rows: 10,
                },
            ],
        };
        let l = loader(&cx);
        assert!(
            l.contains("SPLITS = {\"train\": 40, \"test\": 10}\n"),
            "{l}"
        );
        assert!(l.contains("`demo` dataset (version 1.0.0)"), "{l}");
        assert!(!l.contains('@'), "{l}");
    }
}
