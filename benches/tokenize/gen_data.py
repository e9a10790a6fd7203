"""English prose as Parquet (`id` int64, `text` string) for the tokenize benchmark.

No internet: the corpus is built from real text already on this machine, cleaned into
paragraphs and recombined, seeded, into documents:

- Markdown / reStructuredText / plain-text files (README, guides, changelogs) of the crates under
  ~/.cargo/registry/src/*/ and of /usr/share/doc (including the gzipped ones);
- Rust doc comments (`///`, `//!`) of those crates;
- Python docstrings of the standard libraries and site-packages of the pyenv interpreters
  (parsed with `ast`).

Code blocks, tables, HTML tags, link targets and lines that look like code are dropped; a
paragraph is kept when it reads as prose (mostly letters and spaces, at least 8 words, most
words alphabetic). Paragraphs are deduplicated (first occurrence kept) and kept in source order,
files sorted by path, so the pool does not depend on the order the file system lists files in
(it does depend on what is installed here) and consecutive paragraphs mostly come from one file.

Documents: a target length drawn from a log-normal (median `--median-bytes`, clamped to
[`--min-bytes`, `--max-bytes`]), filled with consecutive paragraphs of the pool from a random
start (so a document reads as one source's prose), joined by blank lines, cut at the target on
a word boundary when one paragraph would overshoot it by far. Written with pyarrow, row groups
of `--row-group` rows, snappy, in files of at most `--file-rows` rows, until the texts' UTF-8
bytes reach `--bytes`.

    python gen_data.py OUT_DIR --bytes 600000000 [--seed 1] [--pool POOL.txt]

Prints a JSON summary (rows, text bytes, length quantiles, pool size) and writes it to
OUT_DIR/../data.json.
"""

import argparse
import ast
import glob
import gzip
import hashlib
import json
import math
import os
import random
import re
import sys
import warnings

import pyarrow as pa
import pyarrow.parquet as pq

HOME = os.path.expanduser("~")

FENCE = re.compile(r"^\s*(```|~~~)")
HTML_TAG = re.compile(r"<[^>\n]{1,200}>")
MD_LINK = re.compile(r"!?\[([^\]\n]{0,300})\]\([^)\n]{0,500}\)")
MD_REF = re.compile(r"\[([^\]\n]{0,300})\]\[[^\]\n]{0,100}\]")
URL = re.compile(r"https?://\S+")
RST_ROLE = re.compile(r":[a-z:]+:`([^`]*)`")
INLINE_CODE = re.compile(r"``?([^`\n]{1,80})``?")
EMPH = re.compile(r"(\*\*|__|\*)(?=\S)([^*\n]{1,200}?)(?<=\S)\1")
SPACES = re.compile(r"[ \t]+")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
CODEISH = re.compile(r"[{};=<>|\\$]|::|->|=>|\(\)|^\s*[#@]|^\s*(fn|let|use|pub|def|import|from|class|return|if|for)\b")


def clean_inline(s):
    s = HTML_TAG.sub("", s)
    s = MD_LINK.sub(r"\1", s)
    s = MD_REF.sub(r"\1", s)
    s = URL.sub("", s)
    s = RST_ROLE.sub(r"\1", s)
    s = INLINE_CODE.sub(r"\1", s)
    s = EMPH.sub(r"\2", s)
    return SPACES.sub(" ", s).strip()


def prose(p):
    """Whether a cleaned paragraph reads as English prose."""
    if len(p) < 60 or len(p) > 6000:
        return False
    words = p.split()
    if len(words) < 8:
        return False
    alpha = sum(1 for w in words if WORD.fullmatch(w.strip(".,;:!?()\"'")))
    if alpha < 0.75 * len(words):
        return False
    letters = sum(c.isalpha() or c == " " for c in p)
    if letters < 0.85 * len(p):
        return False
    if not p[0].isupper():
        return False
    if p[-1] not in ".!?:)\"'":
        return False
    return True


def paragraphs_of_lines(lines):
    """Blank-line separated paragraphs of text lines, skipping code blocks, tables, headings,
    list markers' lines that look like code, indented (code) blocks."""
    out = []
    cur = []
    in_fence = False

    def flush():
        if cur:
            out.append(" ".join(cur))
            cur.clear()

    for raw in lines:
        line = raw.rstrip("\n").rstrip()
        if FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        s = line.strip()
        if not s:
            flush()
            continue
        if (
            line.startswith("    ")
            or line.startswith("\t")
            or s.startswith("|")
            or s.startswith("#")
            or s.startswith(">>>")
            or s.startswith("..")
            or set(s) <= set("=-*_~^#+`:. ")
            or CODEISH.search(s)
        ):
            flush()
            continue
        s = re.sub(r"^([-*+]|\d+[.)])\s+", "", s)
        cur.append(s)
    flush()
    return out


