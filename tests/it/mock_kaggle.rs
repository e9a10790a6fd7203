//! A loopback mock of Kaggle's two APIs, the current JSON-over-POST RPC
//! (`shared/reference/hub-protocols.md` §3.2: `POST /api/v1/datasets.DatasetApiService/{GetDataset,
//! ListDatasetFiles,DownloadDataset,ListDatasets}`) and the legacy REST API (§3.4), and of the
//! storage their downloads redirect to, on another port (so another origin: a client must not
//! send its `Authorization` there). Built on the generic [`MockServer`].
//!
//! REST routes (under `/api/v1`): `GET /datasets/list?search=` (search), `GET /datasets/view/{owner}/{slug}` (the dataset with
//! `currentVersionNumber`), `GET /datasets/list/{owner}/{slug}?datasetVersionNumber=&pageSize=
//! &pageToken=` (`{"datasetFiles":[…],"errorMessage":null,"nextPageToken":…}`),
//! `GET /datasets/download/{owner}/{slug}/{file}?datasetVersionNumber=N` (302 to storage) and
//! `GET /datasets/download/{owner}/{slug}?datasetVersionNumber=N` (302 to the version's zip).
//! Errors are `{"code":N,"message":…}` with the same HTTP status. Once credentials are set,
//! every API call needs one of them (HTTP Basic `user:key`, or `Bearer token`), as Kaggle does.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

use crate::mock::{MockServer, Request, Response, percent_decode, percent_encode};

#[derive(Default)]
struct Dataset {
    /// version → files (name, bytes).
    versions: BTreeMap<u32, Vec<(String, Vec<u8>)>>,
    /// The listing names no files (the client must take the whole zip).
    hide_listing: bool,
    /// Files served zipped (`{file}.zip` content), as Kaggle does for large files.
    zipped: Vec<String>,
}

#[derive(Default)]
struct State {
    datasets: BTreeMap<String, Dataset>,
    /// Accepted `Authorization` values; empty = anonymous access.
    accepted: Vec<String>,
    /// The most files per listing page (0 = as asked).
    page_size: usize,
    /// `DownloadDataset` answers with the file itself (200) instead of a redirect.
    direct_downloads: bool,
}

pub(crate) struct MockKaggle {
    pub(crate) api: MockServer,
    pub(crate) storage: MockServer,
    state: Arc<Mutex<State>>,
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"code": status, "message": message}))
}

fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// Base64 (for matching HTTP Basic headers).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ABC[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn storage(state: &Mutex<State>, req: &Request) -> Response {
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let parts: Vec<String> = req
        .path_only()
        .split('/')
        .skip(1)
        .map(percent_decode)
        .collect();
    match parts.as_slice() {
        [kind, owner, slug, version, rest @ ..] if !rest.is_empty() => {
            let Some(files) = state
                .datasets
                .get(&format!("{owner}/{slug}"))
                .and_then(|d| d.versions.get(&version.parse().unwrap_or(0)))
            else {
                return Response::text(404, "no such object");
            };
            if kind == "zip" {
                return Response::bytes(200, zip_of(files)).header("Accept-Ranges", "bytes");
            }
            let name = rest.join("/");
            let zipped = &state.datasets[&format!("{owner}/{slug}")].zipped;
            if let Some((_, b)) = files.iter().find(|(n, _)| *n == name) {
                return Response::bytes(200, b.clone()).header("Accept-Ranges", "bytes");
            }
            match files
                .iter()
                .find(|(n, _)| name.strip_suffix(".zip") == Some(n.as_str()) && zipped.contains(n))
            {
                Some(entry) => Response::bytes(200, zip_of(std::slice::from_ref(entry))),
                None => Response::text(404, "no such object"),
            }
        }
        _ => Response::text(404, "no such object"),
    }
}

