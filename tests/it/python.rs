//! The Python interpreter of the interoperability tests (a venv that `bash scripts/test`
//! fills from scripts/requirements-test.txt: `tokenizers`, `pyarrow`, `datasets`, …).
//! A test that needs it fails, never skips, when it is missing.

use std::path::Path;
use std::process::Output;

/// The interpreter named by MLDATA_TEST_PYTHON.
pub(crate) fn python() -> String {
    std::env::var("MLDATA_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "MLDATA_TEST_PYTHON is not set: run the suite with `bash scripts/test`, which installs the Python packages the interoperability tests check against"
        )
    })
}

/// Run `code` (a Python program) with `args`, offline, in `cwd`; panics with its stderr when
/// it fails, and returns its output.
pub(crate) fn run_python(cwd: &Path, code: &str, args: &[&str]) -> Output {
    let py = python();
    let out = std::process::Command::new(&py)
        .current_dir(cwd)
        .arg("-c")
        .arg(code)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HOME", cwd.join(".hf-home"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// [`run_python`], with stdout parsed as JSON.
pub(crate) fn python_json(cwd: &Path, code: &str, args: &[&str]) -> serde_json::Value {
    let out = run_python(cwd, code, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
