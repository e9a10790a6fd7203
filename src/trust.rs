//! Untrusted files. Every file mldatabuild did not just write itself is input from someone else:
//! a `dataset.lock` or `manifest.yaml` received for an audit, a run-cache record in a store
//! shared with teammates, the project's local caches (`.mldatabuild/`), archives. This module
//! holds the checks that every such value passes before it is used (docs/trust.md):
//!
//! - paths: relative, normalized (no `..`, `.`, empty segments, control characters), and
//!   reached without passing through a symbolic link below the folder they are relative to;
//! - hashes: the exact form mldatabuild writes (`b3:` + 64 hex digits, 64 hex digits of SHA-256),
//!   so that a hash can never become a path (store objects are named by their SHA-256);
//! - the tables behind a record: row counts and schemas claimed by a lock entry or run record
//!   are compared with the Parquet footers of the files they describe;
//! - the local caches are sealed with a per-user key kept in the store
//!   (`$MLDATA_HOME/local-key-v1`, mode 0600), so a cache edited by hand or copied from another
//!   machine is ignored instead of being copied into a lock.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The longest path a lock or record may name.
const MAX_PATH_BYTES: usize = 4096;

/// What is wrong with a path read from an untrusted file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    #[error("is empty")]
    Empty,
    #[error("is an absolute path")]
    Absolute,
    #[error("climbs out of its folder with `..`")]
    Parent,
    #[error("is not normalized (an empty or `.` segment)")]
    NotNormal,
    #[error("contains a control character")]
    Control,
    #[error("is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("goes through the symbolic link `{0}`")]
    Symlink(String),
    #[error("is not under `{0}/`")]
    Outside(String),
}

/// A path from an untrusted file that mldatabuild refuses to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` {problem}")]
pub struct UnsafePath {
    pub path: String,
    pub problem: PathProblem,
}

/// Check that `p` is a normalized relative path: `a/b/c`, no leading `/`, no `..`, `.` or empty
/// segments, no control characters.
pub fn check_relative(p: &str) -> Result<(), UnsafePath> {
    let fail = |problem| {
        Err(UnsafePath {
            path: p.chars().take(200).collect(),
            problem,
        })
    };
    if p.is_empty() {
        return fail(PathProblem::Empty);
    }
    if p.len() > MAX_PATH_BYTES {
        return fail(PathProblem::TooLong);
    }
    if p.starts_with('/') {
        return fail(PathProblem::Absolute);
    }
    if p.chars().any(char::is_control) {
        return fail(PathProblem::Control);
    }
    for seg in p.split('/') {
        match seg {
            ".." => return fail(PathProblem::Parent),
            "" | "." => return fail(PathProblem::NotNormal),
            _ => {}
        }
    }
    Ok(())
}

/// `root/rel` for writing or deleting: `rel` is checked with [`check_relative`], and no folder
/// between `root` and the file is a symbolic link (a link planted inside the dataset folder
/// would otherwise carry a write or a delete outside it). `root` itself may be a link: it is the
/// user's choice of where the dataset lives. The last component is not followed by the callers
/// (`rename` replaces a link, `remove_file` removes the link), so it may be anything.
pub fn join_beneath(root: &Path, rel: &str) -> Result<PathBuf, UnsafePath> {
    check_relative(rel)?;
    let mut at = root.to_path_buf();
    let mut shown = String::new();
    let segs: Vec<&str> = rel.split('/').collect();
    for seg in &segs[..segs.len() - 1] {
        at.push(seg);
        if !shown.is_empty() {
            shown.push('/');
        }
        shown.push_str(seg);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(UnsafePath {
                    path: rel.to_owned(),
                    problem: PathProblem::Symlink(shown),
                });
            }
            // A missing folder is created later by the writer, as a real folder.
            Ok(_) | Err(_) => {}
        }
    }
    at.push(segs[segs.len() - 1]);
    Ok(at)
}

/// Whether `s` is a SHA-256 as mldatabuild writes it: 64 lowercase hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `s` is a BLAKE3 hash as mldatabuild writes it: `b3:` and 64 lowercase hex digits.
pub fn is_b3(s: &str) -> bool {
    s.strip_prefix("b3:").is_some_and(is_sha256)
}

