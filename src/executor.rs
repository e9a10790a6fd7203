//! Walks the DAG: hashes sources, decides fresh / restore / run for each stage, runs stages in
//! parallel, stores and materializes outputs, and keeps the lockfile current after every stage.
//! It emits events and never formats output itself.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::dirty::{self, DirtyReason};
use crate::error::{Error, Result};
use crate::fingerprint::{OUTPUT_DOMAIN, SOURCE_DOMAIN, action_key, files_hash};
use crate::lockfile::{
    self, Built, DatasetInfo, FileLock, InputLock, Lock, SourceLock, SpecInfo, StageLock, Tool,
};
use crate::report::events::{BuildSummary, Event, Reporter, StageRow};
use crate::spec::{NodeKind, Project};
use crate::stages::{InputFile, Stage, StageContext, StageError};
use crate::statcache::StatCache;
use crate::store::{self, RunRecord, Store};

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// Node or group names; empty means everything.
    pub targets: Vec<String>,
    pub force: bool,
    pub dry_run: bool,
    pub keep_going: bool,
    /// Fail (exit 3) instead of changing the lockfile.
    pub locked: bool,
    /// Never write the lockfile.
    pub frozen: bool,
    pub jobs: usize,
    pub use_run_cache: bool,
    /// How remote sources may use the network and the download cache.
    pub fetch: crate::fetch::FetchOptions,
}

/// How a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Fresh,
    Ran,
    Restored,
    Planned { action: String, reason: String },
    Failed(String),
    Skipped(String),
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Ran => "ran",
            Status::Restored => "restored",
            Status::Planned { .. } => "planned",
            Status::Failed(_) => "failed",
            Status::Skipped(_) => "skipped",
        }
    }
}

/// The outcome of a build.
#[derive(Debug)]
pub struct BuildOutcome {
    pub lock: Lock,
    pub lock_changed: bool,
    pub statuses: BTreeMap<String, Status>,
    /// `--locked` violations (stage or `sources`/`spec`, with the reason).
    pub locked_violations: Vec<String>,
}

