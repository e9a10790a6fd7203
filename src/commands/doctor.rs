//! `mldatabuild doctor`: where things are, which credentials are present (never their values),
//! whether the endpoints answer, and what the dataset folder holds.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::fetch::auth::{self, Service};
use crate::fetch::http::{Client, RetryPolicy, redact};
use crate::settings::Settings;

fn reachable(client: &Client, url: &str) -> String {
    let t = Instant::now();
    match client.head(url, None) {
        Ok(m) => format!("✓ answers ({} in {} ms)", m.status, t.elapsed().as_millis()),
        Err(e) => format!("✗ {}", e.message),
    }
}

pub(crate) fn doctor(settings: &Settings) -> u8 {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "mldatabuild {}", env!("CARGO_PKG_VERSION"));
    let (cache, warning) = crate::fetch::cache::Cache::open();
    let store = crate::store::Store::from_env().ok();
    let _ = writeln!(out, "\nStorage");
    if let Some(s) = &store {
        let _ = writeln!(
            out,
            "  store        {}  (build outputs by content, run cache)",
            s.object_path("")
                .parent()
                .and_then(|p| p.parent())
                .map_or_else(String::new, |p| p.display().to_string())
        );
    }
    let limit = crate::fetch::cache::max_size_from_config().map_or_else(
        || "no limit".to_owned(),
        |l| format!("limit {:.1} GB", l as f64 / 1e9),
    );
    let _ = writeln!(
        out,
        "  cache        {}  ({:.1} MB in {} snapshots, {limit})",
        cache.root.display(),
        cache.size() as f64 / 1e6,
        cache.snapshots().len()
    );
    if let Some(w) = warning {
        let _ = writeln!(out, "  warning: {w}");
    }
    let _ = writeln!(out, "\nCredentials (values are never shown)");
    for s in Service::ALL {
        match auth::find(s) {
            Some(f) => {
                let _ = writeln!(out, "  ✓ {:<13} from {}", s.title(), f.origin);
            }
            None => {
                let _ = writeln!(
                    out,
                    "  ✗ {:<13} none (`mldatabuild auth login {}`)",
                    s.title(),
                    s.name()
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "  OS keyring: {}",
        if auth::keyring_available() {
            "available (secret-tool)"
        } else {
            "none answers; `auth login` uses a 0600 file"
        }
    );
    let _ = writeln!(out, "\nEndpoints");
    let client = Client::with_policy(RetryPolicy {
        attempts: 1,
        base: Duration::from_millis(1),
        max: Duration::from_secs(1),
    });
    let hf = crate::fetch::hf::Hub::from_env().endpoint;
    let (flavor, kaggle) = crate::fetch::kaggle::endpoint();
    let openml = crate::fetch::endpoint("OPENML_ENDPOINT", crate::fetch::OPENML_DEFAULT);
    let offline = crate::fetch::FetchOptions::offline_from_env();
    let kaggle_api = match flavor {
        crate::fetch::kaggle::Flavor::Rpc => "  (current API)",
        crate::fetch::kaggle::Flavor::Rest => "  (legacy REST API: KAGGLE_API_ENDPOINT)",
    };
    for (name, url, note) in [
        ("Hugging Face", hf, ""),
        ("Kaggle", kaggle, kaggle_api),
        ("OpenML", openml, ""),
    ] {
        let status = if offline {
            "not checked (offline mode)".to_owned()
        } else {
            reachable(&client, &url)
        };
        let _ = writeln!(out, "  {name:<13} {}{note}  {status}", redact(&url));
    }
    let _ = writeln!(out, "\nThis project");
    match super::load_project(settings) {
        Ok(p) => {
            let _ = writeln!(out, "  spec         {}", settings.spec_display);
            let _ = writeln!(
                out,
                "  lockfile     {}  ({})",
                crate::spec::resolve::lock_name(&p.spec_path),
                if p.lock_path().exists() {
                    "present"
                } else {
                    "not built yet"
                }
            );
            let _ = writeln!(
                out,
                "  dataset      {}/  one folder per stage (its `output:`), reports/ for validation and statistics reports, manifest.yaml (a copy of the lockfile shipped with the data)",
                p.out_dir
            );
            let _ = writeln!(
                out,
                "  local state  .mldatabuild/  (stat cache, lock cache, build lock; safe to delete)"
            );
        }
        Err(e) => {
            let _ = writeln!(out, "  no usable spec here ({})", e.message);
        }
    }
    0
}
