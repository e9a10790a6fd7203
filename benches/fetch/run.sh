#!/usr/bin/env bash
# Fetch benchmark: mldatabuild downloading from a loopback server, side by side with curl.
# Run by hand from the repo root (never by tests or CI):
#
#     bash benches/fetch/run.sh          # everything (about 6 minutes after the first run)
#     bash benches/fetch/run.sh big      # one large file: curl vs mldatabuild
#     bash benches/fetch/run.sh small    # 1,000 small files: one by one vs in parallel
#     bash benches/fetch/run.sh server   # only the server's raw speed (curl -o /dev/null)
#     bash benches/fetch/run.sh proto    # the prototype of the proposed fixes (proto/)
#     bash benches/fetch/run.sh proto-big  # the same, the large file only
#     bash benches/fetch/run.sh profile  # perf profiles: the large file, the small files one by one
#     bash benches/fetch/run.sh pull     # `pull` of a 1 GB file vs curl, in one hyperfine run
#
# It builds the release binary into target-bench/ and copies it to $BENCH_WORK/bin (so other
# builds sharing target-bench cannot swap it mid-run), generates the data when missing, starts
# loopback servers (benches/fetch/server.py: one answering at once, others waiting
# FETCH_DELAY_MS per answer), measures (benches/fetch/bench.py) and prints the results table, also written to
# $BENCH_WORK/results/fetch-summary.md (raw figures in fetch.json; `proto`: proto-*).
# See benches/fetch/README.md.
#
# Knobs (environment):
#   BENCH_WORK      data, stores, results (default /tmp/mldbench-fetch; use a private folder)
#   FETCH_BIG_BYTES size of the large file (default 2000000000)
#   FETCH_SMALL     number of small files (default 1000, about 4 KB each)
#   FETCH_DELAY_MS  per-answer delays of the extra servers for the small files, in ms
#                   (default "5 20"; "" measures the small files against the fast server only)
#   FETCH_RATE_MB_S the large file is also fetched from a server capped at this rate, MB/s
#                   (default 500, i.e. 4 Gbit/s: a link slower than this machine; 0 skips it)
#   FETCH_RUNS      runs per command (default 3; medians are reported)
#   BENCH_WAIT_QUIET  wait up to this many seconds for a 1-minute load under 0.5 (default 0)
#   FETCH_SETTLE    seconds to wait after each clean-up (delete + sync) before the next command,
#                   so no command pays for the writeback of the previous one's files (default 5)
#   FETCH_NO_BUILD  1: measure the binary an earlier run copied to $BENCH_WORK/bin (no cargo)
#   FETCH_TARGET_DIR  where cargo builds the release binary (default target-bench/ in the repo)
#   FETCH_PULL_BYTES  size of the file `pull` fetches (default 1000000000)
#   FETCH_BASE_REV  also measure this committed revision (a sha, a tag, HEAD~3), side by side
#                   in the same runs: extracted with `git archive` into $BENCH_WORK/src-SHA,
#                   built into $BENCH_WORK/target-base (seeded with a copy of target-bench/,
#                   5 GB), kept as $BENCH_WORK/bin/mldatabuild-SHA
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/fetch
WORK=${BENCH_WORK:-/tmp/mldbench-fetch}
BIG_BYTES=${FETCH_BIG_BYTES:-2000000000}
SMALL=${FETCH_SMALL:-1000}
DELAYS=${FETCH_DELAY_MS-5 20}
RATE=${FETCH_RATE_MB_S:-500}
RUNS=${FETCH_RUNS:-3}
SETTLE=${FETCH_SETTLE:-5}
WAIT_QUIET=${BENCH_WAIT_QUIET:-0}
WHAT=${1:-all}
PULL_BYTES=${FETCH_PULL_BYTES:-1000000000}
export CARGO_TARGET_DIR=${FETCH_TARGET_DIR:-$ROOT/target-bench}
BIN=$WORK/bin/mldatabuild
DATA=$WORK/data

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