impl BuildOutcome {
    pub fn failed(&self) -> Vec<&str> {
        self.statuses
            .iter()
            .filter(|(_, s)| matches!(s, Status::Failed(_)))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// What downstream stages see of a finished node.
#[derive(Debug, Clone)]
struct NodeDone {
    hash: String,
    files: Vec<InputFile>,
}

/// What a stage thread sends back.
struct Finished {
    node: usize,
    result: std::result::Result<(RunRecord, Option<String>), StageError>,
    /// The outputs a failed stage still delivers (see [`StageError::partial`]), stored.
    partial: Option<RunRecord>,
    seconds: f64,
    peak_rss_mb: u64,
}

enum Decision {
    Fresh(StageLock),
    Restore(RunRecord, String),
    Run(String),
}

pub struct Executor<'a> {
    pub project: &'a Project,
    pub store: &'a Store,
    pub stat: &'a mut StatCache,
    pub old: Option<&'a Lock>,
    pub reporter: &'a dyn Reporter,
    /// Write the lockfile here (None: never write).
    pub lock_path: Option<PathBuf>,
}

fn tool() -> Tool {
    Tool {
        name: "mldatabuild".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

pub fn os_tag() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

impl Executor<'_> {
    /// An empty lock for this project (header filled, no sources or stages).
    pub fn base_lock(&self) -> Lock {
        let p = self.project;
        Lock {
            version: lockfile::LOCK_VERSION,
            tool: tool(),
            dataset: DatasetInfo {
                name: p.name.clone(),
                version: p.version.clone(),
                description: p.description.clone(),
            },
            spec: SpecInfo {
                path: p.spec_path.clone(),
                blake3: p.spec_hash.clone(),
            },
            output: p.out_dir.clone(),
            sources: BTreeMap::new(),
            stages: BTreeMap::new(),
        }
    }

    /// Select target nodes and everything upstream of them.
    pub fn select(&self, targets: &[String]) -> Result<BTreeSet<usize>> {
        let p = self.project;
        if targets.is_empty() {
            return Ok((0..p.nodes.len()).collect());
        }
        let mut roots = Vec::new();
        for t in targets {
            let matched: Vec<usize> = p
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.name == *t || n.group == *t)
                .map(|(i, _)| i)
                .collect();
            if matched.is_empty() {
                let names: BTreeSet<&str> = p.nodes.iter().map(|n| n.group.as_str()).collect();
                let hint = crate::spec::error::did_you_mean(t, names.iter().copied())
                    .unwrap_or_else(|| {
                        format!(
                            "stages: {}",
                            names.into_iter().collect::<Vec<_>>().join(", ")
                        )
                    });
                return Err(
                    Error::user(format!("no stage named `{t}` in `{}`", p.spec_path)).hint(hint),
                );
            }
            roots.extend(matched);
        }
        Ok(p.upstream_closure(&roots))
    }

    /// Hash a source's files; returns its lock entry and its files for downstream stages.
    fn hash_source(
        &mut self,
        i: usize,
        req: &BuildRequest,
    ) -> Result<(SourceLock, Vec<InputFile>)> {
        let node = &self.project.nodes[i];
        let NodeKind::Source(def) = &node.kind else {
            unreachable!("hash_source on a stage")
        };
        if crate::fetch::is_remote(&def.uri) {
            return self.fetch_source(i, req);
        }
        let files = crate::source::list_files(&self.project.root, def).map_err(|(msg, hint)| {
            let e = Error::user(format!("source `{}`: {msg}", node.name));
            match hint {
                Some(h) => e.hint(h),
                None => e,
            }
        })?;
        let (locks, hash) = self.hash_files(i, &files)?;
        let inputs = files
            .into_iter()
            .map(|(name, path)| InputFile { name, path })
            .collect();
        Ok((
            SourceLock {
                uri: def.uri.clone(),
                files_glob: def.files.clone(),
                config: None,
                split: None,
                revision: None,
                hash,
                files: locks,
            },
            inputs,
        ))
    }

    /// A remote source: fetched into the download cache (or found there, at the revision the
    /// lock pins), then hashed like local files. A cached file whose hash changed (a damaged
    /// cache) drops the snapshot and fetches again, once.
    fn fetch_source(
        &mut self,
        i: usize,
        req: &BuildRequest,
    ) -> Result<(SourceLock, Vec<InputFile>)> {
        let node = &self.project.nodes[i];
        let NodeKind::Source(def) = &node.kind else {
            unreachable!("fetch_source on a stage")
        };
        let old = self.old.and_then(|l| l.sources.get(&node.name));
        let pinned = old
            .filter(|o| {
                o.uri == crate::fetch::uri::redacted(&def.uri)
                    && o.files_glob == def.files
                    && o.config == def.config
                    && o.split == def.split
            })
            .and_then(|o| o.revision.clone());
        let mut opts = req.fetch;
        if req.dry_run {
            // Planning never downloads: a source the cache lacks keeps its lock entry.
            opts.offline = true;
        }
        for attempt in 0..2 {
            let reporter = self.reporter;
            let started = Instant::now();
            let fetched = crate::fetch::fetch_source(def, pinned.as_deref(), &opts, &mut |ev| {
                crate::report::source::forward(reporter, &node.name, ev);
            });
            let fetched = match fetched {
                Ok(f) => f,
                Err(e) if req.dry_run => {
                    if let Some(o) = old {
                        return Ok((o.clone(), Vec::new()));
                    }
                    return Err(Error::user(format!(
                        "source `{}`: not fetched yet ({})",
                        node.name, e.message
                    ))
                    .hint(
                        "run `mldatabuild build` to fetch it; status and dry runs never download",
                    ));
                }
                Err(e) => {
                    let mut err: Error = e.into();
                    err.message = format!("source `{}`: {}", node.name, err.message);
                    return Err(err);
                }
            };
            crate::report::source::fetched(
                self.reporter,
                &node.name,
                &fetched,
                started.elapsed().as_secs_f64(),
            );
            if !fetched.cached
                && let Some(m) = crate::fetch::cache::Cache::open().0.manifest(&fetched.key)
            {
                // Just downloaded and verified: the stat cache learns the hashes, so the files
                // are not read again to hash the source.
                for ((_, path), f) in fetched.files.iter().zip(&m.files) {
                    self.stat.record_known(path, &f.sha256);
                }
            }
            let (locks, hash) = self.hash_files(i, &fetched.files)?;
            // A cached snapshot is trusted only if its files still hash as recorded.
            if fetched.cached
                && attempt == 0
                && let Some(expect) = crate::fetch::cache::Cache::open().0.manifest(&fetched.key)
                && expect
                    .files
                    .iter()
                    .zip(&locks)
                    .any(|(a, b)| a.sha256 != b.sha256)
            {
                self.reporter.event(&Event::Warning {
                    message: format!(
                        "source {}: the cached copy was damaged (a file's SHA-256 changed); fetching it again",
                        node.name
                    ),
                });
                crate::fetch::drop_snapshot(&fetched.key);
                continue;
            }
            let inputs = fetched
                .files
                .into_iter()
                .map(|(name, path)| InputFile { name, path })
                .collect();
            return Ok((
                SourceLock {
                    // Never a password: the lock is committed and shipped.
                    uri: crate::fetch::uri::redacted(&def.uri),
                    files_glob: def.files.clone(),
                    config: def.config.clone(),
                    split: def.split.clone(),
                    revision: Some(fetched.revision),
                    hash,
                    files: locks,
                },
                inputs,
            ));
        }
        Err(Error::failure(format!(
            "source `{}`: the cache keeps returning damaged files",
            node.name
        ))
        .hint("clear it with `rm -rf ~/.mldata/cache` (or $MLDATA_HOME/cache) and build again"))
    }

    /// Hash a source's files (through the stat cache); returns their lock entries and the
    /// source hash.
    fn hash_files(
        &mut self,
        i: usize,
        files: &[(String, PathBuf)],
    ) -> Result<(Vec<FileLock>, String)> {
        let node = &self.project.nodes[i];
        let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
        let before = self.stat.hashed_files;
        let digests = self.stat.digest_many(&paths);
        let mut locks = Vec::with_capacity(files.len());
        for ((name, path), d) in files.iter().zip(digests) {
            let d = d.map_err(|e| {
                Error::user(format!(
                    "source `{}`: cannot read `{}`: {e}",
                    node.name,
                    path.display()
                ))
            })?;
            locks.push(FileLock {
                path: name.clone(),
                size: d.size,
                sha256: d.sha256,
                rows: None,
            });
        }
        let hash = files_hash(
            SOURCE_DOMAIN,
            &locks
                .iter()
                .map(|f| (f.path.as_str(), f.size, f.sha256.as_str()))
                .collect::<Vec<_>>(),
        );
        self.reporter.event(&Event::SourceHashed {
            name: node.name.clone(),
            files: locks.len(),
            bytes: locks.iter().map(|f| f.size).sum(),
            rehashed: self.stat.hashed_files - before,
        });
        Ok((locks, hash))
    }

    /// Is the lock entry's output present and intact? Returns the first problem. A file reached
    /// through a symbolic link inside the dataset folder is not an output mldatabuild wrote.
    fn check_outputs(&mut self, entry: &StageLock) -> Option<DirtyReason> {
        let out = self.project.out_path();
        for f in &entry.outputs {
            let Ok(path) = crate::trust::join_beneath(&out, &f.path) else {
                return Some(DirtyReason::OutputModified {
                    path: f.path.clone(),
                });
            };
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Some(DirtyReason::OutputModified {
                    path: f.path.clone(),
                });
            }
            match self.stat.digest(&path) {
                Err(_) => {
                    return Some(DirtyReason::OutputMissing {
                        path: f.path.clone(),
                    });
                }
                Ok(d) if d.sha256 != f.sha256 || d.size != f.size => {
                    return Some(DirtyReason::OutputModified {
                        path: f.path.clone(),
                    });
                }
                Ok(_) => {}
            }
        }
        None
    }

