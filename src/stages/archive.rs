//! Safe extraction of zip and tar archives into a scratch folder, and the expansion limits
//! shared with single compressed files.
//!
//! Refused: absolute paths, `..` components, links (symbolic or hard, which could point out of
//! the folder), and archives that expand past [`Limits`] (decompression bombs). A single
//! compressed file (`.csv.gz`, `.jsonl.zst`…) is held to the same size and ratio caps while it
//! is read (see `table::Table`).

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::StageError;
use super::detect::{Archive, Compression, decompress};

/// Environment variables that raise the limits (whole numbers above 0).
pub const ENV_RATIO: &str = "MLDATA_MAX_EXPANSION_RATIO";
pub const ENV_GIB: &str = "MLDATA_MAX_EXPANDED_GIB";
pub const ENV_ENTRIES: &str = "MLDATA_MAX_ARCHIVE_ENTRIES";

/// Whatever the ratio, a file may always expand to this much.
const MIN_CAP: u64 = 1 << 20;

/// Bounds on what one archive or compressed file may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_entries: usize,
    /// Expanded size / archive size.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_entries: 1_000_000,
            max_ratio: 1000,
        }
    }
}

/// A whole number above 0 from the environment variable `var`, or `default` when it is unset.
pub fn env_limit(var: &str, default: u64) -> Result<u64, StageError> {
    match std::env::var(var) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(
                StageError::new(format!("{var} must be a whole number above 0: got `{v}`"))
                    .hint(format!("unset {var} to use the default ({default})")),
            ),
        },
        Err(std::env::VarError::NotUnicode(_)) => Err(StageError::new(format!(
            "{var} must be a whole number above 0"
        ))),
    }
}

impl Limits {
    /// The defaults, raised or lowered by `MLDATA_MAX_EXPANSION_RATIO`,
    /// `MLDATA_MAX_EXPANDED_GIB` and `MLDATA_MAX_ARCHIVE_ENTRIES`.
    pub fn from_env() -> Result<Self, StageError> {
        let d = Limits::default();
        Ok(Limits {
            max_bytes: env_limit(ENV_GIB, d.max_bytes >> 30)?.saturating_mul(1 << 30),
            max_entries: usize::try_from(env_limit(ENV_ENTRIES, d.max_entries as u64)?)
                .unwrap_or(usize::MAX),
            max_ratio: env_limit(ENV_RATIO, d.max_ratio)?,
        })
    }

    /// How many bytes a file of `size` bytes may expand to: `max_ratio` times its size (but
    /// at least 1 MiB), and never more than `max_bytes`.
    pub fn cap(&self, size: u64) -> u64 {
        self.max_bytes
            .min(size.saturating_mul(self.max_ratio).max(MIN_CAP))
    }

    /// The error for a file of `size` bytes (`what`: "an archive", "a gzip file") that
    /// expanded past [`Limits::cap`]: which limit it hit, and how to raise it.
    pub fn exceeded(&self, what: &str, size: u64) -> (String, String) {
        let cap = self.cap(size);
        if cap == self.max_bytes {
            (
                format!(
                    "expands past {} ({what} may expand to at most {ENV_GIB}={} GiB)",
                    human(cap),
                    self.max_bytes >> 30
                ),
                format!(
                    "if the file is genuine, raise the limit: set {ENV_GIB} to more than {}",
                    self.max_bytes >> 30
                ),
            )
        } else {
            (
                format!(
                    "expands past {}, more than {}x its {} (a decompression bomb?)",
                    human(cap),
                    self.max_ratio,
                    human(size)
                ),
                format!(
                    "{what} may expand to at most {ENV_RATIO}={} times its size; if the file is genuine, raise it",
                    self.max_ratio
                ),
            )
        }
    }
}

/// `1.5 GiB`, `20 MiB`, `512 bytes`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64;
    let mut unit = "";
    for u in UNITS {
        v /= 1024.0;
        unit = u;
        if v < 1024.0 {
            break;
        }
    }
    if (v - v.round()).abs() < 0.05 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// Where a reader that stopped at a limit leaves its error (message, hint), so that the error
