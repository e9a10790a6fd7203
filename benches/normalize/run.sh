#!/usr/bin/env bash
# Benchmark of the `normalize` stage against pyarrow and polars. Run from the repo root:
#
#     bash benches/normalize/run.sh           # everything: speed, memory, output check
#     bash benches/normalize/run.sh speed     # hyperfine only (the CSV and JSONL inputs)
#     bash benches/normalize/run.sh memory    # peak RSS only (1 GB files, then 5 GB and 10 GB CSVs)
#     bash benches/normalize/run.sh check     # output sizes, row counts, values vs pyarrow
#     bash benches/normalize/run.sh parquet   # hyperfine only: polars-written snappy Parquet
#                                             # (the CSV's rows) to zstd Parquet
#     bash benches/normalize/run.sh profile   # perf profile of mldatabuild on the CSV/JSONL inputs,
#                                             # and the Parquet-encoding experiment (encode-exp/)
#     NORM_INPUTS="json text xlsx feather" bash benches/normalize/run.sh speed
#                                             # the other readers, each against its peer, with
#                                             # an output check (row counts, values)
#
# It builds the release binary (target-bench/), copies it to $WORK/bin so that other builds
# sharing target-bench cannot swap it mid-run, creates a venv with pyarrow and polars, generates the data
# (gen_data.py) when missing, runs the measurements and prints a results table (also written
# to $WORK/results/summary.md). See benches/normalize/README.md for the method and results.
#
# Knobs (environment):
#   NORM_WORK      data/results folder (default benches/work/normalize, gitignored)
#   NORM_VENV      venv with pyarrow and polars (default benches/work/venv-normalize, created with
#                  pyarrow and polars==2.1.0 when it lacks either; point it at an existing venv)
#   NORM_TARGET    cargo target folder for the release build (default target-bench)
#   NORM_BYTES     size of the CSV and JSONL inputs (default 1000000000)
#   NORM_INPUTS    which inputs `speed` and `profile` measure (default "csv jsonl"; also
#                  `parquet`: the CSV's rows as polars writes them, snappy; and for `speed`,
#                  the other readers, each timed against its own peers and checked after:
#                  `json` (an array of records; polars read_json), `text` (the comment column,
#                  a line each; pyarrow read_csv as a one-column text reader, and the datasets
#                  text builder), `xlsx` (the CSV's first NORM_XLSX_ROWS rows; polars
#                  read_excel with calamine), `feather` (the CSV's rows, Feather v2 with lz4;
#                  pyarrow feather.read_table and polars scan_ipc))
#   NORM_JSON_BYTES  size of the JSON document (default NORM_BYTES)
#   NORM_TEXT_BYTES  size of the text file (default NORM_BYTES)
#   NORM_XLSX_ROWS   rows of the .xlsx (default 200000: openpyxl writes ~10k rows/s)
#   NORM_HF_TEXT   1 (default) the `text` row also times datasets.load_dataset("text") (context)
#   NORM_PANDAS_XLSX  1 the `xlsx` row also times pandas read_excel (openpyxl; context, slow:
#                  default 0)
#   NORM_POLARS    1 (default) also times polars (scan_csv/scan_ndjson/scan_parquet +
#                  sink_parquet, zstd)
#   NORM_ENCODE_EXP  1 (default): `profile` also runs the Parquet-encoding experiment
#   NORM_BIG_GB    sizes of the big CSVs for the memory test, in GB, measured one after the
#                  other (default "5 10": peak RSS against input size; "" skips them)
#   NORM_RUNS      hyperfine runs per command (default 5, after 1 warm-up run)
#   NORM_SINGLE    1 (default) also times pyarrow with use_threads=False, for context
#   NORM_SYSALLOC  1 (default) also times pyarrow with ARROW_DEFAULT_MEMORY_POOL=system: its
#                  default pool (mimalloc) spends seconds zeroing huge pages in this VM
#   NORM_KEEP_BIG  1 keeps the big CSVs (default: each is deleted once measured)
#   NORM_WAIT_QUIET  seconds to wait for the 1-minute load average to drop below 0.5 before
#                  each measurement (default 0: do not wait); the load is recorded either way
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benches/normalize
WORK=${NORM_WORK:-$ROOT/benches/work/normalize}
VENV=${NORM_VENV:-$ROOT/benches/work/venv-normalize}
RESULTS=$WORK/results
BYTES=${NORM_BYTES:-1000000000}
BIG_GB=${NORM_BIG_GB-5 10}
RUNS=${NORM_RUNS:-5}
SINGLE=${NORM_SINGLE:-1}
SYSALLOC=${NORM_SYSALLOC:-1}
KEEP_BIG=${NORM_KEEP_BIG:-0}
WAIT_QUIET=${NORM_WAIT_QUIET:-0}
INPUTS=${NORM_INPUTS:-csv jsonl}
POLARS=${NORM_POLARS:-1}
JSON_BYTES=${NORM_JSON_BYTES:-$BYTES}
TEXT_BYTES=${NORM_TEXT_BYTES:-$BYTES}
XLSX_ROWS=${NORM_XLSX_ROWS:-200000}
HF_TEXT=${NORM_HF_TEXT:-1}
PANDAS_XLSX=${NORM_PANDAS_XLSX:-0}
POLARS_VERSION_PIN=2.1.0
WHAT=${1:-all}
export CARGO_TARGET_DIR=${NORM_TARGET:-$ROOT/target-bench}
BIN=$WORK/bin/mldatabuild
PY=$VENV/bin/python
# Every mldatabuild run here uses this store, never the user's ~/.mldata.
export MLDATA_HOME=$WORK/store

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$WORK" "$RESULTS" "$WORK/bin"

