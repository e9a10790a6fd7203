//! Fuzz the lockfile reader: any text as `dataset.lock` (and any JSON as a run-cache record)
//! must be refused or give values that stay inside their folders — never a panic, and never a
//! path that leaves the dataset folder or a hash that names something outside the store.

#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use mldatabuild::lockfile::{Lock, output_path};
use mldatabuild::store::RunRecord;
use mldatabuild::trust::join_beneath;

/// A joined path must be the root plus normal components only.
fn beneath(root: &Path, rel: &str) {
    if let Ok(p) = join_beneath(root, rel) {
        let rest = p.strip_prefix(root).expect("joined path leaves its root");
        assert!(
            rest.components().all(|c| matches!(c, Component::Normal(_))),
            "{rel:?} joins to {p:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let root = Path::new("/fuzz/out");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(lock) = Lock::parse(text, "dataset.lock") {
            for st in lock.stages.values() {
                beneath(root, &st.output);
                for f in &st.outputs {
                    let _ = join_beneath(root, &f.path).expect("a checked lock path is refused");
                    beneath(root, &f.path);
                }
            }
        }
    }
    if let Ok(rec) = serde_json::from_slice::<RunRecord>(data)
        && rec.check(&rec.key.clone()).is_ok()
    {
        for f in &rec.outputs {
            beneath(root, &output_path("stage", &f.path));
            let store = mldatabuild::store::Store {
                root: "/fuzz/store".into(),
            };
            let object = store.object_path(&f.sha256);
            assert!(object.starts_with("/fuzz/store/objects-v1/sha256/"));
            assert!(!object.to_string_lossy().contains(".."));
        }
    }
});
