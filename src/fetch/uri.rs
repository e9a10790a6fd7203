//! Source URIs: `hf://`, `kaggle://`, `openml://`, `https://` (and `http://`), or a local path.

use std::fmt;

/// A remote source location as written in `dataset.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// A Hugging Face repository (a dataset, or with `hf://models/…` a model), at a branch,
    /// tag or commit (default `main`).
    Hf {
        repo: String,
        revision: Option<String>,
        kind: RepoKind,
    },
    /// A Kaggle dataset, at a version (default: the current one).
    Kaggle {
        owner: String,
        slug: String,
        version: Option<u32>,
    },
    /// An OpenML dataset by id.
    OpenMl { id: u64 },
    /// One file over HTTP(S).
    Http { url: String },
}

/// The kind of a Hugging Face repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepoKind {
    #[default]
    Dataset,
    Model,
}

impl RepoKind {
    /// The noun, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            RepoKind::Dataset => "dataset",
            RepoKind::Model => "model",
        }
    }
    /// The path segment of the Hub API: `/api/datasets/…`, `/api/models/…`.
    pub fn api_segment(self) -> &'static str {
        match self {
            RepoKind::Dataset => "datasets",
            RepoKind::Model => "models",
        }
    }
    /// The prefix of web and download URLs: `/datasets/owner/name/…`, `/owner/name/…`.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoKind::Dataset => "datasets/",
            RepoKind::Model => "",
        }
    }
}

/// The forms `parse` accepts, for error messages.
pub const ACCEPTED: &str = "hf://owner/name[@revision], kaggle://owner/dataset[@version], openml://ID, https://host/path, or a local path";

fn repo_part_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 96
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with(['.', '-'])
        && !s.contains("..")
}

fn bad(uri: &str, why: &str) -> String {
    format!("`{uri}`: {why} | hint: accepted forms: {ACCEPTED}")
}

/// Parse a source URI. `Ok(None)` for a local path (including `file://`).
pub fn parse(uri: &str) -> Result<Option<Remote>, String> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Ok(None);
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => Ok(None),
        "hf" => {
            let (repo, revision) = match rest.split_once('@') {
                Some((r, rev)) => (r, Some(rev)),
                None => (rest, None),
            };
            let (repo, kind) = match repo.strip_prefix("models/") {
                Some(r) => (r, RepoKind::Model),
                None => (
                    repo.strip_prefix("datasets/").unwrap_or(repo),
                    RepoKind::Dataset,
                ),
            };
            let parts: Vec<&str> = repo.split('/').collect();
            if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| repo_part_ok(p)) {
                return Err(bad(
                    uri,
                    "a Hugging Face dataset is `hf://owner/name` (letters, digits, `-`, `_`, `.`)",
                ));
            }
            if let Some(rev) = revision
                && (rev.is_empty()
                    || rev.contains("..")
                    || rev.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err(bad(
                    uri,
                    "the revision after `@` must be a branch, tag or commit, e.g. `@main` or `@v1.0`",
                ));
            }
            Ok(Some(Remote::Hf {
                repo: repo.to_owned(),
                revision: revision.map(str::to_owned),
                kind,
            }))
        }
        "kaggle" => {
            let (path, version) = match rest.split_once('@') {
                Some((p, v)) => {
                    let n = v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        bad(uri, "a Kaggle version is a positive number, e.g. `@4`")
                    })?;
                    (p, Some(n))
                }
                None => (rest, None),
            };
            match path.split('/').collect::<Vec<_>>().as_slice() {
                [owner, slug] if repo_part_ok(owner) && repo_part_ok(slug) => {
                    Ok(Some(Remote::Kaggle {
                        owner: (*owner).to_owned(),
                        slug: (*slug).to_owned(),
                        version,
                    }))
                }
                _ => Err(bad(
                    uri,
                    "a Kaggle dataset is `kaggle://owner/dataset-slug`",
                )),
            }
        }
        "openml" => rest
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(|id| Some(Remote::OpenMl { id }))
            .ok_or_else(|| {
                bad(
                    uri,
                    "an OpenML dataset is `openml://` and its numeric id, e.g. `openml://61`",
                )
            }),
        "https" | "http" => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(bad(uri, "the URL has no host"));
            }
            Ok(Some(Remote::Http {
                url: uri.to_owned(),
            }))
        }
        other => Err(bad(uri, &format!("unknown scheme `{other}://`"))),
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Hf {
                repo,
                revision,
                kind,
            } => {
                let models = if *kind == RepoKind::Model {
                    "models/"
                } else {
                    ""
                };
                match revision {
                    Some(r) => write!(f, "hf://{models}{repo}@{r}"),
                    None => write!(f, "hf://{models}{repo}"),
                }
            }
            Remote::Kaggle {
                owner,
                slug,
                version,
            } => match version {
                Some(v) => write!(f, "kaggle://{owner}/{slug}@{v}"),
                None => write!(f, "kaggle://{owner}/{slug}"),
            },
            Remote::OpenMl { id } => write!(f, "openml://{id}"),
            Remote::Http { url } => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("data/x.csv").unwrap(), None);
        assert_eq!(parse("file://data").unwrap(), None);
        assert_eq!(
            parse("hf://acme/tiny@refs/convert/parquet").unwrap(),
            Some(Remote::Hf {
                repo: "acme/tiny".into(),
                revision: Some("refs/convert/parquet".into()),
                kind: RepoKind::Dataset,
            })
        );
        assert_eq!(
            parse("hf://datasets/glue").unwrap(),
            Some(Remote::Hf {
                repo: "glue".into(),
                revision: None,
                kind: RepoKind::Dataset,
            })
        );
        assert_eq!(
            parse("hf://models/openai-community/gpt2@main").unwrap(),
            Some(Remote::Hf {
                repo: "openai-community/gpt2".into(),
                revision: Some("main".into()),
                kind: RepoKind::Model,
            })
        );
        assert_eq!(
            parse("hf://models/openai-community/gpt2")
                .unwrap()
                .unwrap()
                .to_string(),
            "hf://models/openai-community/gpt2"
        );
        assert_eq!(
            parse("kaggle://zynicide/wine-reviews@4").unwrap(),
            Some(Remote::Kaggle {
                owner: "zynicide".into(),
                slug: "wine-reviews".into(),
                version: Some(4)
            })
        );
        assert_eq!(
            parse("openml://61").unwrap(),
            Some(Remote::OpenMl { id: 61 })
        );
        assert!(matches!(
            parse("https://example.com/a.csv").unwrap(),
            Some(Remote::Http { .. })
        ));
    }

    #[test]
    fn malformed_uris_list_the_accepted_forms() {
        for u in [
            "hf://",
            "hf://a/b/c",
            "hf://a b/c",
            "hf://acme/tiny@",
            "hf://../x",
            "kaggle://x",
            "kaggle://a/b@zero",
            "openml://iris",
            "s3://bucket/key",
            "https:///x",
        ] {
            let e = parse(u).unwrap_err();
            assert!(e.contains("accepted forms: hf://owner/name"), "{u}: {e}");
        }
    }
}