    /// What is wrong with a lock entry whose key matches the stage: every field must be what
    /// this build would write (kind, impl, params, inputs, group, matrix), its output hash must
    /// follow from its outputs, and the row counts and schema it claims must be those of its
    /// Parquet files. A damaged entry is never kept: the stage is restored or run again.
    fn entry_problem(
        &self,
        i: usize,
        o: &StageLock,
        inputs: &[(String, String)],
    ) -> Option<String> {
        let node = &self.project.nodes[i];
        let NodeKind::Stage(stage) = &node.kind else {
            return None;
        };
        if let Some(r) = dirty::explain(o, stage.kind(), stage.version(), &stage.params(), inputs) {
            return Some(r.to_string());
        }
        if o.group != node.group || o.matrix != node.combination {
            return Some("its group or matrix values differ from the spec".into());
        }
        if !o.output_hash_matches() {
            return Some("output_hash does not match its outputs".into());
        }
        crate::trust::entry_claims(&self.project.out_path(), o)
            .into_iter()
            .next()
    }

    fn decide(
        &mut self,
        i: usize,
        key: &str,
        inputs: &[(String, String)],
        req: &BuildRequest,
    ) -> Decision {
        let node = &self.project.nodes[i];
        let NodeKind::Stage(stage) = &node.kind else {
            unreachable!()
        };
        let old = self.old.and_then(|l| l.stages.get(&node.name)).cloned();
        let reason = if req.force {
            DirtyReason::Forced
        } else {
            match &old {
                None => DirtyReason::NoLockEntry,
                Some(o) if o.key == key && o.output == node.output => match self.check_outputs(o) {
                    None => match self.entry_problem(i, o, inputs) {
                        None => return Decision::Fresh(o.clone()),
                        Some(problem) => DirtyReason::EntryDamaged { problem },
                    },
                    Some(r) => r,
                },
                Some(o) if o.key == key => DirtyReason::OutputMissing {
                    path: format!("{}/ (output folder moved from {})", node.output, o.output),
                },
                Some(o) => {
                    dirty::explain(o, stage.kind(), stage.version(), &stage.params(), inputs)
                        .unwrap_or(DirtyReason::KeyChanged)
                }
            }
        };
        if req.use_run_cache
            && !req.force
            && let Some(rec) = self.verified_run(i, key)
        {
            return Decision::Restore(rec, reason.to_string());
        }
        Decision::Run(reason.to_string())
    }

