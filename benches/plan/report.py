"""The planning figures as a table: median per command and size, and the ratio to the
previous size (2 = linear when sizes double).

    python3 report.py RESULTS_DIR SIZE...
"""
import json
import os
import statistics
import sys

results, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
medians = {}
for n in sizes:
    with open(os.path.join(results, f"plan-{n}.json")) as f:
        for r in json.load(f)["results"]:
            cmd = r["command"].rsplit(" ", 1)[0]
            medians[(cmd, n)] = statistics.median(r["times"])
commands = sorted({c for c, _ in medians})
print("| command | " + " | ".join(f"N={n}" for n in sizes) + " | µs per stage at the largest N |")
print("|---|" + "---|" * (len(sizes) + 1))
for c in commands:
    cells, prev = [], None
    for n in sizes:
        t = medians[(c, n)]
        ratio = f" (×{t / prev:.2f})" if prev else ""
        cells.append(f"{t * 1000:.0f} ms{ratio}")
        prev = t
    per = medians[(c, sizes[-1])] / sizes[-1] * 1e6
    print(f"| {c} | " + " | ".join(cells) + f" | {per:.0f} |")
