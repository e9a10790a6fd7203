#!/usr/bin/env python3
"""The pyarrow baseline: read a CSV, JSON Lines or Parquet file into a table, write zstd Parquet.

    python pyarrow_convert.py csv     IN.csv     OUT.parquet
    python pyarrow_convert.py jsonl   IN.jsonl   OUT.parquet
    python pyarrow_convert.py parquet IN.parquet OUT.parquet
    python pyarrow_convert.py csv   IN.csv   OUT.parquet --single-thread

Exactly what the benchmark targets name: `pyarrow.csv.read_csv` / `pyarrow.json.read_json`
with default options (multi-threaded, type inference), or `pyarrow.parquet.read_table` (for a
Parquet file another tool wrote: re-encoding it as zstd), then
`pyarrow.parquet.write_table(table, out, compression="zstd")` (pyarrow's default zstd level).
`--single-thread` (context only) reads with `use_threads=False` and caps Arrow's CPU pool at one
thread, to compare per-core throughput.
"""

import sys

import pyarrow
import pyarrow.csv
import pyarrow.json
import pyarrow.parquet


def main() -> None:
    fmt, src, out = sys.argv[1:4]
    single = "--single-thread" in sys.argv[4:]
    if single:
        pyarrow.set_cpu_count(1)
        pyarrow.set_io_thread_count(1)
    if fmt == "csv":
        opts = pyarrow.csv.ReadOptions(use_threads=not single)
        table = pyarrow.csv.read_csv(src, read_options=opts)
    elif fmt == "jsonl":
        opts = pyarrow.json.ReadOptions(use_threads=not single)
        table = pyarrow.json.read_json(src, read_options=opts)
    elif fmt == "parquet":
        table = pyarrow.parquet.read_table(src, use_threads=not single)
    else:
        raise SystemExit(f"unknown format {fmt}")
    pyarrow.parquet.write_table(table, out, compression="zstd")


if __name__ == "__main__":
    main()
