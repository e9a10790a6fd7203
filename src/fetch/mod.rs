//! Remote sources: Hugging Face Hub datasets and plain HTTP(S) files, fetched into the download
//! cache and pinned in the lockfile.
//!
//! A source's remote revision (a Hub commit, a file's SHA-256) is resolved once and recorded in
//! `dataset.lock`; later builds use the recorded one and the cached snapshot, without any
//! network access, until `build --refresh` resolves again. `rebuild` always uses the recorded
//! revision. Every downloaded file is verified (LFS SHA-256 or git blob SHA-1 from the Hub's
//! listing, sizes, a `sha256:` pin) before it enters the cache.

pub mod auth;
pub mod cache;
pub mod hf;
pub mod http;
pub mod kaggle;
pub mod openml;
pub mod sample;
pub mod uri;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::spec::SourceDef;
use cache::{Cache, CachedFile, Manifest};
use http::Client;
use uri::Remote;

/// A failed fetch, for people.
#[derive(Debug, Clone)]
pub struct FetchError {
    pub message: String,
    pub hint: Option<String>,
    /// The HTTP status, when a server answered.
    pub status: Option<u16>,
    /// The server's `X-Error-Code`.
    pub code: Option<String>,
    pub retryable: bool,
    pub retry_after: Option<std::time::Duration>,
    /// The user's input is wrong (exit 2), not the network or the server (exit 1).
    pub user: bool,
}

impl FetchError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            status: None,
            code: None,
            retryable: false,
            retry_after: None,
            user: false,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn user(mut self) -> Self {
        self.user = true;
        self
    }

    #[must_use]
    pub fn tried(mut self, attempts: u32) -> Self {
        if attempts > 1 {
            self.message = format!("{} (after {attempts} tries)", self.message);
        }
        self
    }
}

impl From<FetchError> for crate::error::Error {
    fn from(e: FetchError) -> Self {
        let err = if e.user {
            crate::error::Error::user(e.message)
        } else {
            crate::error::Error::failure(e.message)
        };
        match e.hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

/// How a build may use the network and the cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Never touch the network: build from the cache (and the lock's pins) alone.
    pub offline: bool,
    /// Resolve floating revisions again (`@main`, a URL's current content) instead of using
    /// the lock's.
    pub refresh: bool,
    /// Fetch again even when the cache has the snapshot.
    pub no_cache: bool,
}

impl FetchOptions {
    /// `--offline` or `HF_HUB_OFFLINE` / `MLDATA_OFFLINE` set to 1/on/yes/true.
    pub fn offline_from_env() -> bool {
        ["MLDATA_OFFLINE", "HF_HUB_OFFLINE"].iter().any(|k| {
            std::env::var(k).is_ok_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")
            })
        })
    }
}

/// Things a fetch reports as it goes.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// The cache already had the snapshot.
    Cached {
        revision: String,
    },
    /// Downloading `files` files, `bytes` in all (`resuming` bytes already there).
    Downloading {
        files: usize,
        bytes: u64,
    },
    /// A partial download is resumed.
    Resuming {
        file: String,
        percent: u32,
    },
    /// Bytes downloaded so far (sent a few times a second while files download).
    Progress {
        done: u64,
        total: u64,
        files_done: usize,
        files_total: usize,
        /// Seconds since any byte arrived (a stalled download shows it).
        idle_secs: u64,
        /// The files downloading right now, by name.
        files: Vec<FileProgress>,
    },
    Warning(String),
}

/// One file downloading (for per-file progress bars).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileProgress {
    pub name: String,
    /// Bytes of it on disk so far (resumed bytes included).
    pub done: u64,
    /// Its size; 0 when not known yet.
    pub total: u64,
}

/// The files each download worker is on (slot = worker).
struct Live(Mutex<Vec<Option<FileProgress>>>);

impl Live {
    fn new(workers: usize) -> Live {
        Live(Mutex::new(vec![None; workers]))
    }

    fn set(&self, slot: usize, f: impl FnOnce(&mut Option<FileProgress>)) {
        if let Ok(mut v) = self.0.lock()
            && let Some(s) = v.get_mut(slot)
        {
            f(s);
        }
    }