case $WHAT in all | big | small | server | proto | proto-big | profile | pull) ;;
*) die "usage: run.sh [all|big|small|server|proto|proto-big|profile|pull]" ;;
esac
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
if [ "$WHAT" = pull ]; then
    command -v hyperfine >/dev/null || die "hyperfine is needed (apt-get install hyperfine)"
    DELAYS=""
fi
mkdir -p "$WORK/bin" "$WORK/results" "$DATA/files" "$DATA/repo-big" "$DATA/repo-small"

# --- the binaries ------------------------------------------------------------------------
# build_bin SRC DEST: cargo build in SRC (into target-bench/), then copy the binary to DEST
# under cargo's lock, only if its dep-info says it was built from SRC (other harnesses build
# other revisions into target-bench/).
build_bin() {
    local src=$1 dest=$2
    for _ in 1 2 3; do
        (cd "$src" && nice cargo build --release --locked --bin mldatabuild)
        # shellcheck disable=SC2016 # $1..$3 are expanded by the inner sh
        if flock "$CARGO_TARGET_DIR/release/.cargo-lock" sh -c \
            'grep -q " $1/src/main.rs" "$2.d" && cp "$2" "$3.tmp" && mv "$3.tmp" "$3"' \
            _ "$src" "$CARGO_TARGET_DIR/release/mldatabuild" "$dest"; then
            return 0
        fi
        log "target-bench/release/mldatabuild was replaced by another build; building again"
    done
    die "could not get a binary built from $src"
}
tree_rev() {
    local r
    r=$(git -C "$ROOT" rev-parse --short HEAD)
    if [ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock)" ]; then
        r="$r+dirty"
    fi
    echo "$r"
}

BASE_ARGS=()
if [ "${WHAT#proto}" != "$WHAT" ]; then
    log "building the prototype (benches/fetch/proto, into $WORK/proto-target)"
    CARGO_TARGET_DIR=$WORK/proto-target nice cargo build --release --locked \
        --manifest-path "$HERE/proto/Cargo.toml"
elif [ "$WHAT" != server ]; then
    if [ "${FETCH_NO_BUILD:-0}" = 1 ]; then
        [ -x "$BIN" ] || die "FETCH_NO_BUILD=1 but there is no $BIN yet"
    else
        log "building mldatabuild from the working tree (release, $CARGO_TARGET_DIR)"
        rev=$(tree_rev)
        build_bin "$ROOT" "$BIN"
        # The tree may have changed during the build: say so rather than guess.
        [ "$(tree_rev)" = "$rev" ] || rev="$rev (changed during the build)"
        echo "$rev" >"$BIN.rev"
    fi
    if [ -n "${FETCH_BASE_REV:-}" ]; then
        bsha=$(git -C "$ROOT" rev-parse --short=12 "$FETCH_BASE_REV^{commit}")
        BASE_BIN=$WORK/bin/mldatabuild-$bsha
        if [ ! -x "$BASE_BIN" ]; then
            # Not into target-bench/: cargo keys a path package's artifacts on paths relative
            # to the package and on mtimes, so a `git archive` copy (old mtimes) built there
            # would be taken as up to date with the last build of the working tree, and the
            # working tree's next build as up to date with it. A private target folder,
            # seeded with target-bench's compiled dependencies, and fresh mtimes instead.
            bsrc=$WORK/src-$bsha
            btarget=$WORK/target-base
            if [ ! -f "$bsrc/Cargo.toml" ]; then
                mkdir -p "$bsrc"
                git -C "$ROOT" archive "$bsha" | tar -x -C "$bsrc"
            fi
            find "$bsrc" -type f -exec touch {} +
            if [ ! -d "$btarget/release" ] && [ -d "$CARGO_TARGET_DIR/release" ]; then
                log "seeding $btarget with target-bench's dependencies (a copy, under cargo's lock)"
                mkdir -p "$btarget"
                flock "$CARGO_TARGET_DIR/release/.cargo-lock" cp -a "$CARGO_TARGET_DIR/release" "$btarget/"
            fi
            log "building mldatabuild $bsha (FETCH_BASE_REV=$FETCH_BASE_REV) in $bsrc"
            (cd "$bsrc" && CARGO_TARGET_DIR=$btarget nice cargo build --release --locked --bin mldatabuild)
            grep -q " $bsrc/src/main.rs" "$btarget/release/mldatabuild.d" ||
                die "$btarget/release/mldatabuild was not built from $bsrc"
            cp "$btarget/release/mldatabuild" "$BASE_BIN.tmp" && mv "$BASE_BIN.tmp" "$BASE_BIN"
        fi
        BASE_ARGS=(--base-bin "$BASE_BIN" --base-label "mldatabuild ${bsha:0:7}")
    fi
