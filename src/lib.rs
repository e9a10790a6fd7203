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
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = write!(std::io::stderr().lock(), "{}", e.render());
            ExitCode::from(e.code)
        }
    }
}
