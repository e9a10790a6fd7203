"""Check that mldatabuild's export and the peer's agree, and write the findings as JSON.

    python check.py DATA_DIR --out CHECK.json [--mld DIR --peer DIR] [--mld-hf DIR --peer-hf DIR]

--mld / --peer: folders holding parquet/, jsonl/ and csv/ (part 1). For each split and format:
the row count of both equals the input's; Parquet: the same column names and types as the input,
first and last rows equal to the input's; JSON Lines: first and last rows of both equal as parsed
JSON, modulo float formatting (pandas writes 10 decimal places by default: compared with a
relative tolerance of 1e-9 or an absolute one of 1e-10) and date formatting (pandas writes "2020-01-02T00:00:00.000":
compared on the date); CSV: the header and the first and last records equal (numbers compared
as numbers).
--mld-hf / --peer-hf: folders holding hf/ and hf-disk/ (part 2): the Parquet files under hf/
(per split, by the file name's prefix) and datasets.load_from_disk(hf-disk) have the input's
row counts, and both sides' features are equal.
Exits 1 when a check fails.
"""

import argparse
import csv
import glob
import io
import json
import math
import os
import re
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SPLITS = ("train", "test")
REL = 1e-9
# pandas' to_json writes 10 decimal places (not significant digits): 0.001234567891234 becomes
# 0.0012345679, so small numbers also need an absolute tolerance.
ABS = 1e-10
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T00:00:00(\.0+)?Z?)?$")