fi
REV=$(cat "$BIN.rev" 2>/dev/null || echo unknown)

# --- data --------------------------------------------------------------------------------
BIG=$DATA/files/big.bin
if [ "$WHAT" = pull ]; then
    # Only the file `pull` fetches (the repositories stay as they are, possibly empty).
    BIG=$DATA/files/pull.bin
    BIG_BYTES=$PULL_BYTES
fi
if [ "$(stat -c %s "$BIG" 2>/dev/null || echo 0)" != "$BIG_BYTES" ]; then
    log "generating $BIG ($BIG_BYTES random bytes)"
    nice python3 "$HERE/gen_data.py" big "$BIG" "$BIG_BYTES"
fi
# The Hub repository bench/big holds the same file (a hard link): listed as LFS.
[ "$WHAT" = pull ] || ln -f "$BIG" "$DATA/repo-big/big.bin"
if [ "$WHAT" != pull ] && [ "$(find "$DATA/repo-small/data" -name '*.csv' 2>/dev/null | wc -l)" != "$SMALL" ]; then
    log "generating $SMALL small CSV files"
    rm -rf "$DATA/repo-small"
    nice python3 "$HERE/gen_data.py" small "$DATA/repo-small" "$SMALL"
fi

# --- servers -----------------------------------------------------------------------------
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
start_server() { # name delay_ms [rate_mb_s]; the port goes to $WORK/port-NAME
    local pf=$WORK/port-$1
    rm -f "$pf"
    python3 "$HERE/server.py" --root "$DATA/files" \
        --repo "bench/big=$DATA/repo-big" --repo "bench/small=$DATA/repo-small" \
        --delay-ms "$2" --rate-mb-s "${3:-0}" --port-file "$pf" 2>"$WORK/server-$1.log" &
    PIDS+=($!)
    for _ in $(seq 600); do
        [ -s "$pf" ] && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || die "server $1 died: $(cat "$WORK/server-$1.log")"
        sleep 0.1
    done
    [ -s "$pf" ] || die "server $1 did not start (the first start hashes the data: slow)"
}
log "starting the servers (the first start hashes the data, about 10 s)"
start_server fast 0
PORT=$(cat "$WORK/port-fast")
SERVER_ARGS=(--server "$PORT:0:${PIDS[0]}")
for d in $DELAYS; do
    start_server "delay$d" "$d"
    SERVER_ARGS+=(--server "$(cat "$WORK/port-delay$d"):$d:${PIDS[-1]}")
done
if [ "$RATE" != 0 ] && { [ "$WHAT" = all ] || [ "$WHAT" = big ]; }; then
    start_server rate 0 "$RATE"
    SERVER_ARGS+=(--rate-server "$(cat "$WORK/port-rate"):$RATE:${PIDS[-1]}")
fi

if [ "$WAIT_QUIET" -gt 0 ]; then
    waited=0
    while [ "$waited" -lt "$WAIT_QUIET" ] && awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN { exit !(l >= 0.5) }'; do
        sleep 10
        waited=$((waited + 10))
    done
fi

# --- the server's raw speed ---------------------------------------------------------------
log "server check: curl -o /dev/null of $BIG_BYTES bytes, 3 times"
for _ in 1 2 3; do
    curl -sS --fail -o /dev/null -w '    %{time_total} s, %{speed_download} B/s\n' \
        "http://127.0.0.1:$PORT/files/$(basename "$BIG")" >&2
done
[ "$WHAT" = server ] && exit 0

