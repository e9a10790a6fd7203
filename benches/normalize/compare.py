#!/usr/bin/env python3
"""Compare mldatabuild's Parquet output with pyarrow's for the same input.

    python compare.py LABEL MLD.parquet PYARROW.parquet [--json OUT.json] [--peer NAME]

Prints file sizes, row counts, row groups and, per column (matched by name), the two types and
whether the values agree. Types that differ are compared after casting both sides to string;
a null and an empty string count as the same value (pyarrow reads an empty CSV string field
as "", mldatabuild as null). Exit status 1 when the row counts differ.

`--peer NAME` names the tool that wrote the second file in the messages (default pyarrow) and
in the JSON (`peer`); the JSON's `pyarrow_*` keys hold that file's figures whatever the peer.
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def norm(col: pa.ChunkedArray, to_string: bool) -> pa.ChunkedArray:
    if to_string or pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
        col = pc.fill_null(col, "")
    return col


def main() -> None:
    label, mld_path, pa_path = sys.argv[1:4]
    out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    peer = sys.argv[sys.argv.index("--peer") + 1] if "--peer" in sys.argv else "pyarrow"
    mf, pf = pq.ParquetFile(mld_path), pq.ParquetFile(pa_path)
    res = {
        "label": label,
        "peer": peer,
        "mld_bytes": os.path.getsize(mld_path),
        "pyarrow_bytes": os.path.getsize(pa_path),
        "mld_rows": mf.metadata.num_rows,
        "pyarrow_rows": pf.metadata.num_rows,
        "mld_row_groups": mf.metadata.num_row_groups,
        "pyarrow_row_groups": pf.metadata.num_row_groups,
        "columns": [],
    }
    print(f"[{label}] size: mldatabuild {res['mld_bytes']/1e6:.1f} MB, {peer} {res['pyarrow_bytes']/1e6:.1f} MB"
          f" (ratio {res['mld_bytes']/res['pyarrow_bytes']:.3f})")
    print(f"[{label}] rows: mldatabuild {res['mld_rows']}, {peer} {res['pyarrow_rows']}"
          f" -> {'MATCH' if res['mld_rows'] == res['pyarrow_rows'] else 'DIFFER'};"
          f" row groups {res['mld_row_groups']} vs {res['pyarrow_row_groups']}")
    if res["mld_rows"] == res["pyarrow_rows"]:
        mt, pt = mf.read(), pf.read()
        for name in pt.column_names:
            if name not in mt.column_names:
                res["columns"].append({"name": name, "status": "missing in mldatabuild"})
                continue
            a, b = mt.column(name), pt.column(name)
            differ_type = a.type != b.type
            note = ""
            if differ_type and pa.types.is_timestamp(b.type) and not pa.types.is_timestamp(a.type):
                # pyarrow.json reads "YYYY-MM-DD" strings as timestamps at midnight
                b = pc.cast(b, pa.date32())
                note = "  (pyarrow's timestamp taken as a date, both compared as strings)"
            elif differ_type:
                note = "  (compared as strings)"
            na, nb = norm(a, differ_type), norm(b, differ_type)
            eq = pc.equal(na, nb)
            # both null (after normalization) counts as equal
            both_null = pc.and_(pc.is_null(na), pc.is_null(nb))
            ok = pc.or_kleene(pc.fill_null(eq, False), both_null)
            bad = len(ok) - pc.sum(pc.cast(ok, pa.int64())).as_py()
            res["columns"].append({
                "name": name, "mld_type": str(a.type), "pyarrow_type": str(pt.column(name).type),
                "compared": note.strip(" ()"), "mld_nulls": a.null_count, "pyarrow_nulls": b.null_count, "differing_rows": bad,
            })
            print(f"[{label}]   {name:<10} {str(a.type):<12} vs {str(pt.column(name).type):<14}"
                  f" nulls {a.null_count:>8} vs {b.null_count:>8}  differing rows: {bad}{note}")
    if out_json:
        with open(out_json, "w") as f:
            json.dump(res, f, indent=1)
    sys.exit(0 if res["mld_rows"] == res["pyarrow_rows"] else 1)


if __name__ == "__main__":
    main()
