//! `mldatabuild release`: check that the build is up to date and that the spec's version is
//! greater than the previous release's, suggest the size of the step from the diff, write the
//! CHANGELOG entry, record the lock in `.mldatabuild/releases/`, and optionally write a DVC
//! pointer file (`--dvc`) or Git LFS rules (`--git-lfs`) for the dataset folder.
//!
//! Every check runs before anything is written, and every file is replaced atomically, so a
//! refused release leaves the project as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diff::{DiffReport, compare};
use crate::cli::ReleaseArgs;
use crate::error::{Error, Result};
use crate::executor::Status;
use crate::lockfile::{Lock, StageLock, write_atomic_bytes};
use crate::release::{Bump, RELEASES_DIR, Version, changelog, dvc, lfs};
use crate::settings::Settings;

/// Entries of a list in a CHANGELOG bullet before "and N more".
const MAX_LISTED: usize = 10;

/// The previous release: its lock, its version and where it came from.
struct Previous {
    lock: Lock,
    version: Version,
    /// `.mldatabuild/releases/1.0.0.lock`, `git revision v1.0`, or a lockfile path.
    from: String,
}

/// How big a step the changes call for, and why.
#[derive(Debug, Serialize)]
struct Suggestion {
    bump: Bump,
    reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DvcResult {
    file: String,
    md5: String,
    size: u64,
    nfiles: u64,
    gitignore: String,
    gitignore_changed: bool,
}

#[derive(Debug, Serialize)]
struct LfsResult {
    gitattributes: String,
    /// Patterns added to `.gitattributes`.
    added: Vec<String>,
    /// Patterns (or file endings) that an existing rule already sends through LFS.
    present: Vec<String>,
}

#[derive(Debug, Serialize)]
struct PreviousJson {
    version: String,
    from: String,
}

#[derive(Debug, Serialize)]
struct ReleaseJson<'a> {
    dataset: &'a str,
    version: String,
    previous: Option<PreviousJson>,
    /// The step from the previous version (`null` for a first release).
    bump: Option<Bump>,
    suggested_bump: Option<Bump>,
    reasons: Vec<String>,
    warnings: Vec<String>,
    date: String,
    changelog: String,
    entry: String,
    lock_copy: String,
    dry_run: bool,
    dvc: Option<&'a DvcResult>,
    git_lfs: Option<&'a LfsResult>,
    next: &'a [String],
}

/// One file to write, with its new contents (`None`: no change needed).
struct PlannedWrite {
    path: PathBuf,
    text: Option<Vec<u8>>,
}

