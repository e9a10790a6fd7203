//! Credentials for the Hugging Face Hub, Kaggle and OpenML.
//!
//! Lookup order: environment variables (`HF_TOKEN`…, `KAGGLE_API_TOKEN` (a token or a file's
//! path), `KAGGLE_API_V1_TOKEN`, `KAGGLE_USERNAME`+`KAGGLE_KEY`, `OPENML_API_KEY`) → the OS
//! keyring, when one answers (`secret-tool`, the freedesktop Secret Service) → mldatabuild's
//! credentials file (`$MLDATA_HOME/credentials.json`, mode 0600) → each service's own client
//! files (`huggingface-cli login`'s token; Kaggle's `access_token`, `access_token.txt`, then
//! `kaggle.json` in `$KAGGLE_CONFIG_DIR`, `~/.kaggle` or `~/.config/kaggle`; openml's config). A secret is
//! never printed, logged or written anywhere else; `Debug` shows it redacted.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A service mldatabuild can log in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Hf,
    Kaggle,
    OpenMl,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Hf, Service::Kaggle, Service::OpenMl];

    pub fn name(self) -> &'static str {
        match self {
            Service::Hf => "hf",
            Service::Kaggle => "kaggle",
            Service::OpenMl => "openml",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Service::Hf => "Hugging Face",
            Service::Kaggle => "Kaggle",
            Service::OpenMl => "OpenML",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        match s.to_ascii_lowercase().as_str() {
            "hf" | "huggingface" | "hugging-face" => Some(Service::Hf),
            "kaggle" => Some(Service::Kaggle),
            "openml" => Some(Service::OpenMl),
            _ => None,
        }
    }
}

