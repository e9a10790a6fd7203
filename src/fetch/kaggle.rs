//! Kaggle datasets: `kaggle://owner/slug[@version]`.
//!
//! **Which API.** Kaggle has two, and we speak both:
//!
//! - the current one, `kagglesdk`'s JSON-over-POST RPC (`POST {base}/v1/datasets.DatasetApiService/{Method}`,
//!   base `https://api.kaggle.com`), which the `kaggle` CLI uses since 1.7 and which accepts the
//!   new access tokens. It is the default. `KAGGLE_API_ENVIRONMENT=LOCALHOST` (or `TEST`) points
//!   it at `http://localhost/api` (`http://localhost:7777/api`) as it does for Kaggle's own
//!   client, and `MLDATA_KAGGLE_RPC_ENDPOINT` at any base (a mirror, a test server). Calls:
//!   `GetDataset` (the current version, when neither the URI nor the lock names one),
//!   `ListDatasetFiles` (paged by `pageToken`), `DownloadDataset` (answers with a redirect to
//!   signed storage, followed as a GET without the credential and resumed with `Range`; a
//!   retry posts again, so an expired signed URL is replaced; an answer carrying the file
//!   itself is taken too), `ListDatasets` (search). Default-valued fields are left out of the requests,
//!   as `kagglesdk` does.
//! - the legacy REST API of the `kaggle` CLI up to 1.6 (`GET {base}/datasets/…`, base
//!   `https://www.kaggle.com/api/v1`), used when `KAGGLE_API_ENDPOINT` (the variable that client
//!   honours) is set: `GET view/{owner}/{slug}`, `GET list/{owner}/{slug}?datasetVersionNumber=N
//!   &pageSize=…&pageToken=…`, `GET download/{owner}/{slug}/{file}?datasetVersionNumber=N` (a
//!   redirect to storage), `GET download/{owner}/{slug}?…` (the whole version as a zip),
//!   `GET list?search=…` (search).
//!
//! Both answer with the same JSON shapes (`ApiDataset`, `datasetFiles[]`, `nextPageToken`), so
//! only the requests differ. The whole version is downloaded as `{slug}.zip` only when the
//! listing names no files (normalize extracts zips).
//!
//! **Credentials** (`auth::find(Service::Kaggle)`): the legacy key (`KAGGLE_USERNAME` +
//! `KAGGLE_KEY`, `kaggle.json`) goes as HTTP Basic `user:key`; an access token
//! (`KAGGLE_API_TOKEN`, `~/.kaggle/access_token`) as `Bearer`. Either is bound to the API's
//! origin, never sent to storage.
//!
//! **Pinning.** Kaggle versions are immutable, so the lock records `version:N`; a URI without
//! `@N` resolves the current version once, and later builds use the lock's until `--refresh`.
//!
//! **Verification.** Kaggle lists no content hash, so files are checked against the listing's
//! `totalBytes` only (a file Kaggle chose to send zipped, as it does for large files, is accepted
//! at any size: its content is a zip archive, which normalize extracts); the lock's SHA-256 of
//! each file then pins the content from the first download on.

use std::path::Path;

use serde_json::{Value, json};

use super::cache::{self, Cache, CachedFile, Manifest};
use super::http::{Client, Credential, origin, redact};
use super::{
    Check, FetchError, FetchEvent, FetchOptions, Fetched, Job, cached, download_all, evict,
    patterns, selection,
};
use crate::spec::SourceDef;

/// The listing page size asked for (Kaggle's own default is 20).
const PAGE_SIZE: u32 = 200;

/// The current API's production base.
const RPC_DEFAULT: &str = "https://api.kaggle.com";

/// The RPC service every dataset call belongs to.
const SERVICE: &str = "datasets.DatasetApiService";

/// Which of Kaggle's two APIs a base URL speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    /// `kagglesdk`'s JSON-over-POST RPC (current).
    Rpc,
    /// The REST API of the `kaggle` CLI ≤ 1.6.
    Rest,
}

