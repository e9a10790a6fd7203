#!/usr/bin/env python3
"""Group the samples of a `perf record --call-graph dwarf` profile of `mldatabuild build` by
what the fetch is doing (run.sh profile uses it).

    perf script -F comm,tid,ip,sym -i perf.data | perf_groups.py

A sample goes to the first group all of whose words appear in its stack; the leaf functions of
the samples left over are listed under "other".
"""

import collections
import sys

GROUPS = [
    # mldatabuild from a7696a4 on: hashed as the bytes arrive (on a second thread from 647ae84)
    ("fetch: SHA-256 / git SHA-1 while downloading (Digests)", ["Digests"]),
    # before: a pass over the downloaded file
    ("fetch: SHA-256 pass over the downloaded file (read + hash)", ["sha256_file", "fetch_one"]),
    ("fetch: git SHA-1 pass over the downloaded file", ["git_blob_sha1"]),
    ("fetch: download: recv (socket → user copy)", ["download", "tcp_recvmsg"]),
    ("fetch: download: write (user → page cache)", ["download", "vfs_write"]),
    ("fetch: download: ureq body reader (its buffer → ours)", ["download", "BodyReader"]),
    ("fetch: download: other", ["download"]),
    ("fetch: per-file locks (cache/locks/*.lock)", ["Cache::lock"]),
    ("fetch: store the blob (chmod, rename)", ["store_blob"]),
    ("fetch: publish the snapshot (hard links)", ["publish"]),
    ("fetch: other", ["fetch_one"]),
    ("fetch: other", ["fetch_source"]),
    ("build: hash the fetched files again (stat cache)", ["digest_many"]),
    ("zeroing buffers (memset)", ["__memset"]),
]


def samples(stream):
    cur = None
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if cur is not None:
                yield cur
            cur = None
            continue
        if not line.startswith(("\t", " ")):
            cur = []
        elif cur is not None:
            parts = line.strip().split(None, 1)
            cur.append(parts[1] if len(parts) > 1 else parts[0])
    if cur is not None:
        yield cur


def main():
    counts = collections.Counter()
    other = collections.Counter()
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        joined = " | ".join(stack)
        for name, words in GROUPS:
            if all(w in joined for w in words):
                counts[name] += 1
                break
        else:
            counts["other"] += 1
            other[(stack[0] if stack else "?")[:70]] += 1
    if not total:
        sys.exit("no samples")
    print(f"{total} samples")
    for name, n in counts.most_common():
        print(f"{100 * n / total:6.1f} %  {name}")
    if other:
        print("\nother, by leaf function:")
        for leaf, n in other.most_common(12):
            print(f"{100 * n / total:6.1f} %  {leaf}")


if __name__ == "__main__":
    main()
