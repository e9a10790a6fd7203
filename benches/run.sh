#!/usr/bin/env bash
# mldatabuild benchmark harness. Run from the repo root:
#
#     bash benches/run.sh            # both benchmarks
#     bash benches/run.sh noop       # benchmark 1 only (no-op build vs `dvc repro`)
#     bash benches/run.sh verify     # benchmark 2 only (verify ~1 GB vs sha256sum)
#     bash benches/run.sh breakdown  # where a no-op build's time goes (builds benches/breakdown,
#                                    # ~5 more minutes the first time; needs `noop` data)
#
# It builds the release binary into target-bench/, installs hyperfine (apt) and DVC (a venv
# in benches/work/venv) when missing, generates the data under benches/work/ when missing,
# runs hyperfine (JSON in benches/work/results/) and prints a results table.
# See benches/README.md for the method and the last recorded results.
#
# Knobs (environment): BENCH_WORK (data folder, default benches/work; use a private one when
# other people run the harness on the same machine), BENCH_VENV (DVC's venv, default
# benches/work/venv), NOOP_FILES (10000),
# VERIFY_BYTES (1000000000), NOOP_RUNS (15), VERIFY_WARM_RUNS (20), VERIFY_COLD_RUNS (5),
# BENCH_REV (benchmark a committed revision instead of the working tree, e.g. BENCH_REV=HEAD),
# BENCH_WAIT_QUIET (seconds to wait for an idle machine before measuring).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/benches
WORK=${BENCH_WORK:-$BENCH/work}
RESULTS=$WORK/results
export CARGO_TARGET_DIR=$ROOT/target-bench
VENV=${BENCH_VENV:-$BENCH/work/venv}
DVC=$VENV/bin/dvc
NOOP_FILES=${NOOP_FILES:-10000}
VERIFY_BYTES=${VERIFY_BYTES:-1000000000}
NOOP_RUNS=${NOOP_RUNS:-15}
VERIFY_WARM_RUNS=${VERIFY_WARM_RUNS:-20}
VERIFY_COLD_RUNS=${VERIFY_COLD_RUNS:-5}
WHAT=${1:-all}

# The store of every mldatabuild run here; never the user's ~/.mldata.
export MLDATA_HOME=$WORK/store
# DVC: no telemetry (the update check is turned off in the project: core.check_update), so
# that no timed run reaches the network.
export DVC_NO_ANALYTICS=1

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK" "$RESULTS"

# --- tools ------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
    log "installing hyperfine (apt)"
    [ "$(id -u)" = 0 ] || die "hyperfine is missing: apt-get install hyperfine"
    apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null
fi

# What to benchmark: the working tree (default), or a committed revision (BENCH_REV=HEAD,
# a tag, a sha), extracted with `git archive` into $WORK/src-SHA and built from there.
SRC=$ROOT
if [ -n "${BENCH_REV:-}" ]; then
    sha=$(git -C "$ROOT" rev-parse --short=12 "$BENCH_REV^{commit}")
    SRC=$WORK/src-$sha
    if [ ! -f "$SRC/Cargo.toml" ]; then
        mkdir -p "$SRC"
        git -C "$ROOT" archive "$sha" | tar -x -C "$SRC"
    fi
    REV="$sha (BENCH_REV=$BENCH_REV)"
else
    REV="working tree at $(git -C "$ROOT" rev-parse --short=12 HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' + uncommitted changes in src/')"
fi
# benches/breakdown reaches the crate as ../..: keep a copy next to the built sources.
if [ "$SRC" != "$ROOT" ]; then
    mkdir -p "$SRC/benches" && rm -rf "$SRC/benches/breakdown" && cp -r "$BENCH/breakdown" "$SRC/benches/"
fi

log "building the release binary ($REV) into $CARGO_TARGET_DIR"
(cd "$SRC" && cargo build --release --quiet --bin mldatabuild)
# Run a private copy: another build into target-bench/ must not swap the binary mid-run.
BIN=$WORK/bin/mldatabuild
mkdir -p "$WORK/bin"
cp "$CARGO_TARGET_DIR/release/mldatabuild" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
"$BIN" --version
echo "$REV" >"$RESULTS/revision.txt"

