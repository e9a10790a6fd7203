//! The Rust side of `benches/dedup/`: near-duplicate detection over a corpus of one document per
//! line, with `mldatabuild::stages::minhash` at its default parameters. Run by
//! `benches/dedup/run.sh`, never by tests or CI.
//!
//! ```text
//! dedup DOCS.txt [--limit N] [--batch N] [--threshold T] [--pairs-out FILE] [--label NAME]
//! ```
//!
//! Prints one JSON object: documents, threads, seconds (signatures + finish; reading the file
//! is not timed), documents per second (and per thread), pairs and clusters found, peak RSS.
//! `--pairs-out` writes the verified pairs as `a<TAB>b<TAB>estimated similarity`, ids being
//! 0-based line numbers. Thread count: `RAYON_NUM_THREADS`.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use mldatabuild::stages::minhash::{MinHashIndex, MinHashParams};

struct Args {
    docs: String,
    limit: usize,
    batch: usize,
    threshold: f64,
    pairs_out: Option<String>,
    label: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        docs: String::new(),
        limit: usize::MAX,
        batch: 8192,
        threshold: MinHashParams::default().threshold,
        pairs_out: None,
        label: "mldatabuild".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--limit" => {
                args.limit = value("--limit")?
                    .parse()
                    .map_err(|e| format!("--limit: {e}"))?;
            }
            "--batch" => {
                args.batch = value("--batch")?
                    .parse()
                    .map_err(|e| format!("--batch: {e}"))?;
            }
            "--threshold" => {
                args.threshold = value("--threshold")?
                    .parse()
                    .map_err(|e| format!("--threshold: {e}"))?;
            }
            "--pairs-out" => args.pairs_out = Some(value("--pairs-out")?),
            "--label" => args.label = value("--label")?,
            // `cargo bench` passes `--bench` to harness-less targets.
            "--bench" => {}
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => args.docs = a,
        }
    }
    if args.docs.is_empty() {
        return Err("usage: dedup DOCS.txt [--limit N] [--batch N] [--threshold T] [--pairs-out FILE] [--label NAME]".into());
    }
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    Ok(args)
}

/// Peak resident set size in bytes (Linux), or 0.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn run(args: &Args) -> Result<(), String> {
    let file = fs_err::File::open(&args.docs).map_err(|e| e.to_string())?;
    let mut docs: Vec<(u64, String)> = Vec::new();
    for (i, line) in std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .enumerate()
    {
        if docs.len() >= args.limit {
            break;
        }
        docs.push((i as u64, line.map_err(|e| format!("{}: {e}", args.docs))?));
    }
    let rss_docs = peak_rss();
    let params = MinHashParams {
        threshold: args.threshold,
        ..MinHashParams::default()
    };

    let start = Instant::now();
    let mut index = MinHashIndex::new(params).map_err(|e| e.to_string())?;
    for batch in docs.chunks(args.batch) {
        index.add_batch(batch).map_err(|e| e.to_string())?;
    }
    let signature_seconds = start.elapsed().as_secs_f64();
    let found = index.finish();
    let seconds = start.elapsed().as_secs_f64();

    let threads = rayon::current_num_threads();
    let docs_per_s = docs.len() as f64 / seconds;
    let report = serde_json::json!({
        "tool": args.label,
        "docs": docs.len(),
        "indexed": found.documents,
        "threads": threads,
        "seconds": seconds,
        "signature_seconds": signature_seconds,
        "finish_seconds": seconds - signature_seconds,
        "docs_per_s": docs_per_s,
        "docs_per_s_per_core": docs_per_s / threads as f64,
        "candidates": found.candidates,
        "pairs": found.pairs.len(),
        "clusters": found.clusters.len(),
        "redundant": found.redundant_ids().len(),
        "peak_rss_bytes": peak_rss(),
        "docs_rss_bytes": rss_docs,
        "params": params,
    });
    println!("{report}");

    if let Some(path) = &args.pairs_out {
        let mut out = BufWriter::new(fs_err::File::create(path).map_err(|e| e.to_string())?);
        for p in &found.pairs {
            writeln!(out, "{}\t{}\t{:.6}", p.a, p.b, p.similarity)
                .map_err(|e| format!("{path}: {e}"))?;
        }
        out.flush().map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
