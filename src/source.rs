//! Local `file` sources: a file, a directory (optionally filtered by `files` globs) or a glob.

use std::path::{Path, PathBuf};

use crate::spec::SourceDef;

/// Files of a local source as (name, path), sorted by name. Names are relative to the source
/// directory (directory sources), the file name (single files) or the spec directory (globs).
/// Hidden files (a name starting with `.`) are skipped.
pub fn list_files(
    root: &Path,
    def: &SourceDef,
) -> Result<Vec<(String, PathBuf)>, (String, Option<String>)> {
    let uri = def.uri.strip_prefix("file://").unwrap_or(&def.uri);
    if let Some((scheme, _)) = uri.split_once("://") {
        return Err((
            format!(
                "`{}`: `{scheme}://` sources are not supported in this version",
                def.uri
            ),
            Some(
                "use a local file, directory or glob; remote sources come with the fetch stage"
                    .into(),
            ),
        ));
    }
    let is_glob = uri.contains(['*', '?', '[']);
    let mut out = Vec::new();
    if is_glob {
        let pattern = root.join(uri);
        let paths = glob::glob(&pattern.to_string_lossy())
            .map_err(|e| (format!("`{uri}` is not a valid glob: {e}"), None))?;
        for p in paths.flatten() {
            if p.is_file() {
                let name = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                if !hidden(&name) {
                    out.push((name, p));
                }
            }
        }
        if out.is_empty() {
            return Err((
                format!("`{uri}` matches no files"),
                Some("check the pattern; it is relative to the spec's folder".into()),
            ));
        }
    } else {
        let path = root.join(uri);
        let meta = std::fs::metadata(&path).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "no such file or directory".to_owned()
            } else {
                e.to_string()
            };
            (
                format!("source `{uri}`: {why}"),
                Some("paths are relative to the folder of dataset.yaml".into()),
            )
        })?;
        if meta.is_file() {
            let name = path
                .file_name()
                .map_or_else(|| uri.to_owned(), |n| n.to_string_lossy().into_owned());
            out.push((name, path));
        } else {
            let patterns: Vec<glob::Pattern> = def
                .files
                .iter()
                .flatten()
                .map(|g| {
                    glob::Pattern::new(g)
                        .map_err(|e| (format!("`{g}` is not a valid glob: {e}"), None))
                })
                .collect::<Result<_, _>>()?;
            for e in folder_files(&path) {
                let (rel, file) = e.map_err(|e| (format!("cannot list `{uri}`: {e}"), None))?;
                if !patterns.is_empty() && !patterns.iter().any(|p| p.matches(&rel)) {
                    continue;
                }
                out.push((rel, file));
            }
            if out.is_empty() {
                return Err((
                    format!(
                        "source `{uri}` has no files{}",
                        if patterns.is_empty() {
                            ""
                        } else {
                            " matching `files`"
                        }
                    ),
                    None,
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The files below a folder as (name relative to it, path), in name order, following links and
/// leaving out hidden files (a name segment starting with `.`).
pub fn folder_files(path: &Path) -> impl Iterator<Item = walkdir::Result<(String, PathBuf)>> + '_ {
    walkdir::WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_map(move |e| {
            let e = match e {
                Ok(e) => e,
                Err(err) => return Some(Err(err)),
            };
            if !e.file_type().is_file() {
                return None;
            }
            let rel = e
                .path()
                .strip_prefix(path)
                .unwrap_or(e.path())
                .to_string_lossy()
                .into_owned();
            (!hidden(&rel)).then(|| Ok((rel, e.into_path())))
        })
}

fn hidden(rel: &str) -> bool {
    rel.split('/').any(|s| s.starts_with('.'))
}
