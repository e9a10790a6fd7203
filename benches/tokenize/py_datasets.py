"""Peer (d): the Python path users would otherwise write, end to end.

    python py_datasets.py DATA_DIR TOKENIZER_JSON OUT_PARQUET OUT_JSON [--keep-text]

`datasets.load_dataset("parquet", data_files=...)` (into a cache folder: HF_DATASETS_CACHE,
fresh per run, so the conversion to Arrow is real work) -> `.map(lambda b: tok(b["text"]),
batched=True, remove_columns=["text"])` with `transformers.PreTrainedTokenizerFast(
tokenizer_file=...)` (the fast, Rust-backed tokenizer; no model download) -> `.to_parquet(...)`.
`remove_columns=["text"]` makes the output what mldatabuild writes (id + input_ids, plus the
attention_mask the tokenizer call returns) and spares Python rewriting the text twice;
`--keep-text` keeps it (the literal one-liner). Phases are timed from the first line of the
script (imports included); the process's wall time is measured outside too.
"""

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import datasets  # noqa: E402
import transformers  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("tokenizer")
    ap.add_argument("out_parquet")
    ap.add_argument("out_json")
    ap.add_argument("--keep-text", action="store_true")
    a = ap.parse_args()
    t_import = time.perf_counter()

    files = sorted(glob.glob(os.path.join(a.data, "*.parquet")))
    ds = datasets.load_dataset("parquet", data_files=files, split="train",
                               cache_dir=os.environ.get("HF_DATASETS_CACHE"))
    t_load = time.perf_counter()

    tok = PreTrainedTokenizerFast(tokenizer_file=a.tokenizer)
    out = ds.map(lambda b: tok(b["text"]), batched=True,
                 remove_columns=None if a.keep_text else ["text"])
    t_map = time.perf_counter()

    out.to_parquet(a.out_parquet)
    t_write = time.perf_counter()

    res = {
        "tool": "python-datasets",
        "datasets": datasets.__version__,
        "transformers": transformers.__version__,
        "keep_text": a.keep_text,
        "rows": len(out),
        "columns": out.column_names,
        "import_s": round(t_import - T0, 3),
        "load_s": round(t_load - t_import, 3),
        "map_s": round(t_map - t_load, 3),
        "write_s": round(t_write - t_map, 3),
        "total_s": round(t_write - T0, 3),
        "work_s": round(t_write - t_import, 3),
    }
    with open(a.out_json, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
