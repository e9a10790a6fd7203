//! mldatabuild: a declarative, content-hashed build system for machine-learning datasets.
//!
//! See docs/ARCHITECTURE.md for the map of this crate.

mod civil;
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
    end_on_closed_pipe();
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

/// While set, a write to a closed pipe (SIGPIPE) ends the process with SIGPIPE's default
/// action; `with_pipe_errors` clears it around writes to a child process's pipe.
static SIGPIPE_ENDS: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
    std::sync::OnceLock::new();

/// Make a write to a closed stdout or stderr end the process quietly, as `cat` and `git` do:
/// `mldatabuild completions bash | head -1`, `mldatabuild dag | head`, or a build whose
/// `--json` reader went away, die by SIGPIPE (a shell shows status 141) with nothing printed.
///
/// Rust starts every program with SIGPIPE ignored, so such a write returns `EPIPE` instead,
/// and `println!`, `eprintln!` and clap_complete's writer panic on it ("failed printing to
/// stdout: Broken pipe"). Restoring the default action for the whole process covers every
/// print, in every thread (the reporters' included), rather than each call site having to
/// handle `BrokenPipe`. Like SIGINT's (`end_on_ctrl_c`) it is installed through signal-hook,
/// which runs the default action from a handler, so the crate needs no `unsafe`; the
/// handler's condition lets `with_pipe_errors` turn it off where a closed pipe is no reason
/// to stop. Network writes never raise SIGPIPE (the standard library sends with
/// `MSG_NOSIGNAL`), and a build killed this way is whole-or-absent as after a Ctrl-C.
fn end_on_closed_pipe() {
    let flag =
        SIGPIPE_ENDS.get_or_init(|| std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)));
    // SIGPIPE can be caught, so registering cannot fail.
    let _ = signal_hook::flag::register_conditional_default(
        signal_hook::consts::SIGPIPE,
        std::sync::Arc::clone(flag),
    );
}

/// Run `f` with SIGPIPE turned back into an `EPIPE` error, for writes to a child process's
/// stdin (`auth login` handing a credential to `secret-tool`): a helper that exits before
/// reading must be an error the caller handles (here: fall back to the credentials file), not
/// a silent end of mldatabuild. The flag is process-wide, so only call this where no other
/// thread prints.
pub fn with_pipe_errors<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(Option<(&'static std::sync::atomic::AtomicBool, bool)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some((flag, before)) = self.0 {
                flag.store(before, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
    let _restore = Restore(SIGPIPE_ENDS.get().map(|flag| {
        let flag: &'static std::sync::atomic::AtomicBool = flag;
        (flag, flag.swap(false, std::sync::atomic::Ordering::SeqCst))
    }));
    f()
}
