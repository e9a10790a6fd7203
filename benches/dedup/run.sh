#!/usr/bin/env bash
# Near-duplicate detection benchmark: mldatabuild's MinHash + LSH module vs datasketch, side by
# side on one generated corpus with planted near-duplicates. Run by hand from anywhere:
#
#   bash benches/dedup/run.sh
#
# Knobs (environment):
#   BENCH_WORK           work dir (venv, corpus, results)         /tmp/mldbench-dedup
#   DEDUP_DOCS           documents for the throughput runs         1000000
#   DEDUP_QUALITY_DOCS   prefix both tools run on (quality+speed)  200000
#   DEDUP_DS_FULL        1: datasketch on all DEDUP_DOCS too        0
#   DEDUP_DUP_RATE       planted copies per document               0.02
#   DEDUP_SEED           corpus seed                               20251122
#   DEDUP_REPEAT         runs of each Rust configuration (median)  3
#   DEDUP_KEEP           1: keep the corpus and pair files         0
#   DEDUP_WAIT_QUIET     wait up to N s for an idle machine (no   0
#                        other runnable process) before each run
#   CARGO_TARGET_DIR     where the Rust driver is built            <repo>/target-bench
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/benches/dedup"
WORK=${BENCH_WORK:-/tmp/mldbench-dedup}
DOCS=${DEDUP_DOCS:-1000000}
QDOCS=${DEDUP_QUALITY_DOCS:-200000}
DS_FULL=${DEDUP_DS_FULL:-0}
DUP_RATE=${DEDUP_DUP_RATE:-0.02}
SEED=${DEDUP_SEED:-20251122}
REPEAT=${DEDUP_REPEAT:-3}
KEEP=${DEDUP_KEEP:-0}
WAIT_QUIET=${DEDUP_WAIT_QUIET:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-bench}

if (( QDOCS > DOCS )); then QDOCS=$DOCS; fi
mkdir -p "$WORK"
log() { printf '\n== %s\n' "$*" >&2; }

# Wait (up to WAIT_QUIET s) until no other process is runnable for 5 s: the machine is shared.
wait_quiet() {
    (( WAIT_QUIET > 0 )) || return 0
    local waited=0 busy i
    while (( waited < WAIT_QUIET )); do
        busy=0
        for i in 1 2 3 4 5; do
            # procs_running counts awk itself.
            (( $(awk '/^procs_running/{print $2}' /proc/stat) > 1 )) && busy=1
            sleep 1
        done
        (( busy == 0 )) && return 0
        waited=$((waited + 5))
    done
    log "machine still busy after ${WAIT_QUIET}s; measuring anyway"
}

# One line per measurement in runs.log: name, seconds, the load average when it started.
record() {
    printf '%s\t%s\tload %s\n' "$1" \
        "$("$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["seconds"], 3))' "$2")" \
        "$3" >>"$RES/runs.log"
}

# 1. Python with datasketch.
PY="$WORK/venv/bin/python"
if ! [ -x "$PY" ] || ! "$PY" -c 'import datasketch, numpy' 2>/dev/null; then
    log "venv with datasketch in $WORK/venv"
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet datasketch
fi
DS_VERSION=$("$PY" -c 'import datasketch; print(datasketch.__version__)' 2>/dev/null || "$PY" -m pip show datasketch | awk '/^Version/{print $2}')

# 2. The corpus (kept between runs with DEDUP_KEEP=1).
CORPUS="$WORK/corpus-$DOCS-$DUP_RATE-$SEED"
if ! [ -s "$CORPUS/docs.txt" ] || ! [ -s "$CORPUS/meta.json" ]; then
    log "generating $DOCS documents into $CORPUS"
    "$PY" "$HERE/gen.py" "$CORPUS" --docs "$DOCS" --dup-rate "$DUP_RATE" --seed "$SEED" >/dev/null
fi

