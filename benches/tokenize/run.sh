#!/usr/bin/env bash
# Benchmark of the `tokenize` stage (GPT-2, Parquet -> encode -> Parquet) side by side, in one
# run, with: the raw encode throughput of the Rust crate the stage uses (benches/tokenize/raw),
# the Python `tokenizers` package's `encode_batch`, and the Python `datasets` path users would
# otherwise write. Run by hand (never by tests or CI), from anywhere:
#
#     bash benches/tokenize/run.sh                 # 600 MB of text, 3 runs round-robin
#     SIZE_GB=5 bash benches/tokenize/run.sh       # the memory figure: 5 GB of text, mldatabuild only
#
# Knobs (environment):                                                          default
#   BENCH_WORK   work dir: venv, binaries, data, store, results     /tmp/mldbench-tokenize
#   SIZE_MB      UTF-8 bytes of text to generate, in MB (10^6)       600
#   SIZE_GB      instead of SIZE_MB: the memory mode (GB of text; peers are not run)
#   RUNS         runs of each command, round-robin; medians          3
#   THREADS      threads for everyone (RAYON_NUM_THREADS, TOKENIZERS_PARALLELISM=true, the raw
#                encoder's RAW_THREADS, the build's -j); the encoders'
#                pools size themselves to the cores, so keep it = the core count   2
#   NICE         niceness of the measured commands (all alike)       10
#   SEED         data seed                                           1
#   PEERS        1: run the raw encoder and the Python peers; 0: mldatabuild only
#   NO_BUILD     1: use the binaries an earlier run left in $BENCH_WORK (no cargo)
#   WAIT_QUIET   wait up to this many seconds for a 1-minute load under 0.5 before each run   0
#   WRITE_VARIANTS  1: also run the stage's loop (raw program) with other Parquet write settings
#                (zstd 3, lz4, snappy, none, BYTE_STREAM_SPLIT, dictionary): where the cost goes   0
#   KEEP_DATA    0: delete the generated data at the end (it is kept, and reused, by default)
#
# Results: $BENCH_WORK/results-<tag>/ (every run's GNU time report, JSON, build events; the
# checks; summary.md and summary.json). Method and recorded results: benches/tokenize/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/tokenize
WORK=${BENCH_WORK:-/tmp/mldbench-tokenize}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
NICE=${NICE:-10}
SEED=${SEED:-1}
NO_BUILD=${NO_BUILD:-0}
WAIT_QUIET=${WAIT_QUIET:-0}
KEEP_DATA=${KEEP_DATA:-1}
WRITE_VARIANTS=${WRITE_VARIANTS:-0}
if [ -n "${SIZE_GB:-}" ]; then
    MEMORY=1
    BYTES=$(awk -v g="$SIZE_GB" 'BEGIN { printf "%.0f", g * 1e9 }')
    TAG=${SIZE_GB}g
    PEERS=${PEERS:-0}
else
    MEMORY=0
    SIZE_MB=${SIZE_MB:-600}
    BYTES=$(awk -v m="$SIZE_MB" 'BEGIN { printf "%.0f", m * 1e6 }')
    TAG=${SIZE_MB}m
    PEERS=${PEERS:-1}
fi
export CARGO_TARGET_DIR=$ROOT/target-bench
BIN=$WORK/bin/mldatabuild
RAW=$WORK/bin/tokenize-raw
PY=$WORK/venv/bin/python
TOKENIZER=$ROOT/tests/fixtures/tokenizers/gpt2/tokenizer.json
PROJ=$WORK/proj-$TAG
STORE=$WORK/store-$TAG
RESULTS=$WORK/results-$TAG
SCRATCH=$WORK/scratch-$TAG

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ -f "$TOKENIZER" ] || die "$TOKENIZER is missing"
mkdir -p "$WORK/bin" "$RESULTS" "$SCRATCH"

# --- tools -------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    [ "$(id -u)" = 0 ] || die "GNU time is missing (apt-get install time)"
    log "installing GNU time (apt)"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
command -v flock >/dev/null || die "flock is missing (util-linux)"

# --- the binaries --------------------------------------------------------------------------
# target-bench/ is shared with other harnesses (some build other revisions into it): copy the
# binary out while holding cargo's lock, and only if its dep-info names this working tree.
if [ "$NO_BUILD" != 1 ]; then
    log "building mldatabuild (release, $CARGO_TARGET_DIR; 10+ minutes from scratch on 2 cores)"
    copied=
    for _ in 1 2 3; do
        (cd "$ROOT" && nice cargo build --release --locked --bin mldatabuild)
        # shellcheck disable=SC2016 # $1..$3 are expanded by the inner sh
        if flock "$CARGO_TARGET_DIR/release/.cargo-lock" sh -c \
            'grep -q " $1/src/main.rs" "$2.d" && cp "$2" "$3.tmp" && mv "$3.tmp" "$3"' \
            _ "$ROOT" "$CARGO_TARGET_DIR/release/mldatabuild" "$BIN"; then
            copied=1
            break
        fi
        log "target-bench/release/mldatabuild was replaced by another build; building again"
    done
    [ -n "$copied" ] || die "could not get a binary built from $ROOT"
    if [ "$PEERS" = 1 ]; then
        log "building the raw encoder (benches/tokenize/raw, into $WORK/raw-target)"
        (cd "$HERE/raw" && CARGO_TARGET_DIR=$WORK/raw-target nice cargo build --release --locked)
        cp "$WORK/raw-target/release/tokenize-raw" "$RAW.tmp" && mv "$RAW.tmp" "$RAW"
    fi
