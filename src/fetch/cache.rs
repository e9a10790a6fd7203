//! The download cache, `$MLDATA_HOME/cache` (default `~/.mldata/cache`).
//!
//! ```text
//! cache/blobs/ab/cdef…            verified file contents, named by SHA-256, read-only
//! cache/partial/<id>.part         an interrupted download, resumed with Range
//! cache/partial/<id>.etag         the ETag it was started with (a change restarts it)
//! cache/snapshots/<key>/…         one fetched source: its files (hard links to blobs)
//! cache/snapshots/<key>/.mldata-snapshot.json   its manifest, written last (= complete)
//! cache/locks/<name>.lock         advisory locks: concurrent builds fetch a file once
//! cache/stat-cache-v1             what `pull` last found the snapshots' files to hash to
//! ```
//!
//! `key` = SHA-256 of (URI, resolved revision, file selection). A snapshot is used only when its
//! manifest exists; its files are hashed again (through the stat cache) by the source, or by
//! `pull` before it links them into a folder, and a mismatch makes the fetcher drop the snapshot
//! and fetch again. Folders `pull` fills hold hard links to the blobs (read-only), which is why
//! nothing here trusts a blob unchecked.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::FetchError;

pub const MANIFEST: &str = ".mldata-snapshot.json";

/// What a complete snapshot holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub uri: String,
    pub revision: String,
    pub files: Vec<CachedFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// `MLDATA_CACHE_DIR`, else `$MLDATA_HOME/cache`, else `~/.mldata/cache`. When that cannot
    /// be written, `$TMPDIR/mldatabuild-cache-<uid>` stands in and `warning` says so.
    pub fn open() -> (Cache, Option<String>) {
        let root = std::env::var_os("MLDATA_CACHE_DIR")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("MLDATA_HOME")
                    .filter(|p| !p.is_empty())
                    .map(|p| PathBuf::from(p).join("cache"))
            })
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".mldata/cache")))
            .unwrap_or_else(|| PathBuf::from(".mldata-cache"));
        match Self::at(&root) {
            Ok(c) => (c, None),
            Err(e) => {
                // A shared folder under the system's temporary directory: reused by later runs
                // (so they do not download again), never growing one folder per run.
                let uid = unix_uid();
                let fallback = std::env::temp_dir().join(format!("mldatabuild-cache-{uid}"));
                let warning = format!(
                    "the cache folder `{}` is not writable ({e}); using `{}` for this run",
                    root.display(),
                    fallback.display()
                );
                let cache = Self::at(&fallback).unwrap_or(Cache { root: fallback });
                (cache, Some(warning))
            }
        }
    }

    pub fn at(root: &Path) -> io::Result<Cache> {
        for d in ["blobs", "partial", "snapshots", "locks", "tmp"] {
            fs::create_dir_all(root.join(d))?;
        }
        // Writable? (a read-only mount passes create_dir_all when the folders exist)
        let probe = root
            .join("tmp")
            .join(format!(".probe-{}", std::process::id()));
        fs::write(&probe, b"")?;
        let _ = fs::remove_file(&probe);
        Ok(Cache {
            root: root.to_owned(),
        })
    }

    /// Where the blob with this SHA-256 lives; any other value names a file that cannot exist
    /// (a hash from a manifest or a server never becomes a path).
    pub fn blob(&self, sha256: &str) -> PathBuf {
        if !crate::trust::is_sha256(sha256) {
            return self.root.join("blobs").join("not-a-sha256");
        }
        let (a, b) = sha256.split_at(2);
        self.root.join("blobs").join(a).join(b)
    }

    pub fn partial(&self, id: &str) -> PathBuf {
        self.root.join("partial").join(format!("{id}.part"))
    }

    pub fn snapshot(&self, key: &str) -> PathBuf {
        self.root.join("snapshots").join(key)
    }

    /// A complete snapshot's manifest, or `None`.
    pub fn manifest(&self, key: &str) -> Option<Manifest> {
        let text = fs::read_to_string(self.snapshot(key).join(MANIFEST)).ok()?;
        let m: Manifest = serde_json::from_str(&text).ok()?;
        // Other users of the cache folder may have written it: a name that leaves the snapshot
        // or a hash that is not one makes it a miss (the source is fetched again).
        m.files
            .iter()
            .all(|f| {
                crate::trust::check_relative(&f.path).is_ok() && crate::trust::is_sha256(&f.sha256)
            })
            .then_some(m)
    }

    /// The stat cache of the snapshots' files (`cache/stat-cache-v1`): a file checked against
    /// its manifest is not read again until it changes.
    pub fn stat_cache(&self) -> crate::statcache::StatCache {
        crate::statcache::StatCache::load(&self.root.join("stat-cache-v1"))
    }

    /// Mark a snapshot as used now (least-recently-used eviction reads this).
    pub fn touch(&self, key: &str) {
        let p = self.snapshot(key).join(MANIFEST);
        if let Ok(f) = fs::File::options().append(true).open(&p) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Remove a snapshot (damaged, or `--no-cache`).
    pub fn remove_snapshot(&self, key: &str) {
        let dir = self.snapshot(key);
        let _ = fs::remove_file(dir.join(MANIFEST));
        let _ = fs::remove_dir_all(dir);
    }

    /// Hold an exclusive advisory lock named `name` until the returned file is dropped; waits
    /// for another process holding it (`waiting` is called once if so).
    pub fn lock(&self, name: &str, waiting: impl FnOnce()) -> Result<fs::File, FetchError> {
        lock_path(
            &self.root.join("locks").join(format!("{name}.lock")),
            waiting,
        )
    }

    /// Lock a partial download by the file itself (created empty when missing), so a
    /// download creates one file, not also a lock file beside it.
    pub fn lock_partial(&self, part: &Path) -> Result<fs::File, FetchError> {
        lock_path(part, || {})
    }

    /// Move a verified download into the blobs (read-only), returning its path.
    pub fn store_blob(&self, file: &Path, sha256: &str) -> io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dest = self.blob(sha256);
        if let Some(d) = dest.parent() {
            fs::create_dir_all(d)?;
        }
        fs::set_permissions(file, fs::Permissions::from_mode(0o444))?;
        fs::rename(file, &dest)?;
        Ok(dest)
    }

    /// Publish a snapshot: `files` (path inside the source → blob) hard-linked (or copied)
    /// into a temporary folder, the manifest written last, then renamed into place.
    pub fn publish(&self, key: &str, manifest: &Manifest) -> Result<PathBuf, FetchError> {
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{key}-{}", std::process::id()));
        let err = |e: io::Error| FetchError::new(format!("cannot write the cache: {e}"));
        let _ = fs::remove_dir_all(&tmp);
        for f in &manifest.files {
            // File names come from a server's listing: one that would leave the snapshot
            // (`../../.bashrc`, `/etc/x`) is refused before anything is written.
            let dest = crate::trust::join_beneath(&tmp, &f.path).map_err(|e| {
                FetchError::new(format!("the source lists a file whose name {e}"))
                    .hint("the server's file listing is not one mldatabuild can store safely")
            })?;
            if let Some(d) = dest.parent() {
                fs::create_dir_all(d).map_err(err)?;
            }
            let blob = self.blob(&f.sha256);
            if fs::hard_link(&blob, &dest).is_err() {
                fs::copy(&blob, &dest).map_err(err)?;
            }
        }
        fs::create_dir_all(&tmp).map_err(err)?;
        let text =
            serde_json::to_string_pretty(manifest).map_err(|e| FetchError::new(e.to_string()))?;
        fs::write(tmp.join(MANIFEST), text).map_err(err)?;
        let dest = self.snapshot(key);
        let _ = fs::remove_dir_all(&dest);
        fs::rename(&tmp, &dest).map_err(err)?;
        Ok(dest)
    }

    /// Bytes used by the cache (blobs and partial downloads; snapshots are links to blobs).
    pub fn size(&self) -> u64 {
        ["blobs", "partial"]
            .iter()
            .flat_map(|d| walkdir::WalkDir::new(self.root.join(d)))
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

/// A snapshot as `cache ls` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub key: String,
    pub uri: String,
    pub revision: String,
    pub files: usize,
    pub bytes: u64,
    /// Seconds since the Unix epoch it was last used.
    pub last_used: u64,
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub snapshots_removed: usize,
    pub blobs_removed: usize,
    pub partial_removed: usize,
    pub bytes_freed: u64,
    pub bytes_left: u64,
}

