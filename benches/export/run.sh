#!/usr/bin/env bash
# Benchmark of `mldatabuild export` side by side, in one run, round-robin, with what a user
# writes in Python. Run by hand (never by tests or CI), from anywhere:
#
#     bash benches/export/run.sh                   # part 1: parquet+jsonl+csv of ~2 GB, 3 runs
#     SIZE_GB=0.2 RUNS=1 bash benches/export/run.sh   # a quick try
#     HF=1 bash benches/export/run.sh              # also part 2: hf + hf-disk vs `datasets`
#     PART1=0 HF=1 bash benches/export/run.sh      # part 2 only
#
# Part 1: `mldatabuild export DATA --format parquet,jsonl,csv` (one pass, a thread per format)
#         vs py_three.py (pyarrow + pandas, one format after another). Target: >= 1.5x faster.
# Part 2: `mldatabuild export DATA --format hf,hf-disk` vs py_hf.py (datasets: from_parquet,
#         to_parquet, save_to_disk). Target: mldatabuild's time <= 1.2x datasets'.
#
# Knobs (environment):                                                          default
#   BENCH_WORK  work dir: venv, binary, data, scratch, results       /tmp/mldbench-export
#   SIZE_GB     size of the data as CSV text, in GB (10^9)           2
#   RUNS        runs of each command, round-robin; medians           3
#   NICE        niceness of every measured command (all alike)       10
#   SEED        data seed                                            1
#   NO_BUILD    1: use the binary an earlier run left in $BENCH_WORK/bin (no cargo)   0
#   HF          1: also part 2 (fails at once, clearly, when the binary lacks the formats)  0
#   PART1       0: skip part 1                                        1
#   SOLO        1: also time mldatabuild with each format of part 1 alone (where the time goes)  0
#   ZSTD_LEVEL  the peer's Parquet zstd level (mldatabuild writes zstd 3)   3
#   TAG         results folder suffix                                <SIZE_GB>g
#   KEEP_DATA   0: delete the generated data at the end (kept, and reused, by default)  1
#
# Results: $BENCH_WORK/results-<tag>/ (every run's GNU time report, JSON, stdout/stderr; the
# checks; summary.md and summary.json). Method and recorded results: benches/export/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/export
WORK=${BENCH_WORK:-/tmp/mldbench-export}
SIZE_GB=${SIZE_GB:-2}
RUNS=${RUNS:-3}
NICE=${NICE:-10}
SEED=${SEED:-1}
NO_BUILD=${NO_BUILD:-0}
HF=${HF:-0}
PART1=${PART1:-1}
SOLO=${SOLO:-0}
ZSTD_LEVEL=${ZSTD_LEVEL:-3}
KEEP_DATA=${KEEP_DATA:-1}
TAG=${TAG:-${SIZE_GB}g}
TARGET=${CARGO_TARGET_DIR:-/work/target-bench-export}
BIN=$WORK/bin/mldatabuild
PY=$WORK/venv/bin/python
DATA=$WORK/data-${SIZE_GB}g-s$SEED/tables    # train.parquet and test.parquet, nothing else
META=$(dirname "$DATA")
TINY=$WORK/tiny-s$SEED
RUN=$WORK/scratch-$TAG
RESULTS=$WORK/results-$TAG
PINS="pyarrow==26.0.1 pandas==3.1.1 numpy==2.4.6 datasets==5.2.0"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK/bin" "$RESULTS"

# --- tools ---------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    [ "$(id -u)" = 0 ] || die "GNU time is missing (apt-get install time)"
    log "installing GNU time (apt)"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

# --- the binary ----------------------------------------------------------------------------
if [ "$NO_BUILD" != 1 ]; then
    log "building mldatabuild (release, CARGO_TARGET_DIR=$TARGET; 10+ minutes from scratch on 2 cores)"
    CARGO_TARGET_DIR=$TARGET nice cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin mldatabuild
    cp "$TARGET/release/mldatabuild" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
fi
[ -x "$BIN" ] || die "no binary at $BIN (run without NO_BUILD=1)"
REV=$(git -C "$ROOT" rev-parse --short HEAD)
DIRTY=$(git -C "$ROOT" status --short | wc -l)
SRC_DIRTY=$(git -C "$ROOT" status --short -- src Cargo.toml Cargo.lock | wc -l)

