"""Summarize a results folder of benches/export/run.sh into summary.md and summary.json.

    python report.py RESULTS_DIR

Reads meta.json, data.json, check.json and every run's <label>.json (benches/common/measure.py),
<label>.stdout (the Python peers print their steps' seconds) and <label>.bytes.
"""

import glob
import json
import os
import re
import statistics
import sys


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def runs(res, prefix):
    """The runs of one command, by run number: label prefix-N."""
    out = []
    for p in glob.glob(os.path.join(res, prefix + "-*.json")):
        m = re.fullmatch(re.escape(prefix) + r"-(\d+)\.json", os.path.basename(p))
        if not m:
            continue
        r = load(p)
        if r is None:
            continue
        r["run"] = int(m.group(1))
        try:
            with open(p[:-5] + ".stdout") as f:
                lines = [l for l in f.read().splitlines() if l.startswith("{")]
            r["steps"] = json.loads(lines[-1]) if lines else None
        except (OSError, ValueError):
            r["steps"] = None
        try:
            with open(p[:-5] + ".bytes") as f:
                r["out_bytes"] = int(f.read().strip() or 0)
        except (OSError, ValueError):
            r["out_bytes"] = None
        out.append(r)
    return sorted(out, key=lambda r: r["run"])


def stats(rs):
    ok = [r for r in rs if r["exit"] == 0]
    if not ok:
        return None
    w = [r["wall_s"] for r in ok]
    c = [r["cpu_s"] for r in ok]
    rss = [r["max_rss_mb"] for r in ok if r.get("max_rss_mb") is not None]
    return {
        "runs": len(rs),
        "ok_runs": len(ok),
        "wall_median": round(statistics.median(w), 2),
        "wall_min": min(w),
        "wall_max": max(w),
        "cpu_median": round(statistics.median(c), 2),
        "cpu_per_wall": round(statistics.median(c) / statistics.median(w), 2),
        "max_rss_mb_median": round(statistics.median(rss), 1) if rss else None,
        "max_rss_mb_max": max(rss) if rss else None,
        "tree_peak_rss_mb_max": max(r["tree_peak_rss_mb"] for r in ok),
        "load_before": [r["load_before"] for r in rs],
        "walls": {r["run"]: r["wall_s"] for r in rs},
        "failed_runs": [r["run"] for r in rs if r["exit"] != 0],
        "out_bytes": ok[-1].get("out_bytes"),
        "steps_median": median_steps(ok),
    }


def median_steps(rs):
    steps = [r["steps"] for r in rs if r.get("steps")]
    if not steps:
        return None
    keys = list(steps[0])
    return {k: round(statistics.median(s.get(k, 0.0) for s in steps), 2) for k in keys}


def pair_ratios(a, b, ours_over_theirs):
    """Ratios of the runs of the same round."""
    wa = {r["run"]: r["wall_s"] for r in a if r["exit"] == 0}
    wb = {r["run"]: r["wall_s"] for r in b if r["exit"] == 0}
    out = []
    for k in sorted(set(wa) & set(wb)):
        out.append(round(wa[k] / wb[k] if ours_over_theirs else wb[k] / wa[k], 2))
    return out


def mb(x):
    return "—" if x is None else f"{x:,.0f} MiB"


def gb(x):
    return "—" if not x else f"{x / 1e9:.2f} GB"


def fmt_loads(l):
    return " / ".join(f"{x:.1f}" for x in l)


def row(name, s):
    if s is None:
        return f"| {name} | failed | | | | | | |"
    return (f"| {name} | {s['wall_median']:.1f} | {s['wall_min']:.1f}–{s['wall_max']:.1f} | "
            f"{s['cpu_median']:.1f} ({s['cpu_per_wall']:.2f} cores) | {mb(s['max_rss_mb_max'])} | "
            f"{fmt_loads(s['load_before'])} | {s['ok_runs']}/{s['runs']} | "
            f"{gb(s['out_bytes'])} |")


HEAD = ("| command | median wall s | min–max s | median CPU s | peak RSS (max) | 1-min load before each run | ok runs | output |\n"
        "|---|---:|---:|---:|---:|---|---:|---:|")


