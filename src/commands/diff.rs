//! `mldatabuild diff A [B]`: what changed between two builds, in dataset terms; with
//! `--detailed`, also row by row (`diff_rows`).

#[path = "diff_rows.rs"]
mod diff_rows;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::DiffArgs;
use crate::error::{Error, Result};
use crate::lockfile::{FileLock, Lock, StageLock};
use crate::settings::Settings;

#[derive(Debug, Default, Serialize)]
pub(crate) struct DiffReport {
    pub old: String,
    pub new: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<(String, String)>,
    pub sources: Vec<SourceChange>,
    pub added_stages: Vec<String>,
    pub removed_stages: Vec<String>,
    pub stages: Vec<StageChange>,
    /// `--detailed`: the row-level comparison, by stage name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<BTreeMap<String, diff_rows::StageRows>>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct SourceChange {
    pub name: String,
    pub status: String,
    pub files_added: Vec<String>,
    pub files_removed: Vec<String>,
    pub files_changed: Vec<String>,
    /// A remote source's pinned revision, old → new, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<(Option<String>, Option<String>)>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct StageChange {
    pub name: String,
    pub params: Vec<(String, String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impl_version: Option<(u32, u32)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<(Option<u64>, Option<u64>)>,
    pub splits: Vec<(String, Option<u64>, Option<u64>)>,
    pub schema: Vec<String>,
    /// Other summary facts that changed (validation findings, label counts, leakage…).
    pub summary: Vec<(String, String, String)>,
    pub files: Vec<FileChange>,
}

#[derive(Debug, Serialize)]
pub(crate) struct FileChange {
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl StageChange {
    fn is_empty(&self) -> bool {
        self.params.is_empty()
            && self.impl_version.is_none()
            && self.rows.is_none()
            && self.splits.is_empty()
            && self.schema.is_empty()
            && self.summary.is_empty()
            && self.files.is_empty()
    }
}

/// Summary facts shown on their own lines, or too bulky to list: left out of the summary diff.
const SUMMARY_SHOWN: &[&str] = &["rows", "splits", "schema", "inputs", "features", "warnings"];

/// Changed summary facts listed per stage in the human output.
const MAX_FACTS: usize = 30;

/// Every differing parameter path (not only the first).
fn all_diffs(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value as V;
    if let (V::Object(x), V::Object(y)) = (a, b) {
        let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
        for k in keys {
            let p = format!("{path}.{k}");
            match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => all_diffs(&p, u, v, out),
                (u, v) => {
                    if let Some(d) =
                        crate::dirty::first_diff(&p, u.unwrap_or(&V::Null), v.unwrap_or(&V::Null))
                    {
                        out.push(d);
                    }
                }
            }
        }
    } else if let Some(d) = crate::dirty::first_diff(path, a, b) {
        out.push(d);
    }
}

fn schema_map(s: &StageLock) -> Vec<(String, String)> {
    s.summary
        .get("schema")
        .and_then(|v| v.as_array())
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    let name = c
                        .get("name")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned();
                    let ty = c
                        .get("type")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned();
                    let null = if c
                        .get("nullable")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false)
                    {
                        "?"
                    } else {
                        ""
                    };
                    (name, format!("{ty}{null}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn file_changes(a: &[FileLock], b: &[FileLock]) -> Vec<FileChange> {
    let paths: BTreeSet<&str> = a.iter().chain(b).map(|f| f.path.as_str()).collect();
    paths
        .into_iter()
        .filter_map(|p| {
            let x = a.iter().find(|f| f.path == p).map(|f| f.sha256.clone());
            let y = b.iter().find(|f| f.path == p).map(|f| f.sha256.clone());
            (x != y).then(|| FileChange {
                path: p.to_owned(),
                old: x,
                new: y,
            })
        })
        .collect()
}

pub(crate) fn compare(old: &Lock, new: &Lock, old_name: &str, new_name: &str) -> DiffReport {
    let mut r = DiffReport {
        old: old_name.into(),
        new: new_name.into(),
        ..DiffReport::default()
    };
    if old.dataset.version != new.dataset.version {
        r.version = Some((old.dataset.version.clone(), new.dataset.version.clone()));
    }
    let names: BTreeSet<&String> = old.sources.keys().chain(new.sources.keys()).collect();
    for n in names {
        match (old.sources.get(n), new.sources.get(n)) {
            (Some(a), Some(b)) if a.hash != b.hash => {
                let fa: BTreeSet<&str> = a.files.iter().map(|f| f.path.as_str()).collect();
                let fb: BTreeSet<&str> = b.files.iter().map(|f| f.path.as_str()).collect();
                r.sources.push(SourceChange {
                    name: n.clone(),
                    status: "changed".into(),
                    files_added: fb.difference(&fa).map(|s| (*s).to_owned()).collect(),
                    files_removed: fa.difference(&fb).map(|s| (*s).to_owned()).collect(),
                    files_changed: file_changes(&a.files, &b.files)
                        .into_iter()
                        .filter(|c| c.old.is_some() && c.new.is_some())
                        .map(|c| c.path)
                        .collect(),
                    revision: (a.revision != b.revision)
                        .then(|| (a.revision.clone(), b.revision.clone())),
                });
            }
            (None, Some(_)) => r.sources.push(SourceChange {
                name: n.clone(),
                status: "added".into(),
                ..SourceChange::default()
            }),
            (Some(_), None) => r.sources.push(SourceChange {
                name: n.clone(),
                status: "removed".into(),
                ..SourceChange::default()
            }),
            _ => {}
        }
    }
    let names: BTreeSet<&String> = old.stages.keys().chain(new.stages.keys()).collect();
    for n in names {
        match (old.stages.get(n), new.stages.get(n)) {
            (None, Some(_)) => r.added_stages.push(n.clone()),
            (Some(_), None) => r.removed_stages.push(n.clone()),
            (Some(a), Some(b)) => {
                let mut c = StageChange {
                    name: n.clone(),
                    ..StageChange::default()
                };
                all_diffs("params", &a.params, &b.params, &mut c.params);
                if a.impl_version != b.impl_version {
                    c.impl_version = Some((a.impl_version, b.impl_version));
                }
                let rows =
                    |s: &StageLock| s.summary.get("rows").and_then(serde_json::Value::as_u64);
                if rows(a) != rows(b) {
                    c.rows = Some((rows(a), rows(b)));
                }
                let splits = |s: &StageLock| {
                    s.summary
                        .get("splits")
                        .and_then(|v| v.as_object())
                        .cloned()
                        .unwrap_or_default()
                };
                let (sa, sb) = (splits(a), splits(b));
                let keys: BTreeSet<&String> = sa.keys().chain(sb.keys()).collect();
                for k in keys {
                    let (x, y) = (
                        sa.get(k).and_then(serde_json::Value::as_u64),
                        sb.get(k).and_then(serde_json::Value::as_u64),
                    );
                    if x != y {
                        c.splits.push((k.clone(), x, y));
                    }
                }
                let (ma, mb) = (schema_map(a), schema_map(b));
                for (col, ty) in &ma {
                    match mb.iter().find(|(c2, _)| c2 == col) {
                        None => c.schema.push(format!("- {col}: {ty}")),
                        Some((_, t2)) if t2 != ty => c.schema.push(format!("~ {col}: {ty} → {t2}")),
                        Some(_) => {}
                    }
                }
                for (col, ty) in &mb {
                    if !ma.iter().any(|(c1, _)| c1 == col) {
                        c.schema.push(format!("+ {col}: {ty}"));
                    }
                }
                let facts = |st: &StageLock| {
                    serde_json::Value::Object(
                        st.summary
                            .iter()
                            .filter(|(k, _)| !SUMMARY_SHOWN.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                };
                all_diffs("summary", &facts(a), &facts(b), &mut c.summary);
                c.files = file_changes(&a.outputs, &b.outputs);
                if !c.is_empty() {
                    r.stages.push(c);
                }
            }
            (None, None) => {}
        }
    }
    r
}

fn short(h: Option<&String>) -> String {
    h.map_or_else(|| "(none)".into(), |h| h.chars().take(12).collect())
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn render(r: &DiffReport) -> String {
    use std::fmt::Write as _;
    let mut s = format!("diff {} → {}\n", r.old, r.new);
    if let Some((a, b)) = &r.version {
        let _ = writeln!(s, "dataset version: {a} → {b}");
    }
    for c in &r.sources {
        let _ = writeln!(s, "source {}: {}", c.name, c.status);
        if let Some((a, b)) = &c.revision {
            let _ = writeln!(
                s,
                "  revision: {} → {}",
                a.as_deref().unwrap_or("none"),
                b.as_deref().unwrap_or("none")
            );
        }
        for f in &c.files_added {
            let _ = writeln!(s, "  + {f}");
        }
        for f in &c.files_removed {
            let _ = writeln!(s, "  - {f}");
        }
        for f in &c.files_changed {
            let _ = writeln!(s, "  ~ {f}");
        }
    }
    for n in &r.added_stages {
        let _ = writeln!(s, "stage {n}: added");
    }
    for n in &r.removed_stages {
        let _ = writeln!(s, "stage {n}: removed");
    }
    for c in &r.stages {
        let _ = writeln!(s, "stage {}:", c.name);
        if let Some((a, b)) = c.impl_version {
            let _ = writeln!(s, "  impl {a} → {b}");
        }
        for (p, a, b) in &c.params {
            let _ = writeln!(s, "  {p}: {a} → {b}");
        }
        if let Some((a, b)) = c.rows {
            let _ = writeln!(s, "  rows: {} → {}", opt(a), opt(b));
        }
        for (k, a, b) in &c.splits {
            let _ = writeln!(s, "  split {k}: {} → {} rows", opt(*a), opt(*b));
        }
        for line in &c.schema {
            let _ = writeln!(s, "  schema {line}");
        }
        for (p, a, b) in c.summary.iter().take(MAX_FACTS) {
            let _ = writeln!(s, "  {p}: {a} → {b}");
        }
        if c.summary.len() > MAX_FACTS {
            let _ = writeln!(
                s,
                "  … {} more summary changes (`--json` lists them all)",
                c.summary.len() - MAX_FACTS
            );
        }
        for f in &c.files {
            let _ = writeln!(
                s,
                "  file {}: {} → {}",
                f.path,
                short(f.old.as_ref()),
                short(f.new.as_ref())
            );
        }
    }
    if r.sources.is_empty()
        && r.added_stages.is_empty()
        && r.removed_stages.is_empty()
        && r.stages.is_empty()
        && r.version.is_none()
    {
        s.push_str("no changes\n");
    }
    if let Some(rows) = &r.rows {
        diff_rows::render(rows, &mut s);
    }
    s
}

/// Where a loaded build's outputs are, and what recreates them.
struct Place {
    dataset_dir: PathBuf,
    recreate: String,
}

/// The dataset folder of a lock read from `path`: the folder of a `manifest.yaml`, else the
/// lock's `output:` next to it.
fn dataset_dir(path: &Path, lock: &Lock) -> PathBuf {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if path.file_name().is_some_and(|f| f == "manifest.yaml") {
        dir
    } else {
        dir.join(&lock.output)
    }
}

/// A lock from a path, or from a git revision of the project's lockfile.
fn load(settings: &Settings, arg: &str) -> Result<(Lock, String, Place)> {
    let path = settings.cwd.join(arg);
    if path.is_file() {
        let lock = super::read_lock_arg(&path)?;
        let place = Place {
            dataset_dir: dataset_dir(&path, &lock),
            recreate: format!("run `mldatabuild rebuild {arg}`"),
        };
        return Ok((lock, arg.to_owned(), place));
    }
    let lock_path = super::rebuild::default_lock_path(settings);
    let repo = git2::Repository::discover(&settings.cwd).map_err(|_| {
        Error::user(format!("`{arg}` is not a file, and {} is not in a git repository", settings.cwd.display()))
            .hint("name two lockfiles or manifest.yaml files, or run inside a git repository to name revisions")
    })?;
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_default();
    let abs = std::fs::canonicalize(lock_path.parent().unwrap_or(Path::new(".")))
        .unwrap_or_default()
        .join(lock_path.file_name().unwrap_or_default());
    let workdir = std::fs::canonicalize(&workdir).unwrap_or(workdir);
    let rel = abs
        .strip_prefix(&workdir)
        .map_err(|_| Error::user("the lockfile is outside the git repository"))?;
    let spec = format!("{arg}:{}", rel.to_string_lossy());
    let obj = repo.revparse_single(&spec).map_err(|e| {
        Error::user(format!(
            "`{arg}`: no such file, and git cannot find `{spec}`: {}",
            e.message()
        ))
        .hint("name a lockfile, a manifest.yaml, or a git revision where the lockfile is committed")
    })?;
    let blob = obj
        .peel_to_blob()
        .map_err(|e| Error::user(format!("`{spec}` is not a file: {}", e.message())))?;
    let text = std::str::from_utf8(blob.content())
        .map_err(|_| Error::user(format!("`{spec}` is not UTF-8")))?;
    let lock = Lock::parse(text, &spec)?;
    let place = Place {
        dataset_dir: dataset_dir(&lock_path, &lock),
        recreate: format!("check out `{arg}` and run `mldatabuild build`"),
    };
    Ok((lock, arg.to_owned(), place))
}

pub(crate) fn diff(settings: &Settings, args: &DiffArgs) -> Result<u8> {
    let (old, old_name, old_place) = load(settings, &args.old)?;
    let (new, new_name, new_place) = if let Some(n) = &args.new {
        load(settings, n)?
    } else {
        let p = super::rebuild::default_lock_path(settings);
        let lock = super::read_lock_arg(&p)?;
        let place = Place {
            dataset_dir: dataset_dir(&p, &lock),
            recreate: "run `mldatabuild build`".into(),
        };
        (
            lock,
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            place,
        )
    };
    let mut report = compare(&old, &new, &old_name, &new_name);
    if args.detailed {
        let side = |lock, place: Place| diff_rows::Side {
            lock,
            dataset_dir: place.dataset_dir,
            recreate: place.recreate,
        };
        // The project's stat cache when there is a project here; no state written otherwise.
        let mut stat = if settings.state_dir().is_dir() {
            super::stat_cache(settings)
        } else {
            crate::statcache::StatCache::ephemeral()
        };
        let rows = diff_rows::compare(
            &side(&old, old_place),
            &side(&new, new_place),
            args.key.as_deref(),
            &mut stat,
        );
        stat.save();
        report.rows = Some(rows?);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(&report).unwrap_or_default()
        );
    } else {
        let text = render(&report);
        let text = if crate::error::stdout_color_enabled() {
            colorize(&text)
        } else {
            text
        };
        let _ = write!(out, "{text}");
    }
    Ok(0)
}

/// Color a rendered diff: headers bold, additions green, removals red, changes yellow.
fn colorize(text: &str) -> String {
    use owo_colors::OwoColorize;
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if !l.starts_with(' ') {
                l.bold().to_string()
            } else if t.starts_with("+ ") || t.starts_with("schema + ") {
                l.green().to_string()
            } else if t.starts_with("- ") || t.starts_with("schema - ") {
                l.red().to_string()
            } else {
                l.yellow().to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}
