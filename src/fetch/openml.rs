//! OpenML datasets: `openml://ID`.
//!
//! The v1 REST API (`OPENML_ENDPOINT`, default `https://www.openml.org/api/v1/json`):
//!
//! - `GET {base}/data/{id}`: the description (`data_set_description`). Its JSON is generated from
//!   XML, so every scalar is a string (`"version":"2"`), a repeated element is a string when it
//!   occurs once, and an empty one is `[]`; numbers are accepted too (the newer server is typed).
//! - `GET {base}/data/features/{id}`: the feature list, fetched (best effort) only to warn when
//!   it disagrees with the ARFF header we convert; nothing from it is written.
//! - The data: `parquet_url` when the description has one (no checksum is listed for it, so it
//!   is checked to be a Parquet file, `PAR1` at both ends); else, or when that download fails,
//!   the ARFF `url`, verified against `md5_checksum` before it enters the cache and converted to
//!   CSV (`<name>.csv`) here, since normalize does not read ARFF (see [`arff`]).
//!
//! The API key (`OPENML_API_KEY`, `auth login openml`, openml-python's config) is sent as the
//! `api_key` query parameter, only to the API's own origin (and, for the default endpoint, to
//! `https://*.openml.org`, which serves the ARFF files); every URL is printed through `redact`.
//!
//! Errors come in two shapes: the PHP server's `{"error":{"code":"111","message":"Unknown
//! dataset"}}` (HTTP 412, sometimes 404/401/500) and the newer server's RFC 9457
//! `application/problem+json` (`404`, `"code":"111"`). Both are mapped: unknown dataset (111, 404)
//! → "not found", no access (112, 401/403) → "needs OPENML_API_KEY"; both are user errors.
//!
//! **Pinning.** An OpenML id is one version of a dataset; the lock records `v<version>-md5:<md5>`
//! (the description's version and the ARFF file's MD5, else its `file_id`), so a re-processed
//! or replaced file shows up as a new revision. OpenML cannot serve an older file, so a pinned
//! build whose cache is gone fetches the current one and warns if its identity changed.

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use super::auth::{self, Secret, Service};
use super::cache::{self, Cache, CachedFile, Manifest};
use super::http::{Client, origin, redact};
use super::{
    Check, FetchError, FetchEvent, FetchOptions, Fetched, Job, cached, download_all, evict,
    patterns, selection,
};
use crate::spec::SourceDef;

/// The API and the key for it.
struct Api {
    base: String,
    key: Option<Secret>,
    /// Where the key came from (for messages; never the key).
    key_origin: Option<String>,
}

/// What we use of a dataset description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Description {
    name: String,
    version: Option<String>,
    file_id: Option<String>,
    md5: Option<String>,
    status: Option<String>,
    url: Option<String>,
    parquet_url: Option<String>,
    /// A processing error the server records for the dataset.
    error: Option<String>,
}

impl Description {
    /// The revision the lock records: the version and the file's identity.
    fn revision(&self) -> String {
        let v = self.version.as_deref().unwrap_or("0");
        match (&self.md5, &self.file_id) {
            (Some(m), _) => format!("v{v}-md5:{}", m.to_ascii_lowercase()),
            (None, Some(f)) => format!("v{v}-file:{f}"),
            (None, None) => format!("v{v}"),
        }
    }
}

/// A stringly-typed scalar: a string, a number, a one-element list of either; `[]` and empty
/// strings are absent.
fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Array(a) if a.len() == 1 => text(&a[0]),
        _ => None,
    }
}

