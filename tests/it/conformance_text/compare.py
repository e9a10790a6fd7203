# Compares every value of each case's normalized Parquet output with what pandas/polars read
# (expect.json). Prints one line per difference; exit 1 when there is any.
import datetime as dt
import json
import math
import os
import sys

import pyarrow.parquet as pq

root, out = sys.argv[1], sys.argv[2]
cases = json.load(open(os.path.join(root, "cases.json")))


def norm_ours(v):
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return ("dtz", v)  # an instant (normalize reads offsets as UTC)
    if isinstance(v, dt.datetime):
        return ("dt", v.replace(tzinfo=None))
    if isinstance(v, dt.date):
        return ("d", v)
    return v


def norm_theirs(v):
    if isinstance(v, dict) and "datetime" in v:
        return ("dt", dt.datetime.fromisoformat(v["datetime"]).replace(tzinfo=None))
    if isinstance(v, dict) and "date" in v:
        return ("d", dt.date.fromisoformat(v["date"]))
    return v


def same(ours, theirs):
    ours, theirs = norm_ours(ours), norm_theirs(theirs)
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if isinstance(ours, tuple) and isinstance(theirs, str):
        # pandas leaves dates as text; normalize infers them.
        try:
            t = dt.datetime.fromisoformat(theirs)
        except ValueError:
            return False
        if ours[0] == "dtz":
            # The same instant; pandas' text keeps the writer's offset.
            return t.tzinfo is not None and ours[1] == t
        if t.tzinfo is not None:
            return False
        return ours[1] == (t.date() if ours[0] == "d" else t)
    if isinstance(ours, str) and not isinstance(theirs, str):
        # A column mixing kinds is text here: a JSON value as its JSON text.
        return ours == json.dumps(theirs)
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours == theirs and type(ours) is type(theirs)
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    return ours == theirs


problems = []
for name in cases:
    expect = json.load(open(os.path.join(root, name, "expect.json")))
    path = os.path.join(out, name, "part-0.parquet")
    table = pq.read_table(path)
    if table.column_names != expect["columns"]:
        problems.append(f"{name}: columns {table.column_names} != {expect['columns']}")
        continue
    rows = [list(r.values()) for r in table.to_pylist()]
    if len(rows) != len(expect["rows"]):
        problems.append(f"{name}: {len(rows)} rows != {len(expect['rows'])}")
        continue
    bad = 0
    for i, (r, e) in enumerate(zip(rows, expect["rows"])):
        for c, (a, b) in enumerate(zip(r, e)):
            if not same(a, b):
                bad += 1
                if bad <= 3:
                    problems.append(f"{name}: row {i} column {expect['columns'][c]}: ours {a!r} != {b!r}")
print(json.dumps({"cases": len(cases), "problems": problems}))
