//! DVC 3 pointer files for the dataset folder, computed without DVC: what `dvc add <folder>`
//! writes.
//!
//! DVC hashes a folder as the MD5 of its `.dir` listing, with `.dir` appended: the listing is
//! Python's `json.dumps(entries, sort_keys=True)` of `[{"md5": <file md5>, "relpath": <path>},
//! …]`, sorted by path (`dvc_data.hashfile.tree.Tree.as_bytes`). Files are hashed as they are
//! (DVC 3's `md5`, not DVC 2's `md5-dos2unix`). DVC always leaves out `.git`, `.hg` and `.dvc`
//! folders and `.git` files; rules in `.dvcignore` files are not applied here.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use md5::{Digest, Md5};

use crate::statcache::hex;

/// The pointer of one folder: what `dvc add` records in `outs:`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirHash {
    /// `<hex>.dir`.
    pub md5: String,
    /// Total bytes of the files.
    pub size: u64,
    pub nfiles: u64,
}

/// Names DVC never tracks, at any depth (its built-in ignore patterns).
fn always_ignored(name: &str, is_dir: bool) -> bool {
    name == ".git" || (is_dir && (name == ".hg" || name == ".dvc"))
}

/// Hash `dir` the way DVC 3 does.
pub fn hash_dir(dir: &Path) -> Result<DirHash, String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut size = 0u64;
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !always_ignored(
                &e.file_name().to_string_lossy(),
                e.file_type().is_dir() || (e.path_is_symlink() && e.path().is_dir()),
            )
        });
    for entry in walk {
        let entry = entry.map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
        let path = entry.path();
        if entry.file_type().is_dir() || path.is_dir() {
            continue;
        }
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let mut parts = Vec::new();
        for c in rel.components() {
            let part = c.as_os_str().to_str().ok_or_else(|| {
                format!(
                    "`{}`: the file name is not UTF-8, which DVC cannot record",
                    path.display()
                )
            })?;
            parts.push(part);
        }
        let (md5, len) = md5_file(path)?;
        size += len;
        entries.push((parts.join("/"), md5));
    }
    entries.sort();
    let listing = listing_json(&entries);
    let mut md5 = hex(&Md5::digest(listing.as_bytes()));
    md5.push_str(".dir");
    Ok(DirHash {
        md5,
        size,
        nfiles: entries.len() as u64,
    })
}

/// The MD5 (hex) and length of a file's bytes.
fn md5_file(path: &Path) -> Result<(String, u64), String> {
    let err = |e: std::io::Error| format!("cannot read `{}`: {e}", path.display());
    let mut f = std::fs::File::open(path).map_err(err)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.finalize()), len))
}

/// DVC's `.dir` listing of `(relpath, md5)` pairs (already sorted by path), as Python's
/// `json.dumps(…, sort_keys=True)` writes it: `", "` and `": "` separators, non-ASCII escaped.
pub fn listing_json(entries: &[(String, String)]) -> String {
    let mut s = String::from("[");
    for (i, (rel, md5)) in entries.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str("{\"md5\": ");
        python_json_str(&mut s, md5);
        s.push_str(", \"relpath\": ");
        python_json_str(&mut s, rel);
        s.push('}');
    }
    s.push(']');
    s
}

/// A JSON string as Python's `json.dumps` (with its default `ensure_ascii=True`) writes it:
/// everything outside printable ASCII as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs).
fn python_json_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// The `.dvc` file `dvc add` writes for a folder named `name` (next to the file).
pub fn pointer_file(hash: &DirHash, name: &str) -> String {
    format!(
        "outs:\n- md5: {}\n  size: {}\n  nfiles: {}\n  hash: md5\n  path: {}\n",
        hash.md5,
        hash.size,
        hash.nfiles,
        yaml_scalar(name)
    )
}

/// A folder name as a YAML scalar: plain when that reads back as the same string, else
/// double-quoted.
fn yaml_scalar(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !name.starts_with(['-', '.'])
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        )
        && name.parse::<f64>().is_err();
    if plain {
        name.to_owned()
    } else {
        serde_json::to_string(name).unwrap_or_default()
    }
}

/// `existing` (a `.gitignore`'s text, or `None`) with `/name` added, as `dvc add` does;
/// `None` when the folder is already listed.
pub fn gitignore_with(existing: Option<&str>, name: &str) -> Option<String> {
    let line = format!("/{name}");
    let text = existing.unwrap_or_default();
    if text.lines().any(|l| {
        let l = l.trim();
        l == line || l.strip_suffix('/') == Some(line.as_str())
    }) {
        return None;
    }
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&line);
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_matches_python_json_dumps() {
        let entries = vec![
            ("a/b.txt".to_owned(), "00ff".to_owned()),
            ("naïve \"q\"\\😀\u{7f}".to_owned(), "11".to_owned()),
        ];
        assert_eq!(
            listing_json(&entries),
            r#"[{"md5": "00ff", "relpath": "a/b.txt"}, {"md5": "11", "relpath": "na\u00efve \"q\"\\\ud83d\ude00\u007f"}]"#
        );
        assert_eq!(listing_json(&[]), "[]");
    }

    #[test]
    fn hashes_a_folder_like_dvc() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        std::fs::write(dir.path().join("sub/b"), "hello\n").unwrap();
        std::fs::write(dir.path().join("a"), "").unwrap();
        let h = hash_dir(dir.path()).unwrap();
        assert_eq!((h.size, h.nfiles), (6, 2));
        // md5("") and md5("hello\n"), in DVC's listing, hashed again.
        let listing = r#"[{"md5": "d41d8cd98f00b204e9800998ecf8427e", "relpath": "a"}, {"md5": "b1946ac92492d2347c6235b4d2611184", "relpath": "sub/b"}]"#;
        assert_eq!(h.md5, format!("{}.dir", hex(&Md5::digest(listing))));
    }

    #[test]
    fn pointer_and_gitignore() {
        let h = DirHash {
            md5: "ab.dir".into(),
            size: 3,
            nfiles: 1,
        };
        assert_eq!(
            pointer_file(&h, "demo"),
            "outs:\n- md5: ab.dir\n  size: 3\n  nfiles: 1\n  hash: md5\n  path: demo\n"
        );
        assert!(pointer_file(&h, "yes").ends_with("path: \"yes\"\n"));
        assert_eq!(gitignore_with(None, "demo").as_deref(), Some("/demo\n"));
        assert_eq!(
            gitignore_with(Some("*.tmp"), "demo").as_deref(),
            Some("*.tmp\n/demo\n")
        );
        assert_eq!(gitignore_with(Some("x\n/demo\n"), "demo"), None);
        assert_eq!(gitignore_with(Some("/demo/\n"), "demo"), None);
    }
}
