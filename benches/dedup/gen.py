"""Generate the near-duplicate benchmark corpus: short documents, one per line, with planted
near-duplicates and a ground truth.

    python gen.py OUT_DIR [--docs N] [--dup-rate R] [--seed S]

Writes OUT_DIR/docs.txt (N lines), OUT_DIR/truth.tsv (one line per planted document:
`source<TAB>copy<TAB>kind<TAB>exact 5-gram Jaccard`, ids are 0-based line numbers) and
OUT_DIR/meta.json (parameters, counts, a histogram of planted Jaccards).

Documents are 30-80 words drawn with Zipf-like frequencies (exponent 1) from a vocabulary of
~150 English function words and 30,000 synthetic words, with sentence capitalization, commas
and full stops. Each document after the first is, with probability R, a planted copy of a
uniformly chosen earlier document (itself possibly a copy), so every prefix of the corpus is a
corpus with the same planted rate. Kinds of copies:

- exact   (25 %): the same line;
- format  (15 %): case, punctuation and spacing changed: identical after normalization;
- edit    (60 %): word substitutions, insertions and deletions, mostly within 4 words of
  either end (an edit in the middle of a 50-word document changes 5 of its 46 shingles, so the
  Jaccard of short documents falls fast), applied until the exact Jaccard falls to a target
  drawn uniformly in [0.85, 1.0] (edits overshooting it by more than 0.02 are redrawn): pairs
  on both sides of the 0.95 threshold.

Deterministic for a given seed (numpy PCG64 + Python's `random`). Needs numpy.
"""

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np

FUNCTION_WORDS = """the of and to a in is that for it as was with be by on not he i this are or
his from at which but have an they you were her she there would their we him been has when who
will more no if out so said what up its about into than them can only other new some could time
these two may then do first any my now such like our over man me even most made after also did
many before must through back years where much your way well down should because each just
those people how too little state good very make world still own see men work long get here
between both life being under never day same another know while last might us great old year
off come since against go came right used take three""".split()

SYLLABLES = """ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo fu ga ge gi go gu ha he
hi ho hu ja je jo ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra
re ri ro ru sa se si so su ta te ti to tu va ve vi vo wa we wi ya yo za ze zi zo an en in on un
ar er ir or ur al el il ol ul as es is os us ent ion ter ing str pl tr gr br cr dr fl sh ch th
ph st sp sk qu""".split()

ACCENTED = ["café", "naïve", "résumé", "façade", "über", "señor", "coöperate", "jalapeño"]

WORD_RE = re.compile(r"[^\W_]+")


def words_of(text):
    """Lowercase, split on non-alphanumeric characters: the modules' normalization."""
    return WORD_RE.findall(text.lower())


def shingles(text, n=5):
    w = words_of(text)
    if not w:
        return set()
    if len(w) < n:
        return {tuple(w)}
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a, b):
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def vocabulary(rng, size):
    words = list(FUNCTION_WORDS)
    seen = set(words)
    while len(words) < len(FUNCTION_WORDS) + size:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice([1, 2, 2, 3, 3, 3, 4])))
        if w not in seen:
            seen.add(w)
            words.append(w)
    # A few accented words and numbers, at moderate ranks.
    for i, w in enumerate(ACCENTED + [str(y) for y in range(1990, 2030)]):
        words.insert(300 + 37 * i, w)
    return words


def reformat(text, rng):
    """Change case, punctuation and spacing, never the words."""
    out = []
    for tok in text.split(" "):
        r = rng.random()
        if r < 0.15:
            tok = tok.upper()
        elif r < 0.30:
            tok = tok.lower()
        elif r < 0.40:
            tok = tok.capitalize()
        r = rng.random()
        if r < 0.08:
            tok = tok.rstrip(",.") + rng.choice([",", ";", " -", "!", "?", ":", ")"])
        elif r < 0.12:
            tok = rng.choice(["(", '"', "'", "--"]) + tok
        out.append(tok)
    sep = [" ", " ", " ", "  ", "\t"]
    return "".join(t + rng.choice(sep) for t in out).strip()


