//! `TestContext`: a temporary project folder and store, and the real binary run inside them.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) struct TestContext {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub(crate) struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub(crate) fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub(crate) fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub(crate) fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stderr\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub(crate) fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}",
            self.stdout
        );
        self
    }

    /// JSON Lines events from `--json`.
    pub(crate) fn events(&self) -> Vec<mldatabuild::report::Event> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event {l}: {e}")))
            .collect()
    }
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

impl TestContext {
    pub(crate) fn new() -> Self {
        TestContext {
            dir: tempfile::tempdir().expect("temp dir"),
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn home(&self) -> &Path {
        self.home.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file (parent folders created).
    pub(crate) fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    pub(crate) fn spec(&self, yaml: &str) -> &Self {
        self.file("dataset.yaml", yaml)
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub(crate) fn read_bytes(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mldatabuild"));
        c.args(args)
            .current_dir(self.root())
            .env("MLDATA_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run mldatabuild");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: self.filter(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.filter(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// Replace temporary paths and timings so output can be compared as text.
    pub(crate) fn filter(&self, s: &str) -> String {
        let mut s = s
            .replace(&self.root().display().to_string(), "[ROOT]")
            .replace(&self.home().display().to_string(), "[HOME]");
        let time = regex_lite_time(&s);
        s = time;
        s
    }

    /// A small CSV: `n` rows of id, text, label.
    pub(crate) fn csv(&self, rel: &str, n: usize) -> &Self {
        let mut s = String::from("id,text,label\n");
        for i in 0..n {
            s.push_str(&format!("{i},row number {i},{}\n", i % 3));
        }
        self.file(rel, s)
    }
}

/// `0.01s` → `[TIME]s`, `peak 20 MB` → `peak [MB] MB` (no regex dependency).
fn regex_lite_time(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // digits '.' digits 's'
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                if j < chars.len()
                    && chars[j] == 's'
                    && !chars.get(j + 1).is_some_and(|c| c.is_alphanumeric())
                {
                    out.push_str("[TIME]");
                    i = j;
                    continue;
                }
            }
            out.extend(&chars[start..i]);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out.replace("peak ", "peak ~")
}
