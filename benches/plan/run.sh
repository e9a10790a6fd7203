#!/usr/bin/env bash
# Planning a large matrix: is it linear in the number of stages? Run from the repo root:
#
#     bash benches/plan/run.sh
#
# For N = 1,000, 2,000, 4,000 and 8,000 split stages (one matrix), built once, hyperfine times
# `dag` (load, resolve into the graph, render) and a no-op `build` (resolve, every stage's
# action key and decision, its outputs checked through the stat cache; nothing runs). Linear means each doubling of N doubles the time (ratio ~2);
# quadratic would give ~4. With BASE_BIN=/path/to/another/mldatabuild the same commands run
# with that binary too, side by side in one hyperfine run (e.g. the revision before a change).
#
# Knobs: BENCH_WORK (default benches/work), PLAN_SIZES ("1000 2000 4000 8000"), PLAN_RUNS (5).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${BENCH_WORK:-$ROOT/benches/work}/plan
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}
SIZES=${PLAN_SIZES:-1000 2000 4000 8000}
RUNS=${PLAN_RUNS:-5}
export MLDATA_HOME=$WORK/store

command -v hyperfine >/dev/null || { echo "error: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
mkdir -p "$WORK/bin" "$WORK/results"
(cd "$ROOT" && cargo build --release --quiet --bin mldatabuild)
BIN=$WORK/bin/mldatabuild
cp "$CARGO_TARGET_DIR/release/mldatabuild" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "revision: $(git -C "$ROOT" rev-parse --short=12 HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src || echo ' + changes')" \
    >"$WORK/results/revision.txt"

for n in $SIZES; do
    dir=$WORK/n$n
    [ -f "$dir/dataset.yaml" ] || python3 "$ROOT/benches/plan/gen.py" "$dir" "$n"
    [ -f "$dir/dataset.lock" ] || { echo "building the $n-stage project once" >&2; "$BIN" -C "$dir" build -q >/dev/null; }
    args=(-n "dag $n" "$BIN -C $dir dag" -n "no-op build $n" "$BIN -C $dir build -q")
    if [ -n "${BASE_BIN:-}" ]; then
        args+=(-n "base dag $n" "$BASE_BIN -C $dir dag" -n "base no-op build $n" "$BASE_BIN -C $dir build -q")
    fi
    hyperfine --warmup 1 --runs "$RUNS" --output=null --export-json "$WORK/results/plan-$n.json" "${args[@]}" >&2
done
python3 "$ROOT/benches/plan/report.py" "$WORK/results" $SIZES
