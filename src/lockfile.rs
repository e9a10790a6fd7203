//! `dataset.lock`: the dataset's manifest. YAML, sorted, stable; replaced atomically.
//!
//! Everything except the `built:` blocks is a pure function of the inputs and parameters;
//! `built:` records when, how long and how much memory, and is ignored by comparisons
//! (`--locked`, `diff`'s identity checks, determinism tests).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The lockfile format version this build writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// Stage outputs are named relative to the stage's output folder, except report files: a stage
/// writes those under `@reports/` in its output folder, and they live in the dataset folder's
/// `reports/` (shared by all stages, so users find every report in one place).
pub const REPORTS_PREFIX: &str = "@reports/";

/// The dataset folder's reports folder.
pub const REPORTS_DIR: &str = "reports";

/// Where an output file of a stage lives, relative to the dataset folder.
pub fn output_path(stage_output: &str, rel: &str) -> String {
    match rel.strip_prefix(REPORTS_PREFIX) {
        Some(r) => format!("{REPORTS_DIR}/{r}"),
        None => format!("{stage_output}/{rel}"),
    }
}

/// The inverse of [`output_path`]: a lock path back to the name the stage gave it.
pub fn output_rel(stage_output: &str, path: &str) -> String {
    if let Some(r) = path
        .strip_prefix(REPORTS_DIR)
        .and_then(|r| r.strip_prefix('/'))
        && !path.starts_with(&format!("{stage_output}/"))
    {
        return format!("{REPORTS_PREFIX}{r}");
    }
    path.strip_prefix(&format!("{stage_output}/"))
        .unwrap_or(path)
        .to_owned()
}

