//! The single integration-test binary. Tests drive the real `mldatabuild` binary through
//! `TestContext`, except `fuzz`, which calls the spec loader in-process.

mod context;

mod build;
mod codecs;
mod commands;
mod conformance;
mod conformance_text;
mod defects_a;
mod diff_detailed;
mod docs;
mod errors;
mod examples;
mod export;
mod export_hf;
mod export_tf;
mod feather1;
mod fetch;
mod fetch_kaggle;
mod fetch_openml;
mod fuzz;
mod gc;
mod head;
mod hostile;
mod lockfile;
mod media;
mod mock;
mod mock_kaggle;
mod mock_openml;
mod normalize;
mod pipes;
mod pull;
mod python;
mod readers;
mod release;
mod schema;
mod split;
mod tokenize;
mod trust;
mod validate;