def main():
    res = sys.argv[1]
    meta = load(os.path.join(res, "meta.json"), {})
    data = load(os.path.join(res, "data.json"), {})
    check = load(os.path.join(res, "check.json"), {})
    out = {"meta": meta, "data": data, "checks": check}
    md = []
    v = meta.get("versions", {})
    md.append(f"# export benchmark: {meta.get('size_gb')} GB (as CSV), {meta.get('runs')} run(s) round-robin\n")
    md.append(f"- date {meta.get('date')}; mldatabuild `{meta.get('rev')}` ({meta.get('dirty_files')} changed "
              f"files in the tree, {meta.get('src_dirty_files', '?')} of them under src/ or Cargo.*), {meta.get('binary')}, built {meta.get('binary_built')}; {meta.get('rustc')}")
    md.append(f"- machine: {meta.get('nproc')} cores ({meta.get('cpu')}), {meta.get('mem_gb')} GiB, "
              f"kernel {meta.get('kernel')}; shared with other work: the load at the start was "
              f"{meta.get('load_at_start')}; every command under nice {meta.get('nice')}")
    md.append(f"- Python {v.get('python')}, pyarrow {v.get('pyarrow')}, pandas {v.get('pandas')}, "
              f"numpy {v.get('numpy')}, datasets {v.get('datasets')}")
    if data:
        pb = sum(data.get("parquet_bytes", {}).values())
        md.append(f"- data: {data.get('rows'):,} rows (train {data['splits']['train']:,}, test "
                  f"{data['splits']['test']:,}), ~{data.get('csv_bytes_estimate', 0) / 1e9:.2f} GB as CSV, "
                  f"{pb / 1e9:.2f} GB as Parquet (zstd), seed {data.get('seed')}")
    md.append("- ratios are what count: absolute times are noisy on this shared machine\n")

    ok_all = True
    mld, peer = runs(res, "mld"), runs(res, "peer")
    if mld or peer:
        sm, sp = stats(mld), stats(peer)
        ratio = round(sp["wall_median"] / sm["wall_median"], 2) if sm and sp else None
        pr = pair_ratios(mld, peer, ours_over_theirs=False)
        met = ratio is not None and ratio >= 1.5
        ok_all &= met
        out["part1"] = {"mldatabuild": sm, "peer": sp, "ratio_peer_over_ours": ratio,
                        "ratio_per_round": pr, "target": ">= 1.5", "met": met}
        md.append("## 1. Parquet + JSON Lines + CSV in one pass\n")
        md.append("`mldatabuild export DATA --format parquet,jsonl,csv` (fresh store and output folder each run) "
                  "vs `py_three.py` (pyarrow read → `pq.write_table` zstd → pandas `to_json` lines → "
                  "`pyarrow.csv.write_csv`, one after another).\n")
        md.append(HEAD)
        md.append(row("mldatabuild export", sm))
        md.append(row("pyarrow + pandas", sp))
        md.append("")
        if ratio is not None:
            md.append(f"**Speed-up (peer median / mldatabuild median): {ratio:.2f}×** "
                      f"(per round: {', '.join(f'{x:.2f}×' for x in pr)}); target ≥ 1.5×: "
                      f"**{'met' if met else 'not met'}**.")
            if sm["max_rss_mb_max"] and sp["max_rss_mb_max"]:
                md.append(f"Peak RSS: mldatabuild {mb(sm['max_rss_mb_max'])}, peer {mb(sp['max_rss_mb_max'])} "
                          f"({sp['max_rss_mb_max'] / sm['max_rss_mb_max']:.1f}× more).")
        if sp and sp.get("steps_median"):
            md.append("\nThe peer's steps (median s): " + ", ".join(f"{k} {x:.1f}" for k, x in sp["steps_median"].items()))
        solo = {f: stats(runs(res, f"solo-{f}")) for f in ("parquet", "jsonl", "csv")}
        solo = {f: s for f, s in solo.items() if s}
        if solo:
            out["part1"]["solo"] = solo
            md.append("\nmldatabuild with one format alone (`--format F`), where the time of the one pass goes:\n")
            md.append(HEAD)
            for f, s in solo.items():
                md.append(row(f"mldatabuild export --format {f}", s))
            if sm:
                md.append(f"\nSum of the three alone: {sum(s['wall_median'] for s in solo.values()):.1f} s wall, "
                          f"{sum(s['cpu_median'] for s in solo.values()):.1f} s CPU; all three in one pass: "
                          f"{sm['wall_median']:.1f} s wall, {sm['cpu_median']:.1f} s CPU.")
        md.append("")

    mh, ph = runs(res, "mldhf"), runs(res, "pyhf")
    if mh or ph:
        sm, sp = stats(mh), stats(ph)
        ratio = round(sm["wall_median"] / sp["wall_median"], 2) if sm and sp else None
        pr = pair_ratios(mh, ph, ours_over_theirs=True)
        met = ratio is not None and ratio <= 1.2
        ok_all &= met
        out["part2"] = {"mldatabuild": sm, "datasets": sp, "ratio_ours_over_theirs": ratio,
                        "ratio_per_round": pr, "target": "<= 1.2", "met": met}
        md.append("## 2. Hugging Face layouts (hf + hf-disk)\n")
        md.append("`mldatabuild export DATA --format hf,hf-disk` vs `py_hf.py` (`Dataset.from_parquet` per split "
                  "into a fresh HF cache → `to_parquet` per split + `DatasetDict.save_to_disk`).\n")
        md.append(HEAD)
        md.append(row("mldatabuild export", sm))
        md.append(row("datasets", sp))
        md.append("")
        if ratio is not None:
            md.append(f"**mldatabuild / datasets: {ratio:.2f}×** (per round: {', '.join(f'{x:.2f}×' for x in pr)}); "
                      f"target ≤ 1.2×: **{'met' if met else 'not met'}**.")
            if sm["max_rss_mb_max"] and sp["max_rss_mb_max"]:
                md.append(f"Peak RSS: mldatabuild {mb(sm['max_rss_mb_max'])}, datasets {mb(sp['max_rss_mb_max'])}.")
        cache = []
        for p in sorted(glob.glob(os.path.join(res, "pyhf-*.cache-bytes"))):
            try:
                cache.append(int(open(p).read().strip()))
            except ValueError:
                pass
        if cache:
            out["part2"]["datasets_cache_bytes"] = max(cache)
            md.append(f"datasets also wrote {max(cache) / 1e9:.2f} GB of Arrow cache under HF_HOME "
                      "(not counted in its output column).")
        if sp and sp.get("steps_median"):
            md.append("\ndatasets' steps (median s): " + ", ".join(f"{k} {x:.1f}" for k, x in sp["steps_median"].items()))
        md.append("")

    md.append("## Checks (the last run's outputs)\n")
    if not check:
        md.append("no check.json: the checks did not run")
        ok_all = False
    for split, s in check.get("part1", {}).items():
        parts = [f"input {s['input_rows']:,} rows"]
        for side in ("mldatabuild", "peer"):
            for f in ("parquet", "jsonl", "csv"):
                x = s.get(f"{side}_{f}")
                if isinstance(x, dict):
                    parts.append(f"{side} {f} {x['rows']:,}")
                else:
                    parts.append(f"{side} {f} {x}")
        flags = []
        for k in ("jsonl_first_last_equal", "jsonl_first_last_equal_input", "csv_header_first_last_equal"):
            if k in s:
                flags.append(f"{k}: {s[k]}")
        for side in ("mldatabuild", "peer"):
            x = s.get(f"{side}_parquet")
            if isinstance(x, dict):
                flags.append(f"{side} parquet schema equal: {x['schema_equal']}, first/last rows equal: "
                             f"{x['first_last_equal']}, codecs {'/'.join(x['codecs'])}, {x['row_groups']} row groups")
        md.append(f"- **{split}**: " + "; ".join(parts) + ". " + "; ".join(flags))
    if "part1_ok" in check:
        md.append(f"- part 1 checks: **{'all passed' if check['part1_ok'] else 'FAILED (see check.json)'}**")
        ok_all &= check["part1_ok"]
    if "part2" in check:
        p2 = check["part2"]
        for side in ("mldatabuild", "peer"):
            s = p2.get(side, {})
            md.append(f"- {side}: hf Parquet rows {s.get('hf_parquet_rows')} ({'/'.join(s.get('hf_parquet_codecs') or [])}), "
                      f"hf-disk rows {s.get('hf_disk_rows')}"
                      + (f", error: {s['error']}" if "error" in s else ""))
        md.append(f"- features equal: {p2.get('features_equal')}; part 2 checks: "
                  f"**{'all passed' if check.get('part2_ok') else 'FAILED (see check.json)'}**")
        ok_all &= bool(check.get("part2_ok"))
    out["ok"] = bool(ok_all)
    with open(os.path.join(res, "summary.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(res, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