pub(crate) fn release(settings: &Settings, args: &ReleaseArgs) -> Result<u8> {
    // A build running meanwhile would change the lock under us: wait for it (a dry run only
    // reads, and creates no lock file).
    let _guard = if args.dry_run {
        None
    } else {
        Some(super::project_lock(settings)?)
    };
    let (project, statuses, _) = super::status::plan(settings, Vec::new())?;
    let lock_path = project.lock_path();
    let lock = super::read_lock(&project)?;
    let shown = |p: &Path| shown_path(&settings.cwd, p);

    // 1. The build must be complete and fresh.
    let mut stale = Vec::new();
    for node in project.nodes.iter().filter(|n| !n.is_source()) {
        match statuses.get(&node.name) {
            Some(Status::Fresh) => {}
            Some(Status::Planned { reason, .. }) => stale.push(format!("{}: {reason}", node.name)),
            Some(other) => stale.push(format!("{}: {}", node.name, other.label())),
            None => stale.push(format!("{}: not planned", node.name)),
        }
    }
    let lock = match lock {
        Some(l) if stale.is_empty() && l.spec.blake3 == project.spec_hash => l,
        Some(l) => {
            if l.spec.blake3 != project.spec_hash {
                let what = if l.dataset.version == project.version {
                    String::new()
                } else {
                    format!(
                        " (the lock has version {}, the spec {})",
                        l.dataset.version, project.version
                    )
                };
                stale.insert(
                    0,
                    format!("{} changed since the last build{what}", project.spec_path),
                );
            }
            return Err(not_built(&stale));
        }
        None => {
            return Err(not_built(&[format!(
                "there is no {} yet",
                shown(&lock_path)
            )]));
        }
    };
    let lock_bytes = std::fs::read(&lock_path)
        .map_err(|e| Error::failure(format!("cannot read `{}`: {e}", shown(&lock_path))))?;

    // 2. The version: greater than the previous release's.
    let version = Version::parse(&project.version).ok_or_else(|| {
        Error::user(format!(
            "`version: {}` in {} is not a semantic version that releases can be ordered by",
            project.version, project.spec_path
        ))
        .hint("use MAJOR.MINOR.PATCH, e.g. 1.2.0 (optionally with -rc.1)")
    })?;
    let previous = previous_release(settings, &project, args.since.as_deref())?;
    let report = previous
        .as_ref()
        .map(|p| compare(&p.lock, &lock, &p.from, "dataset.lock"));
    let features = previous
        .as_ref()
        .map(|p| features_changes(&p.lock, &lock))
        .unwrap_or_default();
    let suggestion = match (&previous, &report) {
        (Some(p), Some(r)) => Some(suggest(r, &features, &p.lock, &lock)),
        _ => None,
    };
    if let (Some(p), Some(s)) = (&previous, &suggestion)
        && version <= p.version
    {
        let what = if version == p.version {
            format!("version {version} is already released ({})", p.from)
        } else {
            format!(
                "version {version} is lower than the released {} ({})",
                p.version, p.from
            )
        };
        let why = if s.reasons.is_empty() {
            format!("nothing changed since {}", p.version)
        } else {
            format!(
                "the changes since {} suggest a {} release",
                p.version,
                s.bump.as_str()
            )
        };
        return Err(Error::failure(format!("{what}: a release needs a greater version")).hint(
            format!(
                "set `version:` in {} to {} (patch), {} (minor) or {} (major) — {why} — then run `mldatabuild build` and release again",
                project.spec_path,
                p.version.bumped(Bump::Patch),
                p.version.bumped(Bump::Minor),
                p.version.bumped(Bump::Major),
            ),
        ));
    }
    let bump = previous.as_ref().map(|p| p.version.bump_to(&version));
    let mut warnings = Vec::new();
    if let (Some(p), Some(b), Some(s)) = (&previous, bump, &suggestion)
        && b < s.bump
    {
        warnings.push(format!(
            "{} → {version} is a {} release, but the changes suggest a {} one ({}); consider {}",
            p.version,
            b.as_str(),
            s.bump.as_str(),
            s.reasons.join("; "),
            p.version.bumped(s.bump)
        ));
    }

    // 3. The CHANGELOG entry.
    let date = crate::release::release_date().map_err(Error::user)?;
    let entry = render_entry(
        &version.to_string(),
        &date,
        &lock,
        previous.as_ref(),
        report.as_ref(),
        &features,
        bump,
    );
    let changelog_path = args.changelog.as_ref().map_or_else(
        || project.root.join("CHANGELOG.md"),
        |p| settings.cwd.join(p),
    );
    let existing = match std::fs::read_to_string(&changelog_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Error::failure(format!(
                "cannot read `{}`: {e}",
                shown(&changelog_path)
            )));
        }
    };
    let replaces = existing
        .as_deref()
        .is_some_and(|t| changelog::has_entry(t, &version.to_string()));
    let new_changelog = changelog::merge(existing.as_deref(), &version.to_string(), &entry);
    let lock_copy = settings
        .state_dir()
        .join(RELEASES_DIR)
        .join(format!("{version}.lock"));
    let mut writes = vec![PlannedWrite {
        path: changelog_path.clone(),
        text: Some(new_changelog.into_bytes()),
    }];
    let mut next = Vec::new();
    let out_dir = project.out_path();

    // 4. DVC's pointer file.
    let dvc_result = if args.dvc {
        let (result, mut w, mut n, warn) = plan_dvc(&out_dir, &shown)?;
        writes.append(&mut w);
        next.append(&mut n);
        warnings.extend(warn);
        Some(result)
    } else {
        None
    };

    // 5. Git LFS rules.
    let lfs_result = if args.git_lfs {
        let (result, w, mut n, warn) = plan_lfs(&out_dir, &shown)?;
        writes.extend(w);
        next.append(&mut n);
        warnings.extend(warn);
        Some(result)
    } else {
        None
    };

    // The recorded lock goes last: it is what makes the version released, so when any write
    // before it fails, running the release again redoes it (its entry is replaced, the
    // .gitignore and .gitattributes lines are not repeated).
    writes.push(PlannedWrite {
        path: lock_copy.clone(),
        text: Some(lock_bytes),
    });
    if !args.dry_run {
        for w in &writes {
            if let Some(text) = &w.text {
                write_atomic_bytes(&w.path, text).map_err(|e| {
                    Error::failure(format!("cannot write `{}`: {e}", shown(&w.path)))
                })?;
            }
        }
    }

    // 6. Report.
    let reasons = suggestion
        .as_ref()
        .map(|s| s.reasons.clone())
        .unwrap_or_default();
    if args.json {
        let json = ReleaseJson {
            dataset: &project.name,
            version: version.to_string(),
            previous: previous.as_ref().map(|p| PreviousJson {
                version: p.version.to_string(),
                from: p.from.clone(),
            }),
            bump,
            suggested_bump: suggestion.as_ref().map(|s| s.bump),
            reasons,
            warnings: warnings.clone(),
            date,
            changelog: shown(&changelog_path),
            entry: entry.clone(),
            lock_copy: shown(&lock_copy),
            dry_run: args.dry_run,
            dvc: dvc_result.as_ref(),
            git_lfs: lfs_result.as_ref(),
            next: &next,
        };
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string(&json).unwrap_or_default()
        );
        let mut err = std::io::stderr().lock();
        for w in &warnings {
            let _ = writeln!(err, "warning: {w}");
        }
        return Ok(0);
    }
    if args.dry_run {
        let _ = write!(std::io::stdout().lock(), "{entry}");
    }
    let mut err = std::io::stderr().lock();
    let head = match (&previous, bump) {
        (Some(p), Some(b)) => format!(
            "{} {version}: a {} release after {} (from {})",
            project.name,
            b.as_str(),
            p.version,
            p.from
        ),
        _ => format!("{} {version}: first release", project.name),
    };
    let _ = writeln!(err, "{head}");
    if let Some(s) = suggestion.as_ref().filter(|_| warnings.is_empty()) {
        let why = if s.reasons.is_empty() {
            "only metadata changed".to_owned()
        } else {
            s.reasons.join("; ")
        };
        let _ = writeln!(err, "Suggested: {} ({why})", s.bump.as_str());
    }
    for w in &warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let verb = |done: &str, would: &str| {
        if args.dry_run {
            would.to_owned()
        } else {
            done.to_owned()
        }
    };
    let _ = writeln!(
        err,
        "{} {} ({} the {version} entry)",
        verb("Wrote", "Would write"),
        shown(&changelog_path),
        if replaces { "replacing" } else { "adding" }
    );
    let _ = writeln!(
        err,
        "{} {} as {}",
        verb("Recorded", "Would record"),
        shown(&lock_path),
        shown(&lock_copy)
    );
    if let Some(d) = &dvc_result {
        let _ = writeln!(
            err,
            "DVC: {} {} (md5 {}, {} files, {}); {}",
            verb("wrote", "would write"),
            d.file,
            d.md5,
            d.nfiles,
            crate::report::human::size(d.size),
            if d.gitignore_changed {
                format!(
                    "{} /{} to {}",
                    verb("added", "would add"),
                    dir_name(&out_dir),
                    d.gitignore
                )
            } else {
                format!("{} already ignores /{}", d.gitignore, dir_name(&out_dir))
            }
        );
    }
    if let Some(l) = &lfs_result {
        let line = if !l.added.is_empty() {
            let mut s = format!(
                "Git LFS: {} {}: {}",
                verb("added to", "would add to"),
                l.gitattributes,
                l.added.join(", ")
            );
            if !l.present.is_empty() {
                let _ = write!(s, " (already tracked: {})", l.present.join(", "));
            }
            s
        } else if l.present.is_empty() {
            format!(
                "Git LFS: no large files in {}; {} is unchanged",
                shown(&out_dir),
                l.gitattributes
            )
        } else {
            format!(
                "Git LFS: {} already tracks {}; nothing changed",
                l.gitattributes,
                l.present.join(", ")
            )
        };
        let _ = writeln!(err, "{line}");
    }
    if args.dry_run {
        let _ = writeln!(err, "Dry run: nothing was written");
    } else if !next.is_empty() {
        let _ = writeln!(err, "Next:");
        for n in &next {
            let _ = writeln!(err, "  {n}");
        }
    }
    Ok(0)
}