    /// A run-cache record that passes its checks ([`RunRecord::check`]: paths, hashes, output
    /// hash), of this stage's kind, whose objects are all intact (checked through the stat
    /// cache) and whose row counts and schema are those of its Parquet objects. A damaged
    /// object is removed, with a warning; a damaged or forged record is ignored, with a
    /// warning; either way the stage runs instead.
    fn verified_run(&mut self, i: usize, key: &str) -> Option<RunRecord> {
        let ignored = |why: String| Event::Warning {
            message: format!(
                "run-cache record {} is damaged or was not written by mldatabuild ({why}); ignored it, and the stage runs instead",
                crate::trust::short(key, 15)
            ),
        };
        let rec = match self.store.lookup_run(key) {
            Ok(r) => r?,
            Err(why) => {
                self.reporter.event(&ignored(why));
                return None;
            }
        };
        if let NodeKind::Stage(stage) = &self.project.nodes[i].kind
            && rec.kind != stage.kind()
        {
            self.reporter.event(&ignored(format!(
                "it is a record of a `{}` stage",
                rec.kind
            )));
            return None;
        }
        let mut intact = true;
        for f in &rec.outputs {
            let object = self.store.object_path(&f.sha256);
            if self
                .stat
                .digest(&object)
                .map_or(true, |d| d.sha256 != f.sha256 || d.size != f.size)
            {
                let _ = std::fs::remove_file(&object);
                self.reporter.event(&Event::Warning {
                    message: format!("store object `{}` was damaged (its SHA-256 changed); removed it, and the stage runs instead", object.display()),
                });
                intact = false;
            }
        }
        if !intact {
            return None;
        }
        let claimed: Vec<crate::trust::Claimed<'_>> = rec
            .outputs
            .iter()
            .map(|f| crate::trust::Claimed {
                name: &f.path,
                file: self.store.object_path(&f.sha256),
                rows: f.rows,
            })
            .collect();
        if let Some(problem) = crate::trust::table_claims(&claimed, &rec.summary)
            .into_iter()
            .next()
        {
            self.reporter.event(&ignored(problem));
            return None;
        }
        Some(rec)
    }

    fn stage_lock(
        &self,
        i: usize,
        key: &str,
        inputs: &[(String, String)],
        rec: &RunRecord,
        built: Built,
    ) -> StageLock {
        let node = &self.project.nodes[i];
        let NodeKind::Stage(stage) = &node.kind else {
            unreachable!()
        };
        StageLock {
            kind: stage.kind().to_owned(),
            group: node.group.clone(),
            matrix: node.combination.clone(),
            impl_version: stage.version(),
            key: key.to_owned(),
            params: stage.params(),
            inputs: inputs
                .iter()
                .map(|(n, h)| InputLock {
                    name: n.clone(),
                    hash: h.clone(),
                })
                .collect(),
            output: node.output.clone(),
            output_hash: rec.output_hash.clone(),
            outputs: rec
                .outputs
                .iter()
                .map(|f| FileLock {
                    path: crate::lockfile::output_path(&node.output, &f.path),
                    ..f.clone()
                })
                .collect(),
            summary: rec.summary.clone(),
            built: Some(built),
        }
    }

    /// Put a run record's objects into the dataset folder, removing the node's stale outputs.
    /// Objects are trusted here: either this run hashed them a moment ago, or
    /// [`Executor::verified_run`] checked them before a restore. Every path is checked
    /// ([`crate::trust::join_beneath`]): nothing is written or deleted outside the dataset folder,
    /// nor through a symbolic link inside it.
    fn materialize(&mut self, i: usize, rec: &RunRecord) -> Result<Vec<InputFile>> {
        let node = &self.project.nodes[i];
        let out = self.project.out_path();
        let unsafe_path = |e: crate::trust::UnsafePath| {
            Error::failure(format!(
                "stage `{}`: output {e}; mldatabuild writes only inside `{}`",
                node.name, self.project.out_dir
            ))
            .hint("remove the symbolic link (or the file) at that place in the dataset folder")
        };
        let keep: BTreeSet<String> = rec
            .outputs
            .iter()
            .map(|f| crate::lockfile::output_path(&node.output, &f.path))
            .collect();
        if let Some(old) = self.old.and_then(|l| l.stages.get(&node.name)) {
            for f in &old.outputs {
                if !keep.contains(&f.path)
                    && let Ok(stale) = crate::trust::join_beneath(&out, &f.path)
                {
                    let _ = std::fs::remove_file(stale);
                }
            }
        }
        let mut files = Vec::new();
        for f in &rec.outputs {
            let object = self.store.object_path(&f.sha256);
            let dest = crate::trust::join_beneath(
                &out,
                &crate::lockfile::output_path(&node.output, &f.path),
            )
            .map_err(unsafe_path)?;
            store::materialize(&object, &dest)
                .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", dest.display())))?;
            // Both names are one read-only file whose bytes we know: remember them, so the next
            // build or verify does not read them again.
            self.stat.record_known(&object, &f.sha256);
            self.stat.record_known(&dest, &f.sha256);
            if !crate::lockfile::is_report(&f.path) {
                files.push(InputFile {
                    name: f.path.clone(),
                    path: dest,
                });
            }
        }
        Ok(files)
    }

