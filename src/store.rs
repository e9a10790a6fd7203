//! The global store (`$MLDATA_HOME`, default `~/.mldata`):
//!
//! - `objects-v1/sha256/ab/cdef…`: stage outputs by content, read-only;
//! - `runs-v1/ab/cdef….json`: the run cache, action key → the outputs it produced;
//! - `tmp/`: folders where running stages write, one per run, removed when done;
//! - `projects-v1/<hash>.json`: the projects built with this store (their lockfiles), for `gc`;
//! - `local-key-v1`: the per-user key that seals the projects' local caches (docs/trust.md).
//!
//! Objects are moved in by rename from `tmp/` (same file system), so the store never holds a
//! partial object. Dataset folders get hard links to objects (copies across file systems).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lockfile::FileLock;

/// The size of the `write` calls that put large files on disk (downloads, export files, token
/// `.bin` files): buffered writers flush in pieces of this size.
///
/// On the 2-core VM this project is benchmarked on (Firecracker, Linux 6.18, ext4), the kernel
/// takes far longer to place large writes in the page cache: a 2 GB download written in 1 MiB
/// pieces spent 4.2–8.5 s of system time, in 128 KiB pieces 1.5–2.5 s (curl, writing 16 KiB
/// pieces, 2.7–8.4 s). `benches/fetch/README.md` ("The large file: what it took") has the
/// measurements and `benches/fetch/write_sizes.py` the by-size test.
pub const WRITE_SIZE: usize = 128 << 10;

#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// A run-cache record: what a key produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub key: String,
    pub kind: String,
    /// Outputs with paths relative to the stage's output folder.
    pub outputs: Vec<FileLock>,
    pub output_hash: String,
    pub summary: std::collections::BTreeMap<String, serde_json::Value>,
    /// Which build produced it (for `mldatabuild ls` history); absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<RunOrigin>,
}

/// The dataset, node and parameters of a run, and when it finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOrigin {
    pub dataset: String,
    pub stage: String,
    pub group: String,
    pub params: serde_json::Value,
    /// RFC 3339 UTC.
    pub at: String,
}

impl Store {
    /// The store named by `MLDATA_HOME`, or `~/.mldata`.
    pub fn from_env() -> io::Result<Store> {
        Store::open(Store::default_root()?)
    }

    /// The folder of the store named by `MLDATA_HOME`, or `~/.mldata` (not created).
    pub fn default_root() -> io::Result<PathBuf> {
        Ok(match std::env::var_os("MLDATA_HOME") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                let home = std::env::var_os("HOME")
                    .ok_or_else(|| io::Error::other("neither MLDATA_HOME nor HOME is set"))?;
                PathBuf::from(home).join(".mldata")
            }
        })
    }

    pub fn open(root: PathBuf) -> io::Result<Store> {
        for d in ["objects-v1/sha256", "runs-v1", "tmp"] {
            fs_err::create_dir_all(root.join(d))?;
        }
        crate::trust::ensure_local_key(&root);
        Ok(Store { root })
    }

    /// Where the object with this SHA-256 lives. A value that is not a SHA-256 (64 lowercase
    /// hex digits) never becomes a path: it names a file that cannot exist.
    pub fn object_path(&self, sha256: &str) -> PathBuf {
        let objects = self.root.join("objects-v1/sha256");
        if !crate::trust::is_sha256(sha256) {
            return objects.join("not-a-sha256");
        }
        let (a, b) = sha256.split_at(2);
        objects.join(a).join(b)
    }

    fn run_path(&self, key: &str) -> PathBuf {
        let runs = self.root.join("runs-v1");
        if !crate::trust::is_b3(key) {
            return runs.join("not-a-key.json");
        }
        let (a, b) = key["b3:".len()..].split_at(2);
        runs.join(a).join(format!("{b}.json"))
    }

    /// A fresh folder for one stage run, named after this process so a later run can tell
    /// abandoned folders (their process is gone) from live ones.
    pub fn tmp_dir(&self) -> io::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(&format!("run-{}-", std::process::id()))
            .tempdir_in(self.root.join("tmp"))
    }

    /// Remove folders left in `tmp/` by processes that no longer run (a killed build).
    pub fn clean_abandoned(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("run-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Move a finished file into the store under its SHA-256 (or drop it if already there).
    ///
    /// An existing object is replaced, not trusted: `file` was hashed a moment ago, while the
    /// object on disk may have been damaged since (through a hard link in a dataset folder).
    pub fn insert(&self, file: &Path, sha256: &str) -> io::Result<PathBuf> {
        let dest = self.object_path(sha256);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::set_permissions(file, fs::Permissions::from_mode(0o444))?;
        fs::rename(file, &dest)?;
        Ok(dest)
    }

    /// The run-cache record of `key`: `Ok(None)` when there is none (or an object it names is
    /// gone), `Err` with the reason when the record is damaged or was forged. Records come from
    /// a store other users (and later a remote cache) write into, so every record is checked
    /// ([`RunRecord::check`]) before anything it says is used.
    pub fn lookup_run(&self, key: &str) -> Result<Option<RunRecord>, String> {
        let path = self.run_path(key);
        let Some(text) = read_record(&path)? else {
            return Ok(None);
        };
        let rec: RunRecord =
            serde_json::from_str(&text).map_err(|e| format!("not a run record: {e}"))?;
        rec.check(key)?;
        Ok(rec
            .outputs
            .iter()
            .all(|o| self.object_path(&o.sha256).is_file())
            .then_some(rec))
    }

    /// Every valid record of the run cache (for `ls` history), in no particular order.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.run_files().into_iter().map(|(_, r)| r).collect()
    }

    pub fn record_run(&self, rec: &RunRecord) -> io::Result<()> {
        let path = self.run_path(&rec.key);
        let text = serde_json::to_string_pretty(rec).map_err(io::Error::other)?;
        crate::lockfile::write_atomic(&path, &text).map(|_| ())
    }
}