/// The error for a build that is missing or stale, listing what is.
fn not_built(stale: &[String]) -> Error {
    let mut msg =
        String::from("the dataset is not built (or stale): run `mldatabuild build` first");
    for s in stale {
        let _ = write!(msg, "\n  {s}");
    }
    Error::failure(msg).hint("`mldatabuild status` shows every stage and why it is stale")
}

/// The last component of a folder path.
fn dir_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `p` relative to `cwd` when it is inside it, for messages.
fn shown_path(cwd: &Path, p: &Path) -> String {
    p.strip_prefix(cwd)
        .map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
}

/// The release to compare with: `--since REV` (a lockfile path or a git revision of the
/// lockfile), else the highest version in `.mldatabuild/releases/`; `None` for a first release.
fn previous_release(
    settings: &Settings,
    project: &crate::spec::Project,
    since: Option<&str>,
) -> Result<Option<Previous>> {
    let (lock, from) = if let Some(rev) = since {
        lock_at(settings, project, rev)?
    } else {
        let dir = settings.state_dir().join(RELEASES_DIR);
        let found = crate::release::recorded_releases(&dir).map_err(|e| {
            Error::failure(format!(
                "cannot list `{}`: {e}",
                shown_path(&settings.cwd, &dir)
            ))
        })?;
        let Some((_, path)) = found.into_iter().next() else {
            return Ok(None);
        };
        let lock = super::read_lock_arg(&path)?;
        (lock, shown_path(&settings.cwd, &path))
    };
    let version = Version::parse(&lock.dataset.version).ok_or_else(|| {
        Error::user(format!(
            "the previous release ({from}) has version `{}`, which is not a semantic version",
            lock.dataset.version
        ))
    })?;
    Ok(Some(Previous {
        lock,
        version,
        from,
    }))
}

