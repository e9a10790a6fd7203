"""Correctness guard of the tokenize benchmark: what mldatabuild wrote is right and readable.

    python check.py SOURCE_DIR MLD_OUT_DIR TOKENIZER_JSON OUT_JSON [--datasets-out FILE]
                    [--sample 1000] [--seed 7]

- `pyarrow.parquet.read_table` reads every Parquet file mldatabuild wrote; `input_ids` is a list
  of uint32; the row count equals the source's; the ids are the source's, in order;
- `datasets.load_dataset("parquet")` reads them too (into a fresh cache: HF_DATASETS_CACHE) and
  sees `input_ids` as a sequence of uint32;
- for `--sample` rows drawn with `--seed`, the ids equal those of the Python `tokenizers`
  package (`Tokenizer.from_file(...).encode_batch(texts)`, special tokens added as the stage
  adds them by default) on the source texts; and, with `--datasets-out`, equal those the Python
  `datasets` path wrote (`input_ids` there is int32);
- the total token count (from the Parquet footers' list sizes) is reported for the ratios.

Writes OUT_JSON with every check (name, ok, detail) and prints it; exits 1 when one failed.
"""

import argparse
import glob
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("mld_out")
    ap.add_argument("tokenizer")
    ap.add_argument("out")
    ap.add_argument("--datasets-out")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    checks = []

    def check(name, ok, detail):
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    src_files = sorted(glob.glob(os.path.join(a.source, "*.parquet")))
    out_files = sorted(glob.glob(os.path.join(a.mld_out, "**", "*.parquet"), recursive=True))
    check("mldatabuild wrote Parquet", bool(out_files), f"{len(out_files)} file(s) in {a.mld_out}")
    if not out_files:
        return finish(a.out, checks, {})

    src = pa.concat_tables(pq.read_table(f, columns=["id", "text"]) for f in src_files)
    out = pa.concat_tables(pq.read_table(f) for f in out_files)
    ids_type = out.schema.field("input_ids").type if "input_ids" in out.schema.names else None
    check("pyarrow reads it; input_ids is list<uint32>",
          ids_type is not None and pa.types.is_list(ids_type) and ids_type.value_type == pa.uint32(),
          f"schema: {', '.join(f'{f.name}: {f.type}' for f in out.schema)}")
    check("one row per source row", out.num_rows == src.num_rows,
          f"{out.num_rows:,} rows out, {src.num_rows:,} in")
    same_ids = out.num_rows == src.num_rows and out.column("id").equals(src.column("id"))
    check("rows in source order (id column)", same_ids, "kept column `id` equals the source's")
    tokens = int(pc.sum(pc.list_value_length(out.column("input_ids"))).as_py() or 0)

    # datasets reads it.
    try:
        import datasets

        ds = datasets.load_dataset("parquet", data_files=out_files, split="train",
                                   cache_dir=os.environ.get("HF_DATASETS_CACHE"))
        feat = ds.features["input_ids"]
        inner = getattr(feat, "feature", None)
        if inner is None and isinstance(feat, list):
            inner = feat[0]
        dtype = getattr(inner, "dtype", None)
        check("datasets.load_dataset(\"parquet\") reads it; input_ids uint32",
              len(ds) == out.num_rows and dtype == "uint32",
              f"{len(ds):,} rows, input_ids: {feat}")
        first = ds[0]["input_ids"]
        check("datasets row 0 equals pyarrow row 0",
              first == out.column("input_ids")[0].as_py(), f"{len(first)} ids")
        del ds
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        check("datasets.load_dataset(\"parquet\") reads it", False, f"{type(e).__name__}: {e}")

    # Python tokenizers on a sample.
    from tokenizers import Tokenizer

    rng = random.Random(a.seed)
    n = min(a.sample, src.num_rows)
    rows = sorted(rng.sample(range(src.num_rows), n))
    texts = [src.column("text")[r].as_py() for r in rows]
    tok = Tokenizer.from_file(a.tokenizer)
    py_ids = [e.ids for e in tok.encode_batch(texts)]
    mld_ids = [out.column("input_ids")[r].as_py() for r in rows] if same_ids else []
    bad = [r for r, x, y in zip(rows, py_ids, mld_ids) if x != y]
    check(f"ids equal Python tokenizers on {n:,} sampled rows",
          same_ids and not bad,
          "all equal" if same_ids and not bad else f"{len(bad)} differ, first rows {bad[:5]}")

    if a.datasets_out and os.path.exists(a.datasets_out):
        dso = pq.read_table(a.datasets_out, columns=["id", "input_ids"])
        ok = dso.num_rows == src.num_rows and dso.column("id").equals(src.column("id"))
        ds_ids = [dso.column("input_ids")[r].as_py() for r in rows] if ok else []
        bad = [r for r, x, y in zip(rows, ds_ids, mld_ids) if x != y]
        check(f"ids equal the datasets path's on {n:,} sampled rows", ok and not bad,
              "all equal" if ok and not bad else f"{len(bad)} differ (rows {bad[:5]}), aligned={ok}")

    facts = {"rows": out.num_rows, "tokens": tokens, "files": len(out_files),
             "bytes": sum(os.path.getsize(f) for f in out_files),
             "input_ids_type": str(ids_type)}
    return finish(a.out, checks, facts)


def finish(path, checks, facts):
    res = {"checks": checks, "facts": facts, "ok": all(c["ok"] for c in checks)}
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    for c in checks:
        print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['detail']}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
