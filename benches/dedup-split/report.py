#!/usr/bin/env python3
"""The results table of one dedup + split run, with the correctness checks.

    python report.py RESULTS_DIR PROJECT_DIR REV PYARROW_VERSION

Reads RESULTS_DIR/{mldatabuild,pyarrow}.json (benches/common/measure.py), RESULTS_DIR/dataset.lock,
RESULTS_DIR/verify.status, PROJECT_DIR/truth.json (gen.py) and the Parquet footers of the
outputs. Prints Markdown; exits 1 when a correctness check failed.
"""

import glob
import json
import os
import sys

import pyarrow.parquet as pq
import yaml

TARGET_MB = 2000  # "2 GB"; RSS figures are MiB (GNU time's KB / 1024)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def parquet_rows(paths):
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def main():
    res, proj, rev, pa_version = sys.argv[1:5]
    truth = load(os.path.join(proj, "truth.json"))
    mld = load(os.path.join(res, "mldatabuild.json"))
    pa = load(os.path.join(res, "pyarrow.json"))
    lock_path = os.path.join(res, "dataset.lock")
    lock = yaml.safe_load(open(lock_path)) if os.path.exists(lock_path) else {}
    stages = lock.get("stages", {})
    verify = open(os.path.join(res, "verify.status")).read().strip() \
        if os.path.exists(os.path.join(res, "verify.status")) else "not run"
    checks = []

    def check(name, ok, detail):
        checks.append((name, ok, detail))

    gb = truth["bytes"] / 1e9
    print(f"## Dedup + split of {gb:.2f} GB of Parquet ({truth['rows']:,} rows)\n")
    print(f"mldatabuild `{rev}`, pyarrow {pa_version}; data: {truth['files']} files, "
          f"{truth['row_groups']} row groups of {truth['group_rows']:,} rows, {truth['compression']}, "
          f"{truth['bytes_per_row']} B/row; {truth['duplicates']:,} planted duplicates "
          f"({100 * truth['duplicates'] / truth['rows']:.1f} %), {truth['unique_rows']:,} unique rows.\n")

    # Overall.
    print("| run | wall s | peak RSS MB (GNU time) | CPU s (user+sys) | rows out | result |")
    print("|---|---:|---:|---:|---:|---|")

    def row(label, m, rows_out):
        if m is None:
            print(f"| {label} | | | | | not run |")
            return
        if m["killed_at_cap"]:
            result = f"**killed at the {m['cap_mb']} MB cap** (did not fit)"
        elif m["exit"] != 0:
            result = f"failed (exit {m['exit']})"
        else:
            result = "ok"
        cpu = m["user_s"] + m["sys_s"]
        print(f"| {label} | {m['wall_s']:.1f} | {m['max_rss_mb']:.0f} | {cpu:.1f} | "
              f"{rows_out if rows_out is not None else ''} | {result} |")

    split_files = glob.glob(os.path.join(proj, "out", "bench", "splits", "*.parquet"))
    mld_rows = None
    if "splits" in stages:
        mld_rows = f"{sum(stages['splits']['summary']['splits'].values()):,}"
    row("mldatabuild build (normalize + dedup + split)", mld, mld_rows)
    pa_out = None
    if pa is not None and pa["exit"] == 0 and not pa["killed_at_cap"]:
        pa_out = json.loads(open(os.path.join(res, "pyarrow.stdout")).read().strip().splitlines()[-1])
    row("pyarrow (read, group_by all columns, shuffle, write)", pa,
        f"{sum(pa_out['splits'].values()):,}" if pa_out else None)
    print()

    # Per stage.
    if stages:
        print("mldatabuild per stage (`built:` in dataset.lock; stages ran one after another):\n")
        print("| stage | kind | seconds | peak RSS MB | rows in | rows out | peak / rows in (B) |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name in ("clean", "dedup", "splits"):
            s = stages.get(name)
            if not s:
                continue
            b = s.get("built", {})
            summ = s.get("summary", {})
            rows_in = summ.get("rows_in", summ.get("rows"))
            rows_out = summ.get("rows")
            per_row = b.get("peak_rss_mb", 0) * 1048576 / rows_in if rows_in else 0
            print(f"| {name} | {s['kind']} | {b.get('seconds', 0):.1f} | {b.get('peak_rss_mb', '')} | "
                  f"{rows_in:,} | {rows_out:,} | {per_row:.0f} |")
        total_stage = sum(s.get("built", {}).get("seconds", 0) for s in stages.values())
        if mld:
            print(f"\nStages: {total_stage:.1f} s of the {mld['wall_s']:.1f} s wall "
                  f"(the rest: hashing the source before the first stage, loading, the lock).\n")

    # Ratios.
    if mld and pa_out:
        dedup_split = sum(stages[n]["built"]["seconds"] for n in ("dedup", "splits") if n in stages)
        print(f"Time ratio mldatabuild / pyarrow: **{mld['wall_s'] / pa['wall_s']:.2f}x** whole build "
              f"({mld['wall_s']:.1f} s vs {pa['wall_s']:.1f} s); dedup + split stages alone "
              f"{dedup_split / pa['wall_s']:.2f}x ({dedup_split:.1f} s). Peak memory: "
              f"{mld['max_rss_mb']:.0f} MB vs {pa['max_rss_mb']:.0f} MB "
              f"({pa['max_rss_mb'] / mld['max_rss_mb']:.1f}x less).\n")
        print(f"pyarrow phases (s from start): {pa_out['phases']}\n")
    elif pa and pa["killed_at_cap"]:
        last = [ln for ln in open(os.path.join(res, "pyarrow.stderr")).read().splitlines() if ln.startswith("[")]
        print(f"pyarrow was killed after {pa['wall_s']:.0f} s at {pa['tree_peak_rss_mb']:.0f} MB "
              f"(cap {pa['cap_mb']} MB), in phase: `{last[-1] if last else '?'}`.\n")

    # Checks.
    if mld:
        check("mldatabuild build succeeded", mld["exit"] == 0 and not mld["killed_at_cap"], f"exit {mld['exit']}")
        check(f"peak RSS within {TARGET_MB} MB", (mld["max_rss_mb"] or 1e9) <= TARGET_MB,
              f"{mld['max_rss_mb']:.0f} MB (GNU time)")
    if "dedup" in stages:
        d = stages["dedup"]["summary"]
        check("dedup read every row", d.get("rows_in") == truth["rows"], f"{d.get('rows_in'):,} = {truth['rows']:,}")
        check("dedup dropped exactly the planted duplicates", d.get("rows_dropped") == truth["duplicates"],
              f"rows_dropped {d.get('rows_dropped'):,}, planted {truth['duplicates']:,}")
        check("rows after dedup = rows - planted duplicates", d.get("rows") == truth["unique_rows"],
              f"{d.get('rows'):,} = {truth['unique_rows']:,}")
    if "splits" in stages:
        sp = stages["splits"]["summary"]
        total = sum(sp["splits"].values())
        check("split sizes sum to the deduplicated rows", total == truth["unique_rows"],
              f"{' + '.join(f'{k} {v:,}' for k, v in sp['splits'].items())} = {total:,}")
        if split_files:
            on_disk = parquet_rows(split_files)
            check("split Parquet files hold those rows (footers)", on_disk == truth["unique_rows"], f"{on_disk:,}")
        leak = sp.get("leakage", {}).get("exact_rows")
        check("no identical rows across splits (split's leakage check)", leak == 0, f"exact_rows {leak}")
    check("`mldatabuild verify` passes", verify == "ok", verify)
    if pa_out:
        check("pyarrow found the same unique rows", pa_out["unique"] == truth["unique_rows"],
              f"{pa_out['unique']:,}")
    warnings = {n: s.get("summary", {}).get("warnings", []) for n, s in stages.items()}
    print("Checks:\n")
    for name, ok, detail in checks:
        print(f"- {'ok' if ok else '**FAILED**'}: {name} ({detail})")
    print()
    for n, w in warnings.items():
        for x in w:
            print(f"- warning in `{n}`: {x}")
    # the memory target is a result, not a correctness failure
    return 0 if all(ok for name, ok, _ in checks if not name.startswith("peak RSS")) else 1


if __name__ == "__main__":
    sys.exit(main())
