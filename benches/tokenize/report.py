"""The results of one tokenize benchmark run: Markdown table with the ratios, and JSON.

    python report.py RESULTS_DIR [--memory]

Reads RESULTS_DIR/meta.json (run.sh), data.json (gen_data.py), check.json (check.py), and per
run i the measure.py JSONs `mld-i.json` (+ `mld-i.stdout`: the build's JSON events),
`raw-i.json` (+ `raw-i.stdout`), `phases-i.json` (+ `.stdout`), `pyraw-i.json` (+
`pyraw-i.out.json`), `pyds-i.json` (+ `pyds-i.out.json`). Prints Markdown (also the caller's
summary.md) and writes RESULTS_DIR/summary.json. `--memory`: the 5 GB mode (mldatabuild only,
the peak memory target). Exit status 1 when a correctness check failed.
"""

import glob
import json
import os
import re
import statistics
import sys

TARGET_RAW = 0.90
TARGET_PYRAW = 5.0
TARGET_PYDS = 8.0
TARGET_MEM_BYTES = 1e9  # "under 1 GB" for 5 GB of text: 10^9 bytes = 953.7 MiB


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def events(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    except FileNotFoundError:
        pass
    return out


def stage_finished(evs, name):
    for e in evs:
        if e.get("type") == "stage_finished" and e.get("data", {}).get("name") == name:
            return e["data"]
    return None


def last_json_line(path):
    try:
        lines = [ln for ln in open(path) if ln.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def runs(res, label):
    idx = sorted({int(m.group(1)) for p in glob.glob(os.path.join(res, f"{label}-*.json"))
                  if (m := re.fullmatch(rf"{label}-(\d+)\.json", os.path.basename(p)))})
    return idx


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=2):
    if x is None:
        return "—"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 1000):
        return f"{int(x):,}"
    return f"{x:,.{nd}f}"


def mib_to_mb(x):
    return None if x is None else x * 1.048576


def collect(res):
    """Per tool: a list of per-run dicts."""
    out = {}
    for i in runs(res, "mld"):
        m = load(os.path.join(res, f"mld-{i}.json"))
        fin = stage_finished(events(os.path.join(res, f"mld-{i}.stdout")), "tokens")
        if not m or m.get("exit") != 0 or not fin:
            out.setdefault("mld", []).append({"run": i, "failed": True, "measure": m})
            continue
        out.setdefault("mld", []).append({
            "run": i, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "max_rss_mib": m["max_rss_mb"],
            "stage_s": fin["seconds"], "stage_peak_rss_mib": fin["peak_rss_mb"],
            "load": m["load_before"], "rows": fin.get("rows"),
        })
    for label, key in (("raw", "encode_s"), ("phases", "wall_s"), ("pipe", "wall_s")):
        for i in runs(res, label):
            m = load(os.path.join(res, f"{label}-{i}.json"))
            r = last_json_line(os.path.join(res, f"{label}-{i}.stdout"))
            if not m or m.get("exit") != 0 or not r:
                out.setdefault(label, []).append({"run": i, "failed": True})
                continue
            d = {"run": i, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "max_rss_mib": m["max_rss_mb"],
                 "load": m["load_before"], "basis_s": r[key], "tokens": r["tokens"],
                 "text_bytes": r["text_bytes"], "threads": r["threads"]}
            for k in ("read_s", "extract_s", "encode_s", "build_s", "write_s", "close_s", "batch_rows",
                      "encode_cpu_s", "io_cpu_s", "cores"):
                d[k] = r.get(k)
            out.setdefault(label, []).append(d)
    for i in runs(res, "pyraw"):
        m = load(os.path.join(res, f"pyraw-{i}.json"))
        r = load(os.path.join(res, f"pyraw-{i}.out.json"))
        if not m or m.get("exit") != 0 or not r:
            out.setdefault("pyraw", []).append({"run": i, "failed": True})
            continue
        out.setdefault("pyraw", []).append({
            "run": i, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "max_rss_mib": m["max_rss_mb"],
            "load": m["load_before"], "basis_s": r["encode_s"], "read_s": r["read_s"],
            "tokens": r["tokens"], "text_bytes": r["text_bytes"], "version": r["version"]})
    for i in runs(res, "pyds"):
        m = load(os.path.join(res, f"pyds-{i}.json"))
        r = load(os.path.join(res, f"pyds-{i}.out.json"))
        if not m or m.get("exit") != 0 or not r:
            out.setdefault("pyds", []).append({"run": i, "failed": True})
            continue
        out.setdefault("pyds", []).append({
            "run": i, "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "max_rss_mib": m["max_rss_mb"],
            "load": m["load_before"], "basis_s": r["work_s"], "import_s": r["import_s"],
            "load_s": r["load_s"], "map_s": r["map_s"], "write_s": r["write_s"],
            "datasets": r["datasets"], "transformers": r["transformers"]})
    return out


