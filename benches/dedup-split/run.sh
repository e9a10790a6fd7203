#!/usr/bin/env bash
# Benchmark for the requirement "exact dedup plus split of a 5 GB Parquet dataset within 2 GB
# peak memory": mldatabuild (normalize -> validate with duplicates: drop -> split 80/10/10) on
# generated Parquet with planted duplicates, against the obvious pyarrow script. Run by hand
# (never by tests or CI), from anywhere:
#
#     bash benches/dedup-split/run.sh                 # 5 GB
#     SIZE_GB=1 bash benches/dedup-split/run.sh       # 1 GB (where pyarrow fits: time ratio)
#
# Knobs (environment):                                                          default
#   BENCH_WORK   work dir: venv, binary, data, store, results       /tmp/mldbench-dedup-split
#   SIZE_GB      on-disk size of the generated Parquet (10^9 bytes)  5
#   SEED         data seed                                           20251122
#   TEXT_WORDS   words per text, MIN,MAX (fewer: more rows per GB)   30,200
#   PEER         1: also run the pyarrow script; 0: skip it          1
#   MEM_CAP_MB   a run whose process tree exceeds this is killed and reported as "did not
#                fit", so a peer that cannot fit never meets the OOM killer   14000
#   KEEP_DATA    1: keep the data, project outputs and store        0
#   WAIT_QUIET   wait up to this many seconds for a 1-minute load average under 0.5 before
#                each measured run                                   0
#
# Results: $BENCH_WORK/results-<SIZE_GB>g[-words<MIN>-<MAX>]/ (GNU time reports, build
# events, dataset.lock, summary.md). Method and recorded results: benches/dedup-split/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/dedup-split
WORK=${BENCH_WORK:-/tmp/mldbench-dedup-split}
SIZE_GB=${SIZE_GB:-5}
SEED=${SEED:-20251122}
TEXT_WORDS=${TEXT_WORDS:-30,200}
PEER=${PEER:-1}
MEM_CAP_MB=${MEM_CAP_MB:-14000}
KEEP_DATA=${KEEP_DATA:-0}
WAIT_QUIET=${WAIT_QUIET:-0}
export CARGO_TARGET_DIR=$ROOT/target-bench
BIN=$WORK/bin/mldatabuild
PY=$WORK/venv/bin/python
TAG=${SIZE_GB}g
[ "$TEXT_WORDS" = 30,200 ] || TAG="$TAG-words${TEXT_WORDS/,/-}"
PROJ=$WORK/proj-$TAG
RESULTS=$WORK/results-$TAG
STORE=$WORK/store-$TAG
PA_OUT=$WORK/pyarrow-out-$TAG

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK/bin" "$RESULTS"

# --- tools -------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    [ "$(id -u)" = 0 ] || die "GNU time is missing (apt-get install time)"
    log "installing GNU time (apt)"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
command -v flock >/dev/null || die "flock is missing (util-linux)"

# --- the binary --------------------------------------------------------------------------
# target-bench/ is shared with other harnesses (some build other revisions into it): copy the
# binary out while holding cargo's lock, and only if its dep-info names this working tree.
log "building mldatabuild (release, $CARGO_TARGET_DIR; 10+ minutes from scratch on 2 cores)"
copied=
for _ in 1 2 3; do
    (cd "$ROOT" && cargo build --release --locked --bin mldatabuild)
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
REV=$(git -C "$ROOT" rev-parse --short HEAD)
if [ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock)" ]; then
    REV="$REV+dirty"
fi
"$BIN" --version >&2 || true

# --- python ------------------------------------------------------------------------------
if ! "$PY" -c 'import pyarrow, numpy, yaml' 2>/dev/null; then
    log "creating $WORK/venv (pyarrow, numpy, pyyaml)"
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q pyarrow numpy pyyaml
fi
PA_VERSION=$("$PY" -c 'import pyarrow; print(pyarrow.__version__)')

# --- disk --------------------------------------------------------------------------------
# The source, normalize's output, dedup's output, the splits (the store holds hard links, not
# copies, on one file system) and pyarrow's splits: about 4-5x SIZE_GB (normalize writes zstd,
# ~0.7x of the snappy source). Ask for 5x + 2 GB, less what the data already takes.
BYTES=$(awk -v g="$SIZE_GB" 'BEGIN { printf "%d", g * 1e9 }')
have=0
if [ -s "$PROJ/truth.json" ] && [ -d "$PROJ/data" ]; then
    have=$(du -sb "$PROJ/data" | cut -f1)
fi
need=$((BYTES * 5 + 2000000000 - have))
free=$(df -B1 --output=avail "$WORK" | tail -1)
if [ "$free" -lt "$need" ]; then
    die "not enough disk in $WORK: $((free / 1000000000)) GB free, about $((need / 1000000000)) GB needed (set BENCH_WORK elsewhere, or a smaller SIZE_GB)"
