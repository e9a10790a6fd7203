#!/usr/bin/env python3
"""Parquet data for the dedup + split benchmark: seeded, deterministic, with planted exact
duplicate rows.

    python gen.py OUT_DIR TRUTH.json --gb 5 [--seed 20251122] [--dup-rate 0.03]
                  [--words 30,200] [--group-rows 131072] [--groups-per-file 10]
                  [--compression snappy]

Columns:

    id     int64, unique per original row (0, 1, 2, ...)
    text   string, 30-200 words (--words MIN,MAX) drawn from a 50,000-word vocabulary with
           Zipf frequencies (s = 1.05; frequent words are short)
    label  string, 10 classes, imbalanced (the largest ~18x the smallest)
    score  float64, ~5 % null
    ts     timestamp[us], 2020-01-01 .. 2025-01-01

Layout: files `part-NNNNN.parquet`, each `--groups-per-file` row groups of exactly
`--group-rows` rows (the last file may have fewer groups). The number of row groups is chosen
from a sample so that the files come to about `--gb` GB (10^9 bytes) on disk.

Duplicates: every row group holds round(dup_rate * group_rows) copies of earlier original
rows (full rows, id included), at random positions. A copy in row group t copies an original
drawn uniformly (with replacement) from the originals of row groups 0..t, so copies are spread
across files and some originals are copied more than once. Copies are never copied. So the
exact-duplicate count is the number of copies, and rows after dedup = rows - copies.

Writes TRUTH.json (rows, duplicates, per-file rows, bytes; outside OUT_DIR, which must hold
only the table) and prints it.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

VOCAB = 50_000
ZIPF_S = 1.05
LUT_BITS = 22
LABELS = [
    "news", "sports", "science", "business", "health",
    "travel", "food", "music", "legal", "other",
]
TS_LO = 1_577_836_800_000_000  # 2020-01-01 in microseconds
TS_HI = 1_735_689_600_000_000  # 2025-01-01


def make_vocab(rng):
    """VOCAB distinct lowercase pseudo-words; word of rank r has length ~ 2 + log2(r)/2."""
    letters = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
    # letter frequencies roughly like English
    lp = np.array([12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4,
                   2.4, 2.2, 2.0, 2.0, 1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07])
    lp = lp / lp.sum()
    seen = set()
    words = []
    r = 0
    while len(words) < VOCAB:
        n = 1 + int(np.log2(r + 2) / 2.0) + int(rng.integers(0, 3))
        w = letters[rng.choice(len(letters), size=n, p=lp)].tobytes().decode()
        r += 1
        if w in seen:
            continue
        seen.add(w)
        words.append(w)
    return pa.array(words, type=pa.string())


def zipf_lut():
    """A table mapping a uniform LUT_BITS-bit integer to a word rank (Zipf, s = ZIPF_S)."""
    p = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF_S
    cdf = np.cumsum(p / p.sum())
    u = (np.arange(1 << LUT_BITS) + 0.5) / (1 << LUT_BITS)
    return np.minimum(np.searchsorted(cdf, u), VOCAB - 1).astype(np.int32)


class Gen:
    def __init__(self, seed, words=(30, 200)):
        self.seed = seed
        self.words = words
        self.vocab = make_vocab(np.random.default_rng([seed, 0]))
        self.lut = zipf_lut()
        lp = 1.0 / np.arange(1, len(LABELS) + 1) ** 1.25
        self.label_p = lp / lp.sum()
        self.labels = pa.array(LABELS, type=pa.string())

    def originals(self, group, first_id, n):
        """n original rows of row group `group`, ids first_id.., from their own RNG stream."""
        rng = np.random.default_rng([self.seed, 1, group])
        counts = rng.integers(self.words[0], self.words[1] + 1, size=n)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        idx = self.lut[rng.integers(0, 1 << LUT_BITS, size=int(offsets[-1]), dtype=np.int64)]
        words = self.vocab.take(pa.array(idx))
        text = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), words), " ")
        label = self.labels.take(pa.array(rng.choice(len(LABELS), size=n, p=self.label_p)))
        score_v = np.round(rng.normal(0.6, 0.2, size=n), 6)
        score = pa.array(score_v, mask=rng.random(n) < 0.05, type=pa.float64())
        ts = pa.array(rng.integers(TS_LO, TS_HI, size=n), type=pa.int64()).cast(pa.timestamp("us"))
        ids = pa.array(np.arange(first_id, first_id + n, dtype=np.int64))
        return pa.table({"id": ids, "text": text, "label": label, "score": score, "ts": ts})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("truth")
    ap.add_argument("--gb", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=20251122)
    ap.add_argument("--dup-rate", type=float, default=0.03)
    ap.add_argument("--words", default="30,200", help="words per text: MIN,MAX")
    ap.add_argument("--group-rows", type=int, default=131072)
    ap.add_argument("--groups-per-file", type=int, default=10)
    ap.add_argument("--compression", default="snappy")
    a = ap.parse_args()

    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    lo, hi = (int(x) for x in a.words.split(","))
    g = Gen(a.seed, (lo, hi))
    R = a.group_rows
    C = round(a.dup_rate * R)  # copies per row group
    O = R - C  # originals per row group

    # Bytes per row group on disk, from one sample group written the same way.
    sample = g.originals(10**9, 0, R)
    sink = pa.BufferOutputStream()
    pq.write_table(sample, sink, compression=a.compression, row_group_size=R)
    per_group = sink.getvalue().size
    del sample, sink
    groups = max(1, round(a.gb * 1e9 / per_group))
    print(f"sample: {per_group} bytes per row group of {R} rows; {groups} row groups", file=sys.stderr)

    # The plan: for each target group t, C sources drawn from originals of groups 0..t.
    prng = np.random.default_rng([a.seed, 2])
    src_of = {}  # source group -> list of (global original index, target group)
    for t in range(groups):
        srcs = prng.integers(0, (t + 1) * O, size=C)
        for s in srcs:
            src_of.setdefault(int(s) // O, []).append((int(s), t))
    pending = {}  # target group -> list of tables of copies

    files = []
    total = 0
    path = None
    writer = None
    schema = None
    for t in range(groups):
        orig = g.originals(t, t * O, O)
        schema = orig.schema
        # copies whose source lies in this group (for this group or later ones)
        by_target = {}
        for s, tgt in src_of.pop(t, []):
            by_target.setdefault(tgt, []).append(s - t * O)
        for tgt, rows in by_target.items():
            pending.setdefault(tgt, []).append(orig.take(pa.array(rows, type=pa.int64())))
        copies = pa.concat_tables(pending.pop(t))
        assert copies.num_rows == C, (t, copies.num_rows)
        # originals in their order, copies at random positions
        grng = np.random.default_rng([a.seed, 3, t])
        is_copy = np.zeros(R, dtype=bool)
        is_copy[grng.choice(R, size=C, replace=False)] = True
        order = np.empty(R, dtype=np.int64)
        order[~is_copy] = np.arange(O)
        order[is_copy] = O + grng.permutation(C)
        group = pa.concat_tables([orig, copies]).take(pa.array(order)).combine_chunks()
        if t % a.groups_per_file == 0:
            if writer is not None:
                writer.close()
            path = os.path.join(a.out, f"part-{t // a.groups_per_file:05d}.parquet")
            writer = pq.ParquetWriter(path, schema, compression=a.compression)
            files.append({"file": os.path.basename(path), "rows": 0})
        writer.write_table(group, row_group_size=R)
        files[-1]["rows"] += R
        total += R
        if t % 10 == 9 or t == groups - 1:
            print(f"  {t + 1}/{groups} row groups, {time.time() - t0:.0f} s", file=sys.stderr)
    writer.close()
    assert not pending and not src_of

    nbytes = 0
    for f in files:
        f["bytes"] = os.path.getsize(os.path.join(a.out, f["file"]))
        nbytes += f["bytes"]
    truth = {
        "rows": total,
        "duplicates": groups * C,
        "unique_rows": total - groups * C,
        "row_groups": groups,
        "group_rows": R,
        "files": len(files),
        "bytes": nbytes,
        "bytes_per_row": round(nbytes / total, 1),
        "compression": a.compression,
        "seed": a.seed,
        "dup_rate": a.dup_rate,
        "words": [lo, hi],
        "seconds": round(time.time() - t0, 1),
        "per_file": files,
    }
    with open(a.truth, "w") as fh:
        json.dump(truth, fh, indent=1)
    print(json.dumps({k: v for k, v in truth.items() if k != "per_file"}))


if __name__ == "__main__":
    main()
