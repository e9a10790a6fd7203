#!/usr/bin/env python3
"""Where mldatabuild's CPU time goes, from a `perf record --call-graph dwarf` profile.

    python perf_groups.py perf.data [TOP]

Every sample is put in one component by its call stack (first rule that matches, see
COMPONENTS), then within it by its leaf function. Prints, per thread and overall, the share of
samples per component, and the top leaf functions of each component. Shares are of all
samples of the process (both threads together: at most 200% of wall time on 2 cores).
"""

import collections
import subprocess
import sys

# (component, substrings any of which in the stack selects it), checked in order.
COMPONENTS = [
    ("output hash (sha256 of part-0.parquet)", ["statcache::sha256_file"]),
    ("source hash (blake3)", ["blake3"]),
    ("type inference (sampled rows)", ["Table::infer", "infer_json_schema"]),
    ("file write (kernel)", ["ksys_write", "vfs_write"]),
    ("file read (kernel)", ["ksys_read", "vfs_read"]),
    ("Parquet: zstd compression", ["ZSTD_", "HUF_", "HIST_", "FSE_", "zstd_codec"]),
    ("Parquet: encoding (dictionary, levels, pages)", ["parquet::"]),
    ("CSV: quote tracking (QuoteTracker)", ["QuoteTracker"]),
    ("CSV: tokenize (csv_core)", ["csv_core::"]),
    ("CSV: parse values, build Arrow arrays (arrow_csv)", ["arrow_csv::"]),
    ("JSON: tokenize + decode (arrow_json)", ["arrow_json::"]),
    ("normalize transform (cast, nulls)", ["Normalize::transform", "arrow_cast::", "arrow_select::"]),
]


def component(stack):
    joined = "\n".join(stack)
    for name, keys in COMPONENTS:
        if any(k in joined for k in keys):
            return name
    return "other (allocator, memcpy outside the above, start-up)"


def samples(path):
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "tid,ip,sym", "--no-inline"],
        capture_output=True, text=True, check=True,
    ).stdout
    for block in out.split("\n\n"):
        lines = [l.strip() for l in block.strip().splitlines()]
        if not lines:
            continue
        tid = lines[0].split()[0]
        stack = [" ".join(l.split()[1:]) for l in lines[1:]]
        yield tid, stack


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    by_comp = collections.Counter()
    by_thread = collections.defaultdict(collections.Counter)
    leaves = collections.defaultdict(collections.Counter)
    total = 0
    for tid, stack in samples(path):
        total += 1
        c = component(stack)
        by_comp[c] += 1
        by_thread[tid][c] += 1
        leaf = stack[0] if stack else "?"
        leaves[c][leaf[:90]] += 1
    if not total:
        print("no samples")
        return
    print(f"{total} samples")
    print("\nthreads (samples; main components):")
    for tid, cnt in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(cnt.values())
        if n / total < 0.01:
            continue
        mains = ", ".join(f"{c.split(' (')[0]} {v / n:.0%}" for c, v in cnt.most_common(3))
        print(f"  tid {tid:>7}: {n / total:6.1%} of samples  [{mains}]")
    print("\ncomponents (share of all samples) and their top leaf functions:")
    for c, n in by_comp.most_common():
        print(f"  {n / total:6.1%}  {c}")
        for leaf, m in leaves[c].most_common(top):
            if m / total >= 0.003:
                print(f"            {m / total:6.1%}  {leaf}")


if __name__ == "__main__":
    main()