    /// Run the build. The lockfile is rewritten after each finished stage (unless `locked`,
    /// `frozen` or `dry_run`), so a killed build keeps every earlier result.
    pub fn build(&mut self, req: &BuildRequest) -> Result<BuildOutcome> {
        let started = Instant::now();
        let p = self.project;
        let selected = self.select(&req.targets)?;
        let all_selected = selected.len() == p.nodes.len();
        let writes = !req.dry_run && !req.locked && !req.frozen && self.lock_path.is_some();
        self.store.clean_abandoned();
        store::remove_stale_temps(&p.out_path());
        store::remove_stale_temps_shallow(&p.root);
        store::remove_stale_temps_shallow(&p.root.join(".mldatabuild"));
        self.reporter.event(&Event::BuildStarted {
            dataset: p.name.clone(),
            version: p.version.clone(),
            nodes: selected
                .iter()
                .filter(|&&i| !p.nodes[i].is_source())
                .count(),
            jobs: req.jobs,
            dry_run: req.dry_run,
        });

        let mut lock = self.old.cloned().unwrap_or_else(|| self.base_lock());
        let base = self.base_lock();
        lock.version = base.version;
        lock.tool = base.tool;
        lock.dataset = base.dataset;
        lock.spec = base.spec;
        lock.output = base.output;
        let mut violations = Vec::new();
        if req.locked {
            if let Some(old) = self.old {
                if old.spec.blake3 != p.spec_hash {
                    violations.push(format!(
                        "spec: `{}` changed since the lock was written",
                        p.spec_path
                    ));
                }
            } else {
                violations.push("no lockfile yet".to_owned());
            }
        }

        let mut done: Vec<Option<NodeDone>> = vec![None; p.nodes.len()];
        let mut statuses: BTreeMap<String, Status> = BTreeMap::new();
        let mut rows: BTreeMap<String, (Option<u64>, Option<f64>, Option<u64>)> = BTreeMap::new();

        // Sources first: hashing is cheap with the stat cache and parallel when it is not.
        for &i in &selected {
            if p.nodes[i].is_source() {
                let (entry, files) = self.hash_source(i, req)?;
                if req.locked
                    && let Some(old) = self.old.and_then(|l| l.sources.get(&p.nodes[i].name))
                    && old.hash != entry.hash
                {
                    violations.push(format!("source {}: files changed", p.nodes[i].name));
                }
                done[i] = Some(NodeDone {
                    hash: entry.hash.clone(),
                    files,
                });
                lock.sources.insert(p.nodes[i].name.clone(), entry);
            }
        }
        if all_selected {
            lock.sources
                .retain(|name, _| p.nodes.iter().any(|n| n.is_source() && &n.name == name));
        }
        if req.locked && !violations.is_empty() {
            return Ok(BuildOutcome {
                lock,
                lock_changed: true,
                statuses,
                locked_violations: violations,
            });
        }

        let jobs = req.jobs.max(1);
        let stop = AtomicBool::new(false);
        let mut pending: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| !p.nodes[i].is_source())
            .collect();
        let mut keys: BTreeMap<usize, (String, Vec<(String, String)>)> = BTreeMap::new();
        let mut unknown: BTreeSet<usize> = BTreeSet::new(); // dry run: outputs not known yet
        let (tx, rx) = mpsc::channel::<Finished>();
        let mut running = 0usize;
        let mut halted = false;

