//! The persisted stat cache: (dev, inode, size, mtime_ns, ctime_ns) → SHA-256, so unchanged files
//! are never read twice. ctime is in the key because (inode, mtime, size) is not enough: a file
//! extracted with a fixed mtime and moved over another keeps all three (the Bazel lesson).
//!
//! Entries for files modified within [`RACY_NS`] of being hashed are not trusted: a write in the
//! same timestamp tick could go unseen (git's "racily clean" rule).
//!
//! The file is sealed with the local key (a keyed BLAKE3 on its second line): a cache edited by
//! hand or copied from elsewhere is ignored whole, so it can never put a hash into a lock that
//! the file does not have. Entries whose hash is not a SHA-256 are dropped.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

const MAGIC: &str = "mldatabuild-stat-cache-v2";
/// The seal domain of the cache's body ([`crate::trust::seal`]).
const SEAL_DOMAIN: &str = "mldatabuild stat-cache v2";
const RACY_NS: i128 = 2_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(m: &Metadata) -> Self {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

/// Hex SHA-256 and size of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    entries: HashMap<PathBuf, (Stamp, String)>,
    dirty: bool,
    /// Files actually read and hashed (cache misses), for reports and benchmarks.
    pub hashed_files: u64,
    pub hashed_bytes: u64,
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

impl StatCache {
    /// Load the cache at `path`; a missing or unreadable cache is an empty one.
    pub fn load(path: &Path) -> Self {
        let mut cache = StatCache {
            path: Some(path.to_owned()),
            ..StatCache::default()
        };
        let mut text = String::new();
        if std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .is_err()
        {
            return cache;
        }
        let Some(rest) = text.strip_prefix(MAGIC).and_then(|r| r.strip_prefix('\n')) else {
            return cache;
        };
        let Some((mac, body)) = rest.split_once('\n') else {
            return cache;
        };
        if !crate::trust::sealed(SEAL_DOMAIN, body.as_bytes(), mac) {
            return cache;
        }
        cache.entries.reserve(text.len() / 120);
        for line in body.lines() {
            let mut f = line.splitn(7, '\t');
            let mut next = || f.next();
            let parsed = (|| {
                let stamp = Stamp {
                    dev: next()?.parse().ok()?,
                    ino: next()?.parse().ok()?,
                    size: next()?.parse().ok()?,
                    mtime_ns: next()?.parse().ok()?,
                    ctime_ns: next()?.parse().ok()?,
                };
                let hash = next().filter(|h| crate::trust::is_sha256(h))?;
                let path = next()?;
                Some((stamp, hash.to_owned(), PathBuf::from(path)))
            })();
            if let Some((stamp, hash, p)) = parsed {
                cache.entries.insert(p, (stamp, hash));
            }
        }
        cache
    }

    /// An in-memory cache that is never saved.
    pub fn ephemeral() -> Self {
        StatCache::default()
    }

    /// The cached digest of `path` if its stamp is unchanged.
    pub fn lookup(&self, path: &Path, meta: &Metadata) -> Option<FileDigest> {
        let (stamp, hash) = self.entries.get(path)?;
        (*stamp == Stamp::of(meta)).then(|| FileDigest {
            sha256: hash.clone(),
            size: stamp.size,
        })
    }

    /// Record a digest computed from `meta`'s version of the file.
    pub fn record(&mut self, path: &Path, meta: &Metadata, sha256: &str) {
        let stamp = Stamp::of(meta);
        if now_ns() - stamp.mtime_ns < RACY_NS {
            self.entries.remove(path);
            self.dirty = true;
            return;
        }
        let entry = (stamp, sha256.to_owned());
        if self.entries.get(path) != Some(&entry) {
            self.entries.insert(path.to_owned(), entry);
            self.dirty = true;
        }
    }

    /// Record the digest of a file mldatabuild has just written and made read-only, without the
    /// racy-entry rule: its bytes are known, and nothing else writes it.
    pub fn record_known(&mut self, path: &Path, sha256: &str) {
        if let Ok(meta) = std::fs::metadata(path) {
            let entry = (Stamp::of(&meta), sha256.to_owned());
            if self.entries.get(path) != Some(&entry) {
                self.entries.insert(path.to_owned(), entry);
                self.dirty = true;
            }
        }
    }

    /// Digest of a file: from the cache when its stamp is unchanged, else read and hashed.
    pub fn digest(&mut self, path: &Path) -> std::io::Result<FileDigest> {
        let meta = std::fs::metadata(path)?;
        if let Some(d) = self.lookup(path, &meta) {
            return Ok(d);
        }
        let sha = sha256_file(path)?;
        self.hashed_files += 1;
        self.hashed_bytes += meta.len();
        self.record(path, &meta, &sha);
        Ok(FileDigest {
            sha256: sha,
            size: meta.len(),
        })
    }

    /// Write the cache back (atomically) if it changed. Failures are ignored: it is a cache.
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.dirty {
            return;
        }
        let mut out = String::with_capacity(self.entries.len() * 160);
        let mut entries: Vec<_> = self.entries.iter().filter(|(p, _)| p.exists()).collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (p, (s, h)) in entries {
            let Some(ps) = p.to_str() else { continue };
            if ps.contains('\n') {
                continue;
            }
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{h}\t{ps}\n",
                s.dev, s.ino, s.size, s.mtime_ns, s.ctime_ns
            ));
        }
        // Without a local key nothing could be trusted on the next load: keep no cache.
        let Some(mac) = crate::trust::seal(SEAL_DOMAIN, out.as_bytes()) else {
            return;
        };
        let out = format!("{MAGIC}\n{mac}\n{out}");
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
            if let Ok(mut tmp) = tempfile::Builder::new()
                .prefix(&format!(".mldatabuild-tmp-{}-", std::process::id()))
                .tempfile_in(dir)
                && tmp.write_all(out.as_bytes()).is_ok()
                && std::fs::set_permissions(
                    tmp.path(),
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )
                .is_ok()
                && tmp.persist(path).is_ok()
            {
                self.dirty = false;
            }
        }
    }
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of `bytes` (digests in lockfiles, cache keys, DVC files, row dumps). The one
/// hex encoder in the crate: no hex crate is in the dependency tree, and a crate for these
/// eight lines would be a new build for nothing.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl StatCache {
    /// Digests of many files: cache lookups first, then the misses hashed in parallel.
    pub fn digest_many(&mut self, paths: &[PathBuf]) -> Vec<std::io::Result<FileDigest>> {
        use rayon::prelude::*;
        // stat() in parallel: on a warm no-op build over many files it is most of the work.
        let metas: Vec<std::io::Result<Metadata>> = if paths.len() > 256 {
            paths.par_iter().map(std::fs::metadata).collect()
        } else {
            paths.iter().map(std::fs::metadata).collect()
        };
        let mut out: Vec<Option<std::io::Result<FileDigest>>> = Vec::with_capacity(paths.len());
        let mut misses = Vec::new();
        for (i, (p, m)) in paths.iter().zip(metas).enumerate() {
            match m {
                Err(e) => out.push(Some(Err(e))),
                Ok(m) => {
                    if let Some(d) = self.lookup(p, &m) {
                        out.push(Some(Ok(d)));
                    } else {
                        out.push(None);
                        misses.push((i, m));
                    }
                }
            }
        }
        let hashed: Vec<(usize, Metadata, std::io::Result<String>)> = misses
            .into_par_iter()
            .map(|(i, m)| (i, m, sha256_file(&paths[i])))
            .collect();
        for (i, m, r) in hashed {
            out[i] = Some(r.map(|sha| {
                self.hashed_files += 1;
                self.hashed_bytes += m.len();
                self.record(&paths[i], &m, &sha);
                FileDigest {
                    sha256: sha,
                    size: m.len(),
                }
            }));
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(std::io::Error::other("not hashed"))))
            .collect()
    }
}
