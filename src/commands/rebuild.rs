//! `mldatabuild rebuild`: reproduce a dataset from its lockfile into a fresh folder, then
//! verify every artifact against the lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::RebuildArgs;
use crate::error::{Error, Result};
use crate::executor::{BuildRequest, Executor};
use crate::lockfile::Lock;
use crate::report::human::HumanReporter;
use crate::settings::Settings;
use crate::spec::{Node, NodeKind, Project, SourceDef};
use crate::statcache::StatCache;

/// Where a lock's relative paths (spec, local sources) resolve: the lockfile's folder for a
/// `dataset.lock`, or the project folder above the dataset folder for a `manifest.yaml`.
pub(crate) fn lock_root(lock_path: &Path, lock: &Lock, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(r) = explicit {
        return Ok(r.to_path_buf());
    }
    let dir = lock_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let is_manifest = lock_path.file_name().is_some_and(|f| f == "manifest.yaml");
    if !is_manifest {
        return Ok(dir);
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let mut root = dir.clone();
    for _ in Path::new(&lock.output).components() {
        if !root.pop() {
            break;
        }
    }
    if root.join(&lock.output) == dir {
        Ok(root)
    } else {
        Err(Error::user(format!(
            "cannot tell where the sources of `{}` are",
            lock_path.display()
        ))
        .hint("pass `--root DIR`, the folder that held dataset.yaml"))
    }
}

/// The source a lock entry describes (its URI and selection).
pub(crate) fn source_def(s: &crate::lockfile::SourceLock) -> SourceDef {
    SourceDef {
        uri: s.uri.clone(),
        files: s.files_glob.clone(),
        sha256: None,
        config: s.config.clone(),
        split: s.split.clone(),
    }
}

/// The lock's graph, rebuilt from its recorded kinds, parameters and inputs.
pub(crate) fn project_from_lock(lock: &Lock, root: PathBuf, out_dir: String) -> Result<Project> {
    let mut nodes: Vec<Node> = Vec::new();
    for (name, s) in &lock.sources {
        nodes.push(Node {
            name: name.clone(),
            group: name.clone(),
            combination: BTreeMap::new(),
            member: (1, 1),
            inputs: Vec::new(),
            kind: NodeKind::Source(source_def(s)),
            output: String::new(),
        });
    }
    // Stages in dependency order: passes over the lock's stages in name order, each placing
    // every stage whose inputs are placed (a stage placed earlier in a pass counts), as a
    // queue keyed by (pass, position), so it stays O(n log n) for the largest locks.
    let stages: Vec<(&String, &crate::lockfile::StageLock)> = lock.stages.iter().collect();
    let sources = nodes.len();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(sources + stages.len());
    for (i, name) in lock.sources.keys().enumerate() {
        index.insert(name.as_str(), i);
    }
    for (k, (name, _)) in stages.iter().enumerate() {
        index.insert(name.as_str(), sources + k);
    }
    // Per stage: the stages it reads and how many of them are not placed yet (an input that
    // names nothing in the lock is never placed).
    let mut waiting: Vec<usize> = vec![0; stages.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); stages.len()];
    for (k, (_, st)) in stages.iter().enumerate() {
        for input in &st.inputs {
            match index.get(input.name.as_str()) {
                Some(&i) if i < sources => {}
                Some(&i) => {
                    waiting[k] += 1;
                    readers[i - sources].push(k);
                }
                None => waiting[k] += 1,
            }
        }
    }
    let mut members: HashMap<&str, usize> = HashMap::new();
    for (_, st) in &stages {
        *members.entry(st.group.as_str()).or_default() += 1;
    }
    let mut rank: HashMap<&str, usize> = HashMap::new();
    let member: Vec<usize> = stages
        .iter()
        .map(|(_, st)| {
            let r = rank.entry(st.group.as_str()).or_default();
            *r += 1;
            *r
        })
        .collect();
    let mut queue: BTreeSet<(usize, usize)> = (0..stages.len())
        .filter(|&k| waiting[k] == 0)
        .map(|k| (0, k))
        .collect();
    let mut node_of: Vec<usize> = vec![usize::MAX; stages.len()];
    while let Some((pass, k)) = queue.pop_first() {
        let (name, st) = stages[k];
        let stage = crate::stages::build(&st.kind, &st.params)
            .map_err(|e| Error::user(format!("stage `{name}` in the lock: {e}")))?;
        let inputs = st
            .inputs
            .iter()
            .map(|i| match index.get(i.name.as_str()) {
                Some(&x) if x < sources => x,
                Some(&x) => node_of[x - sources],
                None => 0,
            })
            .collect();
        node_of[k] = nodes.len();
        nodes.push(Node {
            name: name.clone(),
            group: st.group.clone(),
            combination: st.matrix.clone(),
            member: (member[k], members[st.group.as_str()]),
            inputs,
            kind: NodeKind::Stage(stage),
            output: st.output.clone(),
        });
        for &r in &readers[k] {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                // Later in this pass, or in the next one.
                queue.insert((if r > k { pass } else { pass + 1 }, r));
            }
        }
    }
    if nodes.len() < sources + stages.len() {
        let names: Vec<&str> = (0..stages.len())
            .filter(|&k| node_of[k] == usize::MAX)
            .map(|k| stages[k].0.as_str())
            .collect();
        return Err(Error::user(format!(
            "the lock's stages {} read inputs that are not in the lock",
            names.join(", ")
        ))
        .hint("the lockfile is damaged or was edited by hand"));
    }
    Ok(Project {
        root,
        spec_path: lock.spec.path.clone(),
        spec_hash: lock.spec.blake3.clone(),
        name: lock.dataset.name.clone(),
        version: lock.dataset.version.clone(),
        description: lock.dataset.description.clone(),
        out_dir,
        dag: crate::spec::graph::Dag::of(&nodes),
        nodes,
    })
}

