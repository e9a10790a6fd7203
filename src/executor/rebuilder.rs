//! The rebuilder: given a stage and its inputs' hashes (its action key), decide whether its
//! lock entry stands (fresh), its outputs come from the run cache (restore), or it runs, with
//! the typed reason ([`DirtyReason`]) that reporters turn into words. Nothing it reads is
//! trusted: a lock entry is checked whole against what this build would write, and a run
//! record's objects against their hashes and Parquet footers.

use super::{BuildRequest, Executor};
use crate::dirty::{self, DirtyReason};
use crate::lockfile::StageLock;
use crate::report::events::Event;
use crate::spec::NodeKind;
use crate::store::RunRecord;

/// What happens to a stage.
pub(super) enum Decision {
    /// Its lock entry stands.
    Fresh(StageLock),
    /// Its outputs come from this run-cache record.
    Restore(RunRecord, DirtyReason),
    /// It runs.
    Run(DirtyReason),
}

impl Executor<'_> {
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

    /// Fresh (the lock entry stands), restore (from the run cache) or run, and why.
    pub(super) fn decide(
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
            return Decision::Restore(rec, reason);
        }
        Decision::Run(reason)
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
}