/// a decoder reports for it (an I/O error deep inside CSV or JSON parsing) can be replaced by
/// one that says which limit was hit and how to raise it. The first limit hit wins.
#[derive(Debug, Clone, Default)]
pub struct Tripwire(Arc<OnceLock<(String, String)>>);

impl Tripwire {
    /// Record the limit hit (unless one was already) and return the I/O error to fail with.
    pub fn trip(&self, message: String, hint: String) -> std::io::Error {
        let e = std::io::Error::other(message.clone());
        let _ = self.0.set((message, hint));
        e
    }

    /// The limit hit, if any: (message, hint).
    pub fn get(&self) -> Option<&(String, String)> {
        self.0.get()
    }
}

/// A decompressed stream that fails once it passes [`Limits::cap`] of its compressed size.
pub struct Capped<R> {
    inner: R,
    read: u64,
    cap: u64,
    limits: Limits,
    what: &'static str,
    compressed_size: u64,
    trip: Tripwire,
}

impl<R> Capped<R> {
    /// `what` names the kind of file in the error ("a gzip file").
    pub fn new(
        inner: R,
        limits: Limits,
        what: &'static str,
        compressed_size: u64,
        trip: Tripwire,
    ) -> Self {
        Capped {
            inner,
            read: 0,
            cap: limits.cap(compressed_size),
            limits,
            what,
            compressed_size,
            trip,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Never more than one byte past the cap: that is enough to know it is exceeded.
        let room = self.cap.saturating_sub(self.read).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.cap {
            let (message, hint) = self.limits.exceeded(self.what, self.compressed_size);
            return Err(self.trip.trip(message, hint));
        }
        Ok(n)
    }
}

/// A member path made safe to join under the extraction folder, or why it is not.
fn safe_path(name: &str) -> Result<PathBuf, String> {
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "entry `{name}` escapes the archive (`..` in its path)"
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("entry `{name}` has an absolute path"));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!("entry `{name}` has an empty path"));
    }
    Ok(out)
}

/// What the archives read by one stage have expanded to so far. `max_bytes` and
/// `max_entries` bound these totals too: archives inside archives (each within its own
/// ratio) cannot multiply past them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spent {
    pub bytes: u64,
    pub entries: usize,
}

impl Spent {
    /// The error once the totals pass the limits, if they do.
    pub fn check(&self, limits: &Limits) -> Result<(), StageError> {
        if self.bytes > limits.max_bytes {
            let gib = limits.max_bytes >> 30;
            return Err(StageError::new(format!(
                "the archives and compressed files of this stage expand past {} in all (nested archives?; at most {ENV_GIB}={gib} GiB)",
                human(limits.max_bytes)
            ))
            .hint(format!("if the files are genuine, raise the limit: set {ENV_GIB} to more than {gib}")));
        }
        if self.entries > limits.max_entries {
            return Err(StageError::new(format!(
                "the archives of this stage hold more than {} entries in all (nested archives?; at most {ENV_ENTRIES}={})",
                limits.max_entries, limits.max_entries
            ))
            .hint(format!(
                "if the archives are genuine, raise the limit: set {ENV_ENTRIES} to more than {}",
                limits.max_entries
            )));
        }
        Ok(())
    }
}

struct Budget {
    limits: Limits,
    archive_size: u64,
    written: u64,
    entries: usize,
    /// The stage's totals before this archive.
    before: Spent,
}

impl Budget {
    /// The stage's totals with this archive's so far.
    fn spent(&self) -> Spent {
        Spent {
            bytes: self.before.bytes.saturating_add(self.written),
            entries: self.before.entries.saturating_add(self.entries),
        }
    }

    fn entry(&mut self) -> Result<(), StageError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(StageError::new(format!(
                "more than {} entries (an archive bomb?)",
                self.limits.max_entries
            ))
            .hint(format!(
                "if the archive is genuine, raise the limit: set {ENV_ENTRIES} to more than {}",
                self.limits.max_entries
            )));
        }
        self.spent().check(&self.limits)
    }

    /// Copy one member, counting bytes against the cap.
    fn copy(&mut self, mut r: impl Read, dest: &Path) -> Result<u64, StageError> {
        let io = |e: String| StageError::new(e);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(e.to_string()))?;
        }
        let mut f = std::fs::File::create(dest)
            .map_err(|e| io(format!("cannot write `{}`: {e}", dest.display())))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            let k = r
                .read(&mut buf)
                .map_err(|e| io(format!("cannot read: {e}")))?;
            if k == 0 {
                break;
            }
            n += k as u64;
            self.written += k as u64;
            if self.written > self.limits.cap(self.archive_size) {
                let (message, hint) = self.limits.exceeded("an archive", self.archive_size);
                return Err(StageError::new(message).hint(hint));
            }
            self.spent().check(&self.limits)?;
            std::io::Write::write_all(&mut f, &buf[..k]).map_err(|e| io(e.to_string()))?;
        }
        Ok(n)
    }
}