impl Cache {
    /// Every complete snapshot, most recently used first.
    pub fn snapshots(&self) -> Vec<SnapshotInfo> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(self.root.join("snapshots")) else {
            return out;
        };
        for e in dir.flatten() {
            let key = e.file_name().to_string_lossy().into_owned();
            let Some(m) = self.manifest(&key) else {
                continue;
            };
            let last_used = fs::metadata(self.snapshot(&key).join(MANIFEST))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            out.push(SnapshotInfo {
                key,
                // Redacted again: a snapshot written before passwords were kept out of
                // the cache still has one.
                uri: super::http::redact(&m.uri),
                revision: m.revision.clone(),
                files: m.files.len(),
                bytes: m.files.iter().map(|f| f.size).sum(),
                last_used,
            });
        }
        out.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.key.cmp(&b.key)));
        out
    }

    /// Evict least-recently-used snapshots until the cache holds at most `max_bytes`, then
    /// remove blobs no snapshot uses and partial downloads older than a week (or all of them
    /// with `max_bytes == 0`). Never touches snapshots in `keep`.
    pub fn gc(&self, max_bytes: u64, keep: &[String]) -> GcReport {
        let mut report = GcReport::default();
        let before = self.size();
        let mut snaps = self.snapshots();
        let mut used = before;
        // Oldest first.
        snaps.reverse();
        let mut kept: Vec<SnapshotInfo> = Vec::new();
        for s in snaps {
            if (used > max_bytes || max_bytes == 0) && !keep.contains(&s.key) {
                self.remove_snapshot(&s.key);
                report.snapshots_removed += 1;
                used = used.saturating_sub(s.bytes);
            } else {
                kept.push(s);
            }
        }
        let mut live = std::collections::HashSet::new();
        for s in &kept {
            if let Some(m) = self.manifest(&s.key) {
                live.extend(m.files.into_iter().map(|f| f.sha256));
            }
        }
        for e in walkdir::WalkDir::new(self.root.join("blobs"))
            .into_iter()
            .flatten()
        {
            if !e.file_type().is_file() {
                continue;
            }
            let rel = e
                .path()
                .strip_prefix(self.root.join("blobs"))
                .map(|p| p.to_string_lossy().replace('/', ""))
                .unwrap_or_default();
            if !live.contains(&rel) && fs::remove_file(e.path()).is_ok() {
                report.blobs_removed += 1;
            }
        }
        let week = std::time::Duration::from_secs(7 * 24 * 3600);
        for e in fs::read_dir(self.root.join("partial"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > week);
            if (old || max_bytes == 0) && fs::remove_file(e.path()).is_ok() {
                report.partial_removed += 1;
            }
        }
        report.bytes_left = self.size();
        report.bytes_freed = before.saturating_sub(report.bytes_left);
        report
    }

    /// Remove everything.
    pub fn clear(&self) -> io::Result<u64> {
        let before = self.size();
        for d in ["blobs", "partial", "snapshots", "tmp"] {
            let p = self.root.join(d);
            if p.exists() {
                // Blobs are read-only files in writable folders: removal works.
                fs::remove_dir_all(&p)?;
            }
            fs::create_dir_all(&p)?;
        }
        Ok(before)
    }
}