/// The API base and its flavor, from the environment (see the module's documentation).
pub(crate) fn endpoint() -> (Flavor, String) {
    let var = super::endpoint_var;
    if let Some(b) = var("KAGGLE_API_ENDPOINT") {
        return (Flavor::Rest, b);
    }
    if let Some(b) = var("MLDATA_KAGGLE_RPC_ENDPOINT") {
        return (Flavor::Rpc, b);
    }
    let base = match var("KAGGLE_API_ENVIRONMENT")
        .map(|e| e.to_ascii_uppercase())
        .as_deref()
    {
        Some("LOCALHOST" | "LOCAL") => "http://localhost/api",
        Some("TEST") => "http://localhost:7777/api",
        _ => RPC_DEFAULT,
    };
    (Flavor::Rpc, base.to_owned())
}

/// The API and the credential for it.
pub(crate) struct Api {
    flavor: Flavor,
    base: String,
    cred: Option<Credential>,
    /// Where the credential came from (for error messages; never the secret).
    cred_origin: Option<String>,
}

impl Api {
    /// The endpoint and credential from the environment.
    pub(crate) fn from_env() -> Api {
        let (flavor, base) = endpoint();
        let found = super::auth::find(super::auth::Service::Kaggle);
        let cred = found.as_ref().map(|f| Credential {
            origin: origin(&base),
            header: match &f.user {
                Some(user) => super::http::basic_auth(user, f.secret.expose()),
                None => format!("Bearer {}", f.secret.expose()),
            },
        });
        Api {
            flavor,
            base,
            cred,
            cred_origin: found.map(|f| f.origin),
        }
    }

    /// Whether a credential was found.
    pub(crate) fn has_credential(&self) -> bool {
        self.cred.is_some()
    }

    /// An RPC method's URL.
    fn rpc_url(&self, method: &str) -> String {
        format!("{}/v1/{SERVICE}/{method}", self.base)
    }

    /// GET a JSON document (REST); an RPC-style `{"code": 4xx, …}` body is an error even with a
    /// 200 status.
    fn get(&self, client: &Client, url: &str) -> Result<Value, FetchError> {
        let (v, _) = client.json(url, self.cred.as_ref(), None)?;
        checked(url, v)
    }

    /// Call an RPC method with a JSON request.
    fn call(&self, client: &Client, method: &str, body: &Value) -> Result<Value, FetchError> {
        let url = self.rpc_url(method);
        let body = serde_json::to_vec(body).unwrap_or_default();
        let (v, _) = client.json(&url, self.cred.as_ref(), Some(&body))?;
        checked(&url, v)
    }

    /// The dataset (`ApiDataset`: title, licence, size, `currentVersionNumber`…).
    fn dataset(&self, client: &Client, owner: &str, slug: &str) -> Result<Value, FetchError> {
        match self.flavor {
            Flavor::Rest => self.get(
                client,
                &format!("{}/datasets/view/{owner}/{slug}", self.base),
            ),
            Flavor::Rpc => self.call(
                client,
                "GetDataset",
                &json!({"ownerSlug": owner, "datasetSlug": slug}),
            ),
        }
    }

    /// The current version of a dataset.
    fn current_version(&self, client: &Client, owner: &str, slug: &str) -> Result<u32, FetchError> {
        let v = self.dataset(client, owner, slug)?;
        current_version_of(&v).ok_or_else(|| {
            FetchError::new(format!(
                "Kaggle answered without a current version (`currentVersionNumber`) for `{owner}/{slug}` ({})",
                redact(&self.base)
            ))
            .hint("is the endpoint Kaggle's API (see `mldatabuild doctor`)? Or pin a version: kaggle://owner/slug@N")
        })
    }

    /// One page of a version's file listing, and what to name in errors.
    fn files_page(
        &self,
        client: &Client,
        owner: &str,
        slug: &str,
        version: u32,
        token: &str,
    ) -> Result<(Value, String), FetchError> {
        match self.flavor {
            Flavor::Rest => {
                let mut url = format!(
                    "{}/datasets/list/{owner}/{slug}?datasetVersionNumber={version}&pageSize={PAGE_SIZE}",
                    self.base
                );
                if !token.is_empty() {
                    url.push_str(&format!("&pageToken={}", super::hf::encode(token, false)));
                }
                Ok((self.get(client, &url)?, redact(&url)))
            }
            Flavor::Rpc => {
                let mut body = json!({"ownerSlug": owner, "datasetSlug": slug,
                    "datasetVersionNumber": version, "pageSize": PAGE_SIZE});
                if !token.is_empty() {
                    body["pageToken"] = json!(token);
                }
                let v = self.call(client, "ListDatasetFiles", &body)?;
                Ok((v, redact(&self.rpc_url("ListDatasetFiles"))))
            }
        }
    }

