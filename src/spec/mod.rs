//! `dataset.yaml`: the typed model, the loader and the resolver into a project graph.

pub mod edit;
pub mod error;
pub mod graph;
pub mod load;
pub mod model;
pub mod resolve;

pub use error::{SourceFile, SpecError};
pub use resolve::{Node, NodeKind, Project, SourceDef};