/// `cache.max_size_gb` from `$MLDATA_HOME/config.yaml` (or `MLDATA_CACHE_MAX_GB`), in bytes.
pub fn max_size_from_config() -> Option<u64> {
    let gb = std::env::var("MLDATA_CACHE_MAX_GB")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .or_else(|| {
            let home = std::env::var_os("MLDATA_HOME")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".mldata")))?;
            let text = fs::read_to_string(home.join("config.yaml")).ok()?;
            let v: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
            v["cache"]["max_size_gb"].as_f64()
        })?;
    (gb.is_finite() && gb >= 0.0).then_some((gb * 1e9) as u64)
}

/// The real user id of this process (from `/proc/self`), for a per-user fallback folder.
fn unix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// The cache key of a fetched source.
pub fn key(uri: &str, revision: &str, selection: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"mldatabuild-cache-v1\0");
    h.update(uri.as_bytes());
    h.update(b"\0");
    h.update(revision.as_bytes());
    h.update(b"\0");
    h.update(selection.as_bytes());
    crate::statcache::hex(&h.finalize())
}

/// Open (creating it when missing, never truncating) and lock a file; `waiting` runs first when
/// another process holds the lock.
fn lock_path(path: &Path, waiting: impl FnOnce()) -> Result<fs::File, FetchError> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| FetchError::new(format!("cannot open `{}`: {e}", path.display())))?;
    if f.try_lock().is_err() {
        waiting();
        f.lock()
            .map_err(|e| FetchError::new(format!("cannot lock `{}`: {e}", path.display())))?;
    }
    Ok(f)
}

/// A name for a partial download (no path characters).
pub fn partial_id(url_or_sha: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(url_or_sha.as_bytes());
    crate::statcache::hex(&h.finalize())[..32].to_owned()
}