/// A repeated element: a list, or one value standing alone.
fn list(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    match v {
        serde_json::Value::Array(a) => a.iter().collect(),
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The host of a URL, lowercased, without port or user info.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let h = rest.split(['/', '?', '#']).next().unwrap_or("");
    let h = h.rsplit_once('@').map_or(h, |(_, h)| h);
    let h = if h.starts_with('[') {
        h.split_inclusive(']').next().unwrap_or(h)
    } else {
        h.split(':').next().unwrap_or(h)
    };
    h.to_ascii_lowercase()
}

fn is_openml_host(h: &str) -> bool {
    h == "openml.org" || h.ends_with(".openml.org")
}

impl Api {
    fn from_env() -> Api {
        let base = super::endpoint("OPENML_ENDPOINT", super::OPENML_DEFAULT);
        let found = auth::find(Service::OpenMl);
        Api {
            base,
            key: found.as_ref().map(|f| f.secret.clone()),
            key_origin: found.map(|f| f.origin),
        }
    }

    /// Whether the key may go to `url`: the API's origin, or OpenML's own HTTPS hosts when the
    /// API is OpenML's.
    fn trusted(&self, url: &str) -> bool {
        origin(url) == origin(&self.base)
            || (url.to_ascii_lowercase().starts_with("https://")
                && is_openml_host(&host(url))
                && is_openml_host(&host(&self.base)))
    }

    /// `url` with `api_key` added when there is a key and `url` may have it.
    fn with_key(&self, url: &str) -> String {
        match &self.key {
            Some(k) if self.trusted(url) => format!(
                "{url}{}api_key={}",
                if url.contains('?') { '&' } else { '?' },
                super::hf::encode(k.expose(), false)
            ),
            _ => url.to_owned(),
        }
    }

    /// GET an API document; a 200 answer carrying `{"error": …}` is an error too.
    fn get(&self, client: &Client, path: &str) -> Result<serde_json::Value, FetchError> {
        let url = self.with_key(&format!("{}{path}", self.base));
        let (v, meta) = client.json(&url, None, None)?;
        if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            let mut e = FetchError::new(format!(
                "{} answered {}{}",
                redact(&meta.url),
                text(&err["code"]).map_or(String::new(), |c| format!("error {c}")),
                text(&err["message"]).map_or(String::new(), |m| format!(": {m}"))
            ));
            e.code = text(&err["code"]);
            return Err(e);
        }
        Ok(v)
    }

    fn description(&self, client: &Client, id: u64) -> Result<Description, FetchError> {
        let v = self
            .get(client, &format!("/data/{id}"))
            .map_err(|e| self.explain(id, e))?;
        let d = v.get("data_set_description").unwrap_or(&v);
        if !d.is_object() || (d.get("name").is_none() && d.get("url").is_none()) {
            return Err(FetchError::new(format!(
                "{} answered without a dataset description for {id}",
                self.base
            ))
            .hint("is OPENML_ENDPOINT OpenML's JSON API (https://www.openml.org/api/v1/json)?"));
        }
        Ok(Description {
            name: text(&d["name"]).unwrap_or_else(|| format!("openml_{id}")),
            version: text(&d["version"]),
            file_id: text(&d["file_id"]),
            md5: text(&d["md5_checksum"]),
            status: text(&d["status"]),
            url: text(&d["url"]).map(|u| clean_url(&u)),
            parquet_url: text(&d["parquet_url"]).map(|u| clean_url(&u)),
            error: text(&d["error"]),
        })
    }

    /// Feature names in index order (best effort: `None` on any failure).
    fn features(&self, client: &Client, id: u64) -> Option<Vec<String>> {
        let v = self.get(client, &format!("/data/features/{id}")).ok()?;
        let mut out: Vec<(u64, String)> = list(&v["data_features"]["feature"])
            .into_iter()
            .filter_map(|f| Some((text(&f["index"])?.parse().ok()?, text(&f["name"])?)))
            .collect();
        out.sort();
        (!out.is_empty()).then(|| out.into_iter().map(|(_, n)| n).collect())
    }

    /// Name the two errors users can fix: an unknown dataset and one they may not read.
    fn explain(&self, id: u64, e: FetchError) -> FetchError {
        let no_access = classify(&e) == Some(Problem::NoAccess);
        let not_found = classify(&e) == Some(Problem::NotFound);
        if no_access {
            let hint = match &self.key_origin {
                None => "it is private: set OPENML_API_KEY to the API key of an account with access (openml.org → your profile → API key), or run `mldatabuild auth login openml`".to_owned(),
                Some(from) => format!("the API key from {from} is invalid or its account has no access; set OPENML_API_KEY to another, or run `mldatabuild auth login openml`"),
            };
            FetchError::new(format!("OpenML dataset {id}: no access ({})", e.message))
                .hint(hint)
                .user()
        } else if not_found {
            FetchError::new(format!("OpenML dataset {id} not found on {}", self.base))
                .hint(format!(
                    "check the id (https://www.openml.org/d/{id}){}",
                    if self.key.is_none() {
                        "; a private dataset also needs OPENML_API_KEY"
                    } else {
                        ""
                    }
                ))
                .user()
        } else {
            e
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    NotFound,
    NoAccess,
}

/// Which of the user-fixable errors a failed call is, in either error shape: the PHP server's
/// `{"error":{"code":"111","message":"Unknown dataset"}}` (412, sometimes 404/401) or the newer
/// server's problem+json (404, 401/403). The body's code survives only as its message, which
/// the client keeps, so the messages are matched too.
fn classify(e: &FetchError) -> Option<Problem> {
    let m = e.message.to_ascii_lowercase();
    let code = e.code.as_deref();
    if code == Some("112")
        || matches!(e.status, Some(401 | 403))
        || m.contains("no access")
        || m.contains("authentication")
    {
        Some(Problem::NoAccess)
    } else if code == Some("111")
        || e.status == Some(404)
        || m.contains("unknown dataset")
        || m.contains("dataset not found")
        || m.contains("no dataset")
    {
        Some(Problem::NotFound)
    } else {
        None
    }
}

/// A file name from a dataset name: letters, digits, `-`, `_`, `.` (others become `_`).
fn file_stem(name: &str, id: u64) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches(['.', '_']).to_owned();
    if s.is_empty() {
        format!("openml_{id}")
    } else {
        s
    }
}

/// What [`clean_url`] escapes besides non-ASCII: controls, space, DEL, and the printable
/// characters a request line may not hold.
const NOT_IN_REQUEST_LINE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A URL as the server wrote it, with the characters a request line may not hold (spaces,
/// quotes, non-ASCII…) percent-encoded; existing `%XX` escapes are kept.
fn clean_url(url: &str) -> String {
    percent_encoding::utf8_percent_encode(url, NOT_IN_REQUEST_LINE).to_string()
}

/// A file with `PAR1` at both ends.
fn is_parquet(path: &std::path::Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    f.read_exact(&mut head).is_ok()
        && f.seek(SeekFrom::End(-4)).is_ok()
        && f.read_exact(&mut tail).is_ok()
        && head == *b"PAR1"
        && tail == *b"PAR1"
}

/// Fetch an OpenML dataset into the cache (or find it there).
pub fn fetch(
    cache: &Cache,
    client: &Client,
    def: &SourceDef,
    id: u64,
    pinned: Option<&str>,
    opts: FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Fetched, FetchError> {
    let canonical = format!("openml://{id}");
    let sel = selection(def);
    match pinned.filter(|_| !opts.refresh) {
        Some(p) => {
            let key = cache::key(&canonical, p, &sel);
            if let Some(f) = cached(cache, &key, opts, events) {
                events(FetchEvent::Cached {
                    revision: p.to_owned(),
                });
                return Ok(f);
            }
            if opts.offline {
                return Err(FetchError::new(format!(
                    "`{}` ({p}) is not in the cache, and --offline forbids downloading it",
                    def.uri
                ))
                .hint("build once without --offline")
                .user());
            }
        }
        None if opts.offline => {
            return Err(FetchError::new(format!(
                "`{}` has no revision recorded in the lockfile, and --offline forbids asking OpenML",
                def.uri
            ))
            .hint("build once online (the lock then pins the dataset's version and checksum)")
            .user());
        }
        None => {}
    }
    let api = Api::from_env();
    let desc = api.description(client, id)?;
    if let Some(s) = desc.status.as_deref().filter(|s| *s != "active") {
        events(FetchEvent::Warning(format!(
            "OpenML dataset {id} ({}) has status `{s}`{}",
            desc.name,
            if s == "deactivated" {
                ": its uploader or OpenML withdrew it (often for errors, or in favour of a newer version)"
            } else {
                ": it is not yet verified"
            }
        )));
    }
    if let Some(err) = &desc.error {
        events(FetchEvent::Warning(format!(
            "OpenML reports a processing error for dataset {id}: {err}"
        )));
    }
    let revision = desc.revision();
    if let Some(p) = pinned.filter(|p| !opts.refresh && *p != revision) {
        events(FetchEvent::Warning(format!(
            "OpenML dataset {id} changed since the lock recorded it ({p} → {revision}); OpenML serves only the current file"
        )));
    }
    let key = cache::key(&canonical, &revision, &sel);
    if let Some(f) = cached(cache, &key, opts, events) {
        events(FetchEvent::Cached {
            revision: revision.clone(),
        });
        return Ok(f);
    }
    let _guard = cache.lock(&key, || {})?;
    if let Some(f) = cached(cache, &key, FetchOptions::default(), events) {
        return Ok(f);
    }
    let stem = file_stem(&desc.name, id);
    let patterns = patterns(def)?;
    let wanted = |name: &str| {
        patterns
            .as_ref()
            .is_none_or(|p| p.iter().any(|p| p.matches(name)))
    };
    let (pq_name, csv_name) = (format!("{stem}.parquet"), format!("{stem}.csv"));
    if !wanted(&pq_name) && !wanted(&csv_name) {
        return Err(FetchError::new(format!(
            "`{}` has no matching files: OpenML serves `{pq_name}` (or `{csv_name}`, converted from ARFF)",
            def.uri
        ))
        .hint("remove `files:`, or make a glob match one of those names")
        .user());
    }
    let features = api.features(client, id);
    let mut file = None;
    if let Some(pq) = desc.parquet_url.as_deref().filter(|_| wanted(&pq_name)) {
        let job = Job {
            name: pq_name.clone(),
            url: api.with_key(pq),
            post: None,
            size: None,
            check: Check::None,
        };
        match download_all(
            cache,
            client,
            None,
            std::slice::from_ref(&job),
            None,
            events,
        )
        .map(|mut f| f.remove(0))
        {
            Ok(f) if is_parquet(&cache.blob(&f.sha256)) => file = Some(f),
            Ok(_) => events(FetchEvent::Warning(format!(
                "{} is not a Parquet file; using the ARFF file instead",
                redact(pq)
            ))),
            Err(e) => events(FetchEvent::Warning(format!(
                "the Parquet file of dataset {id} could not be downloaded ({}); using the ARFF file instead",
                e.message
            ))),
        }
    }
    let file = match file {
        Some(f) => f,
        None if !wanted(&csv_name) => {
            return Err(FetchError::new(format!(
                "`{}`: OpenML has no Parquet file for dataset {id}, and `files:` excludes `{csv_name}`",
                def.uri
            ))
            .user());
        }
        None => {
            let f = fetch_arff(cache, client, &api, id, &desc, events)?;
            let (csv, names) = convert(cache, &f, &csv_name)?;
            if let Some(feat) = features.filter(|feat| *feat != names) {
                events(FetchEvent::Warning(format!(
                    "OpenML lists {} features for dataset {id}, but its ARFF header declares {} attributes{}",
                    feat.len(),
                    names.len(),
                    feat.iter()
                        .zip(&names)
                        .find(|(a, b)| a != b)
                        .map_or(String::new(), |(a, b)| format!(" (`{a}` vs `{b}`)"))
                )));
            }
            csv
        }
    };
    let manifest = Manifest {
        uri: canonical,
        revision: revision.clone(),
        files: vec![file],
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

/// Download the ARFF file, verified against the description's MD5.
fn fetch_arff(
    cache: &Cache,
    client: &Client,
    api: &Api,
    id: u64,
    desc: &Description,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<CachedFile, FetchError> {
    let url = desc.url.as_deref().ok_or_else(|| {
        FetchError::new(format!(
            "OpenML's description of dataset {id} has neither `parquet_url` nor `url`: no file to download"
        ))
    })?;
    let name = format!("{}.arff", file_stem(&desc.name, id));
    let job = Job {
        name: name.clone(),
        url: api.with_key(url),
        post: None,
        size: None,
        check: desc.md5.clone().map_or(Check::None, Check::Md5),
    };
    let mut files = download_all(cache, client, None, std::slice::from_ref(&job), None, events).map_err(|e| {
        if e.message.contains("checksum mismatch") {
            FetchError::new(format!(
                "`{name}` of OpenML dataset {id} does not match the MD5 OpenML lists for it ({}); it was not cached",
                desc.md5.as_deref().unwrap_or("")
            ))
            .hint("the file was corrupted in transit or changed on the server; building again downloads it anew")
        } else if classify(&e) == Some(Problem::NoAccess) {
            let x = api.explain(id, e.clone());
            FetchError {
                message: format!("{} (downloading `{name}`)", x.message),
                ..x
            }
        } else {
            e
        }
    })?;
    Ok(files.remove(0))
}

/// Convert a cached ARFF file to CSV and store it as a blob named `csv_name`; returns it and
/// the attribute names.
fn convert(
    cache: &Cache,
    arff_file: &CachedFile,
    csv_name: &str,
) -> Result<(CachedFile, Vec<String>), FetchError> {
    let io = |e: std::io::Error| FetchError::new(format!("cannot write the cache: {e}"));
    let src = std::fs::File::open(cache.blob(&arff_file.sha256)).map_err(io)?;
    let tmp = cache.root.join("tmp").join(format!(
        "arff-{}-{}.csv",
        &arff_file.sha256[..16.min(arff_file.sha256.len())],
        std::process::id()
    ));
    let result: Result<(CachedFile, Vec<String>), FetchError> = (|| {
        let mut out = BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let summary = arff::to_csv(BufReader::new(src), &mut out).map_err(|e| match e {
            arff::Failure::Io(e) => io(e),
            arff::Failure::Parse(p) => FetchError::new(format!(
                "`{}` line {}: {}",
                arff_file.path, p.line, p.message
            ))
            .hint("the ARFF file OpenML serves cannot be converted to CSV; report it on the dataset's OpenML page")
            .user(),
        })?;
        out.flush().map_err(io)?;
        drop(out);
        let sha = crate::statcache::sha256_file(&tmp).map_err(io)?;
        let size = std::fs::metadata(&tmp).map_err(io)?.len();
        cache.store_blob(&tmp, &sha).map_err(io)?;
        Ok((
            CachedFile {
                path: csv_name.to_owned(),
                size,
                sha256: sha,
            },
            summary.attributes.into_iter().map(|a| a.name).collect(),
        ))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// ARFF (Weka's Attribute-Relation File Format) to CSV, streaming.
///
/// Handled: `%` comments (whole lines, or from a `%` that starts a token to the end of the
/// line); case-insensitive `@RELATION`, `@ATTRIBUTE`, `@DATA`; attribute types `NUMERIC`, `REAL`,
/// `INTEGER`, `STRING`, `DATE [format]` and nominal `{a, 'b c', …}`; values quoted with `'` or
/// `"` and backslash escapes (`\n`, `\t`, `\r`, `\\`, `\'`, `\"`); `?` (unquoted) as missing;
/// sparse rows `{index value, …}` (0-based, any order), whose omitted values are 0 — `0` for
/// numeric attributes, the first declared value for nominal ones, an empty string for strings,
/// and missing for dates; a trailing instance weight `, {w}` (dropped). Numeric values must
/// parse as numbers and nominal values must be declared; both are written as found. Dates are
/// kept as written (not reformatted). `RELATIONAL` attributes are rejected.
///
/// The CSV has a header row of attribute names; a missing value is an empty field and an
/// empty string is `""`; fields with commas, quotes, line breaks or edge spaces are quoted.
mod arff {
    use std::io::{BufRead, Write};

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum Kind {
        Numeric,
        Nominal(Vec<String>),
        String,
        Date,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct Attribute {
        pub(super) name: String,
        pub(super) kind: Kind,
    }

    /// A malformed file: the 1-based line and what is wrong.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) struct ParseError {
        pub(super) line: usize,
        pub(super) message: String,
    }

    #[derive(Debug)]
    pub(super) enum Failure {
        Io(std::io::Error),
        Parse(ParseError),
    }

    impl From<std::io::Error> for Failure {
        fn from(e: std::io::Error) -> Self {
            Failure::Io(e)
        }
    }

    #[derive(Debug)]
    pub(super) struct Summary {
        pub(super) attributes: Vec<Attribute>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Tok {
        /// A value or keyword; `true` when it was quoted.
        Word(String, bool),
        Comma,
        Open,
        Close,
    }

    /// Split a line into tokens (a `%` starting a token ends the line).
    fn lex(line: &str) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        let mut chars = line.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                c if c.is_whitespace() => {
                    chars.next();
                }
                '%' => break,
                ',' => {
                    chars.next();
                    out.push(Tok::Comma);
                }
                '{' => {
                    chars.next();
                    out.push(Tok::Open);
                }
                '}' => {
                    chars.next();
                    out.push(Tok::Close);
                }
                '\'' | '"' => {
                    chars.next();
                    let mut s = String::new();
                    loop {
                        match chars.next() {
                            None => {
                                return Err(format!(
                                    "a quoted value is not closed (no {c} before the end of the line)"
                                ));
                            }
                            Some('\\') => match chars.next() {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some(x) => s.push(x),
                                None => {
                                    return Err("a line ends in a backslash inside quotes".into());
                                }
                            },
                            Some(x) if x == c => break,
                            Some(x) => s.push(x),
                        }
                    }
                    if let Some(&n) = chars.peek()
                        && !(n.is_whitespace() || matches!(n, ',' | '{' | '}' | '%'))
                    {
                        return Err(format!(
                            "unexpected `{n}` right after the quoted value {c}{s}{c}"
                        ));
                    }
                    out.push(Tok::Word(s, true));
                }
                _ => {
                    let mut s = String::new();
                    while let Some(&x) = chars.peek() {
                        if x.is_whitespace() || matches!(x, ',' | '{' | '}') {
                            break;
                        }
                        s.push(x);
                        chars.next();
                    }
                    out.push(Tok::Word(s, false));
                }
            }
        }
        Ok(out)
    }

    /// One `@ATTRIBUTE` line's tokens after the keyword.
    fn attribute(toks: &[Tok]) -> Result<Attribute, String> {
        let Some(Tok::Word(name, _)) = toks.first() else {
            return Err("@ATTRIBUTE needs a name and a type".into());
        };
        let kind = match &toks[1..] {
            [Tok::Word(t, false)] => match t.to_ascii_lowercase().as_str() {
                "numeric" | "real" | "integer" => Kind::Numeric,
                "string" => Kind::String,
                "date" => Kind::Date,
                "relational" => {
                    return Err(format!(
                        "attribute `{name}` is RELATIONAL, which is not supported"
                    ));
                }
                other => return Err(format!("attribute `{name}` has an unknown type `{other}`")),
            },
            [Tok::Word(t, false), Tok::Word(_, _)] if t.eq_ignore_ascii_case("date") => Kind::Date,
            [Tok::Word(t, false), ..] if t.eq_ignore_ascii_case("relational") => {
                return Err(format!(
                    "attribute `{name}` is RELATIONAL, which is not supported"
                ));
            }
            [Tok::Open, rest @ .., Tok::Close] => {
                let mut values = Vec::new();
                let mut expect_value = true;
                for t in rest {
                    match (t, expect_value) {
                        (Tok::Word(v, _), true) => {
                            values.push(v.clone());
                            expect_value = false;
                        }
                        (Tok::Comma, false) => expect_value = true,
                        _ => {
                            return Err(format!(
                                "attribute `{name}`: a nominal list is `{{a, b, 'c d'}}`"
                            ));
                        }
                    }
                }
                if expect_value && !values.is_empty() {
                    return Err(format!(
                        "attribute `{name}`: the nominal list ends in a comma"
                    ));
                }
                Kind::Nominal(values)
            }
            [] => return Err(format!("attribute `{name}` has no type")),
            _ => return Err(format!("attribute `{name}` has a malformed type")),
        };
        Ok(Attribute {
            name: name.clone(),
            kind,
        })
    }

    /// A value checked against its attribute: `None` when missing.
    fn cell<'a>(a: &Attribute, v: &'a str, quoted: bool) -> Result<Option<&'a str>, String> {
        if !quoted && v == "?" {
            return Ok(None);
        }
        match &a.kind {
            Kind::Numeric => {
                if v.trim().parse::<f64>().is_err() {
                    return Err(format!(
                        "`{v}` is not a number (attribute `{}` is numeric)",
                        a.name
                    ));
                }
                Ok(Some(v.trim()))
            }
            Kind::Nominal(values) => {
                if !values.iter().any(|x| x == v) {
                    return Err(format!(
                        "`{v}` is not one of the values declared for attribute `{}`",
                        a.name
                    ));
                }
                Ok(Some(v))
            }
            Kind::String | Kind::Date => Ok(Some(v)),
        }
    }

    /// The value of an attribute a sparse row leaves out (its 0).
    fn sparse_default(a: &Attribute) -> Option<&str> {
        match &a.kind {
            Kind::Numeric => Some("0"),
            Kind::Nominal(values) => values.first().map(String::as_str),
            Kind::String => Some(""),
            Kind::Date => None,
        }
    }

    /// A CSV field (missing → empty, unquoted).
    fn field(out: &mut String, v: Option<&str>) {
        let Some(v) = v else { return };
        let quote = v.is_empty()
            || v.contains([',', '"', '\n', '\r'])
            || v.starts_with(char::is_whitespace)
            || v.ends_with(char::is_whitespace);
        if quote {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(v);
        }
    }

    /// Parses `Comma Open Word Close` (an instance weight) at `toks`, which must then end.
    fn weight(toks: &[Tok]) -> Result<(), String> {
        match toks {
            [] | [Tok::Comma, Tok::Open, Tok::Word(_, _), Tok::Close] => Ok(()),
            _ => Err("unexpected text after the row's values".into()),
        }
    }

    /// The values of a data row, in attribute order (`None` = missing).
    fn row<'a>(attrs: &'a [Attribute], toks: &'a [Tok]) -> Result<Vec<Option<&'a str>>, String> {
        if toks.first() == Some(&Tok::Open) {
            let mut values: Vec<Option<&str>> = attrs.iter().map(sparse_default).collect();
            let mut seen = vec![false; attrs.len()];
            let mut i = 1;
            loop {
                match toks.get(i..i + 2) {
                    Some([Tok::Close, ..]) => {
                        i += 1;
                        break;
                    }
                    Some([Tok::Word(index, false), Tok::Word(v, quoted)]) => {
                        let k: usize = index.parse().map_err(|_| {
                            format!("`{index}` is not an attribute index in a sparse row")
                        })?;
                        let a = attrs.get(k).ok_or_else(|| {
                            format!(
                                "sparse index {k} is out of range (there are {} attributes)",
                                attrs.len()
                            )
                        })?;
                        if std::mem::replace(&mut seen[k], true) {
                            return Err(format!("sparse index {k} appears twice"));
                        }
                        values[k] = cell(a, v, *quoted)?;
                        i += 2;
                        match toks.get(i) {
                            Some(Tok::Comma) => i += 1,
                            Some(Tok::Close) => {}
                            _ => return Err("a sparse row is `{index value, …}`".into()),
                        }
                    }
                    _ if toks.get(i) == Some(&Tok::Close) => {
                        i += 1;
                        break;
                    }
                    _ => return Err("a sparse row is `{index value, …}`".into()),
                }
            }
            weight(&toks[i..])?;
            return Ok(values);
        }
        let mut values = Vec::with_capacity(attrs.len());
        let mut i = 0;
        loop {
            let Some(Tok::Word(v, quoted)) = toks.get(i) else {
                return Err(if matches!(toks.get(i), Some(Tok::Comma) | None) {
                    "an empty value (write `?` for a missing one)".into()
                } else {
                    "unexpected `{` or `}` in a row".into()
                });
            };
            let a = attrs.get(values.len()).ok_or_else(|| {
                format!(
                    "the row has more values than the {} attributes declared",
                    attrs.len()
                )
            })?;
            values.push(cell(a, v, *quoted)?);
            i += 1;
            match toks.get(i..) {
                Some([]) | None => break,
                Some([Tok::Comma, Tok::Open, ..]) => {
                    weight(&toks[i..])?;
                    break;
                }
                Some([Tok::Comma, ..]) => i += 1,
                Some(_) => return Err("values must be separated by commas".into()),
            }
        }
        if values.len() != attrs.len() {
            return Err(format!(
                "the row has {} values, but {} attributes are declared",
                values.len(),
                attrs.len()
            ));
        }
        Ok(values)
    }

    /// Convert ARFF text to CSV.
    pub(super) fn to_csv(mut r: impl BufRead, w: &mut impl Write) -> Result<Summary, Failure> {
        let fail = |line: usize, message: String| Failure::Parse(ParseError { line, message });
        let mut attrs: Vec<Attribute> = Vec::new();
        let mut in_data = false;
        let mut buf = Vec::new();
        let mut out = String::new();
        let mut line_no = 0usize;
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            line_no += 1;
            let text = String::from_utf8_lossy(&buf);
            let mut line = text.trim_end_matches(['\n', '\r']);
            if line_no == 1 {
                line = line.trim_start_matches('\u{feff}');
            }
            let toks = lex(line).map_err(|m| fail(line_no, m))?;
            if toks.is_empty() {
                continue;
            }
            if in_data {
                let values = row(&attrs, &toks).map_err(|m| fail(line_no, m))?;
                out.clear();
                for (i, v) in values.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    field(&mut out, v);
                }
                out.push('\n');
                w.write_all(out.as_bytes())?;
                continue;
            }
            let Tok::Word(kw, false) = &toks[0] else {
                return Err(fail(
                    line_no,
                    "expected @RELATION, @ATTRIBUTE or @DATA".into(),
                ));
            };
            match kw.to_ascii_lowercase().as_str() {
                "@relation" => {}
                "@attribute" => {
                    attrs.push(attribute(&toks[1..]).map_err(|m| fail(line_no, m))?);
                }
                "@data" => {
                    if attrs.is_empty() {
                        return Err(fail(line_no, "@DATA before any @ATTRIBUTE".into()));
                    }
                    in_data = true;
                    out.clear();
                    for (i, a) in attrs.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        field(&mut out, Some(&a.name));
                    }
                    out.push('\n');
                    w.write_all(out.as_bytes())?;
                }
                "@end" => {
                    return Err(fail(
                        line_no,
                        "@END belongs to a RELATIONAL attribute, which is not supported".into(),
                    ));
                }
                other => {
                    return Err(fail(
                        line_no,
                        format!("unexpected `{other}` (expected @RELATION, @ATTRIBUTE or @DATA)"),
                    ));
                }
            }
        }
        if !in_data {
            return Err(fail(line_no.max(1), "the file has no @DATA section".into()));
        }
        Ok(Summary { attributes: attrs })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The CSV and its number of data rows.
        fn csv(arff: &str) -> Result<(String, usize), ParseError> {
            let mut out = Vec::new();
            match to_csv(arff.as_bytes(), &mut out) {
                Ok(_) => {
                    let text = String::from_utf8(out).unwrap();
                    let rows = ::csv::ReaderBuilder::new()
                        .from_reader(text.as_bytes())
                        .records()
                        .count();
                    Ok((text, rows))
                }
                Err(Failure::Parse(p)) => Err(p),
                Err(Failure::Io(e)) => panic!("{e}"),
            }
        }

        #[test]
        fn dense_rows_quotes_missing_nominal_and_comments() {
            let arff = "% a comment\n\
                @RELATION iris\n\
                \n\
                @ATTRIBUTE sepallength NUMERIC   % also REAL, INTEGER\n\
                @attribute 'petal width' real\n\
                @ATTRIBUTE class {Iris-setosa,'Iris versicolor',\"x,y\"}\n\
                @ATTRIBUTE note STRING\n\
                @ATTRIBUTE ts DATE \"yyyy-MM-dd HH:mm:ss\"\n\
                @DATA\n\
                5.1, 0.2 ,Iris-setosa,'it''s',\"2001-04-03 12:12:12\"\n\
                % a comment between rows\n\
                4.9,?,'Iris versicolor','a, \\'quoted\\' \"b\"',?\r\n\
                ?,1e-3,\"x,y\",'?',2001-04-03\n\
                7,1,Iris-setosa,'',?,{0.5}\n\
                6,2,Iris-setosa,' pad ',?   % trailing comment\n";
            // `'it''s'` is not valid ARFF (no doubled quotes): the lexer rejects it.
            let err = csv(arff).unwrap_err();
            assert_eq!(err.line, 10);
            let arff = arff.replace("'it''s'", "'it\\'s'");
            let (out, rows) = csv(&arff).unwrap();
            assert_eq!(rows, 5);
            assert_eq!(
                out,
                "sepallength,petal width,class,note,ts\n\
                 5.1,0.2,Iris-setosa,it's,2001-04-03 12:12:12\n\
                 4.9,,Iris versicolor,\"a, 'quoted' \"\"b\"\"\",\n\
                 ,1e-3,\"x,y\",?,2001-04-03\n\
                 7,1,Iris-setosa,\"\",\n\
                 6,2,Iris-setosa,\" pad \",\n"
            );
        }

        #[test]
        fn sparse_rows_default_to_zero() {
            let arff = "@relation s\n\
                @attribute a numeric\n\
                @attribute b {no,yes}\n\
                @attribute c string\n\
                @attribute d numeric\n\
                @attribute e date\n\
                @data\n\
                {0 5.1, 3 2}\n\
                {3 ?, 1 yes, 2 'x y'}, {2.0}\n\
                {}\n";
            let (out, rows) = csv(arff).unwrap();
            assert_eq!(rows, 3);
            assert_eq!(
                out,
                "a,b,c,d,e\n5.1,no,\"\",2,\n0,yes,x y,,\n0,no,\"\",0,\n"
            );
        }

        #[test]
        fn escapes_and_keywords_are_case_insensitive() {
            let arff = "@Relation 'r'\n@Attribute t String\n@Data\n'tab\\there\\nnew'\n\"%not a comment\"\n";
            let (out, _) = csv(arff).unwrap();
            assert_eq!(out, "t\n\"tab\there\nnew\"\n%not a comment\n");
        }

        #[test]
        fn malformed_files_name_the_line() {
            let head = "@relation r\n@attribute a numeric\n@attribute b {x,y}\n@data\n";
            for (body, line, needle) in [
                ("1,x\n1\n", 6, "has 1 values, but 2"),
                ("1,x,3\n", 5, "more values than the 2"),
                ("abc,x\n", 5, "`abc` is not a number"),
                ("1,z\n", 5, "`z` is not one of the values"),
                ("1,'x\n", 5, "not closed"),
                ("{5 1}\n", 5, "sparse index 5 is out of range"),
                ("{0 1, 0 2}\n", 5, "appears twice"),
                ("1,,x\n", 5, "empty value"),
                ("1 x\n", 5, "separated by commas"),
            ] {
                let e = csv(&format!("{head}{body}")).unwrap_err();
                assert_eq!(e.line, line, "{body:?}: {e:?}");
                assert!(e.message.contains(needle), "{body:?}: {}", e.message);
            }
            let e = csv(
                "@relation r\n@attribute bag relational\n@attribute x numeric\n@end bag\n@data\n",
            )
            .unwrap_err();
            assert_eq!(e.line, 2);
            assert!(e.message.contains("RELATIONAL"), "{e:?}");
            let e = csv("@relation r\n@attribute a numeric\n").unwrap_err();
            assert!(e.message.contains("no @DATA"), "{e:?}");
            let e = csv("@relation r\n@attribute a blob\n@data\n").unwrap_err();
            assert!(e.message.contains("unknown type `blob`"), "{e:?}");
            let e = csv("hello\n").unwrap_err();
            assert_eq!(e.line, 1);
        }
    }
}

/// A dataset's metadata for `info`: its description and its features (best effort).
pub(crate) fn metadata(
    client: &Client,
    id: u64,
) -> Result<(serde_json::Value, serde_json::Value), FetchError> {
    let api = Api::from_env();
    let v = api
        .get(client, &format!("/data/{id}"))
        .map_err(|e| api.explain(id, e))?;
    let d = v.get("data_set_description").cloned().unwrap_or(v);
    let features = api
        .get(client, &format!("/data/features/{id}"))
        .map_or(serde_json::Value::Null, |f| {
            f["data_features"]["feature"].clone()
        });
    Ok((d, features))
}

/// Sample rows for `info`: the first `n` rows of a dataset's ARFF file (its description's
/// `url`), from its first bytes. `None` when the data does not start within them.
pub(crate) fn sample(
    client: &Client,
    description: &serde_json::Value,
    n: usize,
) -> Result<Option<super::sample::Sample>, FetchError> {
    let Some(url) = text(&description["url"]) else {
        return Ok(None);
    };
    let api = Api::from_env();
    let url = api.with_key(&url);
    let target = super::http::Target {
        url: &url,
        post: None,
    };
    let bytes = client.prefix(target, None, super::sample::PREFIX_BYTES)?;
    let Some(body) = super::sample::whole_lines(&bytes) else {
        return Ok(None);
    };
    let mut csv = Vec::new();
    if arff::to_csv(body, &mut csv).is_err() {
        return Ok(None);
    }
    Ok(super::sample::csv_rows(&csv, b',', n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stringly_typed_descriptions() {
        let v = serde_json::json!({"s": "61", "n": 61, "e": [], "one": ["a"], "many": ["a", "b"], "blank": " "});
        assert_eq!(text(&v["s"]).as_deref(), Some("61"));
        assert_eq!(text(&v["n"]).as_deref(), Some("61"));
        assert_eq!(text(&v["e"]), None);
        assert_eq!(text(&v["one"]).as_deref(), Some("a"));
        assert_eq!(text(&v["many"]), None);
        assert_eq!(text(&v["blank"]), None);
        assert_eq!(text(&v["missing"]), None);
        assert_eq!(list(&v["s"]).len(), 1);
        assert_eq!(list(&v["many"]).len(), 2);
        assert!(list(&v["missing"]).is_empty());
        let d = Description {
            version: Some("2".into()),
            md5: Some("AD48".into()),
            file_id: Some("130".into()),
            ..Description::default()
        };
        assert_eq!(d.revision(), "v2-md5:ad48");
        let d = Description { md5: None, ..d };
        assert_eq!(d.revision(), "v2-file:130");
    }

    #[test]
    fn names_hosts_and_keys() {
        assert_eq!(file_stem("iris", 61), "iris");
        assert_eq!(file_stem("a b/c(d)", 1), "a_b_c_d");
        assert_eq!(file_stem("..", 7), "openml_7");
        assert_eq!(
            clean_url("https://h/a b/é.arff?x=%20"),
            "https://h/a%20b/%C3%A9.arff?x=%20"
        );
        // Every ASCII character: graphic ones kept but for the nine below, the rest escaped
        // in upper-case hex (as before the percent-encoding crate did it).
        let ascii: String = (0u8..=127).map(char::from).collect();
        let want: String = (0u8..=127)
            .map(|b| {
                if b.is_ascii_graphic() && !br#""<>\^`{|}"#.contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(clean_url(&ascii), want);
        assert_eq!(clean_url("a%zz%2f"), "a%zz%2f");
        assert_eq!(
            host("https://user@Data.OpenML.org:443/x?y"),
            "data.openml.org"
        );
        assert_eq!(host("http://127.0.0.1:8080/a"), "127.0.0.1");
        let api = Api {
            base: "https://www.openml.org/api/v1/json".into(),
            key: Some(Secret::new("k3y")),
            key_origin: None,
        };
        assert_eq!(
            api.with_key("https://api.openml.org/data/v1/download/61/iris.arff"),
            "https://api.openml.org/data/v1/download/61/iris.arff?api_key=k3y"
        );
        assert_eq!(
            api.with_key("https://www.openml.org/api/v1/json/data/61?a=1"),
            "https://www.openml.org/api/v1/json/data/61?a=1&api_key=k3y"
        );
        // Never to another host, nor over plain HTTP.
        assert_eq!(
            api.with_key("https://mirror.example/x.pq"),
            "https://mirror.example/x.pq"
        );
        assert_eq!(
            api.with_key("http://data.openml.org/x.pq"),
            "http://data.openml.org/x.pq"
        );
        let local = Api {
            base: "http://127.0.0.1:9/api/v1/json".into(),
            ..api
        };
        assert_eq!(
            local.with_key("https://api.openml.org/x.arff"),
            "https://api.openml.org/x.arff"
        );
        assert!(
            local
                .with_key("http://127.0.0.1:9/data/x.arff")
                .ends_with("?api_key=k3y")
        );
        assert!(!local.with_key("http://127.0.0.1:10/x").contains("api_key"));
    }
}
