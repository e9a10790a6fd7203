//! `mldatabuild cache ls|size|gc|clear`: the download cache of remote sources.

use std::io::Write;

use crate::cli::{CacheArgs, CacheCommand};
use crate::error::{Error, Result};
use crate::fetch::cache::Cache;
use crate::settings::Settings;

fn mb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB", bytes as f64 / 1e3)
    }
}

fn ago(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let d = now.saturating_sub(secs);
    match d {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", d / 60),
        3600..86_400 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

pub(crate) fn cache(_settings: &Settings, args: &CacheArgs) -> Result<u8> {
    let (cache, warning) = Cache::open();
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    match &args.command {
        CacheCommand::Ls { json } => {
            let snaps = cache.snapshots();
            if *json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&snaps).unwrap_or_default()
                );
                return Ok(0);
            }
            if snaps.is_empty() {
                let _ = writeln!(out, "The cache ({}) is empty.", cache.root.display());
                return Ok(0);
            }
            let w = snaps.iter().map(|s| s.uri.len()).max().unwrap_or(10).max(6);
            let _ = writeln!(
                out,
                "{:<w$}  {:<14}  {:>6}  {:>10}  last used",
                "source", "revision", "files", "size"
            );
            for s in &snaps {
                let rev = s.revision.strip_prefix("sha256:").map_or_else(
                    || s.revision.chars().take(12).collect::<String>(),
                    |h| format!("sha256:{}", &h[..6.min(h.len())]),
                );
                let _ = writeln!(
                    out,
                    "{:<w$}  {:<14}  {:>6}  {:>10}  {}",
                    s.uri,
                    rev,
                    s.files,
                    mb(s.bytes),
                    ago(s.last_used)
                );
            }
        }
        CacheCommand::Size { json } => {
            let total = cache.size();
            let limit = crate::fetch::cache::max_size_from_config();
            if *json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::json!({"path": cache.root, "bytes": total, "snapshots": cache.snapshots().len(), "max_bytes": limit})
                );
            } else {
                let _ = writeln!(
                    out,
                    "{}  {} in {} snapshot{}{}",
                    cache.root.display(),
                    mb(total),
                    cache.snapshots().len(),
                    if cache.snapshots().len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    limit.map_or_else(
                        || " (no limit: set cache.max_size_gb in $MLDATA_HOME/config.yaml)"
                            .to_owned(),
                        |l| format!(" (limit {})", mb(l))
                    )
                );
            }
        }
        CacheCommand::Gc { max_size_gb } => {
            let max = match max_size_gb {
                Some(gb) if gb.is_finite() && *gb >= 0.0 => (gb * 1e9) as u64,
                Some(gb) => {
                    return Err(Error::user(format!(
                        "--max-size-gb must be 0 or more: got {gb}"
                    )));
                }
                None => crate::fetch::cache::max_size_from_config().unwrap_or(u64::MAX),
            };
            let r = cache.gc(max, &[]);
            let _ = writeln!(
                out,
                "Removed {} snapshot{}, {} unused file{}, {} partial download{}: {} freed, {} left.",
                r.snapshots_removed,
                if r.snapshots_removed == 1 { "" } else { "s" },
                r.blobs_removed,
                if r.blobs_removed == 1 { "" } else { "s" },
                r.partial_removed,
                if r.partial_removed == 1 { "" } else { "s" },
                mb(r.bytes_freed),
                mb(r.bytes_left)
            );
        }
        CacheCommand::Clear => {
            let freed = cache.clear().map_err(|e| {
                Error::failure(format!("cannot clear `{}`: {e}", cache.root.display()))
            })?;
            let _ = writeln!(
                out,
                "Cleared {} ({} freed).",
                cache.root.display(),
                mb(freed)
            );
        }
    }
    Ok(0)
}
