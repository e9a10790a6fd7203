"""Where the tokenize stage's CPU time goes, from a `perf record -F HZ --call-graph dwarf` profile.

    python perf_groups.py perf.data HZ [TOP]

Each sample goes to one phase by its call stack, read from the root: the first frame that names
a phase decides (the stage's own functions and the libraries' entry points: see PHASES), so
e.g. zstd under the Arrow writer counts as writing and zstd under the record-batch reader as
reading. Within a phase, zstd / kernel / allocator frames are split out. Samples / HZ = CPU
seconds. Prints per thread (the stage's thread vs the encoder's pool) and overall.
"""

import collections
import subprocess
import sys

# (phase, substrings of a frame), checked root -> leaf; the first frame matching any decides.
PHASES = [
    ("hash outputs (sha256, blake3)", ["sha2::", "blake3", "sha256_file", "Store::", "store::"]),
    ("statistics", ["tokenize::Stats", "vocabulary_report", "length_summary", "length_histogram"]),
    ("text extraction (batch_texts)", ["tokenize::batch_texts"]),
    ("output batch (build_batch)", ["tokenize::build_batch"]),
    ("cut into sequences", ["tokenize::cut", "tokenize::drop_special"]),
    ("Parquet write", ["ArrowWriter", "arrow_writer", "ParquetSink", "SerializedFileWriter"]),
    ("Parquet read", ["ParquetRecordBatchReader", "arrow_reader", "array_reader", "ParquetRecordBatchReaderBuilder"]),
    ("encode", ["Tokenizer::encode_batch", "tk_encode::", "bitcannon", "tokenizers::", "PipelineTokenizer"]),
]

# Sub-parts inside a phase: (label, substrings anywhere in the stack below the phase frame).
SUBPARTS = [
    ("zstd", ["ZSTD_", "HUF_", "FSE_", "HIST_", "zstd"]),
    ("dictionary (interner)", ["interner::Interner"]),
    ("levels", ["levels::", "LevelInfoBuilder", "RleEncoder", "RleDecoder"]),
    ("page statistics (min/max)", ["min_max", "update_stat", "Statistics"]),
    ("tokenizer library", ["tk_encode::", "bitcannon"]),
    ("kernel", ["[k]", "ksys_", "vfs_", "page_fault", "asm_exc"]),
    ("copies + allocation", ["memmove", "memcpy", "malloc", "_int_", "free", "realloc", "from_iter", "to_vec", "to_owned", "clone"]),
]


def samples(path):
    out = subprocess.run(
        ["perf", "script", "-i", path, "-F", "comm,tid,ip,sym", "--no-inline"],
        capture_output=True, text=True, check=True,
    ).stdout
    for block in out.split("\n\n"):
        lines = [ln.strip() for ln in block.strip().splitlines()]
        if len(lines) < 1:
            continue
        head = lines[0].split()
        comm, tid = " ".join(head[:-1]), head[-1]
        stack = [" ".join(ln.split()[1:]) for ln in lines[1:]]  # leaf first
        yield comm, tid, stack


def classify(stack):
    root_first = list(reversed(stack))
    for i, frame in enumerate(root_first):
        for phase, keys in PHASES:
            if any(k in frame for k in keys):
                below = root_first[i:]
                for label, subkeys in SUBPARTS:
                    if any(k in f for f in below for k in subkeys):
                        return phase, label
                return phase, "other"
    leaf = stack[0] if stack else "?"
    if "[unknown]" in leaf or not stack:
        return "unattributed (broken stack)", "-"
    return "other (executor, start-up, allocator)", leaf[:60]


def main():
    path = sys.argv[1]
    hz = float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    by_phase = collections.Counter()
    by_sub = collections.defaultdict(collections.Counter)
    by_thread = collections.defaultdict(collections.Counter)
    leaves = collections.defaultdict(collections.Counter)
    comms = {}
    total = 0
    for comm, tid, stack in samples(path):
        total += 1
        phase, sub = classify(stack)
        by_phase[phase] += 1
        by_sub[phase][sub] += 1
        by_thread[tid][phase] += 1
        comms[tid] = comm
        leaves[phase][(stack[0] if stack else "?")[:80]] += 1
    if not total:
        print("no samples")
        return
    print(f"{total} samples at {hz:g} Hz = {total / hz:.1f} CPU s\n")
    print("| thread | CPU s | phases |")
    print("|---|---:|---|")
    for tid, cnt in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(cnt.values())
        if n / total < 0.01:
            continue
        mains = ", ".join(f"{p.split(' (')[0]} {v / hz:.1f} s" for p, v in cnt.most_common(5))
        print(f"| {comms[tid]} {tid} | {n / hz:.1f} | {mains} |")
    print("\n| phase | CPU s | share | of which |")
    print("|---|---:|---:|---|")
    for p, n in by_phase.most_common():
        subs = ", ".join(f"{s} {v / hz:.1f} s" for s, v in by_sub[p].most_common(4) if v / total >= 0.005)
        print(f"| {p} | {n / hz:.1f} | {n / total:.0%} | {subs} |")
    print("\ntop leaf functions per phase:")
    for p, n in by_phase.most_common():
        print(f"  {p}:")
        for leaf, m in leaves[p].most_common(top):
            if m / total >= 0.003:
                print(f"    {m / hz:5.2f} s  {leaf}")


if __name__ == "__main__":
    main()
