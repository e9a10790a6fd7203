//! `mldatabuild verify`: outputs on disk against the lock, and the lock's own consistency,
//! without building anything.

use std::io::Write;

use crate::cli::VerifyArgs;
use crate::error::Result;
use crate::fingerprint::{SOURCE_DOMAIN, action_key, files_hash};
use crate::lockfile::Lock;
use crate::settings::Settings;
use crate::statcache::StatCache;

/// Problems in the lock itself: broken links between stages, forged keys, params that no
/// longer match the spec.
pub(crate) fn consistency(
    lock: &Lock,
    spec_params: Option<&std::collections::BTreeMap<String, serde_json::Value>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, st) in &lock.stages {
        for input in &st.inputs {
            let producer = lock
                .sources
                .get(&input.name)
                .map(|s| &s.hash)
                .or_else(|| lock.stages.get(&input.name).map(|s| &s.output_hash));
            match producer {
                None => problems.push(format!(
                    "stage {name}: input `{}` is not in the lock",
                    input.name
                )),
                Some(h) if *h != input.hash => problems.push(format!(
                    "stage {name}: input `{}` has hash {} but its producer recorded {h}",
                    input.name, input.hash
                )),
                Some(_) => {}
            }
        }
        // Recompute through the stage so that defaults are filled in exactly as a build does,
        // with the kind and impl version the lock recorded.
        let hashes: Vec<&str> = st.inputs.iter().map(|i| i.hash.as_str()).collect();
        let recomputed = crate::stages::build(&st.kind, &st.params)
            .map(|s| action_key(&st.kind, st.impl_version, &s.params(), &hashes));
        match recomputed {
            Ok(k) if k != st.key => problems.push(format!(
                "stage {name}: key {} does not match its recorded kind, params and inputs",
                st.key
            )),
            Err(e) => problems.push(format!("stage {name}: {e}")),
            Ok(_) => {}
        }
        if !st.output_hash_matches() {
            problems.push(format!(
                "stage {name}: output_hash does not match its outputs"
            ));
        }
        if let Some(spec) = spec_params {
            match spec.get(name) {
                None => problems.push(format!("stage {name}: not in the spec any more")),
                Some(p) => {
                    if let Some((path, a, b)) = crate::dirty::first_diff("params", &st.params, p) {
                        problems.push(format!(
                            "stage {name}: {path} is {a} in the lock but {b} in the spec"
                        ));
                    }
                }
            }
        }
    }
    if let Some(spec) = spec_params {
        for name in spec.keys() {
            if !lock.stages.contains_key(name) {
                problems.push(format!("stage {name}: in the spec but not in the lock"));
            }
        }
    }
    problems
}

/// What `verify` found for one source.
enum SourceVerdict {
    /// Its files on disk (or in the download cache) are the ones the lock lists.
    Match(usize),
    /// Not compared, and why (shown; does not fail the verification).
    Unchecked(String),
    Mismatch(String),
}

