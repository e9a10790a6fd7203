//! `mldatabuild gc`: collect the store (`$MLDATA_HOME`: stage outputs and run records). It keeps
//! every object that a lock of a project built with this store references (their current
//! `dataset.lock` and their recorded releases), and what was built in the last `--keep-days`;
//! `--max-size` then drops the oldest of the rest. The download cache is `cache gc`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, SystemTime};

use crate::cli::GcArgs;
use crate::error::{Error, Result};
use crate::lockfile::Lock;
use crate::settings::Settings;

/// Objects written this recently are never collected: a build may be about to reference them.
const GRACE: Duration = Duration::from_secs(3600);

pub(crate) fn gc(_settings: &Settings, args: &GcArgs) -> Result<u8> {
    let max_size = args
        .max_size
        .as_deref()
        .map(super::discover::parse_size)
        .transpose()
        .map_err(|e| Error::user(format!("--max-size: {e}")))?;
    let store = super::open_store()?;
    let now = SystemTime::now();
    let keep_for = Duration::from_secs(args.keep_days.saturating_mul(86_400));
    let mut out = std::io::stderr().lock();

    // What the projects' locks reference.
    let mut live_sha: BTreeSet<String> = BTreeSet::new();
    let mut live_keys: BTreeSet<String> = BTreeSet::new();
    let (mut projects, mut stale) = (0usize, Vec::new());
    for (file, p) in store.projects() {
        if !p.lock.is_file() {
            stale.push(file);
            continue;
        }
        projects += 1;
        let mut locks = vec![p.lock.clone()];
        if let Ok(rel) = crate::release::recorded_releases(&p.root.join(".mldatabuild/releases")) {
            locks.extend(rel.into_iter().map(|(_, path)| path));
        }
        for path in locks {
            match Lock::read(&path) {
                Ok(Some(lock)) => {
                    for st in lock.stages.values() {
                        live_keys.insert(st.key.clone());
                        live_sha.extend(st.outputs.iter().map(|f| f.sha256.clone()));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "warning: {e}; what only it references is kept if it was used in the last {} days",
                        args.keep_days
                    );
                }
            }
        }
    }

    // Run records: kept when a lock names their key, or when they are recent.
    let mut records: Vec<(std::path::PathBuf, crate::store::RunRecord, SystemTime)> = store
        .run_files()
        .into_iter()
        .map(|(path, rec)| {
            let at = rec
                .origin
                .as_ref()
                .and_then(|o| humantime::parse_rfc3339(&o.at).ok())
                .or_else(|| std::fs::metadata(&path).and_then(|m| m.modified()).ok())
                .unwrap_or(now);
            (path, rec, at)
        })
        .collect();
    records.sort_by_key(|(_, _, at)| *at);
    let objects = store.objects();
    let size_of: BTreeMap<&str, u64> = objects
        .iter()
        .map(|(_, sha, size, _)| (sha.as_str(), *size))
        .collect();
    let mut refs: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept = vec![false; records.len()];
    for (i, (_, rec, at)) in records.iter().enumerate() {
        let recent = now.duration_since(*at).unwrap_or_default() <= keep_for;
        if live_keys.contains(&rec.key) || recent {
            kept[i] = true;
            for f in &rec.outputs {
                *refs.entry(f.sha256.clone()).or_default() += 1;
            }
        }
    }
    // `--max-size`: drop the oldest records no lock needs until the kept objects fit.
    if let Some(max) = max_size {
        let mut total: u64 = size_of
            .iter()
            .filter(|(sha, _)| live_sha.contains(**sha) || refs.contains_key(**sha))
            .map(|(_, s)| s)
            .sum();
        for (i, (_, rec, _)) in records.iter().enumerate() {
            if total <= max {
                break;
            }
            if !kept[i] || live_keys.contains(&rec.key) {
                continue;
            }
            kept[i] = false;
            for f in &rec.outputs {
                if let Some(n) = refs.get_mut(&f.sha256) {
                    *n -= 1;
                    if *n == 0 {
                        refs.remove(&f.sha256);
                        if !live_sha.contains(&f.sha256) {
                            total = total.saturating_sub(
                                size_of.get(f.sha256.as_str()).copied().unwrap_or(0),
                            );
                        }
                    }
                }
            }
        }
    }

    let doomed_objects: Vec<&(std::path::PathBuf, String, u64, SystemTime)> = objects
        .iter()
        .filter(|(_, sha, _, modified)| {
            !live_sha.contains(sha)
                && !refs.contains_key(sha)
                && now.duration_since(*modified).unwrap_or_default() > GRACE
        })
        .collect();
    let doomed_records: Vec<&std::path::PathBuf> = records
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !**k)
        .map(|((p, _, _), _)| p)
        .collect();
    let freed: u64 = doomed_objects.iter().map(|(_, _, s, _)| s).sum();
    let kept_bytes: u64 = objects.iter().map(|(_, _, s, _)| s).sum::<u64>() - freed;
    if !args.dry_run {
        for (path, ..) in &doomed_objects {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::failure(format!(
                        "cannot remove `{}`: {e}",
                        path.display()
                    )));
                }
            }
        }
        for path in &doomed_records {
            let _ = std::fs::remove_file(path);
        }
        for path in &stale {
            let _ = std::fs::remove_file(path);
        }
        store.clean_abandoned();
    }
    let human = crate::report::human::size;
    let _ = writeln!(
        out,
        "{} {} object{} ({}) and {} run record{}; kept {} object{} ({}): referenced by the locks of {projects} project{}, or built in the last {} day{}",
        if args.dry_run {
            "Would remove"
        } else {
            "Removed"
        },
        doomed_objects.len(),
        if doomed_objects.len() == 1 { "" } else { "s" },
        human(freed),
        doomed_records.len(),
        if doomed_records.len() == 1 { "" } else { "s" },
        objects.len() - doomed_objects.len(),
        if objects.len() - doomed_objects.len() == 1 {
            ""
        } else {
            "s"
        },
        human(kept_bytes),
        if projects == 1 { "" } else { "s" },
        args.keep_days,
        if args.keep_days == 1 { "" } else { "s" },
    );
    if !stale.is_empty() {
        let _ = writeln!(
            out,
            "{} {} project{} whose lockfile is gone",
            if args.dry_run {
                "Would forget"
            } else {
                "Forgot"
            },
            stale.len(),
            if stale.len() == 1 { "" } else { "s" }
        );
    }
    Ok(0)
}
