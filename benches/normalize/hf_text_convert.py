#!/usr/bin/env python3
"""Context only: the Hugging Face `datasets` text builder to zstd Parquet.

    python hf_text_convert.py IN.txt OUT.parquet CACHE_DIR

`datasets.load_dataset("text", data_files=path, split="train", cache_dir=CACHE_DIR)` (one
`text` column, a row per line, empty lines kept as ""), then its Arrow table (memory-mapped from
the cache) to zstd Parquet with `pyarrow.parquet.write_table(ds.data.table, out,
compression="zstd")`: `Dataset.to_parquet` cannot write zstd in datasets 5.x (it passes its own
per-column `compression={...: "snappy"}` to `ParquetWriter`, so `compression="zstd"` is a
duplicate keyword argument). CACHE_DIR is emptied first, so every run builds
the Arrow cache from the text (what a first `load_dataset` costs), not a cache hit.
"""

import os
import shutil
import sys


def main() -> None:
    src, out, cache = sys.argv[1:4]
    shutil.rmtree(cache, ignore_errors=True)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    ds = datasets.load_dataset("text", data_files=src, split="train", cache_dir=cache)
    import pyarrow.parquet as pq

    pq.write_table(ds.data.table, out, compression="zstd")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