    /// The download of one file (`Some(name)`) or of the whole version as a zip.
    fn download_job(&self, owner: &str, slug: &str, version: u32, file: Option<&str>) -> Job {
        let name = file.map_or_else(|| format!("{slug}.zip"), str::to_owned);
        let (url, post) = match self.flavor {
            Flavor::Rest => {
                let path =
                    file.map_or_else(String::new, |f| format!("/{}", super::hf::encode(f, true)));
                (
                    format!(
                        "{}/datasets/download/{owner}/{slug}{path}?datasetVersionNumber={version}",
                        self.base
                    ),
                    None,
                )
            }
            Flavor::Rpc => {
                let mut body = json!({"ownerSlug": owner, "datasetSlug": slug,
                    "datasetVersionNumber": version});
                if let Some(f) = file {
                    body["fileName"] = json!(f);
                }
                (self.rpc_url("DownloadDataset"), Some(body.to_string()))
            }
        };
        Job {
            name,
            url,
            post,
            // Checked after the download: a large file may arrive zipped.
            size: None,
            check: Check::None,
        }
    }

    /// Every file of a dataset version (all pages): (name, size).
    fn list(
        &self,
        client: &Client,
        owner: &str,
        slug: &str,
        version: u32,
    ) -> Result<Vec<(String, Option<u64>)>, FetchError> {
        let mut out = Vec::new();
        let mut token = String::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let (v, url) = self.files_page(client, owner, slug, version, &token)?;
            if let Some(m) = v["errorMessage"].as_str().filter(|m| !m.trim().is_empty()) {
                return Err(FetchError::new(format!(
                    "Kaggle could not list the files of `{owner}/{slug}` version {version}: {m}"
                )));
            }
            let files = match &v["datasetFiles"] {
                Value::Array(a) => a.as_slice(),
                Value::Null => &[],
                _ => {
                    return Err(FetchError::new(format!(
                        "{url} answered a file listing without a `datasetFiles` list"
                    ))
                    .hint("is the endpoint Kaggle's API? `mldatabuild doctor` shows which one is used"));
                }
            };
            for f in files {
                let Some(name) = f["name"].as_str().or_else(|| f["ref"].as_str()) else {
                    return Err(FetchError::new(format!(
                        "{url} listed a file without a `name`: {f}"
                    )));
                };
                let size = f["totalBytes"]
                    .as_u64()
                    .or_else(|| f["totalBytes"].as_str().and_then(|s| s.parse().ok()));
                out.push((name.to_owned(), size));
            }
            v["nextPageToken"]
                .as_str()
                .unwrap_or("")
                .clone_into(&mut token);
            if token.is_empty() {
                break;
            }
            if !seen.insert(token.clone()) || seen.len() > 100_000 {
                return Err(FetchError::new(
                    "Kaggle's file listing does not end (a page token came back twice)",
                ));
            }
        }
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    /// Explain a failed call in dataset terms: credentials (401/403) and a missing dataset (404)
    /// are the user's to fix.
    fn explain(&self, owner: &str, slug: &str, version: Option<u32>, e: FetchError) -> FetchError {
        let env_hint = "set KAGGLE_USERNAME and KAGGLE_KEY (the API key of kaggle.com → Settings → API), or KAGGLE_API_TOKEN, or run `mldatabuild auth login kaggle`";
        match e.status {
            Some(401 | 403) => match &self.cred_origin {
                None => FetchError::new(format!(
                    "Kaggle refused to serve `{owner}/{slug}` without credentials (answered {}); none were found",
                    e.status.unwrap_or(401)
                ))
                .hint(env_hint)
                .user(),
                Some(from) => FetchError::new(format!(
                    "Kaggle refused the credentials from {from} for `{owner}/{slug}` (answered {}): they are invalid or expired, or the account may not access this dataset",
                    e.status.unwrap_or(401)
                ))
                .hint(format!("check them, or create a new key: {env_hint}"))
                .user(),
            },
            Some(404) => FetchError::new(format!(
                "Kaggle dataset `{owner}/{slug}`{} not found on {}",
                version.map_or(String::new(), |v| format!(" (version {v})")),
                self.base
            ))
            .hint(if self.cred.is_none() {
                "check `owner/slug` (as in kaggle.com/datasets/owner/slug) and the version; a private dataset also needs credentials: KAGGLE_USERNAME + KAGGLE_KEY, or KAGGLE_API_TOKEN"
            } else {
                "check `owner/slug` (as in kaggle.com/datasets/owner/slug) and the version; a private dataset is visible only to its owner's collaborators"
            })
            .user(),
            _ => e,
        }
    }
}

