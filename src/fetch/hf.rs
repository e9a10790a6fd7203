//! The Hugging Face Hub: resolve a revision to a commit, list a repository's files at it, and
//! the URL of each file (LFS files redirect to a CDN; their SHA-256 is in the listing).

use super::FetchError;
use super::http::{Client, Credential, origin};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A file of a dataset repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: String,
    pub size: u64,
    /// Git blob SHA-1 of the content (of the pointer, for LFS files).
    pub oid: String,
    /// SHA-256 of the content, for LFS files.
    pub lfs_sha256: Option<String>,
}

pub struct Hub {
    pub endpoint: String,
    pub cred: Option<Credential>,
    /// Datasets (the default) or models (a tokenizer's repository).
    pub kind: super::uri::RepoKind,
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same with `/` kept (a path inside a repository).
const NOT_UNRESERVED_OR_SLASH: &AsciiSet = &NOT_UNRESERVED.remove(b'/');

/// Percent-encode everything but unreserved characters (and `/` when `keep_slash`), escapes
/// in upper case (`%2F`).
pub fn encode(s: &str, keep_slash: bool) -> String {
    let set = if keep_slash {
        NOT_UNRESERVED_OR_SLASH
    } else {
        NOT_UNRESERVED
    };
    utf8_percent_encode(s, set).to_string()
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: Option<&str>) -> Option<String> {
    link?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// The Hugging Face token from the environment, as the `huggingface_hub` client finds it:
/// `HF_TOKEN`, `HUGGING_FACE_HUB_TOKEN`, then the token file (`HF_TOKEN_PATH`, or
/// `$HF_HOME/token`, default `~/.cache/huggingface/token`).
pub fn token_from_env() -> Option<String> {
    for k in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Ok(v) = std::env::var(k)
            && !v.trim().is_empty()
        {
            return Some(v.trim().to_owned());
        }
    }
    let path = std::env::var_os("HF_TOKEN_PATH")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| std::path::PathBuf::from(h).join("token")))
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/huggingface/token"))
        })?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl Hub {
    /// `HF_ENDPOINT` (default `https://huggingface.co`) and the token, if any.
    pub fn from_env() -> Hub {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| "https://huggingface.co".into())
            .trim_end_matches('/')
            .to_owned();
        let cred = super::auth::find(super::auth::Service::Hf).map(|f| Credential {
            origin: origin(&endpoint),
            header: format!("Bearer {}", f.secret.expose()),
        });
        Hub {
            endpoint,
            cred,
            kind: super::uri::RepoKind::Dataset,
        }
    }

    /// The same Hub, for repositories of another kind.
    #[must_use]
    pub fn with_kind(mut self, kind: super::uri::RepoKind) -> Hub {
        self.kind = kind;
        self
    }

    fn api(&self, repo: &str) -> String {
        format!("{}/api/{}/{repo}", self.endpoint, self.kind.api_segment())
    }

    /// Explain a failed Hub call in dataset terms.
    pub fn explain(
        &self,
        client: &Client,
        repo: &str,
        revision: &str,
        e: FetchError,
    ) -> FetchError {
        match (e.status, e.code.as_deref()) {
            (Some(404 | 401), Some("RepoNotFound")) | (Some(404), None) => {
                let mut hint = String::new();
                if let Some(s) = self.suggest(client, repo) {
                    hint.push_str(&format!("did you mean {s}? "));
                }
                if self.cred.is_none() {
                    hint.push_str("a private or gated dataset needs a token: set HF_TOKEN (or `huggingface-cli login`)");
                } else {
                    hint.push_str("check the name (`owner/name`); the token in use may not have access to it");
                }
                FetchError::new(format!(
                    "{} `{repo}` not found on {}",
                    self.kind.noun(),
                    self.endpoint
                ))
                    .hint(hint)
                    .user()
            }
            (_, Some("RevisionNotFound")) => FetchError::new(format!(
                "revision `{revision}` of `{repo}` not found"
            ))
            .hint("use a branch, tag or commit of the repository (e.g. `@main`); `mldatabuild info hf://…` lists them")
            .user(),
            (_, Some("GatedRepo")) | (Some(403), _) => FetchError::new(format!(
                "`{repo}` is gated: its conditions must be accepted before download"
            ))
            .hint(format!(
                "accept them on {}/{}{repo} with your account, and set HF_TOKEN to a token of that account",
                self.endpoint,
                self.kind.url_prefix()
            ))
            .user(),
            (Some(401), _) => FetchError::new(format!("the Hub refused the token for `{repo}`"))
                .hint("the token is invalid or expired: create a new one and set HF_TOKEN")
                .user(),
            _ => e,
        }
    }

    /// Up to three similar dataset names (best effort): the owner's datasets and a search
    /// for the name's first letters, ranked by edit distance.
    fn suggest(&self, client: &Client, repo: &str) -> Option<String> {
        let (owner, name) = repo.rsplit_once('/').unwrap_or(("", repo));
        let prefix: String = name.chars().take(3).collect();
        let mut urls = vec![format!(
            "{}/api/{}?search={}&limit=100",
            self.endpoint,
            self.kind.api_segment(),
            encode(&prefix, false)
        )];
        if !owner.is_empty() {
            urls.push(format!(
                "{}/api/{}?author={}&limit=100",
                self.endpoint,
                self.kind.api_segment(),
                encode(owner, false)
            ));
        }
        let mut ids: Vec<String> = Vec::new();
        for url in urls {
            if let Ok((v, _)) = client.json(&url, self.cred.as_ref(), None) {
                ids.extend(
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d["id"].as_str().map(str::to_owned)),
                );
            }
        }
        ids.sort();
        ids.dedup();
        let mut ranked: Vec<(usize, String)> = ids
            .into_iter()
            .filter(|id| id != repo)
            .map(|id| {
                (
                    strsim::levenshtein(&id.to_lowercase(), &repo.to_lowercase()),
                    id,
                )
            })
            .filter(|(d, _)| *d <= 3.max(repo.len() / 4))
            .collect();
        ranked.sort();
        let shown: Vec<String> = ranked
            .into_iter()
            .take(3)
            .map(|(_, id)| format!("`{id}`"))
            .collect();
        (!shown.is_empty()).then(|| shown.join(", "))
    }

    /// The commit a branch, tag or commit names.
    pub fn resolve(
        &self,
        client: &Client,
        repo: &str,
        revision: &str,
    ) -> Result<String, FetchError> {
        let url = format!("{}/revision/{}", self.api(repo), encode(revision, false));
        let (v, _) = client
            .json(&url, self.cred.as_ref(), None)
            .map_err(|e| self.explain(client, repo, revision, e))?;
        v["sha"]
            .as_str()
            .filter(|s| s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_owned)
            .ok_or_else(|| {
                FetchError::new(format!(
                    "{} answered without a commit (`sha`) for `{repo}@{revision}`",
                    self.endpoint
                ))
                .hint("is HF_ENDPOINT a Hugging Face Hub?")
            })
    }

    /// Every file of the repository at `commit` (the tree, all pages).
    pub fn list(
        &self,
        client: &Client,
        repo: &str,
        commit: &str,
    ) -> Result<Vec<RepoFile>, FetchError> {
        let mut url = Some(format!(
            "{}/tree/{}?recursive=true&expand=false",
            self.api(repo),
            encode(commit, false)
        ));
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(u) = url.take() {
            pages += 1;
            if pages > 100_000 {
                return Err(FetchError::new(
                    "the file listing does not end (over 100,000 pages)",
                ));
            }
            let (v, meta) = client
                .json(&u, self.cred.as_ref(), None)
                .map_err(|e| self.explain(client, repo, commit, e))?;
            let entries = v.as_array().ok_or_else(|| {
                FetchError::new(format!(
                    "{} answered a file listing that is not a list",
                    self.endpoint
                ))
            })?;
            for e in entries {
                if e["type"] != "file" {
                    continue;
                }
                let (Some(path), Some(size), Some(oid)) =
                    (e["path"].as_str(), e["size"].as_u64(), e["oid"].as_str())
                else {
                    return Err(FetchError::new(format!(
                        "{} listed a file without `path`, `size` or `oid`: {e}",
                        self.endpoint
                    )));
                };
                let lfs = e["lfs"]["oid"]
                    .as_str()
                    .map(|s| s.trim_start_matches("sha256:").to_owned());
                out.push(RepoFile {
                    path: path.to_owned(),
                    size: e["lfs"]["size"].as_u64().unwrap_or(size),
                    oid: oid.to_owned(),
                    lfs_sha256: lfs,
                });
            }
            url = next_link(meta.headers.get("link"));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Where a file's content is downloaded from.
    pub fn file_url(&self, repo: &str, commit: &str, path: &str) -> String {
        format!(
            "{}/{}{repo}/resolve/{}/{}",
            self.endpoint,
            self.kind.url_prefix(),
            encode(commit, false),
            encode(path, true)
        )
    }
}

/// Split-name keywords of the `datasets` library's default split resolution.
fn split_keywords(split: &str) -> Vec<&str> {
    match split {
        "train" => vec!["train", "training"],
        "validation" => vec!["validation", "valid", "dev", "val"],
        "test" => vec!["test", "testing", "eval", "evaluation"],
        other => vec![other],
    }
}

/// Whether `path` belongs to `split` by the `datasets` naming conventions: the sharded
/// `data/{split}-00000-of-00001.*` form, a folder named by a keyword (alone or with `-._ 0-9`
/// around it), or a file name starting or containing the keyword between separators.
fn path_in_split(path: &str, split: &str) -> bool {
    let sep = |c: char| matches!(c, '-' | '.' | '_' | ' ') || c.is_ascii_digit();
    let bounded = |name: &str, kw: &str| {
        name.match_indices(kw).any(|(i, _)| {
            let before = name[..i].chars().next_back();
            let after = name[i + kw.len()..].chars().next();
            before.is_none_or(sep) && after.is_none_or(sep)
        })
    };
    if let Some(rest) = path.strip_prefix("data/")
        && let Some(name) = rest.strip_prefix(split)
        && name.starts_with('-')
        && name.contains("-of-")
    {
        return true;
    }
    let parts: Vec<&str> = path.split('/').collect();
    let (file, dirs) = parts.split_last().unwrap_or((&"", &[]));
    split_keywords(split)
        .iter()
        .any(|kw| dirs.iter().any(|d| bounded(d, kw)) || bounded(file, kw))
}

/// A `data_files` value of the README's `configs`: split name → globs.
fn data_files(v: &serde_json::Value) -> Vec<(String, Vec<String>)> {
    let globs = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    match v {
        serde_json::Value::String(_) => vec![("train".into(), globs(v))],
        serde_json::Value::Array(a) if a.iter().all(serde_json::Value::is_string) => {
            vec![("train".into(), globs(v))]
        }
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|e| Some((e["split"].as_str()?.to_owned(), globs(&e["path"]))))
            .collect(),
        serde_json::Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), globs(v))).collect(),
        _ => Vec::new(),
    }
}