VARIANTS = {
    "stage": "the stage's: zstd 1, no dictionary, page statistics",
    "zstd3": "zstd 3",
    "lz4": "lz4",
    "snappy": "snappy",
    "none": "no compression",
    "bss": "BYTE_STREAM_SPLIT ids, zstd 1",
    "dict": "zstd 1, dictionary",
}


def collect_variants(res):
    out = {}
    for name in VARIANTS:
        for i in runs(res, f"wv-{name}"):
            m = load(os.path.join(res, f"wv-{name}-{i}.json"))
            r = last_json_line(os.path.join(res, f"wv-{name}-{i}.stdout"))
            if not m or m.get("exit") != 0 or not r:
                continue
            try:
                size = int(open(os.path.join(res, f"wv-{name}-{i}.size")).read().split()[0])
            except (OSError, ValueError, IndexError):
                size = None
            out.setdefault(name, []).append({"wall_s": r["wall_s"], "write_s": r["write_s"],
                                             "close_s": r["close_s"], "size": size})
    return out


def ok_runs(rs):
    return [r for r in rs or [] if not r.get("failed")]


def main():
    res = sys.argv[1]
    memory = "--memory" in sys.argv[2:]
    meta = load(os.path.join(res, "meta.json")) or {}
    data = load(os.path.join(res, "data.json")) or {}
    check = load(os.path.join(res, "check.json"))
    tools = collect(res)
    mb = data.get("text_bytes", 0) / 1e6
    summary = {"meta": meta, "data": data, "runs": tools, "check": check}
    p = print

    title = "Peak memory of the tokenize stage" if memory else "Tokenize: mldatabuild vs the raw encoders and the Python path"
    p(f"## {title}: {mb:,.0f} MB of text, GPT-2\n")
    p(f"mldatabuild `{meta.get('rev', '?')}` (binary built {meta.get('binary_built', '?')}); tokenizers (Rust) 1.0.0-rc.3; Python tokenizers "
      f"{meta.get('py_tokenizers', '?')}, datasets {meta.get('py_datasets', '?')}, transformers "
      f"{meta.get('py_transformers', '?')}; {meta.get('cores', '?')} cores, "
      f"{meta.get('threads', '?')} threads for everyone; {meta.get('runs', '?')} runs round-robin, medians; "
      f"{meta.get('date', '')}.")
    if data:
        lq = data.get("length_bytes", {})
        p(f"Data: {data['rows']:,} documents, {data['text_bytes'] / 1e6:,.0f} MB of text "
          f"({data['parquet_bytes'] / 1e6:,.0f} MB of snappy Parquet in {data['files']} file(s), row groups "
          f"of {data['row_group']:,}); bytes per document: p10 {lq.get('p10', 0):,}, median {lq.get('p50', 0):,}, "
          f"mean {lq.get('mean', 0):,}, p90 {lq.get('p90', 0):,}, max {lq.get('max', 0):,}.")
    loads = [r["load"] for rs in tools.values() for r in ok_runs(rs) if "load" in r]
    if loads:
        p(f"1-minute load average before the runs: min {min(loads):.2f}, median {med(loads):.2f}, "
          f"max {max(loads):.2f}.\n")

    mld = ok_runs(tools.get("mld"))
    failed = [r["run"] for r in tools.get("mld", []) if r.get("failed")]
    if failed:
        p(f"**mldatabuild failed in run(s) {failed}**: see `mld-<run>.stderr`.\n")
    stage_s = med([r["stage_s"] for r in mld])
    wall_s = med([r["wall_s"] for r in mld])

    if memory:
        p("| run | tokenize stage s | MB/s | stage peak RSS (executor) | process max RSS (GNU time) | whole build wall s | load |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        for r in mld:
            p(f"| {r['run']} | {fmt(r['stage_s'])} | {fmt(mb / r['stage_s'], 1)} | "
              f"{r['stage_peak_rss_mib']:,} MiB | {fmt(r['max_rss_mib'], 0)} MiB | {fmt(r['wall_s'])} | {r['load']:.2f} |")
        peak = max([r["max_rss_mib"] for r in mld] + [r["stage_peak_rss_mib"] for r in mld], default=None)
        met = peak is not None and peak * 1048576 < TARGET_MEM_BYTES
        summary["memory"] = {"peak_mib": peak, "target_bytes": TARGET_MEM_BYTES, "met": met}
        p("")
        if peak is not None:
            p(f"**Peak memory: {peak:,.0f} MiB ({peak * 1.048576:,.0f} MB) for {mb / 1000:.2f} GB of text: "
              f"target (< 1 GB = 953.7 MiB) {'met' if met else 'NOT met'}.**")
        json.dump(summary, open(os.path.join(res, "summary.json"), "w"), indent=1)
        return 0

    raw = ok_runs(tools.get("raw"))
    phases = ok_runs(tools.get("phases"))
    pipe = ok_runs(tools.get("pipe"))
    pipe_s = med([r["basis_s"] for r in pipe])
    pyraw = ok_runs(tools.get("pyraw"))
    pyds = ok_runs(tools.get("pyds"))
    raw_s = med([r["basis_s"] for r in raw])
    ph_s = med([r["basis_s"] for r in phases])
    pyraw_s = med([r["basis_s"] for r in pyraw])
    pyds_wall = med([r["wall_s"] for r in pyds])
    pyds_work = med([r["basis_s"] for r in pyds])
    tokens = (raw or pyraw or [{}])[0].get("tokens")

    def rate(s):
        return (fmt(mb / s, 1), fmt(tokens / s / 1e6, 2) if tokens else "—") if s else ("—", "—")

    p("### Medians\n")
    p("| what | timed | seconds | MB/s of text | M tokens/s | process wall s | CPU s | max RSS MiB |")
    p("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = [
        ("**mldatabuild** tokenize stage", "the stage (`stage_finished.seconds`)", stage_s, mld),
        ("mldatabuild, whole command", "`mldatabuild build` (tokenize runs; `clean` fresh)", wall_s, mld),
        ("tokenizers-rs raw encode", "`encode_batch` calls only (texts in memory)", raw_s, raw),
        ("tokenizers-rs, the stage's loop, serial", "read → extract → encode → build → write, no stats", ph_s, phases),
        ("tokenizers-rs, the stage's loop, 3 threads", "read ‖ extract + encode ‖ build + write, no stats", pipe_s, pipe),
        ("Python tokenizers `encode_batch`", "`encode_batch` calls only (texts in memory)", pyraw_s, pyraw),
        ("Python datasets path, whole script", "process (imports, load_dataset, map, to_parquet)", pyds_wall, pyds),
        ("Python datasets path, work", "load_dataset + map + to_parquet", pyds_work, pyds),
    ]
    for name, what, s, rs in rows:
        r_mb, r_tok = rate(s)
        rss = "stage " + fmt(med([r["stage_peak_rss_mib"] for r in rs]), 0) + " / process " + \
            fmt(med([r["max_rss_mib"] for r in rs]), 0) if rs is mld else fmt(med([r["max_rss_mib"] for r in rs]), 0)
        p(f"| {name} | {what} | {fmt(s)} | {r_mb} | {r_tok} | {fmt(med([r['wall_s'] for r in rs]))} | "
          f"{fmt(med([r['cpu_s'] for r in rs]), 1)} | {rss} |")

    p("\n### Ratios (throughput of mldatabuild ÷ the other's, same texts, same machine, same threads)\n")
    p("| comparison | ratio | target | met? |")
    p("|---|---:|---:|---|")
    ratios = {}

    def ratio(key, label, num_s, den_s, target, primary=True):
        if not num_s or not den_s:
            p(f"| {label} | — | {'≥ ' + fmt(target) + '×' if primary else 'info'} | — |")
            return
        r = den_s / num_s
        ratios[key] = {"ratio": round(r, 3), "target": target if primary else None,
                       "met": (r >= target) if primary else None}
        shown = f"{r:.2f}" if target < 1 else f"{r:.1f}×"
        tgt = (f"≥ {target:.2f}" if target < 1 else f"≥ {target:g}×") if primary else "(info)"
        met = ("**yes**" if r >= target else "**no**") if primary else ""
        p(f"| {label} | **{shown}** | {tgt} | {met} |")

    ratio("stage_vs_raw", "tokenize stage ÷ raw crate encode", stage_s, raw_s, TARGET_RAW)
    ratio("command_vs_raw", "whole command ÷ raw crate encode", wall_s, raw_s, TARGET_RAW, False)
    ratio("loop_vs_raw", "the stage's loop, serial, no stats (raw program) ÷ raw encode", ph_s, raw_s, TARGET_RAW, False)
    ratio("pipe_vs_raw", "the stage's loop on 3 threads, no stats (raw program) ÷ raw encode", pipe_s, raw_s, TARGET_RAW, False)
    ratio("stage_vs_pyraw", "tokenize stage ÷ Python `encode_batch`", stage_s, pyraw_s, TARGET_PYRAW)
    ratio("command_vs_pyraw", "whole command ÷ Python `encode_batch`", wall_s, pyraw_s, TARGET_PYRAW, False)
    ratio("command_vs_pyds", "whole command ÷ Python datasets script (process wall)", wall_s, pyds_wall, TARGET_PYDS)
    ratio("stage_vs_pyds_work", "tokenize stage ÷ Python datasets work (no imports)", stage_s, pyds_work, TARGET_PYDS, False)
    summary["ratios"] = ratios
    summary["medians"] = {"stage_s": stage_s, "command_wall_s": wall_s, "raw_encode_s": raw_s,
                          "stage_loop_s": ph_s, "stage_loop_3threads_s": pipe_s, "pyraw_encode_s": pyraw_s,
                          "pyds_wall_s": pyds_wall, "pyds_work_s": pyds_work,
                          "text_mb": mb, "tokens": tokens}

    if phases:
        p("\n### Where the stage's loop spends its time (raw program, `phases` mode, medians)\n")
        keys = ["read_s", "extract_s", "encode_s", "build_s", "write_s", "close_s"]
        names = ["Parquet read + decode", "text extraction (owned Strings)", "encode",
                 "output batch (take + List<UInt32>)", "Parquet write (zstd 1, no dictionary)", "close (footer, last flush)"]
        tot = sum(med([r[k] for r in phases]) or 0 for k in keys)
        p("| phase | seconds | share |")
        p("|---|---:|---:|")
        for k, n in zip(keys, names):
            v = med([r[k] for r in phases]) or 0
            p(f"| {n} | {v:.2f} | {100 * v / tot:.0f} % |")
        p(f"| total | {tot:.2f} | |")
        summary["phases"] = {k: med([r[k] for r in phases]) for k in keys}
        ec = med([r["encode_cpu_s"] for r in phases if r.get("encode_cpu_s") is not None])
        ic = med([r["io_cpu_s"] for r in phases if r.get("io_cpu_s") is not None])
        enc = med([r["encode_s"] for r in phases])
        cores = max((r.get("cores") or 0) for r in phases) or None
        if ec and ic and enc and cores:
            # However the work is spread over threads, the loop cannot take less than its CPU
            # time divided by the cores, nor less than the encoding's own wall time: that caps
            # "stage ÷ raw encode" at enc / max(enc, (ec + ic) / cores).
            floor = max(enc, (ec + ic) / cores)
            ceiling = enc / floor
            p(f"\nCPU of the loop: encoding {ec:.2f} s (on {enc:.2f} s of wall time), everything "
              f"else {ic:.2f} s (read, extract, build, write, close). On {cores} cores no "
              f"pipelining can finish the loop in less than max({enc:.2f}, ({ec:.2f} + {ic:.2f}) / "
              f"{cores}) = {floor:.2f} s: **stage ÷ raw encode ≤ {ceiling:.2f}** on this machine "
              f"with these write settings.")
            summary["cpu_ceiling"] = {"encode_cpu_s": ec, "io_cpu_s": ic, "encode_wall_s": enc,
                                      "cores": cores, "floor_s": round(floor, 3),
                                      "ceiling": round(ceiling, 3)}

    wv = collect_variants(res)
    if wv:
        p("\n### Other Parquet write settings for the output (the stage's loop, serial, raw program; medians)\n")
        p("| settings | loop s | write + close s | output MB | loop ÷ raw encode |")
        p("|---|---:|---:|---:|---:|")
        for name, rs in wv.items():
            loop = med([r["wall_s"] for r in rs])
            wr = med([r["write_s"] + r["close_s"] for r in rs])
            size = med([r["size"] for r in rs if r.get("size")])
            p(f"| {VARIANTS.get(name, name)} | {fmt(loop)} | {fmt(wr)} | {fmt(size / 1e6 if size else None, 0)} | "
              f"{fmt(raw_s / loop if raw_s and loop else None)} |")
        summary["write_variants"] = {k: {"loop_s": med([r["wall_s"] for r in v]),
                                         "write_close_s": med([r["write_s"] + r["close_s"] for r in v]),
                                         "bytes": med([r["size"] for r in v if r.get("size")])}
                                     for k, v in wv.items()}

    p("\n### Every run\n")
    p("| run | mld stage s | mld wall s | raw encode s | loop serial s | loop 3 threads s | py encode_batch s | py datasets wall s | load |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    by = {k: {r["run"]: r for r in ok_runs(v)} for k, v in tools.items()}
    for i in sorted({r["run"] for v in tools.values() for r in v}):
        g = lambda k, f: fmt(by.get(k, {}).get(i, {}).get(f))  # noqa: E731
        lds = [by[k][i]["load"] for k in by if i in by[k]]
        p(f"| {i} | {g('mld', 'stage_s')} | {g('mld', 'wall_s')} | {g('raw', 'basis_s')} | "
          f"{g('phases', 'basis_s')} | {g('pipe', 'basis_s')} | {g('pyraw', 'basis_s')} | {g('pyds', 'wall_s')} | "
          f"{min(lds):.2f}–{max(lds):.2f} |" if lds else f"| {i} | failed |")

    bad = 0
    p("\n### Checks\n")
    if check:
        for c in check["checks"]:
            p(f"- {'ok' if c['ok'] else '**FAILED**'}: {c['check']} ({c['detail']})")
            bad += not c["ok"]
        t_mld = check.get("facts", {}).get("tokens")
        t_raw = {r["tokens"] for r in raw + phases + pipe}
        t_py = {r["tokens"] for r in pyraw}
        same = t_mld is not None and t_raw <= {t_mld} and t_py <= {t_mld}
        p(f"- {'ok' if same else '**FAILED**'}: the same token total everywhere (mldatabuild "
          f"{fmt(t_mld)}, raw {', '.join(fmt(t) for t in sorted(t_raw)) or '—'}, Python "
          f"{', '.join(fmt(t) for t in sorted(t_py)) or '—'})")
        bad += not same
    else:
        p("- **not run** (no mldatabuild output)")
        bad += 1
    json.dump(summary, open(os.path.join(res, "summary.json"), "w"), indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
