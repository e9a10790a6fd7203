//! `mldatabuild status` and `mldatabuild why`: a dry run, rendered per stage.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use crate::cli::{StatusArgs, WhyArgs};
use crate::dirty::PlanAction;
use crate::error::{Error, Result};
use crate::executor::{BuildRequest, Executor, Status};
use crate::report::{Event, Reporter};
use crate::settings::Settings;

/// Keeps events instead of printing them.
#[derive(Default)]
pub(crate) struct Collect(pub Mutex<Vec<Event>>);

impl Reporter for Collect {
    fn event(&self, event: &Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event.clone());
        }
    }
}

/// Plan a build without running anything: stage name → (kind, status).
pub(crate) fn plan(
    settings: &Settings,
    targets: Vec<String>,
) -> Result<(crate::spec::Project, BTreeMap<String, Status>, Vec<Event>)> {
    let mut project = super::load_project(settings)?;
    let old = super::read_lock(&project)?;
    project
        .pin_seeds(old.as_ref(), None)
        .map_err(crate::error::Error::user)?;
    let store = super::open_store()?;
    let mut stat = super::stat_cache(settings);
    let collect = Collect::default();
    let mut ex = Executor {
        project: &project,
        store: &store,
        stat: &mut stat,
        old: old.as_ref(),
        reporter: &collect,
        lock_path: None,
    };
    let req = BuildRequest {
        targets,
        dry_run: true,
        jobs: 1,
        use_run_cache: true,
        ..BuildRequest::default()
    };
    let outcome = ex.build(&req)?;
    let events = collect.0.into_inner().unwrap_or_default();
    Ok((project, outcome.statuses, events))
}

fn describe(s: &Status) -> (&'static str, String) {
    match s {
        Status::Fresh => ("fresh", String::new()),
        Status::Planned {
            action: PlanAction::Restore,
            reason,
        } => ("stale", format!("{reason} (restorable)")),
        Status::Planned {
            action: PlanAction::MayRun,
            reason,
        } => ("maybe", reason.to_string()),
        Status::Planned { reason, .. } => ("stale", reason.to_string()),
        other => (other.label(), String::new()),
    }
}

pub(crate) fn status(settings: &Settings, args: &StatusArgs) -> Result<u8> {
    let (project, statuses, events) = plan(settings, Vec::new())?;
    let mut out = std::io::stdout().lock();
    let rows: Vec<(String, String, &'static str, String)> = project
        .nodes
        .iter()
        .filter(|n| !n.is_source())
        .map(|n| {
            let (state, reason) = statuses
                .get(&n.name)
                .map_or(("unknown", String::new()), describe);
            (n.name.clone(), n.kind_name().to_owned(), state, reason)
        })
        .collect();
    if args.json {
        let sources: Vec<serde_json::Value> = events
            .iter()
            .filter_map(|e| match e {
                Event::SourceHashed {
                    name, files, bytes, ..
                } => Some(serde_json::json!({"name": name, "files": files, "bytes": bytes})),
                _ => None,
            })
            .collect();
        let stages: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, kind, state, reason)| serde_json::json!({"name": name, "kind": kind, "state": state, "reason": reason}))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({"dataset": project.name, "sources": sources, "stages": stages})
        );
        return Ok(0);
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
    for (name, kind, state, reason) in &rows {
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!("  {reason}")
        };
        let _ = writeln!(out, "{name:<w$}  {kind:<10} {state:<6}{reason}");
    }
    let stale = rows.iter().filter(|r| r.2 != "fresh").count();
    let _ = writeln!(
        out,
        "{}",
        if stale == 0 {
            format!("{} is up to date", project.name)
        } else {
            format!("{stale} of {} stages need work", rows.len())
        }
    );
    Ok(0)
}

pub(crate) fn why(settings: &Settings, args: &WhyArgs) -> Result<u8> {
    let (project, statuses, _) = plan(settings, vec![args.stage.clone()])?;
    let members: Vec<&crate::spec::Node> = project
        .nodes
        .iter()
        .filter(|n| n.name == args.stage || n.group == args.stage)
        .collect();
    let mut out = std::io::stdout().lock();
    for n in members {
        let line = match statuses.get(&n.name) {
            Some(Status::Fresh) => format!(
                "{}: fresh (its action key and outputs match the lock)",
                n.name
            ),
            Some(Status::Planned {
                action: PlanAction::Restore,
                reason,
            }) => {
                format!(
                    "{}: {reason}; a build restores it from the run cache",
                    n.name
                )
            }
            Some(Status::Planned { reason, .. }) => format!("{}: {reason}", n.name),
            Some(other) => format!("{}: {}", n.name, other.label()),
            None => return Err(Error::failure(format!("`{}` was not planned", n.name))),
        };
        let _ = writeln!(out, "{line}");
    }
    Ok(0)
}
