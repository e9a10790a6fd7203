"""Generate the export benchmark's input: two Parquet split tables (zstd).

    python gen.py OUT_DIR --size-gb 2 --seed 1 [--info DATA.json] [--tiny TINY_DIR]

OUT_DIR/train.parquet (90 % of the rows) and OUT_DIR/test.parquet (10 %), with the columns
    id int64, text string (English-like words, 50-400 characters), label int64 (0/1/2),
    score float64, day date32, tags list<string> (0-3 short items)
and as many rows as make about SIZE_GB * 10^9 bytes of CSV text (what pyarrow.csv writes, tags
as JSON strings; measured on a sample of the rows). Row groups of 100,000 rows. The text is ASCII
with commas, quotes and periods (CSV quoting and JSON escaping are exercised), no line breaks.
Deterministic for a seed. OUT_DIR holds nothing else (it is the export's input folder);
--info gets the row counts and sizes as JSON.

--tiny also writes TINY_DIR/train.parquet and TINY_DIR/test.parquet of 1,000 and 100 rows (for
the harness's preflight of formats).
"""

import argparse
import io
import json
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHUNK = 100_000
ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v",
          "w", "y", "z", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sc",
          "sh", "sl", "sm", "sn", "sp", "st", "str", "sw", "th", "tr", "wh"]
NUCLEI = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "ie", "oa", "oo", "ou", "y"]
CODAS = ["", "", "", "n", "r", "s", "t", "l", "d", "m", "ng", "nd", "st", "ck", "th", "rt"]
COMMON = ["the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "was", "on", "with",
          "as", "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an",
          "they", "which", "one", "you", "were", "her", "all", "she", "there", "would", "their"]
TAGS = ["news", "sports", "tech", "science", "health", "arts", "travel", "food", "music",
        "film", "books", "games", "politics", "business", "finance", "weather", "auto",
        "fashion", "home", "garden", "pets", "kids", "education", "history", "nature",
        "space", "ocean", "climate", "energy", "law", "crime", "jobs", "style", "photo"]


def vocabulary(rng, n=30_000):
    words = set(COMMON)
    while len(words) < n:
        k = rng.choice([1, 2, 2, 3, 3, 4])
        w = "".join(ONSETS[rng.integers(len(ONSETS))] + NUCLEI[rng.integers(len(NUCLEI))]
                    + CODAS[rng.integers(len(CODAS))] for _ in range(k))
        if 2 <= len(w) <= 14:
            words.add(w)
    common = [w for w in COMMON]
    rest = sorted(words - set(COMMON))
    rng.shuffle(rest)
    return common + rest


def corpus(rng, nbytes):
    """About nbytes of ASCII words (Zipf frequencies), sentences with commas, quotes, periods."""
    vocab = np.array(vocabulary(rng), dtype=object)
    ranks = np.arange(1, len(vocab) + 1)
    p = 1.0 / ranks ** 1.07
    p /= p.sum()
    n_words = int(nbytes / 6.5)
    ids = rng.choice(len(vocab), size=n_words, p=p)
    words = vocab[ids]
    # Sentence ends every ~12 words; a comma every ~9; a quoted word every ~60.
    r = rng.random(n_words)
    words = np.where(r < 0.08, np.char.add(words.astype(str), "."), words)
    words = np.where((r >= 0.08) & (r < 0.19), np.char.add(words.astype(str), ","), words)
    words = np.where((r >= 0.19) & (r < 0.207), np.char.add(np.char.add('"', words.astype(str)), '"'), words)
    text = " ".join(words.tolist())
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8)