# --- tools -------------------------------------------------------------------------------
need_apt=()
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v flock >/dev/null || need_apt+=(util-linux)
if [ "${WHAT}" = profile ] && ! command -v perf >/dev/null; then need_apt+=(linux-perf); fi
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} (apt)"
    [ "$(id -u)" = 0 ] || die "missing: ${need_apt[*]} (apt-get install them)"
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- the binary --------------------------------------------------------------------------
# target-bench/ is shared with other benchmark harnesses, some of which build other revisions
# into it: the binary is copied out while holding cargo's lock, and only if its dep-info says
# it was built from this working tree.
log "building mldatabuild (release, $CARGO_TARGET_DIR)"
copied=
for _ in 1 2 3; do
    (cd "$ROOT" && cargo build --release --bin mldatabuild)
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

# --- pyarrow and polars ------------------------------------------------------------------
if ! "$PY" -c 'import pyarrow, polars' 2>/dev/null; then
    log "creating $VENV with pyarrow and polars $POLARS_VERSION_PIN"
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q pyarrow "polars==$POLARS_VERSION_PIN"
fi
PA_VERSION=$("$PY" -c 'import pyarrow; print(pyarrow.__version__)')
PL_VERSION=$("$PY" -c 'import polars; print(polars.__version__)')

# --- data --------------------------------------------------------------------------------
CSV=$WORK/mixed-1g.csv
JSONL=$WORK/mixed-1g.jsonl
if [ "$BYTES" != 1000000000 ]; then
    CSV=$WORK/mixed-$BYTES.csv
    JSONL=$WORK/mixed-$BYTES.jsonl
