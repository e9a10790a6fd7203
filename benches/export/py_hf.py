"""The peer of part 2: the Hugging Face `datasets` library writing the two Hugging Face layouts
of two Parquet split tables: Parquet files per split (the Hub repository layout's data) and the
`save_to_disk` folder of the DatasetDict.

    HF_HOME=... HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    python py_hf.py DATA_DIR OUT_DIR 

DATA_DIR/{train,test}.parquet -> Dataset.from_parquet (which converts into the Arrow cache under
HF_HOME, as datasets always does) -> DatasetDict ->
    OUT_DIR/hf/data/<split>.parquet  (Dataset.to_parquet, with datasets' own settings: snappy,
                                      content-defined chunking; it refuses another codec)
    OUT_DIR/hf-disk/                 (DatasetDict.save_to_disk)
Prints the seconds of each step as JSON on stdout.
"""

import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    a = ap.parse_args()
    steps = {}
    t0 = time.perf_counter()
    import datasets  # noqa: E402  (the import is part of what a user pays)

    datasets.disable_progress_bars()
    steps["import"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    dd = datasets.DatasetDict({
        split: datasets.Dataset.from_parquet(os.path.join(a.data, split + ".parquet"))
        for split in ("train", "test")
    })
    steps["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    os.makedirs(os.path.join(a.out, "hf", "data"), exist_ok=True)
    for split, ds in dd.items():
        # datasets 5 sets the codec per column itself (snappy) and writes with
        # content-defined chunking; passing compression= raises a TypeError. Its defaults it is.
        ds.to_parquet(os.path.join(a.out, "hf", "data", split + ".parquet"))
    steps["to_parquet"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    dd.save_to_disk(os.path.join(a.out, "hf-disk"))
    steps["save_to_disk"] = time.perf_counter() - t0
    print(json.dumps({k: round(v, 3) for k, v in steps.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
