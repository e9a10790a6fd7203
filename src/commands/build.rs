//! `mldatabuild build`.

use crate::cli::BuildArgs;
use crate::error::{Error, Result};
use crate::executor::{BuildRequest, Executor};
use crate::report::human::HumanReporter;
use crate::report::json::JsonReporter;
use crate::report::{Event, Reporter};
use crate::settings::Settings;
use crate::spec::resolve::SeedOrigin;

pub(crate) fn build(settings: &Settings, args: &BuildArgs) -> Result<u8> {
    let (code, outcome) = build_outcome(settings, args)?;
    if args.register_checksums && code == 0 {
        register_checksums(settings, &outcome.lock)?;
        // Record the edited spec's hash in the lock (nothing else changes).
        let again = BuildArgs {
            register_checksums: false,
            ..args.clone()
        };
        let quiet = Settings {
            verbosity: crate::report::human::Verbosity::Quiet,
            ..settings.clone()
        };
        return build_outcome(&quiet, &again).map(|(code, _)| code);
    }
    Ok(code)
}

/// Pin every `https://` source of the spec that has no `sha256:` to the content it fetched.
fn register_checksums(settings: &Settings, lock: &crate::lockfile::Lock) -> Result<()> {
    let (file, spec) = crate::spec::load::load_file(&settings.spec_file, &settings.spec_display)?;
    let pins: std::collections::BTreeMap<String, String> = lock
        .sources
        .iter()
        .filter(|(name, _)| {
            spec.sources
                .get(*name)
                .is_some_and(|s| s.value.sha256.is_none())
        })
        .filter_map(|(name, s)| {
            s.revision
                .as_deref()
                .and_then(|r| r.strip_prefix("sha256:"))
                .map(|h| (name.clone(), h.to_owned()))
        })
        .collect();
    if pins.is_empty() {
        eprintln!("No checksums to register: every https:// source is pinned already.");
        return Ok(());
    }
    let text = crate::spec::edit::pin_sources(&file, &spec, &pins);
    crate::lockfile::write_atomic(&settings.spec_file, &text)
        .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", settings.spec_display)))?;
    for (name, sha) in &pins {
        eprintln!("Registered sha256 of source {name}: {sha}");
    }
    Ok(())
}

/// Build, and return the exit code with what happened to each stage.
pub(crate) fn build_outcome(
    settings: &Settings,
    args: &BuildArgs,
) -> Result<(u8, crate::executor::BuildOutcome)> {
    let mut project = super::load_project(settings)?;
    let _guard = if args.dry_run {
        None
    } else {
        Some(super::project_lock(settings)?)
    };
    let old = super::read_lock(&project)?;
    let pinned = project
        .pin_seeds(old.as_ref(), args.seed)
        .map_err(Error::user)?;
    let store = super::open_store()?;
    let mut stat = super::stat_cache(settings);
    let jobs = Settings::jobs(args.jobs);
    super::init_threads(jobs);
    let reporter: Box<dyn Reporter> = if args.json {
        Box::new(JsonReporter)
    } else {
        Box::new(HumanReporter::new(settings.verbosity, settings.progress))
    };
    for (stage, seed, origin) in pinned {
        match origin {
            SeedOrigin::Drawn => reporter.event(&Event::SeedDrawn { stage, seed }),
            SeedOrigin::CommandLine | SeedOrigin::Lock => {}
        }
    }
    let mut ex = Executor {
        project: &project,
        store: &store,
        stat: &mut stat,
        old: old.as_ref(),
        reporter: reporter.as_ref(),
        lock_path: Some(project.lock_path()),
    };
    let req = BuildRequest {
        targets: args.stages.clone(),
        force: args.force,
        dry_run: args.dry_run,
        keep_going: args.keep_going,
        locked: args.locked,
        frozen: args.frozen,
        jobs,
        use_run_cache: !args.no_run_cache,
        fetch: crate::fetch::FetchOptions {
            offline: args.offline || crate::fetch::FetchOptions::offline_from_env(),
            refresh: args.refresh,
            no_cache: args.no_cache,
        },
    };
    let outcome = ex.build(&req)?;
    if !args.dry_run {
        // `gc` keeps what this project's lock references.
        store.register_project(&project.root, &project.lock_path());
    }
    if !outcome.locked_violations.is_empty() {
        let list: Vec<String> = outcome
            .locked_violations
            .iter()
            .map(|v| format!("  - {v}"))
            .collect();
        return Err(Error::locked(format!(
            "`{}` is out of date and --locked was given:\n{}",
            lock_display(&project),
            list.join("\n")
        ))
        .hint("run `mldatabuild build` without --locked and commit the updated lockfile"));
    }
    let failed = outcome.failed();
    if !failed.is_empty() {
        return Err(Error::failure(format!(
            "{} stage{} failed: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        ))
        .hint("the lockfile keeps every stage that finished; fix the error and build again"));
    }
    if outcome
        .statuses
        .values()
        .any(|s| matches!(s, crate::executor::Status::Skipped(_)))
    {
        return Ok((crate::error::EXIT_FAILURE, outcome));
    }
    Ok((0, outcome))
}

fn lock_display(project: &crate::spec::Project) -> String {
    crate::spec::resolve::lock_name(&project.spec_path)
}
