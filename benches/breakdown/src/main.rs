//! Where the time of a no-op `mldatabuild build` goes: each phase of `commands::build` and
//! `Executor::build`, timed in-process through the library API (median of N runs).
//!
//!     breakdown PROJECT_DIR [N]
//!
//! The project must already be built (so the build is a no-op). MLDATA_HOME must be set.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use mldatabuild::cli::Cli;
use mldatabuild::executor::{BuildRequest, Executor};
use mldatabuild::lockfile::Lock;
use mldatabuild::report::{Event, Reporter};
use mldatabuild::settings::Settings;
use mldatabuild::spec::NodeKind;
use mldatabuild::statcache::StatCache;

struct Null;
impl Reporter for Null {
    fn event(&self, _: &Event) {}
}

#[derive(serde::Deserialize)]
struct VersionOnly {
    #[allow(dead_code)]
    version: u32,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Timer {
    n: usize,
}

impl Timer {
    /// Run `f` n times (after one warm-up), record the median in ms, return the last result.
    fn time<T>(&mut self, label: &str, mut f: impl FnMut() -> T) -> T {
        let mut out = f();
        let mut samples = Vec::with_capacity(self.n);
        for _ in 0..self.n {
            let t = Instant::now();
            out = std::hint::black_box(f());
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let m = median(samples);
        println!("  {label:<72} {m:8.2} ms");
        out
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: breakdown PROJECT_DIR [N]"));
    let n: usize = args.get(2).map_or(10, |s| s.parse().expect("N"));
    let mut t = Timer { n };

    let cli = Cli::parse_from(["mldatabuild", "-C", dir.to_str().unwrap(), "build", "-q"]);
    let settings = Settings::resolve(&cli.global).expect("settings");
    println!(
        "no-op build phases in {} (median of {n}, in-process)",
        dir.display()
    );

    println!("commands::build, before Executor::build:");
    let project = t.time("load_project (read + parse + resolve dataset.yaml)", || {
        mldatabuild::commands::load_project(&settings).expect("spec")
    });
    // The guard must be dropped inside the closure: a second flock from this process waits.
    t.time("project_lock (flock .mldatabuild/build.lock)", || {
        drop(mldatabuild::commands::project_lock(&settings).expect("flock"))
    });
    let lock_path = project.lock_path();
    let text = t.time("read dataset.lock into a String", || {
        std::fs::read_to_string(&lock_path).expect("lock")
    });
    println!(
        "    (dataset.lock: {} bytes, {} lines)",
        text.len(),
        text.lines().count()
    );
    t.time(
        "  serde_saphyr: VersionOnly pre-parse (Lock::parse pass 1)",
        || serde_saphyr::from_str::<VersionOnly>(&text).expect("v"),
    );
    let lock = t.time(
        "  Lock::parse (both passes: VersionOnly + full Lock)",
        || Lock::parse(&text, "dataset.lock").expect("lock"),
    );
    let json = serde_json::to_string(&lock).expect("json");
    t.time(
        &format!(
            "  (reference: serde_json::from_str::<Lock> of the same lock as JSON, {} bytes)",
            json.len()
        ),
        || serde_json::from_str::<Lock>(&json).expect("json"),
    );
    t.time(
        "commands::read_lock (what `build` calls: this revision's lock reader)",
        || mldatabuild::commands::read_lock(&project).expect("lock"),
    );
    let store = t.time("open_store", || {
        mldatabuild::commands::open_store().expect("store")
    });
    let cache_path = settings.state_dir().join("stat-cache-v1");
    let cache_len = std::fs::metadata(&cache_path).map(|m| m.len()).unwrap_or(0);
    t.time(&format!("StatCache::load ({cache_len} bytes)"), || {
        StatCache::load(&cache_path)
    });

    println!("inside Executor::build:");
    t.time(
        "store.clean_abandoned + remove_stale_temps(out) + (root)",
        || {
            store.clean_abandoned();
            mldatabuild::store::remove_stale_temps(&project.out_path());
            mldatabuild::store::remove_stale_temps_shallow(&project.root);
        },
    );
    let mut nfiles = 0;
    for node in &project.nodes {
        if let NodeKind::Source(def) = &node.kind {
            let files = t.time(
                &format!("source `{}`: list_files (walkdir + sort)", node.name),
                || mldatabuild::source::list_files(&project.root, def).expect("list"),
            );
            nfiles += files.len();
            let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
            let metas = t.time(
                &format!(
                    "source `{}`: stat {} files (std::fs::metadata)",
                    node.name,
                    paths.len()
                ),
                || {
                    paths
                        .iter()
                        .map(|p| std::fs::metadata(p).expect("meta"))
                        .collect::<Vec<_>>()
                },
            );
            let cache = StatCache::load(&cache_path);
            t.time(
                &format!("source `{}`: stat-cache lookups only", node.name),
                || {
                    paths
                        .iter()
                        .zip(&metas)
                        .filter(|(p, m)| cache.lookup(p, m).is_some())
                        .count()
                },
            );
            let mut cache = StatCache::load(&cache_path);
            let digests = t.time(
                &format!(
                    "source `{}`: StatCache::digest_many (stat + lookup)",
                    node.name
                ),
                || cache.digest_many(&paths),
            );
            assert_eq!(
                cache.hashed_files, 0,
                "the source was re-hashed: not a no-op"
            );
            let locks: Vec<(String, u64, String)> = files
                .iter()
                .zip(digests)
                .map(|((name, _), d)| {
                    let d = d.expect("digest");
                    (name.clone(), d.size, d.sha256)
                })
                .collect();
            t.time(&format!("source `{}`: files_hash", node.name), || {
                mldatabuild::fingerprint::files_hash(
                    mldatabuild::fingerprint::SOURCE_DOMAIN,
                    &locks
                        .iter()
                        .map(|(a, b, c)| (a.as_str(), *b, c.as_str()))
                        .collect::<Vec<_>>(),
                )
            });
        }
    }
    println!("    ({nfiles} source files)");
    t.time(
        "lock.clone() (Executor::build clones the old lock, twice on a no-op)",
        || lock.clone(),
    );
    t.time("lock.identity() x2 + compare (lock_changed)", || {
        lock.identity() == lock.identity()
    });
    let yaml = t.time(
        "Lock::to_yaml (write_lock serializes even on a no-op)",
        || lock.to_yaml(),
    );
    let manifest = project.out_path().join("manifest.yaml");
    t.time(
        "write_atomic x2: read dataset.lock + manifest.yaml, compare",
        || {
            std::fs::read(&lock_path).is_ok_and(|b| b == yaml.as_bytes())
                && std::fs::read(&manifest).is_ok_and(|b| b == yaml.as_bytes())
        },
    );
    t.time("drop a Lock (end of process)", || drop(lock.clone()));

    println!("whole:");
    let total = t.time(
        "Executor::build (fresh StatCache::load each run not included)",
        || {
            let mut stat = StatCache::load(&cache_path);
            let t0 = Instant::now();
            let mut ex = Executor {
                project: &project,
                store: &store,
                stat: &mut stat,
                old: Some(&lock),
                reporter: &Null,
                lock_path: Some(project.lock_path()),
            };
            let req = BuildRequest {
                jobs: 2,
                use_run_cache: true,
                ..BuildRequest::default()
            };
            let out = ex.build(&req).expect("build");
            assert!(!out.lock_changed, "not a no-op build");
            t0.elapsed()
        },
    );
    let _ = total;
    t.time(
        "commands::build end to end, in-process (spec + lock + cache + executor)",
        || {
            let settings = Settings::resolve(&cli.global).expect("settings");
            let project = mldatabuild::commands::load_project(&settings).expect("spec");
            let _guard = mldatabuild::commands::project_lock(&settings).expect("flock");
            let old = mldatabuild::commands::read_lock(&project).expect("lock");
            let store = mldatabuild::commands::open_store().expect("store");
            let mut stat = mldatabuild::commands::stat_cache(&settings);
            let mut ex = Executor {
                project: &project,
                store: &store,
                stat: &mut stat,
                old: old.as_ref(),
                reporter: &Null,
                lock_path: Some(project.lock_path()),
            };
            let req = BuildRequest {
                jobs: 2,
                use_run_cache: true,
                ..BuildRequest::default()
            };
            ex.build(&req).expect("build").lock_changed
        },
    );
}