fi
JSON=$WORK/mixed-$JSON_BYTES.json
TXT=$WORK/comments-$TEXT_BYTES.txt
needed() { # the generated inputs this run reads (Parquet, Feather and xlsx are written from the CSV)
    case "$WHAT" in
    speed | profile)
        for i in $INPUTS; do
            case "$i" in
            jsonl) echo "$JSONL" ;;
            json) echo "$JSON" ;;
            text) echo "$TXT" ;;
            *) echo "$CSV" ;;
            esac
        done
        ;;
    parquet) echo "$CSV" ;;
    *) printf '%s\n' "$CSV" "$JSONL" ;;
    esac
}
for f in $(needed | sort -u); do
    if [ ! -s "$f" ]; then
        case "$f" in
        *.json) fmt=json size=$JSON_BYTES ;;
        *.txt) fmt=text size=$TEXT_BYTES ;;
        *) fmt=${f##*.} size=$BYTES ;;
        esac
        log "generating $f ($size bytes)"
        python3 "$HERE/gen_data.py" "$fmt" "$f.tmp" "$size" && mv "$f.tmp" "$f"
    fi
done

# A project per input: dataset.yaml with one source and one normalize stage.
project() { # name input
    local dir=$WORK/p-$1
    mkdir -p "$dir"
    printf 'name: bench\nversion: 1.0.0\nsources:\n  raw: {uri: %s}\nstages:\n  clean: {kind: normalize, input: raw}\n' \
        "$2" >"$dir/dataset.yaml"
    echo "$dir"
}
P_CSV=$(project csv "$CSV")
P_JSONL=$(project jsonl "$JSONL")
# The CSV's rows as polars writes them to Parquet (snappy, its statistics and page layout).
PARQUET=${CSV%.csv}-polars-snappy.parquet
P_PARQUET=$(project parquet "$PARQUET")
parquet_input() {
    if [ ! -s "$PARQUET" ]; then
        log "writing $PARQUET with polars (snappy)"
        "$PY" -c 'import sys, polars as pl; pl.read_csv(sys.argv[1]).write_parquet(sys.argv[2], compression="snappy")' \
            "$CSV" "$PARQUET.tmp.parquet"
        mv "$PARQUET.tmp.parquet" "$PARQUET"
    fi
}
# The other readers' inputs: a JSON document and a text file (gen_data.py, the same seeded
# rows), the CSV's rows as Feather v2 (pyarrow's default lz4) and its first rows as .xlsx
# (pandas + openpyxl); written once, cached.
P_JSON=$(project json "$JSON")
P_TEXT=$(project text "$TXT")
FEATHER=${CSV%.csv}-pyarrow-lz4.feather
P_FEATHER=$(project feather "$FEATHER")
XLSX=${CSV%.csv}-$XLSX_ROWS-rows.xlsx
P_XLSX=$(project xlsx "$XLSX")
derived_input() { # format file [rows]
    if [ ! -s "$2" ]; then
        log "writing $2 from $CSV ($1)"
        "$PY" "$HERE/derive_input.py" "$1" "$CSV" "$2.tmp.$1" "${@:3}"
        mv "$2.tmp.$1" "$2"
    fi
}
speed_of() { # label: the speed row of one input
    case "$1" in
    csv) speed csv csv "$CSV" "$P_CSV" ;;
    jsonl) speed jsonl jsonl "$JSONL" "$P_JSONL" ;;
    parquet) parquet_input && speed parquet parquet "$PARQUET" "$P_PARQUET" ;;
    json) speed_peers json "$JSON" "$P_JSON" ;;
    text) speed_peers text "$TXT" "$P_TEXT" ;;
    feather) derived_input feather "$FEATHER" && speed_peers feather "$FEATHER" "$P_FEATHER" ;;
    xlsx) derived_input xlsx "$XLSX" "$XLSX_ROWS" && speed_peers xlsx "$XLSX" "$P_XLSX" ;;
    *) die "unknown input '$1' (csv, jsonl, parquet, json, text, xlsx, feather)" ;;
    esac
}

mld() { "$BIN" -C "$1" build -q --force --no-run-cache; }

# The load average when a measurement starts (other jobs on a 2-core machine skew timings).
load1() { cut -d' ' -f1 /proc/loadavg; }
quiet() {
    local waited=0
    while [ "$waited" -lt "$WAIT_QUIET" ] && awk -v l="$(load1)" 'BEGIN { exit !(l >= 0.5) }'; do
        sleep 10
        waited=$((waited + 10))
    done
    load1
}

