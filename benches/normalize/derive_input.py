#!/usr/bin/env python3
"""Inputs written from the benchmark's CSV by another tool (cached by run.sh).

    python derive_input.py feather IN.csv OUT.feather
    python derive_input.py xlsx    IN.csv OUT.xlsx ROWS

`feather`: every row of the CSV as `pyarrow.csv.read_csv` types it, written by
`pyarrow.feather.write_feather(table, out)` with its defaults (Feather v2, lz4 bodies, 64Ki-row
record batches).
`xlsx`: the CSV's first ROWS rows as pandas reads them (`read_csv(nrows=ROWS)`), written by
`DataFrame.to_excel(out, index=False)` with openpyxl (pandas' default engine; no xlsxwriter
needed): one sheet `Sheet1`, the header in row 1, nulls as empty cells.
"""

import sys


def main() -> None:
    fmt, src, out = sys.argv[1:4]
    if fmt == "feather":
        import pyarrow.csv
        import pyarrow.feather

        pyarrow.feather.write_feather(pyarrow.csv.read_csv(src), out)
    elif fmt == "xlsx":
        import pandas as pd

        rows = int(sys.argv[4])
        pd.read_csv(src, nrows=rows).to_excel(out, index=False, engine="openpyxl")
    else:
        raise SystemExit(f"unknown format {fmt}")


if __name__ == "__main__":
    main()
