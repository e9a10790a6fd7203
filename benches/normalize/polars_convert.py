#!/usr/bin/env python3
"""The polars baseline: a CSV, JSON Lines, JSON, Parquet, Feather or Excel file to zstd Parquet.

    python polars_convert.py csv     IN.csv     OUT.parquet
    python polars_convert.py jsonl   IN.jsonl   OUT.parquet
    python polars_convert.py parquet IN.parquet OUT.parquet
    python polars_convert.py feather IN.feather OUT.parquet
    python polars_convert.py json    IN.json    OUT.parquet
    python polars_convert.py xlsx    IN.xlsx    OUT.parquet

Exactly what the issue names: `polars.scan_csv(path).sink_parquet(out, compression="zstd")`
(`scan_ndjson` for JSON Lines, `scan_parquet` for Parquet), polars' defaults otherwise: its streaming engine, all cores,
type inference from the first 100 rows, zstd at polars' default level. The harness pins
polars==2.1.0 in the benchmark venv.

Formats polars cannot stream: `json` (a JSON document, an array of records) is
`pl.read_json(path)` and `xlsx` is `pl.read_excel(path, engine="calamine")` (the `fastexcel`
wheel: the Rust calamine crate, as mldatabuild uses), each then
`DataFrame.write_parquet(out, compression="zstd")`. `feather` (Feather v2 = Arrow IPC file) is
`scan_ipc` + `sink_parquet`, like the CSV.
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
    elif fmt == "feather":
        lf = pl.scan_ipc(src)
    elif fmt == "json":
        pl.read_json(src).write_parquet(out, compression="zstd")
        return
    elif fmt == "xlsx":
        pl.read_excel(src, engine="calamine").write_parquet(out, compression="zstd")
        return
    else:
        raise SystemExit(f"unknown format {fmt}")
    lf.sink_parquet(out, compression="zstd")


if __name__ == "__main__":
    main()
