#!/usr/bin/env python3
"""A fast loopback HTTP server for the fetch benchmark (standard library only).

Serves, from one process (threads, HTTP/1.1 keep-alive, Content-Length, Range, TCP_NODELAY,
bodies sent with os.sendfile):

  GET|HEAD /files/<path>                         a static file under --root
  GET /api/datasets/<repo>/revision/<rev>        {"sha": <40 hex>}           (Hub §1.4)
  GET /api/datasets/<repo>/tree/<sha>?...        every file of the repo      (Hub §1.6)
  GET|HEAD /datasets/<repo>/resolve/<sha>/<path> the bytes, or for an LFS file a 302 to
                                                 /cdn/<repo>/<path> (Hub §1.7)
  GET|HEAD /cdn/<repo>/<path>                    an LFS file's bytes
  GET /_stats                                    {"connections": N, "requests": N} so far

A Hub repository is a folder: `--repo owner/name=DIR` (several allowed). Files of at least
--lfs-min bytes are listed as LFS files (`lfs.oid` = SHA-256, their resolve URL redirects to
/cdn/); the others by their git blob SHA-1. Hashes are computed once at start-up and kept in
DIR/.bench-hashes.json (keyed by size and mtime), so restarting the server is quick.

--delay-ms N makes every answer wait N ms before its first byte: a stand-in for the round trip
and time to first byte of a real Hub or CDN (loopback has neither). 0 by default.
--rate-mb-s R sends file bodies at R MB/s at most (4 MiB sendfile steps, paced): a stand-in
for a link slower than the machine (500 MB/s = 4 Gbit/s).

The chosen port is written to --port-file once the server listens.
"""

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SMALL = 64 * 1024  # bodies up to this size go out in one write with the headers


