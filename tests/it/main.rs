//! The single integration-test binary: every test drives the real `mldatabuild` binary.

mod context;

mod build;
mod commands;
mod errors;
mod examples;
mod fuzz;
mod lockfile;
mod normalize;
mod schema;