/// Compare each source's recorded file list with the files: local sources under `root`, remote
/// ones in the download cache at the revision the lock pins (never over the network).
fn check_sources(
    lock: &Lock,
    root: std::result::Result<&std::path::Path, &str>,
    stat: &mut StatCache,
) -> Vec<(String, SourceVerdict)> {
    let mut out = Vec::new();
    for (name, s) in &lock.sources {
        let listed: Vec<(&str, u64, &str)> = s
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.size, f.sha256.as_str()))
            .collect();
        if files_hash(SOURCE_DOMAIN, &listed) != s.hash {
            out.push((
                name.clone(),
                SourceVerdict::Mismatch("its hash does not match its file list".into()),
            ));
            continue;
        }
        let def = super::rebuild::source_def(s);
        let files: Vec<(String, std::path::PathBuf)> = if crate::fetch::is_remote(&s.uri) {
            let opts = crate::fetch::FetchOptions {
                offline: true,
                ..crate::fetch::FetchOptions::default()
            };
            if let Ok(f) =
                crate::fetch::fetch_source(&def, s.revision.as_deref(), &opts, &mut |_| {})
            {
                f.files
            } else {
                out.push((
                    name.clone(),
                    SourceVerdict::Unchecked(
                        "not in the download cache; `mldatabuild rebuild` fetches and checks it"
                            .into(),
                    ),
                ));
                continue;
            }
        } else {
            let root = match root {
                Ok(r) => r,
                Err(why) => {
                    out.push((name.clone(), SourceVerdict::Unchecked(why.to_owned())));
                    continue;
                }
            };
            match crate::source::list_files(root, &def) {
                Ok(f) => f,
                Err((msg, _)) => {
                    out.push((name.clone(), SourceVerdict::Mismatch(msg)));
                    continue;
                }
            }
        };
        let paths: Vec<std::path::PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
        let digests = stat.digest_many(&paths);
        let mut found: std::collections::BTreeMap<&str, Option<(u64, String)>> = files
            .iter()
            .zip(digests)
            .map(|((n, _), d)| (n.as_str(), d.ok().map(|d| (d.size, d.sha256))))
            .collect();
        let mut problem = None;
        for f in &s.files {
            match found.remove(f.path.as_str()) {
                None => problem = Some(format!("`{}` is missing", f.path)),
                Some(None) => problem = Some(format!("`{}` cannot be read", f.path)),
                Some(Some((size, sha))) if size != f.size || sha != f.sha256 => {
                    problem = Some(format!(
                        "`{}` changed (SHA-256 {}…, the lock has {}…)",
                        f.path,
                        crate::trust::short(&sha, 12),
                        crate::trust::short(&f.sha256, 12)
                    ));
                }
                Some(Some(_)) => {}
            }
            if problem.is_some() {
                break;
            }
        }
        if problem.is_none()
            && let Some(extra) = found.keys().next()
        {
            problem = Some(format!("`{extra}` is not in the lock"));
        }
        out.push((
            name.clone(),
            problem.map_or(SourceVerdict::Match(s.files.len()), SourceVerdict::Mismatch),
        ));
    }
    out
}