/// The first `n` characters of a hash (or any text) for messages; never splits a character.
pub fn short(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// `text` with the password of every `scheme://user:password@host` in it replaced by as many
/// `*` as it has bytes, so that byte offsets into the text (error spans) stay valid.
pub fn mask_url_passwords(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.as_bytes().to_vec();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(k) = text[i..].find("://") {
        let start = i + k + 3;
        let end = b[start..]
            .iter()
            .position(|c| {
                matches!(
                    c,
                    b'/' | b'?' | b'#' | b'"' | b'\'' | b',' | b'}' | b']' | b'<' | b'>'
                ) || c.is_ascii_whitespace()
            })
            .map_or(b.len(), |e| start + e);
        if let Some(at) = b[start..end].iter().rposition(|&c| c == b'@')
            && let Some(colon) = b[start..start + at].iter().position(|&c| c == b':')
        {
            for c in &mut out[start + colon + 1..start + at] {
                *c = b'*';
            }
        }
        i = end.max(start);
    }
    // Only ASCII bytes inside a password were replaced by ASCII, or whole multi-byte
    // characters by as many `*`: still UTF-8.
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

// ---- the local key ------------------------------------------------------------------------

/// The per-user key that seals the project's local caches, read from the store; `None` while
/// the store has none (then no local cache is trusted or written). [`ensure_local_key`], called
/// when the store is opened for writing, creates it.
fn local_key() -> Option<&'static [u8; 32]> {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    if let Some(k) = KEY.get() {
        return Some(k);
    }
    let root = crate::store::Store::default_root().ok()?;
    let key = read_key(&root.join(KEY_FILE))?;
    Some(KEY.get_or_init(|| key))
}

const KEY_FILE: &str = "local-key-v1";

fn read_key(p: &Path) -> Option<[u8; 32]> {
    let mut b = [0u8; 32];
    let mut f = std::fs::File::open(p).ok()?;
    f.read_exact(&mut b).ok()?;
    Some(b)
}

/// Create the store's local key if it has none (32 random bytes, mode 0600).
pub fn ensure_local_key(root: &Path) {
    let _ = load_or_create_key(root);
}

fn load_or_create_key(root: &Path) -> Option<[u8; 32]> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(KEY_FILE);
    if let Some(k) = read_key(&path) {
        return Some(k);
    }
    std::fs::create_dir_all(root).ok()?;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .ok()?;
    // Written under a temporary name and linked into place, so two processes creating it at
    // once agree on one key (the loser reads the winner's).
    let tmp = root.join(format!(".local-key-{}-{}", std::process::id(), unique()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(&key)?;
            f.sync_all()
        });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Some(key),
        Err(_) => read_key(&path),
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The keyed BLAKE3 of `domain` and `body`.
fn mac(key: &[u8; 32], domain: &str, body: &[u8]) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(domain.as_bytes());
    h.update(&[0]);
    h.update(body);
    h.finalize()
}

/// The seal of a local cache's body: a keyed BLAKE3 of `domain` and `body`, in hex; `None`
/// without a local key.
pub fn seal(domain: &str, body: &[u8]) -> Option<String> {
    Some(mac(local_key()?, domain, body).to_hex().to_string())
}

/// Whether `seal` is the seal of `body` (compared in constant time).
pub fn sealed(domain: &str, body: &[u8], seal: &str) -> bool {
    match (local_key(), blake3::Hash::from_hex(seal)) {
        (Some(key), Ok(given)) => mac(key, domain, body) == given,
        _ => false,
    }
}

// ---- claims about tables --------------------------------------------------------------------

/// The row count and schema (column name, type name) in a Parquet file's footer; `None` when
/// the file is not Parquet or cannot be read.
pub fn parquet_footer(path: &Path) -> Option<(u64, Vec<(String, String)>)> {
    let file = std::fs::File::open(path).ok()?;
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).ok()?;
    let cols = builder
        .schema()
        .fields()
        .iter()
        .map(|f| {
            (
                f.name().clone(),
                crate::stages::table::type_name(f.data_type()),
            )
        })
        .collect();
    Some((rows, cols))
}

