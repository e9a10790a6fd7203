//! `mldatabuild auth login|status|logout`: credentials for the Hub, Kaggle and OpenML.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{AuthArgs, AuthCommand};
use crate::error::{Error, Result};
use crate::fetch::auth::{self, Secret, Service, Stored};
use crate::settings::Settings;

fn service(name: &str) -> Result<Service> {
    Service::parse(name).ok_or_else(|| {
        Error::user(format!("unknown service `{name}`"))
            .hint("the services are: hf, kaggle, openml")
    })
}

/// Read a value: from the terminal without echo when hidden, or a plain line when stdin is
/// not a terminal (scripts: `echo "$TOKEN" | mldatabuild auth login hf`).
fn prompt(label: &str, hidden: bool) -> Result<String> {
    prompt_optional(label, hidden)?.ok_or_else(|| {
        Error::user(format!("no {} given", label.to_lowercase()))
            .hint("type it at the prompt, or pipe it on stdin")
    })
}

/// A line from the user (hidden on a terminal when `hidden`); `None` when empty.
fn prompt_optional(label: &str, hidden: bool) -> Result<Option<String>> {
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() && hidden {
        rpassword::prompt_password(format!("{label}: "))
            .map_err(|e| Error::failure(format!("cannot read the input: {e}")))?
    } else {
        if stdin.is_terminal() {
            eprint!("{label}: ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::failure(format!("cannot read the input: {e}")))?;
        line
    };
    let v = value.trim().to_owned();
    Ok((!v.is_empty()).then_some(v))
}

/// Who the Hub says the token belongs to (best effort, short timeout).
fn hf_whoami(secret: &Secret) -> std::result::Result<String, String> {
    let hub = crate::fetch::hf::Hub::from_env();
    let client = crate::fetch::http::Client::with_policy(crate::fetch::http::RetryPolicy {
        attempts: 1,
        base: std::time::Duration::from_millis(1),
        max: std::time::Duration::from_secs(1),
    });
    let cred = crate::fetch::http::Credential {
        origin: crate::fetch::http::origin(&hub.endpoint),
        header: format!("Bearer {}", secret.expose()),
    };
    let url = format!("{}/api/whoami-v2", hub.endpoint);
    match client.json(&url, Some(&cred), None) {
        Ok((v, _)) => v["name"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the Hub did not say".to_owned()),
        Err(e) if e.status == Some(401) => {
            Err("the Hub refused the token (invalid or expired)".into())
        }
        Err(e) => Err(format!("not checked: {}", e.message)),
    }
}

pub(crate) fn auth(_settings: &Settings, args: &AuthArgs) -> Result<u8> {
    match &args.command {
        AuthCommand::Login { service: name } => {
            let s = service(name)?;
            let (user, secret) = match s {
                Service::Hf => (None, prompt("Hugging Face token (hf_…)", true)?),
                // A legacy key is a username and a key; an access token (KGAT_…) stands alone.
                Service::Kaggle => match prompt_optional(
                    "Kaggle username (leave empty to give an API token instead)",
                    false,
                )? {
                    Some(user) => (Some(user), prompt("Kaggle API key", true)?),
                    None => (None, prompt("Kaggle API token (KGAT_…)", true)?),
                },
                Service::OpenMl => (None, prompt("OpenML API key", true)?),
            };
            // `store` writes to `secret-tool`'s stdin: a closed pipe there must fall back to
            // the credentials file, not end the process (see `with_pipe_errors`).
            let secret = Secret::new(secret);
            let stored = crate::with_pipe_errors(|| auth::store(s, user.as_deref(), &secret))
                .map_err(|e| Error::failure(format!("cannot store the credential: {e}")))?;
            match stored {
                Stored::Keyring => {
                    eprintln!("Saved the {} credential in the OS keyring.", s.title());
                }
                Stored::File(p) => {
                    eprintln!(
                        "Saved the {} credential in {} (mode 0600).",
                        s.title(),
                        p.display()
                    );
                    eprintln!(
                        "warning: no OS keyring answered, so the credential is stored unencrypted in that file; anyone who can read it can use it"
                    );
                }
            }
            Ok(0)
        }
        AuthCommand::Logout { service: name } => {
            let s = service(name)?;
            let removed = auth::remove(s)
                .map_err(|e| Error::failure(format!("cannot update the credentials: {e}")))?;
            if removed {
                eprintln!("Removed the stored {} credential.", s.title());
            } else {
                eprintln!("No stored {} credential.", s.title());
            }
            if let Some(f) = auth::find(s) {
                eprintln!(
                    "note: a {} credential is still found in {} (logout only removes what `auth login` stored)",
                    s.title(),
                    f.origin
                );
            }
            Ok(0)
        }
        AuthCommand::Status { json } => {
            let mut rows = Vec::new();
            for s in Service::ALL {
                let found = auth::find(s);
                let detail = match (&found, s) {
                    (Some(f), Service::Hf) => Some(hf_whoami(&f.secret)),
                    (Some(f), Service::Kaggle) => f.user.clone().map(Ok),
                    _ => None,
                };
                rows.push((s, found, detail));
            }
            let mut out = std::io::stdout().lock();
            if *json {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(s, f, d)| {
                        serde_json::json!({
                            "service": s.name(),
                            "present": f.is_some(),
                            "source": f.as_ref().map(|f| f.origin.clone()),
                            "user": d.as_ref().and_then(|d| d.as_ref().ok().cloned()),
                            "check": d.as_ref().and_then(|d| d.as_ref().err().cloned()),
                        })
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                );
                return Ok(0);
            }
            for (s, f, d) in &rows {
                match f {
                    None => {
                        let how = match s {
                            Service::Hf => "HF_TOKEN",
                            Service::Kaggle => "KAGGLE_API_TOKEN, or KAGGLE_USERNAME + KAGGLE_KEY",
                            Service::OpenMl => "OPENML_API_KEY",
                        };
                        let _ = writeln!(
                            out,
                            "✗ {:<13} no credential (set {how}, or `mldatabuild auth login {}`)",
                            s.title(),
                            s.name()
                        );
                    }
                    Some(f) => {
                        let who = match d {
                            Some(Ok(u)) => format!(" as {u}"),
                            Some(Err(e)) => format!(" ({e})"),
                            None => String::new(),
                        };
                        let _ = writeln!(out, "✓ {:<13} from {}{who}", s.title(), f.origin);
                    }
                }
            }
            Ok(0)
        }
    }
}
