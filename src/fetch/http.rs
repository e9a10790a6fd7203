//! The HTTP client every fetcher uses: retries with backoff, redirects followed by hand (a
//! credential never leaves the origin it belongs to), resumable downloads, JSON with errors
//! for people.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::FetchError;

/// Statuses worth another try (as huggingface_hub retries them).
const RETRYABLE: &[u16] = &[408, 429, 500, 502, 503, 504];

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// JSON answers larger than this are refused (a listing is a few MB at most).
const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;
/// Downloads up to this size keep no ETag beside their partial file and restart rather than
/// resume.
const SMALL_FILE: u64 = 64 << 10;

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries per request, the first included.
    pub attempts: u32,
    /// Backoff before the second try; doubled each time, with ±25 % jitter.
    pub base: Duration,
    /// Longest wait between tries (also caps `Retry-After`).
    pub max: Duration,
}

impl RetryPolicy {
    /// From `MLDATA_HTTP_RETRIES` (default 5 tries) and `MLDATA_HTTP_BACKOFF_MS` (500).
    pub fn from_env() -> Self {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        Self {
            attempts: num("MLDATA_HTTP_RETRIES").map_or(5, |n| n.clamp(1, 100) as u32),
            base: Duration::from_millis(num("MLDATA_HTTP_BACKOFF_MS").unwrap_or(500)),
            max: Duration::from_secs(60),
        }
    }

    /// The wait before try `n` (1-based, n ≥ 2), or `Retry-After` when the server gave one.
    fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (n.saturating_sub(2)).min(16));
        let jitter = 0.75 + 0.5 * pseudo_random();
        exp.mul_f64(jitter).min(self.max)
    }
}

/// A number in [0, 1) that differs between calls (jitter only; never hashed).
fn pseudo_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What to download: a URL, and for an API that answers with the file (or a redirect to it)
/// to a POST, the JSON body to post.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub url: &'a str,
    pub post: Option<&'a [u8]>,
}

impl Target<'_> {
    /// The first request's method; for a POST, its content type is added to `headers`.
    fn method(self, headers: &mut Vec<(&str, String)>) -> &'static str {
        if self.post.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
            "POST"
        } else {
            "GET"
        }
    }
}

/// Which redirects a request follows.
#[derive(Clone, Copy)]
enum Follow {
    /// Only those to the same origin (scheme, host, port).
    SameOrigin,
    /// Any (the credential is dropped when the origin changes).
    Any,
}

/// A credential for one origin (`scheme://host:port`): sent there and nowhere else, so a
/// redirect to a CDN or a mirror never carries it.
#[derive(Clone)]
pub struct Credential {
    pub origin: String,
    /// The `Authorization` header value (`Bearer …`, `Basic …`).
    pub header: String,
}

impl Credential {
    /// A URL without its user info, and the credential that was in it: HTTP Basic for the
    /// URL's origin (`https://user:pass@host/…` → `Authorization: Basic base64(user:pass)`,
    /// sent to that scheme, host and port only). `None` when the URL has no user info, or
    /// holds the mask a lockfile records instead of the password.
    pub fn from_url(url: &str) -> (String, Option<Credential>) {
        let masked = super::uri::credential_is_masked(url);
        let (plain, userinfo) = super::uri::split_userinfo(url);
        let cred = userinfo.filter(|_| !masked).map(|(user, pass)| Credential {
            origin: origin(&plain),
            header: basic_auth(&user, &pass),
        });
        (plain, cred)
    }
}

/// An HTTP Basic `Authorization` value: `Basic ` and standard, padded base64 of `user:pass`
/// (RFC 7617).
pub(crate) fn basic_auth(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, [redacted])", self.origin)
    }
}