# --- python --------------------------------------------------------------------------------
if ! "$PY" -c 'import pyarrow, pandas, numpy, datasets' 2>/dev/null; then
    log "creating $WORK/venv ($PINS)"
    python3 -m venv "$WORK/venv"
    nice "$WORK/venv/bin/pip" install -q $PINS
fi
VERSIONS=$("$PY" -c 'import json, sys, pyarrow, pandas, numpy, datasets
print(json.dumps({"python": sys.version.split()[0], "pyarrow": pyarrow.__version__, "pandas": pandas.__version__,
                  "numpy": numpy.__version__, "datasets": datasets.__version__}))')

# --- disk ----------------------------------------------------------------------------------
# Input Parquet ~0.4x SIZE_GB; per side parquet ~0.4x, jsonl ~1.15x, csv ~1x; part 2 per side:
# Parquet ~0.4x and Arrow ~1.1x (+ the datasets cache ~1.1x). Both sides' last outputs are kept
# for the checks.
need=$(awk -v g="$SIZE_GB" -v p="$PART1" -v h="$HF" 'BEGIN { printf "%.0f", (g * (0.4 + 5.2 * p + 4.2 * h) + 1) * 1e9 }')
[ -d "$META" ] && need=$((need - $(du -sb "$META" | cut -f1)))
[ -d "$RUN" ] && need=$((need - $(du -sb "$RUN" | cut -f1)))
free=$(df -B1 --output=avail "$WORK" | tail -1)
[ "$free" -ge "$need" ] ||
    die "not enough disk in $WORK: $((free / 1000000000)) GB free, about $((need / 1000000000)) GB needed"

# --- data ----------------------------------------------------------------------------------
want="$SIZE_GB $SEED $(sha256sum "$HERE/gen.py" | cut -c1-16)"
if [ ! -s "$META/data.json" ] || [ "$(cat "$META/data.params" 2>/dev/null)" != "$want" ] || [ ! -s "$TINY/test.parquet" ]; then
    log "generating ~$SIZE_GB GB (as CSV) of Parquet split tables into $DATA"
    rm -rf "$META"
    mkdir -p "$META"
    nice "$PY" "$HERE/gen.py" "$DATA" --size-gb "$SIZE_GB" --seed "$SEED" --info "$META/data.json" --tiny "$TINY" >/dev/null
    echo "$want" >"$META/data.params"
fi
cp "$META/data.json" "$RESULTS/data.json"

# --- part 2 preflight: are hf and hf-disk in the binary? -------------------------------------
if [ "$HF" = 1 ]; then
    log "preflight: mldatabuild export --format hf,hf-disk on 1,100 rows"
    rm -rf "$WORK/preflight"
    mkdir -p "$WORK/preflight"
    if ! MLDATA_HOME=$WORK/preflight/store "$BIN" export "$TINY" --format hf,hf-disk \
        -o "$WORK/preflight/out" --force >"$WORK/preflight/log" 2>&1; then
        sed 's/^/    /' "$WORK/preflight/log" >&2
        die "the binary (built from $REV, $DIRTY changed files in the tree) rejects --format hf,hf-disk (log above, also in $WORK/preflight/log).
    The formats hf and hf-disk are not in this build of mldatabuild yet: rebuild once they land
    (run again without NO_BUILD=1), or run part 1 alone with HF=0."
    fi
    rm -rf "$WORK/preflight"
fi

# --- measuring -----------------------------------------------------------------------------
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Both sides read the same files: one untimed read puts them in the page cache for everyone.
warm() { cat "$DATA"/*.parquet >/dev/null; }
measure() {
    local label=$1
    shift
    warm
    nice -n "$NICE" "$PY" "$HERE/../common/measure.py" --label "$label" --results "$RESULTS" -- "$@" ||
        log "$label failed (exit $?): see $RESULTS/$label.stderr"
}
# Each mldatabuild run starts from an empty output folder and an empty store (nothing cached).
mld() {
    local label=$1 formats=$2 dir=$RUN/$3
    rm -rf "$dir"
    mkdir -p "$dir"
    measure "$label" env MLDATA_HOME="$dir/store" "$BIN" export "$DATA" --format "$formats" -o "$dir/out" --force
    du -sb "$dir/out/dataset/export" 2>/dev/null | cut -f1 >"$RESULTS/$label.bytes" || true
}
peer3() {
    local label=$1 dir=$RUN/peer
    rm -rf "$dir"
    mkdir -p "$dir"
    measure "$label" "$PY" "$HERE/py_three.py" "$DATA" "$dir/out" --zstd-level "$ZSTD_LEVEL"
    du -sb "$dir/out" | cut -f1 >"$RESULTS/$label.bytes"
}
peerhf() {
    local label=$1 dir=$RUN/pyhf
    rm -rf "$dir"
    mkdir -p "$dir"
    measure "$label" env HF_HOME="$dir/hf-home" "$PY" "$HERE/py_hf.py" "$DATA" "$dir/out"
    du -sb "$dir/out" | cut -f1 >"$RESULTS/$label.bytes"
    du -sb "$dir/hf-home" | cut -f1 >"$RESULTS/$label.cache-bytes"
}

rm -f "$RESULTS"/{mld,peer,mldhf,pyhf,solo}-*.* "$RESULTS/check.json"
cat >"$RESULTS/meta.json" <<EOF
{"rev": "$REV", "dirty_files": $DIRTY, "src_dirty_files": $SRC_DIRTY, "date": "$(date -u +%Y-%m-%dT%H:%MZ)", "nproc": $(nproc),
 "mem_gb": $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo), "kernel": "$(uname -r)",
 "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')",
 "load_at_start": "$(cut -d' ' -f1-3 /proc/loadavg)", "size_gb": $SIZE_GB, "runs": $RUNS, "nice": $NICE,
 "seed": $SEED, "peer_zstd_level": $ZSTD_LEVEL, "part1": $PART1, "hf": $HF, "solo": $SOLO,
 "binary": "$("$BIN" --version 2>/dev/null | head -1)", "binary_built": "$(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ)",
 "rustc": "$(rustc --version 2>/dev/null)", "versions": $VERSIONS}
EOF

for i in $(seq 1 "$RUNS"); do
    # Alternate who goes first, so a drift in the machine's load hits both alike.
    if [ "$PART1" = 1 ]; then
        if [ $((i % 2)) = 1 ]; then
            log "run $i/$RUNS: mldatabuild export --format parquet,jsonl,csv"
            mld "mld-$i" parquet,jsonl,csv mld
            log "run $i/$RUNS: pyarrow + pandas, one format after another"
            peer3 "peer-$i"
        else
            log "run $i/$RUNS: pyarrow + pandas, one format after another"
            peer3 "peer-$i"
            log "run $i/$RUNS: mldatabuild export --format parquet,jsonl,csv"
            mld "mld-$i" parquet,jsonl,csv mld
        fi
        if [ "$SOLO" = 1 ]; then
            for f in parquet jsonl csv; do
                log "run $i/$RUNS: mldatabuild export --format $f (alone)"
                mld "solo-$f-$i" "$f" solo
            done
            rm -rf "$RUN/solo"
        fi
    fi
    if [ "$HF" = 1 ]; then
        if [ $((i % 2)) = 1 ]; then
            log "run $i/$RUNS: mldatabuild export --format hf,hf-disk"
            mld "mldhf-$i" hf,hf-disk mldhf
            log "run $i/$RUNS: datasets from_parquet -> to_parquet + save_to_disk"
            peerhf "pyhf-$i"
        else
            log "run $i/$RUNS: datasets from_parquet -> to_parquet + save_to_disk"
            peerhf "pyhf-$i"
            log "run $i/$RUNS: mldatabuild export --format hf,hf-disk"
            mld "mldhf-$i" hf,hf-disk mldhf
        fi
    fi
done

# --- checks and report ---------------------------------------------------------------------
ok=0
log "checks: row counts, schemas, first and last rows of both sides' outputs"
args=()
[ "$PART1" = 1 ] && args+=(--mld "$RUN/mld/out/dataset/export" --peer "$RUN/peer/out")
[ "$HF" = 1 ] && args+=(--mld-hf "$RUN/mldhf/out/dataset/export" --peer-hf "$RUN/pyhf/out")
HF_HOME=$RUN/check-hf nice "$PY" "$HERE/check.py" "$DATA" --out "$RESULTS/check.json" "${args[@]}" 2>"$RESULTS/check.log" || {
    ok=1
    log "a check failed: see $RESULTS/check.json"
}
"$PY" "$HERE/report.py" "$RESULTS" || ok=1
cat "$RESULTS/summary.md"
log "results in $RESULTS (summary.md, summary.json, per-run files)"

rm -rf "$RUN"
if [ "$KEEP_DATA" = 0 ]; then
    log "deleting the data (KEEP_DATA=0)"
    rm -rf "$META" "$TINY"
fi
exit "$ok"
