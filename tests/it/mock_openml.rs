//! A loopback mock of OpenML's v1 JSON API (`shared/reference/hub-protocols.md` §4), built on
//! the generic [`MockServer`]: the API and the ARFF downloads on one server, the Parquet files
//! on another port (another origin, like `data.openml.org`: the API key must never go there).
//!
//! Routes: `GET /api/v1/json/data/{id}` (the stringly-typed `data_set_description`),
//! `GET /api/v1/json/data/features/{id}`, `GET /data/v1/download/{file_id}/{name}.arff`, and on
//! the file server `GET /datasets/{id/10000:04}/{id:04}/dataset_{id}.pq`. Errors come in the PHP
//! server's shape (`412 {"error":{"code":"111","message":"Unknown dataset"}}`) or, after
//! [`MockOpenMl::problem_json`], the newer server's RFC 9457 `application/problem+json`.
//! A private dataset needs `?api_key=` with the configured key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use md5::Digest as _;
use serde_json::{Value, json};

use crate::mock::{MockServer, Request, Response};

struct Dataset {
    name: String,
    version: u32,
    arff: Vec<u8>,
    /// The `md5_checksum` the description lists (default: the ARFF's).
    md5: Option<String>,
    parquet: Option<Vec<u8>>,
    status: String,
    private: bool,
    features: Vec<String>,
}

impl Dataset {
    fn file_id(&self, id: u64) -> u64 {
        id * 100 + u64::from(self.version)
    }
}

#[derive(Default)]
struct State {
    datasets: BTreeMap<u64, Dataset>,
    api_key: Option<String>,
    problem_json: bool,
    /// Answer ARFF downloads with this status.
    fail_downloads: Option<u16>,
}

pub(crate) struct MockOpenMl {
    pub(crate) api: MockServer,
    pub(crate) files: MockServer,
    state: Arc<Mutex<State>>,
}

pub(crate) fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unknown(state: &State, id: u64) -> Response {
    if state.problem_json {
        Response::json(
            404,
            &json!({"type": "https://openml.org/problems/dataset-not-found",
                    "title": "Dataset Not Found", "status": 404,
                    "detail": format!("No dataset with id {id} found."), "code": "111"}),
        )
        .header("Content-Type", "application/problem+json")
    } else {
        Response::json(
            412,
            &json!({"error": {"code": "111", "message": "Unknown dataset"}}),
        )
    }
}

fn no_access(state: &State, id: u64) -> Response {
    if state.problem_json {
        Response::json(
            403,
            &json!({"type": "https://openml.org/problems/dataset-no-access",
                    "title": "Dataset No Access", "status": 403,
                    "detail": format!("No access granted to dataset {id}."), "code": "112"}),
        )
        .header("Content-Type", "application/problem+json")
    } else {
        Response::json(
            412,
            &json!({"error": {"code": "112", "message": "No access granted"}}),
        )
    }
}

/// A repeated element as the XML-to-JSON conversion writes it: one value alone, else a list.
fn stringly_list(values: Vec<Value>) -> Value {
    if values.len() == 1 {
        values.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(values)
    }
}

