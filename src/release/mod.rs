//! `mldatabuild release`'s building blocks that do not depend on a build: semantic versions
//! and bump kinds, the release date, the CHANGELOG file (`changelog`), DVC pointer files
//! (`dvc`) and Git LFS attributes (`lfs`). The command itself is `commands/release.rs`.

pub mod changelog;
pub mod dvc;
pub mod lfs;

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

/// The folder, inside the project's `.mldatabuild/`, where each release keeps a copy of its
/// lockfile as `<version>.lock`.
pub const RELEASES_DIR: &str = "releases";

/// A semantic version (semver.org 2.0): `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`.
///
/// Not the `semver` crate, though it is in the build (flatbuffers' build script): that one
/// refuses what this accepts and existing release files may be named by (leading zeros such as
/// `01.2.3`, identifiers with characters besides `[0-9A-Za-z-]`, a `+` inside build metadata),
/// and its `Ord` tells versions apart by build metadata, which precedence ignores. It is also
/// compiled there for the build script only: using it here would be a second build of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated pre-release identifiers (`rc.1` → `["rc", "1"]`); empty for a release.
    pub pre: Vec<String>,
    /// Build metadata: kept for display, ignored by comparisons.
    pub build: String,
}

impl Version {
    /// Parse `1.2.3`, `1.2.3-rc.1`, `1.2.3+build.5`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let (rest, build) = match text.split_once('+') {
            Some((r, b)) if !b.is_empty() => (r, b.to_owned()),
            Some(_) => return None,
            None => (text, String::new()),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => {
                let ids: Vec<String> = p.split('.').map(str::to_owned).collect();
                if ids.iter().any(String::is_empty) {
                    return None;
                }
                (c, ids)
            }
            None => (rest, Vec::new()),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3
            || nums
                .iter()
                .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        Some(Version {
            major: nums[0].parse().ok()?,
            minor: nums[1].parse().ok()?,
            patch: nums[2].parse().ok()?,
            pre,
            build,
        })
    }

    /// The next version of the given kind: `1.2.3` → `1.2.4` / `1.3.0` / `2.0.0`. A pre-release
    /// becomes its own release when that is the next one (`2.0.0-rc.1` → major `2.0.0`).
    #[must_use]
    pub fn bumped(&self, bump: Bump) -> Version {
        let release = |major, minor, patch| Version {
            major,
            minor,
            patch,
            pre: Vec::new(),
            build: String::new(),
        };
        let pre = !self.pre.is_empty();
        match bump {
            Bump::Patch if pre => release(self.major, self.minor, self.patch),
            Bump::Patch => release(self.major, self.minor, self.patch + 1),
            Bump::Minor if pre && self.patch == 0 => release(self.major, self.minor, 0),
            Bump::Minor => release(self.major, self.minor + 1, 0),
            Bump::Major if pre && self.patch == 0 && self.minor == 0 => release(self.major, 0, 0),
            Bump::Major => release(self.major + 1, 0, 0),
        }
    }

    /// The kind of step from `self` to a greater `next`: the first of major, minor, patch that
    /// grew (a change of pre-release only is a patch).
    pub fn bump_to(&self, next: &Version) -> Bump {
        if next.major != self.major {
            Bump::Major
        } else if next.minor != self.minor {
            Bump::Minor
        } else {
            Bump::Patch
        }
    }
}

impl Ord for Version {
    /// Semver precedence: numbers, then a pre-release sorts before its release, identifiers
    /// compared numerically when both are numbers, else as text, numbers before text, and a
    /// longer list after its prefix. Build metadata is ignored.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

/// The size of a release step, smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

impl Bump {
    pub fn as_str(self) -> &'static str {
        match self {
            Bump::Patch => "patch",
            Bump::Minor => "minor",
            Bump::Major => "major",
        }
    }
}

/// The releases recorded in `dir` (`<version>.lock` files), highest version first. Files
/// whose name is not a version are not releases and are left out.
pub fn recorded_releases(dir: &Path) -> std::io::Result<Vec<(Version, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
        else {
            continue;
        };
        if let Some(v) = Version::parse(stem)
            && path.is_file()
        {
            found.push((v, path));
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(found)
}

/// The release date: today in UTC, or the day of `SOURCE_DATE_EPOCH` (seconds since 1970,
/// the reproducible-builds convention) when that is set, so a release can be regenerated
/// byte for byte.
pub fn release_date() -> Result<String, String> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<i64>().map_err(|_| {
            format!("SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, got `{v}`")
        })?,
        _ => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    };
    Ok(utc_date(secs))
}

/// `YYYY-MM-DD` of a Unix time, in UTC (the proleptic Gregorian calendar).
pub fn utc_date(secs: i64) -> String {
    let (year, month, day) = crate::civil::ymd(secs.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn parses_and_prints_versions() {
        assert_eq!(v("1.2.3").to_string(), "1.2.3");
        assert_eq!(v("1.2.3-rc.1+b7").to_string(), "1.2.3-rc.1+b7");
        assert_eq!(v("10.0.0").major, 10);
        for bad in [
            "1.2",
            "1.2.3.4",
            "1..3",
            "a.b.c",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn orders_by_semver_precedence() {
        let sorted = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2.0",
            "1.10.0",
            "2.0.0",
        ];
        for w in sorted.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.0.0+a").cmp(&v("1.0.0+b")), Ordering::Equal);
    }

    #[test]
    fn bumps_and_classifies_steps() {
        let x = v("1.2.3");
        assert_eq!(x.bumped(Bump::Patch).to_string(), "1.2.4");
        assert_eq!(x.bumped(Bump::Minor).to_string(), "1.3.0");
        assert_eq!(x.bumped(Bump::Major).to_string(), "2.0.0");
        assert_eq!(v("2.0.0-rc.1").bumped(Bump::Major).to_string(), "2.0.0");
        assert_eq!(v("1.2.3-rc.1").bumped(Bump::Patch).to_string(), "1.2.3");
        assert_eq!(x.bump_to(&v("1.2.4")), Bump::Patch);
        assert_eq!(x.bump_to(&v("1.4.0")), Bump::Minor);
        assert_eq!(x.bump_to(&v("3.0.0")), Bump::Major);
        assert!(Bump::Patch < Bump::Minor && Bump::Minor < Bump::Major);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_709_251_199), "2024-02-29");
        assert_eq!(utc_date(1_709_251_200), "2024-03-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        // Years outside 0..=9999 as `{:04}` writes them (chrono's `%Y` would sign them), also
        // past chrono's ±262,000 years.
        assert_eq!(utc_date(253_402_300_800), "10000-01-01");
        assert_eq!(utc_date(-62_167_219_201), "-001-12-31");
        assert_eq!(utc_date(i64::MAX), "292277026596-12-04");
        assert_eq!(utc_date(i64::MIN), "-292277022657-01-27");
    }
}
