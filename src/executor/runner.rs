//! The runner: one stage run in a fresh temporary folder of the store, a panic caught as the
//! stage's failure, its outputs hashed (in parallel) and moved into the store, its peak memory
//! sampled. It runs on a scheduler thread and sends back a [`Finished`].

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::fingerprint::{OUTPUT_DOMAIN, files_hash};
use crate::lockfile::FileLock;
use crate::report::events::{Event, Reporter};
use crate::stages::{InputFile, Stage, StageContext, StageError};
use crate::store::{RunRecord, Store};

/// What a stage thread sends back.
pub(super) struct Finished {
    pub(super) node: usize,
    pub(super) result: std::result::Result<(RunRecord, Option<String>), StageError>,
    /// The outputs a failed stage still delivers (see [`StageError::partial`]), stored.
    pub(super) partial: Option<RunRecord>,
    pub(super) seconds: f64,
    pub(super) peak_rss_mb: u64,
}

/// What a running stage reads.
#[derive(Clone, Copy)]
pub(super) struct StageInputs<'a> {
    pub(super) input: &'a [InputFile],
    pub(super) aux: &'a [Vec<InputFile>],
    pub(super) input_is_source: bool,
    pub(super) input_hash: &'a str,
    pub(super) shown_dir: &'a str,
}

/// Run one stage in a fresh temporary folder; hash its outputs and move them into the store.
pub(super) fn run_stage(
    store: &Store,
    stage: &dyn Stage,
    name: &str,
    inputs: StageInputs<'_>,
    reporter: &dyn Reporter,
    stop: &AtomicBool,
    node: usize,
) -> Finished {
    let t = Instant::now();
    let progress = |p: crate::stages::Progress| {
        reporter.event(&Event::StageProgress {
            name: name.to_owned(),
            done: p.done,
            total: p.total,
            tokens: p.tokens,
            elapsed: t.elapsed().as_secs_f64(),
        });
    };
    let sampler = RssSampler::start();
    let mut failure: Option<StageError> = None;
    let result = (|| -> std::result::Result<(RunRecord, Option<String>), StageError> {
        if stop.load(Ordering::Relaxed) {
            return Err(StageError::new("cancelled"));
        }
        let tmp = store.tmp_dir().map_err(|e| {
            StageError::new(format!(
                "cannot create a temporary folder in the store: {e}"
            ))
        })?;
        let out_dir = tmp.path().join("out");
        let scratch_dir = tmp.path().join("scratch");
        std::fs::create_dir_all(&out_dir).map_err(|e| StageError::new(e.to_string()))?;
        std::fs::create_dir_all(&scratch_dir).map_err(|e| StageError::new(e.to_string()))?;
        let cx = StageContext {
            name,
            input: inputs.input,
            input_is_source: inputs.input_is_source,
            input_hash: inputs.input_hash,
            shown_dir: inputs.shown_dir,
            out_dir: &out_dir,
            scratch_dir: &scratch_dir,
            aux: inputs.aux,
            progress: &progress,
        };
        let output = match catch_unwind(AssertUnwindSafe(|| stage.run(&cx))) {
            Ok(Ok(o)) => o,
            Ok(Err(mut e)) => match e.partial.take() {
                // Store what the failed stage delivered; the error is reported below.
                Some(o) => {
                    failure = Some(e);
                    *o
                }
                None => return Err(e),
            },
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                return Err(StageError::new(format!(
                    "internal error in the `{}` stage: {msg}",
                    stage.kind()
                ))
                .hint(
                    "this is a bug in mldatabuild; please report it with the spec that triggers it",
                ));
            }
        };
        // Test hook: hold finished outputs in the temporary folder, so a test can kill the
        // process mid-stage and check that nothing partial reaches the store or dataset folder.
        if let Some(ms) = std::env::var("MLDATABUILD_TEST_STAGE_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let rows: BTreeMap<&str, Option<u64>> =
            output.files.iter().map(|(p, r)| (p.as_str(), *r)).collect();
        let mut written = Vec::new();
        for e in walkdir::WalkDir::new(&out_dir).sort_by_file_name() {
            let e = e.map_err(|e| StageError::new(e.to_string()))?;
            if e.file_type().is_file() {
                let rel = e
                    .path()
                    .strip_prefix(&out_dir)
                    .unwrap_or(e.path())
                    .to_string_lossy()
                    .into_owned();
                written.push((rel, e.into_path()));
            }
        }
        let hashed: Vec<std::io::Result<(String, u64)>> = {
            use rayon::prelude::*;
            written
                .par_iter()
                .map(|(_, p)| {
                    Ok((
                        crate::statcache::sha256_file(p)?,
                        std::fs::metadata(p)?.len(),
                    ))
                })
                .collect()
        };
        let mut outputs = Vec::new();
        for ((rel, path), h) in written.iter().zip(hashed) {
            let (sha, size) =
                h.map_err(|e| StageError::new(format!("cannot hash output `{rel}`: {e}")))?;
            store
                .insert(path, &sha)
                .map_err(|e| StageError::new(format!("cannot store output `{rel}`: {e}")))?;
            outputs.push(FileLock {
                path: rel.clone(),
                size,
                sha256: sha,
                rows: rows.get(rel.as_str()).copied().flatten(),
            });
        }
        let output_hash = files_hash(
            OUTPUT_DOMAIN,
            &outputs
                .iter()
                .map(|f| (f.path.as_str(), f.size, f.sha256.as_str()))
                .collect::<Vec<_>>(),
        );
        let mut summary = output.summary;
        if !output.warnings.is_empty() {
            summary.insert("warnings".into(), output.warnings.into());
        }
        Ok((
            RunRecord {
                key: String::new(),
                kind: stage.kind().to_owned(),
                outputs,
                output_hash,
                summary,
                origin: None,
            },
            output.display,
        ))
    })();
    let peak = sampler.stop();
    let (result, partial) = match (result, failure) {
        (Ok((rec, _)), Some(e)) => (Err(e), Some(rec)),
        (r, _) => (r, None),
    };
    Finished {
        node,
        result,
        partial,
        seconds: t.elapsed().as_secs_f64(),
        peak_rss_mb: peak,
    }
}

/// Samples the process's resident memory while a stage runs; reports the peak in MB.
struct RssSampler {
    done: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn rss_bytes() -> u64 {
    let page = 4096u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

impl RssSampler {
    fn start() -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let (d, p) = (done.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler {
            done,
            peak,
            handle: Some(handle),
        }
    }

    fn stop(mut self) -> u64 {
        self.peak.fetch_max(rss_bytes(), Ordering::Relaxed);
        self.done.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.peak.load(Ordering::Relaxed).div_ceil(1024 * 1024)
    }
}