pub(crate) fn verify(settings: &Settings, args: &VerifyArgs) -> Result<u8> {
    let lock_path = args.lock.as_ref().map_or_else(
        || super::rebuild::default_lock_path(settings),
        |p| settings.cwd.join(p),
    );
    let lock = super::read_lock_arg(&lock_path)?;
    let is_manifest = lock_path.file_name().is_some_and(|f| f == "manifest.yaml");
    let out = if is_manifest {
        lock_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    } else {
        lock_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
            .join(&lock.output)
    };
    // Params from the spec, when the spec is there to compare with.
    let spec_params = if is_manifest || args.lock.is_some() {
        None
    } else {
        super::load_project(settings).ok().map(|mut p| {
            let _ = p.pin_seeds(Some(&lock), None);
            p.nodes
                .iter()
                .filter_map(|n| match &n.kind {
                    crate::spec::NodeKind::Stage(s) => Some((n.name.clone(), s.params())),
                    crate::spec::NodeKind::Source(_) => None,
                })
                .collect()
        })
    };
    let mut stat = if is_manifest {
        StatCache::ephemeral()
    } else {
        super::stat_cache(settings)
    };
    // Every path was checked when the lock was read; joined again beneath the dataset folder
    // so that a symbolic link planted inside it is not followed.
    let files: Vec<(&str, &crate::lockfile::FileLock)> = lock
        .stages
        .iter()
        .flat_map(|(n, s)| s.outputs.iter().map(move |f| (n.as_str(), f)))
        .collect();
    let paths: Vec<Option<std::path::PathBuf>> = files
        .iter()
        .map(|(_, f)| {
            crate::trust::join_beneath(&out, &f.path)
                .ok()
                .filter(|p| !std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))
        })
        .collect();
    let readable: Vec<std::path::PathBuf> = paths.iter().flatten().cloned().collect();
    let mut digests = stat.digest_many(&readable).into_iter();
    let mut stdout = std::io::stdout().lock();
    let mut results = Vec::new();
    let mut ok = 0usize;
    let mut bad_stages = std::collections::BTreeSet::new();
    for ((stage, f), p) in files.iter().zip(&paths) {
        let detail = match p.as_ref().map(|_| digests.next()) {
            None => "behind a symbolic link".to_owned(),
            Some(Some(Ok(d))) if d.sha256 == f.sha256 && d.size == f.size => String::new(),
            Some(Some(Ok(_))) => "modified".to_owned(),
            Some(_) => "missing".to_owned(),
        };
        let good = detail.is_empty();
        if !good {
            bad_stages.insert(*stage);
        }
        ok += usize::from(good);
        results.push(serde_json::json!({"path": f.path, "ok": good, "problem": detail}));
        if !args.json {
            let mark = if good { "✓" } else { "✗" };
            let detail = if detail.is_empty() {
                detail
            } else {
                format!("  ({detail})")
            };
            let _ = writeln!(stdout, "{mark} {}{detail}", f.path);
        }
    }
    // Row counts and schemas, from the Parquet footers of the files that matched.
    let mut tables = Vec::new();
    let mut parquet_files = 0usize;
    for (name, st) in &lock.stages {
        if bad_stages.contains(name.as_str()) {
            continue;
        }
        let names = st.output_names();
        parquet_files += names
            .iter()
            .filter(|n| n.ends_with(".parquet") && !crate::lockfile::is_report(n))
            .count();
        for p in crate::trust::entry_claims(&out, st) {
            tables.push(format!("stage {name}: {p}"));
        }
    }
    let root = if let Some(r) = &args.root {
        Ok(settings.cwd.join(r))
    } else if is_manifest {
        super::rebuild::lock_root(&lock_path, &lock, None).map_err(|_| {
            "the project folder is unknown; pass `--root DIR` to check local sources".to_owned()
        })
    } else {
        Ok(lock_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(
                || std::path::PathBuf::from("."),
                std::path::Path::to_path_buf,
            ))
    };
    let sources = check_sources(&lock, root.as_deref().map_err(String::as_str), &mut stat);
    stat.save();
    let sources_bad = sources
        .iter()
        .filter(|(_, v)| matches!(v, SourceVerdict::Mismatch(_)))
        .count();
    let problems = consistency(&lock, spec_params.as_ref());
    let all_ok = ok == files.len() && problems.is_empty() && tables.is_empty() && sources_bad == 0;
    if args.json {
        let sources_json: Vec<serde_json::Value> = sources
            .iter()
            .map(|(n, v)| match v {
                SourceVerdict::Match(k) => {
                    serde_json::json!({"name": n, "checked": true, "ok": true, "files": k})
                }
                SourceVerdict::Unchecked(why) => {
                    serde_json::json!({"name": n, "checked": false, "ok": true, "problem": why})
                }
                SourceVerdict::Mismatch(why) => {
                    serde_json::json!({"name": n, "checked": true, "ok": false, "problem": why})
                }
            })
            .collect();
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::json!({"files": results, "matched": ok, "total": files.len(), "sources": sources_json, "tables": tables, "consistency": problems, "ok": all_ok})
        );
    } else {
        let _ = writeln!(stdout, "Verification: {ok}/{} files match", files.len());
        let checked = sources
            .iter()
            .filter(|(_, v)| !matches!(v, SourceVerdict::Unchecked(_)))
            .count();
        let _ = writeln!(
            stdout,
            "Sources: {}/{checked} match{}",
            checked - sources_bad,
            if checked == sources.len() {
                String::new()
            } else {
                format!(" ({} not checked)", sources.len() - checked)
            }
        );
        for (n, v) in &sources {
            match v {
                SourceVerdict::Match(_) => {}
                SourceVerdict::Unchecked(why) => {
                    let _ = writeln!(stdout, "  – {n}: not checked: {why}");
                }
                SourceVerdict::Mismatch(why) => {
                    let _ = writeln!(stdout, "  ✗ {n}: {why}");
                }
            }
        }
        // `Title: ok (…)`, or the problems one per line.
        let mut section = |title: &str, ok: String, list: &[String]| {
            if list.is_empty() {
                let _ = writeln!(stdout, "{title}: {ok}");
                return;
            }
            let n = list.len();
            let _ = writeln!(
                stdout,
                "{title}: {n} problem{}",
                if n == 1 { "" } else { "s" }
            );
            for p in list {
                let _ = writeln!(stdout, "  ✗ {p}");
            }
        };
        section(
            "Tables",
            format!(
                "ok (row counts and schemas of {parquet_files} Parquet file{})",
                if parquet_files == 1 { "" } else { "s" }
            ),
            &tables,
        );
        section("Lock consistency", "ok".into(), &problems);
    }
    Ok(if all_ok {
        0
    } else {
        crate::error::EXIT_FAILURE
    })
}
