#!/usr/bin/env python3
"""The `cmd` of the DVC pipeline in benchmark 1 (copied into the DVC project as stage.py).

    stage.py concat DIR OUT          all CSV files under DIR (sorted) -> one CSV
    stage.py copy IN OUT             IN -> OUT
    stage.py split SEED IN OUT...    rows of IN spread over the OUT files by a seeded shuffle

The work does not matter for the no-op benchmark; it only has to produce the outputs that
mirror the mldatabuild stages' outputs.
"""

import os
import random
import shutil
import sys


def concat(src: str, out: str) -> None:
    files = sorted(
        os.path.join(root, f) for root, _, names in os.walk(src) for f in names if f.endswith(".csv")
    )
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    header = None
    with open(out, "w") as w:
        for path in files:
            with open(path) as r:
                lines = r.read().splitlines()
            if not lines:
                continue
            if header is None:
                header = lines[0]
                w.write(header + "\n")
            for line in lines[1:]:
                w.write(line + "\n")


def split(seed: str, src: str, outs: list) -> None:
    with open(src) as r:
        lines = r.read().splitlines()
    header, rows = lines[0], lines[1:]
    random.Random(int(seed)).shuffle(rows)
    for i, out in enumerate(outs):
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as w:
            w.write(header + "\n")
            for row in rows[i :: len(outs)]:
                w.write(row + "\n")


def main() -> None:
    op, *args = sys.argv[1:]
    if op == "concat":
        concat(args[0], args[1])
    elif op == "copy":
        os.makedirs(os.path.dirname(args[1]) or ".", exist_ok=True)
        shutil.copyfile(args[0], args[1])
    elif op == "split":
        split(args[0], args[1], args[2:])
    else:
        sys.exit(f"unknown op {op}")


if __name__ == "__main__":
    main()
