#!/usr/bin/env python3
"""The peer: exact dedup + 80/10/10 split the way a pyarrow user would write it.

    python pyarrow_dedup_split.py DATA_DIR OUT_DIR [--seed 42]

Read the whole dataset, drop exact duplicates with `Table.group_by(all columns).aggregate([])`
(pyarrow's idiom for distinct rows), shuffle with a seeded permutation, slice 80/10/10 and
write train/validation/test Parquet files (pyarrow's defaults: snappy). Prints one JSON line
(row counts, seconds per phase) on stdout, and each phase as it starts on stderr, so a run
killed for memory shows where it was.

Note: `group_by` with threads (the default) returns groups in a thread-dependent order, so the
split is not reproducible run to run; that is part of what a user gets from this approach.
"""

import json
import os
import sys
import time

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main():
    src, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 42
    t0 = time.time()
    phases = {}

    def phase(name):
        phases[name] = round(time.time() - t0, 2)
        print(f"[{time.time() - t0:7.1f} s] {name}", file=sys.stderr, flush=True)

    phase("read")
    table = ds.dataset(src, format="parquet").to_table()
    rows = table.num_rows
    phase("dedup (group_by all columns)")
    table = table.group_by(table.column_names).aggregate([])
    unique = table.num_rows
    phase("shuffle")
    table = table.take(np.random.default_rng(seed).permutation(unique))
    phase("write")
    os.makedirs(out, exist_ok=True)
    n_train = int(unique * 0.8)
    n_val = int(unique * 0.1)
    parts = {
        "train": table.slice(0, n_train),
        "validation": table.slice(n_train, n_val),
        "test": table.slice(n_train + n_val),
    }
    for name, part in parts.items():
        pq.write_table(part, os.path.join(out, f"{name}.parquet"))
    phase("done")
    print(json.dumps({
        "rows": rows,
        "unique": unique,
        "dropped": rows - unique,
        "splits": {k: v.num_rows for k, v in parts.items()},
        "phases": phases,
        "seconds": round(time.time() - t0, 2),
    }))


if __name__ == "__main__":
    main()