# --- pull: one file into a folder, side by side with curl, in one hyperfine run ------------
# Each run starts from nothing: no download cache (a fresh MLDATA_HOME), no output folder, no
# curl file; the clean-up (delete, sync, FETCH_SETTLE seconds) is hyperfine's --prepare, outside
# the timing. The cache and the folder are on the same file system, as by default.
if [ "$WHAT" = pull ]; then
    url=http://127.0.0.1:$PORT/files/pull.bin
    p=$WORK/pull
    mkdir -p "$p"
    cmds=(-n "curl -o file" "curl -sS --fail -o $p/curl.bin $url"
        -n "mldatabuild ${REV%% *} pull" "env MLDATA_HOME=$p/home HOME=$p $BIN -q pull $url -o $p/out")
    if [ -n "${BASE_BIN:-}" ]; then
        cmds+=(-n "mldatabuild ${bsha:0:7} pull"
            "env MLDATA_HOME=$p/home HOME=$p $BASE_BIN pull $url -o $p/out")
    fi
    log "pull vs curl: $PULL_BYTES bytes, $RUNS runs each (hyperfine)"
    hyperfine --runs "$RUNS" --prepare "rm -rf $p/home $p/out $p/curl.bin; sync; sleep $SETTLE" \
        --export-json "$WORK/results/pull.json" --export-markdown "$WORK/results/pull.md" \
        "${cmds[@]}"
    rm -rf "$p/home" "$p/out" "$p/curl.bin"
    python3 - "$WORK/results/pull.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
curl = res[0]  # the first command
for r in res:
    if r is not curl:
        print(f"{r['command']}: curl -o file / pull = {curl['median'] / r['median']:.2f} "
              f"(medians {curl['median']:.2f} s / {r['median']:.2f} s; "
              f"means {curl['mean'] / r['mean']:.2f})")
PY
    exit 0
fi

# --- profiles ------------------------------------------------------------------------------
if [ "$WHAT" = profile ]; then
    command -v perf >/dev/null || die "perf is needed (apt-get install linux-perf)"
    prof=$WORK/profile
    rm -rf "$prof"
    for p in big small; do
        mkdir -p "$prof/$p"
        python3 "$HERE/gen_data.py" tiny "$prof/$p/tiny.csv"
        uri=http://127.0.0.1:$PORT/files/big.bin
        [ $p = small ] && uri=hf://bench/small
        printf 'name: fetchbench\nversion: 1.0.0\nsources:\n  remote: {uri: "%s"}\n  tiny: {uri: tiny.csv}\nstages:\n  clean: {kind: normalize, input: tiny}\n' \
            "$uri" >"$prof/$p/dataset.yaml"
        sync
        log "profile: $p ($([ $p = big ] && echo "$BIG_BYTES bytes over http://" || echo "$SMALL files over hf://, MLDATA_DOWNLOAD_JOBS=1"))"
        perf record -q -F 499 --call-graph dwarf,16384 -o "$prof/$p.perf.data" -- \
            env MLDATA_HOME="$prof/home-$p" HOME="$prof" HF_ENDPOINT="http://127.0.0.1:$PORT" \
            MLDATA_DOWNLOAD_JOBS=1 "$BIN" -C "$prof/$p" build -q
        perf script -F comm,tid,ip,sym -i "$prof/$p.perf.data" 2>/dev/null |
            python3 "$HERE/perf_groups.py" | tee "$WORK/results/profile-$p.txt"
    done
    exit 0
fi

META=$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
    revision "$REV" \
    base "${BASE_ARGS[3]:-}" \
    curl "$(curl --version | head -1 | cut -d' ' -f1-2)" \
    python "$(python3 -c 'import platform; print(platform.python_version())')" \
    cpus "$(nproc)" \
    date "$(date -u +%Y-%m-%dT%H:%MZ)")

python3 "$HERE/bench.py" --bin "$BIN" --label "mldatabuild ${REV%% *}" "${BASE_ARGS[@]}" --proto "$WORK/proto-target/release/fetch-proto" \
    --work "$WORK" --what "$WHAT" "${SERVER_ARGS[@]}" \
    --big-bytes "$BIG_BYTES" --small-count "$SMALL" --runs "$RUNS" --settle "$SETTLE" --meta "$META"