/// One dataset call, whichever API it came through.
struct Call {
    /// `view`, `list` (files) or `download`.
    verb: &'static str,
    owner: String,
    slug: String,
    /// The file, for `download` (empty: the whole version).
    file: Vec<String>,
    version: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

fn api(state: &Mutex<State>, storage_url: &str, req: &Request) -> Response {
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if !state.accepted.is_empty()
        && !req
            .header("authorization")
            .is_some_and(|a| state.accepted.iter().any(|x| x == a))
    {
        return error(401, "Unauthenticated");
    }
    if let Some(method) = req
        .path_only()
        .strip_prefix("/api/v1/datasets.DatasetApiService/")
    {
        return rpc(&state, storage_url, method, req);
    }
    if req.path_only() == "/api/v1/datasets/list" {
        return Response::json(
            200,
            &Value::Array(search(
                &state,
                &req.query_param("search").unwrap_or_default(),
            )),
        );
    }
    let Some(path) = req.path_only().strip_prefix("/api/v1/datasets/") else {
        return error(404, "Not found");
    };
    let parts: Vec<String> = path.split('/').map(percent_decode).collect();
    let (Some(verb), Some(owner), Some(slug)) = (parts.first(), parts.get(1), parts.get(2)) else {
        return error(404, "Not found");
    };
    let verb = match verb.as_str() {
        "view" if parts.len() == 3 => "view",
        "list" if parts.len() == 3 => "list",
        "download" => "download",
        _ => return error(404, "Not found"),
    };
    answer(
        &state,
        storage_url,
        &Call {
            verb,
            owner: owner.clone(),
            slug: slug.clone(),
            file: parts[3..].to_vec(),
            version: req.query_param("datasetVersionNumber"),
            page_size: req.query_param("pageSize"),
            page_token: req.query_param("pageToken"),
        },
    )
}

/// The fields each RPC method accepts (camelCase, as `kagglesdk` sends them).
const RPC_FIELDS: &[(&str, &[&str])] = &[
    ("GetDataset", &["ownerSlug", "datasetSlug"]),
    (
        "ListDatasetFiles",
        &[
            "ownerSlug",
            "datasetSlug",
            "datasetVersionNumber",
            "pageToken",
            "pageSize",
        ],
    ),
    (
        "DownloadDataset",
        &[
            "ownerSlug",
            "datasetSlug",
            "datasetVersionNumber",
            "fileName",
            "raw",
        ],
    ),
    (
        "ListDatasets",
        &[
            "sortBy",
            "size",
            "fileType",
            "license",
            "tagIds",
            "search",
            "user",
            "page",
            "pageToken",
            "pageSize",
            "minSize",
            "maxSize",
            "group",
        ],
    ),
];

/// `kagglesdk`'s JSON-over-POST RPC (§3.2): `POST /api/v1/datasets.DatasetApiService/{Method}`
/// with a JSON body. Strict like a protobuf server: an unknown field is a 400, and so is a
/// request that is not a JSON POST.
fn rpc(state: &State, storage_url: &str, method: &str, req: &Request) -> Response {
    let Some((_, fields)) = RPC_FIELDS.iter().find(|(m, _)| *m == method) else {
        return error(404, "Not found");
    };
    if req.method != "POST"
        || !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    {
        return error(400, "expected a POST with a JSON body");
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "the body is not a JSON object");
    };
    if let Some(bad) = body.keys().find(|k| !fields.contains(&k.as_str())) {
        return error(400, &format!("unknown field `{bad}`"));
    }
    let text = |k: &str| {
        body.get(k).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    if method == "ListDatasets" {
        let q = text("search").unwrap_or_default();
        return Response::json(
            200,
            &json!({"datasets": search(state, &q), "nextPageToken": ""}),
        );
    }
    let (Some(owner), Some(slug)) = (text("ownerSlug"), text("datasetSlug")) else {
        return error(400, "ownerSlug and datasetSlug are required");
    };
    let verb = match method {
        "GetDataset" => "view",
        "ListDatasetFiles" => "list",
        _ => "download",
    };
    if verb == "download" && state.direct_downloads {
        let file = text("fileName").unwrap_or_default();
        let version: u32 = text("datasetVersionNumber")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        return match state
            .datasets
            .get(&format!("{owner}/{slug}"))
            .and_then(|d| d.versions.get(&version))
            .and_then(|files| files.iter().find(|(n, _)| *n == file))
        {
            Some((_, bytes)) => Response::bytes(200, bytes.clone()),
            None => error(404, "Not found"),
        };
    }
    answer(
        state,
        storage_url,
        &Call {
            verb,
            owner,
            slug,
            file: text("fileName")
                .map(|f| f.split('/').map(str::to_owned).collect())
                .unwrap_or_default(),
            version: text("datasetVersionNumber"),
            page_size: text("pageSize"),
            page_token: text("pageToken"),
        },
    )
}

/// Every dataset whose `owner/slug` contains `q`, as `ApiDataset` objects.
fn search(state: &State, q: &str) -> Vec<Value> {
    state
        .datasets
        .iter()
        .filter(|(repo, _)| repo.contains(q))
        .map(|(repo, ds)| {
            json!({"ref": repo, "title": repo.split('/').nth(1), "totalBytes":
                ds.versions.values().last().map_or(0, |f| f.iter().map(|(_, b)| b.len()).sum::<usize>()),
                "licenseName": "CC0: Public Domain", "downloadCount": 10,
                "currentVersionNumber": ds.versions.keys().max()})
        })
        .collect()
}

fn answer(state: &State, storage_url: &str, call: &Call) -> Response {
    let (owner, slug) = (&call.owner, &call.slug);
    let repo = format!("{owner}/{slug}");
    let Some(ds) = state.datasets.get(&repo) else {
        return error(404, "Not found");
    };
    let current = ds.versions.keys().max().copied().unwrap_or(0);
    let version = match &call.version {
        Some(v) if !v.is_empty() => v.parse().unwrap_or(0),
        _ => current,
    };
    let Some(files) = ds.versions.get(&version) else {
        return error(404, "Not found");
    };
    match (call.verb, call.file.as_slice()) {
        ("view", []) => Response::json(
            200,
            &json!({
                "id": 1442, "ref": repo, "title": slug, "subtitle": "", "isPrivate": false,
                "totalBytes": files.iter().map(|(_, b)| b.len()).sum::<usize>(),
                "lastUpdated": "2017-11-27T17:08:04.107Z",
                "currentVersionNumber": current,
                "versions": ds.versions.keys().map(|v| json!({
                    "versionNumber": v, "creationDate": "2017-11-27T17:08:04.107Z",
                    "creatorName": owner, "versionNotes": "", "status": "ready"
                })).collect::<Vec<Value>>(),
                "files": [], "tags": []
            }),
        )
        .header("X-Kaggle-ApiVersion", "1"),
        ("list", []) => {
            let listed: Vec<&(String, Vec<u8>)> = if ds.hide_listing {
                Vec::new()
            } else {
                files.iter().collect()
            };
            let asked = call
                .page_size
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(20usize);
            let size = if state.page_size > 0 {
                asked.min(state.page_size)
            } else {
                asked
            }
            .max(1);
            let start: usize = call
                .page_token
                .as_deref()
                .and_then(|t| t.strip_prefix("p").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let end = (start + size).min(listed.len());
            let page: Vec<Value> = listed[start.min(end)..end]
                .iter()
                .map(|(name, bytes)| {
                    json!({
                        "ref": name, "datasetRef": repo, "ownerRef": owner, "name": name,
                        "creationDate": "2017-11-27T17:08:04.107Z", "description": "",
                        "fileType": format!(".{}", name.rsplit('.').next().unwrap_or("")),
                        "url": "", "totalBytes": bytes.len(), "columns": []
                    })
                })
                .collect();
            let next = if end < listed.len() {
                format!("p{end}")
            } else {
                String::new()
            };
            Response::json(
                200,
                &json!({"datasetFiles": page, "errorMessage": null, "nextPageToken": next}),
            )
        }
        ("download", []) => Response::new(302).header(
            "Location",
            format!("{storage_url}/zip/{owner}/{slug}/{version}/{slug}.zip"),
        ),
        ("download", rest) => {
            let name = rest.join("/");
            if !files.iter().any(|(n, _)| *n == name) {
                return error(404, "Not found");
            }
            let suffix = if ds.zipped.contains(&name) {
                ".zip"
            } else {
                ""
            };
            Response::new(302).header(
                "Location",
                format!(
                    "{storage_url}/files/{owner}/{slug}/{version}/{}{suffix}",
                    percent_encode(&name, "/")
                ),
            )
        }
        _ => error(404, "Not found"),
    }
}

impl MockKaggle {
    pub(crate) fn start() -> MockKaggle {
        let state = Arc::new(Mutex::new(State::default()));
        let storage = {
            let state = state.clone();
            MockServer::start(move |req| self::storage(&state, req))
        };
        let storage_url = storage.url();
        let api = {
            let state = state.clone();
            MockServer::start(move |req| self::api(&state, &storage_url, req))
        };
        MockKaggle {
            api,
            storage,
            state,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `KAGGLE_API_ENDPOINT` for the client (the legacy REST API).
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/api/v1", self.api.url())
    }

    /// `MLDATA_KAGGLE_RPC_ENDPOINT` for the client (the current RPC API).
    pub(crate) fn rpc_endpoint(&self) -> String {
        format!("{}/api", self.api.url())
    }

    /// Add the next version of `owner/slug` (1 for a new dataset); returns its number.
    pub(crate) fn add_version(&self, repo: &str, files: &[(&str, &[u8])]) -> u32 {
        self.with(|s| {
            let ds = s.datasets.entry(repo.to_owned()).or_default();
            let v = ds.versions.keys().max().copied().unwrap_or(0) + 1;
            ds.versions.insert(
                v,
                files
                    .iter()
                    .map(|(n, b)| ((*n).to_owned(), b.to_vec()))
                    .collect(),
            );
            v
        })
    }

    /// The listing of `repo` names no files.
    pub(crate) fn hide_listing(&self, repo: &str) {
        self.with(|s| s.datasets.entry(repo.to_owned()).or_default().hide_listing = true);
    }

    /// `file` of `repo` is served as a zip archive of it (`{file}.zip`).
    pub(crate) fn serve_zipped(&self, repo: &str, file: &str) {
        self.with(|s| {
            s.datasets
                .entry(repo.to_owned())
                .or_default()
                .zipped
                .push(file.to_owned());
        });
    }

    /// Require credentials: the legacy key (`user`, `key`) as HTTP Basic, or a bearer token.
    pub(crate) fn require(&self, user: &str, key: &str, token: &str) {
        self.with(|s| {
            s.accepted = vec![
                format!("Basic {}", base64(format!("{user}:{key}").as_bytes())),
                format!("Bearer {token}"),
            ];
        });
    }

    /// `DownloadDataset` answers with the file's bytes (200) instead of redirecting to storage.
    pub(crate) fn direct_downloads(&self, on: bool) {
        self.with(|s| s.direct_downloads = on);
    }

    pub(crate) fn page_size(&self, n: usize) {
        self.with(|s| s.page_size = n);
    }

    /// Every request to the API and to storage.
    pub(crate) fn request_count(&self) -> usize {
        self.api.requests().len() + self.storage.requests().len()
    }
}
