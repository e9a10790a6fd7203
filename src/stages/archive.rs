//! Safe extraction of zip and tar archives into a scratch folder.
//!
//! Refused: absolute paths, `..` components, links (symbolic or hard, which could point out of
//! the folder), and archives that expand past [`Limits`] (decompression bombs).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::detect::{Archive, Compression, decompress};

/// Bounds on what one archive may expand to.
#[derive(Debug, Clone, Copy)]
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

struct Budget {
    limits: Limits,
    archive_size: u64,
    written: u64,
    entries: usize,
}

impl Budget {
    fn cap(&self) -> u64 {
        self.limits.max_bytes.min(
            self.archive_size
                .saturating_mul(self.limits.max_ratio)
                .max(1 << 20),
        )
    }

    fn entry(&mut self) -> Result<(), String> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(format!(
                "more than {} entries (an archive bomb?)",
                self.limits.max_entries
            ));
        }
        Ok(())
    }

    /// Copy one member, counting bytes against the cap.
    fn copy(&mut self, mut r: impl Read, dest: &Path) -> Result<u64, String> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let mut f = std::fs::File::create(dest)
            .map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf).map_err(|e| format!("cannot read: {e}"))?;
            if k == 0 {
                break;
            }
            n += k as u64;
            self.written += k as u64;
            if self.written > self.cap() {
                return Err(format!(
                    "expands past {} bytes ({}x its size; an archive bomb?)",
                    self.cap(),
                    self.limits.max_ratio
                ));
            }
            std::io::Write::write_all(&mut f, &buf[..k]).map_err(|e| e.to_string())?;
        }
        Ok(n)
    }
}

/// Extract `path` into `dest`; returns the member names (files only, sorted).
pub fn extract(
    path: &Path,
    kind: Archive,
    compression: Option<Compression>,
    dest: &Path,
    limits: Limits,
) -> Result<Vec<String>, String> {
    let archive_size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let mut budget = Budget {
        limits,
        archive_size,
        written: 0,
        entries: 0,
    };
    let mut names = Vec::new();
    match kind {
        Archive::Zip => {
            let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
            let mut zip = zip::ZipArchive::new(file)
                .map_err(|e| format!("not a readable zip archive: {e}"))?;
            for i in 0..zip.len() {
                budget.entry()?;
                let entry = zip.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
                let name = entry
                    .name()
                    .map_err(|e| format!("entry {i}: {e}"))?
                    .into_owned();
                if entry.is_dir() {
                    safe_path(&name)?;
                    continue;
                }
                if entry.is_symlink() {
                    return Err(format!(
                        "entry `{name}` is a symbolic link; links are not extracted"
                    ));
                }
                let rel = safe_path(&name)?;
                budget
                    .copy(entry, &dest.join(&rel))
                    .map_err(|e| format!("entry `{name}`: {e}"))?;
                names.push(rel.to_string_lossy().into_owned());
            }
        }
        Archive::Tar => {
            let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
            let reader = decompress(Box::new(file), compression).map_err(|e| e.to_string())?;
            let mut tar = tar::Archive::new(reader);
            for entry in tar
                .entries()
                .map_err(|e| format!("not a readable tar archive: {e}"))?
            {
                budget.entry()?;
                let entry = entry.map_err(|e| format!("damaged tar archive: {e}"))?;
                let name = entry
                    .path()
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .into_owned();
                let kind = entry.header().entry_type();
                if kind.is_dir() {
                    safe_path(&name)?;
                    continue;
                }
                if kind.is_symlink() || kind.is_hard_link() {
                    return Err(format!("entry `{name}` is a link; links are not extracted"));
                }
                if !kind.is_file() {
                    continue; // pax headers, devices, fifos
                }
                let rel = safe_path(&name)?;
                budget
                    .copy(entry, &dest.join(&rel))
                    .map_err(|e| format!("entry `{name}`: {e}"))?;
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
}
