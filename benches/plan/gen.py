"""A project whose DAG has N split stages (a matrix over `seed`) reading one normalize stage.

    python3 gen.py DIR N
"""
import os
import sys

root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(root, "data"), exist_ok=True)
with open(os.path.join(root, "data", "rows.csv"), "w") as f:
    f.write("id,text,label\n")
    for i in range(200):
        f.write(f"{i},row {i},{'ab'[i % 2]}\n")
seeds = ", ".join(str(s) for s in range(1, n + 1))
with open(os.path.join(root, "dataset.yaml"), "w") as f:
    f.write(f"""name: plan-{n}
version: 1.0.0
sources:
  rows: {{uri: data, files: ["*.csv"]}}
stages:
  clean:
    kind: normalize
    input: rows
  splits:
    kind: split
    input: clean
    ratios: {{train: 0.8, test: 0.2}}
    seed: 1
    matrix:
      seed: [{seeds}]
""")
