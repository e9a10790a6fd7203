#!/usr/bin/env python3
"""Helpers of benches/run.sh.

    report.py check-noop BUILD.jsonl   fail unless a `build --json` was a pure no-op
    report.py table RESULTS_DIR        print the results table from hyperfine's JSON files
"""

import json
import os
import statistics
import sys

TARGET_NOOP_MS = 100.0
TARGET_NOOP_RATIO = 20.0
TARGET_WARM_GBS = 1.0


def check_noop(path: str) -> None:
    """Events are {"type": ..., "data": ...} (src/report/events.rs)."""
    events = [json.loads(line) for line in open(path) if line.strip()]
    problems, fresh, files = [], 0, 0
    for e in events:
        kind, data = e.get("type"), e.get("data") or {}
        if kind == "source_hashed":
            files += data["files"]
            if data["rehashed"]:
                problems.append(f"source {data['name']}: {data['rehashed']} files re-hashed")
        elif kind == "stage_fresh":
            fresh += 1
        elif kind == "build_finished":
            if data["lock_changed"]:
                problems.append("lock_changed is true")
            if not data["ok"]:
                problems.append("ok is false")
            bad = [s["name"] for s in data["stages"] if s["status"] != "fresh"]
            if bad:
                problems.append(f"stages not fresh: {bad}")
        elif kind != "build_started":
            problems.append(f"unexpected event: {json.dumps(e)[:200]}")
    if problems:
        sys.exit("not a no-op build:\n  " + "\n  ".join(problems))
    print(f"no-op build confirmed: {fresh} stages fresh, {files} source files, none re-hashed, lock unchanged")


def load(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    return {r["command"]: r for r in json.load(open(path))["results"]}


def ms(r: dict) -> str:
    times = r["times"]
    cpu = (r["user"] + r["system"]) * 1e3
    return (
        f"{statistics.median(times) * 1e3:9.1f} ms  (min {min(times) * 1e3:7.1f}, max {max(times) * 1e3:7.1f}, n={len(times):2d};"
        f" cpu {cpu:7.1f} ms)"
    )


def cpu(r: dict) -> float:
    """Mean user + system CPU time: far less sensitive than wall time to other load."""
    return r["user"] + r["system"]


def med(r: dict) -> float:
    return statistics.median(r["times"])


def table(results: str) -> None:
    rev = os.path.join(results, "revision.txt")
    if os.path.exists(rev):
        print(f"mldatabuild: {open(rev).read().strip()}")
    loadavg = os.path.join(results, "load.txt")
    if os.path.exists(loadavg):
        print(open(loadavg).read().strip())
        print(f"machine: {os.cpu_count()} cores; hyperfine JSON in {results}")
        print()
    noop = load(os.path.join(results, "noop.json"))
    if noop:
        print("Benchmark 1: no-op build, 10 stages over 10,000 input files (median wall time)")
        for name, r in noop.items():
            print(f"  {name:<24} {ms(r)}")
        mb, dr = noop.get("mldatabuild build -q"), noop.get("dvc repro")
        if mb and dr:
            m = med(mb) * 1e3
            ratio = med(dr) / med(mb)
            ok_ms = "PASS" if m < TARGET_NOOP_MS else "FAIL"
            ok_ratio = "PASS" if ratio >= TARGET_NOOP_RATIO else "FAIL"
            print(f"  target: median < {TARGET_NOOP_MS:.0f} ms ........ {m:.1f} ms  {ok_ms}")
            print(f"  target: >= {TARGET_NOOP_RATIO:.0f}x faster than dvc repro  {ratio:.1f}x  {ok_ratio}"
                  f"   (CPU-time ratio {cpu(dr) / cpu(mb):.1f}x)")
        ms_, ds = noop.get("mldatabuild status"), noop.get("dvc status")
        if ms_ and ds:
            print(f"  (status: mldatabuild status is {med(ds) / med(ms_):.1f}x faster than dvc status;"
                  f" CPU-time ratio {cpu(ds) / cpu(ms_):.1f}x)")
        print()

    noop1g = load(os.path.join(results, "verify-noop.json"))
    warm = load(os.path.join(results, "verify-warm.json"))
    cold = load(os.path.join(results, "verify-cold.json"))
    if warm or cold:
        nbytes = int(open(os.path.join(results, "verify-bytes.txt")).read())
        nfiles = sum(1 for _ in open(os.path.join(results, "verify-files.txt")))
        can_drop = open(os.path.join(results, "verify-can-drop.txt")).read().strip() == "1"
        gb = nbytes / 1e9
        print(f"Benchmark 2: verify {nbytes:,} bytes ({gb:.3f} GB) of outputs in {nfiles} files (median; GB = 1e9 bytes)")
        if not can_drop:
            print("  NOTE: the page cache could not be dropped: '(cold)' rows are with a warm page cache")
        rows = list(warm.items()) + list(cold.items())
        for name, r in rows:
            print(f"  {name[:44]:<44} {ms(r)}  {gb / med(r):7.2f} GB/s")
        for name, r in noop1g.items():
            print(f"  {name[:44]:<44} {ms(r)}")
        w = warm.get("verify (warm stat cache)")
        if w:
            gbs = gb / med(w)
            print(f"  target: warm >= {TARGET_WARM_GBS:.0f} GB/s ........ {gbs:.1f} GB/s  {'PASS' if gbs >= TARGET_WARM_GBS else 'FAIL'}")
        pairs = [
            ("verify (cold)", "sha256sum 1 core (cold)", "cold: verify vs sha256sum"),
            ("verify (cold)", "cat >/dev/null (cold: disk read only)", "cold: verify vs reading the files (cat)"),
            ("verify (hot page cache)", "sha256sum 1 core (hot page cache)", "hashing only: verify vs sha256sum"),
            ("verify (hot page cache)", "openssl sha256 1 core (hot page cache)", "hashing only: verify vs openssl"),
            ("verify 1 core (hot page cache)", "openssl sha256 1 core (hot page cache)", "hashing only, 1 core: verify vs openssl"),
            ("verify (hot page cache)", "verify 1 core (hot page cache)", "verify all cores vs 1 core"),
        ]
        for a, b, label in pairs:
            if a in cold and b in cold:
                print(f"  {label:<44} {med(cold[b]) / med(cold[a]):5.2f}x  (wall-time ratio; >1: the first is faster)")
        speed = os.path.join(results, "openssl-speed.txt")
        if os.path.exists(speed):
            fields = open(speed).read().split()
            if fields:
                # `openssl speed -bytes 1048576`: the last column is kB/s (1000 bytes).
                kbs = float(fields[-1].rstrip("k"))
                sha_ni = open(os.path.join(results, "sha-ni.txt")).read().strip()
                print(f"  reference: openssl speed sha256, 1 core, in memory: {kbs * 1e3 / 1e9:.2f} GB/s ({sha_ni})")


def main() -> None:
    if sys.argv[1] == "check-noop":
        check_noop(sys.argv[2])
    elif sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
