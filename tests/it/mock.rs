//! A loopback mock of the Hugging Face Hub and its LFS CDN, for the integration tests of the
//! HTTP client. It follows `shared/reference/hub-protocols.md` §1 (routes, header names and
//! shapes, status codes, `X-Error-Code`s, `Link` + cursor pagination). Nothing touches the
//! internet: both servers bind `127.0.0.1:0`.
//!
//! Two layers:
//! - [`MockServer`]: a small HTTP/1.1 server on `std` only (a thread per connection, keep-alive,
//!   bodies by `Content-Length`) that records every request and answers through a closure;
//! - [`MockHub`]: the Hub (`/api/...`, `/datasets/{id}/resolve|raw/...`, the dataset viewer under
//!   `/viewer/...`) on one server and the CDN (`/blob/<sha256>`) on another port, so that a
//!   client treats it as another host (and must drop `authorization`). Fault-injection knobs are
//!   all off by default and can be flipped at any time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::Digest as _;

// ---------------------------------------------------------------------------------------------
// Generic HTTP/1.1 server
// ---------------------------------------------------------------------------------------------

/// One request as received. Header names are lowercased; `path` is the raw request target,
/// query string included, nothing decoded.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The first value of a header (case-insensitive name).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw path without the query string (still percent-encoded).
    pub(crate) fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p)
    }

    /// Query parameters in order, percent-decoded (`+` means space), repeated keys kept.
    pub(crate) fn query(&self) -> Vec<(String, String)> {
        self.path
            .split_once('?')
            .map_or_else(Vec::new, |(_, q)| parse_form(q))
    }

    /// The first value of a query parameter.
    pub(crate) fn query_param(&self, key: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// How the server sends a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behavior {
    Normal,
    /// Send the headers (with the full `Content-Length`), then only this many body bytes, then
    /// close the connection.
    DropAfter(usize),
    /// Send the headers, then sleep this long before sending the body.
    Stall(Duration),
}

/// A response. The server adds `Content-Length` (unless already set) and `Connection`.
#[derive(Clone, Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) behavior: Behavior,
}

impl Response {
    pub(crate) fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            behavior: Behavior::Normal,
        }
    }

    pub(crate) fn json(status: u16, value: &Value) -> Response {
        let mut response = Response::new(status);
        response.body = serde_json::to_vec(value).expect("serialize JSON");
        response.header("Content-Type", "application/json; charset=utf-8")
    }

    pub(crate) fn text(status: u16, text: &str) -> Response {
        let mut response = Response::new(status);
        response.body = text.as_bytes().to_vec();
        response.header("Content-Type", "text/plain; charset=utf-8")
    }

    pub(crate) fn bytes(status: u16, body: impl Into<Vec<u8>>) -> Response {
        let mut response = Response::new(status);
        response.body = body.into();
        response.header("Content-Type", "application/octet-stream")
    }

    /// Sets a header, replacing any header of the same name.
    #[must_use]
    pub(crate) fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        let name = name.into();
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    #[must_use]
    pub(crate) fn with_behavior(mut self, behavior: Behavior) -> Response {
        self.behavior = behavior;
        self
    }

    pub(crate) fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A loopback HTTP/1.1 server. Dropping it stops the accept loop and closes open connections.