def same(a, b):
    """Equal as parsed JSON, modulo float digits and the time part of a date."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    if isinstance(a, str) and isinstance(b, str):
        if a != b and ISO_DATE.match(a) and ISO_DATE.match(b):
            return a[:10] == b[:10]
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def count_lines(path):
    n = 0
    last = b"\n"
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 24)
            if not b:
                break
            n += b.count(b"\n")
            last = b[-1:]
    return n + (last != b"\n")


def first_last_lines(path, header=False):
    with open(path, "rb") as f:
        head = f.readline()
        first = f.readline() if header else head
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - (1 << 20)))
        tail = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return (head if header else None), first, tail


def csv_rows(path):
    """Records of a CSV file, parsed (quoted line breaks allowed), every column as a string."""
    names = next(csv.reader(io.StringIO(open(path, encoding="utf-8").readline())))
    r = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24),
                       parse_options=pacsv.ParseOptions(newlines_in_values=True),
                       convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    return sum(b.num_rows for b in r)


def csv_record(line):
    return next(csv.reader(io.StringIO(line.decode("utf-8"))))


def csv_same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            if not math.isclose(float(x), float(y), rel_tol=REL, abs_tol=ABS):
                return False
        except ValueError:
            return False
    return True


def part1(data, mld, peer, res):
    ok = True
    for split in SPLITS:
        src = pq.ParquetFile(os.path.join(data, split + ".parquet"))
        rows = src.metadata.num_rows
        t = src.read_row_groups([0]).slice(0, 1).to_pylist()[0]
        lr = src.metadata.row_group(src.num_row_groups - 1).num_rows
        last = src.read_row_groups([src.num_row_groups - 1]).slice(lr - 1, 1).to_pylist()[0]
        s = {"input_rows": rows}
        for side, d in (("mldatabuild", mld), ("peer", peer)):
            p = os.path.join(d, "parquet", split + ".parquet")
            if not os.path.exists(p):
                s[f"{side}_parquet"] = "missing"
                ok = False
                continue
            f = pq.ParquetFile(p)
            n = f.metadata.num_rows
            same_schema = f.schema_arrow.remove_metadata().equals(src.schema_arrow.remove_metadata())
            tb = f.read()
            eq = tb.slice(0, 1).to_pylist()[0] == t and tb.slice(n - 1, 1).to_pylist()[0] == last
            codecs = sorted({f.metadata.row_group(0).column(i).compression
                             for i in range(f.metadata.num_columns)})
            s[f"{side}_parquet"] = {"rows": n, "schema_equal": same_schema, "first_last_equal": eq,
                                    "codecs": codecs, "row_groups": f.num_row_groups,
                                    "bytes": os.path.getsize(p)}
            ok &= n == rows and same_schema and eq
            del tb
        lines = {}
        for side, d in (("mldatabuild", mld), ("peer", peer)):
            p = os.path.join(d, "jsonl", split + ".jsonl")
            if not os.path.exists(p):
                s[f"{side}_jsonl"] = "missing"
                ok = False
                continue
            n = count_lines(p)
            _, first, tail = first_last_lines(p)
            lines[side] = (json.loads(first), json.loads(tail))
            s[f"{side}_jsonl"] = {"rows": n, "bytes": os.path.getsize(p)}
            ok &= n == rows
        if len(lines) == 2:
            eq = same(lines["mldatabuild"][0], lines["peer"][0]) and same(lines["mldatabuild"][1], lines["peer"][1])
            want = (json.loads(json.dumps(t, default=str)), json.loads(json.dumps(last, default=str)))
            eq_in = same(lines["mldatabuild"][0], want[0]) and same(lines["mldatabuild"][1], want[1])
            s["jsonl_first_last_equal"] = eq
            s["jsonl_first_last_equal_input"] = eq_in
            if not (eq and eq_in):
                s["jsonl_first_last"] = {"mldatabuild": lines["mldatabuild"], "peer": lines["peer"],
                                         "input": want}
            ok &= eq and eq_in
        recs = {}
        for side, d in (("mldatabuild", mld), ("peer", peer)):
            p = os.path.join(d, "csv", split + ".csv")
            if not os.path.exists(p):
                s[f"{side}_csv"] = "missing"
                ok = False
                continue
            n = csv_rows(p)
            head, first, tail = first_last_lines(p, header=True)
            recs[side] = [csv_record(x) for x in (head, first, tail)]
            s[f"{side}_csv"] = {"rows": n, "bytes": os.path.getsize(p)}
            ok &= n == rows
        if len(recs) == 2:
            eq = all(csv_same(a, b) for a, b in zip(recs["mldatabuild"], recs["peer"]))
            s["csv_header_first_last_equal"] = eq
            if not eq:
                s["csv_first"] = {"mldatabuild": recs["mldatabuild"][:2], "peer": recs["peer"][:2]}
            ok &= eq
        res["part1"][split] = s
    return ok


def hf_parquet_rows(d):
    """Rows per split of the Parquet files under d, and their codecs."""
    out, codecs = {}, set()
    for p in sorted(glob.glob(os.path.join(d, "**", "*.parquet"), recursive=True)):
        name = os.path.basename(p)[: -len(".parquet")]
        split = re.sub(r"-\d+-of-\d+$", "", name)
        md = pq.ParquetFile(p).metadata
        out[split] = out.get(split, 0) + md.num_rows
        if md.num_row_groups:
            codecs |= {md.row_group(0).column(i).compression for i in range(md.num_columns)}
    return out, sorted(codecs)


def part2(data, mld, peer, res):
    import datasets

    ok = True
    want = {s: pq.ParquetFile(os.path.join(data, s + ".parquet")).metadata.num_rows for s in SPLITS}
    feats = {}
    for side, d in (("mldatabuild", mld), ("peer", peer)):
        s = {}
        try:
            s["hf_parquet_rows"], s["hf_parquet_codecs"] = hf_parquet_rows(os.path.join(d, "hf"))
            s["hf_files"] = sorted(os.path.relpath(p, d) for p in glob.glob(os.path.join(d, "hf", "**"), recursive=True)
                                   if os.path.isfile(p))
            dd = datasets.load_from_disk(os.path.join(d, "hf-disk"))
            s["hf_disk_rows"] = {k: v.num_rows for k, v in dd.items()}
            feats[side] = dd[SPLITS[0]].features
            s["features"] = str(feats[side])
            ok &= s["hf_parquet_rows"] == want and s["hf_disk_rows"] == want
        except Exception as e:  # noqa: BLE001 - the finding is the error
            s["error"] = f"{type(e).__name__}: {e}"
            ok = False
        res["part2"][side] = s
    if len(feats) == 2:
        res["part2"]["features_equal"] = feats["mldatabuild"] == feats["peer"]
        ok &= res["part2"]["features_equal"]
    res["part2"]["input_rows"] = want
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mld")
    ap.add_argument("--peer")
    ap.add_argument("--mld-hf")
    ap.add_argument("--peer-hf")
    a = ap.parse_args()
    res = {"part1": {}, "part2": {}}
    oks = {}
    if a.mld and a.peer:
        oks["part1"] = bool(part1(a.data, a.mld, a.peer, res))
    if a.mld_hf and a.peer_hf:
        oks["part2"] = bool(part2(a.data, a.mld_hf, a.peer_hf, res))
    ok = all(oks.values())
    res["ok"] = ok
    existing = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            existing = json.load(f)
    for k, v in oks.items():
        existing[k] = res[k]
        existing[k + "_ok"] = v
    with open(a.out, "w") as f:
        json.dump(existing, f, indent=1, default=str)
    print(json.dumps(res, default=str)[:2000], file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