/// A secret value: never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for an `Authorization` header or an API parameter only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A credential and where it was found.
#[derive(Debug, Clone)]
pub struct Found {
    /// For Kaggle's legacy key: the user name (not a secret).
    pub user: Option<String>,
    pub secret: Secret,
    /// `environment (HF_TOKEN)`, `keyring`, `~/.mldata/credentials.json`…
    pub origin: String,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// `$MLDATA_HOME/credentials.json` (default `~/.mldata/credentials.json`).
pub fn credentials_file() -> Option<PathBuf> {
    std::env::var_os("MLDATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".mldata")))
        .map(|d| d.join("credentials.json"))
}

/// Stored entries: service name → {user?, secret}.
fn read_file() -> BTreeMap<String, serde_json::Value> {
    credentials_file()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_file(entries: &BTreeMap<String, serde_json::Value>) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = credentials_file().ok_or_else(|| std::io::Error::other("HOME is not set"))?;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(
        serde_json::to_string_pretty(entries)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Whether the OS keyring answers (`secret-tool` present and a Secret Service running).
/// `MLDATA_NO_KEYRING=1` turns it off.
pub fn keyring_available() -> bool {
    if env("MLDATA_NO_KEYRING").is_some() {
        return false;
    }
    Command::new("secret-tool")
        .args(["search", "service", "mldatabuild-probe"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success() || s.code() == Some(1))
}

fn keyring_get(service: Service) -> Option<(Option<String>, Secret)> {
    if !keyring_available() {
        return None;
    }
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "mldatabuild",
            "account",
            service.name(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    Some((
        v["user"].as_str().map(str::to_owned),
        Secret::new(v["secret"].as_str()?),
    ))
}

fn keyring_set(service: Service, value: &serde_json::Value) -> bool {
    if !keyring_available() {
        return false;
    }
    let Ok(mut child) = Command::new("secret-tool")
        .args([
            "store",
            "--label",
            &format!("mldatabuild {}", service.title()),
            "service",
            "mldatabuild",
            "account",
            service.name(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(value.to_string().as_bytes());
    }
    child.wait().is_ok_and(|s| s.success())
}

fn keyring_clear(service: Service) -> bool {
    keyring_available()
        && Command::new("secret-tool")
            .args(["clear", "service", "mldatabuild", "account", service.name()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Kaggle's configuration folder: `KAGGLE_CONFIG_DIR`, else `~/.kaggle`, else (when that does not
/// exist) `$XDG_CONFIG_HOME/kaggle`, as Kaggle's client looks.
fn kaggle_config_dir() -> Option<PathBuf> {
    if let Some(d) = env("KAGGLE_CONFIG_DIR") {
        return Some(PathBuf::from(d));
    }
    let dot = home()?.join(".kaggle");
    if dot.is_dir() {
        return Some(dot);
    }
    let xdg = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))?;
    Some(xdg.join("kaggle"))
}

/// A token file's content, trimmed; `None` when missing or empty.
fn read_token_file(path: &std::path::Path) -> Option<String> {
    let t = std::fs::read_to_string(path).ok()?;
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `KAGGLE_API_TOKEN` (the token, or the path of a file holding it), else the file named by
/// `KAGGLE_API_V1_TOKEN` (Kaggle notebooks).
fn kaggle_token_from_env() -> Option<Found> {
    if let Some(v) = env("KAGGLE_API_TOKEN") {
        let path = std::path::Path::new(&v);
        let secret = if v.contains('/') && path.is_file() {
            read_token_file(path)?
        } else {
            v
        };
        return Some(Found {
            user: None,
            secret: Secret::new(secret),
            origin: "environment (KAGGLE_API_TOKEN)".into(),
        });
    }
    let file = env("KAGGLE_API_V1_TOKEN")?;
    Some(Found {
        user: None,
        secret: Secret::new(read_token_file(std::path::Path::new(&file))?),
        origin: format!("{file} (KAGGLE_API_V1_TOKEN)"),
    })
}

/// The credential for a service, in lookup order.
pub fn find(service: Service) -> Option<Found> {
    let from_env = |k: &str| {
        env(k).map(|v| Found {
            user: None,
            secret: Secret::new(v),
            origin: format!("environment ({k})"),
        })
    };
    let native = || -> Option<Found> {
        match service {
            Service::Hf => super::hf::token_from_env().map(|t| Found {
                user: None,
                secret: Secret::new(t),
                origin: "huggingface token file".into(),
            }),
            Service::Kaggle => {
                // Kaggle's own order: an access token file, then the legacy `kaggle.json`.
                let dir = kaggle_config_dir()?;
                for name in ["access_token", "access_token.txt"] {
                    if let Some(t) = read_token_file(&dir.join(name)) {
                        return Some(Found {
                            user: None,
                            secret: Secret::new(t),
                            origin: dir.join(name).display().to_string(),
                        });
                    }
                }
                let text = std::fs::read_to_string(dir.join("kaggle.json")).ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                Some(Found {
                    user: v["username"].as_str().map(str::to_owned),
                    secret: Secret::new(v["key"].as_str()?),
                    origin: dir.join("kaggle.json").display().to_string(),
                })
            }
            Service::OpenMl => {
                let path = env("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| home().map(|h| h.join(".config")))?
                    .join("openml/config");
                let text = std::fs::read_to_string(&path).ok()?;
                let key = text.lines().find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == "apikey").then(|| v.trim().to_owned())
                })?;
                (!key.is_empty()).then(|| Found {
                    user: None,
                    secret: Secret::new(key),
                    origin: path.display().to_string(),
                })
            }
        }
    };
    let env_found = match service {
        Service::Hf => from_env("HF_TOKEN").or_else(|| from_env("HUGGING_FACE_HUB_TOKEN")),
        Service::Kaggle => {
            kaggle_token_from_env().or_else(|| match (env("KAGGLE_USERNAME"), env("KAGGLE_KEY")) {
                (Some(u), Some(k)) => Some(Found {
                    user: Some(u),
                    secret: Secret::new(k),
                    origin: "environment (KAGGLE_USERNAME, KAGGLE_KEY)".into(),
                }),
                _ => None,
            })
        }
        Service::OpenMl => from_env("OPENML_API_KEY"),
    };
    env_found
        .or_else(|| {
            keyring_get(service).map(|(user, secret)| Found {
                user,
                secret,
                origin: "OS keyring".into(),
            })
        })
        .or_else(|| {
            let entries = read_file();
            let e = entries.get(service.name())?;
            Some(Found {
                user: e["user"].as_str().map(str::to_owned),
                secret: Secret::new(e["secret"].as_str()?),
                origin: credentials_file()?.display().to_string(),
            })
        })
        .or_else(native)
}

/// Where a stored credential went.
pub enum Stored {
    Keyring,
    File(PathBuf),
}

/// Store a credential: in the OS keyring when one answers, else in the credentials file
/// (mode 0600).
pub fn store(service: Service, user: Option<&str>, secret: &Secret) -> std::io::Result<Stored> {
    let value = serde_json::json!({"user": user, "secret": secret.expose()});
    if keyring_set(service, &value) {
        return Ok(Stored::Keyring);
    }
    let mut entries = read_file();
    entries.insert(service.name().to_owned(), value);
    write_file(&entries).map(Stored::File)
}

/// Forget a stored credential (keyring and file). Returns whether one was there.
pub fn remove(service: Service) -> std::io::Result<bool> {
    let mut removed = keyring_clear(service);
    let mut entries = read_file();
    if entries.remove(service.name()).is_some() {
        write_file(&entries)?;
        removed = true;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hf_abc");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        let f = Found {
            user: None,
            secret: s,
            origin: "x".into(),
        };
        assert!(!format!("{f:?}").contains("hf_abc"));
    }

    #[test]
    fn service_names() {
        for s in Service::ALL {
            assert_eq!(Service::parse(s.name()), Some(s));
        }
        assert_eq!(Service::parse("huggingface"), Some(Service::Hf));
        assert_eq!(Service::parse("s3"), None);
    }
}
