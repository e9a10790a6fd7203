"""Score near-duplicate runs against the planted ground truth and print a side-by-side table.

    python score.py DOCS.txt TRUTH.tsv RUN [RUN ...] [--threshold T] [--tolerance E] [--out FILE.md]

A RUN is `RESULT.json` (speed only) or `RESULT.json:PAIRS.tsv` (speed and quality). The
subset a run covered is the first `docs` lines (from its JSON).

Definitions (exact Jaccard = of the two documents' sets of normalized word 5-grams, computed
here in Python):

- true pairs of a subset: the pairs of documents, both in the subset, that are in one planted
  group (a document and its planted copies, transitively) or reported by any run on that
  subset, whose exact Jaccard >= T. (Unplanted random documents share no 5-gram in practice.)
- recall = true pairs reported / true pairs.
- precision = reported pairs with exact Jaccard >= T - E / reported pairs (E = 0.05 by default:
  a MinHash estimate of 112 values has a standard error of ~0.02 near 0.95, so a pair at 0.93
  passes some of the time for any MinHash implementation); the strict variant (E = 0) is shown
  too.
"""

import argparse
import json
import re
from pathlib import Path

WORD_RE = re.compile(r"[^\W_]+")


def shingles(text, n=5):
    w = WORD_RE.findall(text.lower())
    if not w:
        return frozenset()
    if len(w) < n:
        return frozenset([tuple(w)])
    return frozenset(tuple(w[i : i + n]) for i in range(len(w) - n + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("docs")
    ap.add_argument("truth")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--out")
    a = ap.parse_args()
    thr, tol = a.threshold, a.tolerance

    runs = []
    for spec in a.runs:
        js, _, pairs_path = spec.partition(":")
        r = json.loads(Path(js).read_text())
        r["_name"] = Path(js).stem
        pairs = None
        if pairs_path:
            pairs = set()
            with open(pairs_path) as f:
                for line in f:
                    x, y, _ = line.split("\t")
                    x, y = int(x), int(y)
                    pairs.add((min(x, y), max(x, y)))
        r["_pairs"] = pairs
        runs.append(r)

    need = max((r["docs"] for r in runs if r["_pairs"] is not None), default=0)
    docs = []
    with open(a.docs, encoding="utf-8") as f:
        for line in f:
            if len(docs) >= need:
                break
            docs.append(line.rstrip("\n"))
    links = []
    with open(a.truth) as f:
        for line in f:
            if line.strip():
                s, c, *_ = line.split("\t")
                links.append((int(s), int(c)))

    cache = {}

    def sh(i):
        s = cache.get(i)
        if s is None:
            s = cache[i] = shingles(docs[i])
        return s

    jcache = {}

    def exact(p):
        j = jcache.get(p)
        if j is None:
            x, y = sh(p[0]), sh(p[1])
            j = jcache[p] = len(x & y) / len(x | y) if (x or y) else 0.0
        return j

    def planted_pairs(n):
        parent = {}

        def find(x):
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for s, c in links:
            if s < n and c < n:
                rs, rc = find(s), find(c)
                if rs != rc:
                    parent[max(rs, rc)] = min(rs, rc)
        groups = {}
        for x in list(parent):
            groups.setdefault(find(x), []).append(x)
        out = set()
        for g in groups.values():
            g.sort()
            out.update((g[i], g[j]) for i in range(len(g)) for j in range(i + 1, len(g)))
        return out

    truth = {}
    for n in sorted({r["docs"] for r in runs if r["_pairs"] is not None}):
        cand = planted_pairs(n)
        for r in runs:
            if r["_pairs"] is not None and r["docs"] == n:
                cand |= r["_pairs"]
        truth[n] = {p for p in cand if exact(p) >= thr}

    buckets = [(thr, thr + 0.01), (thr + 0.01, thr + 0.03), (thr + 0.03, 1.0), (1.0, 1.01)]
    rows = []
    for r in runs:
        row = {
            "run": r["_name"],
            "tool": r["tool"],
            "docs": r["docs"],
            "threads": r["threads"],
            "seconds": r["seconds"],
            "docs_per_s": r["docs_per_s"],
            "per_core": r["docs_per_s_per_core"],
            "rss_mb": r.get("peak_rss_bytes", 0) / 1e6,
        }
        if r["_pairs"] is not None:
            t = truth[r["docs"]]
            rep = r["_pairs"]
            row["pairs"] = len(rep)
            row["true"] = len(t)
            row["recall"] = len(rep & t) / len(t) if t else float("nan")
            row["precision"] = sum(exact(p) >= thr - tol for p in rep) / len(rep) if rep else float("nan")
            row["precision_strict"] = sum(exact(p) >= thr for p in rep) / len(rep) if rep else float("nan")
            by = []
            for lo, hi in buckets:
                inb = [p for p in t if lo <= exact(p) < hi]
                by.append(f"{sum(p in rep for p in inb)}/{len(inb)}")
            row["by_bucket"] = by
        rows.append(row)

    def f(x, spec):
        return "" if x is None else format(x, spec)

    lines = [
        f"| run | tool | docs | threads | seconds | docs/s | docs/s per core | recall | precision (J ≥ {thr - tol:.2f}) | precision (J ≥ {thr:.2f}) | pairs | true pairs | peak RSS MB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for w in rows:
        lines.append(
            f"| {w['run']} | {w['tool']} | {w['docs']:,} | {w['threads']} | {w['seconds']:.2f} | {w['docs_per_s']:,.0f} | {w['per_core']:,.0f} | "
            f"{f(w.get('recall'), '.2%')} | {f(w.get('precision'), '.2%')} | {f(w.get('precision_strict'), '.2%')} | "
            f"{f(w.get('pairs'), ',')} | {f(w.get('true'), ',')} | {w['rss_mb']:,.0f} |"
        )
    lines.append("")
    lines.append(
        "Recall by exact Jaccard of the true pair: "
        + ", ".join(f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}" for lo, hi in buckets)
    )
    lines.append("")
    for w in rows:
        if "by_bucket" in w:
            lines.append(f"- {w['run']}: " + ", ".join(w["by_bucket"]))
    lines.append("")
    ds = [w for w in rows if w["tool"] == "datasketch"]
    for d in ds:
        for w in rows:
            if w["tool"] != "datasketch" and w["docs"] == d["docs"]:
                line = (
                    f"- {w['run']} vs {d['run']} ({d['docs']:,} docs): {d['seconds'] / w['seconds']:.1f}x faster in wall time, "
                    f"{w['per_core'] / d['per_core']:.1f}x per core"
                )
                if "recall" in w and "recall" in d:
                    line += f"; recall {100 * (w['recall'] - d['recall']):+.2f} points, precision {100 * (w['precision'] - d['precision']):+.2f} points"
                lines.append(line)
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