pub(crate) struct MockServer {
    pub(crate) addr: SocketAddr,
    pub(crate) log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl MockServer {
    pub(crate) fn start(
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> MockServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (log, stop, connections) = (log.clone(), stop.clone(), connections.clone());
            thread::Builder::new()
                .name(format!("mock-accept-{}", addr.port()))
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        if let Ok(clone) = stream.try_clone() {
                            lock(&connections).push(clone);
                        }
                        let (handler, log) = (handler.clone(), log.clone());
                        let _ = thread::Builder::new()
                            .name(format!("mock-conn-{}", addr.port()))
                            .spawn(move || serve_connection(stream, &*handler, &log));
                    }
                })
                .expect("spawn the accept thread")
        };
        MockServer {
            addr,
            log,
            stop,
            connections,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        lock(&self.log).clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so that the loop sees the flag.
        if TcpStream::connect(self.addr).is_ok()
            && let Some(acceptor) = self.acceptor.take()
        {
            let _ = acceptor.join();
        }
        for connection in lock(&self.connections).drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn serve_connection(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let Ok(Some((request, http10))) = read_request(&mut reader, &mut writer) else {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        };
        lock(log).push(request.clone());
        let response = std::panic::catch_unwind(AssertUnwindSafe(|| handler(&request)))
            .unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_default();
                Response::text(500, &format!("mock handler panicked: {message}"))
            });
        let connection = request.header("connection").unwrap_or("");
        let wants_keep_alive = if http10 {
            connection.eq_ignore_ascii_case("keep-alive")
        } else {
            !connection.eq_ignore_ascii_case("close")
        };
        let keep_alive = wants_keep_alive && !matches!(response.behavior, Behavior::DropAfter(_));
        if write_response(&mut writer, &request, &response, keep_alive).is_err() || !keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads one request; `Ok(None)` on a clean end of stream. The flag is true for HTTP/1.0.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<(Request, bool)>> {
    const MAX_HEAD: usize = 64 * 1024;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("bad request line"));
    };
    let mut request = Request {
        method: method.to_string(),
        path: target.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    let http10 = version.eq_ignore_ascii_case("HTTP/1.0");
    let mut total = line.len();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Err(invalid("end of stream inside the headers"));
        }
        total += header.len();
        if total > MAX_HEAD {
            return Err(invalid("request head too large"));
        }
        let header = header.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| invalid("bad header"))?;
        request
            .headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let length = match request.header("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| invalid("bad Content-Length"))?,
        None => 0,
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    request.body = body;
    Ok(Some((request, http10)))
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        416 => "Range Not Satisfiable",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn write_response(
    writer: &mut TcpStream,
    request: &Request,
    response: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    let mut has_length = false;
    for (name, value) in &response.headers {
        if name.eq_ignore_ascii_case("connection") {
            continue;
        }
        has_length |= name.eq_ignore_ascii_case("content-length");
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if !has_length {
        let _ = write!(head, "Content-Length: {}\r\n", response.body.len());
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(head, "Connection: {connection}\r\n\r\n");
    writer.write_all(head.as_bytes())?;
    let bodiless = request.method.eq_ignore_ascii_case("HEAD")
        || matches!(response.status, 100..=199 | 204 | 304);
    if !bodiless {
        match response.behavior {
            Behavior::Normal => writer.write_all(&response.body)?,
            Behavior::DropAfter(n) => {
                writer.write_all(&response.body[..n.min(response.body.len())])?;
            }
            Behavior::Stall(pause) => {
                writer.flush()?;
                thread::sleep(pause);
                writer.write_all(&response.body)?;
            }
        }
    }
    writer.flush()
}

// ---------------------------------------------------------------------------------------------
// Encoding and hashing helpers
// ---------------------------------------------------------------------------------------------

/// Decodes `application/x-www-form-urlencoded` text (also used for query strings).
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

pub(crate) fn percent_decode(text: &str) -> String {
    fn hex_digit(byte: Option<&u8>) -> Option<u8> {
        (*byte? as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex_digit(bytes.get(i + 1)), hex_digit(bytes.get(i + 2)))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything except unreserved characters and `safe` (Python's `quote`).
pub(crate) fn percent_encode(text: &str, safe: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || b"-_.~".contains(&byte)
            || safe.as_bytes().contains(&byte)
        {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// SHA-1 (for git object ids; the crate has no sha1 dependency).
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes(bytes.try_into().expect("4 bytes"));
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn git_object_sha1(kind: &str, body: &[u8]) -> String {
    let mut object = format!("{kind} {}\0", body.len()).into_bytes();
    object.extend_from_slice(body);
    hex(&sha1(&object))
}

/// The git blob id of `bytes`: `sha1("blob {len}\0" + bytes)`.
pub(crate) fn git_blob_sha1(bytes: &[u8]) -> String {
    git_object_sha1("blob", bytes)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

/// The LFS pointer file that git stores for an LFS file (its length is `pointerSize`).
pub(crate) fn lfs_pointer(sha256: &str, size: usize) -> String {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n")
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let value = BASE64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `2024-07-24T10:00:00.000Z` from Unix seconds.
fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn truthy(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn extension(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let (_, ext) = name.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------------
// Byte serving (Range) shared by the Hub and the CDN
// ---------------------------------------------------------------------------------------------

enum RangeSpec {
    /// No usable single range: answer 200 with everything.
    Ignore,
    /// Inclusive byte range.
    Bytes(usize, usize),
    Unsatisfiable,
}

fn parse_range(header: &str, total: usize) -> RangeSpec {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<usize>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(_) if total == 0 => RangeSpec::Unsatisfiable,
            Ok(n) => RangeSpec::Bytes(total.saturating_sub(n), total - 1),
            Err(_) => RangeSpec::Ignore,
        };
    }
    let Ok(start) = first.parse::<usize>() else {
        return RangeSpec::Ignore;
    };
    let end = if last.is_empty() {
        usize::MAX
    } else {
        match last.parse::<usize>() {
            Ok(end) if end >= start => end,
            _ => return RangeSpec::Ignore,
        }
    };
    if start >= total {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Bytes(start, end.min(total - 1))
}

/// 200 with `data`, or 206/416 for a `Range` request when `honor_range`.
fn serve_bytes(request: &Request, data: &[u8], honor_range: bool) -> Response {
    let total = data.len();
    let spec = match request.header("range") {
        Some(range) if honor_range => parse_range(range, total),
        _ => RangeSpec::Ignore,
    };
    let response = match spec {
        RangeSpec::Ignore => Response::bytes(200, data),
        RangeSpec::Bytes(start, end) => Response::bytes(206, &data[start..=end])
            .header("Content-Range", format!("bytes {start}-{end}/{total}")),
        RangeSpec::Unsatisfiable => Response::text(416, "Requested Range Not Satisfiable")
            .header("Content-Range", format!("bytes */{total}")),
    };
    response.header("Accept-Ranges", "bytes")
}

// ---------------------------------------------------------------------------------------------
// Hub state
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct RepoFile {
    content: Arc<Vec<u8>>,
    /// Git object id: of the content, or of the LFS pointer.
    oid: String,
    lfs: Option<LfsInfo>,
}

#[derive(Clone)]
struct LfsInfo {
    sha256: String,
    pointer: String,
}

struct Commit {
    files: BTreeMap<String, RepoFile>,
    parent: Option<String>,
    date: u64,
    title: String,
}

struct ViewerSplit {
    features: Vec<Value>,
    rows: Vec<Value>,
}

struct Repo {
    object_id: String,
    created: u64,
    commits: HashMap<String, Commit>,
    /// `main`, `dev`, `refs/convert/parquet`, `refs/pr/1`, … → commit.
    branches: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    private: bool,
    /// `Some(access_granted)` when gated.
    gated: Option<bool>,
    downloads: u64,
    likes: u64,
    viewer: BTreeMap<(String, String), ViewerSplit>,
}

impl Repo {
    /// A branch, tag (with or without `refs/heads/`, `refs/tags/`) or full commit sha.
    fn resolve(&self, revision: &str) -> Option<String> {
        let branch = revision.strip_prefix("refs/heads/").unwrap_or(revision);
        let tag = revision.strip_prefix("refs/tags/").unwrap_or(revision);
        self.branches
            .get(branch)
            .or_else(|| self.tags.get(tag))
            .cloned()
            .or_else(|| {
                self.commits
                    .contains_key(revision)
                    .then(|| revision.to_string())
            })
    }

    fn gated_json(&self) -> Value {
        match self.gated {
            None => json!(false),
            Some(true) => json!("auto"),
            Some(false) => json!("manual"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Repo metadata: public for gated repos.
    Meta,
    /// File contents: gated repos need an accepted token.
    Files,
}

struct HubState {
    hub_url: String,
    cdn_url: String,
    repos: BTreeMap<String, Repo>,
    /// LFS objects served by the CDN, by sha256.
    blobs: HashMap<String, Arc<Vec<u8>>>,
    clock: u64,
    request_seq: u64,
    token: Option<String>,
    rate_limit: (usize, u64),
    fail: (usize, u16),
    drop_once: HashMap<String, usize>,
    cdn_ignore_range: bool,
    cdn_wrong_size: HashSet<String>,
    html_once: bool,
    page_size: usize,
    stall_cdn: Option<Duration>,
}

const EXPAND_FIELDS: &[&str] = &[
    "author",
    "cardData",
    "citation",
    "createdAt",
    "disabled",
    "description",
    "downloads",
    "downloadsAllTime",
    "gated",
    "lastModified",
    "likes",
    "mainSize",
    "paperswithcode_id",
    "private",
    "siblings",
    "sha",
    "tags",
    "trendingScore",
    "usedStorage",
    "resourceGroup",
];

const LIST_DEFAULT_FIELDS: &[&str] = &[
    "_id",
    "id",
    "private",
    "gated",
    "downloads",
    "likes",
    "lastModified",
    "tags",
];

fn hub_error(status: u16, code: Option<&str>, message: &str) -> Response {
    let response =
        Response::json(status, &json!({ "error": message })).header("X-Error-Message", message);
    match code {
        Some(code) => response.header("X-Error-Code", code),
        None => response,
    }
}

fn not_found_page() -> Response {
    hub_error(
        404,
        None,
        "Sorry, we can't find the page you are looking for.",
    )
}

fn method_not_allowed() -> Response {
    hub_error(405, None, "Method not allowed")
}

fn revision_not_found(revision: &str) -> Response {
    hub_error(
        404,
        Some("RevisionNotFound"),
        &format!("Invalid rev id: {revision}"),
    )
}

fn entry_not_found(commit: &str) -> Response {
    hub_error(404, Some("EntryNotFound"), "Entry not found").header("X-Repo-Commit", commit)
}

/// Splits a README into (front matter as JSON, body text).
fn parse_card(readme: &[u8]) -> (Option<Value>, String) {
    let text = String::from_utf8_lossy(readme).replace("\r\n", "\n");
    if let Some(rest) = text.strip_prefix("---\n") {
        let (yaml, body) = if let Some(yaml) = rest.strip_prefix("---\n") {
            ("", yaml)
        } else if let Some(end) = rest.find("\n---\n") {
            (&rest[..end], &rest[end + 5..])
        } else if let Some(yaml) = rest.strip_suffix("\n---") {
            (yaml, "")
        } else {
            return (None, text.clone());
        };
        let card = serde_saphyr::from_str::<Value>(yaml)
            .ok()
            .filter(Value::is_object);
        return (card, body.to_string());
    }
    (None, text)
}

/// Hub tags derived from the card and the files.
fn derive_tags(card: Option<&Value>, files: &BTreeMap<String, RepoFile>) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(card) = card {
        for key in [
            "task_categories",
            "task_ids",
            "language",
            "license",
            "multilinguality",
            "size_categories",
            "source_datasets",
        ] {
            match card.get(key) {
                Some(Value::String(value)) => tags.push(format!("{key}:{value}")),
                Some(Value::Array(values)) => tags.extend(
                    values
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|value| format!("{key}:{value}")),
                ),
                _ => {}
            }
        }
        if let Some(Value::Array(values)) = card.get("tags") {
            tags.extend(values.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    let formats: BTreeSet<&str> = files
        .keys()
        .filter_map(|path| match extension(path).as_deref() {
            Some("parquet") => Some("parquet"),
            Some("csv" | "tsv") => Some("csv"),
            Some("json" | "jsonl" | "ndjson") => Some("json"),
            Some("arrow") => Some("arrow"),
            Some("txt") => Some("text"),
            _ => None,
        })
        .collect();
    tags.extend(formats.iter().map(|f| format!("format:{f}")));
    tags.push("region:us".to_string());
    tags
}

fn file_entry(path: &str, file: &RepoFile) -> Value {
    let mut entry = json!({
        "type": "file",
        "oid": file.oid,
        "size": file.content.len(),
        "path": path,
    });
    if let Some(lfs) = &file.lfs {
        entry["lfs"] = json!({
            "oid": lfs.sha256,
            "size": file.content.len(),
            "pointerSize": lfs.pointer.len(),
        });
    }
    entry
}

fn dir_entry(path: &str, oid: &str) -> Value {
    json!({ "type": "directory", "oid": oid, "size": 0, "path": path })
}

fn dir_exists(files: &BTreeMap<String, RepoFile>, dir: &str) -> bool {
    dir.is_empty() || files.keys().any(|p| p.starts_with(&format!("{dir}/")))
}

/// The git tree id of directory `dir` ("" for the root).
fn tree_oid(files: &BTreeMap<String, RepoFile>, dir: &str) -> String {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    // Git sorts tree entries by name, with directories compared as if they ended with '/'.
    let mut entries: BTreeMap<String, (&str, String, String)> = BTreeMap::new();
    for (path, file) in files {
        let Some(relative) = path.strip_prefix(&prefix) else {
            continue;
        };
        match relative.split_once('/') {
            None => {
                entries.insert(
                    relative.to_string(),
                    ("100644", relative.to_string(), file.oid.clone()),
                );
            }
            Some((sub, _)) => {
                let key = format!("{sub}/");
                if let std::collections::btree_map::Entry::Vacant(slot) = entries.entry(key) {
                    let oid = tree_oid(files, &format!("{prefix}{sub}"));
                    slot.insert(("40000", sub.to_string(), oid));
                }
            }
        }
    }
    let mut body = Vec::new();
    for (mode, name, oid) in entries.values() {
        body.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        body.extend_from_slice(&unhex(oid));
    }
    git_object_sha1("tree", &body)
}

/// Tree entries under `dir`, or `None` when `dir` is not a directory.
fn list_tree(files: &BTreeMap<String, RepoFile>, dir: &str, recursive: bool) -> Option<Vec<Value>> {
    if !dir_exists(files, dir) {
        return None;
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for (path, file) in files {
        let Some(relative) = path.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = relative.split('/').collect();
        for depth in 1..parts.len() {
            if !recursive && depth > 1 {
                break;
            }
            let sub = format!("{prefix}{}", parts[..depth].join("/"));
            if !out.contains_key(&sub) {
                let oid = tree_oid(files, &sub);
                out.insert(sub.clone(), dir_entry(&sub, &oid));
            }
        }
        if recursive || parts.len() == 1 {
            out.insert(path.clone(), file_entry(path, file));
        }
    }
    Some(out.into_values().collect())
}

/// Decoded `{config}/{split}/{file}.parquet` shards of a `refs/convert/parquet` commit, in order:
/// (config, split, partial, path, size).
fn parquet_shards(commit: &Commit) -> Vec<(String, String, bool, String, usize)> {
    commit
        .files
        .iter()
        .filter_map(|(path, file)| {
            let parts: Vec<&str> = path.split('/').collect();
            if parts.len() != 3 || extension(path).as_deref() != Some("parquet") {
                return None;
            }
            let (split, partial) = match parts[1].strip_prefix("partial-") {
                Some(split) => (split, true),
                None => (parts[1], false),
            };
            Some((
                parts[0].to_string(),
                split.to_string(),
                partial,
                path.clone(),
                file.content.len(),
            ))
        })
        .collect()
}

impl HubState {
    fn new_commit(&mut self, repo_id: &str, branch: &str, files: &[(&str, &[u8], bool)]) -> String {
        assert!(!repo_id.is_empty(), "empty repo id");
        self.clock += 60;
        let date = self.clock;
        let mut tree = BTreeMap::new();
        for &(path, bytes, lfs) in files {
            let path = path.trim_matches('/').to_string();
            let content = Arc::new(bytes.to_vec());
            let file = if lfs {
                let sha256 = sha256_hex(bytes);
                let pointer = lfs_pointer(&sha256, bytes.len());
                self.blobs.insert(sha256.clone(), content.clone());
                RepoFile {
                    oid: git_blob_sha1(pointer.as_bytes()),
                    lfs: Some(LfsInfo { sha256, pointer }),
                    content,
                }
            } else {
                RepoFile {
                    oid: git_blob_sha1(bytes),
                    lfs: None,
                    content,
                }
            };
            tree.insert(path, file);
        }
        let repo = self
            .repos
            .entry(repo_id.to_string())
            .or_insert_with(|| Repo {
                object_id: hex(&sha1(repo_id.as_bytes()))[..24].to_string(),
                created: date,
                commits: HashMap::new(),
                branches: BTreeMap::new(),
                tags: BTreeMap::new(),
                private: false,
                gated: None,
                downloads: 0,
                likes: 0,
                viewer: BTreeMap::new(),
            });
        let branch = branch.strip_prefix("refs/heads/").unwrap_or(branch);
        let parent = repo.branches.get(branch).cloned();
        let mut seed = format!("commit {repo_id} {branch} {date} {parent:?}\n");
        for (path, file) in &tree {
            seed += &format!("{path} {}\n", file.oid);
        }
        let sha = hex(&sha1(seed.as_bytes()));
        let title = if parent.is_none() {
            "initial commit".to_string()
        } else {
            format!("Upload {} files", tree.len())
        };
        repo.commits.insert(
            sha.clone(),
            Commit {
                files: tree,
                parent,
                date,
                title,
            },
        );
        repo.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    fn authed(&self, request: &Request) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        request
            .header("authorization")
            .and_then(|value| value.split_once(' '))
            .is_some_and(|(scheme, value)| scheme.eq_ignore_ascii_case("bearer") && value == token)
    }

    fn repo_for(&self, request: &Request, id: &str, need: Need) -> Result<&Repo, Response> {
        let Some(repo) = self.repos.get(id) else {
            return Err(hub_error(404, Some("RepoNotFound"), "Repository not found"));
        };
        let authed = self.authed(request);
        if repo.private && !authed {
            return Err(hub_error(401, Some("RepoNotFound"), "Repository not found"));
        }
        if need == Need::Files
            && let Some(granted) = repo.gated
        {
            if !authed {
                return Err(hub_error(
                    401,
                    Some("GatedRepo"),
                    &format!(
                        "Access to dataset {id} is restricted. You must have access to it and be \
                         authenticated to access it. Please log in."
                    ),
                ));
            }
            if !granted {
                return Err(hub_error(
                    403,
                    Some("GatedRepo"),
                    &format!(
                        "Access to dataset {id} is restricted and you are not in the authorized \
                         list. Visit https://huggingface.co/datasets/{id} to ask for access."
                    ),
                ));
            }
        }
        Ok(repo)
    }

    /// Splits `["ns", "name", rest…]` (or `["name", rest…]` for a known namespace-less repo)
    /// into a repo id and the rest.
    fn split_repo<'s, 'a>(&self, segments: &'s [&'a str]) -> (String, &'s [&'a str]) {
        if segments.len() >= 2 {
            let id = format!(
                "{}/{}",
                percent_decode(segments[0]),
                percent_decode(segments[1])
            );
            if self.repos.contains_key(&id) {
                return (id, &segments[2..]);
            }
        }
        if let Some(first) = segments.first() {
            let id = percent_decode(first);
            if self.repos.contains_key(&id) {
                return (id, &segments[1..]);
            }
        }
        if segments.len() >= 2 {
            (
                format!(
                    "{}/{}",
                    percent_decode(segments[0]),
                    percent_decode(segments[1])
                ),
                &segments[2..],
            )
        } else {
            (
                segments
                    .first()
                    .map(|s| percent_decode(s))
                    .unwrap_or_default(),
                &[],
            )
        }
    }

    // ----- dispatch --------------------------------------------------------------------------

    fn handle_hub(&mut self, request: &Request) -> Response {
        self.request_seq += 1;
        let request_id = format!("Root=1-{:08x}-{:024x}", self.clock, self.request_seq);
        self.route_hub(request).header("X-Request-Id", request_id)
    }

    fn route_hub(&mut self, request: &Request) -> Response {
        if self.rate_limit.0 > 0 {
            self.rate_limit.0 -= 1;
            let secs = self.rate_limit.1;
            let message = "You have exceeded our hourly quotas for action 'api'. We invite you \
                           to retry later.";
            return hub_error(429, None, message)
                .header("Retry-After", secs.to_string())
                .header("RateLimit", format!("\"api\";r=0;t={secs}"))
                .header("RateLimit-Policy", "\"fixed window\";\"api\";q=500;w=300");
        }
        if self.fail.0 > 0 {
            self.fail.0 -= 1;
            let status = self.fail.1;
            return hub_error(status, None, reason(status));
        }
        let path = request.path_only().to_string();
        if self.html_once && path.starts_with("/api/") {
            self.html_once = false;
            return Response::text(
                200,
                "<!doctype html>\n<html class=\"\" lang=\"en\"><head><meta charset=\"utf-8\" />\
                 <title>Hugging Face - The AI community building the future.</title></head>\
                 <body><h1>We'll be right back</h1></body></html>\n",
            )
            .header("Content-Type", "text/html; charset=utf-8");
        }
        if self.token.is_some()
            && request.header("authorization").is_some()
            && !self.authed(request)
        {
            return hub_error(401, None, "Invalid credentials in Authorization header");
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["api", "datasets"] | ["api", "datasets", ""] => {
                if request.method == "GET" {
                    self.list_datasets(request)
                } else {
                    method_not_allowed()
                }
            }
            ["api", "datasets", rest @ ..] => self.route_api_repo(request, rest),
            ["datasets", rest @ ..] => self.route_files(request, rest),
            // Model repositories (a tokenizer's): `/api/models/{id}/…` and `/{id}/resolve/…`,
            // kept apart from datasets as `models/{id}`.
            ["api", "models", first, rest @ ..] => {
                let first = format!("models/{first}");
                let segs: Vec<&str> = std::iter::once(first.as_str())
                    .chain(rest.iter().copied())
                    .collect();
                self.route_api_repo(request, &segs)
            }
            [owner, name, kind @ ("resolve" | "raw"), rest @ ..]
                if !matches!(*owner, "api" | "datasets" | "viewer") =>
            {
                let first = format!("models/{owner}");
                let segs: Vec<&str> = [first.as_str(), name, kind]
                    .into_iter()
                    .chain(rest.iter().copied())
                    .collect();
                self.route_files(request, &segs)
            }
            ["viewer", endpoint] => self.viewer(request, endpoint),
            _ => not_found_page(),
        }
    }

    fn route_api_repo(&self, request: &Request, segments: &[&str]) -> Response {
        let (id, rest) = self.split_repo(segments);
        let method = request.method.as_str();
        let repo = match self.repo_for(request, &id, Need::Meta) {
            Ok(repo) => repo,
            Err(response) => return response,
        };
        match (method, rest) {
            ("GET", []) => Self::repo_info(request, &id, repo, "main"),
            ("GET", ["revision", revision, more @ ..]) => {
                if more.is_empty() {
                    Self::repo_info(request, &id, repo, &percent_decode(revision))
                } else {
                    // An unencoded `refs/convert/parquet` lands here.
                    revision_not_found(&format!("{revision}/{}", more.join("/")))
                }
            }
            ("GET", ["refs"]) => Self::refs(request, repo),
            ("GET", ["tree", revision, path @ ..]) => {
                self.tree(request, repo, &percent_decode(revision), path)
            }
            ("POST", ["paths-info", revision]) => {
                Self::paths_info(request, repo, &percent_decode(revision))
            }
            ("GET", ["parquet", rest @ ..]) => self.parquet_api(&id, repo, rest),
            (_, [] | ["revision" | "tree" | "parquet", ..] | ["refs"] | ["paths-info", _]) => {
                method_not_allowed()
            }
            _ => not_found_page(),
        }
    }

    fn route_files(&self, request: &Request, segments: &[&str]) -> Response {
        let (id, rest) = self.split_repo(segments);
        let [kind @ ("resolve" | "raw"), revision, path @ ..] = rest else {
            return match self.repo_for(request, &id, Need::Meta) {
                Ok(_) => not_found_page(),
                Err(response) => response,
            };
        };
        if request.method != "GET" && request.method != "HEAD" {
            return method_not_allowed();
        }
        let repo = match self.repo_for(request, &id, Need::Files) {
            Ok(repo) => repo,
            Err(response) => return response,
        };
        let revision = percent_decode(revision);
        let Some(sha) = repo.resolve(&revision) else {
            return revision_not_found(&revision);
        };
        let path = path
            .iter()
            .map(|s| percent_decode(s))
            .collect::<Vec<_>>()
            .join("/");
        let Some(file) = repo.commits[&sha].files.get(&path) else {
            return entry_not_found(&sha);
        };
        let etag = format!("\"{}\"", file.oid);
        let name = path.rsplit('/').next().unwrap_or(&path);
        match (&file.lfs, *kind == "raw") {
            (Some(lfs), false) => {
                let location = format!("{}/blob/{}", self.cdn_url, lfs.sha256);
                Response::text(302, &format!("Found. Redirecting to {location}"))
                    .header("Location", location)
                    .header("X-Linked-Etag", format!("\"{}\"", lfs.sha256))
                    .header("X-Linked-Size", file.content.len().to_string())
                    .header("ETag", etag)
                    .header("X-Repo-Commit", sha.as_str())
            }
            (lfs, raw) => {
                if request
                    .header("if-none-match")
                    .is_some_and(|v| v.trim_start_matches("W/") == etag)
                {
                    return Response::new(304)
                        .header("ETag", etag)
                        .header("X-Repo-Commit", sha.as_str());
                }
                let content: &[u8] = match lfs {
                    Some(lfs) if raw => lfs.pointer.as_bytes(),
                    _ => &file.content,
                };
                let content_type = match extension(&path).as_deref() {
                    Some("md" | "txt" | "csv" | "tsv" | "yaml" | "yml" | "py") => {
                        "text/plain; charset=utf-8"
                    }
                    Some("json" | "jsonl") => "application/json; charset=utf-8",
                    _ => "application/octet-stream",
                };
                serve_bytes(request, content, true)
                    .header("Content-Type", content_type)
                    .header(
                        "Content-Disposition",
                        format!(
                            "inline; filename*=UTF-8''{}; filename=\"{name}\";",
                            percent_encode(name, "")
                        ),
                    )
                    .header("ETag", etag)
                    .header("X-Repo-Commit", sha.as_str())
            }
        }
    }

    // ----- /api/datasets ---------------------------------------------------------------------

    /// Every field the Hub can return for a repo at `sha`.
    fn repo_json(id: &str, repo: &Repo, sha: &str, blobs: bool) -> Map<String, Value> {
        let commit = &repo.commits[sha];
        let (card, body) = commit
            .files
            .get("README.md")
            .map_or((None, String::new()), |f| parse_card(&f.content));
        let description: String = body.trim().chars().take(300).collect();
        let siblings: Vec<Value> = commit
            .files
            .iter()
            .map(|(path, file)| {
                let mut sibling = json!({ "rfilename": path });
                if blobs {
                    sibling["blobId"] = json!(file.oid);
                    sibling["size"] = json!(file.content.len());
                    if let Some(lfs) = &file.lfs {
                        sibling["lfs"] = json!({
                            "sha256": lfs.sha256,
                            "size": file.content.len(),
                            "pointerSize": lfs.pointer.len(),
                        });
                    }
                }
                sibling
            })
            .collect();
        let used_storage: usize = commit.files.values().map(|f| f.content.len()).sum();
        let mut out = Map::new();
        out.insert("_id".into(), json!(repo.object_id));
        out.insert("id".into(), json!(id));
        out.insert(
            "author".into(),
            json!(id.split_once('/').map_or(id, |(ns, _)| ns)),
        );
        out.insert("sha".into(), json!(sha));
        out.insert("lastModified".into(), json!(iso8601(commit.date)));
        out.insert("createdAt".into(), json!(iso8601(repo.created)));
        out.insert("private".into(), json!(repo.private));
        out.insert("gated".into(), repo.gated_json());
        out.insert("disabled".into(), json!(false));
        out.insert("downloads".into(), json!(repo.downloads));
        out.insert("downloadsAllTime".into(), json!(repo.downloads));
        out.insert("likes".into(), json!(repo.likes));
        out.insert("trendingScore".into(), json!(0));
        out.insert("usedStorage".into(), json!(used_storage));
        out.insert(
            "tags".into(),
            json!(derive_tags(card.as_ref(), &commit.files)),
        );
        out.insert("description".into(), json!(description));
        out.insert("citation".into(), Value::Null);
        out.insert("paperswithcode_id".into(), Value::Null);
        if let Some(card) = card {
            out.insert("cardData".into(), card);
        }
        out.insert("siblings".into(), Value::Array(siblings));
        out
    }

    fn expand_param(request: &Request) -> Result<Vec<String>, Response> {
        let expand: Vec<String> = request
            .query()
            .into_iter()
            .filter(|(k, _)| k == "expand" || k == "expand[]")
            .map(|(_, v)| v)
            .collect();
        if let Some(bad) = expand.iter().find(|e| !EXPAND_FIELDS.contains(&e.as_str())) {
            return Err(hub_error(
                400,
                None,
                &format!(
                    "\"expand\" must be one of: {} (got \"{bad}\")",
                    EXPAND_FIELDS.join(", ")
                ),
            ));
        }
        Ok(expand)
    }

    fn repo_info(request: &Request, id: &str, repo: &Repo, revision: &str) -> Response {
        let Some(sha) = repo.resolve(revision) else {
            return revision_not_found(revision);
        };
        let blobs = request.query_param("blobs").is_some_and(|v| truthy(&v));
        let expand = match Self::expand_param(request) {
            Ok(expand) => expand,
            Err(response) => return response,
        };
        if blobs && !expand.is_empty() {
            return hub_error(400, None, "Cannot use 'blobs' together with 'expand'");
        }
        let mut info = Self::repo_json(id, repo, &sha, blobs);
        if !expand.is_empty() {
            info.retain(|k, _| k == "_id" || k == "id" || expand.contains(k));
        }
        Response::json(200, &Value::Object(info))
    }

    fn list_datasets(&self, request: &Request) -> Response {
        let query = request.query();
        let values = |key: &str| -> Vec<String> {
            query
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let first = |key: &str| values(key).into_iter().next();
        let expand = match Self::expand_param(request) {
            Ok(expand) => expand,
            Err(response) => return response,
        };
        let full = first("full").is_some_and(|v| truthy(&v));
        if full && !expand.is_empty() {
            return hub_error(400, None, "Cannot use 'full' together with 'expand'");
        }
        let searches = values("search");
        let author = first("author");
        let filters = values("filter");
        let gated = first("gated").map(|v| truthy(&v));
        let authed = self.authed(request);
        let mut items: Vec<Map<String, Value>> = Vec::new();
        for (id, repo) in &self.repos {
            if repo.private && !authed {
                continue;
            }
            if !searches
                .iter()
                .all(|s| id.to_lowercase().contains(&s.to_lowercase()))
            {
                continue;
            }
            let owner = id.split_once('/').map(|(ns, _)| ns);
            if author.as_ref().is_some_and(|a| owner != Some(a.as_str())) {
                continue;
            }
            if gated.is_some_and(|g| g != repo.gated.is_some()) {
                continue;
            }
            let Some(sha) = repo.branches.get("main") else {
                continue;
            };
            let item = Self::repo_json(id, repo, sha, false);
            let tags = item["tags"].as_array().cloned().unwrap_or_default();
            if !filters.iter().all(|f| tags.iter().any(|t| t == f)) {
                continue;
            }
            items.push(item);
        }
        if let Some(sort) = first("sort") {
            let descending = first("direction").is_none_or(|d| d == "-1");
            items.sort_by(|a, b| {
                let ordering = match (&a.get(&sort), &b.get(&sort)) {
                    (Some(Value::Number(x)), Some(Value::Number(y))) => x
                        .as_f64()
                        .unwrap_or(0.0)
                        .total_cmp(&y.as_f64().unwrap_or(0.0)),
                    (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
                    _ => std::cmp::Ordering::Equal,
                };
                if descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            });
        }
        let skip = first("skip").and_then(|v| v.parse().ok()).unwrap_or(0);
        let items: Vec<Value> = items
            .into_iter()
            .skip(skip)
            .map(|mut item| {
                if !expand.is_empty() {
                    item.retain(|k, _| k == "_id" || k == "id" || expand.contains(k));
                } else if !full {
                    item.retain(|k, _| LIST_DEFAULT_FIELDS.contains(&k.as_str()));
                }
                Value::Object(item)
            })
            .collect();
        let per_page = first("limit")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .map_or(self.page_size, |n| n.min(self.page_size));
        self.paginate(request, items, per_page)
    }

    fn paginate(&self, request: &Request, items: Vec<Value>, per_page: usize) -> Response {
        let offset = match request.query_param("cursor") {
            None => 0,
            Some(cursor) => {
                let decoded = base64_decode(&cursor)
                    .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                    .and_then(|v| v.get("$offset").and_then(Value::as_u64));
                match decoded {
                    Some(offset) => offset as usize,
                    None => return hub_error(400, None, "Invalid cursor"),
                }
            }
        };
        let per_page = per_page.max(1);
        let start = offset.min(items.len());
        let end = (start + per_page).min(items.len());
        let more = end < items.len();
        let page: Vec<Value> = items.into_iter().skip(start).take(end - start).collect();
        let mut response = Response::json(200, &Value::Array(page));
        if more {
            let (path, query) = request
                .path
                .split_once('?')
                .unwrap_or((request.path.as_str(), ""));
            let cursor = base64_encode(format!("{{\"$offset\":{end}}}").as_bytes());
            let mut params: Vec<String> = query
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
                .map(str::to_string)
                .collect();
            params.push(format!("cursor={}", percent_encode(&cursor, "")));
            response = response.header(
                "Link",
                format!(
                    "<{}{path}?{}>; rel=\"next\"",
                    self.hub_url,
                    params.join("&")
                ),
            );
        }
        response
    }

    fn refs(request: &Request, repo: &Repo) -> Response {
        let mut branches = Vec::new();
        let mut converts = Vec::new();
        let mut pulls = Vec::new();
        for (name, target) in &repo.branches {
            if let Some(convert) = name.strip_prefix("refs/convert/") {
                converts.push(json!({"name": convert, "ref": name, "targetCommit": target}));
            } else if let Some(pr) = name.strip_prefix("refs/pr/") {
                pulls.push(json!({"name": pr, "ref": name, "targetCommit": target}));
            } else {
                branches.push(
                    json!({"name": name, "ref": format!("refs/heads/{name}"), "targetCommit": target}),
                );
            }
        }
        let tags: Vec<Value> = repo
            .tags
            .iter()
            .map(|(name, target)| {
                json!({"name": name, "ref": format!("refs/tags/{name}"), "targetCommit": target})
            })
            .collect();
        let mut body = json!({"branches": branches, "converts": converts, "tags": tags});
        if request
            .query_param("include_prs")
            .is_some_and(|v| truthy(&v))
        {
            body["pullRequests"] = json!(pulls);
        }
        Response::json(200, &body)
    }

    /// The commit (walking parents from `sha`) that last changed `path` (file or directory).
    fn last_commit(repo: &Repo, sha: &str, path: &str) -> Value {
        let fingerprint = |commit: &Commit| -> Option<String> {
            match commit.files.get(path) {
                Some(file) => Some(file.oid.clone()),
                None => dir_exists(&commit.files, path).then(|| tree_oid(&commit.files, path)),
            }
        };
        let mut current = sha.to_string();
        let wanted = fingerprint(&repo.commits[sha]);
        while let Some(parent) = repo.commits[&current].parent.clone() {
            if fingerprint(&repo.commits[&parent]) != wanted {
                break;
            }
            current = parent;
        }
        let commit = &repo.commits[&current];
        json!({"id": current, "title": commit.title, "date": iso8601(commit.date)})
    }

    fn tree(&self, request: &Request, repo: &Repo, revision: &str, path: &[&str]) -> Response {
        let Some(sha) = repo.resolve(revision) else {
            return revision_not_found(revision);
        };
        // Split the raw path on literal '/', then decode each segment (so `data%2Fsub` works).
        let dir = path
            .iter()
            .map(|s| percent_decode(s))
            .collect::<Vec<_>>()
            .join("/")
            .trim_matches('/')
            .to_string();
        let recursive = request.query_param("recursive").is_some_and(|v| truthy(&v));
        let expand = request.query_param("expand").is_some_and(|v| truthy(&v));
        let Some(mut entries) = list_tree(&repo.commits[&sha].files, &dir, recursive) else {
            return entry_not_found(&sha).header(
                "X-Error-Message",
                format!("Entry not found: {dir} does not exist on \"{revision}\""),
            );
        };
        if expand {
            for entry in &mut entries {
                let path = entry["path"].as_str().unwrap_or_default().to_string();
                entry["lastCommit"] = Self::last_commit(repo, &sha, &path);
            }
        }
        self.paginate(request, entries, self.page_size)
    }

    fn paths_info(request: &Request, repo: &Repo, revision: &str) -> Response {
        let Some(sha) = repo.resolve(revision) else {
            return revision_not_found(revision);
        };
        let is_json = request
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"));
        let (paths, expand): (Vec<String>, bool) = if is_json {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let paths = match &body["paths"] {
                Value::String(path) => vec![path.clone()],
                Value::Array(paths) => paths
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            (paths, body["expand"].as_bool().unwrap_or(false))
        } else {
            let form = parse_form(&String::from_utf8_lossy(&request.body));
            let paths = form
                .iter()
                .filter(|(k, _)| k == "paths")
                .map(|(_, v)| v.clone())
                .collect();
            let expand = form.iter().any(|(k, v)| k == "expand" && truthy(v));
            (paths, expand)
        };
        if paths.is_empty() {
            return hub_error(400, None, "\"paths\" is required");
        }
        let files = &repo.commits[&sha].files;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for path in paths {
            let path = path.trim_matches('/').to_string();
            if !seen.insert(path.clone()) {
                continue;
            }
            let mut entry = if let Some(file) = files.get(&path) {
                file_entry(&path, file)
            } else if !path.is_empty() && dir_exists(files, &path) {
                dir_entry(&path, &tree_oid(files, &path))
            } else {
                continue;
            };
            if expand {
                entry["lastCommit"] = Self::last_commit(repo, &sha, &path);
            }
            out.push(entry);
        }
        Response::json(200, &Value::Array(out))
    }

    /// `GET /api/datasets/{id}/parquet[/{config}[/{split}[/{n}.parquet]]]` (§1.9).
    fn parquet_api(&self, id: &str, repo: &Repo, rest: &[&str]) -> Response {
        let Some(sha) = repo.resolve("refs/convert/parquet") else {
            return hub_error(404, None, "This dataset has no Parquet export");
        };
        let shards = parquet_shards(&repo.commits[&sha]);
        let rest: Vec<String> = rest
            .iter()
            .map(|s| percent_decode(s))
            .filter(|s| !s.is_empty())
            .collect();
        let mut tree: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
        let mut paths: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (config, split, _, path, _) in &shards {
            let list = paths.entry((config.clone(), split.clone())).or_default();
            let url = format!(
                "{}/api/datasets/{id}/parquet/{config}/{split}/{}.parquet",
                self.hub_url,
                list.len()
            );
            list.push(path.clone());
            tree.entry(config.clone())
                .or_default()
                .entry(split.clone())
                .or_default()
                .push(json!(url));
        }
        let not_found = || hub_error(404, None, "Not found");
        match rest.as_slice() {
            [] => Response::json(200, &json!(tree)),
            [config] => tree
                .get(config)
                .map_or_else(not_found, |splits| Response::json(200, &json!(splits))),
            [config, split] => tree
                .get(config)
                .and_then(|splits| splits.get(split))
                .map_or_else(not_found, |urls| Response::json(200, &json!(urls))),
            [config, split, file] => {
                let index = file
                    .strip_suffix(".parquet")
                    .and_then(|n| n.parse::<usize>().ok());
                let target = index.and_then(|n| {
                    paths
                        .get(&(config.clone(), split.clone()))
                        .and_then(|list| list.get(n))
                });
                match target {
                    Some(path) => Response::text(302, "Found")
                        .header(
                            "Location",
                            format!(
                                "{}/datasets/{id}/resolve/{}/{}",
                                self.hub_url,
                                percent_encode("refs/convert/parquet", ""),
                                percent_encode(path, "/")
                            ),
                        )
                        .header("X-Repo-Commit", sha.as_str()),
                    None => not_found(),
                }
            }
            _ => not_found(),
        }
    }

    // ----- dataset viewer --------------------------------------------------------------------

    fn viewer(&self, request: &Request, endpoint: &str) -> Response {
        let ok = |value: &Value| {
            Response::json(200, value)
                .header("Cache-Control", "max-age=120")
                .header("Access-Control-Allow-Origin", "*")
        };
        let error = |status: u16, code: &str, message: &str| {
            Response::json(status, &json!({ "error": message }))
                .header("X-Error-Code", code)
                .header("Cache-Control", "no-store")
                .header("Access-Control-Allow-Origin", "*")
        };
        if request.method != "GET" {
            return error(405, "MethodNotAllowed", "Method not allowed");
        }
        let query = request.query();
        let get = |key: &str| {
            query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let needs_split = match endpoint {
            "first-rows" | "rows" => true,
            "is-valid" | "splits" | "parquet" | "info" | "size" => false,
            _ => return error(404, "ResponseNotFound", "Not found."),
        };
        let (Some(dataset), config, split) = (get("dataset"), get("config"), get("split")) else {
            return if needs_split {
                error(
                    422,
                    "MissingRequiredParameter",
                    "Parameters 'dataset', 'config' and 'split' are required",
                )
            } else {
                error(
                    422,
                    "MissingRequiredParameter",
                    "Parameter 'dataset' is required",
                )
            };
        };
        if needs_split && (config.is_none() || split.is_none()) {
            return error(
                422,
                "MissingRequiredParameter",
                "Parameters 'dataset', 'config' and 'split' are required",
            );
        }
        let repo = self.repos.get(dataset).filter(|repo| {
            let authed = self.authed(request);
            (!repo.private || authed) && repo.gated.is_none_or(|granted| authed && granted)
        });
        let Some(repo) = repo else {
            return if request.header("authorization").is_some() {
                error(
                    404,
                    "ExternalAuthenticatedError",
                    "The dataset does not exist, or is not accessible with the current \
                     credentials (private or gated). Please check the spelling of the dataset \
                     name or retry with other authentication credentials.",
                )
            } else {
                error(
                    401,
                    "ExternalUnauthenticatedError",
                    "The dataset does not exist, or is not accessible without authentication \
                     (private or gated). Please check the spelling of the dataset name or retry \
                     with authentication.",
                )
            };
        };
        if endpoint == "is-valid" {
            let valid = !repo.viewer.is_empty();
            return ok(&json!({
                "preview": valid, "viewer": valid, "search": valid, "filter": valid,
                "statistics": valid,
            }));
        }
        if repo.viewer.is_empty() && endpoint != "parquet" {
            return error(
                500,
                "ResponseNotReadyError",
                "The server is busier than usual and the response is not ready yet. Please \
                 retry later.",
            );
        }
        let selected: Vec<(&String, &String, &ViewerSplit)> = repo
            .viewer
            .iter()
            .filter(|((c, s), _)| config.is_none_or(|w| w == c) && split.is_none_or(|w| w == s))
            .map(|((c, s), v)| (c, s, v))
            .collect();
        if selected.is_empty() && (config.is_some() || split.is_some()) && endpoint != "parquet" {
            return error(404, "ResponseNotFound", "Not found.");
        }
        let name = dataset.rsplit('/').next().unwrap_or(dataset);
        let num_bytes = |v: &ViewerSplit| serde_json::to_vec(&v.rows).map_or(0, |b| b.len());
        match endpoint {
            "splits" => {
                let splits: Vec<Value> = selected
                    .iter()
                    .map(|(c, s, _)| json!({"dataset": dataset, "config": c, "split": s}))
                    .collect();
                ok(&json!({"splits": splits, "pending": [], "failed": []}))
            }
            "first-rows" | "rows" => {
                let (c, s, data) = selected[0];
                let (offset, length) = if endpoint == "rows" {
                    let number = |key: &str, default: i64| {
                        get(key).map_or(Ok(default), |v| v.parse::<i64>().map_err(|_| ()))
                    };
                    let offset = match number("offset", 0) {
                        Ok(n) if n >= 0 => n as usize,
                        _ => {
                            return error(
                                422,
                                "InvalidParameter",
                                "Parameter 'offset' must be positive",
                            );
                        }
                    };
                    let length = match number("length", 100) {
                        Ok(n) if (0..=100).contains(&n) => n as usize,
                        Ok(n) if n > 100 => {
                            return error(
                                422,
                                "InvalidParameter",
                                "Parameter 'length' must not be greater than 100",
                            );
                        }
                        _ => {
                            return error(
                                422,
                                "InvalidParameter",
                                "Parameter 'length' must be positive",
                            );
                        }
                    };
                    (offset, length)
                } else {
                    (0, 100)
                };
                let rows: Vec<Value> = data
                    .rows
                    .iter()
                    .enumerate()
                    .skip(offset)
                    .take(length)
                    .map(|(i, row)| json!({"row_idx": i, "row": row, "truncated_cells": []}))
                    .collect();
                if endpoint == "rows" {
                    ok(&json!({
                        "features": data.features, "rows": rows,
                        "num_rows_total": data.rows.len(), "num_rows_per_page": 100,
                        "partial": false,
                    }))
                } else {
                    ok(&json!({
                        "dataset": dataset, "config": c, "split": s, "features": data.features,
                        "rows": rows, "truncated": data.rows.len() > 100,
                    }))
                }
            }
            "info" => {
                let mut infos: BTreeMap<&str, Value> = BTreeMap::new();
                for (c, s, data) in &selected {
                    let info = infos.entry(c.as_str()).or_insert_with(|| {
                        json!({
                            "description": "", "citation": "", "homepage": "", "license": "",
                            "features": merged_features(
                                selected.iter().filter(|(cc, ..)| cc == c).map(|(.., d)| *d),
                            ),
                            "builder_name": "parquet", "dataset_name": name, "config_name": c,
                            "version": {"version_str": "0.0.0", "major": 0, "minor": 0,
                                        "patch": 0},
                            "splits": {}, "download_size": 0, "dataset_size": 0,
                        })
                    });
                    let bytes = num_bytes(data);
                    info["splits"][s.as_str()] = json!({
                        "name": s, "num_bytes": bytes, "num_examples": data.rows.len(),
                        "dataset_name": name,
                    });
                    for key in ["download_size", "dataset_size"] {
                        info[key] = json!(info[key].as_u64().unwrap_or(0) + bytes as u64);
                    }
                }
                let dataset_info = match config {
                    Some(c) => infos.remove(c).unwrap_or(Value::Null),
                    None => json!(infos),
                };
                ok(
                    &json!({"dataset_info": dataset_info, "pending": [], "failed": [],
                           "partial": false}),
                )
            }
            "size" => {
                let split_sizes: Vec<Value> = selected
                    .iter()
                    .map(|(c, s, data)| {
                        json!({
                            "dataset": dataset, "config": c, "split": s,
                            "num_bytes_parquet_files": num_bytes(data),
                            "num_bytes_memory": num_bytes(data), "num_rows": data.rows.len(),
                            "num_columns": data.features.len(), "estimated_num_rows": null,
                        })
                    })
                    .collect();
                let mut configs: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
                for (c, _, data) in &selected {
                    let entry = configs.entry(c.as_str()).or_default();
                    entry.0 += num_bytes(data);
                    entry.1 += data.rows.len();
                    entry.2 = entry.2.max(data.features.len());
                }
                let config_sizes: Vec<Value> = configs
                    .iter()
                    .map(|(c, (bytes, rows, columns))| {
                        json!({
                            "dataset": dataset, "config": c,
                            "num_bytes_original_files": bytes, "num_bytes_parquet_files": bytes,
                            "num_bytes_memory": bytes, "num_rows": rows, "num_columns": columns,
                            "estimated_num_rows": null,
                        })
                    })
                    .collect();
                let size = if config.is_some() {
                    json!({"config": config_sizes.first(), "splits": split_sizes})
                } else {
                    let bytes: usize = configs.values().map(|c| c.0).sum();
                    let rows: usize = configs.values().map(|c| c.1).sum();
                    json!({
                        "dataset": {
                            "dataset": dataset, "num_bytes_original_files": bytes,
                            "num_bytes_parquet_files": bytes, "num_bytes_memory": bytes,
                            "num_rows": rows, "estimated_num_rows": null,
                        },
                        "configs": config_sizes, "splits": split_sizes,
                    })
                };
                ok(&json!({"size": size, "pending": [], "failed": [], "partial": false}))
            }
            "parquet" => {
                let shards = repo
                    .resolve("refs/convert/parquet")
                    .map(|sha| parquet_shards(&repo.commits[&sha]))
                    .unwrap_or_default();
                let mut partial = false;
                let files: Vec<Value> = shards
                    .iter()
                    .filter(|(c, s, ..)| {
                        config.is_none_or(|w| w == c) && split.is_none_or(|w| w == s)
                    })
                    .map(|(c, s, is_partial, path, size)| {
                        partial |= *is_partial;
                        json!({
                            "dataset": dataset, "config": c, "split": s,
                            "url": format!(
                                "{}/datasets/{dataset}/resolve/{}/{}",
                                self.hub_url,
                                percent_encode("refs/convert/parquet", ""),
                                percent_encode(path, "/")
                            ),
                            "filename": path.rsplit('/').next().unwrap_or(path),
                            "size": size,
                        })
                    })
                    .collect();
                let mut body = json!({"parquet_files": files, "pending": [], "failed": [],
                                      "partial": partial});
                if config.is_some() && !selected.is_empty() {
                    body["features"] = merged_features(selected.iter().map(|(.., d)| *d));
                }
                ok(&body)
            }
            _ => error(404, "ResponseNotFound", "Not found."),
        }
    }

    // ----- CDN -------------------------------------------------------------------------------

    fn handle_cdn(&mut self, request: &Request) -> Response {
        let Some(sha256) = request.path_only().strip_prefix("/blob/") else {
            return Response::text(404, "Not Found");
        };
        if request.method != "GET" && request.method != "HEAD" {
            return Response::text(405, "Method Not Allowed");
        }
        let Some(blob) = self.blobs.get(sha256).cloned() else {
            return Response::text(404, "NoSuchKey: The specified key does not exist.");
        };
        let data: &[u8] = if self.cdn_wrong_size.contains(sha256) {
            &blob[..blob.len().saturating_sub(1)]
        } else {
            &blob
        };
        let mut response = serve_bytes(request, data, !self.cdn_ignore_range)
            .header("ETag", format!("\"{sha256}\""))
            .header(
                "Content-Disposition",
                format!("attachment; filename=\"{sha256}\""),
            )
            .header("Cache-Control", "public, max-age=604800, immutable");
        if request.method == "GET" && response.status < 300 {
            if let Some(after) = self.drop_once.remove(sha256) {
                response = response.with_behavior(Behavior::DropAfter(after));
            } else if let Some(pause) = self.stall_cdn {
                response = response.with_behavior(Behavior::Stall(pause));
            }
        }
        response
    }
}

/// The viewer's feature list (`[{feature_idx, name, type}]`) from either that list or a
/// `Features` dict (`{name: type}`).
fn viewer_features(features: &Value) -> Vec<Value> {
    match features {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut item = item.clone();
                if item.get("feature_idx").is_none() {
                    item["feature_idx"] = json!(i);
                }
                item
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| json!({"feature_idx": i, "name": name, "type": ty}))
            .collect(),
        other => panic!("viewer features must be a list or an object, got {other}"),
    }
}

/// The `Features` dict (`{name: type}`) of the union of the splits' features.
fn merged_features<'a>(splits: impl Iterator<Item = &'a ViewerSplit>) -> Value {
    let mut map = Map::new();
    for split in splits {
        for feature in &split.features {
            if let Some(name) = feature["name"].as_str() {
                map.insert(name.to_string(), feature["type"].clone());
            }
        }
    }
    Value::Object(map)
}

// ---------------------------------------------------------------------------------------------
// MockHub
// ---------------------------------------------------------------------------------------------

/// A mock Hugging Face Hub (`hub`) and its LFS CDN (`cdn`, another port) sharing one state.
pub(crate) struct MockHub {
    pub(crate) hub: MockServer,
    pub(crate) cdn: MockServer,
    state: Arc<Mutex<HubState>>,
}

impl MockHub {
    pub(crate) fn start() -> MockHub {
        let state = Arc::new(Mutex::new(HubState {
            hub_url: String::new(),
            cdn_url: String::new(),
            repos: BTreeMap::new(),
            blobs: HashMap::new(),
            // 2024-07-24T10:00:00Z
            clock: 1_721_815_200,
            request_seq: 0,
            token: None,
            rate_limit: (0, 0),
            fail: (0, 0),
            drop_once: HashMap::new(),
            cdn_ignore_range: false,
            cdn_wrong_size: HashSet::new(),
            html_once: false,
            page_size: 1000,
            stall_cdn: None,
        }));
        let cdn = {
            let state = state.clone();
            MockServer::start(move |request| lock(&state).handle_cdn(request))
        };
        let hub = {
            let state = state.clone();
            MockServer::start(move |request| lock(&state).handle_hub(request))
        };
        {
            let mut st = lock(&state);
            st.hub_url = hub.url();
            st.cdn_url = cdn.url();
        }
        MockHub { hub, cdn, state }
    }

    /// The Hub endpoint (`HF_ENDPOINT`), also the viewer base when followed by `/viewer`.
    pub(crate) fn url(&self) -> String {
        self.hub.url()
    }

    fn state(&self) -> MutexGuard<'_, HubState> {
        lock(&self.state)
    }

    /// Commits `files` (the whole tree) on `main` and returns the commit sha. Calling it again
    /// for the same repo makes a new commit; older commits stay resolvable by sha.
    pub(crate) fn add_dataset(&self, repo_id: &str, files: &[(&str, &[u8], bool)]) -> String {
        self.state().new_commit(repo_id, "main", files)
    }

    /// A model repository (`hf://models/{repo_id}`), like [`Self::add_dataset`].
    pub(crate) fn add_model(&self, repo_id: &str, files: &[(&str, &[u8], bool)]) -> String {
        self.state()
            .new_commit(&format!("models/{repo_id}"), "main", files)
    }

    /// Commits `files` (the whole tree) on branch `name` (e.g. `refs/convert/parquet`).
    pub(crate) fn add_branch(
        &self,
        repo_id: &str,
        name: &str,
        files: &[(&str, &[u8], bool)],
    ) -> String {
        self.state().new_commit(repo_id, name, files)
    }

    pub(crate) fn add_tag(&self, repo_id: &str, tag: &str, commit: &str) {
        let mut state = self.state();
        let repo = state.repos.get_mut(repo_id).expect("add_tag: unknown repo");
        assert!(
            repo.commits.contains_key(commit),
            "add_tag: unknown commit {commit}"
        );
        repo.tags.insert(tag.to_string(), commit.to_string());
    }

    fn with_repo(&self, repo_id: &str, edit: impl FnOnce(&mut Repo)) {
        let mut state = self.state();
        edit(state.repos.get_mut(repo_id).expect("unknown repo"));
    }

    /// Without the token: 401 `RepoNotFound` everywhere, hidden from `/api/datasets`.
    pub(crate) fn set_private(&self, repo_id: &str) {
        self.with_repo(repo_id, |repo| repo.private = true);
    }

    /// Metadata stays public; files need the token (401 `GatedRepo` without it) and, when
    /// `access_granted` is false, still get 403 `GatedRepo` with it.
    pub(crate) fn set_gated(&self, repo_id: &str, access_granted: bool) {
        self.with_repo(repo_id, |repo| repo.gated = Some(access_granted));
    }

    pub(crate) fn set_stats(&self, repo_id: &str, downloads: u64, likes: u64) {
        self.with_repo(repo_id, |repo| {
            repo.downloads = downloads;
            repo.likes = likes;
        });
    }

    /// The one valid token. A request with another bearer token gets 401 "Invalid credentials
    /// in Authorization header".
    pub(crate) fn set_token(&self, token: Option<&str>) {
        self.state().token = token.map(str::to_string);
    }

    /// The next `n` Hub requests get 429 with `Retry-After` and `RateLimit` headers.
    pub(crate) fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        self.state().rate_limit = (n, retry_after_secs);
    }

    /// The next `n` Hub requests get `status` with a JSON error body.
    pub(crate) fn fail_next(&self, n: usize, status: u16) {
        self.state().fail = (n, status);
    }

    /// The next CDN GET of this blob sends the headers, `after_bytes` body bytes, then closes.
    pub(crate) fn drop_cdn_body_once(&self, sha256: &str, after_bytes: usize) {
        self.state()
            .drop_once
            .insert(sha256.to_string(), after_bytes);
    }

    /// The CDN answers Range requests with 200 and the whole body.
    pub(crate) fn cdn_ignore_range(&self, on: bool) {
        self.state().cdn_ignore_range = on;
    }

    /// The CDN serves this blob one byte short of `X-Linked-Size`.
    pub(crate) fn cdn_wrong_size(&self, sha256: &str) {
        self.state().cdn_wrong_size.insert(sha256.to_string());
    }

    /// The next `/api/...` request gets 200 `text/html`.
    pub(crate) fn html_instead_of_json_once(&self) {
        self.state().html_once = true;
    }

    /// Page size of the tree listing and the dataset search (default 1000).
    pub(crate) fn page_size(&self, n: usize) {
        self.state().page_size = n.max(1);
    }

    /// Every CDN GET sends its headers, then waits this long before the body (zero: off).
    pub(crate) fn stall_cdn(&self, pause: Duration) {
        self.state().stall_cdn = (!pause.is_zero()).then_some(pause);
    }

    /// Viewer data for one split. `features`: the viewer list `[{name, type}]` (order kept) or a
    /// `Features` dict; `rows`: an array of row objects.
    pub(crate) fn set_viewer_rows(
        &self,
        repo_id: &str,
        config: &str,
        split: &str,
        features: &Value,
        rows: &Value,
    ) {
        let rows = rows
            .as_array()
            .expect("viewer rows must be a JSON array")
            .clone();
        let features = viewer_features(features);
        self.with_repo(repo_id, |repo| {
            repo.viewer.insert(
                (config.to_string(), split.to_string()),
                ViewerSplit { features, rows },
            );
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests
// ---------------------------------------------------------------------------------------------

struct Got {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        let (url, rel) = link.split_once(">;")?;
        rel.contains("rel=\"next\"")
            .then(|| url.trim_start_matches('<').to_string())
    }
}

/// No redirects, statuses are not errors.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn fetch(agent: &ureq::Agent, method: &str, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut response = agent
        .run(builder.body(()).expect("request"))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
    Got {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
    }
}

fn get(url: &str) -> Got {
    fetch(&agent(), "GET", url, &[])
}

fn post_form(url: &str, form: &str) -> Got {
    let mut response = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(form)
        .expect("POST");
    Got {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.body_mut().read_to_vec().expect("body"),
    }
}

const README: &[u8] = b"---\nlicense: mit\ntask_categories:\n- text-classification\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n---\n# Tiny\n\nA tiny dataset.\n";

fn big_blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// `acme/tiny` with a README, a regular CSV and an LFS parquet; returns (hub, commit, parquet).
fn tiny_hub() -> (MockHub, String, Vec<u8>) {
    let hub = MockHub::start();
    let parquet = big_blob(10_240);
    let sha = hub.add_dataset(
        "acme/tiny",
        &[
            ("README.md", README, false),
            ("data/extra.csv", b"a,b\n1,2\n", false),
            ("data/train-00000-of-00001.parquet", &parquet, true),
        ],
    );
    (hub, sha, parquet)
}

#[test]
fn mock_hashes_and_encodings() {
    assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        hex(&sha1(b"The quick brown fox jumps over the lazy dog")),
        "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
    );
    let long = vec![b'a'; 1_000];
    assert_eq!(
        hex(&sha1(&long)),
        "291e9a6c66994949b57ba5e650361e98fc36b1ba"
    );
    // `git hash-object` of an empty file and of "hello\n".
    assert_eq!(
        git_blob_sha1(b""),
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    );
    assert_eq!(
        git_blob_sha1(b"hello\n"),
        "ce013625030ba8dba906f756967f9e9ca394464a"
    );
    // The empty git tree.
    assert_eq!(
        tree_oid(&BTreeMap::new(), ""),
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    );
    for text in ["", "a", "ab", "abc", "{\"$offset\":7}"] {
        let encoded = base64_encode(text.as_bytes());
        assert_eq!(
            base64_decode(&encoded).unwrap(),
            text.as_bytes(),
            "{encoded}"
        );
    }
    assert_eq!(base64_encode(b"ab"), "YWI=");
    assert_eq!(iso8601(1_721_815_200), "2024-07-24T10:00:00.000Z");
    assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00.000Z");
    assert_eq!(
        percent_encode("refs/convert/parquet", ""),
        "refs%2Fconvert%2Fparquet"
    );
    assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
    let pointer = lfs_pointer(&"e".repeat(64), 440_473_133);
    assert_eq!(
        pointer.len(),
        134,
        "pointerSize of the huggingface.js example"
    );
}

#[test]
fn mock_server_keep_alive_head_and_body() {
    let server = MockServer::start(|request| {
        let body = format!(
            "{} {} {:?} {}",
            request.method,
            request.path_only(),
            request.query(),
            String::from_utf8_lossy(&request.body)
        );
        Response::text(200, &body).header("X-Custom", request.header("x-custom").unwrap_or("-"))
    });
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(
            b"GET /a?x=1&y=%2F+z&x=2 HTTP/1.1\r\nHost: h\r\nX-Custom: yes\r\n\r\n\
              POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
              HEAD /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let responses: Vec<&str> = raw.split("HTTP/1.1 ").filter(|r| !r.is_empty()).collect();
    assert_eq!(responses.len(), 3, "{raw}");
    assert!(responses[0].contains("Connection: keep-alive"), "{raw}");
    assert!(responses[0].contains("X-Custom: yes"), "{raw}");
    assert!(
        responses[0].ends_with(r#"GET /a [("x", "1"), ("y", "/ z"), ("x", "2")] "#),
        "{raw}"
    );
    assert!(responses[1].ends_with("POST /b [] hello"), "{raw}");
    // HEAD: the Content-Length of what GET would send, no body.
    assert!(responses[2].contains("Content-Length: 11\r\n"), "{raw}");
    assert!(responses[2].contains("Connection: close\r\n\r\n"), "{raw}");
    assert!(responses[2].ends_with("\r\n\r\n"), "{raw}");
    let log = server.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].header("X-CUSTOM"), Some("yes"));
    assert_eq!(log[1].body, b"hello");
    assert_eq!(log[2].method, "HEAD");
    assert_eq!(
        server.url(),
        format!("http://127.0.0.1:{}", server.addr.port())
    );
    let built = Response::text(201, "x").header("content-type", "text/csv");
    assert_eq!(built.get_header("Content-Type"), Some("text/csv"));
    assert_eq!(built.headers.len(), 1);

    // ureq reuses the pooled connection.
    let agent = agent();
    for _ in 0..3 {
        assert_eq!(
            fetch(&agent, "GET", &format!("{}/x", server.url()), &[]).status,
            200
        );
    }
    // A panicking handler becomes a 500, and the server keeps serving.
    let panicky = MockServer::start(|request| {
        assert!(request.path_only() != "/boom", "boom");
        Response::bytes(200, b"fine".to_vec()).header("X-A", "1")
    });
    assert_eq!(get(&format!("{}/boom", panicky.url())).status, 500);
    let fine = get(&format!("{}/ok", panicky.url()));
    assert_eq!(fine.body, b"fine");
    assert_eq!(
        fine.header("content-type"),
        Some("application/octet-stream")
    );
    // Dropping stops the server.
    let addr = panicky.addr;
    drop(panicky);
    let refused = ureq::Agent::config_builder()
        .build()
        .new_agent()
        .get(&format!("http://{addr}/ok"))
        .call();
    assert!(refused.is_err(), "the server still answers after Drop");
}

#[test]
fn mock_resolve_regular_file() {
    let (hub, sha, _) = tiny_hub();
    let url = format!("{}/datasets/acme/tiny/resolve/main/README.md", hub.url());
    let agent = agent();
    let head = fetch(&agent, "HEAD", &url, &[("accept-encoding", "identity")]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    let etag = format!("\"{}\"", git_blob_sha1(README));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(head.header("x-repo-commit"), Some(sha.as_str()));
    assert_eq!(
        head.header("content-length"),
        Some(README.len().to_string().as_str())
    );
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    assert!(
        head.header("x-request-id")
            .is_some_and(|id| id.starts_with("Root=1-"))
    );
    assert_eq!(head.header("x-linked-size"), None);

    let body = fetch(&agent, "GET", &url, &[]);
    assert_eq!(body.status, 200);
    assert_eq!(body.body, README);

    // Range → 206 + Content-Range; past the end → 416; suffix ranges.
    let partial = fetch(&agent, "GET", &url, &[("range", "bytes=4-")]);
    assert_eq!(partial.status, 206);
    assert_eq!(partial.body, &README[4..]);
    let total = README.len();
    assert_eq!(
        partial.header("content-range"),
        Some(format!("bytes 4-{}/{total}", total - 1).as_str())
    );
    let middle = fetch(&agent, "GET", &url, &[("range", "bytes=0-2")]);
    assert_eq!((middle.status, middle.body.as_slice()), (206, &b"---"[..]));
    let suffix = fetch(&agent, "GET", &url, &[("range", "bytes=-3")]);
    assert_eq!(suffix.body, &README[total - 3..]);
    let past = fetch(
        &agent,
        "GET",
        &url,
        &[("range", &format!("bytes={total}-"))],
    );
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{total}").as_str())
    );

    // If-None-Match → 304; by sha and by tag; `raw` of a regular file.
    let cached = fetch(&agent, "GET", &url, &[("if-none-match", &etag)]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    hub.add_tag("acme/tiny", "v1.0", &sha);
    for revision in [sha.as_str(), "v1.0", "refs%2Fheads%2Fmain"] {
        let got = get(&format!(
            "{}/datasets/acme/tiny/resolve/{revision}/data/extra.csv",
            hub.url()
        ));
        assert_eq!((got.status, got.body.as_slice()), (200, &b"a,b\n1,2\n"[..]));
    }
}

#[test]
fn mock_resolve_lfs_file_and_cdn() {
    let (hub, sha, parquet) = tiny_hub();
    let sha256 = sha256_hex(&parquet);
    let url = format!(
        "{}/datasets/acme/tiny/resolve/{sha}/data/train-00000-of-00001.parquet",
        hub.url()
    );
    let agent = agent();
    let head = fetch(
        &agent,
        "HEAD",
        &url,
        &[
            ("authorization", "Bearer hf_anything"),
            ("accept-encoding", "identity"),
        ],
    );
    assert_eq!(head.status, 302);
    let location = format!("{}/blob/{sha256}", hub.cdn.url());
    assert_eq!(head.header("location"), Some(location.as_str()));
    assert_eq!(
        head.header("x-linked-etag"),
        Some(format!("\"{sha256}\"").as_str())
    );
    assert_eq!(head.header("x-linked-size"), Some("10240"));
    assert_eq!(head.header("x-repo-commit"), Some(sha.as_str()));
    let pointer = lfs_pointer(&sha256, parquet.len());
    assert_eq!(
        head.header("etag"),
        Some(format!("\"{}\"", git_blob_sha1(pointer.as_bytes())).as_str())
    );
    // §1.7: the redirect's Content-Length is not the file size.
    let redirect_length: usize = head.header("content-length").unwrap().parse().unwrap();
    assert_ne!(redirect_length, parquet.len());
    assert_ne!(hub.cdn.addr.port(), hub.hub.addr.port());

    // The CDN: full, ranged, HEAD, past the end, unknown blob.
    let full = fetch(&agent, "GET", &location, &[]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, parquet);
    assert_eq!(full.header("etag"), Some(format!("\"{sha256}\"").as_str()));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let ranged = fetch(&agent, "GET", &location, &[("range", "bytes=10000-")]);
    assert_eq!(ranged.status, 206);
    assert_eq!(
        ranged.header("content-range"),
        Some("bytes 10000-10239/10240")
    );
    assert_eq!(ranged.body, &parquet[10_000..]);
    let head_cdn = fetch(&agent, "HEAD", &location, &[]);
    assert_eq!(head_cdn.header("content-length"), Some("10240"));
    assert_eq!(
        fetch(&agent, "GET", &location, &[("range", "bytes=10240-")]).status,
        416
    );
    assert_eq!(
        get(&format!("{}/blob/{}", hub.cdn.url(), "0".repeat(64))).status,
        404
    );

    // Knob: cdn_ignore_range → 200 with the whole body.
    hub.cdn_ignore_range(true);
    let ignored = fetch(&agent, "GET", &location, &[("range", "bytes=10000-")]);
    assert_eq!((ignored.status, ignored.body.len()), (200, 10_240));
    assert_eq!(ignored.header("content-range"), None);
    hub.cdn_ignore_range(false);

    // `raw` returns the pointer instead of redirecting.
    let raw = get(&format!(
        "{}/datasets/acme/tiny/raw/main/data/train-00000-of-00001.parquet",
        hub.url()
    ));
    assert_eq!((raw.status, raw.body.as_slice()), (200, pointer.as_bytes()));

    // A following client: the CDN never sees the authorization header.
    let following = ureq::Agent::config_builder().build().new_agent();
    let mut response = following
        .get(&url)
        .header("authorization", "Bearer hf_anything")
        .call()
        .unwrap();
    assert_eq!(response.body_mut().read_to_vec().unwrap(), parquet);
    let cdn_log = hub.cdn.requests();
    assert!(!cdn_log.is_empty());
    assert!(cdn_log.iter().all(|r| r.header("authorization").is_none()));
    assert_eq!(
        cdn_log
            .iter()
            .filter(|r| r.header("range").is_some())
            .count(),
        3
    );
    assert!(hub.hub.requests().iter().all(|r| {
        r.header("authorization")
            .is_none_or(|a| a == "Bearer hf_anything")
    }));
}

#[test]
fn mock_error_codes() {
    let (hub, sha, _) = tiny_hub();
    let base = hub.url();
    let missing = fetch(
        &agent(),
        "HEAD",
        &format!("{base}/datasets/acme/tiny/resolve/main/tiny.py"),
        &[],
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-error-code"), Some("EntryNotFound"));
    assert_eq!(missing.header("x-repo-commit"), Some(sha.as_str()));
    assert!(missing.header("x-request-id").is_some());

    let no_repo = get(&format!("{base}/datasets/acme/nope/resolve/main/README.md"));
    assert_eq!(no_repo.status, 404);
    assert_eq!(no_repo.header("x-error-code"), Some("RepoNotFound"));
    assert_eq!(no_repo.json()["error"], "Repository not found");
    assert_eq!(
        no_repo.header("x-error-message"),
        Some("Repository not found")
    );

    let no_rev = get(&format!("{base}/datasets/acme/tiny/resolve/nope/README.md"));
    assert_eq!(no_rev.status, 404);
    assert_eq!(no_rev.header("x-error-code"), Some("RevisionNotFound"));
    for url in [
        format!("{base}/api/datasets/acme/tiny/revision/nope"),
        format!("{base}/api/datasets/acme/tiny/tree/nope"),
        // An unencoded revision with slashes is not resolved.
        format!("{base}/api/datasets/acme/tiny/revision/refs/convert/parquet"),
    ] {
        let got = get(&url);
        assert_eq!(
            (got.status, got.header("x-error-code")),
            (404, Some("RevisionNotFound")),
            "{url}"
        );
    }
    let no_info = get(&format!("{base}/api/datasets/acme/nope"));
    assert_eq!(
        (no_info.status, no_info.header("x-error-code")),
        (404, Some("RepoNotFound"))
    );
    let no_dir = get(&format!("{base}/api/datasets/acme/tiny/tree/main/nope"));
    assert_eq!(
        (no_dir.status, no_dir.header("x-error-code")),
        (404, Some("EntryNotFound"))
    );
    let unknown = get(&format!("{base}/api/nothing"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("x-error-code"), None);
    let bad_expand = get(&format!("{base}/api/datasets/acme/tiny?expand=bogus"));
    assert_eq!(bad_expand.status, 400);
    let bad_cursor = get(&format!("{base}/api/datasets?cursor=not-base64!"));
    assert_eq!(bad_cursor.status, 400);
    let wrong_method = fetch(
        &agent(),
        "DELETE",
        &format!("{base}/api/datasets/acme/tiny"),
        &[],
    );
    assert_eq!(wrong_method.status, 405);
}

#[test]
fn mock_dataset_info_refs_and_commits() {
    let (hub, first, parquet) = tiny_hub();
    let base = hub.url();
    let info = get(&format!("{base}/api/datasets/acme/tiny?blobs=True")).json();
    assert_eq!(info["id"], "acme/tiny");
    assert_eq!(info["author"], "acme");
    assert_eq!(info["sha"], first.as_str());
    assert_eq!(info["private"], false);
    assert_eq!(info["gated"], false);
    assert_eq!(info["lastModified"], "2024-07-24T10:01:00.000Z");
    assert_eq!(info["cardData"]["license"], "mit");
    assert_eq!(
        info["cardData"]["configs"][0]["data_files"][0]["path"],
        "data/train-*"
    );
    let tags = info["tags"].as_array().unwrap();
    for tag in [
        "task_categories:text-classification",
        "license:mit",
        "format:parquet",
        "region:us",
    ] {
        assert!(tags.iter().any(|t| t == tag), "{tag} not in {tags:?}");
    }
    assert_eq!(info["_id"].as_str().unwrap().len(), 24);
    let siblings = info["siblings"].as_array().unwrap();
    let lfs = siblings
        .iter()
        .find(|s| s["rfilename"] == "data/train-00000-of-00001.parquet")
        .unwrap();
    let pointer = lfs_pointer(&sha256_hex(&parquet), parquet.len());
    assert_eq!(lfs["size"], 10_240);
    assert_eq!(lfs["blobId"], git_blob_sha1(pointer.as_bytes()));
    assert_eq!(lfs["lfs"]["sha256"], sha256_hex(&parquet));
    assert_eq!(lfs["lfs"]["pointerSize"], pointer.len());
    let readme = siblings
        .iter()
        .find(|s| s["rfilename"] == "README.md")
        .unwrap();
    assert_eq!(readme["blobId"], git_blob_sha1(README));
    assert!(readme.get("lfs").is_none());
    // Without blobs=true, siblings only carry rfilename.
    let plain = get(&format!("{base}/api/datasets/acme/tiny")).json();
    assert_eq!(plain["siblings"][0], json!({"rfilename": "README.md"}));
    // expand keeps only the asked fields (plus _id and id).
    let expanded = get(&format!(
        "{base}/api/datasets/acme/tiny?expand=sha&expand=cardData"
    ))
    .json();
    let mut keys: Vec<&String> = expanded.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["_id", "cardData", "id", "sha"]);
    assert_eq!(
        get(&format!(
            "{base}/api/datasets/acme/tiny?expand=sha&blobs=true"
        ))
        .status,
        400
    );

    // A second commit on main; the first one stays resolvable by sha and by tag.
    hub.add_tag("acme/tiny", "v1", &first);
    let second = hub.add_dataset("acme/tiny", &[("README.md", b"no card", false)]);
    assert_ne!(first, second);
    assert_eq!(second.len(), 40);
    assert!(second.chars().all(|c| c.is_ascii_hexdigit()));
    let now = get(&format!("{base}/api/datasets/acme/tiny/revision/main")).json();
    assert_eq!(now["sha"], second.as_str());
    assert!(now.get("cardData").is_none());
    assert_eq!(now["siblings"].as_array().unwrap().len(), 1);
    for revision in [first.as_str(), "v1", "refs%2Ftags%2Fv1"] {
        let old = get(&format!(
            "{base}/api/datasets/acme/tiny/revision/{revision}"
        ))
        .json();
        assert_eq!(old["sha"], first.as_str(), "{revision}");
        assert_eq!(old["siblings"].as_array().unwrap().len(), 3);
    }
    let old_file = get(&format!(
        "{base}/datasets/acme/tiny/resolve/{first}/data/extra.csv"
    ));
    assert_eq!(old_file.status, 200);
    let gone = get(&format!(
        "{base}/datasets/acme/tiny/resolve/main/data/extra.csv"
    ));
    assert_eq!(gone.header("x-error-code"), Some("EntryNotFound"));
    assert_eq!(gone.header("x-repo-commit"), Some(second.as_str()));

    // Branches, converts, tags, pull requests.
    let convert = hub.add_branch(
        "acme/tiny",
        "refs/convert/parquet",
        &[("default/train/0000.parquet", b"PAR1", true)],
    );
    let pr = hub.add_branch("acme/tiny", "refs/pr/1", &[("x.txt", b"x", false)]);
    let dev = hub.add_branch("acme/tiny", "dev", &[("y.txt", b"y", false)]);
    let refs = get(&format!("{base}/api/datasets/acme/tiny/refs")).json();
    assert_eq!(
        refs["branches"],
        json!([
            {"name": "dev", "ref": "refs/heads/dev", "targetCommit": dev},
            {"name": "main", "ref": "refs/heads/main", "targetCommit": second},
        ])
    );
    assert_eq!(
        refs["converts"],
        json!([{"name": "parquet", "ref": "refs/convert/parquet", "targetCommit": convert}])
    );
    assert_eq!(
        refs["tags"],
        json!([{"name": "v1", "ref": "refs/tags/v1", "targetCommit": first}])
    );
    assert!(refs.get("pullRequests").is_none());
    let with_prs = get(&format!("{base}/api/datasets/acme/tiny/refs?include_prs=1")).json();
    assert_eq!(
        with_prs["pullRequests"],
        json!([{"name": "1", "ref": "refs/pr/1", "targetCommit": pr}])
    );
    let converted = get(&format!(
        "{base}/datasets/acme/tiny/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet"
    ));
    assert_eq!(converted.status, 302);
    assert_eq!(converted.header("x-repo-commit"), Some(convert.as_str()));
}

#[test]
fn mock_tree_listing_and_pagination() {
    let hub = MockHub::start();
    let sha = hub.add_dataset(
        "acme/tree",
        &[
            (
                ".gitattributes",
                b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
                false,
            ),
            ("README.md", b"# t\n", false),
            ("data/a.csv", b"a\n", false),
            ("data/sub/b.csv", b"b\n", false),
            ("data/sub/c.parquet", b"PAR1c", true),
            ("other/d.txt", b"d\n", false),
        ],
    );
    let base = format!("{}/api/datasets/acme/tree/tree", hub.url());
    let paths = |entries: &Value| -> Vec<String> {
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}:{}",
                    e["type"].as_str().unwrap(),
                    e["path"].as_str().unwrap()
                )
            })
            .collect()
    };
    let top = get(&format!("{base}/main?recursive=false&expand=false"));
    assert_eq!(top.header("link"), None);
    assert_eq!(
        paths(&top.json()),
        [
            "file:.gitattributes",
            "file:README.md",
            "directory:data",
            "directory:other"
        ]
    );
    let sub = get(&format!("{base}/{sha}/data%2Fsub")).json();
    assert_eq!(
        paths(&sub),
        ["file:data/sub/b.csv", "file:data/sub/c.parquet"]
    );
    let lfs = &sub[1];
    let pointer = lfs_pointer(&sha256_hex(b"PAR1c"), 5);
    assert_eq!(lfs["oid"], git_blob_sha1(pointer.as_bytes()));
    assert_eq!(lfs["size"], 5);
    assert_eq!(
        lfs["lfs"],
        json!({"oid": sha256_hex(b"PAR1c"), "size": 5, "pointerSize": pointer.len()})
    );
    assert!(lfs.get("xetHash").is_none());
    assert_eq!(sub[0]["oid"], git_blob_sha1(b"b\n"));
    // Raw slashes in the path work too.
    assert_eq!(get(&format!("{base}/main/data/sub")).json(), sub);
    let dir = &top.json()[2];
    assert_eq!(dir["size"], 0);
    assert_eq!(dir["oid"].as_str().unwrap().len(), 40);

    // Recursive listing, paginated by 2 through Link + cursor.
    hub.page_size(2);
    let mut url = format!("{base}/main?recursive=true&expand=false");
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = get(&url);
        assert_eq!(page.status, 200);
        pages += 1;
        all.extend(paths(&page.json()));
        match page.next_link() {
            Some(next) => {
                assert!(next.starts_with(&base), "{next}");
                assert!(
                    next.contains("recursive=true&expand=false&cursor="),
                    "{next}"
                );
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(
        all,
        [
            "file:.gitattributes",
            "file:README.md",
            "directory:data",
            "file:data/a.csv",
            "directory:data/sub",
            "file:data/sub/b.csv",
            "file:data/sub/c.parquet",
            "directory:other",
            "file:other/d.txt"
        ]
    );

    // expand=true adds lastCommit: unchanged files keep the commit that last touched them.
    let next = hub.add_dataset(
        "acme/tree",
        &[
            ("README.md", b"# t\n", false),
            ("data/a.csv", b"changed\n", false),
        ],
    );
    hub.page_size(1000);
    let expanded = get(&format!("{base}/main?expand=true")).json();
    assert_eq!(expanded[0]["path"], "README.md");
    assert_eq!(expanded[0]["lastCommit"]["id"], sha.as_str());
    assert_eq!(expanded[1]["path"], "data");
    assert_eq!(expanded[1]["lastCommit"]["id"], next.as_str());
    assert!(
        expanded[1]["lastCommit"]["date"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // paths-info: form-encoded (huggingface_hub) and JSON (huggingface.js); missing paths omitted.
    let info = post_form(
        &format!("{}/api/datasets/acme/tree/paths-info/{sha}", hub.url()),
        "paths=data%2Fsub%2Fc.parquet&paths=missing.txt&paths=data&expand=False",
    );
    assert_eq!(info.status, 200);
    assert_eq!(
        paths(&info.json()),
        ["file:data/sub/c.parquet", "directory:data"]
    );
    assert_eq!(info.json()[0]["lfs"]["oid"], sha256_hex(b"PAR1c"));
    assert_eq!(info.json()[1]["oid"], dir["oid"]);
    let mut response = agent()
        .post(&format!(
            "{}/api/datasets/acme/tree/paths-info/main",
            hub.url()
        ))
        .header("content-type", "application/json")
        .send(r#"{"paths":["README.md"],"expand":true}"#)
        .unwrap();
    let json_info: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(json_info[0]["path"], "README.md");
    assert_eq!(json_info[0]["lastCommit"]["id"], sha.as_str());
    assert_eq!(
        post_form(
            &format!("{}/api/datasets/acme/tree/paths-info/main", hub.url()),
            ""
        )
        .status,
        400
    );
}

#[test]
fn mock_list_datasets_search_and_pagination() {
    let hub = MockHub::start();
    for name in [
        "acme/alpha",
        "acme/beta",
        "acme/gamma",
        "other/alpha-2",
        "glue",
    ] {
        hub.add_dataset(name, &[("README.md", b"---\nlicense: mit\n---\n", false)]);
    }
    hub.add_dataset("acme/secret", &[("a.txt", b"a", false)]);
    hub.set_private("acme/secret");
    hub.set_stats("acme/gamma", 100, 5);
    hub.set_stats("acme/alpha", 50, 9);
    let base = format!("{}/api/datasets", hub.url());
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = get(&base);
    assert_eq!(
        ids(&all.json()),
        [
            "acme/alpha",
            "acme/beta",
            "acme/gamma",
            "glue",
            "other/alpha-2"
        ]
    );
    let item = &all.json()[0];
    let mut keys: Vec<&String> = item.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "_id",
            "downloads",
            "gated",
            "id",
            "lastModified",
            "likes",
            "private",
            "tags"
        ]
    );
    assert_eq!(
        ids(&get(&format!("{base}?search=alpha")).json()),
        ["acme/alpha", "other/alpha-2"]
    );
    assert_eq!(
        ids(&get(&format!("{base}?author=acme&sort=downloads")).json()),
        ["acme/gamma", "acme/alpha", "acme/beta"]
    );
    assert_eq!(
        ids(&get(&format!("{base}?author=acme&sort=likes&direction=1")).json()),
        ["acme/beta", "acme/gamma", "acme/alpha"]
    );
    assert_eq!(
        ids(&get(&format!("{base}?filter=license%3Amit&author=other")).json()),
        ["other/alpha-2"]
    );
    let full = get(&format!("{base}?search=glue&full=true")).json();
    assert_eq!(full[0]["cardData"]["license"], "mit");
    assert_eq!(full[0]["siblings"], json!([{"rfilename": "README.md"}]));
    let expanded = get(&format!("{base}?search=glue&expand=likes")).json();
    assert_eq!(
        expanded,
        json!([{"_id": expanded[0]["_id"], "id": "glue", "likes": 0}])
    );

    // `limit` is the page size; Link carries all params plus the cursor.
    let mut url = format!("{base}?author=acme&limit=2&sort=downloads&direction=-1");
    let first = get(&url);
    assert_eq!(ids(&first.json()), ["acme/gamma", "acme/alpha"]);
    let next = first.next_link().expect("a next page");
    assert!(
        next.starts_with(&format!(
            "{base}?author=acme&limit=2&sort=downloads&direction=-1&cursor="
        )),
        "{next}"
    );
    assert!(
        next.contains("%3D"),
        "the cursor is percent-encoded base64: {next}"
    );
    url = next;
    let second = get(&url);
    assert_eq!(ids(&second.json()), ["acme/beta"]);
    assert_eq!(second.next_link(), None);

    // page_size caps the page size as the server would.
    hub.page_size(3);
    let capped = get(&base);
    assert_eq!(capped.json().as_array().unwrap().len(), 3);
    assert!(capped.next_link().is_some());

    // A namespace-less repo id resolves on every route.
    let glue = get(&format!("{}/api/datasets/glue/tree/main", hub.url())).json();
    assert_eq!(glue[0]["path"], "README.md");
    let readme = get(&format!(
        "{}/datasets/glue/resolve/main/README.md",
        hub.url()
    ));
    assert_eq!(readme.status, 200);
}

#[test]
fn mock_auth_private_and_gated() {
    let (hub, _, _) = tiny_hub();
    hub.add_dataset("acme/private", &[("a.txt", b"secret", false)]);
    hub.set_private("acme/private");
    hub.add_dataset("acme/gated", &[("a.txt", b"gated", false)]);
    hub.set_gated("acme/gated", true);
    hub.add_dataset("acme/denied", &[("a.txt", b"denied", false)]);
    hub.set_gated("acme/denied", false);
    hub.set_token(Some("hf_secret"));
    let base = hub.url();
    let agent = agent();
    let good = [("authorization", "Bearer hf_secret")];
    let bad = [("authorization", "Bearer hf_wrong")];

    // Private: 401 RepoNotFound without the token, hidden from the listing.
    for url in [
        format!("{base}/api/datasets/acme/private"),
        format!("{base}/datasets/acme/private/resolve/main/a.txt"),
        format!("{base}/api/datasets/acme/private/tree/main"),
    ] {
        let denied = fetch(&agent, "GET", &url, &[]);
        assert_eq!(
            (denied.status, denied.header("x-error-code")),
            (401, Some("RepoNotFound"))
        );
        assert_eq!(fetch(&agent, "GET", &url, &good).status, 200, "{url}");
    }
    let listed = |headers: &[(&str, &str)]| {
        fetch(&agent, "GET", &format!("{base}/api/datasets"), headers)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "acme/private")
    };
    assert!(!listed(&[]));
    assert!(listed(&good));
    // A wrong token: 401 with the message clients use to tell it from RepoNotFound.
    let wrong = fetch(
        &agent,
        "GET",
        &format!("{base}/api/datasets/acme/tiny"),
        &bad,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.header("x-error-message"),
        Some("Invalid credentials in Authorization header")
    );
    assert_eq!(wrong.header("x-error-code"), None);
    // Public repos need no token.
    assert_eq!(
        fetch(
            &agent,
            "GET",
            &format!("{base}/api/datasets/acme/tiny"),
            &[]
        )
        .status,
        200
    );

    // Gated: metadata public, files need the token; not granted → 403.
    let info = fetch(
        &agent,
        "GET",
        &format!("{base}/api/datasets/acme/gated"),
        &[],
    );
    assert_eq!(
        (info.status, info.json()["gated"].clone()),
        (200, json!("auto"))
    );
    let file = format!("{base}/datasets/acme/gated/resolve/main/a.txt");
    let anonymous = fetch(&agent, "HEAD", &file, &[]);
    assert_eq!(
        (anonymous.status, anonymous.header("x-error-code")),
        (401, Some("GatedRepo"))
    );
    assert_eq!(fetch(&agent, "GET", &file, &good).body, b"gated");
    let denied = fetch(
        &agent,
        "GET",
        &format!("{base}/datasets/acme/denied/resolve/main/a.txt"),
        &good,
    );
    assert_eq!(
        (denied.status, denied.header("x-error-code")),
        (403, Some("GatedRepo"))
    );
    assert_eq!(
        fetch(
            &agent,
            "GET",
            &format!("{base}/api/datasets/acme/denied"),
            &[]
        )
        .json()["gated"],
        "manual"
    );
    assert_eq!(
        fetch(
            &agent,
            "GET",
            &format!("{base}/api/datasets?gated=true"),
            &[]
        )
        .json()
        .as_array()
        .unwrap()
        .len(),
        2
    );

    hub.set_token(None);
    let nobody = fetch(
        &agent,
        "GET",
        &format!("{base}/api/datasets/acme/private"),
        &good,
    );
    assert_eq!(nobody.status, 401);
}

#[test]
fn mock_rate_limit_failures_and_html() {
    let (hub, _, _) = tiny_hub();
    let url = format!("{}/api/datasets/acme/tiny", hub.url());
    hub.rate_limit_next(2, 7);
    for _ in 0..2 {
        let limited = get(&url);
        assert_eq!(limited.status, 429);
        assert_eq!(limited.header("retry-after"), Some("7"));
        assert_eq!(limited.header("ratelimit"), Some("\"api\";r=0;t=7"));
        assert_eq!(
            limited.header("ratelimit-policy"),
            Some("\"fixed window\";\"api\";q=500;w=300")
        );
        assert!(limited.json()["error"].is_string());
        assert!(limited.header("x-request-id").is_some());
    }
    assert_eq!(get(&url).status, 200);

    hub.fail_next(1, 503);
    let failed = get(&format!(
        "{}/datasets/acme/tiny/resolve/main/README.md",
        hub.url()
    ));
    assert_eq!(failed.status, 503);
    assert_eq!(failed.json()["error"], "Service Unavailable");
    assert_eq!(get(&url).status, 200);

    // The next /api request gets an HTML page; resolve requests do not consume it.
    hub.html_instead_of_json_once();
    let readme = get(&format!(
        "{}/datasets/acme/tiny/resolve/main/README.md",
        hub.url()
    ));
    assert_eq!(readme.body, README);
    let html = get(&url);
    assert_eq!(html.status, 200);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(html.body.starts_with(b"<!doctype html>"));
    assert!(serde_json::from_slice::<Value>(&html.body).is_err());
    assert_eq!(get(&url).json()["id"], "acme/tiny");
}

#[test]
fn mock_cdn_drop_stall_and_wrong_size() {
    let (hub, _, parquet) = tiny_hub();
    let sha256 = sha256_hex(&parquet);
    let location = format!("{}/blob/{sha256}", hub.cdn.url());
    let agent = agent();

    // DropAfter: full Content-Length, 1000 bytes, then the connection closes.
    hub.drop_cdn_body_once(&sha256, 1000);
    let mut response = agent.get(&location).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-length")
            .unwrap()
            .to_str()
            .unwrap(),
        "10240"
    );
    let mut received = Vec::new();
    let result = response.body_mut().as_reader().read_to_end(&mut received);
    assert!(
        result.is_err(),
        "a short body must be an error for the client"
    );
    assert_eq!(received.len(), 1000);
    assert_eq!(received, &parquet[..1000]);
    // Resume with Range; the drop happens only once.
    let rest = fetch(&agent, "GET", &location, &[("range", "bytes=1000-")]);
    assert_eq!(rest.status, 206);
    assert_eq!(rest.body, &parquet[1000..]);
    // DropAfter on a ranged response counts from the range start.
    hub.drop_cdn_body_once(&sha256, 10);
    let mut ranged = agent
        .get(&location)
        .header("range", "bytes=5000-")
        .call()
        .unwrap();
    assert_eq!(ranged.status().as_u16(), 206);
    let mut short = Vec::new();
    assert!(
        ranged
            .body_mut()
            .as_reader()
            .read_to_end(&mut short)
            .is_err()
    );
    assert_eq!(short, &parquet[5000..5010]);

    // Wrong size: one byte less than X-Linked-Size.
    hub.cdn_wrong_size(&sha256);
    let head = fetch(
        &agent,
        "HEAD",
        &format!(
            "{}/datasets/acme/tiny/resolve/main/data/train-00000-of-00001.parquet",
            hub.url()
        ),
        &[],
    );
    assert_eq!(head.header("x-linked-size"), Some("10240"));
    let wrong = fetch(&agent, "GET", &location, &[]);
    assert_eq!(wrong.status, 200);
    assert_eq!(wrong.body.len(), 10_239);

    // Stall: headers first, the body after the pause.
    hub.stall_cdn(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let mut stalled = agent.get(&location).call().unwrap();
    let headers_after = started.elapsed();
    let body = stalled.body_mut().read_to_vec().unwrap();
    assert_eq!(body.len(), 10_239);
    assert!(headers_after < Duration::from_secs(1), "{headers_after:?}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // A client with a body timeout gives up.
    let impatient = ureq::Agent::config_builder()
        .timeout_recv_body(Some(Duration::from_millis(200)))
        .build()
        .new_agent();
    let mut timed_out = impatient.get(&location).call().unwrap();
    assert!(timed_out.body_mut().read_to_vec().is_err());
    hub.stall_cdn(Duration::ZERO);
    let started = std::time::Instant::now();
    get(&location);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn mock_viewer_and_parquet_export() {
    let (hub, _, _) = tiny_hub();
    let convert = hub.add_branch(
        "acme/tiny",
        "refs/convert/parquet",
        &[
            ("default/train/0000.parquet", b"PAR1train0", true),
            ("default/train/0001.parquet", b"PAR1train1", true),
            ("default/test/0000.parquet", b"PAR1test", true),
            ("extra/partial-train/0000.parquet", b"PAR1partial", true),
        ],
    );
    let features = json!([
        {"name": "text", "type": {"dtype": "string", "_type": "Value"}},
        {"name": "label", "type": {"names": ["neg", "pos"], "_type": "ClassLabel"}},
    ]);
    let rows: Vec<Value> = (0..250)
        .map(|i| json!({"text": format!("row {i}"), "label": i % 2}))
        .collect();
    hub.set_viewer_rows("acme/tiny", "default", "train", &features, &json!(rows));
    hub.set_viewer_rows(
        "acme/tiny",
        "default",
        "test",
        &json!({"text": {"dtype": "string", "_type": "Value"}}),
        &json!([{"text": "t"}]),
    );
    let v = format!("{}/viewer", hub.url());

    let valid = get(&format!("{v}/is-valid?dataset=acme/tiny"));
    assert_eq!(valid.header("access-control-allow-origin"), Some("*"));
    assert_eq!(valid.header("cache-control"), Some("max-age=120"));
    assert_eq!(valid.json()["viewer"], true);
    let splits = get(&format!("{v}/splits?dataset=acme%2Ftiny")).json();
    assert_eq!(
        splits,
        json!({"splits": [
            {"dataset": "acme/tiny", "config": "default", "split": "test"},
            {"dataset": "acme/tiny", "config": "default", "split": "train"},
        ], "pending": [], "failed": []})
    );

    let first = get(&format!(
        "{v}/first-rows?dataset=acme/tiny&config=default&split=train"
    ))
    .json();
    assert_eq!(first["features"][1]["feature_idx"], 1);
    assert_eq!(first["features"][1]["name"], "label");
    assert_eq!(first["rows"].as_array().unwrap().len(), 100);
    assert_eq!(first["truncated"], true);
    assert_eq!(
        first["rows"][3],
        json!({"row_idx": 3, "row": {"text": "row 3", "label": 1}, "truncated_cells": []})
    );

    let page = get(&format!(
        "{v}/rows?dataset=acme/tiny&config=default&split=train&offset=200&length=100"
    ))
    .json();
    assert_eq!(page["rows"].as_array().unwrap().len(), 50);
    assert_eq!(page["rows"][0]["row_idx"], 200);
    assert_eq!(page["num_rows_total"], 250);
    assert_eq!(page["num_rows_per_page"], 100);
    assert_eq!(page["partial"], false);
    let too_long = get(&format!(
        "{v}/rows?dataset=acme/tiny&config=default&split=train&length=101"
    ));
    assert_eq!(
        (too_long.status, too_long.header("x-error-code")),
        (422, Some("InvalidParameter"))
    );
    for url in [
        format!("{v}/rows?dataset=acme/tiny&config=default"),
        format!("{v}/first-rows?dataset=acme/tiny"),
        format!("{v}/splits"),
        format!("{v}/info?config=default"),
    ] {
        let missing = get(&url);
        assert_eq!(missing.status, 422, "{url}");
        assert_eq!(
            missing.header("x-error-code"),
            Some("MissingRequiredParameter")
        );
        assert!(
            missing.json()["error"]
                .as_str()
                .unwrap()
                .contains("required")
        );
    }
    let bad_split = get(&format!(
        "{v}/rows?dataset=acme/tiny&config=default&split=nope"
    ));
    assert_eq!(
        (bad_split.status, bad_split.header("x-error-code")),
        (404, Some("ResponseNotFound"))
    );
    let unknown = get(&format!("{v}/splits?dataset=acme/nope"));
    assert_eq!(
        (unknown.status, unknown.header("x-error-code")),
        (401, Some("ExternalUnauthenticatedError"))
    );

    let info = get(&format!("{v}/info?dataset=acme/tiny")).json();
    let default = &info["dataset_info"]["default"];
    assert_eq!(default["config_name"], "default");
    assert_eq!(default["features"]["label"]["_type"], "ClassLabel");
    assert_eq!(default["splits"]["train"]["num_examples"], 250);
    let single = get(&format!("{v}/info?dataset=acme/tiny&config=default")).json();
    assert_eq!(single["dataset_info"]["config_name"], "default");

    let size = get(&format!("{v}/size?dataset=acme/tiny")).json();
    assert_eq!(size["size"]["dataset"]["num_rows"], 251);
    assert_eq!(size["size"]["splits"].as_array().unwrap().len(), 2);
    let config_size = get(&format!("{v}/size?dataset=acme/tiny&config=default")).json();
    assert_eq!(config_size["size"]["config"]["num_columns"], 2);

    let parquet = get(&format!("{v}/parquet?dataset=acme/tiny")).json();
    let files = parquet["parquet_files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(parquet["partial"], true);
    let shard = files
        .iter()
        .find(|f| f["split"] == "train" && f["config"] == "default")
        .unwrap();
    assert_eq!(shard["filename"], "0000.parquet");
    assert_eq!(shard["size"], 10);
    let shard_url = shard["url"].as_str().unwrap();
    assert_eq!(
        shard_url,
        format!(
            "{}/datasets/acme/tiny/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet",
            hub.url()
        )
    );
    let following = ureq::Agent::config_builder().build().new_agent();
    let mut downloaded = following.get(shard_url).call().unwrap();
    assert_eq!(downloaded.body_mut().read_to_vec().unwrap(), b"PAR1train0");
    let with_config = get(&format!("{v}/parquet?dataset=acme/tiny&config=default")).json();
    assert_eq!(with_config["parquet_files"].as_array().unwrap().len(), 3);
    assert_eq!(with_config["features"]["text"]["_type"], "Value");

    // §1.9 /api/datasets/{id}/parquet.
    let api = format!("{}/api/datasets/acme/tiny/parquet", hub.url());
    let all = get(&api).json();
    assert_eq!(
        all["default"]["train"],
        json!([
            format!("{api}/default/train/0.parquet"),
            format!("{api}/default/train/1.parquet")
        ])
    );
    assert_eq!(all["extra"]["train"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(&format!("{api}/default")).json()["test"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get(&format!("{api}/default/test"))
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let redirect = get(&format!("{api}/default/train/1.parquet"));
    assert_eq!(redirect.status, 302);
    assert_eq!(redirect.header("x-repo-commit"), Some(convert.as_str()));
    assert!(redirect.header("location").unwrap().ends_with(
        "/datasets/acme/tiny/resolve/refs%2Fconvert%2Fparquet/default/train/0001.parquet"
    ));

    // A repo without viewer data: not ready.
    hub.add_dataset("acme/raw", &[("a.csv", b"a\n", false)]);
    let not_ready = get(&format!("{v}/splits?dataset=acme/raw"));
    assert_eq!(
        (not_ready.status, not_ready.header("x-error-code")),
        (500, Some("ResponseNotReadyError"))
    );
    assert_eq!(
        get(&format!("{v}/is-valid?dataset=acme/raw")).json()["viewer"],
        false
    );
}

/// Runs the real `huggingface_hub` client (the test venv's, installed with `datasets`) against
/// the mock, so the mock stays faithful to what the Hub's own client expects.
#[test]
fn mock_serves_huggingface_hub_python() {
    let python = crate::python::python();
    let hub = MockHub::start();
    // Over DOWNLOAD_CHUNK_SIZE (10 MiB): the client only counts bytes in whole chunks, so a
    // resume with Range needs more than one chunk to have arrived.
    let parquet = big_blob(11 << 20);
    let files: Vec<(&str, Vec<u8>, bool)> = vec![
        ("README.md", README.to_vec(), false),
        ("data/extra.csv", b"a,b\n1,2\n".to_vec(), false),
        ("data/train-00000-of-00001.parquet", parquet.clone(), true),
        (
            "data/sub dir/notes.txt",
            b"spaces in the path\n".to_vec(),
            false,
        ),
    ];
    let borrowed: Vec<(&str, &[u8], bool)> = files
        .iter()
        .map(|(p, b, l)| (*p, b.as_slice(), *l))
        .collect();
    let sha = hub.add_dataset("acme/tiny", &borrowed);
    for i in 0..4 {
        hub.add_dataset(&format!("acme/extra-{i}"), &[("a.txt", b"a", false)]);
    }
    hub.add_branch(
        "acme/tiny",
        "refs/convert/parquet",
        &[("default/train/0000.parquet", b"PAR1converted", true)],
    );
    hub.add_dataset("acme/private", &[("a.txt", b"private bytes", false)]);
    hub.set_private("acme/private");
    hub.set_token(Some("hf_secret"));
    hub.page_size(2);
    // The first CDN GET of the parquet is cut short: the client must resume with Range.
    let sha256 = sha256_hex(&parquet);
    hub.drop_cdn_body_once(&sha256, (10 << 20) + 12_345);
    // The first Hub request (a paginated listing, which huggingface_hub retries) gets a 429.
    hub.rate_limit_next(1, 1);
    let expect: BTreeMap<&str, String> =
        files.iter().map(|(p, b, _)| (*p, sha256_hex(b))).collect();

    let cache = tempfile::tempdir().unwrap();
    let script = r#"
import hashlib, json, os
from huggingface_hub import HfApi, snapshot_download, hf_hub_download
from huggingface_hub.errors import (EntryNotFoundError, RepositoryNotFoundError,
                                    RevisionNotFoundError)
out = {}
expect = json.loads(os.environ["MOCK_EXPECT"])
api = HfApi()
out["list"] = [d.id for d in api.list_datasets(author="acme")]
p = snapshot_download("acme/tiny", repo_type="dataset")
out["snapshot_dir"] = p
out["snapshot"] = {rel: hashlib.sha256(open(os.path.join(p, rel), "rb").read()).hexdigest()
                   for rel in expect}
out["tree"] = [e.path for e in api.list_repo_tree("acme/tiny", repo_type="dataset", recursive=True)]
info = api.dataset_info("acme/tiny", files_metadata=True)
out["sha"] = info.sha
out["license"] = (info.card_data or {}).get("license")
out["sizes"] = {s.rfilename: s.size for s in info.siblings}
out["lfs"] = {s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs}
out["paths_info"] = [e.path for e in api.get_paths_info("acme/tiny", ["README.md", "data", "nope"],
                                                        repo_type="dataset")]
def err(fn):
    try:
        fn()
        return "no error"
    except Exception as e:
        return type(e).__name__
out["missing_file"] = err(lambda: hf_hub_download("acme/tiny", "missing.txt", repo_type="dataset"))
out["missing_rev"] = err(lambda: hf_hub_download("acme/tiny", "README.md", repo_type="dataset",
                                                 revision="nope"))
out["missing_repo"] = err(lambda: api.dataset_info("acme/nope"))
out["private_anon"] = err(lambda: api.dataset_info("acme/private", token=False))
out["private_token"] = open(hf_hub_download("acme/private", "a.txt", repo_type="dataset",
                                            token="hf_secret")).read()
out["converted"] = open(hf_hub_download("acme/tiny", "default/train/0000.parquet",
                                        repo_type="dataset", revision="refs/convert/parquet"),
                        "rb").read().decode()
print("MOCK_RESULT=" + json.dumps(out))
"#;
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .env("HF_ENDPOINT", hub.url())
        .env("HF_HUB_CACHE", cache.path())
        .env("HF_HOME", cache.path().join("home"))
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HUGGING_FACE_HUB_TOKEN")
        .env("MOCK_EXPECT", serde_json::to_string(&expect).unwrap())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("HF_ENDPOINT={}\n--- python stderr\n{stderr}", hub.url());
    let result_line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("MOCK_RESULT="))
        .unwrap_or_else(|| panic!("python failed:\n{stdout}\n{stderr}"));
    let out: Value = serde_json::from_str(result_line).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&out).unwrap());

    assert_eq!(out["snapshot"], json!(expect));
    assert_eq!(
        out["list"],
        json!([
            "acme/extra-0",
            "acme/extra-1",
            "acme/extra-2",
            "acme/extra-3",
            "acme/tiny"
        ])
    );
    assert_eq!(
        out["tree"],
        json!([
            "README.md",
            "data",
            "data/extra.csv",
            "data/sub dir",
            "data/sub dir/notes.txt",
            "data/train-00000-of-00001.parquet"
        ])
    );
    assert_eq!(out["sha"], sha.as_str());
    assert_eq!(out["license"], "mit");
    assert_eq!(out["sizes"]["data/train-00000-of-00001.parquet"], 11 << 20);
    assert_eq!(
        out["lfs"]["data/train-00000-of-00001.parquet"],
        sha256.as_str()
    );
    assert_eq!(out["paths_info"], json!(["README.md", "data"]));
    assert_eq!(out["missing_file"], "RemoteEntryNotFoundError");
    assert_eq!(out["missing_rev"], "RevisionNotFoundError");
    assert_eq!(out["missing_repo"], "RepositoryNotFoundError");
    assert_eq!(out["private_anon"], "RepositoryNotFoundError");
    assert_eq!(out["private_token"], "private bytes");
    assert_eq!(out["converted"], "PAR1converted");

    // The cache layout of §1.8.
    let repo_dir = cache.path().join("datasets--acme--tiny");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        sha
    );
    assert!(repo_dir.join("blobs").join(&sha256).is_file());
    assert!(repo_dir.join("blobs").join(git_blob_sha1(README)).is_file());
    assert!(
        repo_dir
            .join(".no_exist")
            .join(&sha)
            .join("missing.txt")
            .exists()
    );
    // The CDN never saw the token; the cut-short download was resumed with a Range.
    let cdn = hub.cdn.requests();
    assert!(cdn.iter().all(|r| r.header("authorization").is_none()));
    assert!(
        cdn.iter()
            .any(|r| r.header("range") == Some("bytes=10485760-")),
        "no resume:\n{}",
        hub.hub
            .requests()
            .iter()
            .chain(&cdn)
            .fold(String::new(), |mut out, r| {
                let _ = writeln!(out, "{} {} {:?}", r.method, r.path, r.headers);
                out
            })
    );
    // The 429 was retried (after Retry-After) with the same request.
    let hub_log = hub.hub.requests();
    assert_eq!(hub_log[0].path, "/api/datasets?author=acme");
    assert_eq!(hub_log[1].path, "/api/datasets?author=acme");
    assert!(
        hub_log
            .iter()
            .any(|r| r.path.contains("/tree/") && r.path.contains("cursor=")),
        "the tree listing was not paginated"
    );
}
