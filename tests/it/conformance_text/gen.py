# Writes CSV and JSON files the way pandas and polars write them in everyday settings, each
# with what pandas (or polars) reads back from it: cases/<case>/data/* and
# cases/<case>/expect.json ({"columns": [...], "rows": [[...], ...]}), plus
# cases/<case>/params.yaml (extra normalize parameters, often none).
import datetime as dt
import gzip
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import polars as pl

root = sys.argv[1]
rng = np.random.default_rng(7)
made = []


def plain(v):
    """A value as JSON: NaN/NaT/None as null, numpy scalars as Python ones, dates tagged."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return {"datetime": v.isoformat(sep=" ")}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def case(name, files, read, params=""):
    """`files`: [(file name, writer(path))]; `read(paths)`: what pandas/polars reads."""
    d = os.path.join(root, name, "data")
    os.makedirs(d, exist_ok=True)
    paths = []
    for fname, writer in files:
        p = os.path.join(d, fname)
        writer(p)
        paths.append(p)
    got = read(sorted(paths))
    if isinstance(got, pl.DataFrame):
        expect = {"columns": got.columns, "rows": [[plain(v) for v in r] for r in got.rows()]}
    else:
        expect = {
            "columns": [str(c) for c in got.columns],
            "rows": [[plain(v) for v in row] for row in got.itertuples(index=False, name=None)],
        }
    with open(os.path.join(root, name, "expect.json"), "w") as f:
        json.dump(expect, f)
    with open(os.path.join(root, name, "params.yaml"), "w") as f:
        f.write(params)
    made.append(name)


def frame(n=300, seed=0):
    r = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n) + seed * 1000,
            "score": np.round(r.normal(size=n), 4),
            "count": pd.array([None if i % 7 == 0 else int(i * 3) for i in range(n)], dtype="Int64"),
            "name": [None if i % 11 == 0 else f"user {i}, \"nick\" {i % 5}" for i in range(n)],
            "flag": [bool(i % 2) for i in range(n)],
            "day": [(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(n)],
        }
    )


df = frame()
one = lambda f: (lambda ps: f(ps[0]))
concat = lambda **k: (lambda ps: pd.concat([pd.read_csv(p, **k) for p in ps], ignore_index=True))

# --- CSV written by pandas, everyday settings -------------------------------------------
case("csv_pandas_index", [("a.csv", lambda p: df.to_csv(p))], one(lambda p: pd.read_csv(p, index_col=0)))
case("csv_pandas_no_index", [("a.csv", lambda p: df.to_csv(p, index=False))], one(pd.read_csv))
case("csv_pandas_index_kept", [("a.csv", lambda p: df.to_csv(p))],
     one(lambda p: pd.read_csv(p).rename(columns={"Unnamed: 0": "column_1"})), "pandas_index: keep\n")
case("csv_crlf", [("a.csv", lambda p: df.to_csv(p, index=False, lineterminator="\r\n"))], one(pd.read_csv))
case("csv_bom", [("a.csv", lambda p: df.to_csv(p, index=False, encoding="utf-8-sig"))], one(pd.read_csv))
case("csv_gzip", [("a.csv.gz", lambda p: df.to_csv(p, index=False))], one(pd.read_csv))
case("csv_tsv", [("a.tsv", lambda p: df.to_csv(p, sep="\t", index=False))], one(lambda p: pd.read_csv(p, sep="\t")))
case("csv_semicolon_decimal_comma",
     [("a.csv", lambda p: df.to_csv(p, sep=";", decimal=",", index=False))],
     one(lambda p: pd.read_csv(p, sep=";", decimal=",")))
case("csv_decimal_comma_given",
     [("a.csv", lambda p: df[["id", "score"]].to_csv(p, sep="|", decimal=",", index=False))],
     one(lambda p: pd.read_csv(p, sep="|", decimal=",")), 'decimal: ","\n')
case("csv_na_rep_NA", [("a.csv", lambda p: df.to_csv(p, index=False, na_rep="NA"))], one(pd.read_csv))
case("csv_na_rep_null", [("a.csv", lambda p: df.to_csv(p, index=False, na_rep="null"))], one(pd.read_csv))
case("csv_na_rep_NaN", [("a.csv", lambda p: df.to_csv(p, index=False, na_rep="NaN"))], one(pd.read_csv))
case("csv_na_values_given",
     [("a.csv", lambda p: df.to_csv(p, index=False, na_rep="missing"))],
     one(lambda p: pd.read_csv(p, na_values=["missing"], keep_default_na=False)),
     "na_values: [missing]\n")
case("csv_quote_all", [("a.csv", lambda p: df.to_csv(p, index=False, quoting=1))], one(pd.read_csv))
multiline = pd.DataFrame({"id": [1, 2, 3], "text": ["one\nline two", "say \"hi\"\r\nthen go", "plain"]})
case("csv_embedded_newlines", [("a.csv", lambda p: multiline.to_csv(p, index=False))], one(pd.read_csv))
accents = pd.DataFrame({"city": ["München", "São Paulo", "Zürich", "Kraków"], "n": [1, 2, 3, 4]})
case("csv_latin1", [("a.csv", lambda p: accents.iloc[:3].to_csv(p, index=False, encoding="latin-1"))],
     one(lambda p: pd.read_csv(p, encoding="latin-1")))
euro = pd.DataFrame({"item": ["“quoted”", "price €", "dash – here"], "n": [1, 2, 3]})
case("csv_cp1252", [("a.csv", lambda p: euro.to_csv(p, index=False, encoding="cp1252"))],
     one(lambda p: pd.read_csv(p, encoding="cp1252")))
case("csv_utf16", [("a.csv", lambda p: accents.to_csv(p, index=False, sep="\t", encoding="utf-16"))],
     one(lambda p: pd.read_csv(p, sep="\t", encoding="utf-16")))
case("csv_given_shift_jis",
     [("a.csv", lambda p: pd.DataFrame({"名前": ["東京", "大阪"], "n": [1, 2]}).to_csv(p, index=False, encoding="shift_jis"))],
     one(lambda p: pd.read_csv(p, encoding="shift_jis")), "encoding: shift_jis\n")
# Files of one source merged by column name: other order, a column missing from one.
a, b = frame(50, 1), frame(40, 2)
case("csv_merge_by_name",
     [("a.csv", lambda p: a.to_csv(p, index=False)),
      ("b.csv", lambda p: b[["name", "id", "day", "flag", "score"]].to_csv(p, index=False))],
     concat())
case("csv_extra_column_in_second",
     [("a.csv", lambda p: a[["id", "score"]].to_csv(p, index=False)),
      ("b.csv", lambda p: b[["score", "id", "name"]].to_csv(p, index=False))],
     concat())
# polars write_csv.
pf = pl.from_pandas(df)
case("csv_polars", [("a.csv", lambda p: pf.write_csv(p))], one(pd.read_csv))
case("csv_polars_null_value",
     [("a.csv", lambda p: pf.write_csv(p, null_value="NULL"))], one(pd.read_csv))
case("csv_polars_semicolon", [("a.csv", lambda p: pf.write_csv(p, separator=";"))],
     one(lambda p: pd.read_csv(p, sep=";")))

# Date-times: naive, and zoned (pandas writes `+01:00`, polars `+0100`); pandas reads them as text.
stamps = pd.DataFrame({
    "naive": pd.date_range("2024-03-30 22:00", periods=6, freq="3h").astype(str).where([True] * 5 + [False]),
    "zoned": pd.date_range("2024-03-30 22:00", periods=6, freq="3h", tz="Europe/Paris"),
    "utc": pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC"),
})
case("csv_datetimes_pandas", [("a.csv", lambda p: stamps.to_csv(p, index=False))], one(pd.read_csv))
case("csv_datetimes_polars", [("a.csv", lambda p: pl.from_pandas(stamps).write_csv(p))], one(pd.read_csv))

# --- JSON and JSON Lines --------------------------------------------------------------------
j = pd.DataFrame(
    {
        "zeta": [3, 1, None, 7],
        "alpha": ["x", None, "z", "w"],
        "mid": [1.5, 2.0, None, -0.25],
        "ok": [True, False, None, True],
    }
)
for orient in ["records", "split", "table", "index", "columns", "values"]:
    case(f"json_pandas_{orient}", [("a.json", lambda p, o=orient: j.to_json(p, orient=o))],
         # dtype=False: pandas would turn booleans with a gap into floats (1.0, 0.0, NaN).
         one(lambda p, o=orient: pd.read_json(p, orient=o, convert_dates=False, dtype=False) if o != "values"
             else pd.read_json(p, orient=o, dtype=False).rename(columns=lambda c: f"column_{c + 1}")))
case("jsonl_pandas", [("a.jsonl", lambda p: j.to_json(p, orient="records", lines=True))],
     one(lambda p: pd.read_json(p, lines=True, dtype=False)))
case("jsonl_pandas_gzip", [("a.jsonl.gz", lambda p: j.to_json(p, orient="records", lines=True, compression="gzip"))],
     one(lambda p: pd.read_json(p, lines=True, dtype=False)))
pj = pl.DataFrame({"b": [1, 2, None], "a": ["x", None, "z"], "f": [0.5, None, 2.25], "l": [[1, 2], [], None]})
case("jsonl_polars", [("a.ndjson", lambda p: pj.write_ndjson(p))], one(lambda p: pl.read_ndjson(p)))
case("json_polars", [("a.json", lambda p: pj.write_json(p))], one(lambda p: pl.read_json(p)))


def write(text):
    def w(p):
        with open(p, "w") as f:
            f.write(text)
    return w


mixed_lines = '{"v": 1, "k": "a"}\n{"v": "two", "k": "b"}\n{"k": "c", "extra": true}\n{"v": 2.5, "k": "d"}\n'
case("jsonl_mixed_and_missing", [("a.jsonl", write(mixed_lines))],
     one(lambda p: pd.read_json(p, lines=True, dtype=False)))
case("json_mixed", [("a.json", write('[{"v": 1}, {"v": "two"}, {"v": true}, {"v": null}]'))],
     one(lambda p: pd.read_json(p, dtype=False)))
# A key first seen after the sampled records (50,000) must not be lost.
late = "".join(json.dumps({"n": i}) + "\n" for i in range(50_010)) + '{"n": 50010, "late": "here"}\n'
case("jsonl_key_after_sample", [("a.jsonl", write(late))], one(lambda p: pd.read_json(p, lines=True)))

with open(os.path.join(root, "cases.json"), "w") as f:
    json.dump(made, f)
