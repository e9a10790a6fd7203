//! Git LFS rules for the dataset folder: one `.gitattributes` line per large-file extension
//! present, scoped to the folder (`out/demo/**/*.parquet filter=lfs diff=lfs merge=lfs -text`,
//! the attributes `git lfs track` writes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name endings stored through LFS: binary tables, tensors, archives, compressed text.
/// The longest ending that matches a file's name wins (`x.jsonl.gz` is `jsonl.gz`).
pub const LARGE_EXTENSIONS: &[&str] = &[
    "arrow",
    "bin",
    "csv.gz",
    "feather",
    "h5",
    "hdf5",
    "idx",
    "json.gz",
    "jsonl.gz",
    "jsonl.zst",
    "npy",
    "npz",
    "parquet",
    "pt",
    "safetensors",
    "tar",
    "tar.gz",
    "tfrecord",
    "tfrecords",
    "zip",
];

/// The attributes of an LFS-tracked pattern.
pub const LFS_ATTRS: &str = "filter=lfs diff=lfs merge=lfs -text";

/// The large-file ending of a file name, if it has one.
pub fn large_extension(file_name: &str) -> Option<&'static str> {
    LARGE_EXTENSIONS
        .iter()
        .filter(|e| {
            file_name
                .strip_suffix(**e)
                .and_then(|stem| stem.strip_suffix('.'))
                .is_some_and(|stem| !stem.is_empty())
        })
        .max_by_key(|e| e.len())
        .copied()
}

/// The large-file endings present in `dir`, each with one file having it (relative to `dir`,
/// `/`-separated), sorted by ending.
pub fn extensions_in(dir: &Path) -> Result<BTreeMap<&'static str, String>, String> {
    let mut found = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
        if entry.file_type().is_dir() {
            continue;
        }
        if let Some(ext) = large_extension(&entry.file_name().to_string_lossy()) {
            let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            found.entry(ext).or_insert_with(|| rel.join("/"));
        }
    }
    Ok(found)
}

/// A folder path (relative to the repository root, `/`-separated) as a literal gitattributes
/// pattern: glob characters escaped, white space as `[[:space:]]` (as `git lfs track` does).
fn escape(folder: &str) -> String {
    let mut s = String::with_capacity(folder.len());
    for c in folder.chars() {
        match c {
            '*' | '?' | '[' | ']' | '\\' | '!' | '#' => {
                s.push('\\');
                s.push(c);
            }
            c if c.is_whitespace() => s.push_str("[[:space:]]"),
            c => s.push(c),
        }
    }
    s
}

/// The pattern for files ending in `.ext` anywhere under `folder` (relative to the repository
/// root; empty for the root itself).
pub fn pattern(folder: &str, ext: &str) -> String {
    if folder.is_empty() {
        format!("*.{ext}")
    } else {
        format!("{}/**/*.{ext}", escape(folder))
    }
}

/// The `.gitattributes` line tracking `pattern` with LFS.
pub fn line(pattern: &str) -> String {
    format!("{pattern} {LFS_ATTRS}")
}

/// Whether `text` has a line for exactly `pattern` that sets `filter=lfs`.
pub fn has_rule(text: &str, pattern: &str) -> bool {
    text.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(pattern) && words.any(|w| w == "filter=lfs")
    })
}

/// `existing` (the `.gitattributes` text, or `None`) with `lines` appended.
pub fn append(existing: Option<&str>, lines: &[String]) -> String {
    let mut out = existing.unwrap_or_default().to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Whether Git LFS is installed: `git lfs version` succeeds. The error says what ran and what
/// it printed.
pub fn check_installed() -> Result<String, String> {
    match std::process::Command::new("git")
        .args(["lfs", "version"])
        .output()
    {
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().next().unwrap_or("").trim();
            Err(format!("`git lfs version` failed: {first}"))
        }
        Err(e) => Err(format!("cannot run `git lfs version`: {e}")),
    }
}

/// The repository holding `dir`, its root folder, and `dir` relative to that root
/// (`/`-separated; empty when `dir` is the root).
pub fn locate(dir: &Path) -> Result<(git2::Repository, PathBuf, String), String> {
    let repo = git2::Repository::discover(dir).map_err(|e| e.message().to_owned())?;
    let root = repo
        .workdir()
        .ok_or("the repository is bare: it has no working tree")?
        .to_path_buf();
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rel = abs.strip_prefix(&root).map_err(|_| {
        format!(
            "`{}` is outside the repository's working tree `{}`",
            abs.display(),
            root.display()
        )
    })?;
    let rel: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok((repo, root, rel.join("/")))
}

/// Whether the repository's attributes (any `.gitattributes`, `.git/info/attributes`) already
/// send `path` (relative to the root) through LFS.
pub fn tracked_by_lfs(repo: &git2::Repository, path: &str) -> bool {
    repo.get_attr(
        Path::new(path),
        "filter",
        git2::AttrCheckFlags::FILE_THEN_INDEX,
    )
    .ok()
    .flatten()
        == Some("lfs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_ending_wins() {
        assert_eq!(large_extension("train.parquet"), Some("parquet"));
        assert_eq!(large_extension("part.jsonl.gz"), Some("jsonl.gz"));
        assert_eq!(large_extension("shard-0.tar.gz"), Some("tar.gz"));
        assert_eq!(large_extension("train.jsonl"), None);
        assert_eq!(large_extension(".parquet"), None);
        assert_eq!(large_extension("xparquet"), None);
    }

    #[test]
    fn patterns_and_lines() {
        assert_eq!(pattern("out/demo", "parquet"), "out/demo/**/*.parquet");
        assert_eq!(pattern("", "bin"), "*.bin");
        assert_eq!(
            pattern("my data/v[1]", "tar"),
            "my[[:space:]]data/v\\[1\\]/**/*.tar"
        );
        assert_eq!(
            line("out/demo/**/*.idx"),
            "out/demo/**/*.idx filter=lfs diff=lfs merge=lfs -text"
        );
        let text = "out/demo/**/*.idx filter=lfs diff=lfs merge=lfs -text\n*.png binary\n";
        assert!(has_rule(text, "out/demo/**/*.idx"));
        assert!(!has_rule(text, "*.png"));
        assert_eq!(append(Some("a"), &["b".into()]), "a\nb\n");
        assert_eq!(append(None, &["b".into()]), "b\n");
    }
}
