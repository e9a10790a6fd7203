//! Fuzz the spec loader and resolver: any UTF-8 text as `dataset.yaml` must give a project or
//! an error with a message (and, when it points at the text, a `dataset.yaml:L:C` position that
//! renders) — never a panic, a hang or an out-of-memory.

#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use mldatabuild::spec::{SourceFile, load, resolve};

fuzz_target!(|text: &str| {
    // `load_file` refuses larger files before parsing.
    if text.len() > load::MAX_SPEC_BYTES {
        return;
    }
    let file = SourceFile::new("dataset.yaml", text);
    let result = load::parse(&file).and_then(|spec| {
        resolve::resolve(&file, spec, PathBuf::from("/fuzz"), "dataset.yaml".into())
    });
    match result {
        Ok(project) => {
            for (i, node) in project.nodes.iter().enumerate() {
                assert!(
                    node.inputs.iter().all(|&inp| inp < i),
                    "node `{}` reads a later node",
                    node.name
                );
            }
        }
        Err(err) => {
            assert!(!err.to_string().trim().is_empty(), "empty error message");
            if !err.labels.is_empty() {
                let pos = err.position().expect("an error with labels has a position");
                assert!(pos.starts_with("dataset.yaml:"), "bad position {pos:?}");
            }
            // The same rendering the CLI prints (miette snippet with labels).
            let rendered = mldatabuild::error::Error::from(err).render();
            assert!(rendered.starts_with("error: "));
        }
    }
});