/// A JSON answer, unless it is an RPC-style error (`{"code": 4xx, "message": …}`), which Kaggle
/// sends even with a 200 status.
fn checked(url: &str, v: Value) -> Result<Value, FetchError> {
    let Some(code) = v.get("code").and_then(Value::as_u64).filter(|c| *c >= 400) else {
        return Ok(v);
    };
    let mut e = FetchError::new(format!(
        "{} answered {code}{}",
        redact(url),
        v["message"]
            .as_str()
            .map_or(String::new(), |m| format!(": {m}"))
    ));
    e.status = u16::try_from(code).ok();
    Err(e)
}

/// A dataset's current version: `currentVersionNumber`, else the highest listed version.
fn current_version_of(v: &Value) -> Option<u32> {
    let number = |x: &Value| {
        x.as_u64()
            .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
    };
    number(&v["currentVersionNumber"]).or_else(|| {
        v["versions"]
            .as_array()?
            .iter()
            .filter_map(|x| number(&x["versionNumber"]))
            .max()
    })
}

/// A listed file name that is safe to use as a path inside the snapshot.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// `version:N` → N.
fn pinned_version(p: &str) -> Option<u32> {
    p.strip_prefix("version:")?.parse().ok().filter(|n| *n > 0)
}

/// Fetch a Kaggle dataset version into the cache (or find it there).
#[expect(
    clippy::too_many_arguments,
    reason = "the fetch's whole context, as for the Hub"
)]
pub fn fetch(
    cache: &Cache,
    client: &Client,
    def: &SourceDef,
    owner: &str,
    slug: &str,
    version: Option<u32>,
    pinned: Option<&str>,
    opts: FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    let canonical = format!("kaggle://{owner}/{slug}");
    let known = version.or_else(|| pinned.filter(|_| !opts.refresh).and_then(pinned_version));
    // The credential lookup may ask the OS keyring: only done when the network is needed.
    let mut api: Option<Api> = None;
    let version = match known {
        Some(v) => v,
        None if opts.offline => {
            return Err(FetchError::new(format!(
                "`{}` has no version recorded in the lockfile, and --offline forbids asking Kaggle",
                def.uri
            ))
            .hint("build once online (the lock then pins the version), or pin one in the URI: kaggle://owner/slug@N")
            .user());
        }
        None => {
            let api = api.insert(Api::from_env());
            api.current_version(client, owner, slug)
                .map_err(|e| api.explain(owner, slug, None, e))?
        }
    };
    let revision = format!("version:{version}");
    let key = cache::key(&canonical, &revision, &selection(def));
    if let Some(f) = cached(cache, &key, opts, events) {
        events(FetchEvent::Cached {
            revision: revision.clone(),
        });
        return Ok(f);
    }
    if opts.offline {
        return Err(FetchError::new(format!(
            "`{}` at version {version} is not in the cache, and --offline forbids downloading it",
            def.uri
        ))
        .hint("build once without --offline")
        .user());
    }
    let api = api.unwrap_or_else(Api::from_env);
    let _guard = cache.lock(&key, || {})?;
    if let Some(f) = cached(cache, &key, FetchOptions::default(), events) {
        return Ok(f);
    }
    let listed = api
        .list(client, owner, slug, version)
        .map_err(|e| api.explain(owner, slug, Some(version), e))?;
    if let Some((bad, _)) = listed.iter().find(|(n, _)| !safe_name(n)) {
        return Err(FetchError::new(format!(
            "Kaggle listed a file name that is not a safe relative path: `{}`",
            bad.escape_debug()
        )));
    }
    let patterns = patterns(def)?;
    let chosen: Vec<&(String, Option<u64>)> = listed
        .iter()
        .filter(|(n, _)| !n.split('/').any(|s| s.starts_with('.')))
        .filter(|(n, _)| {
            patterns
                .as_ref()
                .is_none_or(|p| p.iter().any(|p| p.matches(n)))
        })
        .collect();
    let jobs: Vec<Job> = if chosen.is_empty() {
        if patterns.is_some() || !listed.is_empty() {
            return Err(FetchError::new(format!(
                "`{}` version {version} has no {}files",
                def.uri,
                if patterns.is_some() {
                    "matching "
                } else {
                    "data "
                }
            ))
            .hint(if listed.is_empty() {
                "Kaggle lists no files for this version, so `files:` cannot select any; without `files:` the whole version is downloaded as one zip".to_owned()
            } else {
                format!(
                    "check `files:` globs against the dataset's file names: {}{}",
                    listed
                        .iter()
                        .take(5)
                        .map(|(n, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if listed.len() > 5 { ", …" } else { "" }
                )
            })
            .user());
        }
        // No listing: the whole version as one zip archive.
        vec![api.download_job(owner, slug, version, None)]
    } else {
        chosen
            .iter()
            .map(|(name, _)| api.download_job(owner, slug, version, Some(name)))
            .collect()
    };
    // The listing's sizes (a file may arrive zipped, so the answers' sizes may differ); with
    // none, the download announces the sizes its answers give.
    let listed: u64 = chosen.iter().filter_map(|(_, s)| *s).sum();
    let files = download_all(
        cache,
        client,
        api.cred.as_ref(),
        &jobs,
        (listed > 0).then_some(listed),
        events,
    )
    .map_err(|e| match e.status {
        Some(401 | 403) => api.explain(owner, slug, Some(version), e),
        Some(404) => FetchError::new(format!(
            "{} (a file of `{owner}/{slug}` version {version} that Kaggle listed)",
            e.message
        ))
        .hint("the dataset may have changed while it was downloaded; build again")
        .user(),
        _ => e,
    })?;
    check_sizes(cache, &chosen, &files)?;
    let manifest = Manifest {
        uri: canonical,
        revision: revision.clone(),
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
        revision,
        cached: false,
        key,
    })
}

/// Every downloaded file has the size Kaggle lists, unless Kaggle sent it as a zip archive.
fn check_sizes(
    cache: &Cache,
    listed: &[&(String, Option<u64>)],
    files: &[CachedFile],
) -> Result<(), FetchError> {
    for f in files {
        let Some(want) = listed
            .iter()
            .find(|(n, _)| *n == f.path)
            .and_then(|(_, s)| *s)
        else {
            continue;
        };
        if f.size == want || want == 0 {
            continue;
        }
        let mut head = [0u8; 4];
        let zipped = std::fs::File::open(cache.blob(&f.sha256))
            .and_then(|mut r| std::io::Read::read_exact(&mut r, &mut head))
            .is_ok()
            && crate::stages::detect::is_zip(&head);
        let listed_zip = Path::new(&f.path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if !zipped || listed_zip {
            return Err(FetchError::new(format!(
                "`{}`: Kaggle lists {want} bytes, but {} were downloaded",
                f.path, f.size
            ))
            .hint("the download was cut short or the file changed on Kaggle; building again downloads it anew"));
        }
    }
    Ok(())
}

/// A dataset's metadata for `info`: the dataset, the first page of its files (name, size,
/// columns) at `version`, else at the current version, and that version.
pub(crate) fn metadata(
    client: &Client,
    owner: &str,
    slug: &str,
    version: Option<u32>,
) -> Result<(Value, Value, u32), FetchError> {
    let api = Api::from_env();
    let view = api
        .dataset(client, owner, slug)
        .map_err(|e| api.explain(owner, slug, version, e))?;
    let v = match version.or_else(|| current_version_of(&view)) {
        Some(v) => v,
        None => api
            .current_version(client, owner, slug)
            .map_err(|e| api.explain(owner, slug, None, e))?,
    };
    let (files, _) = api
        .files_page(client, owner, slug, v, "")
        .map_err(|e| api.explain(owner, slug, Some(v), e))?;
    Ok((view, files["datasetFiles"].clone(), v))
}

/// Sample rows for `info`: the first `n` rows of the first listed CSV, TSV or JSON Lines file,
/// from its first bytes (one ranged download). `None` when no such file is listed.
pub(crate) fn sample(
    client: &Client,
    owner: &str,
    slug: &str,
    version: u32,
    files: &Value,
    n: usize,
) -> Result<Option<(String, super::sample::Sample)>, FetchError> {
    let Some(name) = files
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .filter(|n| safe_name(n) && super::sample::readable(n))
        .min()
    else {
        return Ok(None);
    };
    let api = Api::from_env();
    let job = api.download_job(owner, slug, version, Some(name));
    let bytes = client
        .prefix(job.target(), api.cred.as_ref(), super::sample::PREFIX_BYTES)
        .map_err(|e| api.explain(owner, slug, Some(version), e))?;
    Ok(super::sample::rows(name, &bytes, n).map(|r| (name.to_owned(), r)))
}

/// What `search` asks Kaggle for.
pub(crate) struct Query<'a> {
    pub text: &'a str,
    /// A licence family: `cc`, `gpl`, `odb` or `other`.
    pub license_group: Option<&'a str>,
    pub min_bytes: Option<u64>,
    pub max_bytes: Option<u64>,
}

impl Api {
    /// The first page of datasets matching a query (`ApiDataset` objects), in Kaggle's order.
    pub(crate) fn search(&self, client: &Client, q: &Query<'_>) -> Result<Vec<Value>, FetchError> {
        let v = match self.flavor {
            Flavor::Rest => {
                let mut url = format!(
                    "{}/datasets/list?search={}&page=1&sortBy=hottest",
                    self.base,
                    super::hf::encode(q.text, false)
                );
                if let Some(g) = q.license_group {
                    url.push_str(&format!("&license={g}"));
                }
                if let Some(n) = q.min_bytes {
                    url.push_str(&format!("&minSize={n}"));
                }
                if let Some(n) = q.max_bytes {
                    url.push_str(&format!("&maxSize={n}"));
                }
                self.get(client, &url)?
            }
            Flavor::Rpc => {
                // Default values (sort by hotness, public datasets, page 0) are left out.
                let mut body = json!({"search": q.text, "page": 1});
                if let Some(g) = q.license_group {
                    body["license"] =
                        json!(format!("DATASET_LICENSE_GROUP_{}", g.to_ascii_uppercase()));
                }
                if let Some(n) = q.min_bytes {
                    body["minSize"] = json!(n);
                }
                if let Some(n) = q.max_bytes {
                    body["maxSize"] = json!(n);
                }
                self.call(client, "ListDatasets", &body)?
            }
        };
        // REST answers with an array, RPC with `{"datasets": […]}`.
        let list = match &v {
            Value::Array(a) => a.clone(),
            _ => v["datasets"].as_array().cloned().unwrap_or_default(),
        };
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_padded_standard_base64() {
        // Two, one and no `=` of padding; `+` and `/` (the standard alphabet, not the URL-safe
        // one); UTF-8; and the Kaggle docs' §3.1 example.
        for ((user, pass), want) in [
            (("", ""), "Og=="),
            (("f", ""), "Zjo="),
            (("fo", "o"), "Zm86bw=="),
            (("foo", "b"), "Zm9vOmI="),
            (("a", "~~~"), "YTp+fn4="),
            (("a", "?~"), "YTo/fg=="),
            (("a", "\u{fb}\u{ff}\u{fe}"), "YTrDu8O/w74="),
            (("alice", "k3y"), "YWxpY2U6azN5"),
        ] {
            assert_eq!(
                super::super::http::basic_auth(user, pass),
                format!("Basic {want}"),
                "{user}:{pass}"
            );
        }
    }

    #[test]
    fn names_and_pins() {
        assert!(safe_name("train.csv") && safe_name("images/a/1.png"));
        for bad in ["", "/etc/passwd", "a/../b", "..", "a//b", "a\\b", "a\nb"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
        assert_eq!(pinned_version("version:4"), Some(4));
        assert_eq!(pinned_version("version:0"), None);
        assert_eq!(pinned_version("4"), None);
    }
}
