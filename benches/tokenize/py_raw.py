"""Peer (c): the Python `tokenizers` package's raw `encode_batch`, texts already in memory.

    python py_raw.py DATA_DIR TOKENIZER_JSON OUT_JSON [--batch 1000] [--fast]

Reads the `text` column of every Parquet file in DATA_DIR (timed apart, not counted), then
`Tokenizer.from_file(TOKENIZER_JSON).encode_batch(texts[i:i + batch])` over all texts (only these
calls are timed; the token count is taken after the clock stops, from `len(encoding)`). Threads:
the package's own Rayon pool (RAYON_NUM_THREADS, TOKENIZERS_PARALLELISM). `--fast`:
`encode_batch_fast` (no offsets) instead.
"""

import argparse
import glob
import json
import os
import time

import pyarrow.parquet as pq
import tokenizers
from tokenizers import Tokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("tokenizer")
    ap.add_argument("out")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--fast", action="store_true")
    a = ap.parse_args()

    t0 = time.perf_counter()
    texts = []
    for f in sorted(glob.glob(os.path.join(a.data, "*.parquet"))):
        texts.extend(pq.read_table(f, columns=["text"]).column("text").to_pylist())
    read_s = time.perf_counter() - t0
    text_bytes = sum(len(s.encode()) for s in texts)

    tok = Tokenizer.from_file(a.tokenizer)
    enc = tok.encode_batch_fast if a.fast else tok.encode_batch
    tokens = 0
    encode_s = 0.0
    for i in range(0, len(texts), a.batch):
        t1 = time.perf_counter()
        out = enc(texts[i : i + a.batch])
        encode_s += time.perf_counter() - t1
        tokens += sum(len(e) for e in out)
        del out

    res = {
        "tool": "python-tokenizers",
        "version": tokenizers.__version__,
        "call": "encode_batch_fast" if a.fast else "encode_batch",
        "batch": a.batch,
        "rows": len(texts),
        "text_bytes": text_bytes,
        "tokens": tokens,
        "read_s": round(read_s, 3),
        "encode_s": round(encode_s, 3),
        "mb_per_s": round(text_bytes / 1e6 / encode_s, 3),
        "tokens_per_s": round(tokens / encode_s),
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