/// A project built with this store: where its lockfile is (`projects-v1/<hash>.json`). `gc`
/// keeps what the locks of registered projects reference; `ls --all` lists them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// The project folder (absolute).
    pub root: PathBuf,
    /// The lockfile, absolute.
    pub lock: PathBuf,
    /// RFC 3339 UTC time of the last build.
    pub built: String,
}

impl Store {
    /// Remember that the project whose lock is `lock` builds with this store (best effort).
    pub fn register_project(&self, root: &Path, lock: &Path) {
        let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let lock = root.join(lock.file_name().unwrap_or_default());
        let id = blake3::hash(lock.as_os_str().as_encoded_bytes()).to_hex();
        let rec = ProjectRecord {
            root,
            lock,
            built: crate::executor::now_rfc3339(),
        };
        let path = self
            .root
            .join("projects-v1")
            .join(format!("{}.json", &id[..32]));
        if let Ok(text) = serde_json::to_string_pretty(&rec) {
            let _ = crate::lockfile::write_atomic(&path, &text);
        }
    }

    /// The registered projects (records that do not parse are skipped).
    pub fn projects(&self) -> Vec<(PathBuf, ProjectRecord)> {
        let Ok(entries) = fs::read_dir(self.root.join("projects-v1")) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, ProjectRecord)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| {
                let text = read_record(&e.path()).ok().flatten()?;
                Some((e.path(), serde_json::from_str(&text).ok()?))
            })
            .collect();
        out.sort_by(|a, b| a.1.root.cmp(&b.1.root));
        out
    }

    /// Every run record's path with the record (valid ones only).
    pub fn run_files(&self) -> Vec<(PathBuf, RunRecord)> {
        walkdir::WalkDir::new(self.root.join("runs-v1"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                let text = read_record(e.path()).ok().flatten()?;
                let rec: RunRecord = serde_json::from_str(&text).ok()?;
                rec.check(&rec.key).is_ok().then(|| (e.into_path(), rec))
            })
            .collect()
    }

    /// Every object: its path, SHA-256 (from its name), size and modification time.
    pub fn objects(&self) -> Vec<(PathBuf, String, u64, std::time::SystemTime)> {
        walkdir::WalkDir::new(self.root.join("objects-v1/sha256"))
            .min_depth(2)
            .max_depth(2)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                let sha = format!(
                    "{}{}",
                    e.path().parent()?.file_name()?.to_str()?,
                    e.file_name().to_str()?
                );
                let m = e.metadata().ok()?;
                let modified = m.modified().ok()?;
                crate::trust::is_sha256(&sha).then(|| (e.into_path(), sha, m.len(), modified))
            })
            .collect()
    }
}

