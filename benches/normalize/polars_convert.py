#!/usr/bin/env python3
"""The polars baseline: stream a CSV, JSON Lines or Parquet file into zstd Parquet.

    python polars_convert.py csv   IN.csv   OUT.parquet
    python polars_convert.py jsonl IN.jsonl OUT.parquet
    python polars_convert.py parquet IN.parquet OUT.parquet

Exactly what the issue names: `polars.scan_csv(path).sink_parquet(out, compression="zstd")`
(`scan_ndjson` for JSON Lines, `scan_parquet` for Parquet), polars' defaults otherwise: its streaming engine, all cores,
type inference from the first 100 rows, zstd at polars' default level. The harness pins
polars==2.1.0 in the benchmark venv.
"""

import sys

import polars as pl


def main() -> None:
    fmt, src, out = sys.argv[1:4]
    if fmt == "csv":
        lf = pl.scan_csv(src)
    elif fmt == "jsonl":
        lf = pl.scan_ndjson(src)
    elif fmt == "parquet":
        lf = pl.scan_parquet(src)
    else:
        raise SystemExit(f"unknown format {fmt}")
    lf.sink_parquet(out, compression="zstd")


if __name__ == "__main__":
    main()