def edit(text, target, rng, draw_word):
    """Substitute/insert/delete words, mostly near either end, until Jaccard <= target.

    An edit that would overshoot the target by more than 0.02 is rejected and another one
    drawn, so Jaccards spread evenly instead of piling up below the targets."""
    orig = shingles(text)
    toks = text.split(" ")
    j = 1.0
    for attempt in range(60):
        n = len(toks)
        if n < 8:
            break
        if rng.random() < 0.8:
            d = rng.randrange(5)
            pos = d if rng.random() < 0.5 else n - 1 - d
        else:
            pos = rng.randrange(n)
        new = list(toks)
        op = rng.random()
        if op < 0.5:
            new[pos] = draw_word()
        elif op < 0.75:
            new.insert(pos, draw_word())
        else:
            del new[pos]
        nj = jaccard(orig, shingles(" ".join(new)))
        if nj < target - 0.02 and attempt < 59:
            continue
        toks, j = new, nj
        if j <= target:
            break
    return " ".join(toks), j


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--dup-rate", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=20251122)
    ap.add_argument("--vocab", type=int, default=30_000)
    a = ap.parse_args()

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(a.seed)
    nrng = np.random.Generator(np.random.PCG64(a.seed))

    vocab = vocabulary(rnd, a.vocab)
    v = len(vocab)
    weights = 1.0 / np.arange(1, v + 1)
    weights /= weights.sum()
    # Six forms per word: (plain, capitalized) x (no suffix, comma, full stop).
    forms = []
    for cap in (False, True):
        for suffix in ("", ",", "."):
            forms.extend((w.capitalize() if cap else w) + suffix for w in vocab)

    n = a.docs
    lengths = nrng.integers(30, 81, size=n)
    total = int(lengths.sum())
    ids = nrng.choice(v, size=total, p=weights)
    r = nrng.random(total)
    suffix = np.where(r < 0.06, 1, np.where(r < 0.12, 2, 0))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    suffix[ends - 1] = 2
    cap = np.zeros(total, dtype=bool)
    cap[1:] = suffix[:-1] == 2
    cap[starts] = True
    tokens = (cap * 3 + suffix) * v + ids

    pool = nrng.choice(v, size=1 << 20, p=weights)
    pool_i = [0]

    def draw_word():
        pool_i[0] = (pool_i[0] + 1) % len(pool)
        return vocab[pool[pool_i[0]]]

    docs = []
    truth = []
    hist = {}
    kinds = {"exact": 0, "format": 0, "edit": 0}
    for i in range(n):
        if i > 0 and rnd.random() < a.dup_rate:
            src = rnd.randrange(i)
            k = rnd.random()
            if k < 0.25:
                kind, text, j = "exact", docs[src], 1.0
            elif k < 0.40:
                kind, text = "format", reformat(docs[src], rnd)
                j = jaccard(shingles(docs[src]), shingles(text))
            else:
                kind = "edit"
                text, j = edit(docs[src], rnd.uniform(0.85, 1.0), rnd, draw_word)
            kinds[kind] += 1
            truth.append(f"{src}\t{i}\t{kind}\t{j:.6f}")
            bucket = f"{min(int(j * 20), 19) / 20:.2f}"
            hist[bucket] = hist.get(bucket, 0) + 1
        else:
            s, e = int(starts[i]), int(ends[i])
            text = " ".join(map(forms.__getitem__, tokens[s:e].tolist()))
        docs.append(text)

    with open(out / "docs.txt", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(d)
            f.write("\n")
    with open(out / "truth.tsv", "w", encoding="utf-8") as f:
        f.write("\n".join(truth) + "\n")
    meta = {
        "docs": n,
        "dup_rate": a.dup_rate,
        "seed": a.seed,
        "vocab": v,
        "planted": len(truth),
        "kinds": kinds,
        "planted_jaccard_histogram": dict(sorted(hist.items())),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
