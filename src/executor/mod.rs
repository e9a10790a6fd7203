//! The executor: walks the DAG of a project and keeps its lockfile current. In parts, as
//! "Build Systems à la Carte" separates them:
//!
//! - [`sources`]: source resolution (local files hashed through the stat cache, remote ones
//!   fetched at the revision the lock pins);
//! - [`rebuilder`]: for a stage whose inputs are known, the decision fresh / restore / run and
//!   its typed reason ([`crate::dirty::DirtyReason`]), with every check on what it trusts;
//! - [`scheduler`]: a ready queue on in-degrees over the project's graph, running up to
//!   `--jobs` stages on threads;
//! - [`runner`]: one stage in a fresh temporary folder, its outputs hashed into the store;
//! - [`recorder`]: outputs into the dataset folder, lock entries, the lockfile and manifest.
//!
//! `build` below is the driver that calls them in that order. The executor emits events and
//! never formats output itself.

mod rebuilder;
mod recorder;
mod runner;
mod scheduler;
mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use crate::dirty::{PlanAction, Reason};
use crate::error::{Error, Result};
use crate::lockfile::{self, DatasetInfo, Lock, SpecInfo, Tool};
use crate::report::events::{BuildSummary, Event, Reporter, StageRow};
use crate::spec::{NodeKind, Project};
use crate::stages::InputFile;
use crate::statcache::StatCache;
use crate::store::{self, Store};

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
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Fresh,
    Ran,
    Restored,
    Planned { action: PlanAction, reason: Reason },
    Failed(String),
    Skipped(Reason),
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

/// Rows, seconds and peak memory of a stage, for the build summary.
type StageFigures = (Option<u64>, Option<f64>, Option<u64>);

/// What a build has learned so far; the parts below each fill in their share.
struct BuildState {
    /// The lock being written: the old one, updated node by node.
    lock: Lock,
    /// Whether the lockfile is written as stages finish.
    writes: bool,
    /// `--locked` violations found so far.
    violations: Vec<String>,
    /// Per node: its output hash and files, once known.
    done: Vec<Option<NodeDone>>,
    statuses: BTreeMap<String, Status>,
    figures: BTreeMap<String, StageFigures>,
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

    /// Run the build. The lockfile is rewritten after each finished stage (unless `locked`,
    /// `frozen` or `dry_run`), so a killed build keeps every earlier result.
    pub fn build(&mut self, req: &BuildRequest) -> Result<BuildOutcome> {
        let started = Instant::now();
        let p = self.project;
        let selected = self.select(&req.targets)?;
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

        let mut st = BuildState {
            lock: self.starting_lock(),
            writes: !req.dry_run && !req.locked && !req.frozen && self.lock_path.is_some(),
            violations: Vec::new(),
            done: vec![None; p.nodes.len()],
            statuses: BTreeMap::new(),
            figures: BTreeMap::new(),
        };
        if req.locked {
            if let Some(old) = self.old {
                if old.spec.blake3 != p.spec_hash {
                    st.violations.push(format!(
                        "spec: `{}` changed since the lock was written",
                        p.spec_path
                    ));
                }
            } else {
                st.violations.push("no lockfile yet".to_owned());
            }
        }
        self.resolve_sources(&selected, req, &mut st)?;
        if req.locked && !st.violations.is_empty() {
            return Ok(BuildOutcome {
                lock: st.lock,
                lock_changed: true,
                statuses: st.statuses,
                locked_violations: st.violations,
            });
        }
        self.run_stages(&selected, req, &mut st)?;
        self.finish(&selected, req, st, started)
    }

    /// The lock a build starts from: the old one with this build's header, or an empty one.
    fn starting_lock(&self) -> Lock {
        let mut lock = self.old.cloned().unwrap_or_else(|| self.base_lock());
        let base = self.base_lock();
        lock.version = base.version;
        lock.tool = base.tool;
        lock.dataset = base.dataset;
        lock.spec = base.spec;
        lock.output = base.output;
        lock
    }

    /// The end of a build: stale entries dropped (when everything was built), the lockfile
    /// written if its identity changed, the stat cache saved, the summary reported.
    fn finish(
        &mut self,
        selected: &BTreeSet<usize>,
        req: &BuildRequest,
        st: BuildState,
        started: Instant,
    ) -> Result<BuildOutcome> {
        let p = self.project;
        let BuildState {
            mut lock,
            writes,
            violations,
            statuses,
            figures,
            ..
        } = st;
        let all_selected = selected.len() == p.nodes.len();
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
                    let status = statuses
                        .get(&n.name)
                        .cloned()
                        .unwrap_or(Status::Skipped(Reason::Halted));
                    let (r, s, m) = figures.get(&n.name).copied().unwrap_or((None, None, None));
                    StageRow {
                        name: n.name.clone(),
                        kind: n.kind_name().to_owned(),
                        status: status.label().into(),
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
}

pub(super) fn stage_reports_schema(p: &Project, i: usize) -> bool {
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

/// Seconds to the millisecond, as events and the lock show them.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