# Can this run drop the page cache (root, not read-only /proc)? Then "cold" is truly cold.
DROP="sync; echo 3 > /proc/sys/vm/drop_caches"
if sh -c "$DROP" 2>/dev/null; then
    CAN_DROP=1
else
    CAN_DROP=0
    DROP="true"
    log "cannot drop the page cache here: 'cold' verify figures are with a WARM page cache"
fi

# --- benchmark 1: no-op build -------------------------------------------------------------
bench_noop() {
    if [ ! -x "$DVC" ]; then
        log "installing DVC into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check dvc
    fi
    "$DVC" --version | sed 's/^/dvc /'

    local dir=$WORK/noop
    log "data: $NOOP_FILES CSV files, 10-stage specs (mldatabuild + DVC) in $dir"
    python3 "$BENCH/gen_noop.py" "$dir" --files "$NOOP_FILES"

    log "mldatabuild: first build"
    (cd "$dir/mld" && time "$BIN" build -q)
    # Files written less than 2 s before a build are re-hashed and not cached (racily-clean
    # rule, src/statcache.rs): wait that out, then one build records them; from then on a
    # build must be a pure no-op.
    sleep 3
    "$BIN" -C "$dir/mld" build -q
    local lock=$dir/mld/dataset.lock
    local before
    before=$(stat -c '%Y.%i' "$lock" "$dir/mld/.mldatabuild/stat-cache-v1")
    "$BIN" -C "$dir/mld" build --json >"$RESULTS/noop-mld-build.jsonl"
    python3 "$BENCH/report.py" check-noop "$RESULTS/noop-mld-build.jsonl"
    [ "$before" = "$(stat -c '%Y.%i' "$lock" "$dir/mld/.mldatabuild/stat-cache-v1")" ] ||
        die "a no-op build rewrote dataset.lock or the stat cache"
    "$BIN" -C "$dir/mld" status | tail -1

    log "DVC: git init + dvc init + first dvc repro"
    if [ ! -d "$dir/dvc/.dvc" ]; then
        (cd "$dir/dvc" && git init -q && "$DVC" init -q && "$DVC" config core.analytics false &&
            "$DVC" config core.check_update false)
    fi
    (cd "$dir/dvc" && time "$DVC" repro -q)
    (cd "$dir/dvc" && "$DVC" repro -q && "$DVC" status) # settles DVC's state db; must say up to date

    log "hyperfine: no-op build, $NOOP_RUNS runs each, side by side"
    (cd "$dir/dvc" && hyperfine -N --warmup 3 --runs "$NOOP_RUNS" \
        --export-json "$RESULTS/noop.json" \
        -n "mldatabuild build -q" "$BIN -C $dir/mld build -q" \
        -n "mldatabuild status" "$BIN -C $dir/mld status" \
        -n "dvc repro" "$DVC repro -q" \
        -n "dvc status" "$DVC status -q")
    # Still a no-op afterwards?
    [ "$before" = "$(stat -c '%Y.%i' "$lock" "$dir/mld/.mldatabuild/stat-cache-v1")" ] ||
        die "a timed no-op build rewrote dataset.lock or the stat cache"
}