# --- speed: hyperfine, mldatabuild vs pyarrow, side by side --------------------------------
speed() { # label format input project
    local label=$1 fmt=$2 input=$3 proj=$4
    log "speed: $label ($(du -h "$input" | cut -f1)), $RUNS runs each"
    mld "$proj" # first build: the source hash goes into the stat cache, outside the timing
    local cmds=(
        -n mldatabuild "$BIN -C $proj build -q --force --no-run-cache"
        -n pyarrow "$PY $HERE/pyarrow_convert.py $fmt $input $WORK/pa-$label.parquet"
    )
    if [ "$SINGLE" = 1 ]; then
        cmds+=(-n pyarrow-1-thread "$PY $HERE/pyarrow_convert.py $fmt $input $WORK/pa1-$label.parquet --single-thread")
    fi
    if [ "$POLARS" = 1 ]; then
        cmds+=(-n polars "$PY $HERE/polars_convert.py $fmt $input $WORK/pl-$label.parquet")
    fi
    if [ "$SYSALLOC" = 1 ]; then
        cmds+=(-n pyarrow-system-allocator "env ARROW_DEFAULT_MEMORY_POOL=system $PY $HERE/pyarrow_convert.py $fmt $input $WORK/pas-$label.parquet")
    fi
    local l0
    l0=$(quiet)
    # --prepare reads the input before every run: this machine's kernel reclaims idle page
    # cache proactively (kdamond), so without it some runs would read from disk.
    hyperfine -N --warmup 1 --runs "$RUNS" --prepare "dd if=$input of=/dev/null bs=1M status=none" \
        --export-json "$RESULTS/speed-$label.json" "${cmds[@]}"
    echo "{\"load_before\": $l0, \"load_after\": $(load1)}" >"$RESULTS/speed-$label.load.json"
}

# --- speed of the other readers: mldatabuild against the peers of each format -------------
# peers label input: "name<TAB>command<TAB>output" lines; the first is the peer the ratio is
# taken against (the table names it), the others are context.
peers() {
    local label=$1 input=$2 out
    out() { printf '%s\t%s\t%s\n' "$1" "$2" "$WORK/$1-$label.parquet"; }
    case "$label" in
    json) # pyarrow has no reader for a JSON document (pyarrow.json reads JSON Lines only)
        out polars "$PY $HERE/polars_convert.py json $input $WORK/polars-$label.parquet" ;;
    text)
        out pyarrow "$PY $HERE/pyarrow_convert.py text $input $WORK/pyarrow-$label.parquet"
        if [ "$HF_TEXT" = 1 ]; then
            out datasets "$PY $HERE/hf_text_convert.py $input $WORK/datasets-$label.parquet $WORK/hf-cache"
        fi
        ;;
    xlsx)
        out polars-calamine "$PY $HERE/polars_convert.py xlsx $input $WORK/polars-calamine-$label.parquet"
        if [ "$PANDAS_XLSX" = 1 ]; then
            out pandas-openpyxl "$PY $HERE/pandas_convert.py xlsx $input $WORK/pandas-openpyxl-$label.parquet"
        fi
        ;;
    feather)
        out pyarrow "$PY $HERE/pyarrow_convert.py feather $input $WORK/pyarrow-$label.parquet"
        out polars "$PY $HERE/polars_convert.py feather $input $WORK/polars-$label.parquet"
        ;;
    esac
}

speed_peers() { # label input project
    local label=$1 input=$2 proj=$3 name cmd out l0
    log "speed: $label ($(du -h "$input" | cut -f1)), $RUNS runs each"
    mld "$proj" # first build: the source hash goes into the stat cache, outside the timing
    local cmds=(-n mldatabuild "$BIN -C $proj build -q --force --no-run-cache")
    while IFS=$'\t' read -r name cmd out; do
        cmds+=(-n "$name" "$cmd")
    done < <(peers "$label" "$input")
    l0=$(quiet)
    hyperfine -N --warmup 1 --runs "$RUNS" --prepare "dd if=$input of=/dev/null bs=1M status=none" \
        --export-json "$RESULTS/speed-$label.json" "${cmds[@]}"
    echo "{\"load_before\": $l0, \"load_after\": $(load1), \"input_bytes\": $(stat -c %s "$input")}" \
        >"$RESULTS/speed-$label.load.json"
    # The outputs of the last timed runs, against mldatabuild's: row counts and values.
    local mine=$proj/out/bench/clean/part-0.parquet
    while IFS=$'\t' read -r name cmd out; do
        "$PY" "$HERE/compare.py" "$label" "$mine" "$out" --peer "$name" \
            --json "$RESULTS/check-$label-$name.json" || log "check: $label: rows differ from $name's"
    done < <(peers "$label" "$input")
    if [ "$label" = text ]; then
        # pyarrow's default (ignore_empty_lines=True) drops the empty lines: shown for the record.
        "$PY" "$HERE/pyarrow_convert.py" text "$input" "$WORK/pyarrow-skip-$label.parquet" --skip-empty-lines
        "$PY" "$HERE/compare.py" "$label" "$mine" "$WORK/pyarrow-skip-$label.parquet" \
            --peer pyarrow-ignore-empty-lines --json "$RESULTS/check-$label-pyarrow-ignore-empty-lines.json" ||
            log "check: $label: pyarrow with ignore_empty_lines=True differs, as expected"
    fi
}