/// The lock named by `--since`: a lockfile path, or the project's lockfile at a git revision.
fn lock_at(
    settings: &Settings,
    project: &crate::spec::Project,
    rev: &str,
) -> Result<(Lock, String)> {
    let path = settings.cwd.join(rev);
    if path.is_file() {
        return Ok((super::read_lock_arg(&path)?, rev.to_owned()));
    }
    let repo = git2::Repository::discover(&settings.cwd).map_err(|_| {
        Error::user(format!(
            "`--since {rev}`: not a file, and {} is not in a git repository",
            settings.cwd.display()
        ))
        .hint("name a git revision where dataset.lock is committed (e.g. v1.0, HEAD~1), or a lockfile")
    })?;
    let workdir = repo
        .workdir()
        .map(Path::to_path_buf)
        .ok_or_else(|| Error::user("the git repository is bare: it has no working tree"))?;
    let workdir = std::fs::canonicalize(&workdir).unwrap_or(workdir);
    let lock_path = project.lock_path();
    let abs = std::fs::canonicalize(&project.root)
        .unwrap_or_else(|_| project.root.clone())
        .join(lock_path.file_name().unwrap_or_default());
    let rel = abs
        .strip_prefix(&workdir)
        .map_err(|_| Error::user("the lockfile is outside the git repository"))?;
    let spec = format!("{rev}:{}", rel.to_string_lossy());
    let obj = repo.revparse_single(&spec).map_err(|e| {
        Error::user(format!(
            "`--since {rev}`: no such file, and git cannot find `{spec}`: {}",
            e.message()
        ))
        .hint("name a git revision where the lockfile is committed, or a lockfile")
    })?;
    let blob = obj
        .peel_to_blob()
        .map_err(|e| Error::user(format!("`{spec}` is not a file: {}", e.message())))?;
    let text = std::str::from_utf8(blob.content())
        .map_err(|_| Error::user(format!("`{spec}` is not UTF-8")))?;
    Ok((Lock::parse(text, &spec)?, format!("git revision {rev}")))
}