    fn snapshot(&self) -> Vec<FileProgress> {
        let mut v: Vec<FileProgress> = self
            .0
            .lock()
            .map(|v| v.iter().flatten().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

/// A source fetched into the cache.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Files as (name inside the source, path in the cache), sorted by name.
    pub files: Vec<(String, PathBuf)>,
    /// What the source resolved to: a Hub commit, or `sha256:<hex>` of a URL's content.
    pub revision: String,
    pub cached: bool,
    /// The cache key of the snapshot (to drop it when its files turn out damaged).
    pub key: String,
}

/// Files the `datasets` library never treats as data (besides hidden files).
const NOT_DATA: &[&str] = &[
    "README.md",
    "config.json",
    "dataset_info.json",
    "dataset_infos.json",
    "dummy_data.zip",
    "dataset_dict.json",
];

/// Concurrent downloads of one source (`MLDATA_DOWNLOAD_JOBS` overrides, 1 to 64).
const PARALLEL_DOWNLOADS: usize = 8;

/// OpenML's API: `OPENML_ENDPOINT`, default its JSON API.
pub const OPENML_DEFAULT: &str = "https://www.openml.org/api/v1/json";

/// An endpoint from the environment (trimmed, without a trailing `/`), else `default`.
pub fn endpoint(var: &str, default: &str) -> String {
    endpoint_var(var).unwrap_or_else(|| default.to_owned())
}

/// An endpoint from the environment (trimmed, without a trailing `/`), when set.
pub fn endpoint_var(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|e| e.trim().trim_end_matches('/').to_owned())
        .filter(|e| !e.is_empty())
}

/// Whether a source URI is remote (the fetcher handles it).
pub fn is_remote(uri: &str) -> bool {
    matches!(uri::parse(uri), Ok(Some(_)) | Err(_))
}

/// Fetch a remote source into the cache (or find it there) and return its files.
/// `pinned` is the revision the lock recorded for this exact source (URI and selection).
pub fn fetch_source(
    def: &SourceDef,
    pinned: Option<&str>,
    opts: &FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    let remote = uri::parse(&def.uri)
        .map_err(|e| {
            let (m, h) = e.split_once(" | hint: ").unwrap_or((&e, ""));
            FetchError::new(m).hint(h).user()
        })?
        .ok_or_else(|| FetchError::new(format!("`{}` is a local path", def.uri)).user())?;
    let (cache, warning) = Cache::open();
    if let Some(w) = warning {
        events(FetchEvent::Warning(w));
    }
    let client = Client::new();
    match &remote {
        Remote::Hf {
            repo,
            revision,
            kind,
        } => fetch_hf(
            &cache,
            &client,
            def,
            repo,
            *kind,
            revision.as_deref(),
            pinned,
            *opts,
            events,
        ),
        Remote::Http { url } => fetch_url(&cache, &client, def, url, pinned, *opts, events),
        Remote::Kaggle {
            owner,
            slug,
            version,
        } => kaggle::fetch(
            &cache, &client, def, owner, slug, *version, pinned, *opts, events,
        ),
        Remote::OpenMl { id } => openml::fetch(&cache, &client, def, *id, pinned, *opts, events),
    }
}

pub(super) fn selection(def: &SourceDef) -> String {
    serde_json::json!({"files": def.files, "config": def.config, "split": def.split}).to_string()
}

/// A cached snapshot, if complete (and not `--no-cache`). A snapshot whose files are missing
/// or have the wrong size is dropped (with a warning) so the caller fetches it again.
pub(super) fn cached(
    cache: &Cache,
    key: &str,
    opts: FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Option<Fetched> {
    if opts.no_cache {
        cache.remove_snapshot(key);
        return None;
    }
    let m = cache.manifest(key)?;
    let dir = cache.snapshot(key);
    let files: Vec<(String, PathBuf)> = m
        .files
        .iter()
        .map(|f| (f.path.clone(), dir.join(&f.path)))
        .collect();
    if !files
        .iter()
        .zip(&m.files)
        .all(|((_, p), f)| std::fs::metadata(p).is_ok_and(|md| md.len() == f.size))
    {
        events(FetchEvent::Warning(
            "the cached copy was damaged (a file is missing or changed size); fetching it again"
                .into(),
        ));
        cache.remove_snapshot(key);
        return None;
    }
    cache.touch(key);
    Some(Fetched {
        files,
        revision: m.revision,
        cached: true,
        key: key.to_owned(),
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the fetch's whole context"
)]
fn fetch_hf(
    cache: &Cache,
    client: &Client,
    def: &SourceDef,
    repo: &str,
    kind: uri::RepoKind,
    revision: Option<&str>,
    pinned: Option<&str>,
    opts: FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    let hub = hf::Hub::from_env().with_kind(kind);
    let wanted = revision.unwrap_or("main");
    let commit = match pinned {
        Some(c) if !opts.refresh => c.to_owned(),
        _ if opts.offline => {
            return Err(FetchError::new(format!(
                "`{}` has no revision recorded in the lockfile, and --offline forbids asking the Hub",
                def.uri
            ))
            .hint("build once online (the lock then pins the commit), or pin one in the URI: hf://owner/name@<commit>")
            .user());
        }
        _ if is_commit(wanted) => wanted.to_owned(),
        _ => hub.resolve(client, repo, wanted)?,
    };
    let prefix = if kind == uri::RepoKind::Model {
        "models/"
    } else {
        ""
    };
    let key = cache::key(&format!("hf://{prefix}{repo}"), &commit, &selection(def));
    if let Some(f) = cached(cache, &key, opts, events) {
        events(FetchEvent::Cached {
            revision: commit.clone(),
        });
        return Ok(f);
    }
    if opts.offline {
        return Err(FetchError::new(format!(
            "`{}` at {} is not in the cache, and --offline forbids downloading it",
            def.uri,
            &commit[..commit.len().min(12)]
        ))
        .hint("build once without --offline")
        .user());
    }
    let _guard = cache.lock(&key, || {})?;
    if let Some(f) = cached(cache, &key, FetchOptions::default(), events) {
        return Ok(f);
    }
    let mut all = hub.list(client, repo, &commit)?;
    if def.config.is_some() || def.split.is_some() {
        let keep = hf::select_config(client, &hub, repo, &commit, def, &all)?;
        all.retain(|f| keep.contains(&f.path));
    }
    let patterns = patterns(def)?;
    let chosen: Vec<hf::RepoFile> = all
        .into_iter()
        .filter(|f| !f.path.split('/').any(|s| s.starts_with('.')))
        .filter(|f| match &patterns {
            Some(p) => p.iter().any(|p| p.matches(&f.path)),
            None => {
                !NOT_DATA.contains(&f.path.as_str())
                    && !std::path::Path::new(&f.path)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("py"))
            }
        })
        .collect();
    if chosen.is_empty() {
        return Err(FetchError::new(format!(
            "`{}` at {} has no {}files",
            def.uri,
            &commit[..12.min(commit.len())],
            if patterns.is_some() {
                "matching "
            } else {
                "data "
            }
        ))
        .hint("check `files:` globs against the repository's paths (`mldatabuild info hf://…`)")
        .user());
    }
    let jobs: Vec<Job> = chosen
        .iter()
        .map(|f| Job {
            name: f.path.clone(),
            url: hub.file_url(repo, &commit, &f.path),
            post: None,
            size: Some(f.size),
            check: match &f.lfs_sha256 {
                Some(s) => Check::Sha256(s.clone()),
                None => Check::GitSha1(f.oid.clone()),
            },
        })
        .collect();
    let listed = jobs.iter().filter_map(|j| j.size).sum();
    let files = download_all(
        cache,
        client,
        hub.cred.as_ref(),
        &jobs,
        Some(listed),
        events,
    )
    .map_err(|e| {
        if matches!(e.status, Some(401 | 403 | 404))
            && matches!(e.code.as_deref(), Some("GatedRepo" | "RepoNotFound"))
        {
            hub.explain(client, repo, &commit, e)
        } else {
            e
        }
    })?;
    let manifest = Manifest {
        uri: format!("hf://{repo}"),
        revision: commit.clone(),
        files,
    };
    let dir = cache.publish(&key, &manifest)?;
    evict(cache, &key, events);
    Ok(Fetched {
        files: manifest
            .files
            .iter()
            .map(|f| (f.path.clone(), dir.join(&f.path)))
            .collect(),
        revision: commit,
        cached: false,
        key,
    })
}

pub(super) fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

pub(super) fn patterns(def: &SourceDef) -> Result<Option<Vec<glob::Pattern>>, FetchError> {
    def.files
        .as_ref()
        .map(|globs| {
            globs
                .iter()
                .map(|g| {
                    glob::Pattern::new(g).map_err(|e| {
                        FetchError::new(format!("`{g}` is not a valid glob: {e}")).user()
                    })
                })
                .collect()
        })
        .transpose()
}

/// One file's download.
pub(super) struct Job {
    pub name: String,
    pub url: String,
    /// A JSON body to POST to `url`, which answers with the file or a redirect to it (Kaggle's
    /// current API); `None`: `url` is the file.
    pub post: Option<String>,
    pub size: Option<u64>,
    pub check: Check,
}

impl Job {
    /// What the client requests for this file.
    pub(super) fn target(&self) -> http::Target<'_> {
        http::Target {
            url: &self.url,
            post: self.post.as_deref().map(str::as_bytes),
        }
    }
}

/// How a download is verified before it enters the cache.
pub(super) enum Check {
    Sha256(String),
    GitSha1(String),
    /// OpenML lists the MD5 of its files.
    #[allow(dead_code, reason = "used by the OpenML fetcher")]
    Md5(String),
    None,
}

/// Free bytes on the file system holding `path`; `MLDATA_TEST_FREE_BYTES` stands in for it
/// (a test hook: a full disk cannot be made portably).
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    std::env::var("MLDATA_TEST_FREE_BYTES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| fs4::available_space(path).ok())
}

/// Refuse to start downloads that cannot fit: the bytes still to fetch (sizes the listing
/// gives, minus partial files already there) against the cache file system's free space,
/// with 1 % (at least 64 MB) to spare. `MLDATA_TEST_FREE_BYTES` stands in for the free space
/// (a test hook: a full disk cannot be made portably).
fn check_free_space(cache: &Cache, jobs: &[Job]) -> Result<(), FetchError> {
    let needed: u64 =
        jobs.iter()
            .filter_map(|j| {
                let size = j.size?;
                let have = match &j.check {
                    Check::Sha256(s) => std::fs::metadata(cache.partial(&cache::partial_id(s)))
                        .map_or(0, |m| m.len()),
                    _ => 0,
                };
                Some(size.saturating_sub(have))
            })
            .sum();
    let Some(free) = free_bytes(&cache.root) else {
        return Ok(());
    };
    let spare = (needed / 100).max(64 * 1024 * 1024);
    if needed > 0 && needed.saturating_add(spare) > free {
        return Err(FetchError::new(format!(
            "not enough free space in `{}`: the download needs {} and {} is free",
            cache.root.display(),
            crate::report::human::size(needed),
            crate::report::human::size(free)
        ))
        .hint(
            "free some space (`mldatabuild cache gc`), or point MLDATA_CACHE_DIR at a larger disk",
        ));
    }
    Ok(())
}

/// A job's size not known yet (no listing, and no answer with a `Content-Length` so far).
const UNKNOWN: u64 = u64::MAX;

/// Download every job into the blobs (in parallel, verified); returns the manifest's files.
///
/// Announces the download (`FetchEvent::Downloading`) first: at once with `listed` (the bytes a
/// listing gives), else as soon as every job's size is known from its answer's headers, at the
/// latest at the first progress report (or when all is done, with the sizes downloaded).
pub(super) fn download_all(
    cache: &Cache,
    client: &Client,
    cred: Option<&http::Credential>,
    jobs: &[Job],
    listed: Option<u64>,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Vec<CachedFile>, FetchError> {
    check_free_space(cache, jobs)?;
    let announce = |events: &mut dyn FnMut(FetchEvent), bytes: u64| {
        events(FetchEvent::Downloading {
            files: jobs.len(),
            bytes,
        });
    };
    let mut announced = listed.is_some();
    if let Some(bytes) = listed {
        announce(events, bytes);
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<CachedFile, FetchError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let notes: Mutex<Vec<FetchEvent>> = Mutex::new(Vec::new());
    let workers = std::env::var("MLDATA_DOWNLOAD_JOBS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(PARALLEL_DOWNLOADS);
    let bytes = AtomicU64::new(0);
    let finished = AtomicUsize::new(0);
    // Each job's size: listed, or learned from its answer (`UNKNOWN` until then).
    let sizes: Vec<AtomicU64> = jobs
        .iter()
        .map(|j| AtomicU64::new(j.size.unwrap_or(UNKNOWN)))
        .collect();
    let known = || -> u64 {
        sizes
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&s| s != UNKNOWN)
            .sum()
    };
    let all_known = || sizes.iter().all(|s| s.load(Ordering::Relaxed) != UNKNOWN);
    let live = Live::new(workers.min(jobs.len()));
    // Workers wake this thread when a size becomes known and when a file is done, so the
    // announcement is not late and the last file's end is not followed by a wait.
    let (wake, woken) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        for slot in 0..workers.min(jobs.len()) {
            let (next, notes, bytes, finished, results, live, sizes) =
                (&next, &notes, &bytes, &finished, &results, &live, &sizes);
            let wake = wake.clone();
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let watch = Watch {
                        bytes,
                        live: (live, slot),
                        size: &sizes[i],
                        wake: &wake,
                    };
                    let r = fetch_one_counted(cache, client, cred, job, notes, &watch);
                    live.set(slot, |s| *s = None);
                    finished.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                    let _ = wake.send(());
                }
            });
        }
        drop(wake);
        // This thread reports progress while the workers download.
        let tick = std::time::Duration::from_millis(200);
        let mut next_tick = std::time::Instant::now() + tick;
        let mut last = (0u64, std::time::Instant::now());
        while finished.load(Ordering::Relaxed) < jobs.len() {
            let wait = next_tick.saturating_duration_since(std::time::Instant::now());
            if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = woken.recv_timeout(wait) {
                break;
            }
            let now = std::time::Instant::now();
            let at_tick = now >= next_tick;
            if !announced && (at_tick || all_known()) {
                announce(events, known());
                announced = true;
            }
            if !announced {
                continue;
            }
            if let Ok(mut n) = notes.lock() {
                for e in n.drain(..) {
                    events(e);
                }
            }
            if !at_tick {
                continue;
            }
            next_tick = now + tick;
            let done = bytes.load(Ordering::Relaxed);
            if done != last.0 {
                last = (done, now);
            }
            events(FetchEvent::Progress {
                done,
                total: if all_known() { known() } else { 0 },
                files_done: finished.load(Ordering::Relaxed),
                files_total: jobs.len(),
                idle_secs: last.1.elapsed().as_secs(),
                files: live.snapshot(),
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    if !announced {
        // Done before the first report: the sizes are those downloaded.
        let done: u64 = results.iter().flatten().flatten().map(|f| f.size).sum();
        announce(events, if all_known() { known() } else { done });
    }
    for n in notes.into_inner().unwrap_or_default() {
        events(n);
    }
    let mut files = Vec::with_capacity(jobs.len());
    let mut failed = Vec::new();
    for (job, r) in jobs.iter().zip(results) {
        match r {
            Some(Ok(f)) => files.push(f),
            Some(Err(e)) => failed.push((job.name.clone(), e)),
            None => failed.push((job.name.clone(), FetchError::new("not downloaded"))),
        }
    }
    if let Some((name, first)) = failed.first() {
        let mut e = first.clone();
        e.message = if failed.len() == 1 {
            format!("`{name}`: {}", first.message)
        } else {
            format!(
                "{} of {} files failed; `{name}`: {} (partial downloads are kept and resume next time)",
                failed.len(),
                jobs.len(),
                first.message
            )
        };
        return Err(e);
    }
    Ok(files)
}

/// What a download reports to [`download_all`] as it goes.
struct Watch<'a> {
    /// Bytes downloaded by every job (for progress).
    bytes: &'a AtomicU64,
    /// The worker's slot in the files downloading right now.
    live: (&'a Live, usize),
    /// The job's size, set from the answer's headers when not listed.
    size: &'a AtomicU64,
    /// Told when the size becomes known.
    wake: &'a std::sync::mpsc::Sender<()>,
}

/// Download one file into the blobs (unless its verified blob is already there), adding the
/// bytes it downloads to `watch.bytes`.
fn fetch_one_counted(
    cache: &Cache,
    client: &Client,
    cred: Option<&http::Credential>,
    job: &Job,
    notes: &Mutex<Vec<FetchEvent>>,
    watch: &Watch<'_>,
) -> Result<CachedFile, FetchError> {
    let Watch {
        bytes,
        live,
        size: learned,
        wake,
    } = *watch;
    if let Check::Sha256(sha) = &job.check {
        // A blob is trusted only after re-hashing it: a hard link in a snapshot may have been
        // written through.
        let blob = cache.blob(sha);
        if let Ok(md) = std::fs::metadata(&blob)
            && job.size.is_none_or(|s| s == md.len())
            && crate::statcache::sha256_file(&blob).is_ok_and(|h| h == *sha)
        {
            bytes.fetch_add(md.len(), Ordering::Relaxed);
            learned.store(md.len(), Ordering::Relaxed);
            return Ok(CachedFile {
                path: job.name.clone(),
                size: md.len(),
                sha256: sha.clone(),
            });
        }
    }
    // Kaggle's RPC downloads share one URL and differ by their body.
    let id = cache::partial_id(&match (&job.check, &job.post) {
        (Check::Sha256(s), _) => s.clone(),
        (_, None) => job.url.clone(),
        (_, Some(body)) => format!("{}\n{body}", job.url),
    });
    let part = cache.partial(&id);
    let _lock = cache.lock_partial(&part)?;
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    if have > 0
        && let Some(total) = job.size
        && total > 0
        && have < total
        && let Ok(mut n) = notes.lock()
    {
        n.push(FetchEvent::Resuming {
            file: job.name.clone(),
            percent: (100 * have / total) as u32,
        });
    }
    let mut seen = have;
    let (live, slot) = live;
    live.set(slot, |s| {
        *s = Some(FileProgress {
            name: job.name.clone(),
            done: have,
            total: job.size.unwrap_or(0),
        });
    });
    let git = matches!(job.check, Check::GitSha1(_));
    let got = client.download(job.target(), cred, &part, job.size, git, &mut |p| {
        if p.done >= seen {
            bytes.fetch_add(p.done - seen, Ordering::Relaxed);
        }
        seen = p.done;
        if let Some(t) = p.total
            && learned.load(Ordering::Relaxed) == UNKNOWN
        {
            learned.store(t, Ordering::Relaxed);
            let _ = wake.send(());
        }
        live.set(slot, |s| {
            if let Some(f) = s {
                f.done = p.done;
                f.total = p.total.unwrap_or(f.total);
            }
        });
    });
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            // The partial file was created to be locked: drop it when nothing arrived.
            if std::fs::symlink_metadata(&part).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = std::fs::remove_file(&part);
            }
            return Err(e);
        }
    };
    let sha = got.sha256.clone();
    let ok = match &job.check {
        Check::Sha256(want) => want.eq_ignore_ascii_case(&sha),
        Check::GitSha1(want) => match &got.git_sha1 {
            Some(g) => g.eq_ignore_ascii_case(want),
            None => hf::git_blob_sha1(&part).is_ok_and(|g| g.eq_ignore_ascii_case(want)),
        },
        Check::Md5(want) => md5_file(&part).is_ok_and(|g| g.eq_ignore_ascii_case(want)),
        Check::None => true,
    };
    if !ok {
        let _ = std::fs::remove_file(&part);
        let want = match &job.check {
            Check::Sha256(w) => format!("SHA-256 {w}"),
            Check::GitSha1(w) => format!("git SHA-1 {w}"),
            Check::Md5(w) => format!("MD5 {w}"),
            Check::None => String::new(),
        };
        return Err(FetchError::new(format!(
            "checksum mismatch: the download has SHA-256 {sha}, but the server lists {want}"
        ))
        .hint("the file was corrupted in transit or changed on the server; the partial file was removed, so building again downloads it anew"));
    }
    let size = std::fs::metadata(&part).map_or(0, |m| m.len());
    cache
        .store_blob(&part, &sha)
        .map_err(|e| FetchError::new(format!("cannot write the cache: {e}")))?;
    Ok(CachedFile {
        path: job.name.clone(),
        size,
        sha256: sha,
    })
}