        std::thread::scope(|scope| -> Result<()> {
            loop {
                // Schedule everything that is ready, in topological order.
                let mut progressed = true;
                while progressed && !halted {
                    progressed = false;
                    let mut k = 0;
                    while k < pending.len() {
                        let i = pending[k];
                        let node = &p.nodes[i];
                        let NodeKind::Stage(stage) = &node.kind else {
                            unreachable!()
                        };
                        // Failed or skipped inputs: skip.
                        if let Some(&bad) = node.inputs.iter().find(|&&x| {
                            matches!(
                                statuses.get(&p.nodes[x].name),
                                Some(Status::Failed(_) | Status::Skipped(_))
                            )
                        }) {
                            let why = format!("input `{}` did not build", p.nodes[bad].name);
                            self.reporter.event(&Event::StageSkipped {
                                name: node.name.clone(),
                                reason: why.clone(),
                            });
                            statuses.insert(node.name.clone(), Status::Skipped(why));
                            pending.remove(k);
                            progressed = true;
                            continue;
                        }
                        if let Some(&up) = node.inputs.iter().find(|x| unknown.contains(x)) {
                            let reason =
                                format!("runs if `{}` changes its output", p.nodes[up].name);
                            self.plan(&mut statuses, &node.name, "may run", reason);
                            unknown.insert(i);
                            pending.remove(k);
                            progressed = true;
                            continue;
                        }
                        if !node.inputs.iter().all(|&x| done[x].is_some()) {
                            k += 1;
                            continue;
                        }
                        if running >= jobs {
                            break;
                        }
                        pending.remove(k);
                        progressed = true;
                        let inputs: Vec<(String, String)> = node
                            .inputs
                            .iter()
                            .map(|&x| {
                                (
                                    p.nodes[x].name.clone(),
                                    done[x].as_ref().map(|d| d.hash.clone()).unwrap_or_default(),
                                )
                            })
                            .collect();
                        let hashes: Vec<&str> = inputs.iter().map(|(_, h)| h.as_str()).collect();
                        let key =
                            action_key(stage.kind(), stage.version(), &stage.params(), &hashes);
                        let decision = self.decide(i, &key, &inputs, req);
                        if req.locked {
                            let same_key = self
                                .old
                                .and_then(|l| l.stages.get(&node.name))
                                .is_some_and(|o| o.key == key);
                            if !same_key {
                                let why = match &decision {
                                    Decision::Run(r) | Decision::Restore(_, r) => r.clone(),
                                    Decision::Fresh(_) => "action key changed".into(),
                                };
                                violations.push(format!("stage {}: {why}", node.name));
                                halted = true;
                                break;
                            }
                        }
                        match decision {
                            Decision::Fresh(entry) => {
                                let out = p.out_path();
                                let files = entry
                                    .outputs
                                    .iter()
                                    .map(|f| {
                                        (crate::lockfile::output_rel(&node.output, &f.path), f)
                                    })
                                    .filter(|(rel, _)| !crate::lockfile::is_report(rel))
                                    .map(|(name, f)| InputFile {
                                        name,
                                        path: out.join(&f.path),
                                    })
                                    .collect();
                                done[i] = Some(NodeDone {
                                    hash: entry.output_hash.clone(),
                                    files,
                                });
                                rows.insert(
                                    node.name.clone(),
                                    (summary_rows(&entry.summary), None, None),
                                );
                                lock.stages.insert(node.name.clone(), entry);
                                statuses.insert(node.name.clone(), Status::Fresh);
                                self.reporter.event(&Event::StageFresh {
                                    name: node.name.clone(),
                                });
                            }
                            Decision::Restore(rec, reason) if req.dry_run => {
                                done[i] = Some(NodeDone {
                                    hash: rec.output_hash.clone(),
                                    files: Vec::new(),
                                });
                                let reason = format!("{reason}; outputs in the run cache");
                                self.plan(&mut statuses, &node.name, "restore", reason);
                            }
                            Decision::Run(reason) if req.dry_run => {
                                unknown.insert(i);
                                self.plan(&mut statuses, &node.name, "run", reason);
                            }
                            Decision::Restore(rec, reason) => {
                                let t = Instant::now();
                                let files = self.materialize(i, &rec)?;
                                let entry = self.stage_lock(
                                    i,
                                    &key,
                                    &inputs,
                                    &rec,
                                    built("restored", t.elapsed().as_secs_f64(), 0),
                                );
                                self.reporter.event(&Event::StageRestored {
                                    name: node.name.clone(),
                                    reason,
                                });
                                rows.insert(
                                    node.name.clone(),
                                    (
                                        summary_rows(&rec.summary),
                                        Some(round3(t.elapsed().as_secs_f64())),
                                        None,
                                    ),
                                );
                                done[i] = Some(NodeDone {
                                    hash: rec.output_hash.clone(),
                                    files,
                                });
                                self.record(&mut lock, node.name.clone(), entry, writes)?;
                                statuses.insert(node.name.clone(), Status::Restored);
                            }
                            Decision::Run(reason) => {
                                self.reporter.event(&Event::StageStarted {
                                    name: node.name.clone(),
                                    kind: stage.kind().to_owned(),
                                    reason,
                                    member: node.member.0,
                                    members: node.member.1,
                                });
                                let input_hash =
                                    inputs.first().map(|(_, h)| h.clone()).unwrap_or_default();
                                let shown_dir = format!("{}/{}", p.out_dir, node.output);
                                keys.insert(i, (key, inputs));
                                // The first input is the stage's `input`; the others are
                                // its auxiliary inputs (a tokenizer…), handed over apart.
                                let files_of = |x: usize| {
                                    done[x]
                                        .as_ref()
                                        .map(|d| d.files.clone())
                                        .unwrap_or_default()
                                };
                                let input: Vec<InputFile> = node
                                    .inputs
                                    .first()
                                    .map(|&x| files_of(x))
                                    .unwrap_or_default();
                                let aux: Vec<Vec<InputFile>> =
                                    node.inputs.iter().skip(1).map(|&x| files_of(x)).collect();
                                let input_is_source =
                                    node.inputs.first().is_some_and(|&x| p.nodes[x].is_source());
                                let reporter = self.reporter;
                                let tx = tx.clone();
                                let store = self.store;
                                let stop = &stop;
                                let stage: &dyn Stage = stage.as_ref();
                                let name = node.name.clone();
                                running += 1;
                                scope.spawn(move || {
                                    let f = run_stage(
                                        store,
                                        stage,
                                        &name,
                                        StageInputs {
                                            input: &input,
                                            aux: &aux,
                                            input_is_source,
                                            input_hash: &input_hash,
                                            shown_dir: &shown_dir,
                                        },
                                        reporter,
                                        stop,
                                        i,
                                    );
                                    let _ = tx.send(f);
                                });
                            }
                        }
                    }
                }
                if running == 0 {
                    break;
                }
                let Ok(fin) = rx.recv() else { break };
                running -= 1;
                let i = fin.node;
                let node = &p.nodes[i];
                match fin.result {
                    Ok((mut rec, display)) => {
                        let (key, inputs) = keys.remove(&i).unwrap_or_default();
                        rec.key.clone_from(&key);
                        if let NodeKind::Stage(stage) = &node.kind {
                            rec.origin = Some(crate::store::RunOrigin {
                                dataset: p.name.clone(),
                                stage: node.name.clone(),
                                group: node.group.clone(),
                                params: stage.params(),
                                at: now_rfc3339(),
                            });
                        }
                        if let Err(e) = self.store.record_run(&rec) {
                            self.reporter.event(&Event::Warning {
                                message: format!("cannot write the run cache: {e}"),
                            });
                        }
                        let files = match self.materialize(i, &rec) {
                            Ok(f) => f,
                            Err(e) => {
                                self.fail(
                                    &mut statuses,
                                    &node.name,
                                    &StageError::new(e.message.clone()),
                                );
                                halted |= !req.keep_going;
                                continue;
                            }
                        };
                        let entry = self.stage_lock(
                            i,
                            &key,
                            &inputs,
                            &rec,
                            built("run", fin.seconds, fin.peak_rss_mb),
                        );
                        if req.locked
                            && let Some(old) = self.old.and_then(|l| l.stages.get(&node.name))
                            && old.output_hash != entry.output_hash
                        {
                            violations.push(format!("stage {}: its outputs differ from the lock (non-deterministic stage, or a changed store)", node.name));
                        }
                        for w in rec
                            .summary
                            .get("warnings")
                            .and_then(|w| w.as_array())
                            .into_iter()
                            .flatten()
                        {
                            self.reporter.event(&Event::Warning {
                                message: format!(
                                    "{}: {}",
                                    node.name,
                                    w.as_str().unwrap_or_default()
                                ),
                            });
                        }
                        self.reporter.event(&Event::StageFinished {
                            name: node.name.clone(),
                            seconds: round3(fin.seconds),
                            peak_rss_mb: fin.peak_rss_mb,
                            rows: summary_rows(&rec.summary),
                            outputs: rec.outputs.len(),
                            schema: if stage_reports_schema(p, i) {
                                schema_of(&rec.summary)
                            } else {
                                Vec::new()
                            },
                            report: display,
                        });
                        rows.insert(
                            node.name.clone(),
                            (
                                summary_rows(&rec.summary),
                                Some(round3(fin.seconds)),
                                Some(fin.peak_rss_mb),
                            ),
                        );
                        done[i] = Some(NodeDone {
                            hash: rec.output_hash.clone(),
                            files,
                        });
                        self.record(&mut lock, node.name.clone(), entry, writes)?;
                        statuses.insert(node.name.clone(), Status::Ran);
                    }
                    Err(e) => {
                        if let Some(rec) = &fin.partial
                            && let Err(m) = self.materialize(i, rec)
                        {
                            self.reporter.event(&Event::Warning {
                                message: format!("{}: {}", node.name, m.message),
                            });
                        }
                        self.fail(&mut statuses, &node.name, &e);
                        if !req.keep_going {
                            halted = true;
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            Ok(())
        })?;

        // Nodes never reached (halted): skipped.
        for i in pending {
            let name = &p.nodes[i].name;
            if !statuses.contains_key(name) {
                let why = if req.locked {
                    "not checked (--locked stopped the build)"
                } else {
                    "not run (the build stopped after a failure)"
                };
                self.reporter.event(&Event::StageSkipped {
                    name: name.clone(),
                    reason: why.into(),
                });
                statuses.insert(name.clone(), Status::Skipped(why.into()));
            }
        }

        if all_selected
            && statuses
                .values()
                .all(|s| !matches!(s, Status::Failed(_) | Status::Skipped(_)))
        {
            lock.stages
                .retain(|name, _| p.nodes.iter().any(|n| &n.name == name));
        }
        let lock_changed = self.old.map(Lock::identity) != Some(lock.identity());
        if let (false, Some(old)) = (lock_changed, self.old) {
            // Same dataset: keep the file byte for byte (a no-op build never touches it).
            lock = old.clone();
        }
        // A no-op build rewrites nothing (and serializes nothing) when the manifest is intact.
        if writes && (lock_changed || !self.manifest_matches_lock()) {
            self.write_lock(&lock)?;
        }
        self.stat.save();

        let summary = BuildSummary {
            dataset: p.name.clone(),
            output: p.out_dir.clone(),
            dry_run: req.dry_run,
            writes_lock: writes,
            ok: statuses
                .values()
                .all(|s| !matches!(s, Status::Failed(_) | Status::Skipped(_)))
                && violations.is_empty(),
            lock_changed,
            seconds: round3(started.elapsed().as_secs_f64()),
            stages: selected
                .iter()
                .filter(|&&i| !p.nodes[i].is_source())
                .map(|&i| {
                    let n = &p.nodes[i];
                    let st = statuses
                        .get(&n.name)
                        .cloned()
                        .unwrap_or(Status::Skipped(String::new()));
                    let (r, s, m) = rows.get(&n.name).copied().unwrap_or((None, None, None));
                    StageRow {
                        name: n.name.clone(),
                        kind: n.kind_name().to_owned(),
                        status: st.label().into(),
                        rows: r,
                        seconds: s,
                        peak_rss_mb: m,
                    }
                })
                .collect(),
            files: if req.dry_run {
                Vec::new()
            } else {
                let mut files: Vec<(String, u64)> = lock
                    .stages
                    .values()
                    .flat_map(|s| s.outputs.iter().map(|f| (f.path.clone(), f.size)))
                    .collect();
                if let Ok(m) = std::fs::metadata(p.out_path().join("manifest.yaml")) {
                    files.push(("manifest.yaml".into(), m.len()));
                }
                files.sort();
                files
            },
        };
        if !req.locked || violations.is_empty() {
            self.reporter.event(&Event::BuildFinished(summary));
        }
        Ok(BuildOutcome {
            lock,
            lock_changed,
            statuses,
            locked_violations: violations,
        })
    }

    /// Dry run: report what would happen to a stage.
    fn plan(
        &self,
        statuses: &mut BTreeMap<String, Status>,
        name: &str,
        action: &str,
        reason: String,
    ) {
        self.reporter.event(&Event::StagePlanned {
            name: name.to_owned(),
            action: action.to_owned(),
            reason: reason.clone(),
        });
        statuses.insert(
            name.to_owned(),
            Status::Planned {
                action: action.to_owned(),
                reason,
            },
        );
    }

    fn fail(&self, statuses: &mut BTreeMap<String, Status>, name: &str, e: &StageError) {
        self.reporter.event(&Event::StageFailed {
            name: name.to_owned(),
            error: e.message.clone(),
            hint: e.hint.clone(),
        });
        statuses.insert(name.to_owned(), Status::Failed(e.message.clone()));
    }

    /// Put a finished stage's entry in the lock and write the lock. An entry equal to the old
    /// one but for its `built:` block keeps the old one: rebuilding missing outputs (a fresh
    /// clone, `--force`) with the same results leaves the lockfile byte for byte as it was.
    fn record(&self, lock: &mut Lock, name: String, entry: StageLock, writes: bool) -> Result<()> {
        if let Some(old) = self.old.and_then(|l| l.stages.get(&name))
            && (StageLock {
                built: None,
                ..old.clone()
            }) == (StageLock {
                built: None,
                ..entry.clone()
            })
        {
            lock.stages.insert(name, old.clone());
            return Ok(());
        }
        lock.stages.insert(name, entry);
        if writes {
            self.write_lock(lock)?;
        }
        Ok(())
    }

    /// Whether the dataset folder's `manifest.yaml` holds exactly the lockfile's text.
    fn manifest_matches_lock(&self) -> bool {
        let Some(lock) = &self.lock_path else {
            return true;
        };
        match (
            std::fs::read(lock),
            std::fs::read(self.project.out_path().join("manifest.yaml")),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    /// Write the lockfile and the dataset folder's `manifest.yaml` (same text), atomically.
    pub fn write_lock(&self, lock: &Lock) -> Result<()> {
        let Some(path) = &self.lock_path else {
            return Ok(());
        };
        let text = lock.to_yaml();
        lockfile::write_atomic(path, &text)
            .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", path.display())))?;
        let manifest = self.project.out_path().join("manifest.yaml");
        lockfile::write_atomic(&manifest, &text)
            .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", manifest.display())))?;
        Ok(())
    }
}

/// The `built:` block of a stage that finished now.
fn built(how: &str, seconds: f64, peak_rss_mb: u64) -> Built {
    Built {
        at: now_rfc3339(),
        seconds: round3(seconds),
        peak_rss_mb,
        os: os_tag(),
        how: how.to_owned(),
    }
}

fn stage_reports_schema(p: &Project, i: usize) -> bool {
    matches!(&p.nodes[i].kind, NodeKind::Stage(s) if s.reports_schema())
}

/// The `schema` of a stage summary, as event columns.
fn schema_of(
    summary: &BTreeMap<String, serde_json::Value>,
) -> Vec<crate::report::events::ColumnInfo> {
    summary
        .get("schema")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| crate::report::events::ColumnInfo {
            name: c
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            ty: c
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            nullable: c
                .get("nullable")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true),
        })
        .collect()
}

fn summary_rows(summary: &BTreeMap<String, serde_json::Value>) -> Option<u64> {
    summary.get("rows").and_then(serde_json::Value::as_u64)
}

/// A revision for people: a commit's first 12 digits, `sha256:` + 12; others (`version:4`,
/// `v1-md5:…`) shortened after their prefix.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// What a running stage reads.
#[derive(Clone, Copy)]
struct StageInputs<'a> {
    input: &'a [InputFile],
    aux: &'a [Vec<InputFile>],
    input_is_source: bool,
    input_hash: &'a str,
    shown_dir: &'a str,
}

/// Run one stage in a fresh temporary folder; hash its outputs and move them into the store.
fn run_stage(
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