/// `scheme://host:port` of a URL (the port made explicit).
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let scheme = scheme.to_ascii_lowercase();
    if host.contains(':') && !host.ends_with(']') {
        format!("{scheme}://{}", host.to_ascii_lowercase())
    } else {
        let port = if scheme == "http" { 80 } else { 443 };
        format!("{scheme}://{}:{port}", host.to_ascii_lowercase())
    }
}

/// A URL safe to print: a password in it is masked (see [`super::uri::redacted`]), and so are
/// query parameters that carry secrets.
pub fn redact(url: &str) -> String {
    let url = super::uri::redacted(url);
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| {
            let key = kv.split('=').next().unwrap_or("");
            let k = key.to_ascii_lowercase();
            if [
                "api_key",
                "apikey",
                "token",
                "key",
                "access_token",
                "signature",
                "x-amz-signature",
                "sig",
            ]
            .contains(&k.as_str())
            {
                format!("{key}=***")
            } else {
                kv.to_owned()
            }
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// Resolve a `Location` against the URL it came from.
fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(l) = location.strip_prefix("//") {
        return format!("{scheme}://{l}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{host}{location}");
    }
    let path = rest[host.len()..].split(['?', '#']).next().unwrap_or("/");
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{scheme}://{host}{dir}/{location}")
}

/// Headers of an answer, names lowercased.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn from(h: &ureq::http::HeaderMap) -> Self {
        Self(
            h.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        )
    }

    /// `Retry-After` in seconds (HTTP dates are treated as "a minute").
    fn retry_after(&self) -> Option<Duration> {
        let v = self.get("retry-after")?;
        Some(
            v.trim()
                .parse::<u64>()
                .map_or(Duration::from_secs(60), Duration::from_secs),
        )
    }
}

/// An answer's status and headers (the body was read or is being streamed).
#[derive(Debug, Clone)]
pub struct Meta {
    pub status: u16,
    pub headers: Headers,
    /// The URL that answered (after same-origin redirects).
    pub url: String,
    /// Tries it took (retryable statuses and connection errors are tried again).
    pub attempts: u32,
}

/// Digests computed while a download streams in (so the file is not read a second time).
#[derive(Clone)]
struct Digests {
    sha256: sha2::Sha256,
    /// Git blob SHA-1 (`blob <len>\0` + bytes), when the final length is known up front.
    git_sha1: Option<sha1::Sha1>,
}

impl Digests {
    fn new(expected: Option<u64>) -> Self {
        use sha1::Digest as _;
        Self {
            sha256: <sha2::Sha256 as sha2::Digest>::new(),
            git_sha1: expected.map(|len| {
                let mut h = sha1::Sha1::new();
                h.update(format!("blob {len}\0").as_bytes());
                h
            }),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.sha256, bytes);
        if let Some(h) = &mut self.git_sha1 {
            sha1::Digest::update(h, bytes);
        }
    }

    /// Feed the bytes already in a partial file (a resumed download).
    /// Hash the first `len` bytes of `path` (its length when the caller looked: never more,
    /// so the count stays true even for a file that grows, or a device that never ends).
    fn feed_file(&mut self, path: &Path, len: u64) -> std::io::Result<()> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f.take(len),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            self.update(&buf[..n]);
        }
    }
}

/// Hash `bytes` into the running digests, when there are any, counting them.
fn hash_into(digests: &mut Option<(u64, Digests)>, bytes: &[u8]) {
    if let Some((len, d)) = digests {
        d.update(bytes);
        *len += bytes.len() as u64;
    }
}

/// Write `bytes` in pieces of at most [`crate::store::WRITE_SIZE`].
fn write_in_pieces(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    for piece in bytes.chunks(crate::store::WRITE_SIZE) {
        file.write_all(piece)?;
    }
    Ok(())
}

/// What a download did.
#[derive(Debug, Clone, Default)]
pub struct Downloaded {
    /// Bytes in the finished file.
    pub bytes: u64,
    /// Bytes that were already there from an earlier, interrupted download.
    pub resumed_from: u64,
    /// Tries it took.
    pub attempts: u32,
    /// SHA-256 of the finished file (hex).
    pub sha256: String,
    /// Git blob SHA-1 of the finished file, when its size was known up front.
    pub git_sha1: Option<String>,
}

