//! Source resolution: a local source's files are listed and hashed through the stat cache; a
//! remote one is fetched into the download cache (or found there, at the revision the lock
//! pins) and then hashed the same way. Either way the source's lock entry and its files for
//! downstream stages come out.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use super::{BuildRequest, BuildState, Executor, NodeDone};
use crate::error::{Error, Result};
use crate::fingerprint::{SOURCE_DOMAIN, files_hash};
use crate::lockfile::{FileLock, SourceLock};
use crate::report::events::Event;
use crate::spec::NodeKind;
use crate::stages::InputFile;

impl Executor<'_> {
    /// Resolve every selected source, first: hashing is cheap with the stat cache and parallel
    /// when it is not. Under `--locked`, a source whose files changed is a violation.
    pub(super) fn resolve_sources(
        &mut self,
        selected: &BTreeSet<usize>,
        req: &BuildRequest,
        st: &mut BuildState,
    ) -> Result<()> {
        let p = self.project;
        for &i in selected {
            if p.nodes[i].is_source() {
                let (entry, files) = self.hash_source(i, req)?;
                if req.locked
                    && let Some(old) = self.old.and_then(|l| l.sources.get(&p.nodes[i].name))
                    && old.hash != entry.hash
                {
                    st.violations
                        .push(format!("source {}: files changed", p.nodes[i].name));
                }
                st.done[i] = Some(NodeDone {
                    hash: entry.hash.clone(),
                    files,
                });
                st.lock.sources.insert(p.nodes[i].name.clone(), entry);
            }
        }
        if selected.len() == p.nodes.len() {
            st.lock
                .sources
                .retain(|name, _| p.nodes.iter().any(|n| n.is_source() && &n.name == name));
        }
        Ok(())
    }

    /// Hash a source's files; returns its lock entry and its files for downstream stages.
    fn hash_source(
        &mut self,
        i: usize,
        req: &BuildRequest,
    ) -> Result<(SourceLock, Vec<InputFile>)> {
        let node = &self.project.nodes[i];
        let NodeKind::Source(def) = &node.kind else {
            unreachable!("hash_source on a stage")
        };
        if crate::fetch::is_remote(&def.uri) {
            return self.fetch_source(i, req);
        }
        let files = crate::source::list_files(&self.project.root, def).map_err(|(msg, hint)| {
            let e = Error::user(format!("source `{}`: {msg}", node.name));
            match hint {
                Some(h) => e.hint(h),
                None => e,
            }
        })?;
        let (locks, hash) = self.hash_files(i, &files)?;
        let inputs = files
            .into_iter()
            .map(|(name, path)| InputFile { name, path })
            .collect();
        Ok((
            SourceLock {
                uri: def.uri.clone(),
                files_glob: def.files.clone(),
                config: None,
                split: None,
                revision: None,
                hash,
                files: locks,
            },
            inputs,
        ))
    }

    /// A remote source: fetched into the download cache (or found there, at the revision the
    /// lock pins), then hashed like local files. A cached file whose hash changed (a damaged
    /// cache) drops the snapshot and fetches again, once.
    fn fetch_source(
        &mut self,
        i: usize,
        req: &BuildRequest,
    ) -> Result<(SourceLock, Vec<InputFile>)> {
        let node = &self.project.nodes[i];
        let NodeKind::Source(def) = &node.kind else {
            unreachable!("fetch_source on a stage")
        };
        let old = self.old.and_then(|l| l.sources.get(&node.name));
        let pinned = old
            .filter(|o| {
                o.uri == crate::fetch::uri::redacted(&def.uri)
                    && o.files_glob == def.files
                    && o.config == def.config
                    && o.split == def.split
            })
            .and_then(|o| o.revision.clone());
        let mut opts = req.fetch;
        if req.dry_run {
            // Planning never downloads: a source the cache lacks keeps its lock entry.
            opts.offline = true;
        }
        for attempt in 0..2 {
            let reporter = self.reporter;
            let started = Instant::now();
            let fetched = crate::fetch::fetch_source(def, pinned.as_deref(), &opts, &mut |ev| {
                crate::report::source::forward(reporter, &node.name, ev);
            });
            let fetched = match fetched {
                Ok(f) => f,
                Err(e) if req.dry_run => {
                    if let Some(o) = old {
                        return Ok((o.clone(), Vec::new()));
                    }
                    return Err(Error::user(format!(
                        "source `{}`: not fetched yet ({})",
                        node.name, e.message
                    ))
                    .hint(
                        "run `mldatabuild build` to fetch it; status and dry runs never download",
                    ));
                }
                Err(e) => {
                    let mut err: Error = e.into();
                    err.message = format!("source `{}`: {}", node.name, err.message);
                    return Err(err);
                }
            };
            crate::report::source::fetched(
                self.reporter,
                &node.name,
                &fetched,
                started.elapsed().as_secs_f64(),
            );
            if !fetched.cached
                && let Some(m) = crate::fetch::cache::Cache::open().0.manifest(&fetched.key)
            {
                // Just downloaded and verified: the stat cache learns the hashes, so the files
                // are not read again to hash the source.
                for ((_, path), f) in fetched.files.iter().zip(&m.files) {
                    self.stat.record_known(path, &f.sha256);
                }
            }
            let (locks, hash) = self.hash_files(i, &fetched.files)?;
            // A cached snapshot is trusted only if its files still hash as recorded.
            if fetched.cached
                && attempt == 0
                && let Some(expect) = crate::fetch::cache::Cache::open().0.manifest(&fetched.key)
                && expect
                    .files
                    .iter()
                    .zip(&locks)
                    .any(|(a, b)| a.sha256 != b.sha256)
            {
                self.reporter.event(&Event::Warning {
                    message: format!(
                        "source {}: the cached copy was damaged (a file's SHA-256 changed); fetching it again",
                        node.name
                    ),
                });
                crate::fetch::drop_snapshot(&fetched.key);
                continue;
            }
            let inputs = fetched
                .files
                .into_iter()
                .map(|(name, path)| InputFile { name, path })
                .collect();
            return Ok((
                SourceLock {
                    // Never a password: the lock is committed and shipped.
                    uri: crate::fetch::uri::redacted(&def.uri),
                    files_glob: def.files.clone(),
                    config: def.config.clone(),
                    split: def.split.clone(),
                    revision: Some(fetched.revision),
                    hash,
                    files: locks,
                },
                inputs,
            ));
        }
        Err(Error::failure(format!(
            "source `{}`: the cache keeps returning damaged files",
            node.name
        ))
        .hint("clear it with `rm -rf ~/.mldata/cache` (or $MLDATA_HOME/cache) and build again"))
    }

    /// Hash a source's files (through the stat cache); returns their lock entries and the
    /// source hash.
    fn hash_files(
        &mut self,
        i: usize,
        files: &[(String, PathBuf)],
    ) -> Result<(Vec<FileLock>, String)> {
        let node = &self.project.nodes[i];
        let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
        let before = self.stat.hashed_files;
        let digests = self.stat.digest_many(&paths);
        let mut locks = Vec::with_capacity(files.len());
        for ((name, path), d) in files.iter().zip(digests) {
            let d = d.map_err(|e| {
                Error::user(format!(
                    "source `{}`: cannot read `{}`: {e}",
                    node.name,
                    path.display()
                ))
            })?;
            locks.push(FileLock {
                path: name.clone(),
                size: d.size,
                sha256: d.sha256,
                rows: None,
            });
        }
        let hash = files_hash(
            SOURCE_DOMAIN,
            &locks
                .iter()
                .map(|f| (f.path.as_str(), f.size, f.sha256.as_str()))
                .collect::<Vec<_>>(),
        );
        self.reporter.event(&Event::SourceHashed {
            name: node.name.clone(),
            files: locks.len(),
            bytes: locks.iter().map(|f| f.size).sum(),
            rehashed: self.stat.hashed_files - before,
        });
        Ok((locks, hash))
    }
}
