//! Discovery: `search` across the Hub, Kaggle and OpenML at once; `info` (a metadata panel,
//! the schema and sample rows); `pull` (download a dataset into a folder).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use owo_colors::OwoColorize;

use crate::cli::{InfoArgs, Modality, PullArgs, SearchArgs, SearchSource};
use crate::error::{Error, Result};
use crate::fetch::auth::{self, Service};
use crate::fetch::cache::Cache;
use crate::fetch::hf::{Hub, encode};
use crate::fetch::http::{Client, RetryPolicy, redact};
use crate::fetch::uri::{self, Remote};
use crate::report::human::HumanReporter;
use crate::report::json::JsonReporter;
use crate::report::{Event, Reporter};
use crate::settings::Settings;

/// The longest `search` waits for a source.
const SEARCH_DEADLINE: Duration = Duration::from_secs(5);

/// One search result.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Hit {
    pub(crate) source: &'static str,
    /// The URI to put in `dataset.yaml`.
    pub uri: String,
    pub title: Option<String>,
    pub bytes: Option<u64>,
    pub modality: Option<String>,
    pub license: Option<String>,
    pub downloads: Option<u64>,
    pub score: f64,
}

/// A parsed size: `500`, `10KB`, `2.5 GB`, `1GiB`.
pub(crate) fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 500MB, 2GB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024f64.powi(4),
        other => {
            return Err(format!(
                "unknown size unit `{other}` (B, KB, MB, GB, TB, KiB…)"
            ));
        }
    };
    Ok((n * mult) as u64)
}

fn human(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

/// Permissive, restrictive or unknown, for coloring a license.
pub(crate) fn license_class(license: Option<&str>) -> &'static str {
    let Some(l) = license.map(str::to_ascii_lowercase) else {
        return "unknown";
    };
    let l = l.trim();
    if l.is_empty() || l == "unknown" || l == "other" {
        return "unknown";
    }
    if l.contains("-nc")
        || l.contains("-nd")
        || l.contains("gpl")
        || l.contains("proprietary")
        || l.contains("research")
        || l.contains("non-commercial")
    {
        return "restrictive";
    }
    let permissive = [
        "mit",
        "apache",
        "bsd",
        "cc0",
        "cc-by",
        "cc by",
        "odc-by",
        "pddl",
        "unlicense",
        "public",
        "odbl",
        "isc",
    ];
    if permissive.iter().any(|p| l.starts_with(p) || l.contains(p)) {
        "permissive"
    } else {
        "unknown"
    }
}

fn color_license(l: Option<&str>, color: bool) -> String {
    let text = l.unwrap_or("unknown").to_owned();
    if !color {
        return text;
    }
    match license_class(l) {
        "permissive" => text.green().to_string(),
        "restrictive" => text.red().to_string(),
        _ => text.yellow().to_string(),
    }
}

fn relevance(query: &str, name: &str, title: Option<&str>, downloads: Option<u64>) -> f64 {
    let q = query.to_lowercase();
    let n = name.to_lowercase();
    let short = n.rsplit('/').next().unwrap_or(&n);
    let mut s = 0.0;
    if short == q {
        s += 10.0;
    } else if short.starts_with(&q) {
        s += 6.0;
    } else if n.contains(&q) {
        s += 4.0;
    } else if title.is_some_and(|t| t.to_lowercase().contains(&q)) {
        s += 2.0;
    }
    s + downloads.map_or(0.0, |d| (d as f64 + 1.0).log10() / 2.0)
}

/// What each source answered: hits, or why not; and notes on filters it could not apply.
struct SourceAnswer {
    source: &'static str,
    hits: std::result::Result<Vec<Hit>, String>,
    notes: Vec<String>,
}

fn search_client() -> Client {
    Client::with_timeout(
        RetryPolicy {
            attempts: 1,
            base: Duration::from_millis(1),
            max: Duration::from_millis(1),
        },
        Duration::from_millis(4500),
    )
}