pub(crate) fn default_lock_path(settings: &Settings) -> PathBuf {
    let spec_name = settings.spec_file.file_name().map_or_else(
        || "dataset.yaml".into(),
        |f| f.to_string_lossy().into_owned(),
    );
    settings
        .root()
        .join(crate::spec::resolve::lock_name(&spec_name))
}

pub(crate) fn rebuild(settings: &Settings, args: &RebuildArgs) -> Result<u8> {
    let lock_path = args
        .lock
        .as_ref()
        .map_or_else(|| default_lock_path(settings), |p| settings.cwd.join(p));
    let lock = super::read_lock_arg(&lock_path)?;
    let root = lock_root(
        &lock_path,
        &lock,
        args.root
            .as_deref()
            .map(|r| settings.cwd.join(r))
            .as_deref(),
    )?;
    let (out, _tmp) = if let Some(o) = &args.out {
        let o = settings.cwd.join(o);
        if o.exists() && std::fs::read_dir(&o).map_or(true, |mut d| d.next().is_some()) {
            return Err(Error::user(format!("`{}` is not empty", o.display()))
                .hint("rebuild needs a new or empty folder"));
        }
        (o, None)
    } else {
        let t = tempfile::Builder::new()
            .prefix("mldatabuild-rebuild-")
            .tempdir()
            .map_err(|e| Error::failure(e.to_string()))?;
        (t.path().to_path_buf(), Some(t))
    };
    let project = project_from_lock(&lock, root, out.to_string_lossy().into_owned())?;
    let store = super::open_store()?;
    let mut stat = StatCache::ephemeral();
    let jobs = Settings::jobs(args.jobs);
    super::init_threads(jobs);
    let reporter = HumanReporter::new(settings.verbosity, settings.progress);
    let mut ex = Executor {
        project: &project,
        store: &store,
        stat: &mut stat,
        old: Some(&lock),
        reporter: &reporter,
        lock_path: None,
    };
    let req = BuildRequest {
        jobs,
        force: true,
        use_run_cache: false,
        keep_going: true,
        ..BuildRequest::default()
    };

    // The sources must be the ones the lock pinned.
    let outcome = ex.build(&req)?;
    let mut mismatched_sources = Vec::new();
    for (name, s) in &lock.sources {
        if outcome.lock.sources.get(name).map(|n| &n.hash) != Some(&s.hash) {
            mismatched_sources.push(name.clone());
        }
    }
    let mut stdout = std::io::stdout().lock();
    if !mismatched_sources.is_empty() {
        return Err(Error::failure(format!(
            "the sources {} differ from the ones the lock pinned; the dataset cannot be reproduced from them",
            mismatched_sources.join(", ")
        ))
        .hint("restore the source files the lock names (see `mldatabuild diff`), or pass `--root` to point at them"));
    }
    let (mut ok, mut total) = (0usize, 0usize);
    for st in lock.stages.values() {
        for f in &st.outputs {
            total += 1;
            // The lock's paths were checked when it was read: none leaves `out`.
            let got = crate::trust::join_beneath(&out, &f.path)
                .ok()
                .and_then(|p| crate::statcache::sha256_file(&p).ok());
            let good = got.as_deref() == Some(f.sha256.as_str());
            ok += usize::from(good);
            let mark = if good { "✓" } else { "✗" };
            let detail = match (&got, good) {
                (_, true) => String::new(),
                (None, _) => "  (not produced)".into(),
                (Some(g), false) => format!(
                    "  (expected {}…, got {}…)",
                    crate::trust::short(&f.sha256, 12),
                    crate::trust::short(g, 12)
                ),
            };
            let _ = writeln!(stdout, "{mark} {}{detail}", f.path);
        }
    }
    let _ = writeln!(stdout, "Verification: {ok}/{total} files match");
    if args.out.is_some() {
        let _ = writeln!(stdout, "Rebuilt into {}", out.display());
    }
    Ok(if ok == total && outcome.failed().is_empty() {
        0
    } else {
        crate::error::EXIT_FAILURE
    })
}
