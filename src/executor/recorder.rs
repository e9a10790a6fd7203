//! The recorder: what a build keeps. A finished or restored stage's outputs go from the store
//! into the dataset folder (every path checked), its run record into the run cache, its entry
//! into the lock, and the lockfile and `manifest.yaml` are rewritten atomically after every
//! stage, so a killed build keeps every earlier result.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::runner::Finished;
use super::{
    BuildRequest, BuildState, Executor, NodeDone, Status, now_rfc3339, os_tag, round3, schema_of,
    stage_reports_schema, summary_rows,
};
use crate::dirty::{DirtyReason, Reason};
use crate::error::{Error, Result};
use crate::lockfile::{self, Built, FileLock, InputLock, Lock, StageLock};
use crate::report::events::Event;
use crate::spec::NodeKind;
use crate::stages::{InputFile, StageError};
use crate::store::{self, RunRecord};

/// A stage's action key and its inputs (name, hash), as its lock entry records them.
pub(super) type Keyed = (String, Vec<(String, String)>);

impl Executor<'_> {
    /// A stage whose outputs the run cache holds: put them in the dataset folder and record
    /// the stage as restored.
    pub(super) fn restore(
        &mut self,
        i: usize,
        (key, inputs): &Keyed,
        rec: &RunRecord,
        reason: &DirtyReason,
        st: &mut BuildState,
    ) -> Result<()> {
        let node = &self.project.nodes[i];
        let t = Instant::now();
        let files = self.materialize(i, rec)?;
        let entry = self.stage_lock(
            i,
            key,
            inputs,
            rec,
            built("restored", t.elapsed().as_secs_f64(), 0),
        );
        self.reporter.event(&Event::StageRestored {
            name: node.name.clone(),
            reason: Reason::Dirty(reason.clone()),
        });
        st.figures.insert(
            node.name.clone(),
            (
                summary_rows(&rec.summary),
                Some(round3(t.elapsed().as_secs_f64())),
                None,
            ),
        );
        st.done[i] = Some(NodeDone {
            hash: rec.output_hash.clone(),
            files,
        });
        self.record(&mut st.lock, node.name.clone(), entry, st.writes)?;
        st.statuses.insert(node.name.clone(), Status::Restored);
        Ok(())
    }

    /// A stage that ran has finished: record its run (or its failure). Returns whether the
    /// build must stop (a failure without `--keep-going`).
    pub(super) fn land(
        &mut self,
        fin: Finished,
        (key, inputs): Keyed,
        req: &BuildRequest,
        stop: &AtomicBool,
        st: &mut BuildState,
    ) -> Result<bool> {
        let p = self.project;
        let i = fin.node;
        let node = &p.nodes[i];
        let (mut rec, display) = match fin.result {
            Ok(r) => r,
            Err(e) => {
                if let Some(rec) = &fin.partial
                    && let Err(m) = self.materialize(i, rec)
                {
                    self.reporter.event(&Event::Warning {
                        message: format!("{}: {}", node.name, m.message),
                    });
                }
                self.fail(&mut st.statuses, &node.name, &e);
                if !req.keep_going {
                    stop.store(true, Ordering::Relaxed);
                    return Ok(true);
                }
                return Ok(false);
            }
        };
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
                    &mut st.statuses,
                    &node.name,
                    &StageError::new(e.message.clone()),
                );
                return Ok(!req.keep_going);
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
            st.violations.push(format!("stage {}: its outputs differ from the lock (non-deterministic stage, or a changed store)", node.name));
        }
        for w in rec
            .summary
            .get("warnings")
            .and_then(|w| w.as_array())
            .into_iter()
            .flatten()
        {
            self.reporter.event(&Event::Warning {
                message: format!("{}: {}", node.name, w.as_str().unwrap_or_default()),
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
        st.figures.insert(
            node.name.clone(),
            (
                summary_rows(&rec.summary),
                Some(round3(fin.seconds)),
                Some(fin.peak_rss_mb),
            ),
        );
        st.done[i] = Some(NodeDone {
            hash: rec.output_hash.clone(),
            files,
        });
        self.record(&mut st.lock, node.name.clone(), entry, st.writes)?;
        st.statuses.insert(node.name.clone(), Status::Ran);
        Ok(false)
    }

    /// A stage failed: report it.
    pub(super) fn fail(&self, statuses: &mut BTreeMap<String, Status>, name: &str, e: &StageError) {
        self.reporter.event(&Event::StageFailed {
            name: name.to_owned(),
            error: e.message.clone(),
            hint: e.hint.clone(),
        });
        statuses.insert(name.to_owned(), Status::Failed(e.message.clone()));
    }

    /// The lock entry of a stage whose outputs are `rec`'s.
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
    pub(super) fn materialize(&mut self, i: usize, rec: &RunRecord) -> Result<Vec<InputFile>> {
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
    pub(super) fn manifest_matches_lock(&self) -> bool {
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