/// The MD5 of a file (OpenML's checksum).
fn md5_file(path: &std::path::Path) -> std::io::Result<String> {
    use md5::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(crate::statcache::hex(&h.finalize()))
}

/// The file name a URL's content is stored under: its last path segment.
pub(super) fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or("");
    let name: String = last
        .chars()
        .map(|c| if c.is_control() || c == '\\' { '_' } else { c })
        .collect();
    if name.is_empty() || name == "." || name == ".." || name.starts_with('.') {
        "download".to_owned()
    } else {
        name
    }
}

fn fetch_url(
    cache: &Cache,
    client: &Client,
    def: &SourceDef,
    url: &str,
    pinned: Option<&str>,
    opts: FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    // A password in the URL is sent to its origin only, and never recorded or shown: the
    // cache, the lock and messages know the URL as `shown` (`https://user:***@host/…`).
    let shown = uri::redacted(url);
    let (plain, cred) = http::Credential::from_url(url);
    let name = url_file_name(&plain);
    let spec_pin = def.sha256.as_deref().map(|s| s.trim().to_ascii_lowercase());
    // The content we expect: the spec's pin, else the lock's (unless refreshing).
    let want = spec_pin.clone().or_else(|| {
        pinned
            .filter(|_| !opts.refresh)
            .and_then(|p| p.strip_prefix("sha256:"))
            .map(str::to_owned)
    });
    if let Some(sha) = &want {
        let key = cache::key(&shown, &format!("sha256:{sha}"), &selection(def));
        if let Some(f) = cached(cache, &key, opts, events) {
            events(FetchEvent::Cached {
                revision: f.revision.clone(),
            });
            return Ok(f);
        }
    }
    if opts.offline {
        return Err(FetchError::new(format!(
            "`{}` is not in the cache, and --offline forbids downloading it",
            http::redact(url)
        ))
        .hint("build once without --offline")
        .user());
    }
    if uri::credential_is_masked(url) {
        return Err(FetchError::new(format!(
            "`{}` is not in the cache, and cannot be downloaded without its password, which a lockfile never records",
            http::redact(url)
        ))
        .hint("build from the dataset.yaml that has the URL with its password (`mldatabuild build`)")
        .user());
    }
    let job = Job {
        name: name.clone(),
        url: plain,
        post: None,
        size: None,
        check: match &spec_pin {
            Some(s) => Check::Sha256(s.clone()),
            None => Check::None,
        },
    };
    let file = download_all(
        cache,
        client,
        cred.as_ref(),
        std::slice::from_ref(&job),
        None,
        events,
    )
    .map_err(|mut e| {
        // One file, named by the URL already.
        let prefix = format!("`{name}`: ");
        if e.message.starts_with(&prefix) {
            e.message.drain(..prefix.len());
        }
        match &spec_pin {
            Some(_) if e.message.starts_with("checksum mismatch") => FetchError::new(format!(
                "`{name}` from {}: {}",
                http::redact(url),
                e.message.replace("the server lists", "the spec pins")
            ))
            .hint("if the new content is expected, update `sha256:` in dataset.yaml (or remove it and run `build --register-checksums`)")
            .user(),
            _ => e,
        }
    })?
    .remove(0);
    if let Some(p) = pinned.and_then(|p| p.strip_prefix("sha256:"))
        && !opts.refresh
        && p != file.sha256
    {
        events(FetchEvent::Warning(format!(
            "`{}` changed on the server since the lock recorded it (SHA-256 {} → {})",
            http::redact(url),
            &p[..12.min(p.len())],
            &file.sha256[..12]
        )));
    }
    let revision = format!("sha256:{}", file.sha256);
    let key = cache::key(&shown, &revision, &selection(def));
    let manifest = Manifest {
        uri: shown,
        revision: revision.clone(),
        files: vec![file],
    };
    let dir = cache.publish(&key, &manifest)?;
    evict(cache, &key, events);
    Ok(Fetched {
        files: vec![(name.clone(), dir.join(&name))],
        revision,
        cached: false,
        key,
    })
}

/// Keep the cache under `cache.max_size_gb`: least-recently-used snapshots go first (never the
/// one just fetched).
pub(super) fn evict(cache: &Cache, just_fetched: &str, events: &mut dyn FnMut(FetchEvent)) {
    let Some(max) = cache::max_size_from_config() else {
        return;
    };
    if cache.size() <= max {
        return;
    }
    let r = cache.gc(max, &[just_fetched.to_owned()]);
    if r.snapshots_removed > 0 {
        events(FetchEvent::Warning(format!(
            "the cache was over cache.max_size_gb: removed {} least recently used snapshot{} ({} MB)",
            r.snapshots_removed,
            if r.snapshots_removed == 1 { "" } else { "s" },
            r.bytes_freed / 1_000_000
        )));
    }
}

/// Drop a snapshot whose files do not match their recorded hashes (damaged cache).
pub fn drop_snapshot(key: &str) {
    let (cache, _) = Cache::open();
    cache.remove_snapshot(key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert_eq!(url_file_name("https://h/a/b.csv?x=1"), "b.csv");
        assert_eq!(url_file_name("https://h/"), "download");
        assert_eq!(url_file_name("https://h/.."), "download");
    }
}