fn search_hf(args: &SearchArgs) -> SourceAnswer {
    let hub = Hub::from_env();
    let mut notes = Vec::new();
    let mut url = format!(
        "{}/api/datasets?search={}&limit={}&expand=cardData&expand=tags&expand=downloads&expand=usedStorage",
        hub.endpoint,
        encode(&args.query, false),
        (args.limit * 3).clamp(10, 1000)
    );
    if let Some(m) = args.modality {
        let _ = write!(url, "&filter=modality:{}", m.as_str());
    }
    if let Some(t) = &args.task {
        let _ = write!(url, "&filter=task_categories:{}", encode(t, false));
    }
    if let Some(l) = &args.license {
        let _ = write!(url, "&filter=license:{}", encode(l, false));
    }
    if args.min_size.is_some() || args.max_size.is_some() {
        notes.push("hf: sizes are the repositories' storage, not the data's".into());
    }
    let hits = search_client()
        .json(&url, hub.cred.as_ref(), None)
        .map_err(|e| e.message)
        .map(|(v, _)| {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let id = d["id"].as_str()?;
                    let tags: Vec<&str> = d["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str())
                        .collect();
                    let tag = |p: &str| {
                        tags.iter()
                            .find_map(|t| t.strip_prefix(p))
                            .map(str::to_owned)
                    };
                    let license = d["cardData"]["license"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| tag("license:"));
                    let downloads = d["downloads"].as_u64();
                    Some(Hit {
                        source: "hf",
                        uri: format!("hf://{id}"),
                        title: d["cardData"]["pretty_name"].as_str().map(str::to_owned),
                        bytes: d["usedStorage"].as_u64(),
                        modality: tag("modality:"),
                        license,
                        downloads,
                        score: relevance(&args.query, id, None, downloads),
                    })
                })
                .collect()
        });
    SourceAnswer {
        source: "hf",
        hits,
        notes,
    }
}

fn search_kaggle(args: &SearchArgs) -> SourceAnswer {
    let mut notes = Vec::new();
    let api = crate::fetch::kaggle::Api::from_env();
    if !api.has_credential() {
        return SourceAnswer {
            source: "kaggle",
            hits: Err("skipped: no Kaggle credentials (KAGGLE_API_TOKEN, or KAGGLE_USERNAME + KAGGLE_KEY, or `mldatabuild auth login kaggle`)".into()),
            notes,
        };
    }
    if args.modality.is_some() {
        notes.push("kaggle cannot filter by modality".into());
    }
    if args.task.is_some() {
        notes.push("kaggle cannot filter by task".into());
    }
    let license_group = args.license.as_deref().map(|l| {
        let group = match l {
            _ if l.starts_with("cc") => "cc",
            _ if l.contains("gpl") => "gpl",
            _ if l.starts_with("odb") || l.starts_with("odc") => "odb",
            _ => "other",
        };
        notes.push(format!("kaggle filters licenses by family (`{group}`)"));
        group
    });
    let query = crate::fetch::kaggle::Query {
        text: &args.query,
        license_group,
        min_bytes: args.min_size.as_deref().map(|m| parse_size(m).unwrap_or(0)),
        max_bytes: args
            .max_size
            .as_deref()
            .map(|m| parse_size(m).unwrap_or(u64::MAX)),
    };
    let hits = api
        .search(&search_client(), &query)
        .map_err(|e| e.message)
        .map(|list| {
            list.iter()
                .filter_map(|d| {
                    let r = d["ref"].as_str()?;
                    let downloads = d["downloadCount"].as_u64();
                    Some(Hit {
                        source: "kaggle",
                        uri: format!("kaggle://{r}"),
                        title: d["title"].as_str().map(str::to_owned),
                        bytes: d["totalBytes"].as_u64(),
                        modality: None,
                        license: d["licenseName"].as_str().map(str::to_owned),
                        downloads,
                        score: relevance(&args.query, r, d["title"].as_str(), downloads),
                    })
                })
                .collect()
        });
    SourceAnswer {
        source: "kaggle",
        hits,
        notes,
    }
}

