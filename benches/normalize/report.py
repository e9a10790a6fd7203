#!/usr/bin/env python3
"""Results table of benches/normalize/run.sh (Markdown), from the files in RESULTS.

    python report.py RESULTS REV PYARROW_VERSION INPUT_BYTES [POLARS_VERSION]
"""

import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def time_v(path):
    """Fields of a `/usr/bin/time -v` report."""
    try:
        text = open(path).read()
    except OSError:
        return None
    def field(name):
        m = re.search(r"^\s*" + re.escape(name) + r": (.*)$", text, re.M)
        return m.group(1).strip() if m else None
    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    secs = None
    if wall:
        parts = [float(p) for p in wall.split(":")]
        secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    return {
        "rss_kb": int(field("Maximum resident set size (kbytes)") or 0),
        "wall": secs,
        "user": float(field("User time (seconds)") or 0),
        "sys": float(field("System time (seconds)") or 0),
        "exit": field("Exit status"),
        "load": field("load_before"),
    }


def events(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    except (OSError, ValueError):
        return []


def stage(path):
    for e in events(path):
        if e.get("type") == "stage_finished":
            return e["data"]
    return None


# The other readers (`speed_peers` in run.sh): each input against its own peers, the first of
# which is the one named by the benchmark (the others are context).
OTHER = {
    "json": "JSON document (array of records)",
    "text": "text, a row per line",
    "xlsx": ".xlsx (openpyxl-written)",
    "feather": "Feather v2, lz4 (pyarrow-written)",
}
PEER_TOOL = {
    "polars": "polars",
    "pyarrow": "pyarrow",
    "datasets": "datasets text builder",
    "polars-calamine": "polars read_excel (calamine)",
    "pandas-openpyxl": "pandas read_excel (openpyxl)",
}


def same(t):
    """A type's name with string and large_string taken as one (polars writes large_string)."""
    return t.replace("large_string", "string")


def other_readers(res, p):
    rows = []
    for label, what in OTHER.items():
        h = load(os.path.join(res, f"speed-{label}.json"))
        if not h:
            continue
        ld = load(os.path.join(res, f"speed-{label}.load.json")) or {}
        size = ld.get("input_bytes")
        r = {x["command"]: x for x in h["results"]}
        m = r.get("mldatabuild")
        peers = [x["command"] for x in h["results"] if x["command"] != "mldatabuild"]
        for i, name in enumerate(peers):
            a = r[name]
            c = load(os.path.join(res, f"check-{label}-{name}.json")) or {}
            if c:
                bad = [f"{x['name']} ({x['differing_rows']})" for x in c["columns"] if x.get("differing_rows")]
                rc = (f"{c['mld_rows']:,} / {c['pyarrow_rows']:,} "
                      f"{'match' if c['mld_rows'] == c['pyarrow_rows'] else '**DIFFER**'}")
                vals = ", ".join(bad) or ("none" if c["mld_rows"] == c["pyarrow_rows"] else "–")
                mb = f"{c['mld_bytes'] / 1e6:.1f} / {c['pyarrow_bytes'] / 1e6:.1f}"
            else:
                rc, vals, mb = "not checked", "–", "–"
            rows.append(
                f"| {what if i == 0 else ''} | {f'{size / 1e6:.0f} MB' if size and i == 0 else ''} "
                f"| {PEER_TOOL.get(name, name)}{'' if i == 0 else ' (context)'} "
                f"| {m['median']:.2f} ({m['min']:.2f}–{m['max']:.2f}, n={len(m['times'])}) "
                f"| {a['median']:.2f} ({a['min']:.2f}–{a['max']:.2f}) | **{m['median'] / a['median']:.2f}×** "
                f"| {m['user'] + m['system']:.1f} / {a['user'] + a['system']:.1f} "
                f"| {rc} | {vals} | {mb} "
                f"| {ld.get('load_before', '?')}→{ld.get('load_after', '?')} |"
            )
    if not rows:
        return
    p("")
    p("### Other readers (hyperfine; seconds, median of the runs; the first peer of each input is the named one)")
    p("")
    p("| input | size | peer | mldatabuild | peer | ratio mld/peer | user+sys mld / peer (s) "
      "| rows mld / peer | columns with differing values | output MB mld / peer | load before→after |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        p(row)
    for label in OTHER:
        for name in PEER_TOOL:
            c = load(os.path.join(res, f"check-{label}-{name}.json")) or {}
            types = [f"{x['name']} {x['mld_type']} vs {x['pyarrow_type']}" for x in c.get("columns", [])
                     if x.get("mld_type") and same(x["mld_type"]) != same(x["pyarrow_type"])]
            if types:
                p("")
                p(f"{label}, types mldatabuild vs {name} (those columns compared as strings): {'; '.join(types)}.")
    for label in OTHER:
        c = load(os.path.join(res, f"check-{label}-pyarrow-ignore-empty-lines.json"))
        if c:
            p("")
            p(f"pyarrow's `read_csv` with its default `ignore_empty_lines=True` reads {c['pyarrow_rows']:,} rows "
              f"of the text file against mldatabuild's {c['mld_rows']:,} (the empty lines are dropped), "
              f"so the timed pyarrow command keeps them (`ignore_empty_lines=False`).")


def main():
    res, rev, pa_version, nbytes = sys.argv[1:5]
    pl_version = sys.argv[5] if len(sys.argv) > 5 else "?"
    gb = int(nbytes) / 1e9
    out = []
    p = out.append
    p(f"## normalize benchmark: mldatabuild {rev} vs pyarrow {pa_version} and polars {pl_version}")
    p("")
    p(f"Machine: {os.cpu_count()} cores; inputs {gb:g} GB each (page cache warmed before every run).")
    p("")
    p("### Speed (hyperfine; seconds, median of the runs)")
    p("")
    p("| input | mldatabuild | pyarrow | polars | ratio mld/pyarrow | target ≤ 1.25 | ratio mld/polars | target ≤ 1.1 | pyarrow 1 thread | pyarrow, system allocator | mld user+sys | pyarrow user+sys | polars user+sys | load before→after |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    names = {"csv": f"{gb:g} GB CSV", "jsonl": f"{gb:g} GB JSONL",
             "parquet": f"Parquet (polars, snappy) of the {gb:g} GB CSV"}
    for label in ("csv", "jsonl", "parquet"):
        h = load(os.path.join(res, f"speed-{label}.json"))
        if not h:
            continue
        r = {x["command"]: x for x in h["results"]}
        m, a = r.get("mldatabuild"), r.get("pyarrow")
        one = r.get("pyarrow-1-thread")
        ld = load(os.path.join(res, f"speed-{label}.load.json")) or {}
        ratio = m["median"] / a["median"]
        pl = r.get("polars")
        pl_time = f"{pl['median']:.2f} (min {pl['min']:.2f}, max {pl['max']:.2f})" if pl else "–"
        pl_ratio = m["median"] / pl["median"] if pl else None
        pl_cols = (f"**{pl_ratio:.2f}×** | {'PASS' if pl_ratio <= 1.1 else 'FAIL'}" if pl else "– | –")
        pl_cpu = f"{pl['user'] + pl['system']:.1f}" if pl else "–"
        single = f"{one['median']:.2f} (mld {m['median'] / one['median']:.2f}×)" if one else "–"
        sa = r.get("pyarrow-system-allocator")
        sysalloc = f"{sa['median']:.2f} (mld {m['median'] / sa['median']:.2f}×)" if sa else "–"
        p(
            f"| {names[label]} "
            f"| {m['median']:.2f} (min {m['min']:.2f}, max {m['max']:.2f}, n={len(m['times'])}) "
            f"| {a['median']:.2f} (min {a['min']:.2f}, max {a['max']:.2f}) | {pl_time} "
            f"| **{ratio:.2f}×** | {'PASS' if ratio <= 1.25 else 'FAIL'} | {pl_cols} | {single} | {sysalloc} "
            f"| {m['user'] + m['system']:.1f} | {a['user'] + a['system']:.1f} | {pl_cpu} "
            f"| {ld.get('load_before', '?')}→{ld.get('load_after', '?')} |"
        )
    other_readers(res, p)
    p("")
    p("### Peak memory (/usr/bin/time -v, maximum resident set size)")
    p("")
    p("| run | input | peak RSS | wall | user+sys | stage seconds (mldatabuild's own report) | rows |")
    p("|---|---|---|---|---|---|---|")
    rows = [
        ("mldatabuild (--force re-run)", f"{gb:g} GB CSV", "mld-csv"),
        ("mldatabuild (--force re-run)", f"{gb:g} GB JSONL", "mld-jsonl"),
        ("pyarrow", f"{gb:g} GB CSV", "pyarrow-csv"),
        ("pyarrow", f"{gb:g} GB JSONL", "pyarrow-jsonl"),
        ("polars", f"{gb:g} GB CSV", "polars-csv"),
        ("polars", f"{gb:g} GB JSONL", "polars-jsonl"),
        ("mldatabuild, first build", f"{gb:g} GB CSV", "mld-csv-first"),
    ]
    # The big CSVs: results/big-<GB>.txt holds "<copies of the 1 GB CSV's rows> <bytes>".
    bigs = []
    for name in os.listdir(res):
        m = re.fullmatch(r"big-(\d+)\.txt", name)
        if m:
            reps, size = open(os.path.join(res, name)).read().split()
            bigs.append((int(m.group(1)), int(reps), int(size)))
    for g, reps, size in sorted(bigs):
        rows.append(("mldatabuild, first build", f"{size / 1e9:.2f} GB CSV", f"mld-big-{g}"))
    big_rows = {}
    for who, what, key in rows:
        t = time_v(os.path.join(res, f"rss-{key}.txt"))
        if not t:
            continue
        s = stage(os.path.join(res, f"rss-{key}.out"))
        if s and key.startswith("mld-big-"):
            big_rows[int(key.rsplit("-", 1)[1])] = s["rows"]
        p(
            f"| {who} | {what} | **{t['rss_kb'] / 1024:.0f} MB** | {t['wall']:.1f} s | {t['user'] + t['sys']:.1f} s "
            f"| {s['seconds']:.1f} s (peak {s['peak_rss_mb']} MB) | {s['rows']} |" if s else
            f"| {who} | {what} | **{t['rss_kb'] / 1024:.0f} MB** | {t['wall']:.1f} s | {t['user'] + t['sys']:.1f} s | – | – |"
        )
        if t["exit"] not in (None, "0"):
            out[-1] += f" (exit {t['exit']})"
    p("")
    p("Target: normalizing a 10 GB CSV keeps peak memory under 2 GB.")
    p("")
    p("### Outputs (zstd Parquet) and row counts")
    p("")
    p("| input | mldatabuild | pyarrow | size ratio | rows mldatabuild | rows pyarrow | rows | row groups | columns with differing values |")
    p("|---|---|---|---|---|---|---|---|---|")
    csv_rows = None
    for label in ("csv", "jsonl"):
        c = load(os.path.join(res, f"check-{label}.json"))
        if not c:
            continue
        if label == "csv":
            csv_rows = c["pyarrow_rows"]
        bad = [f"{x['name']} ({x['differing_rows']})" for x in c["columns"] if x.get("differing_rows")]
        types = [f"{x['name']}: {x['mld_type']} vs {x['pyarrow_type']}" for x in c["columns"]
                 if x.get("mld_type") and x["mld_type"] != x["pyarrow_type"]]
        p(
            f"| {gb:g} GB {label.upper()} | {c['mld_bytes'] / 1e6:.1f} MB | {c['pyarrow_bytes'] / 1e6:.1f} MB "
            f"| {c['mld_bytes'] / c['pyarrow_bytes']:.3f} | {c['mld_rows']} | {c['pyarrow_rows']} "
            f"| {'match' if c['mld_rows'] == c['pyarrow_rows'] else 'DIFFER'} "
            f"| {c['mld_row_groups']} vs {c['pyarrow_row_groups']} | {', '.join(bad) or 'none'} |"
        )
        if types:
            p(f"|  | types differ: {'; '.join(types)} | | | | | | | |")
    for g, reps, size in sorted(bigs):
        if g in big_rows and csv_rows:
            exp = reps * csv_rows
            p("")
            p(f"{size / 1e9:.2f} GB CSV: mldatabuild wrote {big_rows[g]} rows; expected {reps} × {csv_rows} = {exp}: "
              f"{'match' if big_rows[g] == exp else 'DIFFER'}.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