/// A stage's Hugging Face features (`summary.features`), by column.
fn features_of(s: &StageLock) -> BTreeMap<String, serde_json::Value> {
    s.summary
        .get("features")
        .and_then(|v| v.as_object())
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// A feature in a few words: `Value(int64)`, `ClassLabel(neg, pos)`, `Sequence(Value(int32))`.
fn describe_feature(v: &serde_json::Value) -> String {
    let ty = v.get("_type").and_then(|t| t.as_str()).unwrap_or_default();
    match ty {
        "Value" => format!(
            "Value({})",
            v.get("dtype").and_then(|d| d.as_str()).unwrap_or("?")
        ),
        "ClassLabel" => {
            let names: Vec<&str> = v
                .get("names")
                .and_then(|n| n.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            format!("ClassLabel({})", names.join(", "))
        }
        "Sequence" | "List" | "LargeList" => format!(
            "{ty}({})",
            v.get("feature")
                .map_or_else(|| "?".into(), describe_feature)
        ),
        "" => serde_json::to_string(v).unwrap_or_default(),
        other => other.to_owned(),
    }
}

/// Per stage in both builds: columns whose features changed, as `label: A → B` (plus columns
/// added or removed, for stages that record features but no schema).
fn features_changes(old: &Lock, new: &Lock) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, b) in &new.stages {
        let Some(a) = old.stages.get(name) else {
            continue;
        };
        let (fa, fb) = (features_of(a), features_of(b));
        let has_schema = a.summary.contains_key("schema") && b.summary.contains_key("schema");
        let cols: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
        for col in cols {
            match (fa.get(col), fb.get(col)) {
                (Some(x), Some(y)) if x != y => out.push((
                    name.clone(),
                    format!(
                        "features of `{col}`: {} → {}",
                        describe_feature(x),
                        describe_feature(y)
                    ),
                )),
                (Some(x), None) if !has_schema => out.push((
                    name.clone(),
                    format!("feature `{col}` removed ({})", describe_feature(x)),
                )),
                (None, Some(y)) if !has_schema => out.push((
                    name.clone(),
                    format!("feature `{col}` added ({})", describe_feature(y)),
                )),
                _ => {}
            }
        }
    }
    out
}

/// The bump the changes call for: a schema or features change, a removed split or stage →
/// major; rows or outputs changed, stages or sources added or changed → minor; otherwise
/// (metadata only) patch.
fn suggest(r: &DiffReport, features: &[(String, String)], old: &Lock, new: &Lock) -> Suggestion {
    let mut major = Vec::new();
    let mut minor = Vec::new();
    for c in &r.stages {
        if !c.schema.is_empty() {
            major.push(format!("the schema of `{}` changed", c.name));
        }
        for (k, a, b) in &c.splits {
            if a.is_some() && b.is_none() {
                major.push(format!("split `{k}` of `{}` was removed", c.name));
            } else if a.is_none() && b.is_some() {
                minor.push(format!("split `{k}` of `{}` was added", c.name));
            }
        }
        if c.rows.is_some() || c.splits.iter().any(|(_, a, b)| a.is_some() && b.is_some()) {
            minor.push(format!("the rows of `{}` changed", c.name));
        } else if !c.files.is_empty() {
            minor.push(format!("the outputs of `{}` changed", c.name));
        }
    }
    let featured: BTreeSet<&String> = features.iter().map(|(s, _)| s).collect();
    for s in featured {
        if !r
            .stages
            .iter()
            .any(|c| &c.name == s && !c.schema.is_empty())
        {
            major.push(format!("the features of `{s}` changed"));
        }
    }
    for s in &r.removed_stages {
        major.push(format!("stage `{s}` was removed"));
    }
    for s in &r.added_stages {
        minor.push(format!("stage `{s}` was added"));
    }
    if minor.is_empty() && major.is_empty() && old.stages.is_empty() != new.stages.is_empty() {
        minor.push("the stages changed".into());
    }
    if !major.is_empty() {
        Suggestion {
            bump: Bump::Major,
            reasons: major,
        }
    } else if !minor.is_empty() {
        Suggestion {
            bump: Bump::Minor,
            reasons: minor,
        }
    } else {
        let mut reasons = Vec::new();
        if old.dataset.description != new.dataset.description {
            reasons.push("the description changed".to_owned());
        }
        for c in &r.stages {
            if !c.params.is_empty() || c.impl_version.is_some() {
                reasons.push(format!(
                    "the parameters of `{}` changed, its outputs did not",
                    c.name
                ));
            }
        }
        Suggestion {
            bump: Bump::Patch,
            reasons,
        }
    }
}

