#!/usr/bin/env python3
"""How the size of each `write` changes the cost of writing a large file into the page cache.

    python3 benches/fetch/write_sizes.py [DIR] [--runs 6] [--gb 2]

For each size (16 KiB … 1 MiB), in turn and alternating (so every size meets the same machine
states), a child process writes GB gigabytes of random bytes into a new file in DIR (default
$BENCH_WORK or /tmp/mldbench-fetch) with writes of that size; the file is deleted and `sync` run
between runs. Prints the child's system time per size (median, min–max, every run). This is what
chose the 128 KiB pieces downloads are written in (`WRITE_PIECE` in src/fetch/http.rs); see
benches/fetch/README.md, "The large file: what it took". Standard library only.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

SIZES = [16 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20]


def child(path, size, total):
    buf = os.urandom(4 << 20)
    mv = memoryview(buf)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    done = off = 0
    while done < total:
        n = os.write(fd, mv[off:off + size])
        done += n
        off = (off + size) % (len(buf) - size)
    os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=os.environ.get("BENCH_WORK", "/tmp/mldbench-fetch"))
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    path = os.path.join(a.dir, "write-sizes.bin")
    total = int(a.gb * 1000 * 1024 * 1024)
    if a.child:
        child(path, a.child, total)
        return
    os.makedirs(a.dir, exist_ok=True)
    sys_times = {s: [] for s in SIZES}
    for r in range(a.runs):
        k = r % len(SIZES)
        for size in SIZES[k:] + SIZES[:k]:
            if os.path.exists(path):
                os.remove(path)
            subprocess.run(["sync"], check=False)
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
            t0 = time.monotonic()
            subprocess.run([sys.executable, __file__, a.dir, "--gb", str(a.gb), "--child", str(size)],
                           check=True)
            wall = time.monotonic() - t0
            st = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime - before
            sys_times[size].append(st)
            print(f"run {r + 1}: {size >> 10} KiB writes: {wall:.2f} s wall, {st:.2f} s system",
                  file=sys.stderr)
    if os.path.exists(path):
        os.remove(path)
    print(f"| write size | system time for {a.gb:g} GB: median | min–max | every run |")
    print("|---|---:|---|---|")
    for size in SIZES:
        ts = sorted(sys_times[size])
        print(f"| {size >> 10} KiB | {statistics.median(ts):.2f} s | {ts[0]:.2f}–{ts[-1]:.2f} s | "
              f"{' '.join(f'{t:.2f}' for t in ts)} |")


if __name__ == "__main__":
    main()