def read_text(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read(4 << 20)
        else:
            with open(path, "rb") as f:
                data = f.read(4 << 20)
    except OSError:
        return None
    if b"\0" in data[:4096]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def doc_files():
    pats = []
    for root in glob.glob(f"{HOME}/.cargo/registry/src/*/"):
        for ext in ("md", "markdown", "rst", "txt"):
            pats.append(f"{root}**/*.{ext}")
    for ext in ("md", "rst", "txt", "md.gz", "txt.gz", "rst.gz"):
        pats.append(f"/usr/share/doc/**/*.{ext}")
    pats.append("/usr/share/doc/**/README*")
    pats.append("/usr/share/doc/**/NEWS*")
    files = set()
    for p in pats:
        files.update(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
    return sorted(files)


def rust_files():
    return sorted(
        f
        for root in glob.glob(f"{HOME}/.cargo/registry/src/*/")
        for f in glob.glob(f"{root}**/*.rs", recursive=True)
        if os.path.isfile(f)
    )


def python_files():
    files = set()
    for lib in glob.glob(f"{HOME}/.pyenv/versions/3.*/lib/python3.*"):
        files.update(glob.glob(f"{lib}/**/*.py", recursive=True))
    return sorted(f for f in files if os.path.isfile(f) and "/test" not in f)


def rust_doc_lines(text):
    """Rust doc comments, as groups of lines (one group per comment block)."""
    groups = []
    cur = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("///") or s.startswith("//!"):
            body = s[3:]
            cur.append(body[1:] if body.startswith(" ") else body)
        elif cur:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def python_docstrings(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            d = ast.get_docstring(node, clean=True)
            if d:
                out.append(d)
    return out


def build_pool():
    seen = set()
    pool = []
    counts = {}

    def add(kind, paras):
        n = 0
        for p in paras:
            p = clean_inline(p)
            if not prose(p):
                continue
            h = hashlib.blake2b(p.encode(), digest_size=12).digest()
            if h in seen:
                continue
            seen.add(h)
            pool.append((h, p))
            n += 1
        counts[kind] = counts.get(kind, 0) + n

    for f in doc_files():
        t = read_text(f)
        if t:
            add("docs", paragraphs_of_lines(t.splitlines()))
    for f in rust_files():
        t = read_text(f)
        if t and ("///" in t or "//!" in t):
            for g in rust_doc_lines(t):
                add("rust-doc-comments", paragraphs_of_lines(g))
    for f in python_files():
        t = read_text(f)
        if t and '"""' in t:
            for d in python_docstrings(t):
                add("python-docstrings", paragraphs_of_lines(d.splitlines()))
    return [p for _, p in pool], counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--bytes", type=float, default=600e6, help="UTF-8 bytes of text to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--median-bytes", type=int, default=3000)
    ap.add_argument("--sigma", type=float, default=1.0, help="log-normal sigma of the lengths")
    ap.add_argument("--min-bytes", type=int, default=300)
    ap.add_argument("--max-bytes", type=int, default=60000)
    ap.add_argument("--row-group", type=int, default=10000)
    ap.add_argument("--file-rows", type=int, default=200000)
    ap.add_argument("--pool", help="cache of the paragraph pool (one paragraph a line)")
    a = ap.parse_args()

    if a.pool and os.path.exists(a.pool):
        with open(a.pool, encoding="utf-8") as f:
            pool = f.read().split("\n")
        counts = json.load(open(a.pool + ".json"))
    else:
        pool, counts = build_pool()
        if a.pool:
            with open(a.pool + ".tmp", "w", encoding="utf-8") as f:
                f.write("\n".join(pool))
            json.dump(counts, open(a.pool + ".json", "w"))
            os.replace(a.pool + ".tmp", a.pool)
    pool_bytes = sum(len(p.encode()) for p in pool)
    print(f"pool: {len(pool):,} paragraphs, {pool_bytes / 1e6:.1f} MB ({counts})", file=sys.stderr)

    rng = random.Random(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(a.out_dir, "*.parquet")):
        os.remove(old)
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
    target = int(a.bytes)
    total = 0
    rows = 0
    lengths = []
    file_no = 0
    writer = None
    ids, texts = [], []
    mu = math.log(a.median_bytes)

    def flush_group():
        nonlocal writer, file_no
        if not ids:
            return
        if writer is None:
            path = os.path.join(a.out_dir, f"part-{file_no:03d}.parquet")
            writer = pq.ParquetWriter(path, schema, compression="snappy")
        writer.write_table(
            pa.table({"id": pa.array(ids, pa.int64()), "text": pa.array(texts, pa.string())}, schema=schema),
            row_group_size=a.row_group,
        )
        ids.clear()
        texts.clear()

    n = len(pool)
    while total < target:
        want = int(min(a.max_bytes, max(a.min_bytes, rng.lognormvariate(mu, a.sigma))))
        i = rng.randrange(n)
        parts = []
        size = 0
        while size < want:
            p = pool[i % n]
            i += 1
            room = want - size
            if size > 0 and len(p) > 2 * room:
                # cut the last paragraph at a sentence or word boundary
                cut = p.rfind(". ", 0, room)
                if cut < room // 3:
                    cut = p.rfind(" ", 0, room)
                if cut <= 0:
                    break
                p = p[: cut + 1].rstrip()
            parts.append(p)
            size += len(p) + 2
        text = "\n\n".join(parts)
        b = len(text.encode())
        ids.append(rows)
        texts.append(text)
        lengths.append(b)
        rows += 1
        total += b
        if len(ids) == a.row_group:
            flush_group()
            if rows % a.file_rows == 0:
                writer.close()
                writer = None
                file_no += 1
    flush_group()
    if writer is not None:
        writer.close()

    lengths.sort()
    q = lambda f: lengths[min(len(lengths) - 1, int(f * len(lengths)))]
    on_disk = sum(os.path.getsize(f) for f in glob.glob(os.path.join(a.out_dir, "*.parquet")))
    summary = {
        "rows": rows,
        "text_bytes": total,
        "parquet_bytes": on_disk,
        "files": len(glob.glob(os.path.join(a.out_dir, "*.parquet"))),
        "row_group": a.row_group,
        "seed": a.seed,
        "length_bytes": {"min": lengths[0], "p10": q(0.1), "p50": q(0.5), "mean": round(total / rows),
                         "p90": q(0.9), "p99": q(0.99), "max": lengths[-1]},
        "pool": {"paragraphs": len(pool), "bytes": pool_bytes, "by_source": counts},
    }
    json.dump(summary, open(os.path.join(os.path.dirname(os.path.abspath(a.out_dir)), "data.json"), "w"), indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
