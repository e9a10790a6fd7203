//! Every example under examples/ builds, and reproduces its committed lockfile exactly.

use crate::context::TestContext;

#[test]
fn examples_build_and_match_their_committed_locks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("dataset.yaml").exists() {
            continue;
        }
        n += 1;
        let cx = TestContext::new();
        for e in walkdir::WalkDir::new(&dir) {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(&dir).unwrap();
            let top = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            if top == "out" || top == ".mldatabuild" || !e.file_type().is_file() {
                continue;
            }
            cx.file(&rel.to_string_lossy(), std::fs::read(e.path()).unwrap());
        }
        // --locked: the build must reproduce the committed lock exactly.
        cx.run(&["build", "--locked"]).success();
        cx.run(&["verify"]).success();
    }
    assert!(n >= 1, "no examples found");
}