def git_blob_sha1(path, size):
    h = hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Repo:
    """A folder served as a Hub dataset repository at one commit."""

    def __init__(self, name, root, lfs_min):
        self.name = name
        self.root = os.path.abspath(root)
        self.sha = hashlib.sha1(f"bench-commit:{name}".encode()).hexdigest()
        cache_path = os.path.join(self.root, ".bench-hashes.json")
        try:
            with open(cache_path) as f:
                cache = json.load(f)
        except (OSError, ValueError):
            cache = {}
        self.files = {}  # path -> entry
        changed = False
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.startswith("."):
                    continue
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, self.root).replace(os.sep, "/")
                st = os.stat(full)
                stamp = f"{st.st_size}:{st.st_mtime_ns}"
                lfs = st.st_size >= lfs_min
                c = cache.get(rel)
                if not c or c.get("stamp") != stamp or (lfs and "sha256" not in c):
                    c = {"stamp": stamp}
                    if lfs:
                        c["sha256"] = sha256_file(full)
                    else:
                        c["sha1"] = git_blob_sha1(full, st.st_size)
                    cache[rel] = c
                    changed = True
                entry = {"type": "file", "path": rel, "size": st.st_size}
                if lfs:
                    pointer = (
                        "version https://git-lfs.github.com/spec/v1\n"
                        f"oid sha256:{c['sha256']}\nsize {st.st_size}\n"
                    ).encode()
                    entry["oid"] = hashlib.sha1(
                        b"blob %d\0" % len(pointer) + pointer
                    ).hexdigest()
                    entry["lfs"] = {
                        "oid": c["sha256"],
                        "size": st.st_size,
                        "pointerSize": len(pointer),
                    }
                else:
                    entry["oid"] = c["sha1"]
                self.files[rel] = (full, entry)
        if changed:
            tmp = cache_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(cache, f)
            os.replace(tmp, cache_path)
        self.listing = json.dumps([e for _, e in self.files.values()]).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "mldbench-fetch"
    sys_version = ""

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.stats["connections"] += 1

    # --- answers --------------------------------------------------------------------------
    def _wait(self):
        if self.server.delay:
            time.sleep(self.server.delay)

    def _simple(self, status, body=b"", ctype="application/json", headers=()):
        self._wait()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self, code="EntryNotFound"):
        self._simple(404, b'{"error":"not found"}', headers=[("X-Error-Code", code)])

    def _file(self, path, extra=()):
        """Send a file: Content-Length, Range (one range), sendfile."""
        self._wait()
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            self._not_found()
            return
        try:
            size = os.fstat(fd).st_size
            start, end, status = 0, size, 200
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, _, b = rng[6:].split(",")[0].partition("-")
                try:
                    if a:
                        start = int(a)
                        end = min(size, int(b) + 1) if b else size
                    else:  # suffix range
                        start = max(0, size - int(b))
                except ValueError:
                    start, end = 0, size
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            length = end - start
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            for k, v in extra:
                self.send_header(k, v)
            if self.command == "HEAD":
                self.end_headers()
                return
            if length <= SMALL:
                # Headers and body in one write.
                self._headers_buffer.append(b"\r\n")
                body = os.pread(fd, length, start)
                self.wfile.write(b"".join(self._headers_buffer) + body)
                self._headers_buffer = []
                return
            self.end_headers()
            self.wfile.flush()
            out = self.connection.fileno()
            off = start
            rate = self.server.rate  # bytes per second, or 0
            t0 = time.monotonic()
            while off < end:
                step = min(end - off, 4 << 20 if rate else 1 << 30)
                n = os.sendfile(out, fd, off, step)
                if n == 0:
                    break
                off += n
                if rate:  # keep to the rate: sleep until this many bytes are due
                    ahead = (off - start) / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            os.close(fd)

    # --- routes ---------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_stats":  # counters since start, never delayed
            body = json.dumps(self.server.stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with self.server.lock:
            self.server.stats["requests"] += 1
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if parts[:1] == ["files"]:
            rel = "/".join(parts[1:])
            if ".." in parts or not rel:
                return self._not_found()
            return self._file(os.path.join(self.server.root, rel))
        if parts[:2] == ["api", "datasets"] and len(parts) >= 6:
            repo = self.server.repos.get(f"{parts[2]}/{parts[3]}")
            if repo is None:
                return self._not_found("RepoNotFound")
            if parts[4] == "revision":
                return self._simple(
                    200, json.dumps({"id": repo.name, "sha": repo.sha}).encode()
                )
            if parts[4] == "tree" and parts[5] == repo.sha:
                return self._simple(200, repo.listing)
            return self._not_found("RevisionNotFound")
        if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
            repo = self.server.repos.get(f"{parts[1]}/{parts[2]}")
            if repo is None:
                return self._not_found("RepoNotFound")
            if parts[4] != repo.sha:
                return self._not_found("RevisionNotFound")
            rel = "/".join(parts[5:])
            f = repo.files.get(rel)
            if f is None:
                return self._not_found()
            full, entry = f
            commit = [("X-Repo-Commit", repo.sha)]
            if "lfs" in entry:
                loc = "/cdn/" + urllib.parse.quote(f"{repo.name}/{rel}")
                return self._simple(
                    302,
                    b"",
                    ctype="text/plain",
                    headers=commit
                    + [
                        ("Location", loc),
                        ("X-Linked-Etag", f'"{entry["lfs"]["oid"]}"'),
                        ("X-Linked-Size", str(entry["size"])),
                        ("ETag", f'"{entry["oid"]}"'),
                    ],
                )
            return self._file(full, commit + [("ETag", f'"{entry["oid"]}"')])
        if parts[:1] == ["cdn"] and len(parts) >= 4:
            repo = self.server.repos.get(f"{parts[1]}/{parts[2]}")
            f = repo and repo.files.get("/".join(parts[3:]))
            if not f:
                return self._not_found()
            return self._file(f[0], [("ETag", f'"{f[1]["lfs"]["oid"]}"')])
        return self._not_found()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--root", default=".", help="folder served under /files/")
    ap.add_argument("--repo", action="append", default=[], help="owner/name=DIR")
    ap.add_argument("--lfs-min", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--rate-mb-s", type=float, default=0.0,
                    help="send file bodies at most this fast (MB/s, 10^6 bytes); 0: unlimited")
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    srv.root = os.path.abspath(a.root)
    srv.delay = a.delay_ms / 1000.0
    srv.rate = a.rate_mb_s * 1e6
    srv.repos = {}
    srv.lock = threading.Lock()
    srv.stats = {"connections": 0, "requests": 0}
    for spec in a.repo:
        name, _, d = spec.partition("=")
        srv.repos[name] = Repo(name, d, a.lfs_min)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    print(f"listening on http://{a.host}:{port} (delay {a.delay_ms} ms, rate {a.rate_mb_s} MB/s)",
          file=sys.stderr)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    threading.current_thread().name = "main"
    main()
