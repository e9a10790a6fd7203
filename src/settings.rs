//! Global flags and the environment resolved into typed settings before any command runs.

use std::path::{Path, PathBuf};

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::report::human::Verbosity;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The folder commands run in (`-C`).
    pub cwd: PathBuf,
    /// The spec file, absolute.
    pub spec_file: PathBuf,
    /// The spec as named to the user (relative to `cwd` when possible).
    pub spec_display: String,
    pub verbosity: Verbosity,
    pub progress: bool,
}

impl Settings {
    pub fn resolve(g: &GlobalArgs) -> Result<Settings> {
        let base = std::env::current_dir()
            .map_err(|e| Error::user(format!("cannot read the current folder: {e}")))?;
        let cwd = match &g.directory {
            Some(d) => {
                let d = base.join(d);
                if !d.is_dir() {
                    return Err(Error::user(format!("`-C {}`: no such folder", d.display())));
                }
                d
            }
            None => base,
        };
        let file = g
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("dataset.yaml"));
        let spec_file = cwd.join(&file);
        let spec_display = file.to_string_lossy().into_owned();
        let verbosity = if g.quiet {
            Verbosity::Quiet
        } else if g.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        Ok(Settings {
            cwd,
            spec_file,
            spec_display,
            verbosity,
            progress: !g.no_progress,
        })
    }

    /// The folder of the spec: relative paths in it resolve against this.
    pub fn root(&self) -> PathBuf {
        self.spec_file
            .parent()
            .map_or_else(|| self.cwd.clone(), Path::to_path_buf)
    }

    /// The project's local state folder (stat cache).
    pub fn state_dir(&self) -> PathBuf {
        self.root().join(".mldatabuild")
    }

    /// Threads for `--jobs` (default: every core).
    pub fn jobs(jobs: Option<u16>) -> usize {
        jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            usize::from,
        )
    }
}