/// Progress of a download, for bars.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub resumed_from: u64,
}

pub struct Client {
    agent: ureq::Agent,
    policy: RetryPolicy,
}

impl Client {
    pub fn new() -> Self {
        Self::with_policy(RetryPolicy::from_env())
    }

    pub fn with_policy(policy: RetryPolicy) -> Self {
        let secs = std::env::var("MLDATA_HTTP_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(30);
        Self::with_timeout(policy, Duration::from_secs(secs))
    }

    /// A client whose every wait (connect, answer, each read) is at most `timeout`, and whose
    /// whole call is at most three times that (for answers that must come quickly: search).
    pub fn with_timeout(policy: RetryPolicy, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(format!("mldatabuild/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            // One idle connection per download thread, so parallel downloads reuse them
            // instead of opening a connection per file (ureq keeps 3 per host by default).
            .max_idle_connections(128)
            .max_idle_connections_per_host(64)
            .build();
        Self {
            agent: config.new_agent(),
            policy,
        }
    }

    /// One request, no redirect, no retry.
    fn once(
        &self,
        method: &str,
        url: &str,
        cred: Option<&Credential>,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let auth = cred
            .filter(|c| c.origin == origin(url))
            .map(|c| c.header.clone());
        macro_rules! with_headers {
            ($req:expr) => {{
                let mut r = $req;
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, v);
                }
                r
            }};
        }
        match (method, body) {
            ("HEAD", _) => with_headers!(self.agent.head(url)).call(),
            ("POST", Some(b)) => with_headers!(self.agent.post(url)).send(b),
            ("POST", None) => with_headers!(self.agent.post(url)).send_empty(),
            _ => with_headers!(self.agent.get(url)).call(),
        }
    }

    /// A request with retries, following redirects as `follow` says (the credential is dropped
    /// on a redirect to another origin). Returns the final answer with its body unread.
    fn request(
        &self,
        method: &str,
        url: &str,
        cred: Option<&Credential>,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        follow: Follow,
    ) -> Result<(Meta, ureq::http::Response<ureq::Body>), FetchError> {
        // User info in the URL is a credential for its origin: it goes into the
        // `Authorization` header there (and nowhere else, as any credential), never into
        // the URL a message or an answer's `Meta` shows.
        let (plain, own) = Credential::from_url(url);
        let (url, cred) = (plain.as_str(), own.as_ref().or(cred));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut current = url.to_owned();
            let mut redirects = 0;
            let (mut method_now, mut body_now) = (method, body);
            let outcome = loop {
                match self.once(method_now, &current, cred, headers, body_now) {
                    Err(e) => break Err(e),
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let h = Headers::from(resp.headers());
                        if (300..400).contains(&status)
                            && status != 304
                            && let Some(loc) = h.get("location")
                        {
                            let next = join(&current, loc);
                            let same = origin(&next) == origin(&current);
                            let allowed = match follow {
                                Follow::SameOrigin => same,
                                Follow::Any => true,
                            };
                            if allowed && redirects < MAX_REDIRECTS {
                                redirects += 1;
                                current = next;
                                // As browsers and HTTP clients do: a POST answered by 301, 302
                                // or 303 continues as a GET without the body.
                                if method_now == "POST" && matches!(status, 301..=303) {
                                    (method_now, body_now) = ("GET", None);
                                }
                                continue;
                            }
                        }
                        break Ok((
                            Meta {
                                status,
                                headers: h,
                                url: current.clone(),
                                attempts: attempt,
                            },
                            resp,
                        ));
                    }
                }
            };
            let retry_after = match &outcome {
                Ok((m, _)) if RETRYABLE.contains(&m.status) => m.headers.retry_after(),
                Ok(_) => return outcome.map_err(|e: ureq::Error| transport(url, &e)),
                Err(e) if !retryable(e) => return Err(transport(url, e)),
                Err(_) => None,
            };
            if attempt >= self.policy.attempts {
                return match outcome {
                    Ok((m, resp)) => Ok((m, resp)),
                    Err(e) => Err(transport(url, &e).tried(attempt)),
                };
            }
            std::thread::sleep(self.policy.delay(attempt + 1, retry_after));
        }
    }

    /// Status and headers, without following redirects to other origins (the answer to read
    /// a CDN redirect's `X-Linked-*` headers from).
    pub fn head(&self, url: &str, cred: Option<&Credential>) -> Result<Meta, FetchError> {
        let (meta, _) = self.request(
            "HEAD",
            url,
            cred,
            &[("accept-encoding", "identity".into())],
            None,
            Follow::SameOrigin,
        )?;
        Ok(meta)
    }

    /// GET a JSON document, or with `body` POST that JSON; non-2xx answers become errors
    /// carrying the server's `X-Error-Code` and message; an HTML page instead of JSON is named
    /// as such.
    pub fn json(
        &self,
        url: &str,
        cred: Option<&Credential>,
        body: Option<&[u8]>,
    ) -> Result<(serde_json::Value, Meta), FetchError> {
        let mut headers = vec![("accept", "application/json".to_owned())];
        let method = Target { url, post: body }.method(&mut headers);
        let (meta, mut resp) = self.request(method, url, cred, &headers, body, Follow::Any)?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .read_to_string()
            .map_err(|e| transport(url, &e))?;
        if !(200..300).contains(&meta.status) {
            return Err(status_error(&meta, &text));
        }
        let trimmed = text.trim_start();
        if trimmed.starts_with('<') {
            return Err(FetchError::new(format!(
                "{} answered with an HTML page instead of JSON",
                redact(url)
            ))
            .hint("the endpoint is probably wrong (check HF_ENDPOINT and the like), or a proxy or captive portal answered"));
        }
        let value = serde_json::from_str(trimmed).map_err(|e| {
            FetchError::new(format!("{} answered with invalid JSON: {e}", redact(url)))
                .hint("the server may be having problems; try again later")
        })?;
        Ok((value, meta))
    }

    /// The first `max` bytes of a file: a `Range` request (a server that ignores it is read
    /// only that far), following redirects (the credential stays with its origin). With
    /// `post`, the first request is a POST of that JSON body (Kaggle's `DownloadDataset`).
    pub fn prefix(
        &self,
        target: Target<'_>,
        cred: Option<&Credential>,
        max: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let Target { url, post } = target;
        let mut headers = vec![
            ("range", format!("bytes=0-{}", max.saturating_sub(1))),
            ("accept-encoding", "identity".to_owned()),
        ];
        let method = target.method(&mut headers);
        let (meta, mut resp) = self.request(method, url, cred, &headers, post, Follow::Any)?;
        if !(200..300).contains(&meta.status) {
            return Err(status_error(&meta, &short_text(&mut resp, 64 << 10)));
        }
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(resp.body_mut().as_reader(), max),
            &mut out,
        )
        .map_err(|e| FetchError::new(format!("{}: {e}", redact(url))))?;
        Ok(out)
    }

    /// Download `url` into `part`, resuming from what `part` already holds (a `Range`
    /// request, with `If-Range` set to the first answer's ETag, so a changed file restarts). Follows
    /// redirects to other origins without the credential. Retries connection errors and
    /// retryable statuses, resuming each time. Fails if the result is not `expected` bytes.
    /// Computes the SHA-256 (and, with `git_sha1` and a known size, the git blob SHA-1) as the
    /// bytes arrive.
    #[expect(
        clippy::too_many_lines,
        reason = "one state machine: statuses, resume, retries"
    )]
    pub fn download(
        &self,
        target: Target<'_>,
        cred: Option<&Credential>,
        part: &Path,
        expected: Option<u64>,
        git_sha1: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Downloaded, FetchError> {
        let Target { url, post } = target;
        let io = |e: std::io::Error| {
            FetchError::new(format!("cannot write `{}`: {e}", part.display()))
                .hint("check the free space and permissions of the cache folder (`mldatabuild cache size`)")
        };
        let start_len = std::fs::metadata(part).map_or(0, |m| m.len());
        let resumed_from = if expected.is_some_and(|e| start_len > e) {
            std::fs::File::create(part).map_err(io)?;
            0
        } else {
            start_len
        };
        let mut attempt = 0u32;
        let mut last_err: Option<FetchError> = None;
        // Digests of what `part` holds so far; rebuilt from the file when a try starts over
        // from a partial file we did not stream in this call.
        let mut digests: Option<(u64, Digests)> = None;
        let finish = |digests: Digests| -> (String, Option<String>) {
            let sha = crate::statcache::hex(&sha2::Digest::finalize(digests.sha256));
            let git = digests
                .git_sha1
                .map(|h| crate::statcache::hex(&sha1::Digest::finalize(h)));
            (sha, git)
        };
        loop {
            attempt += 1;
            if attempt > self.policy.attempts {
                return Err(last_err
                    .unwrap_or_else(|| FetchError::new(format!("cannot download {}", redact(url))))
                    .tried(attempt - 1));
            }
            if attempt > 1 {
                let wait = last_err.as_ref().and_then(|e| e.retry_after);
                std::thread::sleep(self.policy.delay(attempt, wait));
            }
            // The validator of the partial file: the ETag its first answer carried (kept
            // beside it), so a file that changed on the server restarts from zero.
            let etag_file = part.with_extension("etag");
            let mut have = std::fs::metadata(part).map_or(0, |m| m.len());
            // Small files keep no validator (one file less to create per file): a small
            // partial download restarts from zero, which costs next to nothing.
            if have > 0 && have <= SMALL_FILE && !etag_file.exists() {
                std::fs::File::create(part).map_err(io)?;
                have = 0;
            }
            if digests.as_ref().is_none_or(|(n, _)| *n != have) {
                let mut d = Digests::new(expected.filter(|_| git_sha1));
                d.feed_file(part, have).map_err(io)?;
                digests = Some((have, d));
            }
            if let Some(exp) = expected
                && have == exp
                && have > 0
                && let Some((_, d)) = digests.take()
            {
                let (sha256, git_sha1) = finish(d);
                return Ok(Downloaded {
                    bytes: have,
                    resumed_from,
                    attempts: attempt,
                    sha256,
                    git_sha1,
                });
            }
            let mut headers = vec![("accept-encoding", "identity".to_owned())];
            let method = target.method(&mut headers);
            let validator = std::fs::read_to_string(&etag_file)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty() && !t.starts_with("W/"));
            if have > 0 {
                headers.push(("range", format!("bytes={have}-")));
                if let Some(t) = &validator {
                    headers.push(("if-range", format!("\"{}\"", t.trim_matches('"'))));
                }
            }
            let (meta, mut resp) =
                match self.request(method, url, cred, &headers, post, Follow::Any) {
                    Ok(r) => r,
                    Err(e) if e.retryable => {
                        last_err = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            let total = match meta.status {
                200 => {
                    // A full body: start over (the server ignored the range, or the file
                    // changed since the partial download began).
                    std::fs::File::create(part).map_err(io)?;
                    digests = Some((0, Digests::new(expected.filter(|_| git_sha1))));
                    let length = meta
                        .headers
                        .get("content-length")
                        .and_then(|v| v.parse::<u64>().ok());
                    match meta.headers.get("etag") {
                        Some(t) if expected.or(length).is_none_or(|n| n > SMALL_FILE) => {
                            let _ = std::fs::write(&etag_file, t);
                        }
                        _ => {
                            let _ = std::fs::remove_file(&etag_file);
                        }
                    }
                    length
                }
                206 => {
                    let range = meta.headers.get("content-range").unwrap_or("");
                    let (start, total) = parse_content_range(range);
                    if start != Some(have) {
                        std::fs::File::create(part).map_err(io)?;
                        last_err = Some(FetchError::new(format!(
                            "{} answered a resume request with the wrong range `{range}`",
                            redact(&meta.url)
                        )));
                        continue;
                    }
                    total
                }
                416 => {
                    // Nothing left to send: either complete, or our partial file is wrong.
                    if expected.is_some_and(|e| e == have) {
                        continue;
                    }
                    std::fs::File::create(part).map_err(io)?;
                    last_err = Some(FetchError::new(format!(
                        "{} refused to resume at byte {have}",
                        redact(&meta.url)
                    )));
                    continue;
                }
                s if RETRYABLE.contains(&s) => {
                    let mut e = FetchError::new(format!("{} answered {s}", redact(&meta.url)));
                    e.retryable = true;
                    e.retry_after = meta.headers.retry_after();
                    last_err = Some(e);
                    continue;
                }
                _ => return Err(status_error(&meta, &short_text(&mut resp, 1 << 20))),
            };
            if let (Some(exp), Some(t)) = (expected, total)
                && t != exp
            {
                return Err(FetchError::new(format!(
                    "{} has {t} bytes, but {exp} were expected",
                    redact(&meta.url)
                ))
                .hint("the file changed on the server since its size was recorded; refresh the source (`build --refresh`)"));
            }
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(part)
                .map_err(io)?;
            let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
            let mut done = std::fs::metadata(part).map_or(0, |m| m.len());
            // The headers are in: the size is known (a `Content-Length`) before any byte is.
            progress(Progress {
                done,
                total: expected.or(total),
                resumed_from,
            });
            let mut last_report = Instant::now();
            // 1 MiB buffers, or just enough for a small file (one read past its end sees EOF).
            let buf_len = expected.or(total).map_or(1 << 20, |n| {
                usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1)
                    .clamp(16 << 10, 1 << 20)
            });
            // The read loop: fill a buffer (several reads, so the hasher wakes once per MiB),
            // write it, hand it to `feed`, which hashes it and returns the buffer to fill next
            // (None: the hasher stopped).
            let mut read_all = |feed: &mut dyn FnMut(Vec<u8>, usize) -> Option<Vec<u8>>| {
                let mut buf = vec![0u8; buf_len];
                let mut eof = false;
                while !eof {
                    let mut n = 0;
                    while n < buf.len() {
                        match reader.read(&mut buf[n..]) {
                            Ok(0) => {
                                eof = true;
                                break;
                            }
                            Ok(r) => {
                                n += r;
                                // Report inside the fill too: a slow link takes a while to
                                // fill a buffer, and must not look stalled.
                                if last_report.elapsed() > Duration::from_millis(100) {
                                    progress(Progress {
                                        done: done + n as u64,
                                        total: expected.or(total),
                                        resumed_from,
                                    });
                                    last_report = Instant::now();
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                // Keep what arrived: it is resumed from next time.
                                write_in_pieces(&mut file, &buf[..n]).map_err(io)?;
                                let _ = feed(std::mem::take(&mut buf), n);
                                done += n as u64;
                                let mut fe = FetchError::new(format!(
                                    "the connection to {} broke after {done} bytes: {e}",
                                    redact(&meta.url)
                                ));
                                fe.retryable = true;
                                return Err(fe);
                            }
                        }
                    }
                    if n == 0 {
                        break;
                    }
                    write_in_pieces(&mut file, &buf[..n]).map_err(io)?;
                    done += n as u64;
                    buf = feed(buf, n)
                        .ok_or_else(|| FetchError::new("the hashing thread stopped"))?;
                }
                Ok(())
            };
            let mut taken = digests.take();
            let (read_result, hashed) = if buf_len < 1 << 20 {
                // A small file is hashed in line: a thread and a pool of buffers would cost
                // more than the hashing.
                let r = read_all(&mut |chunk, n| {
                    hash_into(&mut taken, &chunk[..n]);
                    Some(chunk)
                });
                (r, taken)
            } else {
                // A large one is hashed on its own thread, fed the chunks as they are
                // written, so a download costs max(network + write, hash) rather than their
                // sum. A fixed pool of buffers travels between the two threads (no
                // allocation or zeroing per chunk).
                std::thread::scope(|sc| {
                    const POOL: usize = 4;
                    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(POOL);
                    let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
                    for _ in 0..POOL - 1 {
                        let _ = back_tx.send(vec![0u8; buf_len]);
                    }
                    let hasher = sc.spawn(move || {
                        let mut taken = taken;
                        for (chunk, n) in rx {
                            hash_into(&mut taken, &chunk[..n]);
                            let _ = back_tx.send(chunk);
                        }
                        taken
                    });
                    let r = read_all(&mut |chunk, n| {
                        tx.send((chunk, n)).ok()?;
                        Some(back_rx.recv().unwrap_or_else(|_| vec![0u8; buf_len]))
                    });
                    drop(tx);
                    (r, hasher.join().ok().flatten())
                })
            };
            digests = hashed;
            let read_result = match read_result {
                Err(e) if !e.retryable => return Err(e),
                other => other,
            };
            file.flush().map_err(io)?;
            drop(file);
            progress(Progress {
                done,
                total: expected.or(total),
                resumed_from,
            });
            if let Err(e) = read_result {
                last_err = Some(e);
                continue;
            }
            match expected.or(total) {
                Some(exp) if done < exp => {
                    let mut fe = FetchError::new(format!(
                        "{} sent {done} of {exp} bytes (a truncated body)",
                        redact(&meta.url)
                    ));
                    fe.retryable = true;
                    last_err = Some(fe);
                }
                Some(exp) if done > exp => {
                    std::fs::File::create(part).map_err(io)?;
                    return Err(FetchError::new(format!(
                        "{} sent {done} bytes, more than the {exp} expected",
                        redact(&meta.url)
                    )));
                }
                _ => {
                    let d = match digests.take() {
                        Some((n, d)) if n == done => d,
                        _ => {
                            let mut d = Digests::new(expected.filter(|_| git_sha1));
                            d.feed_file(part, done).map_err(io)?;
                            d
                        }
                    };
                    let (sha256, git_sha1) = finish(d);
                    let _ = std::fs::remove_file(&etag_file);
                    return Ok(Downloaded {
                        bytes: done,
                        resumed_from,
                        attempts: attempt,
                        sha256,
                        git_sha1,
                    });
                }
            }
        }
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// `bytes START-END/TOTAL` → (START, TOTAL).
fn parse_content_range(v: &str) -> (Option<u64>, Option<u64>) {
    let v = v.trim().strip_prefix("bytes").unwrap_or(v).trim();
    let (range, total) = v.split_once('/').unwrap_or((v, "*"));
    let start = range.split('-').next().and_then(|s| s.trim().parse().ok());
    (start, total.trim().parse().ok())
}

fn retryable(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::HostNotFound
    )
}

fn transport(url: &str, e: &ureq::Error) -> FetchError {
    let what = match e {
        ureq::Error::HostNotFound => "the host name does not resolve".to_owned(),
        ureq::Error::ConnectionFailed => "the connection failed".to_owned(),
        ureq::Error::Timeout(t) => format!("it timed out ({t})"),
        other => other.to_string(),
    };
    let mut fe = FetchError::new(format!("cannot reach {}: {what}", redact(url)))
        .hint("check the network, the endpoint (HF_ENDPOINT and the like), or build from the cache with `--offline`");
    fe.retryable = retryable(e);
    fe
}

/// An answer's body as text (an error page); empty when it is longer than `max` bytes.
fn short_text(resp: &mut ureq::http::Response<ureq::Body>, max: u64) -> String {
    resp.body_mut()
        .with_config()
        .limit(max)
        .read_to_string()
        .unwrap_or_default()
}

/// An error for a non-2xx answer: the status, the server's error code and message.
pub fn status_error(meta: &Meta, body: &str) -> FetchError {
    let code = meta.headers.get("x-error-code").map(str::to_owned);
    let msg = meta
        .headers
        .get("x-error-message")
        .map(str::to_owned)
        .or_else(|| {
            serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| match &v["error"] {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Array(a) => Some(
                        a.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    serde_json::Value::Object(o) => {
                        o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
                    }
                    _ => v
                        .get("message")
                        .or_else(|| v.get("detail"))
                        .and_then(|m| m.as_str())
                        .map(str::to_owned),
                })
        });
    let mut fe = FetchError::new(format!(
        "{} answered {}{}{}",
        redact(&meta.url),
        meta.status,
        code.as_ref().map_or(String::new(), |c| format!(" {c}")),
        msg.map_or(String::new(), |m| format!(": {m}"))
    ))
    .tried(meta.attempts);
    fe.status = Some(meta.status);
    fe.code = code;
    fe.retryable = RETRYABLE.contains(&meta.status);
    fe.retry_after = meta.headers.retry_after();
    fe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_redirect_targets() {
        assert_eq!(
            origin("https://huggingface.co/x"),
            "https://huggingface.co:443"
        );
        assert_eq!(origin("http://127.0.0.1:8080/a?b"), "http://127.0.0.1:8080");
        assert_eq!(origin("HTTP://Host/x"), "http://host:80");
        assert_ne!(origin("http://127.0.0.1:1/"), origin("http://127.0.0.1:2/"));
        assert_eq!(join("http://h:1/a/b?q", "/c"), "http://h:1/c");
        assert_eq!(join("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(join("http://h:1/a", "https://cdn/x"), "https://cdn/x");
        assert_eq!(join("https://h/a", "//cdn/x"), "https://cdn/x");
    }

    #[test]
    fn secrets_in_urls_are_masked() {
        assert_eq!(
            redact("https://openml.org/api/v1/json/data/61?api_key=abc&x=1"),
            "https://openml.org/api/v1/json/data/61?api_key=***&x=1"
        );
        assert_eq!(redact("https://h/x"), "https://h/x");
        assert_eq!(
            redact("https://user:s3cr3t@h/x?token=t0k"),
            "https://user:***@h/x?token=***"
        );
    }

    #[test]
    fn user_info_becomes_a_basic_credential_for_its_origin() {
        let (plain, cred) = Credential::from_url("http://user:s3cr3t@127.0.0.1:8080/f.csv");
        assert_eq!(plain, "http://127.0.0.1:8080/f.csv");
        let cred = cred.unwrap();
        assert_eq!(cred.origin, "http://127.0.0.1:8080");
        // base64("user:s3cr3t")
        assert_eq!(cred.header, "Basic dXNlcjpzM2NyM3Q=");
        assert!(!format!("{cred:?}").contains("dXNl"));
        // A lockfile's mask is no credential.
        let (plain, cred) = Credential::from_url("https://user:***@h/f.csv");
        assert_eq!(plain, "https://h/f.csv");
        assert!(cred.is_none());
        assert!(Credential::from_url("https://h/f.csv").1.is_none());
    }

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            (Some(10), Some(100))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), (Some(0), None));
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert!(p.delay(2, None) >= Duration::from_millis(75));
        assert!(p.delay(4, None) >= Duration::from_millis(300));
        assert_eq!(
            p.delay(2, Some(Duration::from_secs(9))),
            Duration::from_secs(1)
        );
    }
}
