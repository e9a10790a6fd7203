#!/usr/bin/env python3
"""Context only: pandas' default Excel reader (openpyxl) to zstd Parquet.

    python pandas_convert.py xlsx IN.xlsx OUT.parquet

`pandas.read_excel(path)` (openpyxl, the first sheet, its first row the header), then
`DataFrame.to_parquet(out, compression="zstd", index=False)` (through pyarrow). What most
notebook code does with a spreadsheet; slow, so the harness times it only with
`NORM_PANDAS_XLSX=1`.
"""

import sys

import pandas as pd


def main() -> None:
    fmt, src, out = sys.argv[1:4]
    if fmt != "xlsx":
        raise SystemExit(f"unknown format {fmt}")
    pd.read_excel(src, engine="openpyxl").to_parquet(out, compression="zstd", index=False)


if __name__ == "__main__":
    main()
