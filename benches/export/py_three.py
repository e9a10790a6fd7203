"""The peer of part 1: what a user writes with pyarrow (and pandas for JSON Lines) to export two
Parquet split tables to Parquet, JSON Lines and CSV, one format after another.

    python py_three.py DATA_DIR OUT_DIR [--zstd-level 3] [--row-group-size 100000]

Writes OUT_DIR/{parquet,jsonl,csv}/<split>.{parquet,jsonl,csv} for the splits train and test
(the layout of `mldatabuild export`). Prints the seconds of each step as JSON on stdout.

- Parquet: pq.write_table(compression="zstd"), at the level and row-group size mldatabuild
  uses (zstd 3, 100,000 rows) so both write the same kind of file.
- JSON Lines: pyarrow has no JSON writer, so pandas:
  table.to_pandas().to_json(path, orient="records", lines=True, date_format="iso").
- CSV: pyarrow.csv.write_csv, which cannot write lists: `tags` becomes a JSON string first
  (`["a","b"]`, as mldatabuild writes it), with pyarrow compute (vectorized, timed).
"""

import argparse
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def lists_to_json(col):
    """A list<string> column as compact JSON strings, vectorized: escape \\ and " in the items,
    quote them, join with commas, bracket. Nulls stay null."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    items = pc.list_flatten(col)
    items = pc.replace_substring(items, "\\", "\\\\")
    items = pc.replace_substring(items, '"', '\\"')
    items = pc.binary_join_element_wise('"', items, '"', "")
    quoted = pa.ListArray.from_arrays(col.offsets, items, mask=col.is_null())
    joined = pc.binary_join(quoted, ",")
    return pc.binary_join_element_wise("[", joined, "]", "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--zstd-level", type=int, default=3)
    ap.add_argument("--row-group-size", type=int, default=100_000)
    a = ap.parse_args()
    for f in ("parquet", "jsonl", "csv"):
        os.makedirs(os.path.join(a.out, f), exist_ok=True)
    steps = {}

    def step(name, fn):
        t0 = time.perf_counter()
        r = fn()
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - t0
        return r

    for split in ("train", "test"):
        t = step("read", lambda: pq.read_table(os.path.join(a.data, split + ".parquet")))
        step("parquet", lambda: pq.write_table(
            t, os.path.join(a.out, "parquet", split + ".parquet"), compression="zstd",
            compression_level=a.zstd_level, row_group_size=a.row_group_size))

        def jsonl():
            t.to_pandas().to_json(os.path.join(a.out, "jsonl", split + ".jsonl"),
                                  orient="records", lines=True, date_format="iso")
        step("jsonl", jsonl)

        def csv():
            i = t.schema.get_field_index("tags")
            flat = t.set_column(i, "tags", lists_to_json(t.column("tags")))
            pacsv.write_csv(flat, os.path.join(a.out, "csv", split + ".csv"))
        step("csv", csv)
        del t
    print(json.dumps({k: round(v, 3) for k, v in steps.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
