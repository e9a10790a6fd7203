//! mldatabuild: a declarative, content-hashed build system for machine-learning datasets.
//!
//! See docs/ARCHITECTURE.md for the map of this crate.

pub mod cli;
pub mod commands;
pub mod dirty;
pub mod error;
pub mod executor;
pub mod fetch;
pub mod fingerprint;
pub mod lockfile;
pub mod release;
pub mod report;
pub mod schema;
pub mod settings;
pub mod source;
pub mod spec;
pub mod stages;
pub mod statcache;
pub mod store;
pub mod tokenizer;
pub mod trust;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Entry point of the binary: parse arguments, run the command, print any error, exit.
pub fn main() -> ExitCode {
    end_on_ctrl_c();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = write!(std::io::stderr().lock(), "{}", e.render());
            ExitCode::from(e.code)
        }
    }
}

/// Make a Ctrl-C (SIGINT) end the process at once with SIGINT's default action, whatever
/// disposition it inherited: a shell reports it as exit status 130, and a script or loop
/// running the command stops too.
///
/// The default action was all mldatabuild relied on, but a process started with SIGINT
/// ignored keeps it ignored: a non-interactive shell ignores SIGINT in every command it starts
/// in the background with `&` (POSIX), and the ignore is inherited through `cargo`, a test
/// binary and `Command::spawn` down to here. Such a build swallowed every Ctrl-C and ran to
/// its end with exit 0. Installing a handler that runs the default action (signal-hook's
/// async-signal-safe emulation: restore `SIG_DFL`, unblock, raise) makes Ctrl-C end it in
/// every phase: resolving, downloading, hashing, running stages, writing the lock.
///
/// Ending at once, rather than setting a flag for the code to notice, is what keeps a
/// Ctrl-C from being swallowed (no phase can fail to check a flag) and from being
/// half-recorded: everything a build records is written under a temporary name and renamed
/// into place (downloaded blobs after verification, a snapshot's manifest last, store
/// objects, dataset-folder files, `dataset.lock` and `manifest.yaml`), so whatever instant
/// the process dies at, each record is either complete or absent. Partial downloads are
/// kept on purpose (the next build resumes them); temporary folders it leaves are never read.
fn end_on_ctrl_c() {
    // Registering can only fail for a signal that cannot be caught; SIGINT can be.
    let _ = signal_hook::flag::register_conditional_default(
        signal_hook::consts::SIGINT,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
    );
}