fi
log "disk: $((free / 1000000000)) GB free in $WORK, about $((need / 1000000000)) GB needed"

# --- data --------------------------------------------------------------------------------
mkdir -p "$PROJ"
want="$SIZE_GB $SEED $TEXT_WORDS"
if [ ! -s "$PROJ/truth.json" ] || [ "$(cat "$PROJ/data.params" 2>/dev/null)" != "$want" ]; then
    log "generating ~$SIZE_GB GB of Parquet into $PROJ/data"
    rm -rf "$PROJ/data" "$PROJ/truth.json"
    "$PY" "$HERE/gen.py" "$PROJ/data" "$PROJ/truth.json.tmp" --gb "$SIZE_GB" --seed "$SEED" --words "$TEXT_WORDS"
    mv "$PROJ/truth.json.tmp" "$PROJ/truth.json"
    echo "$want" >"$PROJ/data.params"
fi
"$PY" - "$PROJ/truth.json" >&2 <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
print(f"ground truth: {t['rows']:,} rows in {t['files']} files ({t['bytes'] / 1e9:.2f} GB, "
      f"{t['bytes_per_row']} B/row), {t['duplicates']:,} planted duplicates, {t['unique_rows']:,} unique")
EOF

cat >"$PROJ/dataset.yaml" <<'EOF'
name: bench
version: 1.0.0
sources:
  raw: {uri: data}          # a folder of Parquet files
stages:
  clean: {kind: normalize, input: raw}
  dedup:
    kind: validate
    input: clean
    duplicates: {action: drop}      # exact duplicates over all columns
    missing: {enabled: false}
    schema: {enabled: true}
  splits:
    kind: split
    input: dedup
    seed: 42
    ratios: {train: 0.8, validation: 0.1, test: 0.1}
EOF

# --- measuring ---------------------------------------------------------------------------
quiet() {
    local waited=0
    while [ "$waited" -lt "$WAIT_QUIET" ] &&
        awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 0.5) }'; do
        sleep 10
        waited=$((waited + 10))
    done
}
# Both peers start with the source in the page cache (this VM's kernel reclaims idle page
# cache, so read it right before each run).
warm() { cat "$PROJ"/data/*.parquet >/dev/null; }

# mldatabuild: a first build (fresh lock, stat cache and store), the whole pipeline.
log "mldatabuild build ($SIZE_GB GB): normalize -> validate (dedup) -> split"
rm -rf "$PROJ/out" "$PROJ/dataset.lock" "$PROJ/manifest.yaml" "$PROJ/.mldatabuild" "$STORE"
quiet
warm
MLDATA_HOME=$STORE "$PY" "$HERE/../common/measure.py" --label mldatabuild --results "$RESULTS" \
    --cap-mb "$MEM_CAP_MB" -- "$BIN" -C "$PROJ" build --json ||
    log "the build failed: see $RESULTS/mldatabuild.stderr"
rm -f "$RESULTS/dataset.lock"
[ ! -f "$PROJ/dataset.lock" ] || cp "$PROJ/dataset.lock" "$RESULTS/dataset.lock"
log "mldatabuild verify"
if MLDATA_HOME=$STORE "$BIN" -C "$PROJ" verify >"$RESULTS/verify.txt" 2>&1; then
    echo "ok" >"$RESULTS/verify.status"
else
    echo "FAILED (exit $?)" >"$RESULTS/verify.status"
fi
cat "$RESULTS/verify.txt" >&2

# pyarrow: read all, group_by(all columns).aggregate([]), shuffle, slice, write.
rm -f "$RESULTS/pyarrow".*
if [ "$PEER" = 1 ]; then
    log "pyarrow $PA_VERSION: read, group_by all columns, shuffle, slice, write (cap $MEM_CAP_MB MB)"
    rm -rf "$PA_OUT"
    quiet
    warm
    "$PY" "$HERE/../common/measure.py" --label pyarrow --results "$RESULTS" --cap-mb "$MEM_CAP_MB" -- \
        "$PY" "$HERE/pyarrow_dedup_split.py" "$PROJ/data" "$PA_OUT" --seed 42 ||
        log "pyarrow failed: see $RESULTS/pyarrow.stderr"
    cat "$RESULTS/pyarrow.stderr" >&2
fi

# --- report ------------------------------------------------------------------------------
ok=0
"$PY" "$HERE/report.py" "$RESULTS" "$PROJ" "$REV" "$PA_VERSION" >"$RESULTS/summary.md" || ok=1
cat "$RESULTS/summary.md"

if [ "$KEEP_DATA" != 1 ]; then
    log "deleting the data, outputs and store (KEEP_DATA=1 keeps them)"
    rm -rf "$PROJ/data" "$PROJ/out" "$PROJ/.mldatabuild" "$STORE" "$PA_OUT"
    rm -f "$PROJ/data.params"
fi
exit "$ok"
