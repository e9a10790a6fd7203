#!/usr/bin/env python3
"""Data for the fetch benchmark.

    gen_data.py big PATH BYTES      one file of random bytes (incompressible)
    gen_data.py small DIR COUNT     COUNT CSV files of about 4 KB, DIR/data/part-NNNNN.csv
    gen_data.py tiny PATH           a 3-row CSV (the local source the benchmark's stage reads)
"""

import os
import random
import sys


def big(path, size):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 24)
            f.write(os.urandom(n))
            left -= n
    os.replace(tmp, path)


def small(folder, count):
    rng = random.Random(42)
    data = os.path.join(folder, "data")
    os.makedirs(data, exist_ok=True)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    row = 0
    for i in range(count):
        lines = ["id,text,label"]
        size = len(lines[0]) + 1
        while size < 4000:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
            line = f"{row},{text},{rng.randint(0, 4)}"
            lines.append(line)
            size += len(line) + 1
            row += 1
        with open(os.path.join(data, f"part-{i:05d}.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")


def tiny(path):
    with open(path, "w") as f:
        f.write("id,text,label\n0,a,1\n1,b,0\n2,c,1\n")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "big":
        big(sys.argv[2], int(sys.argv[3]))
    elif what == "small":
        small(sys.argv[2], int(sys.argv[3]))
    elif what == "tiny":
        tiny(sys.argv[2])
    else:
        sys.exit(__doc__)