/// The largest run-cache record read (a record lists a stage's outputs and its summary).
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// A record's text; `Ok(None)` when there is none, `Err` when it is too large or unreadable.
fn read_record(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let mut text = String::new();
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if text.len() as u64 > MAX_RECORD_BYTES {
        return Err(format!("it is larger than {} MiB", MAX_RECORD_BYTES >> 20));
    }
    Ok(Some(text))
}

impl RunRecord {
    /// Check what a record says before any of it is used: its key, output names (relative,
    /// normalized; reports under `@reports/`), SHA-256s (which name store objects) and the
    /// output hash recomputed from the outputs. Row counts and schemas are compared with the
    /// objects' Parquet footers by the executor, after the objects' hashes are verified.
    pub fn check(&self, key: &str) -> Result<(), String> {
        if self.key != key {
            return Err(format!(
                "it is filed under {key} but names the key {}",
                self.key
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, o) in self.outputs.iter().enumerate() {
            let rel = o
                .path
                .strip_prefix(crate::lockfile::REPORTS_PREFIX)
                .unwrap_or(&o.path);
            crate::trust::check_relative(rel).map_err(|e| format!("outputs[{i}].path: {e}"))?;
            if !crate::trust::is_sha256(&o.sha256) {
                return Err(format!("outputs[{i}].sha256 is not a SHA-256"));
            }
            if !seen.insert(o.path.as_str()) {
                return Err(format!("outputs[{i}].path `{}` appears twice", o.path));
            }
        }
        let recomputed = crate::fingerprint::files_hash(
            crate::fingerprint::OUTPUT_DOMAIN,
            &self
                .outputs
                .iter()
                .map(|f| (f.path.as_str(), f.size, f.sha256.as_str()))
                .collect::<Vec<_>>(),
        );
        if recomputed != self.output_hash {
            return Err("its output_hash does not match its outputs".into());
        }
        Ok(())
    }
}

/// Put `object` at `dest` atomically: a hard link (or a copy across file systems) made under a
/// temporary name in the destination folder, then renamed over `dest`.
pub fn materialize(object: &Path, dest: &Path) -> io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    // Already this object (a hard link to it): nothing to do. rename(2) between two links to
    // one file does nothing and would leave the temporary name behind.
    if let (Ok(a), Ok(b)) = (fs::metadata(object), fs::metadata(dest)) {
        use std::os::unix::fs::MetadataExt;
        if a.dev() == b.dev() && a.ino() == b.ino() {
            return Ok(());
        }
    }
    let tmp = dir.join(format!(
        ".mldatabuild-tmp-{}-{}",
        std::process::id(),
        unique()
    ));
    if fs::hard_link(object, &tmp).is_err() {
        fs::copy(object, &tmp)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444))?;
    }
    let renamed = fs::rename(&tmp, dest);
    if tmp.exists() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Remove `.mldatabuild-tmp-*` files left in a folder tree by a killed build.
pub fn remove_stale_temps(dir: &Path) {
    if !dir.exists() {
        return;
    }
    for e in walkdir::WalkDir::new(dir)
        .max_depth(6)
        .into_iter()
        .flatten()
    {
        if e.file_type().is_file() && is_stale_temp(&e.file_name().to_string_lossy()) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A `.mldatabuild-tmp-<pid>-…` name whose process no longer runs (or with no pid at all).
fn is_stale_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(".mldatabuild-tmp-") else {
        return false;
    };
    let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
    !pid.is_some_and(|p| p == std::process::id() || Path::new(&format!("/proc/{p}")).exists())
}

/// Remove stale `.mldatabuild-tmp-*` files and folders directly inside `dir` (not below it).
pub fn remove_stale_temps_shallow(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !is_stale_temp(&e.file_name().to_string_lossy()) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                let _ = fs::remove_dir_all(e.path());
            }
            Ok(t) if t.is_file() => {
                let _ = fs::remove_file(e.path());
            }
            _ => {}
        }
    }
}