# --- memory: /usr/bin/time -v ------------------------------------------------------------
rss() { # label command...
    local label=$1
    shift
    local l0
    l0=$(quiet)
    /usr/bin/time -v -o "$RESULTS/rss-$label.txt" "$@" >"$RESULTS/rss-$label.out"
    echo "load_before: $l0" >>"$RESULTS/rss-$label.txt"
    printf '%-28s peak RSS %8s KB  wall %s\n' "$label" \
        "$(awk -F': ' '/Maximum resident/ {print $2}' "$RESULTS/rss-$label.txt")" \
        "$(awk -F': ' '/Elapsed/ {print $2}' "$RESULTS/rss-$label.txt")" >&2
}

warm() { dd if="$1" of=/dev/null bs=1M status=none; }

memory() {
    log "memory: peak RSS on the 1 GB inputs"
    warm "$CSV"
    rss mld-csv "$BIN" -C "$P_CSV" build --json --force --no-run-cache
    warm "$JSONL"
    rss mld-jsonl "$BIN" -C "$P_JSONL" build --json --force --no-run-cache
    warm "$CSV"
    rss pyarrow-csv "$PY" "$HERE/pyarrow_convert.py" csv "$CSV" "$WORK/pa-csv.parquet"
    warm "$JSONL"
    rss pyarrow-jsonl "$PY" "$HERE/pyarrow_convert.py" jsonl "$JSONL" "$WORK/pa-jsonl.parquet"
    if [ "$POLARS" = 1 ]; then
        warm "$CSV"
        rss polars-csv "$PY" "$HERE/polars_convert.py" csv "$CSV" "$WORK/pl-csv.parquet"
        warm "$JSONL"
        rss polars-jsonl "$PY" "$HERE/polars_convert.py" jsonl "$JSONL" "$WORK/pl-jsonl.parquet"
    fi
    # A first build of the 1 GB CSV (fresh store and lock: hashes the source too), to set
    # beside the big CSV's first build.
    local p1
    p1=$(project csv-first "$CSV")
    rm -rf "$p1/out" "$p1/dataset.lock" "$p1/.mldatabuild" "$WORK/store-first"
    warm "$CSV"
    rss mld-csv-first env MLDATA_HOME="$WORK/store-first" "$BIN" -C "$p1" build --json
    rm -rf "$p1/out" "$WORK/store-first"
    local gb
    for gb in $BIG_GB; do
        [ "$gb" != 0 ] || continue
        big "$gb"
    done
}

# A CSV of about GB gigabytes (the 1 GB CSV's rows repeated, header once), normalized in a
# first build (fresh store and lock, so the source is hashed too), then deleted.
big() { # gb
    local gb=$1 body reps want file proj
    file=$WORK/mixed-big-${gb}g.csv
    proj=$(project "big-$gb" "$file")
    body=$(($(stat -c %s "$CSV") - $(head -1 "$CSV" | wc -c)))
    want=$((gb * 1000000000))
    reps=$(((want + body / 2) / body)) # the nearest whole number of copies
    [ "$reps" -ge 1 ] || reps=1
    if [ ! -s "$file" ] || [ "$(cat "$file.reps" 2>/dev/null)" != "$reps" ]; then
        local free
        free=$(df -B1 --output=avail "$WORK" | tail -1)
        # the input and its Parquet output (~0.4x; the store holds hard links, not copies)
        [ "$free" -gt $((want * 3 / 2 + 2000000000)) ] ||
            die "not enough disk for a ${gb} GB CSV in $WORK ($((free / 1000000000)) GB free)"
        log "generating $file: the 1 GB CSV's rows x $reps"
        rm -f "$file"
        {
            head -1 "$CSV"
            for _ in $(seq "$reps"); do tail -n +2 "$CSV"; done
        } >"$file.tmp"
        mv "$file.tmp" "$file"
        echo "$reps" >"$file.reps"
    fi
    log "memory: peak RSS on $file ($(stat -c %s "$file") bytes), a first build"
    rm -rf "$proj/out" "$proj/dataset.lock" "$proj/.mldatabuild" "$WORK/store-big"
    rss "mld-big-$gb" env MLDATA_HOME="$WORK/store-big" "$BIN" -C "$proj" build --json
    echo "$reps $(stat -c %s "$file")" >"$RESULTS/big-$gb.txt"
    rm -rf "$proj/out" "$WORK/store-big"
    if [ "$KEEP_BIG" != 1 ]; then
        rm -f "$file" "$file.reps"
    fi
}

