//! The scheduler: a ready queue on in-degrees over the project's graph. A stage is ready when
//! every stage it reads has settled (fresh, restored, ran, planned, failed or skipped); ready
//! stages are taken in topological order (lowest node index first), so events come in the same
//! order whatever the thread timing allows. Each takes O(log n) to queue and its dependents'
//! counts to settle: a build of 10,000 stages schedules in linear time, where the first
//! version rescanned every pending stage after each one finished.
//!
//! Up to `--jobs` stages run at once, each on a scoped thread ([`super::runner`]); the rest of
//! the work (decisions, restores, lock writes) happens on this thread, in order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use super::rebuilder::Decision;
use super::recorder::Keyed;
use super::runner::{Finished, StageInputs, run_stage};
use super::{BuildRequest, BuildState, Executor, NodeDone, Status, summary_rows};
use crate::dirty::{DirtyReason, PlanAction, Reason};
use crate::error::Result;
use crate::fingerprint::action_key;
use crate::lockfile::StageLock;
use crate::report::events::{Event, Reporter};
use crate::spec::{NodeKind, Project};
use crate::stages::{InputFile, Stage};
use crate::store::Store;

/// The selected stages whose inputs have all settled, and how many inputs the others still
/// wait for.
struct ReadyQueue {
    /// Per node: selected and a stage.
    stage: Vec<bool>,
    /// Per selected stage: edges from stages that have not settled yet.
    waiting: Vec<usize>,
    ready: BTreeSet<usize>,
}

impl ReadyQueue {
    /// Sources are resolved before any stage, so only edges between stages count.
    fn new(p: &Project, selected: &BTreeSet<usize>) -> Self {
        let n = p.nodes.len();
        let mut stage = vec![false; n];
        for &i in selected {
            stage[i] = !p.nodes[i].is_source();
        }
        let waiting: Vec<usize> = (0..n)
            .map(|i| {
                if stage[i] {
                    p.dag.in_degree(i, |x| !p.nodes[x].is_source())
                } else {
                    0
                }
            })
            .collect();
        let ready = (0..n).filter(|&i| stage[i] && waiting[i] == 0).collect();
        Self {
            stage,
            waiting,
            ready,
        }
    }

    /// The ready stage that comes first in topological order, left in the queue.
    fn first(&self) -> Option<usize> {
        self.ready.first().copied()
    }

    fn take(&mut self, i: usize) {
        self.ready.remove(&i);
    }

    /// Stage `i` has settled: each selected stage reading it waits for one input less.
    fn settle(&mut self, p: &Project, i: usize) {
        for j in p.dag.dependents(i) {
            if self.stage[j] {
                self.waiting[j] -= 1;
                if self.waiting[j] == 0 {
                    self.ready.insert(j);
                }
            }
        }
    }
}