/// The repository paths a source's `config:` and `split:` select: from the README's `configs`
/// (`data_files` globs, `data_dir`), else from the `refs/convert/parquet` layout
/// (`{config}/{split}/NNNN.parquet`), else by the `datasets` split naming conventions.
pub fn select_config(
    client: &Client,
    hub: &Hub,
    repo: &str,
    commit: &str,
    def: &crate::spec::SourceDef,
    files: &[RepoFile],
) -> Result<std::collections::BTreeSet<String>, FetchError> {
    let url = format!("{}/revision/{}", hub.api(repo), encode(commit, false));
    let (info, _) = client
        .json(&url, hub.cred.as_ref(), None)
        .map_err(|e| hub.explain(client, repo, commit, e))?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let configs = info["cardData"]["configs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !configs.is_empty() {
        let names: Vec<&str> = configs
            .iter()
            .filter_map(|c| c["config_name"].as_str())
            .collect();
        let chosen = match &def.config {
            Some(c) => configs.iter().find(|x| x["config_name"] == c.as_str()),
            None => configs
                .iter()
                .find(|x| x["default"] == true)
                .or_else(|| configs.iter().find(|x| x["config_name"] == "default"))
                .or_else(|| configs.first()),
        }
        .ok_or_else(|| {
            FetchError::new(format!(
                "`{repo}` has no config `{}`",
                def.config.as_deref().unwrap_or_default()
            ))
            .hint(format!("its configs are: {}", names.join(", ")))
            .user()
        })?;
        let dir = chosen["data_dir"]
            .as_str()
            .map(|d| d.trim_end_matches('/').to_owned());
        let splits = data_files(&chosen["data_files"]);
        let wanted: Vec<&(String, Vec<String>)> = match &def.split {
            Some(sp) => {
                let w: Vec<_> = splits.iter().filter(|(n, _)| n == sp).collect();
                if w.is_empty() {
                    let have: Vec<&str> = splits.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(FetchError::new(format!(
                        "config `{}` of `{repo}` has no split `{sp}`",
                        chosen["config_name"].as_str().unwrap_or("?")
                    ))
                    .hint(format!("its splits are: {}", have.join(", ")))
                    .user());
                }
                w
            }
            None => splits.iter().collect(),
        };
        let mut out = std::collections::BTreeSet::new();
        for (_, globs) in wanted {
            for g in globs {
                let full = match &dir {
                    Some(d) => format!("{d}/{g}"),
                    None => g.clone(),
                };
                let pattern = glob::Pattern::new(&full).map_err(|e| {
                    FetchError::new(format!(
                        "`{repo}`'s README has an invalid data_files glob `{full}`: {e}"
                    ))
                })?;
                out.extend(
                    files
                        .iter()
                        .filter(|f| pattern.matches_with(&f.path, opts))
                        .map(|f| f.path.clone()),
                );
            }
        }
        return Ok(out);
    }
    // The parquet conversion branch: `{config}/{split}/NNNN.parquet`.
    let by_layout: std::collections::BTreeSet<String> = files
        .iter()
        .filter(|f| {
            let parts: Vec<&str> = f.path.split('/').collect();
            parts.len() == 3
                && f.path.ends_with(".parquet")
                && def.config.as_deref().is_none_or(|c| parts[0] == c)
                && def
                    .split
                    .as_deref()
                    .is_none_or(|s| parts[1] == s || parts[1] == format!("partial-{s}"))
        })
        .map(|f| f.path.clone())
        .collect();
    if !by_layout.is_empty() {
        return Ok(by_layout);
    }
    if let Some(c) = &def.config
        && c != "default"
    {
        return Err(FetchError::new(format!("`{repo}` declares no configs, so it has no config `{c}`"))
            .hint("leave `config:` out, or use the parquet conversion: `hf://owner/name@refs/convert/parquet` with `config:`")
            .user());
    }
    Ok(files
        .iter()
        .filter(|f| {
            def.split
                .as_deref()
                .is_none_or(|s| path_in_split(&f.path, s))
        })
        .map(|f| f.path.clone())
        .collect())
}