/// `a, b, c and 4 more`, each in backticks.
fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(MAX_LISTED)
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED {
        let _ = write!(s, " and {} more", items.len() - MAX_LISTED);
    }
    s
}

/// `12 → 18 (+50.0%)`.
fn rows_change(a: Option<u64>, b: Option<u64>) -> String {
    match (a, b) {
        (Some(x), Some(y)) if x > 0 => {
            let pct = (y as f64 - x as f64) / x as f64 * 100.0;
            format!("{x} → {y} ({pct:+.1}%)")
        }
        (Some(x), Some(y)) => format!("{x} → {y}"),
        (None, Some(y)) => format!("{y} rows (new)"),
        (Some(x), None) => format!("{x} → removed"),
        (None, None) => "-".into(),
    }
}

/// Stages that no other stage reads: the dataset's final products.
fn leaf_stages(lock: &Lock) -> Vec<&String> {
    let read: BTreeSet<&str> = lock
        .stages
        .values()
        .flat_map(|s| s.inputs.iter().map(|i| i.name.as_str()))
        .collect();
    lock.stages
        .keys()
        .filter(|k| !read.contains(k.as_str()))
        .collect()
}

fn section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = write!(out, "\n### {title}\n\n");
    for l in lines {
        let _ = writeln!(out, "- {l}");
    }
}

/// The CHANGELOG entry: heading, one line on the release, then bullet lists of what changed
/// (or, for a first release, its splits and row counts) and the output hashes.
fn render_entry(
    version: &str,
    date: &str,
    lock: &Lock,
    previous: Option<&Previous>,
    report: Option<&DiffReport>,
    features: &[(String, String)],
    bump: Option<Bump>,
) -> String {
    let mut out = changelog::heading(version, date);
    out.push_str("\n\n");
    let (Some(p), Some(r)) = (previous, report) else {
        out.push_str("First release.\n");
        let mut rows = Vec::new();
        for (name, s) in &lock.stages {
            if let Some(splits) = s.summary.get("splits").and_then(|v| v.as_object()) {
                for (k, n) in splits {
                    rows.push(format!(
                        "`{name}` {k}: {} rows",
                        n.as_u64().map_or_else(|| "?".into(), |n| n.to_string())
                    ));
                }
            }
        }
        if rows.is_empty() {
            for name in leaf_stages(lock) {
                if let Some(n) = lock.stages[name]
                    .summary
                    .get("rows")
                    .and_then(serde_json::Value::as_u64)
                {
                    rows.push(format!("`{name}`: {n} rows"));
                }
            }
        }
        section(&mut out, "Splits", &rows);
        section(&mut out, "Output", &output_lines(lock, None));
        return out;
    };
    let _ = writeln!(
        out,
        "{} release; previous: {}.",
        match bump.unwrap_or(Bump::Patch) {
            Bump::Major => "Major",
            Bump::Minor => "Minor",
            Bump::Patch => "Patch",
        },
        p.version
    );
    let mut sources = Vec::new();
    for c in &r.sources {
        match c.status.as_str() {
            "added" | "removed" => sources.push(format!("`{}`: {}", c.name, c.status)),
            _ => {
                let mut parts = Vec::new();
                if let Some((a, b)) = &c.revision {
                    parts.push(format!(
                        "revision `{}` → `{}`",
                        a.as_deref().unwrap_or("none"),
                        b.as_deref().unwrap_or("none")
                    ));
                }
                if !c.files_added.is_empty() {
                    parts.push(format!("files added: {}", listed(&c.files_added)));
                }
                if !c.files_removed.is_empty() {
                    parts.push(format!("files removed: {}", listed(&c.files_removed)));
                }
                if !c.files_changed.is_empty() {
                    parts.push(format!("files changed: {}", listed(&c.files_changed)));
                }
                if parts.is_empty() {
                    parts.push("changed".into());
                }
                sources.push(format!("`{}`: {}", c.name, parts.join("; ")));
            }
        }
    }
    let mut stages: Vec<String> = r
        .added_stages
        .iter()
        .map(|s| format!("`{s}`: added"))
        .collect();
    stages.extend(r.removed_stages.iter().map(|s| format!("`{s}`: removed")));
    let mut rows = Vec::new();
    let mut schema = Vec::new();
    for c in &r.stages {
        if let Some((a, b)) = c.impl_version {
            stages.push(format!("`{}`: implementation {a} → {b}", c.name));
        }
        for (path, a, b) in &c.params {
            let path = path.strip_prefix("params.").unwrap_or(path);
            stages.push(format!("`{}`: `{path}` {a} → {b}", c.name));
        }
        if c.splits.is_empty() {
            if let Some((a, b)) = c.rows {
                rows.push(format!("`{}`: {}", c.name, rows_change(a, b)));
            }
        } else {
            for (k, a, b) in &c.splits {
                rows.push(format!("`{}` {k}: {}", c.name, rows_change(*a, *b)));
            }
        }
        for line in &c.schema {
            schema.push(format!("`{}`: {}", c.name, schema_line(line)));
        }
    }
    for (stage, text) in features {
        schema.push(format!("`{stage}`: {text}"));
    }
    section(&mut out, "Sources", &sources);
    section(&mut out, "Stages", &stages);
    section(&mut out, "Rows", &rows);
    section(&mut out, "Schema", &schema);
    if sources.is_empty() && stages.is_empty() && rows.is_empty() && schema.is_empty() {
        let _ = write!(out, "\nNo changes to the data since {}.\n", p.version);
    }
    if p.lock.dataset.description != lock.dataset.description {
        section(
            &mut out,
            "Metadata",
            &["the description changed".to_owned()],
        );
    }
    section(&mut out, "Output", &output_lines(lock, Some(&p.lock)));
    out
}

