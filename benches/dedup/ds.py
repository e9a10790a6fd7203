"""The datasketch side of the near-duplicate benchmark, at the Rust module's parameters.

    python ds.py DOCS.txt [--limit N] [--threshold T] [--pairs-out FILE]

Same normalization (lowercase, words = runs of Unicode alphanumerics), same word 5-gram
shingles (fewer than 5 words: one shingle of all words; no word: not indexed), 112
permutations, LSH with 14 bands x 8 rows, candidates verified by `MinHash.jaccard >= T`.

datasketch's fastest pure-CPU path is used: `MinHash.bulk` (one initialized MinHash copied per
document, `update_batch` hashing every shingle with its default SHA-1 32-bit hash and applying
the permutations with numpy; default "affine32" scheme of datasketch 2.x), insertion through
`MinHashLSH.insertion_session()` without duplicate-key checks, then one `query` per document.
`LeanMinHash` is not used: converting costs time and its `jaccard` is the same.

Prints one JSON object like the Rust driver (reading the file is not timed; shingling is).
"""

import argparse
import json
import re
import resource
import sys
import time

from datasketch import MinHash, MinHashLSH

WORD_RE = re.compile(r"[^\W_]+")
NUM_PERM, BANDS, ROWS, NGRAM = 112, 14, 8, 5


def shingle_bytes(text):
    w = WORD_RE.findall(text.lower())
    if not w:
        return None
    if len(w) < NGRAM:
        return [" ".join(w).encode()]
    return list({" ".join(w[i : i + NGRAM]).encode() for i in range(len(w) - NGRAM + 1)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("docs")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--pairs-out")
    a = ap.parse_args()

    docs = []
    with open(a.docs, encoding="utf-8") as f:
        for line in f:
            if a.limit is not None and len(docs) >= a.limit:
                break
            docs.append(line.rstrip("\n"))

    t0 = time.perf_counter()
    ids, sets = [], []
    for i, d in enumerate(docs):
        s = shingle_bytes(d)
        if s is not None:
            ids.append(i)
            sets.append(s)
    t1 = time.perf_counter()
    mhs = MinHash.bulk(sets, num_perm=NUM_PERM)
    del sets
    t2 = time.perf_counter()
    lsh = MinHashLSH(threshold=a.threshold, num_perm=NUM_PERM, params=(BANDS, ROWS))
    with lsh.insertion_session() as session:
        for i, m in zip(ids, mhs):
            session.insert(i, m, check_duplication=False)
    t3 = time.perf_counter()
    by_id = dict(zip(ids, mhs))
    candidates = 0
    pairs = []
    for i, m in zip(ids, mhs):
        for j in lsh.query(m):
            if j > i:
                candidates += 1
                s = m.jaccard(by_id[j])
                if s >= a.threshold:
                    pairs.append((i, j, s))
    t4 = time.perf_counter()
    pairs.sort()

    seconds = t4 - t0
    print(
        json.dumps(
            {
                "tool": "datasketch",
                "docs": len(docs),
                "indexed": len(ids),
                "threads": 1,
                "seconds": seconds,
                "shingle_seconds": t1 - t0,
                "minhash_seconds": t2 - t1,
                "insert_seconds": t3 - t2,
                "query_seconds": t4 - t3,
                "docs_per_s": len(docs) / seconds,
                "docs_per_s_per_core": len(docs) / seconds,
                "candidates": candidates,
                "pairs": len(pairs),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "python": sys.version.split()[0],
            }
        )
    )
    if a.pairs_out:
        with open(a.pairs_out, "w") as f:
            for i, j, s in pairs:
                f.write(f"{i}\t{j}\t{s:.6f}\n")


if __name__ == "__main__":
    main()