/// The git blob SHA-1 of some bytes: `sha1("blob <len>\0" + bytes)`.
pub fn git_blob_sha1(path: &std::path::Path) -> std::io::Result<String> {
    use sha1::Digest;
    use std::io::Read;
    let len = std::fs::metadata(path)?.len();
    let mut f = std::fs::File::open(path)?;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {len}\0").as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_links() {
        assert_eq!(
            encode("refs/convert/parquet", false),
            "refs%2Fconvert%2Fparquet"
        );
        assert_eq!(encode("data/a b.csv", true), "data/a%20b.csv");
        // Every reserved character escaped, upper-case hex, unreserved ones and UTF-8 kept
        // as they were written before the percent-encoding crate did this.
        assert_eq!(
            encode(":/?#[]@!$&'()*+,;=% \"\\^`{|}<>\u{7f}\n-_.~aZ09é", false),
            "%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20%22%5C%5E%60%7B%7C%7D%3C%3E%7F%0A-_.~aZ09%C3%A9"
        );
        assert_eq!(encode("a/b?c", true), "a/b%3Fc");
        assert_eq!(
            next_link(Some("<http://h/api/datasets?cursor=x>; rel=\"next\"")),
            Some("http://h/api/datasets?cursor=x".into())
        );
        assert_eq!(next_link(Some("<http://h/x>; rel=\"prev\"")), None);
        assert_eq!(next_link(None), None);
    }

    #[test]
    fn split_conventions() {
        assert!(path_in_split("data/train-00000-of-00002.parquet", "train"));
        assert!(path_in_split("train.csv", "train"));
        assert!(path_in_split("dev/a.csv", "validation"));
        assert!(path_in_split("data/my_test_2.csv", "test"));
        assert!(!path_in_split("data/contest.csv", "test"));
        assert!(!path_in_split("training_notes/x.csv", "test"));
        assert_eq!(
            data_files(
                &serde_json::json!([{"split": "train", "path": "a/*"}, {"split": "test", "path": ["b.csv"]}])
            ),
            vec![
                ("train".to_owned(), vec!["a/*".to_owned()]),
                ("test".to_owned(), vec!["b.csv".to_owned()])
            ]
        );
        assert_eq!(
            data_files(&serde_json::json!("x.csv")),
            vec![("train".to_owned(), vec!["x.csv".to_owned()])]
        );
    }

    #[test]
    fn git_sha1_of_known_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"hello\n").unwrap();
        // `git hash-object` of "hello\n".
        assert_eq!(
            git_blob_sha1(&p).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