impl<'a> Executor<'a> {
    /// Decide and run every selected stage, in dependency order, up to `--jobs` at a time.
    pub(super) fn run_stages(
        &mut self,
        selected: &BTreeSet<usize>,
        req: &BuildRequest,
        st: &mut BuildState,
    ) -> Result<()> {
        let p = self.project;
        let jobs = req.jobs.max(1);
        let stop = AtomicBool::new(false);
        let mut queue = ReadyQueue::new(p, selected);
        // Stages taken off the queue (all of them but those a halt left behind).
        let mut taken = vec![false; p.nodes.len()];
        let mut keys: BTreeMap<usize, Keyed> = BTreeMap::new();
        let mut unknown: BTreeSet<usize> = BTreeSet::new(); // dry run: outputs not known yet
        let (tx, rx) = mpsc::channel::<Finished>();
        let mut running = 0usize;
        let mut halted = false;

        std::thread::scope(|scope| -> Result<()> {
            loop {
                while !halted && let Some(i) = queue.first() {
                    let node = &p.nodes[i];
                    let NodeKind::Stage(stage) = &node.kind else {
                        unreachable!("only stages are queued")
                    };
                    if self.skip_or_plan(i, st, &mut unknown) {
                        queue.take(i);
                        taken[i] = true;
                        queue.settle(p, i);
                        continue;
                    }
                    if running >= jobs {
                        break;
                    }
                    queue.take(i);
                    taken[i] = true;
                    let inputs: Vec<(String, String)> = node
                        .inputs
                        .iter()
                        .map(|&x| {
                            (
                                p.nodes[x].name.clone(),
                                st.done[x]
                                    .as_ref()
                                    .map(|d| d.hash.clone())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect();
                    let hashes: Vec<&str> = inputs.iter().map(|(_, h)| h.as_str()).collect();
                    let key = action_key(stage.kind(), stage.version(), &stage.params(), &hashes);
                    let decision = self.decide(i, &key, &inputs, req);
                    if req.locked {
                        let same_key = self
                            .old
                            .and_then(|l| l.stages.get(&node.name))
                            .is_some_and(|o| o.key == key);
                        if !same_key {
                            let why = match &decision {
                                Decision::Run(r) | Decision::Restore(_, r) => r.clone(),
                                Decision::Fresh(_) => DirtyReason::KeyChanged,
                            };
                            st.violations.push(format!("stage {}: {why}", node.name));
                            halted = true;
                            break;
                        }
                    }
                    match decision {
                        Decision::Fresh(entry) => {
                            self.keep_fresh(i, entry, st);
                            queue.settle(p, i);
                        }
                        Decision::Restore(rec, reason) if req.dry_run => {
                            st.done[i] = Some(NodeDone {
                                hash: rec.output_hash.clone(),
                                files: Vec::new(),
                            });
                            let reason = Reason::Restorable(reason);
                            self.plan(&mut st.statuses, &node.name, PlanAction::Restore, reason);
                            queue.settle(p, i);
                        }
                        Decision::Run(reason) if req.dry_run => {
                            unknown.insert(i);
                            self.plan(
                                &mut st.statuses,
                                &node.name,
                                PlanAction::Run,
                                Reason::Dirty(reason),
                            );
                            queue.settle(p, i);
                        }
                        Decision::Restore(rec, reason) => {
                            self.restore(i, &(key, inputs), &rec, &reason, st)?;
                            queue.settle(p, i);
                        }
                        Decision::Run(reason) => {
                            self.reporter.event(&Event::StageStarted {
                                name: node.name.clone(),
                                kind: stage.kind().to_owned(),
                                reason: Reason::Dirty(reason),
                                member: node.member.0,
                                members: node.member.1,
                            });
                            self.spawn(scope, i, &inputs, st, tx.clone(), &stop);
                            keys.insert(i, (key, inputs));
                            running += 1;
                        }
                    }
                }
                if running == 0 {
                    break;
                }
                let Ok(fin) = rx.recv() else { break };
                running -= 1;
                let i = fin.node;
                let keyed = keys.remove(&i).unwrap_or_default();
                halted |= self.land(fin, keyed, req, &stop, st)?;
                queue.settle(p, i);
            }
            Ok(())
        })?;

        // Stages never reached (the build halted): skipped.
        for &i in selected {
            let name = &p.nodes[i].name;
            if p.nodes[i].is_source() || taken[i] || st.statuses.contains_key(name) {
                continue;
            }
            let why = if req.locked {
                Reason::LockedHalted
            } else {
                Reason::Halted
            };
            self.reporter.event(&Event::StageSkipped {
                name: name.clone(),
                reason: why.clone(),
            });
            st.statuses.insert(name.clone(), Status::Skipped(why));
        }
        Ok(())
    }

    /// A stage below a failed or skipped stage is skipped; in a dry run, a stage below one
    /// whose outputs are not known yet may run. Returns whether `i` was settled so.
    fn skip_or_plan(&self, i: usize, st: &mut BuildState, unknown: &mut BTreeSet<usize>) -> bool {
        let p = self.project;
        let node = &p.nodes[i];
        if let Some(&bad) = node.inputs.iter().find(|&&x| {
            matches!(
                st.statuses.get(&p.nodes[x].name),
                Some(Status::Failed(_) | Status::Skipped(_))
            )
        }) {
            let why = Reason::InputFailed {
                input: p.nodes[bad].name.clone(),
            };
            self.reporter.event(&Event::StageSkipped {
                name: node.name.clone(),
                reason: why.clone(),
            });
            st.statuses.insert(node.name.clone(), Status::Skipped(why));
            return true;
        }
        if let Some(&up) = node.inputs.iter().find(|x| unknown.contains(x)) {
            let reason = Reason::InputUnknown {
                input: p.nodes[up].name.clone(),
            };
            self.plan(&mut st.statuses, &node.name, PlanAction::MayRun, reason);
            unknown.insert(i);
            return true;
        }
        false
    }

    /// A stage whose lock entry stands: its outputs in the dataset folder are its files.
    fn keep_fresh(&self, i: usize, entry: StageLock, st: &mut BuildState) {
        let p = self.project;
        let node = &p.nodes[i];
        let out = p.out_path();
        let files = entry
            .outputs
            .iter()
            .map(|f| (crate::lockfile::output_rel(&node.output, &f.path), f))
            .filter(|(rel, _)| !crate::lockfile::is_report(rel))
            .map(|(name, f)| InputFile {
                name,
                path: out.join(&f.path),
            })
            .collect();
        st.done[i] = Some(NodeDone {
            hash: entry.output_hash.clone(),
            files,
        });
        st.figures.insert(
            node.name.clone(),
            (summary_rows(&entry.summary), None, None),
        );
        st.lock.stages.insert(node.name.clone(), entry);
        st.statuses.insert(node.name.clone(), Status::Fresh);
        self.reporter.event(&Event::StageFresh {
            name: node.name.clone(),
        });
    }

    /// Start stage `i` on a thread of `scope`; it sends a [`Finished`] on `tx`. The first input
    /// is the stage's `input`; the others are its auxiliary inputs (a tokenizer…), handed over
    /// apart.
    fn spawn<'scope>(
        &self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        i: usize,
        inputs: &[(String, String)],
        st: &BuildState,
        tx: mpsc::Sender<Finished>,
        stop: &'scope AtomicBool,
    ) where
        'a: 'scope,
    {
        let p: &'a Project = self.project;
        let node = &p.nodes[i];
        let NodeKind::Stage(stage) = &node.kind else {
            unreachable!("only stages run")
        };
        let input_hash = inputs.first().map(|(_, h)| h.clone()).unwrap_or_default();
        let shown_dir = format!("{}/{}", p.out_dir, node.output);
        let files_of = |x: usize| {
            st.done[x]
                .as_ref()
                .map(|d| d.files.clone())
                .unwrap_or_default()
        };
        let input: Vec<InputFile> = node
            .inputs
            .first()
            .map(|&x| files_of(x))
            .unwrap_or_default();
        let aux: Vec<Vec<InputFile>> = node.inputs.iter().skip(1).map(|&x| files_of(x)).collect();
        let input_is_source = node.inputs.first().is_some_and(|&x| p.nodes[x].is_source());
        let reporter: &'a dyn Reporter = self.reporter;
        let store: &'a Store = self.store;
        let stage: &'a dyn Stage = stage.as_ref();
        let name = node.name.clone();
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

    /// Dry run: report what would happen to a stage.
    fn plan(
        &self,
        statuses: &mut BTreeMap<String, Status>,
        name: &str,
        action: PlanAction,
        reason: Reason,
    ) {
        self.reporter.event(&Event::StagePlanned {
            name: name.to_owned(),
            action,
            reason: reason.clone(),
        });
        statuses.insert(name.to_owned(), Status::Planned { action, reason });
    }
}
