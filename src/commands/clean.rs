//! `mldatabuild clean`.

use std::io::Write;

use crate::cli::CleanArgs;
use crate::error::{Error, Result};
use crate::settings::Settings;

pub(crate) fn clean(settings: &Settings, args: &CleanArgs) -> Result<u8> {
    let project = super::load_project(settings)?;
    // A build in progress would finish "successfully" with its outputs gone: wait for it. The
    // lock file itself stays, so a build started meanwhile waits for this clean in turn.
    let _guard = super::project_lock(settings)?;
    let mut removed = Vec::new();
    let out = project.out_path();
    let rm_dir = |p: &std::path::Path| -> Result<bool> {
        if p.exists() {
            std::fs::remove_dir_all(p)
                .map_err(|e| Error::failure(format!("cannot remove `{}`: {e}", p.display())))?;
            return Ok(true);
        }
        Ok(false)
    };
    if rm_dir(&out)? {
        removed.push(project.out_dir.clone());
    }
    // The recorded releases (`mldatabuild release`) are history, not build state: kept.
    let state = settings.state_dir();
    let mut state_removed = false;
    if let Ok(entries) = std::fs::read_dir(&state) {
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name() == "releases" || e.file_name() == "build.lock" {
                continue;
            }
            let r = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|err| Error::failure(format!("cannot remove `{}`: {err}", p.display())))?;
            state_removed = true;
        }
    }
    if state_removed {
        removed.push(if state.join("releases").exists() {
            ".mldatabuild/ (recorded releases kept)".into()
        } else {
            ".mldatabuild/ (its build lock kept)".into()
        });
    }
    if args.lock {
        let lock = project.lock_path();
        if lock.exists() {
            std::fs::remove_file(&lock)
                .map_err(|e| Error::failure(format!("cannot remove `{}`: {e}", lock.display())))?;
            removed.push(crate::spec::resolve::lock_name(&project.spec_path));
        }
    }
    let msg = if removed.is_empty() {
        "Nothing to clean".to_owned()
    } else {
        format!("Removed {}", removed.join(", "))
    };
    let _ = writeln!(std::io::stderr(), "{msg}");
    Ok(0)
}
