//! Prototype of the fixes proposed in benches/fetch/README.md, outside the crate (it does not
//! touch src/): the download loop of `Client::download` (ureq 3.5.1, the same agent settings,
//! a 256 KiB buffer, `write_all` into a part file) with four ways of getting the SHA-256:
//!
//!   none       download only (what curl does)
//!   after      download, then read the file again and hash it (what `fetch_one` does today)
//!   inline     hash each chunk in the download loop, before writing it
//!   pipelined  a second thread hashes the chunks the download thread has written
//!   pipelined-Nm  the same, handing over N MiB buffers (filled by several reads), so the
//!              hasher is woken N MiB / 128 KiB times less often
//!
//! and, for many small files (each downloaded, hashed twice and renamed, as `fetch_one` does),
//! the agent's idle-connection pool at ureq's default (3 per host) against one sized to the
//! number of download threads.
//!
//!     fetch-proto big URL PART none|after|inline|pipelined|pipelined-<N>m
//!     fetch-proto small URL_LIST DIR JOBS POOL_PER_HOST       (POOL_PER_HOST 0: ureq's default)
//!
//! Prints one JSON object per measurement. `PROTO_AFTER_MS` adds that much per-file work
//! after each small download (mldatabuild's per-file locks and cache writes take about 1 ms).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const BUF: usize = 256 * 1024;

fn agent(pool_per_host: Option<usize>) -> ureq::Agent {
    let mut b = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent("fetch-proto")
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(30)));
    if let Some(n) = pool_per_host {
        b = b
            .max_idle_connections(n.max(10))
            .max_idle_connections_per_host(n);
    }
    b.build().new_agent()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `statcache::sha256_file`: a second pass over the file, 1 MiB reads.
fn sha256_file(p: &Path) -> String {
    let mut f = std::fs::File::open(p).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(&h.finalize())
}

/// The loop of `Client::download` (a `bufsize` buffer, one `read` per chunk; with `fill`, reads
/// until the buffer is full). `chunk` sees every written buffer (and its length) and may take
/// it for another thread, returning a replacement.
fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    bufsize: usize,
    fill: bool,
    mut chunk: impl FnMut(Vec<u8>, usize) -> Vec<u8>,
) -> u64 {
    let mut resp = agent
        .get(url)
        .header("accept-encoding", "identity")
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(part)
        .unwrap();
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut buf = vec![0u8; bufsize];
    let mut done = 0u64;
    let mut eof = false;
    while !eof {
        let mut n = 0;
        loop {
            let r = reader.read(&mut buf[n..]).unwrap();
            n += r;
            if r == 0 {
                eof = true;
                break;
            }
            if !fill || n == buf.len() {
                break;
            }
        }
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).unwrap();
        done += n as u64;
        buf = chunk(buf, n);
    }
    file.flush().unwrap();
    done
}

/// Download with the SHA-256 computed on a second thread: each written buffer is sent to the
/// hasher and comes back for reuse; a fixed pool of 4 buffers (no allocation, no zeroing per
/// chunk), the download waiting for a free one when the hasher lags.
fn pipelined(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    bufsize: usize,
    fill: bool,
) -> (u64, String) {
    let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(4);
    let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..3 {
        back_tx.send(vec![0u8; bufsize]).unwrap();
    }
    let hasher = std::thread::spawn(move || {
        let mut h = Sha256::new();
        for (b, n) in rx {
            h.update(&b[..n]);
            let _ = back_tx.send(b);
        }
        hex(&h.finalize())
    });
    let n = download(agent, url, part, bufsize, fill, |b, n| {
        tx.send((b, n)).unwrap();
        back_rx.recv().unwrap()
    });
    drop(tx);
    (n, hasher.join().unwrap())
}

fn big(url: &str, part: &Path, variant: &str) {
    let agent = agent(None);
    let _ = std::fs::remove_file(part);
    let t = Instant::now();
    let (bytes, sha) = match variant {
        "none" => (
            download(&agent, url, part, BUF, false, |b, _| b),
            String::new(),
        ),
        "after" => {
            let n = download(&agent, url, part, BUF, false, |b, _| b);
            (n, sha256_file(part))
        }
        "inline" => {
            let mut h = Sha256::new();
            let n = download(&agent, url, part, BUF, false, |b, n| {
                h.update(&b[..n]);
                b
            });
            (n, hex(&h.finalize()))
        }
        "pipelined" => pipelined(&agent, url, part, BUF, false),
        v if v.starts_with("pipelined-") && v.ends_with('m') => {
            let mib: usize = v["pipelined-".len()..v.len() - 1]
                .parse()
                .expect("pipelined-<N>m");
            pipelined(&agent, url, part, mib << 20, true)
        }
        other => panic!("unknown variant {other}"),
    };
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"mode\":\"big\",\"variant\":\"{variant}\",\"bytes\":{bytes},\"seconds\":{secs:.4},\"sha256\":\"{sha}\"}}"
    );
}

fn small(list: &Path, dir: &Path, jobs: usize, pool: usize) {
    let urls: Vec<String> = std::fs::read_to_string(list)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let agent = agent((pool > 0).then_some(pool));
    // PROTO_AFTER_MS: more per-file work after each download (locks, cache writes).
    let after = Duration::from_micros(
        std::env::var("PROTO_AFTER_MS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |ms| (ms * 1000.0) as u64),
    );
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(u) = urls.get(i) else { break };
                    let part = dir.join(format!("{i}.part"));
                    download(&agent, u, &part, BUF, false, |b, _| b);
                    // What `fetch_one` does next: the SHA-256 pass and the git SHA-1 pass
                    // (approximated by a second SHA-256 pass), then the rename into blobs.
                    let sha = sha256_file(&part);
                    let _ = sha256_file(&part);
                    std::fs::rename(&part, dir.join(sha)).unwrap();
                    if after > Duration::ZERO {
                        std::thread::sleep(after);
                    }
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"mode\":\"small\",\"jobs\":{jobs},\"pool_per_host\":\"{}\",\"files\":{},\"seconds\":{secs:.4}}}",
        if pool > 0 {
            pool.to_string()
        } else {
            "default (3)".into()
        },
        urls.len(),
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("big") if a.len() == 5 => big(&a[2], Path::new(&a[3]), &a[4]),
        Some("small") if a.len() == 6 => small(
            Path::new(&a[2]),
            Path::new(&a[3]),
            a[4].parse().unwrap(),
            a[5].parse().unwrap(),
        ),
        _ => {
            eprintln!(
                "usage: fetch-proto big URL PART none|after|inline|pipelined|pipelined-<N>m | small URL_LIST DIR JOBS POOL"
            );
            std::process::exit(2);
        }
    }
}
