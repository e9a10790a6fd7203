//! One file per subcommand; shared helpers for loading a project and its state.

mod adhoc;
mod auth;
mod build;
mod cache;
mod clean;
mod dag;
mod diff;
mod discover;
mod doctor;
mod gc;
mod head;
mod init;
mod rebuild;
pub mod release;
mod schema;
mod status;
mod tokens;
mod verify;

use std::io::Write;
use std::path::Path;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::lockfile::Lock;
use crate::settings::Settings;
use crate::spec::{self, Project};
use crate::statcache::StatCache;
use crate::store::Store;

/// Run a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let settings = Settings::resolve(&cli.global)?;
    match cli.command {
        Command::Build(a) => build::build(&settings, &a),
        Command::Status(a) => status::status(&settings, &a),
        Command::Why(a) => status::why(&settings, &a),
        Command::Rebuild(a) => rebuild::rebuild(&settings, &a),
        Command::Verify(a) => verify::verify(&settings, &a),
        Command::Diff(a) => diff::diff(&settings, &a),
        Command::Clean(a) => clean::clean(&settings, &a),
        Command::Ls(a) => tokens::ls(&settings, &a),
        Command::Rm(a) => tokens::rm(&settings, &a),
        Command::Stats(a) => tokens::stats(&settings, &a),
        Command::Sample(a) => tokens::sample(&settings, &a),
        Command::Head(a) => head::head(&settings, &a),
        Command::Gc(a) => gc::gc(&settings, &a),
        Command::Schema(a) => schema::schema(&settings, &a),
        Command::Init(a) => init::init(&settings, &a),
        Command::Dag(a) => dag::dag(&settings, &a),
        Command::Validate(a) => adhoc::validate(&settings, &a),
        Command::Split(a) => adhoc::split(&settings, &a),
        Command::Export(a) => adhoc::export(&settings, &a),
        Command::Cache(a) => cache::cache(&settings, &a),
        Command::Auth(a) => auth::auth(&settings, &a),
        Command::Doctor => Ok(doctor::doctor(&settings)),
        Command::Search(a) => discover::search(&settings, &a),
        Command::Info(a) => discover::info(&settings, &a),
        Command::Pull(a) => discover::pull(&settings, &a),
        Command::Release(a) => release::release(&settings, &a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "mldatabuild", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// Load and resolve the spec named by the settings.
pub fn load_project(settings: &Settings) -> Result<Project> {
    let (file, spec) = spec::load::load_file(&settings.spec_file, &settings.spec_display)?;
    let spec_path = settings.spec_file.file_name().map_or_else(
        || "dataset.yaml".into(),
        |f| f.to_string_lossy().into_owned(),
    );
    Ok(spec::resolve::resolve(
        &file,
        spec,
        settings.root(),
        spec_path,
    )?)
}

pub fn open_store() -> Result<Store> {
    Store::from_env().map_err(|e| {
        Error::failure(format!("cannot open the store: {e}"))
            .hint("set MLDATA_HOME to a writable folder")
    })
}

pub fn stat_cache(settings: &Settings) -> StatCache {
    StatCache::load(&settings.state_dir().join("stat-cache-v1"))
}

/// Read the project's lockfile, if any.
pub fn read_lock(project: &Project) -> Result<Option<Lock>> {
    let cache = project.root.join(".mldatabuild/lock-cache-v1");
    Ok(Lock::read_cached(&project.lock_path(), &cache)?)
}

/// Read a lockfile or manifest named on the command line.
pub fn read_lock_arg(path: &Path) -> Result<Lock> {
    match Lock::read(path)? {
        Some(l) => Ok(l),
        None => Err(Error::user(format!("`{}`: no such file", path.display()))
            .hint("run `mldatabuild build` first to write dataset.lock, or name a manifest.yaml")),
    }
}

/// Hold the project's build lock (`.mldatabuild/build.lock`) for as long as the guard lives,
/// so two builds of one project never interleave their lockfile writes. Waits when another
/// build holds it.
pub fn project_lock(settings: &Settings) -> Result<std::fs::File> {
    let dir = settings.state_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::failure(format!("cannot create `{}`: {e}", dir.display())))?;
    let path = dir.join("build.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::failure(format!("cannot open `{}`: {e}", path.display())))?;
    if file.try_lock().is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "Waiting for another build of this project to finish…"
        );
        file.lock()
            .map_err(|e| Error::failure(format!("cannot lock `{}`: {e}", path.display())))?;
    }
    Ok(file)
}

/// Configure the global rayon pool once (stage-internal parallelism), and the tokenizer
/// library's own encoding pool to the same size.
pub fn init_threads(jobs: usize) {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build_global();
    crate::tokenizer::set_encode_threads(jobs);
}