# --- benchmark 2: verify ----------------------------------------------------------------
bench_verify() {
    local dir=$WORK/verify
    log "data: ~$VERIFY_BYTES bytes of outputs in $dir"
    python3 "$BENCH/gen_verify.py" "$dir" --target-bytes "$VERIFY_BYTES"
    log "mldatabuild: build (4 normalize stages)"
    (cd "$dir" && time "$BIN" build -q)
    sleep 3 # outputs younger than 2 s are never cached (racily-clean rule): wait that out

    # The files verify checks: every output in the lock (everything under the dataset
    # folder except manifest.yaml).
    local out
    out=$(sed -n 's/^output: *//p' "$dir/dataset.lock")
    (cd "$dir" && find "$out" -type f ! -name manifest.yaml | sort) >"$RESULTS/verify-files.txt"
    local bytes
    bytes=$(cd "$dir" && xargs stat -c %s <"$RESULTS/verify-files.txt" | awk '{s+=$1} END {print s}')
    echo "$bytes" >"$RESULTS/verify-bytes.txt"
    echo "$CAN_DROP" >"$RESULTS/verify-can-drop.txt"
    printf 'outputs: %s files, %s bytes\n' "$(wc -l <"$RESULTS/verify-files.txt")" "$bytes"

    local files cache=$dir/.mldatabuild/stat-cache-v1
    files=$(cd "$dir" && sed "s|^|$dir/|" "$RESULTS/verify-files.txt" | tr '\n' ' ')
    "$BIN" -C "$dir" verify | tail -2

    log "hyperfine: verify with a warm stat cache"
    hyperfine -N --warmup 2 --runs "$VERIFY_WARM_RUNS" --export-json "$RESULTS/verify-warm.json" \
        -n "verify (warm stat cache)" "$BIN -C $dir verify"

    log "hyperfine: no-op build of this 1 GB dataset"
    # A build records the digests of the outputs it writes, so no later command re-reads them.
    hyperfine --warmup 1 --runs 3 --export-json "$RESULTS/verify-noop.json" \
        -n "no-op build (warm stat cache)" "$BIN -C $dir build -q"

    log "hyperfine: cold verify vs single-core SHA-256, side by side"
    # cold:      no stat cache, page cache dropped (disk reads + hashing)
    # hot page:  no stat cache, files in the page cache (hashing only)
    local hot="cat $files >/dev/null"
    hyperfine --warmup 0 --runs "$VERIFY_COLD_RUNS" --export-json "$RESULTS/verify-cold.json" \
        -n "verify (cold)" -p "rm -f $cache; $DROP" "$BIN -C $dir verify" \
        -n "sha256sum 1 core (cold)" -p "$DROP" "taskset -c 0 sha256sum $files" \
        -n "cat >/dev/null (cold: disk read only)" -p "$DROP" "cat $files >/dev/null" \
        -n "verify (hot page cache)" -p "rm -f $cache; $hot" "$BIN -C $dir verify" \
        -n "verify 1 core (hot page cache)" -p "rm -f $cache; $hot" "taskset -c 0 $BIN -C $dir verify" \
        -n "sha256sum 1 core (hot page cache)" -p "$hot" "taskset -c 0 sha256sum $files" \
        -n "openssl sha256 1 core (hot page cache)" -p "$hot" "taskset -c 0 openssl dgst -sha256 $files"
    # In-memory single-core SHA-256 speed of this CPU (OpenSSL uses SHA-NI where present).
    taskset -c 0 openssl speed -seconds 3 -bytes 1048576 -evp sha256 2>/dev/null | tail -1 >"$RESULTS/openssl-speed.txt"
    grep -o -m1 -w sha_ni /proc/cpuinfo >"$RESULTS/sha-ni.txt" || echo "no sha_ni" >"$RESULTS/sha-ni.txt"
    # Leave the stat cache warm again (the cold runs deleted it, source entries included).
    "$BIN" -C "$dir" build -q
    "$BIN" -C "$dir" verify >/dev/null
}

# --- optional: phase breakdown of the no-op build ------------------------------------------
bench_breakdown() {
    local dir=$WORK/noop/mld
    [ -f "$dir/dataset.lock" ] || die "run 'bash benches/run.sh noop' first"
    log "building benches/breakdown (phase timer over the library API)"
    (cd "$SRC/benches/breakdown" && cargo build --release --quiet)
    "$CARGO_TARGET_DIR/release/breakdown" "$dir" 15 | tee "$RESULTS/breakdown.txt"
}

# The figures are only as good as the machine is quiet: other builds on it (cargo, tests)
# inflate wall times. BENCH_WAIT_QUIET=SECONDS waits (up to that long) for a 1-minute load
# average under 0.5 before starting.
if [ -n "${BENCH_WAIT_QUIET:-}" ]; then
    end=$((SECONDS + BENCH_WAIT_QUIET))
    while awk '{exit !($1 >= 0.5)}' /proc/loadavg && [ $SECONDS -lt $end ]; do sleep 10; done
fi
uptime | sed 's/^/load at start: /' | tee "$RESULTS/load.txt" >&2
case $WHAT in
    all) bench_noop; bench_verify ;;
    noop) bench_noop ;;
    verify) bench_verify ;;
    breakdown) bench_breakdown; exit 0 ;;
    *) die "usage: bash benches/run.sh [all|noop|verify|breakdown]" ;;
esac
uptime | sed 's/^/load at end: /' | tee -a "$RESULTS/load.txt" >&2

log "results"
python3 "$BENCH/report.py" table "$RESULTS"
