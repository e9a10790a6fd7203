"""Run a command under `/usr/bin/time -v` and summarize it as JSON.

    python measure.py --label NAME --results DIR [--cap-mb N] -- COMMAND ARGS...

Writes DIR/NAME.time.txt (GNU time's report), DIR/NAME.stdout, DIR/NAME.stderr and
DIR/NAME.json: wall seconds, user and system CPU seconds, max RSS (GNU time: the largest single
process of the tree, in MiB), the peak of the whole tree's RSS polled every 50 ms, the 1-minute
load average before and after, the exit status. With --cap-mb the command is killed when the
tree's RSS passes the cap (a run that does not fit ends as a finding, not with the OOM killer
picking a neighbour's process). Exits with the command's status.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time


def tree_rss_kb(root):
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
            if ": " in line:
                k, v = line.rsplit(": ", 1)
                out[k.strip()] = v.strip()
    return out


def wall_seconds(s):
    sec = 0.0
    for p in s.split(":"):
        sec = sec * 60 + float(p)
    return sec


def load1():
    return float(open("/proc/loadavg").read().split()[0])


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
    load_before = load1()
    t0 = time.perf_counter()
    killed = False
    peak = 0
    with open(base + ".stdout", "wb") as out, open(base + ".stderr", "wb") as err:
        p = subprocess.Popen(["/usr/bin/time", "-v", "-o", base + ".time.txt", *cmd],
                             stdout=out, stderr=err, start_new_session=True)
        while p.poll() is None:
            rss, pids = tree_rss_kb(p.pid)
            # the tree includes `time` itself (~2 MB); fine at this scale
            peak = max(peak, rss)
            if a.cap_mb and rss > a.cap_mb * 1024 and not killed:
                killed = True
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.05)
    wall = time.perf_counter() - t0
    t = parse_time(base + ".time.txt") if os.path.exists(base + ".time.txt") else {}
    wall_key = "Elapsed (wall clock) time (h:mm:ss or m:ss)"
    res = {
        "label": a.label,
        "command": cmd,
        "exit": p.returncode,
        "killed_at_cap": killed,
        "cap_mb": a.cap_mb or None,
        "wall_s": round(wall_seconds(t[wall_key]), 2) if wall_key in t else round(wall, 2),
        "user_s": float(t.get("User time (seconds)", "nan")),
        "sys_s": float(t.get("System time (seconds)", "nan")),
        "max_rss_mb": round(int(t["Maximum resident set size (kbytes)"]) / 1024, 1)
        if "Maximum resident set size (kbytes)" in t else None,
        "tree_peak_rss_mb": round(peak / 1024, 1),
        "load_before": load_before,
        "load_after": load1(),
    }
    res["cpu_s"] = round(res["user_s"] + res["sys_s"], 2)
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res), file=sys.stderr)
    return 0 if killed else p.returncode


if __name__ == "__main__":
    sys.exit(main())