fn api(state: &Mutex<State>, api_url: &str, files_url: &str, req: &Request) -> Response {
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let path = req.path_only().to_owned();
    let allowed = |d: &Dataset| {
        !d.private || (state.api_key.is_some() && req.query_param("api_key") == state.api_key)
    };
    if let Some(rest) = path.strip_prefix("/data/v1/download/") {
        let file_id: u64 = rest
            .split('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let Some((id, d)) = state
            .datasets
            .iter()
            .find(|(id, d)| d.file_id(**id) == file_id)
        else {
            return Response::text(404, "not found");
        };
        if !allowed(d) {
            return no_access(&state, *id);
        }
        if let Some(s) = state.fail_downloads {
            return Response::text(s, "unavailable");
        }
        return Response::bytes(200, d.arff.clone()).header("Content-Type", "text/plain");
    }
    let (features, id) = match path.strip_prefix("/api/v1/json/data/") {
        Some(rest) => match rest.strip_prefix("features/") {
            Some(id) => (true, id.parse::<u64>().ok()),
            None => (false, rest.parse::<u64>().ok()),
        },
        None => return Response::text(404, "not found"),
    };
    let Some(id) = id else {
        return unknown(&state, 0);
    };
    let Some(d) = state.datasets.get(&id) else {
        return unknown(&state, id);
    };
    if !allowed(d) {
        return no_access(&state, id);
    }
    if features {
        let list: Vec<Value> = d
            .features
            .iter()
            .enumerate()
            .map(|(i, n)| {
                json!({"index": i.to_string(), "name": n, "data_type": "numeric",
                       "is_target": "false", "is_ignore": "false",
                       "is_row_identifier": "false", "number_of_missing_values": "0"})
            })
            .collect();
        return Response::json(
            200,
            &json!({"data_features": {"feature": stringly_list(list)}}),
        );
    }
    let mut desc = json!({
        "id": id.to_string(), "name": d.name, "version": d.version.to_string(),
        "description": [], "description_version": "1", "format": "ARFF",
        "creator": "R.A. Fisher", "collection_date": "1936",
        "upload_date": "2014-04-06T23:23:39", "licence": "Public",
        "url": format!("{api_url}/data/v1/download/{}/{}.arff", d.file_id(id), d.name),
        "file_id": d.file_id(id).to_string(),
        "default_target_attribute": "class", "version_label": "1",
        "tag": "uci",
        "visibility": if d.private { "private" } else { "public" },
        "status": d.status, "processing_date": "2022-11-24 20:54:14",
        "md5_checksum": d.md5.clone().unwrap_or_else(|| md5_hex(&d.arff)),
    });
    if d.parquet.is_some() {
        desc["parquet_url"] = json!(format!(
            "{files_url}/datasets/{:04}/{id:04}/dataset_{id}.pq",
            id / 10000
        ));
    }
    Response::json(200, &json!({"data_set_description": desc}))
}

fn files(state: &Mutex<State>, req: &Request) -> Response {
    let state = state.lock().unwrap_or_else(PoisonError::into_inner);
    let id = req
        .path_only()
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_prefix("dataset_"))
        .and_then(|f| f.strip_suffix(".pq"))
        .and_then(|f| f.parse::<u64>().ok());
    match id
        .and_then(|id| state.datasets.get(&id))
        .and_then(|d| d.parquet.clone())
    {
        Some(b) => Response::bytes(200, b),
        None => Response::text(404, "NoSuchKey"),
    }
}

impl MockOpenMl {
    pub(crate) fn start() -> MockOpenMl {
        let state = Arc::new(Mutex::new(State::default()));
        let files = {
            let state = state.clone();
            MockServer::start(move |req| self::files(&state, req))
        };
        let files_url = files.url();
        // The API's own URL goes into descriptions: bind first, then learn the address.
        let api_url = Arc::new(Mutex::new(String::new()));
        let api = {
            let (state, api_url) = (state.clone(), api_url.clone());
            MockServer::start(move |req| {
                let url = api_url
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                self::api(&state, &url, &files_url, req)
            })
        };
        *api_url.lock().unwrap_or_else(PoisonError::into_inner) = api.url();
        MockOpenMl { api, files, state }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `OPENML_ENDPOINT` for the client.
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/api/v1/json", self.api.url())
    }

    /// Add (or replace, as a new version) dataset `id` with an ARFF file and its feature names.
    pub(crate) fn add_arff(&self, id: u64, name: &str, arff: &[u8], features: &[&str]) {
        self.with(|s| {
            let version = s.datasets.get(&id).map_or(1, |d| d.version + 1);
            s.datasets.insert(
                id,
                Dataset {
                    name: name.to_owned(),
                    version,
                    arff: arff.to_vec(),
                    md5: None,
                    parquet: None,
                    status: "active".into(),
                    private: false,
                    features: features.iter().map(|f| (*f).to_owned()).collect(),
                },
            );
        });
    }

    fn edit(&self, id: u64, f: impl FnOnce(&mut Dataset)) {
        self.with(|s| f(s.datasets.get_mut(&id).expect("add the dataset first")));
    }

    pub(crate) fn set_parquet(&self, id: u64, bytes: &[u8]) {
        self.edit(id, |d| d.parquet = Some(bytes.to_vec()));
    }

    pub(crate) fn set_md5(&self, id: u64, md5: Option<&str>) {
        self.edit(id, |d| d.md5 = md5.map(str::to_owned));
    }

    pub(crate) fn set_status(&self, id: u64, status: &str) {
        self.edit(id, |d| status.clone_into(&mut d.status));
    }

    pub(crate) fn set_private(&self, id: u64) {
        self.edit(id, |d| d.private = true);
    }

    pub(crate) fn set_api_key(&self, key: &str) {
        self.with(|s| s.api_key = Some(key.to_owned()));
    }

    /// Answer errors as the newer server does (RFC 9457 problem+json, 404/403).
    pub(crate) fn problem_json(&self, on: bool) {
        self.with(|s| s.problem_json = on);
    }

    pub(crate) fn fail_downloads(&self, status: Option<u16>) {
        self.with(|s| s.fail_downloads = status);
    }

    pub(crate) fn request_count(&self) -> usize {
        self.api.requests().len() + self.files.requests().len()
    }
}