fi
[ -x "$BIN" ] || die "no binary at $BIN (run without NO_BUILD=1)"
REV=$(git -C "$ROOT" rev-parse --short HEAD)
if [ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock)" ]; then
    REV="$REV+dirty"
fi
"$BIN" --version >&2 || true

# --- python ------------------------------------------------------------------------------
if ! "$PY" -c 'import tokenizers, datasets, pyarrow, transformers' 2>/dev/null; then
    log "creating $WORK/venv (tokenizers 0.23.3, datasets, pyarrow, transformers)"
    python3 -m venv "$WORK/venv"
    nice "$WORK/venv/bin/pip" install -q tokenizers==0.23.3 datasets pyarrow transformers
fi
versions=$("$PY" -c 'import tokenizers, datasets, transformers, pyarrow
print(tokenizers.__version__, datasets.__version__, transformers.__version__, pyarrow.__version__)' 2>/dev/null)
read -r V_TOK V_DS V_TF V_PA <<<"$versions"

# --- disk --------------------------------------------------------------------------------
# Source (~0.52x the text, snappy), normalize's output (~0.4x, zstd), tokenize's (~0.35x),
# the datasets path's cache and output (~2x, peers only). Ask for 1.5x (+ 2x with peers) + 1 GB.
need=$(awk -v b="$BYTES" -v p="$PEERS" 'BEGIN { printf "%.0f", b * (1.5 + 2 * p) + 1e9 }')
if [ -d "$PROJ/data" ]; then
    need=$((need - $(du -sb "$PROJ/data" | cut -f1)))
fi
free=$(df -B1 --output=avail "$WORK" | tail -1)
[ "$free" -ge "$need" ] ||
    die "not enough disk in $WORK: $((free / 1000000000)) GB free, about $((need / 1000000000)) GB needed"

# --- data --------------------------------------------------------------------------------
mkdir -p "$PROJ"
want="$BYTES $SEED"
if [ ! -s "$PROJ/data.json" ] || [ "$(cat "$PROJ/data.params" 2>/dev/null)" != "$want" ]; then
    log "generating $((BYTES / 1000000)) MB of text into $PROJ/data (the paragraph pool is cached in $WORK/pool.txt)"
    rm -rf "$PROJ/data" "$PROJ/data.json" "$PROJ/out" "$PROJ/dataset.lock" "$PROJ/.mldatabuild" "$STORE"
    nice "$PY" "$HERE/gen_data.py" "$PROJ/data" --bytes "$BYTES" --seed "$SEED" --pool "$WORK/pool.txt" >/dev/null
    echo "$want" >"$PROJ/data.params"
fi
cp "$PROJ/data.json" "$RESULTS/data.json"
cp "$TOKENIZER" "$PROJ/gpt2.json"
cat >"$PROJ/dataset.yaml" <<'EOF'
name: bench
version: 1.0.0
sources:
  raw: {uri: data/}          # the Parquet file(s)
stages:
  clean: {kind: normalize, input: raw}
  tokens: {kind: tokenize, input: clean, tokenizer: gpt2.json, column: text, keep_columns: [id]}
EOF

export RAYON_NUM_THREADS=$THREADS TOKENIZERS_PARALLELISM=true RAW_THREADS=$THREADS
export HF_HOME=$WORK/hf-home HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mld() { MLDATA_HOME=$STORE "$BIN" -C "$PROJ" "$@"; }

# `clean` (normalize), once, outside the timing.
log "mldatabuild build clean (not timed)"
mld build clean >"$RESULTS/clean.log" 2>&1 || { cat "$RESULTS/clean.log" >&2; die "building clean failed"; }

# --- measuring ---------------------------------------------------------------------------
quiet() {
    local waited=0
    while [ "$waited" -lt "$WAIT_QUIET" ] &&
        awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 0.5) }'; do
        sleep 10
        waited=$((waited + 10))
    done
}
# Everyone starts with its input in the page cache.
warm() { cat "$PROJ"/data/*.parquet >/dev/null; [ ! -d "$PROJ/out" ] || find "$PROJ/out" -name '*.parquet' -path '*clean*' -exec cat {} + >/dev/null; }
measure() {
    local label=$1
    shift
    quiet
    warm
    nice -n "$NICE" "$PY" "$HERE/../common/measure.py" --label "$label" --results "$RESULTS" -- "$@" ||
        log "$label failed (exit $?): see $RESULTS/$label.stderr"
}
tokens_out() { find "$PROJ/out" -mindepth 1 -maxdepth 3 -type d -name tokens 2>/dev/null | head -1; }

rm -f "$RESULTS"/{mld,raw,phases,pipe,pyraw,pyds,wv}-*.* "$RESULTS/check.json"
cat >"$RESULTS/meta.json" <<EOF
{"rev": "$REV", "date": "$(date -u +%Y-%m-%dT%H:%MZ)", "cores": $(nproc), "threads": $THREADS,
 "runs": $RUNS, "nice": $NICE, "memory_mode": $MEMORY, "py_tokenizers": "$V_TOK",
 "py_datasets": "$V_DS", "py_transformers": "$V_TF", "pyarrow": "$V_PA",
 "binary_built": "$(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ)", "kernel": "$(uname -r)", "mem_gb": $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)}
EOF

for i in $(seq 1 "$RUNS"); do
    log "run $i/$RUNS: mldatabuild (tokenize only: its output removed, --no-run-cache)"
    out=$(tokens_out)
    [ -z "$out" ] || rm -rf "$out"
    measure "mld-$i" "$BIN" -C "$PROJ" build --no-run-cache --json -j "$THREADS"
    if [ "$PEERS" = 1 ]; then
        log "run $i/$RUNS: tokenizers-rs raw encode"
        measure "raw-$i" "$RAW" encode "$TOKENIZER" "$PROJ/data"
        log "run $i/$RUNS: tokenizers-rs, the stage's loop, serial (phases)"
        rm -rf "$SCRATCH/phases"
        measure "phases-$i" "$RAW" phases "$TOKENIZER" "$PROJ/data" "$SCRATCH/phases"
        log "run $i/$RUNS: tokenizers-rs, the stage's loop on three threads (pipelined)"
        rm -rf "$SCRATCH/phases"
        measure "pipe-$i" "$RAW" pipelined "$TOKENIZER" "$PROJ/data" "$SCRATCH/phases"
        log "run $i/$RUNS: Python tokenizers encode_batch"
        measure "pyraw-$i" "$PY" "$HERE/py_raw.py" "$PROJ/data" "$TOKENIZER" "$RESULTS/pyraw-$i.out.json"
        log "run $i/$RUNS: Python datasets load_dataset -> map -> to_parquet"
        rm -rf "$SCRATCH/hf-cache" "$SCRATCH/datasets.parquet"
        HF_DATASETS_CACHE=$SCRATCH/hf-cache measure "pyds-$i" "$PY" "$HERE/py_datasets.py" \
            "$PROJ/data" "$TOKENIZER" "$SCRATCH/datasets.parquet" "$RESULTS/pyds-$i.out.json"
        rm -rf "$SCRATCH/hf-cache"
    fi
done
cp "$PROJ/dataset.lock" "$RESULTS/dataset.lock" 2>/dev/null || true

# Other Parquet write settings for the output, in the stage's loop (raw program, `phases`).
if [ "$WRITE_VARIANTS" = 1 ] && [ "$PEERS" = 1 ]; then
    for i in $(seq 1 "$RUNS"); do
        for v in stage:RAW_COMPRESSION=zstd1 zstd3:RAW_COMPRESSION=zstd3 lz4:RAW_COMPRESSION=lz4 \
            snappy:RAW_COMPRESSION=snappy none:RAW_COMPRESSION=none \
            bss:RAW_ENCODING=bss,RAW_COMPRESSION=zstd1 dict:RAW_DICT=1; do
            name=${v%%:*}
            log "run $i/$RUNS: write settings $name (the stage's loop)"
            rm -rf "$SCRATCH/wv"
            # shellcheck disable=SC2046 # the settings split on commas into env assignments
            measure "wv-$name-$i" env $(tr , ' ' <<<"${v#*:}") "$RAW" phases "$TOKENIZER" "$PROJ/data" "$SCRATCH/wv"
            du -sb "$SCRATCH/wv" | cut -f1 >"$RESULTS/wv-$name-$i.size"
        done
    done
    rm -rf "$SCRATCH/wv"
fi

# --- checks and report -------------------------------------------------------------------
ok=0
if [ "$MEMORY" = 0 ]; then
    log "checks: pyarrow and datasets read the output; ids equal Python tokenizers' on 1,000 rows"
    out=$(tokens_out)
    rm -rf "$SCRATCH/hf-check"
    HF_DATASETS_CACHE=$SCRATCH/hf-check nice "$PY" "$HERE/check.py" "$PROJ/data" "${out:-$PROJ/out/none}" \
        "$TOKENIZER" "$RESULTS/check.json" --datasets-out "$SCRATCH/datasets.parquet" || ok=1
    rm -rf "$SCRATCH/hf-check"
    "$PY" "$HERE/report.py" "$RESULTS" >"$RESULTS/summary.md" || ok=1
else
    "$PY" "$HERE/report.py" "$RESULTS" --memory >"$RESULTS/summary.md" || ok=1
fi
cat "$RESULTS/summary.md"
log "results in $RESULTS (summary.md, summary.json, per-run files)"

rm -rf "$SCRATCH"
if [ "$KEEP_DATA" = 0 ]; then
    log "deleting the data, outputs and store (KEEP_DATA=0)"
    rm -rf "$PROJ" "$STORE"
fi
exit "$ok"