# 3. The Rust driver (bench profile = release), in its own target dir.
log "building the Rust driver (cargo bench --bench dedup --no-run, $CARGO_TARGET_DIR)"
BIN=$(cd "$ROOT" && cargo bench --bench dedup --no-run --message-format=json 2>"$WORK/build.log" |
    "$PY" -c '
import json, sys
exe = None
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "dedup" and m.get("executable"):
        exe = m["executable"]
print(exe or "")
') || { cat "$WORK/build.log" >&2; exit 1; }
[ -n "$BIN" ] || { cat "$WORK/build.log" >&2; echo "error: no dedup executable" >&2; exit 1; }

RES="$WORK/results"
rm -rf "$RES"
mkdir -p "$RES"

# Run a Rust configuration REPEAT times; keep the median run (by seconds) as NAME.json.
rust() {
    local name=$1 threads=$2 limit=$3
    local i load
    for ((i = 1; i <= REPEAT; i++)); do
        wait_quiet
        log "$name: mldatabuild, $threads thread(s), $limit docs (run $i/$REPEAT)"
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        RAYON_NUM_THREADS=$threads "$BIN" "$CORPUS/docs.txt" --limit "$limit" \
            --label mldatabuild --pairs-out "$RES/$name.pairs" >"$RES/$name.$i.json"
        cat "$RES/$name.$i.json" >&2
        record "$name.$i" "$RES/$name.$i.json" "$load"
    done
    "$PY" - "$RES/$name.json" "$RES/$name".*.json <<'EOF'
import json, sys
runs = sorted((json.load(open(p)) for p in sys.argv[2:]), key=lambda r: r["seconds"])
json.dump(runs[len(runs) // 2], open(sys.argv[1], "w"))
EOF
    rm -f "$RES/$name".[0-9]*.json
}

datasketch() {
    local name=$1 limit=$2
    wait_quiet
    log "$name: datasketch $DS_VERSION, $limit docs"
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    "$PY" "$HERE/ds.py" "$CORPUS/docs.txt" --limit "$limit" --pairs-out "$RES/$name.pairs" >"$RES/$name.json"
    cat "$RES/$name.json" >&2
    record "$name" "$RES/$name.json" "$load"
}

# 4. Quality and speed on the same prefix, then throughput on everything.
rust "rust-1t-${QDOCS}" 1 "$QDOCS"
rust "rust-2t-${QDOCS}" 2 "$QDOCS"
datasketch "datasketch-${QDOCS}" "$QDOCS"
RUNS=("$RES/rust-1t-${QDOCS}.json:$RES/rust-1t-${QDOCS}.pairs"
      "$RES/rust-2t-${QDOCS}.json:$RES/rust-2t-${QDOCS}.pairs"
      "$RES/datasketch-${QDOCS}.json:$RES/datasketch-${QDOCS}.pairs")
if (( DOCS > QDOCS )); then
    rust "rust-1t-${DOCS}" 1 "$DOCS"
    rust "rust-2t-${DOCS}" 2 "$DOCS"
    RUNS+=("$RES/rust-1t-${DOCS}.json:$RES/rust-1t-${DOCS}.pairs"
           "$RES/rust-2t-${DOCS}.json:$RES/rust-2t-${DOCS}.pairs")
    if [ "$DS_FULL" = 1 ]; then
        datasketch "datasketch-${DOCS}" "$DOCS"
        RUNS+=("$RES/datasketch-${DOCS}.json:$RES/datasketch-${DOCS}.pairs")
    fi
fi

# 5. The table.
log "scoring"
{
    echo "# near-duplicate benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load before scoring: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- corpus: $(tr -d '\n' <"$CORPUS/meta.json" | tr -s ' ')"
    echo "- datasketch $DS_VERSION, $("$PY" --version); mldatabuild rev $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet -- src/stages/minhash.rs || echo '+changes')"
    echo "- Rust rows: median of $REPEAT runs"
    echo
} >"$RES/summary.md"
"$PY" "$HERE/score.py" "$CORPUS/docs.txt" "$CORPUS/truth.tsv" "${RUNS[@]}" --out "$RES/table.md" >/dev/null
cat "$RES/table.md" >>"$RES/summary.md"
{
    echo
    echo "Every measurement (seconds, 1/5/15-minute load average when it started):"
    echo
    echo '```'
    cat "$RES/runs.log"
    echo '```'
} >>"$RES/summary.md"
cat "$RES/summary.md"

if [ "$KEEP" != 1 ]; then
    rm -rf "$CORPUS"
    rm -f "$RES"/*.pairs
fi
echo "results: $RES/summary.md (JSON per run beside it)" >&2
