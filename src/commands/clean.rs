//! `mldatabuild clean`.

use std::io::Write;

use crate::cli::CleanArgs;
use crate::error::{Error, Result};
use crate::settings::Settings;

pub(crate) fn clean(settings: &Settings, args: &CleanArgs) -> Result<u8> {
    let project = super::load_project(settings)?;
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
    if rm_dir(&settings.state_dir())? {
        removed.push(".mldatabuild/".into());
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
