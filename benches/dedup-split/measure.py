#!/usr/bin/env python3
"""Run a command under `/usr/bin/time -v`, with a memory cap, and summarize.

    python measure.py --label NAME --results DIR [--cap-mb N] -- COMMAND ARGS...

Writes DIR/NAME.time.txt (GNU time's report), DIR/NAME.stdout, DIR/NAME.stderr and
DIR/NAME.json: wall seconds, max RSS (GNU time: the largest process of the tree), user/system
CPU, exit status, and whether the watchdog killed it. The watchdog polls the resident memory
of the whole process tree every 50 ms and kills the command (not `time`) when it exceeds --cap-mb (so that a
peer that does not fit in memory ends with a finding, not with the OOM killer picking a
neighbour's process). Exit status: the command's, or 0 when it was killed at the cap (the
caller reads `killed` from the JSON).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def tree_rss_kb(root):
    """Sum of VmRSS over root and its descendants, and the descendants' pids."""
    total = 0
    todo = [root]
    pids = []
    while todo:
        pid = todo.pop()
        if pid != root:
            pids.append(pid)
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total, pids


def parse_time(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if ":" not in line:
                continue
            k, v = line.rsplit(": ", 1) if ": " in line else (line, "")
            out[k.strip()] = v.strip()
    return out


def wall_seconds(s):
    parts = [float(p) for p in s.split(":")]
    sec = 0.0
    for p in parts:
        sec = sec * 60 + p
    return sec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--cap-mb", type=int, default=0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    os.makedirs(a.results, exist_ok=True)
    base = os.path.join(a.results, a.label)
    t0 = time.time()
    with open(base + ".stdout", "wb") as out, open(base + ".stderr", "wb") as err:
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", base + ".time.txt", *cmd],
                             stdout=out, stderr=err, start_new_session=True)
        peak = 0
        killed = False
        while p.poll() is None:
            rss, pids = tree_rss_kb(p.pid)
            peak = max(peak, rss)
            if a.cap_mb and rss > a.cap_mb * 1024 and not killed:
                # kill the command (time's children), so that time still writes its report
                killed = True
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)
    wall = time.time() - t0
    t = parse_time(base + ".time.txt") if os.path.exists(base + ".time.txt") else {}
    res = {
        "label": a.label,
        "command": cmd,
        "exit": p.returncode,
        "killed_at_cap": killed,
        "cap_mb": a.cap_mb or None,
        "wall_s": round(wall_seconds(t["Elapsed (wall clock) time (h:mm:ss or m:ss)"]), 2)
        if "Elapsed (wall clock) time (h:mm:ss or m:ss)" in t else round(wall, 2),
        "max_rss_mb": round(int(t["Maximum resident set size (kbytes)"]) / 1024, 1)
        if "Maximum resident set size (kbytes)" in t else None,
        "polled_peak_rss_mb": round(peak / 1024, 1),
        "user_s": float(t.get("User time (seconds)", "nan")),
        "sys_s": float(t.get("System time (seconds)", "nan")),
        "load_after": float(open("/proc/loadavg").read().split()[0]),
    }
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res), file=sys.stderr)
    if killed:
        return 0
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