/// The hint for entries refused for where they would land.
const PATH_HINT: &str =
    "mldatabuild refuses archive entries that would land outside the extraction folder";

/// Extract `path` into `dest`; returns the member names (files only, sorted). What it
/// extracts, even when it fails part way, is added to `spent`.
pub fn extract(
    path: &Path,
    kind: Archive,
    compression: Option<Compression>,
    dest: &Path,
    limits: Limits,
    spent: &mut Spent,
) -> Result<Vec<String>, StageError> {
    let mut budget = Budget {
        limits,
        archive_size: 0,
        written: 0,
        entries: 0,
        before: *spent,
    };
    let result = extract_into(path, kind, compression, dest, &mut budget);
    *spent = budget.spent();
    result
}

fn extract_into(
    path: &Path,
    kind: Archive,
    compression: Option<Compression>,
    dest: &Path,
    budget: &mut Budget,
) -> Result<Vec<String>, StageError> {
    let limits = budget.limits;
    let plain = |m: String| StageError::new(m);
    let unsafe_path = |m: String| StageError::new(m).hint(PATH_HINT);
    let in_entry = |name: &str, e: StageError| StageError {
        message: format!("entry `{name}`: {}", e.message),
        ..e
    };
    let archive_size = std::fs::metadata(path)
        .map_err(|e| plain(e.to_string()))?
        .len();
    budget.archive_size = archive_size;
    let mut names = Vec::new();
    match kind {
        Archive::Zip => {
            let file = std::fs::File::open(path).map_err(|e| plain(e.to_string()))?;
            let mut zip = zip::ZipArchive::new(file)
                .map_err(|e| plain(format!("not a readable zip archive: {e}")))?;
            for i in 0..zip.len() {
                budget.entry()?;
                let entry = zip
                    .by_index(i)
                    .map_err(|e| plain(format!("entry {i}: {e}")))?;
                let name = entry
                    .name()
                    .map_err(|e| plain(format!("entry {i}: {e}")))?
                    .into_owned();
                if entry.is_dir() {
                    safe_path(&name).map_err(unsafe_path)?;
                    continue;
                }
                if entry.is_symlink() {
                    return Err(unsafe_path(format!(
                        "entry `{name}` is a symbolic link; links are not extracted"
                    )));
                }
                let rel = safe_path(&name).map_err(unsafe_path)?;
                budget
                    .copy(entry, &dest.join(&rel))
                    .map_err(|e| in_entry(&name, e))?;
                names.push(rel.to_string_lossy().into_owned());
            }
        }
        Archive::Tar => {
            let file = std::fs::File::open(path).map_err(|e| plain(e.to_string()))?;
            let reader =
                decompress(Box::new(file), compression).map_err(|e| plain(e.to_string()))?;
            // The whole decompressed stream is capped too, not only the members' bytes:
            // headers (pax records, long names) are read into memory by the tar reader.
            let trip = Tripwire::default();
            let reader: Box<dyn Read + Send> = match compression {
                Some(_) => Box::new(Capped::new(
                    reader,
                    limits,
                    "an archive",
                    archive_size,
                    trip.clone(),
                )),
                None => reader,
            };
            let tripped = |e: StageError| match trip.get() {
                Some((m, h)) => StageError::new(m.clone()).hint(h.clone()),
                None => e,
            };
            let mut tar = tar::Archive::new(reader);
            for entry in tar
                .entries()
                .map_err(|e| tripped(plain(format!("not a readable tar archive: {e}"))))?
            {
                budget.entry()?;
                let entry =
                    entry.map_err(|e| tripped(plain(format!("damaged tar archive: {e}"))))?;
                let name = entry
                    .path()
                    .map_err(|e| plain(e.to_string()))?
                    .to_string_lossy()
                    .into_owned();
                let kind = entry.header().entry_type();
                if kind.is_dir() {
                    safe_path(&name).map_err(unsafe_path)?;
                    continue;
                }
                if kind.is_symlink() || kind.is_hard_link() {
                    return Err(unsafe_path(format!(
                        "entry `{name}` is a link; links are not extracted"
                    )));
                }
                if !kind.is_file() {
                    continue; // pax headers, devices, fifos
                }
                let rel = safe_path(&name).map_err(unsafe_path)?;
                budget
                    .copy(entry, &dest.join(&rel))
                    .map_err(|e| tripped(in_entry(&name, e)))?;
                names.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(safe_path("../x.csv").is_err());
        assert!(safe_path("a/../../x.csv").is_err());
        assert!(safe_path("/etc/passwd").is_err());
        assert_eq!(safe_path("./a/b.csv").unwrap(), PathBuf::from("a/b.csv"));
    }

    #[test]
    fn caps_name_the_limit_hit() {
        let l = Limits::default();
        assert_eq!(l.cap(10), 1 << 20, "at least 1 MiB");
        assert_eq!(l.cap(10 << 20), 10_000 << 20);
        assert_eq!(l.cap(1 << 40), 64 << 30, "never past max_bytes");
        let (m, h) = l.exceeded("a gzip file", 10 << 20);
        assert_eq!(
            m,
            "expands past 9.8 GiB, more than 1000x its 10 MiB (a decompression bomb?)"
        );
        assert!(h.contains("MLDATA_MAX_EXPANSION_RATIO=1000"), "{h}");
        let (m, h) = l.exceeded("a gzip file", 1 << 40);
        assert!(m.contains("MLDATA_MAX_EXPANDED_GIB=64 GiB"), "{m}");
        assert!(
            h.contains("set MLDATA_MAX_EXPANDED_GIB to more than 64"),
            "{h}"
        );
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(1536), "1.5 KiB");
    }

    #[test]
    fn nested_archives_share_the_stage_totals() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        // A zip of one 1.5 MiB member, stored: well within its own ratio.
        let zip_path = dir.path().join("a.zip");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
            let stored = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            z.start_file("m.csv", stored).unwrap();
            z.write_all(&vec![b'a'; 3 << 19]).unwrap();
            z.finish().unwrap();
        }
        let limits = Limits {
            max_bytes: 2 << 20,
            ..Limits::default()
        };
        let mut spent = Spent::default();
        extract(
            &zip_path,
            Archive::Zip,
            None,
            &dir.path().join("x1"),
            limits,
            &mut spent,
        )
        .unwrap();
        assert_eq!((spent.bytes, spent.entries), (3 << 19, 1));
        // The same archive again: alone within its caps, but past the stage's total.
        let e = extract(
            &zip_path,
            Archive::Zip,
            None,
            &dir.path().join("x2"),
            limits,
            &mut spent,
        )
        .unwrap_err();
        assert!(
            e.message.contains(
                "expand past 2 MiB in all (nested archives?; at most MLDATA_MAX_EXPANDED_GIB=0 GiB)"
            ),
            "{}",
            e.message
        );
        assert!(spent.bytes > 2 << 20);
    }

    #[test]
    fn capped_reads_stop_one_byte_past_the_cap() {
        let data = vec![7u8; 3 << 20];
        let trip = Tripwire::default();
        let mut r = Capped::new(
            &data[..],
            Limits::default(),
            "a test file",
            10,
            trip.clone(),
        );
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(
            out.len(),
            1 << 20,
            "everything up to the cap is read, no more"
        );
        assert!(e.to_string().starts_with("expands past 1 MiB"), "{e}");
        assert!(trip.get().is_some());
        let trip = Tripwire::default();
        let mut r = Capped::new(
            &data[..],
            Limits::default(),
            "a test file",
            4 << 10,
            trip.clone(),
        );
        assert_eq!(r.read_to_end(&mut Vec::new()).unwrap(), 3 << 20);
        assert!(trip.get().is_none());
    }
}