/// A line of `diff`'s schema comparison (`+ score: float64?`, `~ id: int64 → string`) in
/// words: ``column added: `score` float64 (nullable)``.
fn schema_line(line: &str) -> String {
    let (sign, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
    let (col, types) = rest
        .trim_start()
        .split_once(": ")
        .unwrap_or((rest.trim(), ""));
    let types: Vec<String> = types
        .split(" → ")
        .map(|t| match t.strip_suffix('?') {
            Some(t) => format!("{t} (nullable)"),
            None => t.to_owned(),
        })
        .collect();
    let what = match sign {
        "+" => "column added",
        "-" => "column removed",
        _ => "column changed",
    };
    format!("{what}: `{col}` {}", types.join(" → "))
}

/// The output hash of each final stage, with the previous one when it changed.
fn output_lines(lock: &Lock, old: Option<&Lock>) -> Vec<String> {
    leaf_stages(lock)
        .into_iter()
        .map(|name| {
            let h = &lock.stages[name].output_hash;
            match old.and_then(|o| o.stages.get(name)) {
                Some(o) if &o.output_hash != h => {
                    format!("`{name}`: `{h}` (was `{}`)", o.output_hash)
                }
                Some(_) => format!("`{name}`: `{h}` (unchanged)"),
                None => format!("`{name}`: `{h}`"),
            }
        })
        .collect()
}

type DvcPlan = (DvcResult, Vec<PlannedWrite>, Vec<String>, Vec<String>);

/// `--dvc`: the pointer file and `.gitignore` for the dataset folder, the commands to run
/// next, and warnings.
fn plan_dvc(out_dir: &Path, shown: &dyn Fn(&Path) -> String) -> Result<DvcPlan> {
    let name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::user("the dataset folder has no name to give DVC"))?;
    let parent = out_dir.parent().unwrap_or(Path::new("."));
    let hash = dvc::hash_dir(out_dir).map_err(Error::failure)?;
    let dvc_file = parent.join(format!("{name}.dvc"));
    let gitignore = parent.join(".gitignore");
    let old_ignore = std::fs::read_to_string(&gitignore).ok();
    let new_ignore = dvc::gitignore_with(old_ignore.as_deref(), &name);
    let mut warnings = Vec::new();
    for dir in out_dir.ancestors() {
        let f = dir.join(".dvcignore");
        if std::fs::read_to_string(&f).is_ok_and(|t| {
            t.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        }) {
            warnings.push(format!(
                "{} has rules, which the .dvc file does not apply: check it with `dvc status`",
                shown(&f)
            ));
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    let has_dvc_repo = out_dir.ancestors().any(|d| d.join(".dvc").is_dir());
    let mut next = Vec::new();
    if !has_dvc_repo {
        next.push("dvc init   (once: this project is not a DVC repository yet)".to_owned());
    }
    next.push(format!(
        "git add {} {}",
        shown(&dvc_file),
        shown(&gitignore)
    ));
    next.push(format!(
        "dvc commit {}   (stores the folder in DVC's cache)",
        shown(&dvc_file)
    ));
    next.push("dvc push".to_owned());
    let result = DvcResult {
        file: shown(&dvc_file),
        md5: hash.md5.clone(),
        size: hash.size,
        nfiles: hash.nfiles,
        gitignore: shown(&gitignore),
        gitignore_changed: new_ignore.is_some(),
    };
    let writes = vec![
        PlannedWrite {
            path: dvc_file,
            text: Some(dvc::pointer_file(&hash, &name).into_bytes()),
        },
        PlannedWrite {
            path: gitignore,
            text: new_ignore.map(String::into_bytes),
        },
    ];
    Ok((result, writes, next, warnings))
}

/// `--git-lfs`: the `.gitattributes` lines to add and the commands to run next. Fails outside
/// a git repository and when Git LFS is not installed.
fn plan_lfs(
    out_dir: &Path,
    shown: &dyn Fn(&Path) -> String,
) -> Result<(LfsResult, Option<PlannedWrite>, Vec<String>, Vec<String>)> {
    let (repo, root, folder) = lfs::locate(out_dir).map_err(|e| {
        Error::failure(format!(
            "not inside a git repository: {} ({e})",
            shown(out_dir)
        ))
        .hint("git init, or drop --git-lfs")
    })?;
    lfs::check_installed().map_err(|e| {
        Error::failure(format!("git-lfs is not installed: {e}")).hint(
            "install Git LFS (`apt-get install git-lfs`, `brew install git-lfs`, or https://git-lfs.com), run `git lfs install` once, then release again; or drop --git-lfs",
        )
    })?;
    let mut warnings = Vec::new();
    if !folder.is_empty() && repo.is_path_ignored(Path::new(&folder)).unwrap_or(false) {
        warnings.push(format!(
            "git ignores {} (a .gitignore rule), so its files are not committed and the LFS rules do not apply to them until it is un-ignored",
            shown(out_dir)
        ));
    }
    let path = root.join(".gitattributes");
    let existing = std::fs::read_to_string(&path).ok();
    let text = existing.as_deref().unwrap_or_default();
    let mut added = Vec::new();
    let mut present = Vec::new();
    for (ext, sample) in lfs::extensions_in(out_dir).map_err(Error::failure)? {
        let pattern = lfs::pattern(&folder, ext);
        let file = if folder.is_empty() {
            sample
        } else {
            format!("{folder}/{sample}")
        };
        if lfs::has_rule(text, &pattern) || lfs::tracked_by_lfs(&repo, &file) {
            present.push(pattern);
        } else {
            added.push(pattern);
        }
    }
    let write = (!added.is_empty()).then(|| {
        let lines: Vec<String> = added.iter().map(|p| lfs::line(p)).collect();
        PlannedWrite {
            path: path.clone(),
            text: Some(lfs::append(existing.as_deref(), &lines).into_bytes()),
        }
    });
    let next = vec![
        "git lfs install   (once per machine)".to_owned(),
        format!("git add {} {}", shown(&path), shown(out_dir)),
        "git commit".to_owned(),
    ];
    Ok((
        LfsResult {
            gitattributes: shown(&path),
            added,
            present,
        },
        write,
        next,
        warnings,
    ))
}
