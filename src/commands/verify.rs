//! `mldatabuild verify`: outputs on disk against the lock, and the lock's own consistency,
//! without building anything.

use std::io::Write;

use crate::cli::VerifyArgs;
use crate::error::Result;
use crate::fingerprint::{OUTPUT_DOMAIN, action_key, files_hash};
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
        let names: Vec<String> = st
            .outputs
            .iter()
            .map(|f| crate::lockfile::output_rel(&st.output, &f.path))
            .collect();
        let rel: Vec<(&str, u64, &str)> = st
            .outputs
            .iter()
            .zip(&names)
            .map(|(f, n)| (n.as_str(), f.size, f.sha256.as_str()))
            .collect();
        if files_hash(OUTPUT_DOMAIN, &rel) != st.output_hash {
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
    let files: Vec<&crate::lockfile::FileLock> =
        lock.stages.values().flat_map(|s| &s.outputs).collect();
    let paths: Vec<std::path::PathBuf> = files.iter().map(|f| out.join(&f.path)).collect();
    let digests = stat.digest_many(&paths);
    stat.save();
    let mut stdout = std::io::stdout().lock();
    let mut results = Vec::new();
    let mut ok = 0usize;
    for (f, d) in files.iter().zip(digests) {
        let (good, detail) = match d {
            Ok(d) if d.sha256 == f.sha256 => (true, String::new()),
            Ok(_) => (false, "modified".to_owned()),
            Err(_) => (false, "missing".to_owned()),
        };
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
    let problems = consistency(&lock, spec_params.as_ref());
    if args.json {
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::json!({"files": results, "matched": ok, "total": files.len(), "consistency": problems, "ok": ok == files.len() && problems.is_empty()})
        );
    } else {
        let _ = writeln!(stdout, "Verification: {ok}/{} files match", files.len());
        if problems.is_empty() {
            let _ = writeln!(stdout, "Lock consistency: ok");
        } else {
            let _ = writeln!(
                stdout,
                "Lock consistency: {} problem{}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            for p in &problems {
                let _ = writeln!(stdout, "  ✗ {p}");
            }
        }
    }
    Ok(if ok == files.len() && problems.is_empty() {
        0
    } else {
        crate::error::EXIT_FAILURE
    })
}
