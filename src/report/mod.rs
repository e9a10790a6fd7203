//! Reporters: the same events rendered for people (stderr) or machines (JSON Lines, stdout).

pub mod events;
pub mod human;
pub mod json;
pub mod source;
pub mod tree;

pub use events::{Event, Reporter};