fn search_openml(args: &SearchArgs) -> SourceAnswer {
    let base = crate::fetch::endpoint("OPENML_ENDPOINT", crate::fetch::OPENML_DEFAULT);
    let mut notes = vec!["openml matches dataset names exactly".to_owned()];
    if args.modality.is_some_and(|m| m != Modality::Tabular) {
        return SourceAnswer {
            source: "openml",
            hits: Ok(Vec::new()),
            notes: vec!["openml only has tabular data".into()],
        };
    }
    if args.task.is_some() {
        notes.push("openml cannot filter by task here".into());
    }
    if args.min_size.is_some() || args.max_size.is_some() {
        notes.push("openml lists rows, not bytes: size filters not applied".into());
    }
    let mut url = format!(
        "{base}/data/list/data_name/{}/limit/{}",
        encode(&args.query, false),
        args.limit.clamp(1, 1000)
    );
    if let Some(key) = auth::find(Service::OpenMl) {
        let _ = write!(url, "?api_key={}", encode(key.secret.expose(), false));
    }
    let hits = match search_client().json(&url, None, None) {
        Err(e) if e.code.as_deref() == Some("372") || e.message.contains("No results") => {
            Ok(Vec::new())
        }
        Err(e) => Err(e.message),
        Ok((v, _)) => Ok(v["data"]["dataset"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let id = d["did"]
                    .as_u64()
                    .or_else(|| d["did"].as_str()?.parse().ok())?;
                let name = d["name"].as_str().unwrap_or("");
                let rows = d["quality"].as_array().into_iter().flatten().find_map(|q| {
                    (q["name"] == "NumberOfInstances")
                        .then(|| q["value"].as_str()?.parse::<f64>().ok())
                        .flatten()
                });
                Some(Hit {
                    source: "openml",
                    uri: format!("openml://{id}"),
                    title: Some(format!(
                        "{name} v{}{}",
                        d["version"].as_u64().unwrap_or(1),
                        rows.map_or(String::new(), |r| format!(", {r:.0} rows"))
                    )),
                    bytes: None,
                    modality: Some("tabular".into()),
                    license: d["licence"].as_str().map(str::to_owned),
                    downloads: None,
                    score: relevance(&args.query, name, None, None),
                })
            })
            .collect()),
    };
    SourceAnswer {
        source: "openml",
        hits,
        notes,
    }
}

pub(crate) fn search(_settings: &Settings, args: &SearchArgs) -> Result<u8> {
    if args.query.trim().is_empty() {
        return Err(
            Error::user("the search query is empty").hint("e.g. `mldatabuild search sentiment`")
        );
    }
    for s in [&args.min_size, &args.max_size].into_iter().flatten() {
        parse_size(s).map_err(|e| Error::user(format!("--min-size/--max-size: {e}")))?;
    }
    let sources: Vec<SearchSource> = if args.source.is_empty() {
        vec![SearchSource::Hf, SearchSource::Kaggle, SearchSource::Openml]
    } else {
        args.source.clone()
    };
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<SourceAnswer>();
    for s in &sources {
        let tx = tx.clone();
        let a = args.clone();
        let s = *s;
        // Detached: a hanging source must not hold the answer (its thread ends with the process).
        std::thread::spawn(move || {
            let answer = match s {
                SearchSource::Hf => search_hf(&a),
                SearchSource::Kaggle => search_kaggle(&a),
                SearchSource::Openml => search_openml(&a),
            };
            let _ = tx.send(answer);
        });
    }
    drop(tx);
    let mut answers: BTreeMap<&'static str, SourceAnswer> = BTreeMap::new();
    while answers.len() < sources.len() {
        let left = SEARCH_DEADLINE.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(a) => {
                answers.insert(a.source, a);
            }
            Err(_) => break,
        }
    }
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut hits = Vec::new();
    for s in &sources {
        let name = s.as_str();
        match answers.remove(name) {
            None => warnings.push(format!(
                "{name} did not answer within {} s; results without it",
                SEARCH_DEADLINE.as_secs()
            )),
            Some(a) => {
                notes.extend(a.notes);
                match a.hits {
                    Ok(h) => hits.extend(h),
                    Err(e) if e.contains("timed out") => warnings.push(format!(
                        "{name} did not answer within {} s; results without it",
                        SEARCH_DEADLINE.as_secs()
                    )),
                    Err(e) => warnings.push(format!("{name}: {}; results without it", redact(&e))),
                }
            }
        }
    }
    let min = args.min_size.as_deref().and_then(|s| parse_size(s).ok());
    let max = args.max_size.as_deref().and_then(|s| parse_size(s).ok());
    hits.retain(|h| {
        h.bytes
            .is_none_or(|b| min.is_none_or(|m| b >= m) && max.is_none_or(|m| b <= m))
    });
    if let Some(l) = &args.license {
        let l = l.to_ascii_lowercase();
        hits.retain(|h| {
            h.source == "kaggle"
                || h.license
                    .as_deref()
                    .is_some_and(|x| x.to_ascii_lowercase().starts_with(&l))
        });
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.uri.cmp(&b.uri)));
    let total = hits.len();
    hits.truncate(args.limit);
    let mut err = std::io::stderr().lock();
    for w in &warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    for n in &notes {
        let _ = writeln!(err, "note: {n}");
    }
    if args.json {
        let v =
            serde_json::json!({"total": total, "hits": hits, "warnings": warnings, "notes": notes});
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
        return Ok(0);
    }
    let color = crate::error::stdout_color_enabled();
    let mut out = std::io::stdout().lock();
    if total == 0 {
        let _ = writeln!(out, "No datasets found for `{}`.", args.query);
    } else {
        let _ = writeln!(
            out,
            "Found {total} dataset{}{}",
            if total == 1 { "" } else { "s" },
            if total > hits.len() {
                format!(" (showing top {})", hits.len())
            } else {
                String::new()
            }
        );
        let w = hits
            .iter()
            .map(|h| h.uri.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:<7} {:<w$}  {:>9}  {:<10}  license",
            "source", "name", "size", "modality"
        );
        for h in &hits {
            let _ = writeln!(
                out,
                "{:<7} {:<w$}  {:>9}  {:<10}  {}",
                h.source,
                h.uri,
                h.bytes.map_or_else(|| "-".into(), human),
                h.modality.as_deref().unwrap_or("-"),
                color_license(h.license.as_deref(), color)
            );
        }
    }
    Ok(0)
}