def text_column(rng, buf, n):
    """n strings: slices of the corpus starting at a word, 50-400 bytes (skewed short)."""
    lengths = np.clip((50 + rng.gamma(2.0, 70.0, size=n)).astype(np.int64), 50, 400)
    starts = rng.integers(0, len(buf) - 401, size=n)
    # move each start to the next word (after a space)
    spaces = np.flatnonzero(buf == 32)
    k = np.searchsorted(spaces, starts)
    k = np.minimum(k, len(spaces) - 1)
    starts = spaces[k] + 1
    starts = np.minimum(starts, len(buf) - 401)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    idx = np.arange(total, dtype=np.int64)
    idx += np.repeat(starts - offsets[:-1], lengths)
    data = buf[idx]
    # no trailing space/punctuation-less oddities needed: strip a trailing space by making it 'e'
    ends = offsets[1:] - 1
    data[ends[data[ends] == 32]] = ord("e")
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def chunk(rng, buf, first_id, n):
    tag_vals = np.array(TAGS, dtype=object)
    counts = rng.choice(4, size=n, p=[0.25, 0.35, 0.25, 0.15])
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = pa.array(tag_vals[rng.integers(len(TAGS), size=int(offsets[-1]))].tolist(), pa.string())
    tags = pa.ListArray.from_arrays(pa.array(offsets), values)
    day0 = np.datetime64("2015-01-01", "D").astype(np.int64)
    return pa.table({
        "id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        "text": text_column(rng, buf, n),
        "label": pa.array(rng.choice(3, size=n, p=[0.5, 0.3, 0.2]).astype(np.int64)),
        "score": pa.array(rng.normal(0.0, 1.0, size=n) * 10.0 ** rng.integers(-2, 3, size=n)),
        "day": pa.array((day0 + rng.integers(0, 11 * 365, size=n)).astype(np.int32), pa.date32()),
        "tags": tags,
    })


def csv_bytes(t):
    """Bytes of the table as pyarrow.csv writes it, tags as JSON strings."""
    tags = [json.dumps(x, separators=(",", ":")) for x in t.column("tags").to_pylist()]
    t = t.set_column(t.schema.get_field_index("tags"), "tags", pa.array(tags, pa.string()))
    sink = io.BytesIO()
    pacsv.write_csv(t, sink)
    return len(sink.getvalue())


def write(path, rng, buf, first_id, rows):
    schema = None
    with_writer = None
    done = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        t = chunk(rng, buf, first_id + done, n)
        if with_writer is None:
            schema = t.schema
            with_writer = pq.ParquetWriter(path, schema, compression="zstd")
        with_writer.write_table(t, row_group_size=CHUNK)
        done += n
    with_writer.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--info")
    ap.add_argument("--tiny")
    a = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    buf = corpus(rng, 24_000_000)
    sample = chunk(np.random.default_rng(a.seed + 1000), buf, 0, 20_000)
    per_row = csv_bytes(sample) / sample.num_rows
    rows = max(1000, int(a.size_gb * 1e9 / per_row))
    train = int(round(rows * 0.9))
    os.makedirs(a.out, exist_ok=True)
    for name in ("train", "test"):
        p = os.path.join(a.out, name + ".parquet")
        if os.path.exists(p):
            os.remove(p)
    write(os.path.join(a.out, "train.parquet"), rng, buf, 0, train)
    write(os.path.join(a.out, "test.parquet"), rng, buf, train, rows - train)
    info = {
        "size_gb": a.size_gb,
        "seed": a.seed,
        "rows": rows,
        "splits": {"train": train, "test": rows - train},
        "csv_bytes_per_row": round(per_row, 1),
        "csv_bytes_estimate": int(rows * per_row),
        "parquet_bytes": {n: os.path.getsize(os.path.join(a.out, n + ".parquet")) for n in ("train", "test")},
        "seconds": round(time.time() - t0, 1),
    }
    if a.tiny:
        os.makedirs(a.tiny, exist_ok=True)
        r2 = np.random.default_rng(a.seed + 1)
        pq.write_table(chunk(r2, buf, 0, 1000), os.path.join(a.tiny, "train.parquet"), compression="zstd")
        pq.write_table(chunk(r2, buf, 1000, 100), os.path.join(a.tiny, "test.parquet"), compression="zstd")
    if a.info:
        with open(a.info, "w") as f:
            json.dump(info, f, indent=1)
    print(json.dumps(info), file=sys.stderr)


if __name__ == "__main__":
    main()
