//! A remote source's fetch as events: what `build` and `pull` both report while a source
//! downloads (the same lines, bars and `--json` events).

use super::events::{Event, Reporter};
use crate::fetch::{FetchEvent, Fetched};

/// Report one fetch event of source `name`.
pub fn forward(reporter: &dyn Reporter, name: &str, ev: FetchEvent) {
    let message = match ev {
        FetchEvent::Cached { revision } => {
            format!("using cached data ({})", short_revision(&revision))
        }
        FetchEvent::Downloading { files, bytes } => {
            let files = super::human::plural(files, "file");
            if bytes > 0 {
                format!("downloading {files}, {}", super::human::size(bytes))
            } else {
                format!("downloading {files}")
            }
        }
        FetchEvent::Resuming { file, percent } => {
            format!("resuming `{file}` from {percent}%")
        }
        FetchEvent::Progress {
            done,
            total,
            files_done,
            files_total,
            idle_secs,
            files,
        } => {
            reporter.event(&Event::SourceProgress {
                name: name.to_owned(),
                done,
                total,
                files_done,
                files_total,
                idle_secs,
                files,
            });
            return;
        }
        FetchEvent::Warning(w) => {
            reporter.event(&Event::Warning {
                message: format!("source {name}: {w}"),
            });
            return;
        }
    };
    reporter.event(&Event::SourceFetch {
        name: name.to_owned(),
        message,
    });
}

/// Report a finished download of source `name` (nothing for a source found in the cache):
/// its revision, files, size, time and speed.
pub fn fetched(reporter: &dyn Reporter, name: &str, fetched: &Fetched, secs: f64) {
    if fetched.cached {
        return;
    }
    let bytes: u64 = fetched
        .files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    reporter.event(&Event::SourceFetch {
        name: name.to_owned(),
        message: format!(
            "fetched {} ({}, {}) in {secs:.1}s, {}/s",
            short_revision(&fetched.revision),
            super::human::plural(fetched.files.len(), "file"),
            super::human::size(bytes),
            super::human::size((bytes as f64 / secs.max(1e-3)) as u64),
        ),
    });
}

/// A revision short enough for a line: 12 hex digits of a commit or a SHA-256.
pub(crate) fn short_revision(r: &str) -> String {
    if let Some(h) = r.strip_prefix("sha256:") {
        return format!("sha256:{}", &h[..h.len().min(12)]);
    }
    if r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()) {
        return r[..12].to_owned();
    }
    let cut = r.char_indices().nth(24).map_or(r.len(), |(i, _)| i);
    r[..cut].to_owned()
}
