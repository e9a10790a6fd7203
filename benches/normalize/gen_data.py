#!/usr/bin/env python3
"""Mixed-type table data for the `normalize` benchmark (stdlib only, deterministic).

    python3 gen_data.py csv   OUT.csv   BYTES [--seed N]
    python3 gen_data.py jsonl OUT.jsonl BYTES [--seed N]
    python3 gen_data.py json  OUT.json  BYTES [--seed N]
    python3 gen_data.py text  OUT.txt   BYTES [--seed N]

Writes rows until the file holds at least BYTES bytes. Columns (same in both formats):

    id        int64, sequential
    user_id   int64, random up to 10^12
    score     float64, 4 decimals, may be negative
    amount    float64, ~5% null
    qty       int64, ~3% null
    active    bool (true/false), ~2% null
    signup    date YYYY-MM-DD
    category  short string from 12 values
    name      string 3-40 chars; ~1/4 of them hold a comma and ~1/10 a double quote
              (quoted and escaped as "" in CSV)
    comment   string 0-240 chars of words, commas, quotes; ~8% empty

In CSV a null is an empty field; in JSONL it is `null`.

`json` is one JSON document, an array of records, in the shape pandas'
`to_json(orient="records")` writes: one line, no spaces, `null` for nulls, ASCII escapes.
`text` is the `comment` column alone, one value a line (`\n`), empty comments kept as empty
lines (what the Hugging Face `text` loader reads as rows `""`).

Every format draws the same seeded rows in the same order, so each file holds the first rows of
the same sequence (as many as fit in BYTES): the first rows of the JSON document, the text
file and the CSV are the same records.
"""

import argparse
import json
import random
import sys

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega data set model train test split label image text "
    "audio token vector matrix tensor batch epoch loss gradient weight bias layer cafe naive "
    "resume uber fiance jalapeno zurich koln sao paulo munchen"
).split()
CATEGORIES = [
    "books", "electronics", "garden", "toys", "grocery", "health",
    "sports", "auto", "music", "movies", "office", "pets",
]


def make_row(rnd: random.Random, i: int):
    r = rnd.random
    score = round((r() - 0.3) * 1000.0, 4)
    amount = None if r() < 0.05 else round(r() * 50000.0, 2)
    qty = None if r() < 0.03 else rnd.randint(-50, 100000)
    active = None if r() < 0.02 else (r() < 0.6)
    signup = "%04d-%02d-%02d" % (rnd.randint(1990, 2030), rnd.randint(1, 12), rnd.randint(1, 28))
    category = CATEGORIES[rnd.randrange(len(CATEGORIES))]
    # name: 1-4 words, sometimes "Last, First" and sometimes a nickname in quotes
    n = rnd.randint(1, 4)
    name = " ".join(rnd.choice(WORDS) for _ in range(n)).title()[:40]
    x = r()
    if x < 0.25:
        name = rnd.choice(WORDS).title() + ", " + name
    elif x < 0.35:
        name = name + ' "' + rnd.choice(WORDS) + '"'
    name = name[:40] if len(name) > 3 else name + "xyz"
    # comment: variable length, commas and quotes inside
    if r() < 0.08:
        comment = ""
    else:
        k = int(rnd.expovariate(1 / 12.0)) + 1
        parts = []
        for _ in range(min(k, 40)):
            w = rnd.choice(WORDS)
            y = r()
            if y < 0.12:
                w += ","
            elif y < 0.16:
                w = '"' + w + '"'
            parts.append(w)
        comment = " ".join(parts)[:240]
    return (i, rnd.randint(0, 10**12), score, amount, qty, active, signup, category, name, comment)


HEADER = ["id", "user_id", "score", "amount", "qty", "active", "signup", "category", "name", "comment"]


def csv_field(v) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        if v == "":
            return ""
        if "," in v or '"' in v or "\n" in v:
            return '"' + v.replace('"', '""') + '"'
        return v
    return repr(v) if isinstance(v, float) else str(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("format", choices=["csv", "jsonl", "json", "text"])
    ap.add_argument("out")
    ap.add_argument("bytes", type=int)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    written = 0
    i = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    if a.format == "json":  # pandas' to_json: ensure_ascii by default
        dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
    with open(a.out, "w", encoding="utf-8", newline="") as f:
        if a.format == "csv":
            head = ",".join(HEADER) + "\n"
            f.write(head)
            written += len(head)
        elif a.format == "json":
            f.write("[")
            written += 1
        buf = []
        buf_bytes = 0
        while written + buf_bytes < a.bytes:
            row = make_row(rnd, i)
            i += 1
            if a.format == "csv":
                line = ",".join(csv_field(v) for v in row) + "\n"
            elif a.format == "json":
                line = ("," if i > 1 else "") + dumps(dict(zip(HEADER, row)))
            elif a.format == "text":
                line = row[-1] + "\n"
            else:
                line = dumps(dict(zip(HEADER, row))) + "\n"
            buf.append(line)
            buf_bytes += len(line)
            if len(buf) >= 20000:
                f.write("".join(buf))
                written += buf_bytes
                buf, buf_bytes = [], 0
        f.write("".join(buf))
        written += buf_bytes
        if a.format == "json":
            f.write("]")
            written += 1
    print(f"{a.out}: {i} rows, {written} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