/// Whether a stage's output file is a report (not part of the table downstream stages read).
pub fn is_report(rel: &str) -> bool {
    rel.starts_with(REPORTS_PREFIX)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "mldatabuild lockfile",
    description = "dataset.lock / manifest.yaml"
)]
pub struct Lock {
    /// Format version (see docs/lockfile.md for the compatibility policy).
    pub version: u32,
    pub tool: Tool,
    pub dataset: DatasetInfo,
    pub spec: SpecInfo,
    /// The dataset folder, relative to the spec's directory.
    pub output: String,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceLock>,
    #[serde(default)]
    pub stages: BTreeMap<String, StageLock>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecInfo {
    /// Spec path relative to the lock's directory.
    pub path: String,
    pub blake3: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceLock {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_glob: Option<Vec<String>>,
    /// The Hub config (subset) and split the source selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// What a remote source resolved to: a Hub commit, or `sha256:<hex>` of a URL's content.
    /// Later builds (and `rebuild`) fetch exactly this until `build --refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `b3:` hash of the file list (names, sizes, SHA-256s).
    pub hash: String,
    pub files: Vec<FileLock>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileLock {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageLock {
    pub kind: String,
    /// The spec entry this node comes from (differs from the node name for matrix members).
    pub group: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub matrix: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "impl")]
    pub impl_version: u32,
    /// `b3:` action key.
    pub key: String,
    pub params: serde_json::Value,
    pub inputs: Vec<InputLock>,
    /// Output folder inside the dataset folder.
    pub output: String,
    /// `b3:` hash of the outputs (paths inside `output`, sizes, SHA-256s).
    pub output_hash: String,
    pub outputs: Vec<FileLock>,
    #[serde(default)]
    pub summary: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built: Option<Built>,
}

impl StageLock {
    /// The names the stage gave its outputs (`part-0.parquet`, `@reports/checked.json`).
    pub fn output_names(&self) -> Vec<String> {
        self.outputs
            .iter()
            .map(|f| output_rel(&self.output, &f.path))
            .collect()
    }

    /// Whether `output_hash` is the hash of `outputs` (names, sizes, SHA-256s).
    pub fn output_hash_matches(&self) -> bool {
        let names = self.output_names();
        let rel: Vec<(&str, u64, &str)> = self
            .outputs
            .iter()
            .zip(&names)
            .map(|(f, n)| (n.as_str(), f.size, f.sha256.as_str()))
            .collect();
        crate::fingerprint::files_hash(crate::fingerprint::OUTPUT_DOMAIN, &rel) == self.output_hash
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputLock {
    pub name: String,
    pub hash: String,
}

/// When and how a stage's outputs were produced. Not part of the dataset's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Built {
    /// RFC 3339 UTC time the stage finished.
    pub at: String,
    pub seconds: f64,
    pub peak_rss_mb: u64,
    pub os: String,
    /// `run` when the stage ran, `restored` when its outputs came from the run cache.
    pub how: String,
}

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid lockfile: {message}")]
    Parse { path: String, message: String },
    #[error("`{path}` has lockfile version {found}; this mldatabuild reads version {LOCK_VERSION}")]
    Version { path: String, found: u32 },
    /// A value that parses but cannot be trusted: a path that leaves the dataset folder, a
    /// hash that is not one (docs/trust.md).
    #[error("`{path}` is not a lockfile mldatabuild wrote: {message}")]
    Invalid { path: String, message: String },
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Version { found, .. } if *found > LOCK_VERSION => {
                Some("upgrade mldatabuild to read this lockfile".into())
            }
            LockError::Parse { .. } => Some(
                "a damaged lockfile can be regenerated: delete it and run `mldatabuild build`"
                    .into(),
            ),
            LockError::Invalid { .. } => Some(
                "it was edited or damaged, and nothing was read from it, written or deleted; \
                 a lock of your own can be regenerated: delete it and run `mldatabuild build`"
                    .into(),
            ),
            LockError::Io { .. } | LockError::Version { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl Lock {
    /// Parse lockfile (or manifest.yaml) text.
    pub fn parse(text: &str, path: &str) -> Result<Lock, LockError> {
        let perr = |e: serde_saphyr::Error| {
            let loc = e
                .location()
                .map(|l| format!("line {}: ", l.line()))
                .unwrap_or_default();
            let msg = serde_saphyr::MessageFormatter::format_message(
                &serde_saphyr::DefaultMessageFormatter,
                &e,
            );
            LockError::Parse {
                path: path.to_owned(),
                message: format!("{loc}{msg}"),
            }
        };
        // One full pass on the happy path; the version is checked first only when it fails, so
        // that a lock from a newer release gets "upgrade", not a parse error.
        match serde_saphyr::from_str::<Lock>(text) {
            Ok(lock) if lock.version == LOCK_VERSION => {
                lock.check().map_err(|message| LockError::Invalid {
                    path: path.to_owned(),
                    message,
                })?;
                Ok(lock)
            }
            Ok(lock) => Err(LockError::Version {
                path: path.to_owned(),
                found: lock.version,
            }),
            Err(e) => match serde_saphyr::from_str::<VersionOnly>(text) {
                Ok(v) if v.version != LOCK_VERSION => Err(LockError::Version {
                    path: path.to_owned(),
                    found: v.version,
                }),
                _ => Err(perr(e)),
            },
        }
    }

    /// Read a lockfile; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Lock>, LockError> {
        let Some((text, shown)) = read_text(path)? else {
            return Ok(None);
        };
        Lock::parse(&text, &shown).map(Some)
    }

    /// Read a lockfile through a parse cache: YAML parsing of a large lock (tens of thousands of
    /// source files) costs tens of milliseconds, so the parsed lock is kept as JSON in `cache`,
    /// keyed by the BLAKE3 of the lock's text and sealed with the local key
    /// ([`crate::trust::seal`]): a stale, damaged, edited or copied cache is ignored.
    pub fn read_cached(path: &Path, cache: &Path) -> Result<Option<Lock>, LockError> {
        let Some((text, shown)) = read_text(path)? else {
            return Ok(None);
        };
        let key = blake3::hash(text.as_bytes()).to_hex().to_string();
        if let Ok(bytes) = std::fs::read(cache)
            && let Some(rest) = bytes.strip_prefix(format!("{key}\n").as_bytes())
            && let Some(nl) = rest.iter().position(|&b| b == b'\n')
            && let Ok(mac) = std::str::from_utf8(&rest[..nl])
            && let body = &rest[nl + 1..]
            && crate::trust::sealed(LOCK_CACHE_DOMAIN, &[key.as_bytes(), body].concat(), mac)
            && let Ok(lock) = serde_json::from_slice::<Lock>(body)
            && lock.check().is_ok()
        {
            return Ok(Some(lock));
        }
        let lock = Lock::parse(&text, &shown)?;
        if let Ok(json) = serde_json::to_vec(&lock)
            && let Some(mac) =
                crate::trust::seal(LOCK_CACHE_DOMAIN, &[key.as_bytes(), &json].concat())
        {
            let mut bytes = format!("{key}\n{mac}\n").into_bytes();
            bytes.extend(json);
            if let Some(dir) = cache.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = write_atomic_bytes(cache, &bytes);
        }
        Ok(Some(lock))
    }

    /// The YAML text of the lock, with a header comment.
    pub fn to_yaml(&self) -> String {
        let body = serde_saphyr::to_string(self).unwrap_or_default();
        format!("# This file is generated by mldatabuild. Do not edit it by hand.\n{body}")
    }

    /// The lock without its `built:` blocks and the tool version: what must be identical between equivalent builds.
    #[must_use]
    pub fn identity(&self) -> Lock {
        let mut l = self.clone();
        l.tool = Tool {
            name: String::new(),
            version: String::new(),
        };
        for s in l.stages.values_mut() {
            s.built = None;
        }
        l
    }
}

/// The seal domain of the parsed-lock cache (`.mldatabuild/lock-cache-v1`).
const LOCK_CACHE_DOMAIN: &str = "mldatabuild lock-cache v2";

/// Where a value of a lock failed [`Lock::check`].
fn bad(field: &str, e: impl std::fmt::Display) -> String {
    format!("{field}: {e}")
}

impl Lock {
    /// Check every value a command may turn into a path, or into a store object's name, before
    /// any of it is used: the dataset folder, every stage's output folder and output files
    /// (relative, normalized, inside the stage's folder or `reports/`), and the form of every
    /// hash. A lock from elsewhere can name files only inside its own dataset folder.
    pub fn check(&self) -> Result<(), String> {
        use crate::trust::{check_relative, is_b3, is_sha256};
        check_relative(&self.output).map_err(|e| bad("output", e))?;
        check_relative(&self.spec.path).map_err(|e| bad("spec.path", e))?;
        for (name, s) in &self.sources {
            let at = |f: &str| format!("sources.{name}.{f}");
            if !is_b3(&s.hash) {
                return Err(bad(&at("hash"), "is not a `b3:` hash"));
            }
            for (i, f) in s.files.iter().enumerate() {
                check_relative(&f.path).map_err(|e| bad(&at(&format!("files[{i}].path")), e))?;
                if !is_sha256(&f.sha256) {
                    return Err(bad(&at(&format!("files[{i}].sha256")), "is not a SHA-256"));
                }
            }
        }
        for (name, st) in &self.stages {
            let at = |f: &str| format!("stages.{name}.{f}");
            check_relative(&st.output).map_err(|e| bad(&at("output"), e))?;
            if st.output == REPORTS_DIR || st.output.starts_with(&format!("{REPORTS_DIR}/")) {
                return Err(bad(&at("output"), "is the shared reports folder"));
            }
            if !is_b3(&st.key) {
                return Err(bad(&at("key"), "is not a `b3:` hash"));
            }
            if !is_b3(&st.output_hash) {
                return Err(bad(&at("output_hash"), "is not a `b3:` hash"));
            }
            for (i, input) in st.inputs.iter().enumerate() {
                if !is_b3(&input.hash) {
                    return Err(bad(
                        &at(&format!("inputs[{i}].hash")),
                        "is not a `b3:` hash",
                    ));
                }
            }
            let folder = format!("{}/", st.output);
            let reports = format!("{REPORTS_DIR}/");
            for (i, f) in st.outputs.iter().enumerate() {
                let field = at(&format!("outputs[{i}].path"));
                check_relative(&f.path).map_err(|e| bad(&field, e))?;
                if !f.path.starts_with(&folder) && !f.path.starts_with(&reports) {
                    return Err(bad(
                        &field,
                        crate::trust::UnsafePath {
                            path: f.path.clone(),
                            problem: crate::trust::PathProblem::Outside(st.output.clone()),
                        },
                    ));
                }
                if !is_sha256(&f.sha256) {
                    return Err(bad(
                        &at(&format!("outputs[{i}].sha256")),
                        "is not a SHA-256",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A lockfile's text and its name for messages; `None` when it does not exist.
fn read_text(path: &Path) -> Result<Option<(String, String)>, LockError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let io = |source| LockError::Io {
        path: shown.clone(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    // A file or a pipe (`verify <(git show v1:dataset.lock)`); never a device or a folder.
    if file.metadata().is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        t.is_dir() || t.is_char_device() || t.is_block_device() || t.is_socket()
    }) {
        return Err(LockError::Invalid {
            path: shown.clone(),
            message: "it is not a regular file".into(),
        });
    }
    // Read up to the limit and no further: a lock from elsewhere may be anything.
    let mut text = String::new();
    file.take(MAX_LOCK_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_LOCK_BYTES {
        return Err(LockError::Invalid {
            path: shown,
            message: format!("it is larger than {} MiB", MAX_LOCK_BYTES >> 20),
        });
    }
    Ok(Some((text, shown)))
}

/// The largest lockfile or manifest read (a lock listing a million source files is ~150 MB).
const MAX_LOCK_BYTES: u64 = 1 << 30;

/// Write `text` to `path` atomically (temp file in the same folder, fsync, rename);
/// returns false when the file already holds exactly `text`.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<bool> {
    write_atomic_bytes(path, text.as_bytes())
}

/// [`write_atomic`] for bytes.
pub fn write_atomic_bytes(path: &Path, text: &[u8]) -> std::io::Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".mldatabuild-tmp-{}-", std::process::id()))
        .tempfile_in(dir)?;
    tmp.write_all(text)?;
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lock_with(params: serde_json::Value, path: &str) -> Lock {
        Lock {
            version: LOCK_VERSION,
            tool: Tool {
                name: "mldatabuild".into(),
                version: "0.1.0".into(),
            },
            dataset: DatasetInfo {
                name: "d".into(),
                version: "1.0.0".into(),
                description: Some(path.into()),
            },
            spec: SpecInfo {
                path: "dataset.yaml".into(),
                blake3: "b3:00".into(),
            },
            output: "out/d".into(),
            sources: BTreeMap::new(),
            // Any text where the format allows any text; paths and hashes must pass `check`.
            stages: BTreeMap::from([(
                path.to_owned(),
                StageLock {
                    kind: "normalize".into(),
                    group: path.into(),
                    matrix: BTreeMap::from([(path.to_owned(), path.into())]),
                    impl_version: 1,
                    key: format!("b3:{}", "1".repeat(64)),
                    params,
                    inputs: vec![],
                    output: "stage".into(),
                    output_hash: format!("b3:{}", "2".repeat(64)),
                    outputs: vec![FileLock {
                        path: "stage/part-0.parquet".into(),
                        size: 1,
                        sha256: "ab".repeat(32),
                        rows: Some(0),
                    }],
                    summary: BTreeMap::from([(path.to_owned(), path.into())]),
                    built: None,
                },
            )]),
        }
    }

    #[test]
    fn tricky_strings_round_trip() {
        for s in [
            "yes",
            "no",
            "null",
            "~",
            "1.0",
            "0x10",
            "1e3",
            "-",
            "a: b",
            "#x",
            " lead",
            "trail ",
            "multi\nline",
            "é✓",
            "'q'",
            "\"dq\"",
            "[x]",
            "{y}",
            "",
            "*a",
            "&b",
            "!t",
            "%p",
            "@r",
            "`b`",
        ] {
            let l = lock_with(
                serde_json::json!({"col": s, "list": [s], "n": 0.1, "big": u64::MAX}),
                s,
            );
            let back = Lock::parse(&l.to_yaml(), "x")
                .unwrap_or_else(|e| panic!("{s:?}: {e}\n{}", l.to_yaml()));
            assert_eq!(back, l, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in "\\PC{0,20}", f in -1e9f64..1e9) {
            let l = lock_with(serde_json::json!({"s": s, "f": f}), &s);
            let back = Lock::parse(&l.to_yaml(), "x").map_err(|e| TestCaseError::fail(format!("{e}\n{}", l.to_yaml())))?;
            prop_assert_eq!(back, l);
        }
    }
}
