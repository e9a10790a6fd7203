#!/usr/bin/env python3
"""The pyarrow baseline: read a CSV, JSON Lines, Parquet, Feather or text file into a table,
write zstd Parquet.

    python pyarrow_convert.py csv     IN.csv     OUT.parquet
    python pyarrow_convert.py jsonl   IN.jsonl   OUT.parquet
    python pyarrow_convert.py parquet IN.parquet OUT.parquet
    python pyarrow_convert.py feather IN.feather OUT.parquet
    python pyarrow_convert.py text    IN.txt     OUT.parquet [--skip-empty-lines]
    python pyarrow_convert.py csv   IN.csv   OUT.parquet --single-thread

Exactly what the benchmark targets name: `pyarrow.csv.read_csv` / `pyarrow.json.read_json`
with default options (multi-threaded, type inference), or `pyarrow.parquet.read_table` (for a
Parquet file another tool wrote: re-encoding it as zstd), then
`pyarrow.parquet.write_table(table, out, compression="zstd")` (pyarrow's default zstd level).
`--single-thread` (context only) reads with `use_threads=False` and caps Arrow's CPU pool at one
thread, to compare per-core throughput.

`feather` is `pyarrow.feather.read_table(path)` (Feather v2, lz4 or zstd bodies decompressed on
read). `text` reads a plain text file as the Hugging Face `text` loader does (one `text` string
column, a row per line) through `pyarrow.csv.read_csv` with a delimiter that cannot occur
(`\x1f`), `quote_char=False`, `column_names=["text"]`, the column typed as a string (so a
line such as `1` or `null` stays a string) and `ignore_empty_lines=False`, so that empty
lines are rows `""` as in `datasets` and mldatabuild (pyarrow's default skips them:
`--skip-empty-lines` keeps that default, for the row-count check). pyarrow has no reader for a
JSON *document* (`pyarrow.json` reads JSON Lines only), so `json` is not offered here.
"""

import sys

import pyarrow
import pyarrow.csv
import pyarrow.feather
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
    elif fmt == "feather":
        table = pyarrow.feather.read_table(src, use_threads=not single)
    elif fmt == "text":
        table = pyarrow.csv.read_csv(
            src,
            read_options=pyarrow.csv.ReadOptions(use_threads=not single, column_names=["text"]),
            parse_options=pyarrow.csv.ParseOptions(
                delimiter="\x1f", quote_char=False,
                ignore_empty_lines="--skip-empty-lines" in sys.argv[4:],
            ),
            convert_options=pyarrow.csv.ConvertOptions(column_types={"text": pyarrow.string()}),
        )
    else:
        raise SystemExit(f"unknown format {fmt}")
    pyarrow.parquet.write_table(table, out, compression="zstd")


if __name__ == "__main__":
    main()