fn viewer_base(hub: &Hub) -> String {
    std::env::var("MLDATA_HF_VIEWER_ENDPOINT").unwrap_or_else(|_| {
        if hub.endpoint == "https://huggingface.co" {
            "https://datasets-server.huggingface.co".into()
        } else {
            format!("{}/viewer", hub.endpoint)
        }
    })
}

/// Sample rows are extra: a failure to read them is a warning, not an error of `info`.
fn sample_or_warn<T>(r: std::result::Result<Option<T>, crate::fetch::FetchError>) -> Option<T> {
    r.map_err(|e| eprintln!("warning: no sample rows: {}", e.message))
        .ok()
        .flatten()
}

/// Sample rows, one line each (`column=value`, long values cut, media as placeholders).
/// `columns` orders them (else the objects' own order).
fn print_sample(
    out: &mut impl std::io::Write,
    from: &str,
    columns: Option<&[String]>,
    rows: &[serde_json::Value],
) {
    let _ = writeln!(
        out,
        "\n  sample ({} row{}, {from})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    for row in rows {
        let cells: Vec<String> = match columns {
            Some(cols) => cols
                .iter()
                .filter_map(|k| Some(format!("{k}={}", cell(row.get(k)?))))
                .collect(),
            None => row
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", cell(v)))
                .collect(),
        };
        let _ = writeln!(out, "  {}", cells.join("  "));
    }
}

/// A cell for the terminal: media as placeholders, long text shortened.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "∅".into(),
        serde_json::Value::String(s) => crate::stages::rows::preview(s, 40),
        serde_json::Value::Object(o) if o.contains_key("src") => "[image]".into(),
        serde_json::Value::Array(a) if a.first().is_some_and(|x| x.get("src").is_some()) => {
            if a.first()
                .and_then(|x| x["type"].as_str())
                .is_some_and(|t| t.starts_with("audio"))
            {
                "[audio]".into()
            } else {
                "[media]".into()
            }
        }
        other => crate::stages::rows::preview(&other.to_string(), 40),
    }
}