/// One output file of a stage, as a lock entry or run record describes it.
pub struct Claimed<'a> {
    /// The name inside the stage (`part-0.parquet`, `@reports/x.json`).
    pub name: &'a str,
    /// Where its bytes are (a store object or a dataset-folder file), already verified by hash.
    pub file: PathBuf,
    pub rows: Option<u64>,
}

/// Problems between what a stage's record claims (per-file row counts, `summary.rows`,
/// `summary.schema`) and the Parquet footers of its files. Only `.parquet` files are read. A
/// summary with a `schema` describes the table at the top of the stage's folder (the table
/// downstream stages read): its `rows` must be that table's row count and its columns that
/// table's names and types.
pub fn table_claims(
    files: &[Claimed<'_>],
    summary: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut top_rows = 0u64;
    let mut top_schema: Option<Vec<(String, String)>> = None;
    let mut tops = 0usize;
    for f in files {
        if !Path::new(f.name)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
            || crate::lockfile::is_report(f.name)
        {
            continue;
        }
        let Some((rows, schema)) = parquet_footer(&f.file) else {
            if f.rows.is_some() {
                problems.push(format!("`{}` is not a readable Parquet file", f.name));
            }
            continue;
        };
        if let Some(claimed) = f.rows
            && claimed != rows
        {
            problems.push(format!(
                "`{}` has {rows} rows, but {claimed} are recorded",
                f.name
            ));
        }
        if !f.name.contains('/') && f.rows.is_some() {
            tops += 1;
            top_rows += rows;
            if top_schema.is_none() {
                top_schema = Some(schema);
            }
        }
    }
    // Kinds whose summary describes their table (normalize, validate, split) record its
    // schema there; the others' `rows` counts something else (a tokenizer's input rows).
    if tops == 0 || !summary.contains_key("schema") {
        return problems;
    }
    if let Some(claimed) = summary.get("rows").and_then(serde_json::Value::as_u64)
        && claimed != top_rows
    {
        problems.push(format!(
            "summary.rows is {claimed}, but its tables hold {top_rows} rows"
        ));
    }
    if let (Some(schema), Some(cols)) = (
        top_schema,
        summary.get("schema").and_then(serde_json::Value::as_array),
    ) {
        let claimed: Vec<(String, String)> = cols
            .iter()
            .map(|c| {
                let s = |k: &str| {
                    c.get(k)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (s("name"), s("type"))
            })
            .collect();
        if claimed != schema {
            let first = claimed
                .iter()
                .zip(&schema)
                .find(|(a, b)| a != b)
                .map_or_else(
                    || {
                        format!(
                            "{} columns recorded, {} in the table",
                            claimed.len(),
                            schema.len()
                        )
                    },
                    |(a, b)| {
                        format!(
                            "column `{}` is recorded as {} but the table has `{}` {}",
                            a.0, a.1, b.0, b.1
                        )
                    },
                );
            problems.push(format!("summary.schema differs from its tables: {first}"));
        }
    }
    problems
}

/// [`table_claims`] for a lock entry whose files are in the dataset folder `out`.
pub fn entry_claims(out: &Path, st: &crate::lockfile::StageLock) -> Vec<String> {
    let names = st.output_names();
    let claimed: Vec<Claimed<'_>> = st
        .outputs
        .iter()
        .zip(&names)
        .map(|(f, n)| Claimed {
            name: n,
            file: out.join(&f.path),
            rows: f.rows,
        })
        .collect();
    table_claims(&claimed, &st.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn relative_paths() {
        for ok in [
            "a",
            "a/b.parquet",
            "reports/x.json",
            "a b/ü.csv",
            "..a/b..",
            ".hidden",
        ] {
            assert_eq!(check_relative(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", PathProblem::Empty),
            ("/etc/passwd", PathProblem::Absolute),
            ("../x", PathProblem::Parent),
            ("a/../../x", PathProblem::Parent),
            ("a//b", PathProblem::NotNormal),
            ("a/./b", PathProblem::NotNormal),
            ("a/", PathProblem::NotNormal),
            ("a\nb", PathProblem::Control),
            ("a\0b", PathProblem::Control),
        ];
        for (p, want) in bad {
            assert_eq!(check_relative(p).map_err(|e| e.problem), Err(want), "{p:?}");
        }
    }

    #[test]
    fn url_passwords_are_masked_in_place() {
        let t = "uri: \"https://u:s3cr3t@h:1/x?t=1\", b: http://h/p, c: ftp://a:é@b";
        let m = mask_url_passwords(t);
        assert_eq!(m.len(), t.len());
        assert!(!m.contains("s3cr3t") && !m.contains('é'), "{m}");
        assert!(
            m.contains("https://u:******@h:1/x?t=1") && m.contains("http://h/p"),
            "{m}"
        );
        assert_eq!(mask_url_passwords("no urls"), "no urls");
    }

    #[test]
    fn hashes() {
        let h = "a".repeat(64);
        assert!(is_sha256(&h));
        assert!(is_b3(&format!("b3:{h}")));
        assert!(!is_sha256(&"A".repeat(64)));
        assert!(!is_sha256("../../etc/passwd"));
        assert!(!is_sha256(&"é".repeat(32)));
        assert!(!is_b3(&h));
        assert_eq!(short("ééé", 2), "éé");
        assert_eq!(short("ab", 12), "ab");
    }

    #[test]
    fn links_below_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("link")).unwrap();
        assert!(join_beneath(&root, "real/x").is_ok());
        assert!(join_beneath(&root, "missing/x").is_ok());
        let e = join_beneath(&root, "link/x").unwrap_err();
        assert_eq!(e.problem, PathProblem::Symlink("link".into()));
        // The last component is the caller's to handle (rename/remove do not follow it).
        assert!(join_beneath(&root, "link").is_ok());
    }

    /// A server's file listing is untrusted: a snapshot naming `../x` is refused before
    /// anything is written, and a manifest on disk naming one is a cache miss.
    #[test]
    fn the_download_cache_never_publishes_outside_a_snapshot() {
        use crate::fetch::cache::{Cache, CachedFile, Manifest};
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::at(&dir.path().join("cache")).unwrap();
        let file = dir.path().join("download");
        std::fs::write(&file, b"x").unwrap();
        let sha = crate::statcache::sha256_file(&file).unwrap();
        cache.store_blob(&file, &sha).unwrap();
        for name in ["../../../escaped", "/tmp/escaped-abs", "a/../../../escaped"] {
            let m = Manifest {
                uri: "hf://datasets/evil/repo".into(),
                revision: "0".repeat(40),
                files: vec![CachedFile {
                    path: name.into(),
                    size: 1,
                    sha256: sha.clone(),
                }],
            };
            let e = cache.publish("k", &m).unwrap_err();
            assert!(
                e.message.contains("the source lists a file whose name"),
                "{}",
                e.message
            );
            assert!(!dir.path().join("escaped").exists());
        }
        // A manifest written by someone else with such a name is not used.
        let snap = cache.snapshot("forged");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(
            snap.join(crate::fetch::cache::MANIFEST),
            format!(r#"{{"uri":"x","revision":"r","files":[{{"path":"../../x","size":1,"sha256":"{sha}"}}]}}"#),
        )
        .unwrap();
        assert!(cache.manifest("forged").is_none());
        assert_eq!(
            cache.blob("../../x"),
            dir.path().join("cache/blobs/not-a-sha256")
        );
    }

    proptest! {
        /// Whatever a checked path is, joining it never leaves the root.
        #[test]
        fn checked_paths_stay_beneath(segs in proptest::collection::vec("(\\.\\.|\\.|[a-z]{0,3}|/|é)", 1..6)) {
            let p = segs.join("/");
            if check_relative(&p).is_ok() {
                let root = Path::new("/r");
                let joined = root.join(&p);
                let mut depth = 0i32;
                for c in joined.strip_prefix(root).unwrap().components() {
                    match c {
                        std::path::Component::Normal(_) => depth += 1,
                        _ => prop_assert!(false, "{p:?} has {c:?}"),
                    }
                }
                prop_assert!(depth >= 1);
            }
        }
    }
}
