//! `mldatabuild schema`.

use std::io::Write;

use crate::cli::{SchemaArgs, SchemaKind};
use crate::error::{Error, Result};
use crate::settings::Settings;

pub(crate) fn schema(settings: &Settings, args: &SchemaArgs) -> Result<u8> {
    let dir = args
        .dir
        .as_ref()
        .map_or_else(|| settings.cwd.clone(), |d| settings.cwd.join(d));
    if args.write {
        for (path, text) in crate::schema::files() {
            let full = dir.join(path);
            let changed = crate::lockfile::write_atomic(&full, &text)
                .map_err(|e| Error::failure(format!("cannot write `{}`: {e}", full.display())))?;
            let _ = writeln!(
                std::io::stderr(),
                "{} {path}",
                if changed { "Wrote" } else { "Unchanged" }
            );
        }
        return Ok(0);
    }
    if args.check {
        let mut stale = Vec::new();
        for (path, text) in crate::schema::files() {
            if std::fs::read_to_string(dir.join(path)).ok().as_deref() != Some(text.as_str()) {
                stale.push(path);
            }
        }
        if stale.is_empty() {
            return Ok(0);
        }
        return Err(
            Error::failure(format!("stale schema files: {}", stale.join(", ")))
                .hint("run `mldatabuild schema --write`"),
        );
    }
    let text = match args.kind {
        SchemaKind::Dataset => crate::schema::dataset_schema(),
        SchemaKind::Lockfile => crate::schema::lockfile_schema(),
    };
    let _ = write!(std::io::stdout().lock(), "{text}");
    Ok(0)
}