pub(crate) fn info(settings: &Settings, args: &InfoArgs) -> Result<u8> {
    if args.sample > 100 {
        return Err(Error::user(format!(
            "--sample must be at most 100: got {}",
            args.sample
        )));
    }
    let Some(remote) = uri::parse(&args.uri).map_err(|e| {
        let (m, h) = e.split_once(" | hint: ").unwrap_or((&e, ""));
        Error::user(m.to_owned()).hint(h.to_owned())
    })?
    else {
        // A local file (a path, or file://).
        let local = args.uri.strip_prefix("file://").unwrap_or(&args.uri);
        return super::head::info_local(settings, local, args.sample, args.json);
    };
    let client = Client::new();
    let color = crate::error::stdout_color_enabled();
    match remote {
        Remote::Hf {
            kind: crate::fetch::uri::RepoKind::Model,
            ..
        } => Err(Error::user(
            "`info` describes datasets; `hf://models/…` names a model repository",
        )
        .hint("for a dataset, use hf://owner/name")),
        Remote::Hf { repo, revision, .. } => {
            let hub = Hub::from_env();
            let rev = revision.unwrap_or_else(|| "main".into());
            let url = format!(
                "{}/api/datasets/{repo}/revision/{}",
                hub.endpoint,
                encode(&rev, false)
            );
            let (d, _) = client
                .json(&url, hub.cred.as_ref(), None)
                .map_err(|e| Error::from(hub.explain(&client, &repo, &rev, e)))?;
            let viewer = viewer_base(&hub);
            let q = format!("dataset={}", encode(&repo, false));
            let features = client
                .json(&format!("{viewer}/info?{q}"), hub.cred.as_ref(), None)
                .ok()
                .map(|(v, _)| v);
            let splits = client
                .json(&format!("{viewer}/splits?{q}"), hub.cred.as_ref(), None)
                .ok()
                .map(|(v, _)| v);
            let first = splits
                .as_ref()
                .and_then(|s| s["splits"].as_array()?.first().cloned());
            let rows = match (&first, args.sample) {
                (Some(sp), n) if n > 0 => client
                    .json(
                        &format!(
                            "{viewer}/rows?{q}&config={}&split={}&offset=0&length={n}",
                            encode(sp["config"].as_str().unwrap_or("default"), false),
                            encode(sp["split"].as_str().unwrap_or("train"), false)
                        ),
                        hub.cred.as_ref(),
                        None,
                    )
                    .ok()
                    .map(|(v, _)| v),
                _ => None,
            };
            let license = d["cardData"]["license"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    d["tags"]
                        .as_array()?
                        .iter()
                        .find_map(|t| t.as_str()?.strip_prefix("license:").map(str::to_owned))
                });
            if args.json {
                let v = serde_json::json!({
                    "uri": format!("hf://{repo}"), "revision": rev, "commit": d["sha"], "license": license,
                    "license_class": license_class(license.as_deref()),
                    "downloads": d["downloads"], "likes": d["likes"], "last_modified": d["lastModified"],
                    "tags": d["tags"], "files": d["siblings"].as_array().map_or(0, Vec::len),
                    "info": features.as_ref().map(|f| f["dataset_info"].clone()),
                    "splits": splits.as_ref().map(|s| s["splits"].clone()),
                    "rows": rows.as_ref().map(|r| r["rows"].clone()),
                });
                let _ = writeln!(
                    std::io::stdout(),
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                );
                return Ok(0);
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "hf://{repo}");
            let _ = writeln!(
                out,
                "  revision   {rev} → {}",
                d["sha"].as_str().unwrap_or("?")
            );
            let _ = writeln!(
                out,
                "  license    {} ({})",
                color_license(license.as_deref(), color),
                license_class(license.as_deref())
            );
            let _ = writeln!(
                out,
                "  downloads  {}   likes {}",
                d["downloads"].as_u64().unwrap_or(0),
                d["likes"].as_u64().unwrap_or(0)
            );
            if let Some(t) = d["lastModified"].as_str() {
                let _ = writeln!(out, "  modified   {t}");
            }
            let tags: Vec<&str> = d["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str())
                .filter(|t| !t.starts_with("region:"))
                .collect();
            if !tags.is_empty() {
                let _ = writeln!(out, "  tags       {}", tags.join(", "));
            }
            let _ = writeln!(
                out,
                "  files      {}",
                d["siblings"].as_array().map_or(0, Vec::len)
            );
            if let Some(sp) = splits
                .as_ref()
                .and_then(|s| s["splits"].as_array().cloned())
            {
                let names: Vec<String> = sp
                    .iter()
                    .map(|s| {
                        format!(
                            "{}/{}",
                            s["config"].as_str().unwrap_or("?"),
                            s["split"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                let _ = writeln!(out, "  splits     {}", names.join(", "));
            }
            // The schema: from the viewer's features.
            let feats = features.as_ref().and_then(|f| {
                let info = &f["dataset_info"];
                if info.get("features").is_some() {
                    Some(info["features"].clone())
                } else {
                    info.as_object()?
                        .values()
                        .next()
                        .map(|c| c["features"].clone())
                }
            });
            match feats.and_then(|f| f.as_object().cloned()) {
                Some(cols) => {
                    let _ = writeln!(out, "\n  column{:<18}type", "");
                    for (name, ty) in cols {
                        let t = match ty["_type"].as_str() {
                            Some("Value") => ty["dtype"].as_str().unwrap_or("?").to_owned(),
                            Some("ClassLabel") => format!(
                                "class label ({})",
                                ty["names"].as_array().map_or(String::new(), |n| n
                                    .iter()
                                    .filter_map(|x| x.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", "))
                            ),
                            Some(other) => other.to_lowercase(),
                            None => "struct".into(),
                        };
                        let _ = writeln!(out, "  {name:<24}{t}");
                    }
                }
                None => {
                    let _ = writeln!(out, "\n  schema: not available from the dataset viewer");
                }
            }
            if let Some(r) = rows.as_ref().and_then(|r| r["rows"].as_array().cloned()) {
                let r: Vec<serde_json::Value> = r.into_iter().map(|x| x["row"].clone()).collect();
                print_sample(&mut out, "from the dataset viewer", None, &r);
            }
            Ok(0)
        }
        Remote::Http { url } => {
            let m = client.head(&url, None).map_err(Error::from)?;
            if !(200..400).contains(&m.status) {
                return Err(Error::failure(format!(
                    "{} answered {}",
                    redact(&url),
                    m.status
                )));
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", redact(&url));
            let size = m
                .headers
                .get("content-length")
                .and_then(|v| v.parse::<u64>().ok());
            let _ = writeln!(
                out,
                "  size       {}",
                size.map_or_else(|| "unknown".into(), human)
            );
            for (k, label) in [
                ("content-type", "type"),
                ("etag", "etag"),
                ("last-modified", "modified"),
            ] {
                if let Some(v) = m.headers.get(k) {
                    let _ = writeln!(out, "  {label:<10} {v}");
                }
            }
            Ok(0)
        }
        Remote::Kaggle {
            owner,
            slug,
            version,
        } => {
            let (view, files, version) =
                crate::fetch::kaggle::metadata(&client, &owner, &slug, version)?;
            let license = view["licenseName"].as_str().map(str::to_owned);
            let sample = match args.sample {
                0 => None,
                n => sample_or_warn(crate::fetch::kaggle::sample(
                    &client, &owner, &slug, version, &files, n,
                )),
            };
            if args.json {
                let v = serde_json::json!({"uri": format!("kaggle://{owner}/{slug}"), "title": view["title"], "license": license,
                    "license_class": license_class(license.as_deref()), "bytes": view["totalBytes"],
                    "version": version, "downloads": view["downloadCount"], "files": files,
                    "sample_file": sample.as_ref().map(|s| &s.0), "rows": sample.as_ref().map(|s| &s.1.rows)});
                let _ = writeln!(
                    std::io::stdout(),
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                );
                return Ok(0);
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "kaggle://{owner}/{slug}");
            if let Some(t) = view["title"].as_str() {
                let _ = writeln!(out, "  title      {t}");
            }
            let _ = writeln!(
                out,
                "  license    {} ({})",
                color_license(license.as_deref(), color),
                license_class(license.as_deref())
            );
            let _ = writeln!(out, "  version    {version}");
            if let Some(b) = view["totalBytes"].as_u64() {
                let _ = writeln!(out, "  size       {}", human(b));
            }
            for f in files.as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "\n  {} ({})",
                    f["name"].as_str().unwrap_or("?"),
                    f["totalBytes"].as_u64().map_or_else(|| "?".into(), human)
                );
                for c in f["columns"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        out,
                        "    {:<22}{}",
                        c["name"].as_str().unwrap_or("?"),
                        c["type"].as_str().unwrap_or("?")
                    );
                }
            }
            match (&sample, args.sample) {
                (_, 0) => {}
                (Some((file, s)), _) => {
                    print_sample(&mut out, &format!("from {file}"), Some(&s.columns), &s.rows);
                }
                (None, _) => {
                    let _ = writeln!(
                        out,
                        "\n  sample: none (no CSV, TSV or JSON Lines file listed to read rows from)"
                    );
                }
            }
            Ok(0)
        }
        Remote::OpenMl { id } => {
            let (d, features) = crate::fetch::openml::metadata(&client, id)?;
            let sample = match args.sample {
                0 => None,
                n => sample_or_warn(crate::fetch::openml::sample(&client, &d, n)),
            };
            let s = |k: &str| {
                d[k].as_str()
                    .map(str::to_owned)
                    .or_else(|| d[k].as_u64().map(|n| n.to_string()))
            };
            let license = s("licence");
            if args.json {
                let v = serde_json::json!({"uri": format!("openml://{id}"), "name": s("name"), "version": s("version"),
                    "license": license, "license_class": license_class(license.as_deref()), "format": s("format"),
                    "status": s("status"), "target": s("default_target_attribute"), "features": features,
                    "rows": sample.as_ref().map(|s| &s.rows)});
                let _ = writeln!(
                    std::io::stdout(),
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                );
                return Ok(0);
            }
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "openml://{id}  {} v{}",
                s("name").unwrap_or_default(),
                s("version").unwrap_or_else(|| "?".into())
            );
            let _ = writeln!(
                out,
                "  license    {} ({})",
                color_license(license.as_deref(), color),
                license_class(license.as_deref())
            );
            for (k, label) in [
                ("format", "format"),
                ("status", "status"),
                ("default_target_attribute", "target"),
                ("upload_date", "uploaded"),
            ] {
                if let Some(v) = s(k) {
                    let _ = writeln!(out, "  {label:<10} {v}");
                }
            }
            let feats: Vec<&serde_json::Value> = match &features {
                serde_json::Value::Array(a) => a.iter().collect(),
                serde_json::Value::Object(_) => vec![&features],
                _ => Vec::new(),
            };
            if !feats.is_empty() {
                let _ = writeln!(out, "\n  column{:<18}type", "");
                for f in feats {
                    let name = f["name"].as_str().unwrap_or("?");
                    let mut ty = f["data_type"].as_str().unwrap_or("?").to_owned();
                    if f["is_target"] == "true" {
                        ty.push_str(" (target)");
                    }
                    let _ = writeln!(out, "  {name:<24}{ty}");
                }
            }
            match &sample {
                Some(s) => print_sample(&mut out, "from the ARFF file", Some(&s.columns), &s.rows),
                None if args.sample > 0 => {
                    let _ = writeln!(
                        out,
                        "\n  sample: none (the ARFF file's data could not be read from its first 256 KiB)"
                    );
                }
                None => {}
            }
            Ok(0)
        }
    }
}

pub(crate) fn pull(settings: &Settings, args: &PullArgs) -> Result<u8> {
    let remote = uri::parse(&args.uri)
        .map_err(|e| {
            let (m, h) = e.split_once(" | hint: ").unwrap_or((&e, ""));
            Error::user(m.to_owned()).hint(h.to_owned())
        })?
        .ok_or_else(|| Error::user(format!("`{}` is a local path", args.uri)))?;
    if (args.config.is_some() || args.split.is_some()) && !matches!(remote, Remote::Hf { .. }) {
        return Err(Error::user(format!(
            "`--config` and `--split` select files of an `hf://` dataset, and `{}` is not one",
            uri::redacted(&args.uri)
        ))
        .hint("for other sources, select files with `--files` globs"));
    }
    let name = match &remote {
        Remote::Hf { repo, .. } => repo.rsplit('/').next().unwrap_or(repo).to_owned(),
        Remote::Kaggle { slug, .. } => slug.clone(),
        Remote::OpenMl { id } => format!("openml-{id}"),
        Remote::Http { url } => url
            .split(['?', '#'])
            .next()
            .and_then(|u| u.rsplit('/').next())
            .and_then(|f| f.split('.').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("download")
            .to_owned(),
    };
    let dir = args.output.as_ref().map_or_else(
        || settings.cwd.join("mldata").join(&name),
        |o| settings.cwd.join(o),
    );
    if dir.exists() && !dir.is_dir() {
        return Err(
            Error::user(format!("`{}` exists and is not a folder", dir.display()))
                .hint("choose another folder with --output"),
        );
    }
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) && !args.force {
        return Err(Error::user(format!(
            "`{}` already exists and is not empty",
            dir.display()
        ))
        .hint("pass --force to replace it, or choose --output"));
    }
    let def = crate::spec::SourceDef {
        uri: args.uri.clone(),
        files: (!args.files.is_empty()).then(|| args.files.clone()),
        sha256: None,
        config: args.config.clone(),
        split: args.split.clone(),
    };
    let reporter: Box<dyn Reporter> = if args.json {
        Box::new(JsonReporter)
    } else {
        Box::new(HumanReporter::new(settings.verbosity, settings.progress))
    };
    let opts = crate::fetch::FetchOptions {
        offline: crate::fetch::FetchOptions::offline_from_env(),
        refresh: false,
        no_cache: args.no_cache,
    };
    let started = Instant::now();
    let (cache, _) = Cache::open();
    let mut stat = cache.stat_cache();
    let (fetched, manifest) = fetch_intact(&def, &name, opts, &cache, &mut stat, &*reporter)?;
    let (bytes, linked) = place(&fetched, &dir)?;
    // Linking changed the files' ctime: what was just checked is remembered as it is now.
    for ((_, path), f) in fetched.files.iter().zip(&manifest.files) {
        stat.record_known(path, &f.sha256);
    }
    stat.save();
    reporter.event(&Event::Pulled {
        uri: uri::redacted(&args.uri),
        output: dir.display().to_string(),
        revision: fetched.revision,
        files: fetched.files.len(),
        bytes,
        linked,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(0)
}

/// Fetch `def` (reporting as `name`), and check a snapshot found in the cache against its
/// manifest: its files are hard links that `pull` hands out, and one written through is dropped
/// and fetched again (once).
fn fetch_intact(
    def: &crate::spec::SourceDef,
    name: &str,
    opts: crate::fetch::FetchOptions,
    cache: &Cache,
    stat: &mut crate::statcache::StatCache,
    reporter: &dyn Reporter,
) -> Result<(crate::fetch::Fetched, crate::fetch::cache::Manifest)> {
    for _ in 0..2 {
        let started = Instant::now();
        let fetched = crate::fetch::fetch_source(def, None, &opts, &mut |ev| {
            crate::report::source::forward(reporter, name, ev);
        })?;
        crate::report::source::fetched(reporter, name, &fetched, started.elapsed().as_secs_f64());
        let manifest = cache.manifest(&fetched.key);
        let intact = manifest.as_ref().is_some_and(|m| {
            !fetched.cached || {
                let paths: Vec<std::path::PathBuf> =
                    fetched.files.iter().map(|(_, p)| p.clone()).collect();
                let digests = stat.digest_many(&paths);
                digests.len() == m.files.len()
                    && digests
                        .iter()
                        .zip(&m.files)
                        .all(|(d, f)| d.as_ref().is_ok_and(|d| d.sha256 == f.sha256))
            }
        });
        if let Some(m) = manifest.filter(|_| intact) {
            return Ok((fetched, m));
        }
        reporter.event(&Event::Warning {
            message: format!(
                "source {name}: the cached copy was damaged (a file's SHA-256 changed); fetching it again"
            ),
        });
        crate::fetch::drop_snapshot(&fetched.key);
    }
    Err(
        Error::failure("the download cache keeps returning damaged files".to_owned())
            .hint("clear it with `mldatabuild cache clear` and pull again"),
    )
}

/// Put the fetched files into `dir`: read-only hard links to the download cache (copies when
/// the cache is on another file system), in a temporary folder beside `dir` that then takes its
/// place, so `dir` is replaced whole or not at all. Returns the bytes and the files linked.
fn place(fetched: &crate::fetch::Fetched, dir: &std::path::Path) -> Result<(u64, usize)> {
    use std::os::unix::fs::MetadataExt;
    let fail = |what: &std::path::Path, e: std::io::Error| {
        Error::failure(format!("cannot write `{}`: {e}", what.display()))
    };
    let (Some(parent), Some(leaf)) = (dir.parent(), dir.file_name()) else {
        return Err(Error::user(format!(
            "`{}` cannot be a folder to pull into",
            dir.display()
        ))
        .hint("choose another folder with --output"));
    };
    std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
    crate::store::remove_stale_temps_shallow(parent);
    let temp = |what: &str| {
        parent.join(format!(
            ".mldatabuild-tmp-{}-{what}-{}",
            std::process::id(),
            leaf.to_string_lossy()
        ))
    };
    let tmp = temp("pull");
    let _ = std::fs::remove_dir_all(&tmp);
    let fill = || -> Result<(u64, usize)> {
        std::fs::create_dir_all(&tmp).map_err(|e| fail(&tmp, e))?;
        let (mut bytes, mut linked) = (0, 0);
        for (rel, path) in &fetched.files {
            let dest = crate::trust::join_beneath(&tmp, rel)
                .map_err(|e| Error::failure(format!("the source lists a file whose name {e}")))?;
            crate::store::materialize(path, &dest).map_err(|e| fail(&dest, e))?;
            let (a, b) = (
                std::fs::metadata(path).map_err(|e| fail(path, e))?,
                std::fs::metadata(&dest).map_err(|e| fail(&dest, e))?,
            );
            bytes += b.len();
            linked += usize::from(a.dev() == b.dev() && a.ino() == b.ino());
        }
        Ok((bytes, linked))
    };
    let placed = fill().and_then(|done| {
        // The folder being replaced (--force) moves aside first: a rename cannot replace a
        // folder that has files.
        let old = temp("old");
        let aside = dir.exists() && std::fs::rename(dir, &old).is_ok();
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if aside {
                let _ = std::fs::rename(&old, dir);
            }
            return Err(fail(dir, e));
        }
        if aside {
            // Unlinking its files leaves the cache's copies as they are.
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(done)
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_licenses() {
        assert_eq!(parse_size("500").unwrap(), 500);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1.5 MB").unwrap(), 1_500_000);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert!(parse_size("2XB").unwrap_err().contains("unknown size unit"));
        assert_eq!(license_class(Some("mit")), "permissive");
        assert_eq!(license_class(Some("cc-by-nc-4.0")), "restrictive");
        assert_eq!(license_class(Some("CC BY-NC-SA 4.0")), "restrictive");
        assert_eq!(license_class(Some("apache-2.0")), "permissive");
        assert_eq!(license_class(None), "unknown");
    }
}