# --- check: outputs against pyarrow's ------------------------------------------------------
check() {
    log "check: outputs, row counts and values against pyarrow"
    mld "$P_CSV"
    mld "$P_JSONL"
    [ -s "$WORK/pa-csv.parquet" ] || "$PY" "$HERE/pyarrow_convert.py" csv "$CSV" "$WORK/pa-csv.parquet"
    [ -s "$WORK/pa-jsonl.parquet" ] || "$PY" "$HERE/pyarrow_convert.py" jsonl "$JSONL" "$WORK/pa-jsonl.parquet"
    "$PY" "$HERE/compare.py" csv "$P_CSV/out/bench/clean/part-0.parquet" "$WORK/pa-csv.parquet" \
        --json "$RESULTS/check-csv.json"
    "$PY" "$HERE/compare.py" jsonl "$P_JSONL/out/bench/clean/part-0.parquet" "$WORK/pa-jsonl.parquet" \
        --json "$RESULTS/check-jsonl.json"
}

# --- profile: perf, where mldatabuild's time goes ------------------------------------------
profile() {
    log "profile: perf record on the inputs ($INPUTS)"
    local label proj
    for label in $INPUTS; do
        proj=$WORK/p-$label
        mld "$proj"
        if [ "$label" = csv ]; then warm "$CSV"; else warm "$JSONL"; fi
        perf record -q -F 249 --call-graph dwarf,16384 -o "$RESULTS/perf-$label.data" \
            "$BIN" -C "$proj" build -q --force --no-run-cache 2>/dev/null
        perf report -i "$RESULTS/perf-$label.data" --no-children --sort symbol --stdio -g none \
            --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' >"$RESULTS/perf-$label.txt"
        perf report -i "$RESULTS/perf-$label.data" --no-children --sort pid --stdio -g none \
            2>/dev/null | grep -v '^#' | grep -v '^$' >"$RESULTS/perf-$label-threads.txt"
        "$PY" "$HERE/perf_groups.py" "$RESULTS/perf-$label.data" >"$RESULTS/perf-$label-groups.txt"
        echo "--- $label: threads" >&2
        cat "$RESULTS/perf-$label-threads.txt" >&2
        echo "--- $label: top symbols (self time)" >&2
        head -25 "$RESULTS/perf-$label.txt" >&2
        echo "--- $label: by component" >&2
        cat "$RESULTS/perf-$label-groups.txt" >&2
    done
    # The Parquet writer alone, re-encoding the CSV's output under other settings.
    [ "${NORM_ENCODE_EXP:-1}" = 1 ] || return 0
    log "profile: Parquet encoding experiment (benches/normalize/encode-exp)"
    (cd "$HERE/encode-exp" && cargo build --release --quiet)
    cp "$CARGO_TARGET_DIR/release/normalize-encode-exp" "$WORK/bin/"
    "$WORK/bin/normalize-encode-exp" "$WORK/p-csv/out/bench/clean/part-0.parquet" "$WORK" 2 |
        tee "$RESULTS/encode-exp-csv.txt" >&2
}

case "$WHAT" in
all)
    speed_of csv
    speed_of jsonl
    speed_of parquet
    memory
    check
    ;;
speed)
    for i in $INPUTS; do speed_of "$i"; done
    ;;
parquet) speed_of parquet ;;
memory) memory ;;
check) check ;;
profile) profile ;;
*) die "unknown benchmark '$WHAT' (all, speed, parquet, memory, check, profile)" ;;
esac

[ "$WHAT" = profile ] && exit 0
"$PY" "$HERE/report.py" "$RESULTS" "$REV" "$PA_VERSION" "$BYTES" "$PL_VERSION" | tee "$RESULTS/summary.md"
