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
    format!(
        "`{}`: {why} | hint: accepted forms: {ACCEPTED}",
        super::http::redact(uri)
    )
}

/// An `http(s)://` URL cut around its user info: (`scheme://`, the user info, what follows its
/// `@`). `None` for other URIs and for URLs without user info.
fn userinfo_parts(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some((&url[..scheme.len() + 3], &rest[..at], &rest[at + 1..]))
}

/// What a source URI is recorded and shown as (`dataset.lock`, `manifest.yaml`, the download
/// cache, messages): an `http(s)://` URL's password becomes `***`
/// (`https://user:***@host/…`), and a user name without a password, which is usually a token,
/// becomes `***` (`https://***@host/…`), as pip shows URLs. Other URIs, and URLs without user
/// info, are returned as they are; applying it twice changes nothing. The password is used
/// for the download only (see [`split_userinfo`]). Query parameters are kept: they can name the
/// content, so masking them would make two different files one source (messages mask the
/// secret ones, see [`super::http::redact`]).
pub fn redacted(uri: &str) -> String {
    match userinfo_parts(uri) {
        None => uri.to_owned(),
        Some((head, info, tail)) => match info.split_once(':') {
            Some((user, _)) => format!("{head}{user}:{MASK}@{tail}"),
            None => format!("{head}{MASK}@{tail}"),
        },
    }
}

/// What [`redacted`] puts in place of a password.
const MASK: &str = "***";

/// Whether an `http(s)://` URL's credential is the mask [`redacted`] writes (a URL read back
/// from a lockfile): it cannot be sent, the real one is only in `dataset.yaml`.
pub fn credential_is_masked(url: &str) -> bool {
    userinfo_parts(url).is_some_and(|(_, info, _)| {
        info == MASK || info.split_once(':').is_some_and(|(_, p)| p == MASK)
    })
}

/// An `http(s)://` URL without its user info, and the user name and password that were in it
/// (percent-decoded; the password empty when there was none). Other URIs come back as they are.
pub fn split_userinfo(url: &str) -> (String, Option<(String, String)>) {
    match userinfo_parts(url) {
        None => (url.to_owned(), None),
        Some((head, info, tail)) => {
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            (
                format!("{head}{tail}"),
                Some((percent_decode(user), percent_decode(pass))),
            )
        }
    }
}

/// `%XX` escapes decoded (a malformed escape is kept as written; bytes that are not UTF-8
/// become U+FFFD).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether the host part of an `http(s)://` URL (after any user info) is `host[:port]` with a
/// numeric port, or `[v6][:port]`.
fn host_port_ok(host: &str) -> bool {
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split_once(']').is_some_and(|(_, after)| {
            after.is_empty() || after.strip_prefix(':').is_some_and(digits)
        });
    }
    match host.rsplit_once(':') {
        None => true,
        Some((h, port)) => !h.contains(':') && digits(port),
    }
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
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(bad(uri, "the URL has no host"));
            }
            if !host_port_ok(host) {
                // Likely a password with a `/`, `?` or `#` in it: the URL is not echoed, since
                // where the user info ends cannot be told.
                return Err(format!(
                    "`{scheme}://…`: the URL's host is not `host` or `host:port` | hint: in a user name or password, percent-encode `/`, `?`, `#` and `@` (`%2F`, `%3F`, `%23`, `%40`), and a `:` in the user name (`%3A`)"
                ));
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
            Remote::Http { url } => f.write_str(&super::http::redact(url)),
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
    fn passwords_are_redacted_and_split_off() {
        let u = "https://user:s3cr3t@example.com:8443/a/b.csv?x=1";
        assert_eq!(redacted(u), "https://user:***@example.com:8443/a/b.csv?x=1");
        assert_eq!(redacted(&redacted(u)), redacted(u));
        // A user name alone is usually a token.
        assert_eq!(redacted("https://ghp_tok@h/x"), "https://***@h/x");
        assert_eq!(redacted("https://***@h/x"), "https://***@h/x");
        // `@` in the path or query is not user info; other schemes are left alone.
        for same in [
            "https://h/pkg@1.0/x.csv",
            "https://h/x?who=a@b",
            "hf://glue@main",
            "kaggle://a/b@4",
            "data/x@1.csv",
        ] {
            assert_eq!(redacted(same), same);
            assert_eq!(split_userinfo(same), (same.to_owned(), None));
        }
        // An unencoded `@` in the password: the last `@` before the path ends the user info.
        assert_eq!(redacted("http://u:p@ss@h/x"), "http://u:***@h/x");
        assert_eq!(
            split_userinfo("HTTPS://us%40er:p%3As%2Fs@h/x"),
            (
                "HTTPS://h/x".to_owned(),
                Some(("us@er".to_owned(), "p:s/s".to_owned()))
            )
        );
        // Lower- and upper-case escapes; malformed ones (`%zz`, `%4`, `%+5`) kept as written;
        // bytes that are not UTF-8 replaced.
        assert_eq!(percent_decode("%2f%2F%20%zz%4"), "// %zz%4");
        assert_eq!(percent_decode("a%+5b%"), "a%+5b%");
        assert_eq!(percent_decode("%C3%A9%FF"), "é\u{fffd}");
        assert_eq!(
            split_userinfo("https://tok@h"),
            (
                "https://h".to_owned(),
                Some(("tok".to_owned(), String::new()))
            )
        );
        assert!(credential_is_masked("https://user:***@h/x"));
        assert!(credential_is_masked("https://***@h/x"));
        assert!(!credential_is_masked("https://user:s3cr3t@h/x"));
        assert!(!credential_is_masked("https://h/x?token=***"));
        // Shown redacted wherever a remote is printed.
        assert_eq!(
            parse(u).unwrap().unwrap().to_string(),
            "https://user:***@example.com:8443/a/b.csv?x=1"
        );
    }

    #[test]
    fn a_url_whose_user_info_cannot_be_told_apart_is_refused_without_echoing_it() {
        for u in [
            "https://user:pa55/w@h/x",
            "https://user:pa55?w@h/x",
            "https://user:pa55#w@h/x",
        ] {
            let e = parse(u).unwrap_err();
            assert!(!e.contains("pa55"), "{e}");
            assert!(e.contains("percent-encode"), "{e}");
        }
        for ok in [
            "https://h:8080/x",
            "https://[::1]:8080/x",
            "https://[::1]/x",
            "https://u:p@h:1/x",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        let e = parse("https://user:s3cr3t@").unwrap_err();
        assert!(!e.contains("s3cr3t") && e.contains("no host"), "{e}");
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
