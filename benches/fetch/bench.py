#!/usr/bin/env python3
"""The fetch benchmark's measurements (run.sh starts the servers and calls this).

Every command is run RUNS times, round-robin (A B C A B C …, so drift and other jobs on the
machine hit every command alike), with the written files removed and `sync` run between runs
(outside the timing). Each mldatabuild run is `build --json` in a fresh MLDATA_HOME (nothing
cached, no lock, no stat cache), so it downloads everything. Its JSON events are time-stamped
as they arrive (stdout is line-buffered), which gives:

  fetch (reported)  the "fetched … in N.Ns" figure: resolve + list + download + verification
                    + cache publish, to 0.1 s
  fetch (events)    start of the process → the "fetched" event, to the millisecond (includes
                    process start and spec loading, a few ms)
  rehash            "fetched" event → "source hashed" event: the build hashing the cached
                    files again (SHA-256), after the fetch
  wall              the whole `build` (fetch, rehash, a 3-row normalize stage, lock)

Results go to WORK/results/fetch.json and fetch-summary.md (printed too); with --what proto,
to proto.json and proto-summary.md.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import resource
import urllib.request


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def sync():
    subprocess.run(["sync"], check=False)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def proc_cpu(pid):
    """user + system seconds of a process (the server)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats") as r:
        return json.load(r)


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        self.results = []  # one dict per command
        self.home = os.path.join(self.work, "home")  # MLDATA_HOME of every timed build
        self.fakehome = os.path.join(self.work, "fakehome")  # HOME: no token files
        os.makedirs(self.fakehome, exist_ok=True)

    # --- projects -------------------------------------------------------------------------
    def project(self, name, uri):
        """A project whose remote source `remote` is fetched by the build; its one stage
        normalizes a 3-row local CSV (so the stage costs nothing and reads no remote bytes)."""
        d = os.path.join(self.work, "projects", name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "dataset.yaml"), "w") as f:
            f.write(
                "name: fetchbench\nversion: 1.0.0\nsources:\n"
                f"  remote: {{uri: \"{uri}\"}}\n"
                "  tiny: {uri: tiny.csv}\n"
                "stages:\n  clean: {kind: normalize, input: tiny}\n"
            )
        with open(os.path.join(d, "tiny.csv"), "w") as f:
            f.write("id,text,label\n0,a,1\n1,b,0\n2,c,1\n")
        return d

    def reset_project(self, d):
        for e in os.listdir(d):
            if e not in ("dataset.yaml", "tiny.csv"):
                p = os.path.join(d, e)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.remove(p)

    def clean(self):
        for p in (self.home, os.path.join(self.work, "curl-out")):
            if os.path.exists(p):
                # blobs are read-only files in writable folders: rmtree works
                shutil.rmtree(p)
        sync()
        # Let the disk settle (the host's writeback of what `sync` flushed), so the next
        # command starts from the same state whatever ran before it.
        time.sleep(self.a.settle)

    # --- runners: each returns a dict of seconds ------------------------------------------
    def run_mld(self, proj, endpoint=None, jobs=None, binary=None):
        self.reset_project(proj)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MLDATA_", "HF_", "HUGGING_FACE"))
        }
        env.update(
            MLDATA_HOME=self.home,
            HOME=self.fakehome,
            HF_TOKEN_PATH=os.path.join(self.fakehome, "no-token"),
            NO_COLOR="1",
        )
        if endpoint:
            env["HF_ENDPOINT"] = endpoint
        if jobs is not None:
            env["MLDATA_DOWNLOAD_JOBS"] = str(jobs)
        t0 = time.monotonic()
        p = subprocess.Popen(
            [binary or self.a.bin, "-C", proj, "build", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        stamps = []
        for line in p.stdout:
            stamps.append((time.monotonic() - t0, line))
        err = p.stderr.read()
        rc = p.wait()
        wall = time.monotonic() - t0
        if rc != 0:
            sys.stderr.write(err.decode(errors="replace"))
            for _, line in stamps:
                sys.stderr.write(line.decode(errors="replace"))
            raise SystemExit(f"mldatabuild build failed ({rc}) in {proj}")
        out = {"wall": wall}
        fetched_at = None
        for t, line in stamps:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            data = ev.get("data") or {}
            if data.get("name") != "remote":
                continue
            if ev.get("type") == "source_fetch":
                msg = data.get("message", "")
                m = re.match(r"fetched .* in ([0-9.]+)s(?:,|$)", msg)
                if m:
                    out["fetch_reported"] = float(m.group(1))
                    out["fetch_events"] = t
                    fetched_at = t
                elif msg.startswith("downloading"):
                    out["download_started"] = t
            elif ev.get("type") == "source_hashed" and fetched_at is not None:
                out["rehash"] = t - fetched_at
        if "fetch_reported" not in out:
            raise SystemExit(
                f"no `fetched … in Ns` event from the build in {proj}: "
                + b"".join(l for _, l in stamps).decode(errors="replace")[:2000]
            )
        return out

    def run_cmd(self, argv, out_dir=None, env=None):
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=out_dir,
                           env={**os.environ, **(env or {})})
        if p.returncode != 0:
            raise SystemExit(f"{argv} failed: {p.stderr.decode(errors='replace')}")
        return {"wall": time.monotonic() - t0}

    # --- a group: several commands, round-robin ---------------------------------------------
    def group(self, title, commands, runs, port, bytes_=None, files=None):
        """commands: list of (label, kind, fn); fn() → dict of seconds. Adds the command's
        CPU time (`cpu`), the server's (`server_cpu`), and the server's connections and
        requests during the run."""
        print(f"\n==> {title}: {runs} runs each, round-robin", file=sys.stderr)
        rows = {label: [] for label, _, _ in commands}
        loads = []
        spid = self.a.server_pids.get(port)
        for r in range(runs):
            # The order rotates every round: on this VM the command that writes right after
            # another one's 2 GB write (and delete) pays for its writeback, so a fixed order
            # favours whoever follows the lightest writer.
            k = r % len(commands)
            for label, _, fn in commands[k:] + commands[:k]:
                self.clean()
                loads.append(load1())
                c0 = child_cpu()
                s0 = proc_cpu(spid) if spid else None
                st0 = server_stats(port)
                m = fn()
                m["cpu"] = child_cpu() - c0
                if spid:
                    m["server_cpu"] = proc_cpu(spid) - s0
                st1 = server_stats(port)
                # less the connection of the st1 request itself
                m["connections"] = st1["connections"] - st0["connections"] - 1
                m["requests"] = st1["requests"] - st0["requests"]
                rows[label].append(m)
                shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in m.items())
                print(f"    run {r + 1} {label}: {shown}", file=sys.stderr)
        self.clean()
        out = []
        for label, kind, _ in commands:
            ms = rows[label]
            keys = sorted({k for m in ms for k in m})
            med = {k: statistics.median(m[k] for m in ms if k in m) for k in keys}
            best = {k: min(m[k] for m in ms if k in m) for k in keys}
            res = {
                "group": title,
                "label": label,
                "kind": kind,
                "runs": ms,
                "median": med,
                "best": best,
                "bytes": bytes_,
                "files": files,
                "load_min": min(loads),
                "load_max": max(loads),
            }
            out.append(res)
            self.results.append(res)
        return out


def fmt_s(x):
    return "—" if x is None else (f"{x:.2f} s" if x >= 1 else f"{x * 1000:.0f} ms")


def small_urls(ep):
    """The small repository's file URLs on server `ep` (as mldatabuild resolves them)."""
    sha = json.loads(subprocess.run(
        ["curl", "-sS", "--fail", f"{ep}/api/datasets/bench/small/revision/main"],
        check=True, capture_output=True).stdout)["sha"]
    listing = json.loads(subprocess.run(
        ["curl", "-sS", "--fail", f"{ep}/api/datasets/bench/small/tree/{sha}?recursive=true"],
        check=True, capture_output=True).stdout)
    return [(e["path"], f"{ep}/datasets/bench/small/resolve/{sha}/{e['path']}") for e in listing]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--label", default="mldatabuild", help="names --bin in the tables")
    ap.add_argument("--base-bin", help="a second mldatabuild (another revision), measured too")
    ap.add_argument("--base-label", default="base")
    ap.add_argument("--proto", help="the prototype's binary (for --what proto)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--server", action="append", required=True,
                    help="PORT:DELAY_MS:PID, one per server; the first must have delay 0")
    ap.add_argument("--rate-server", help="PORT:MB_S:PID of a server sending at most MB_S MB/s")
    ap.add_argument("--big-bytes", type=int, required=True)
    ap.add_argument("--small-count", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds to wait after each clean-up's sync, before the next command")
    ap.add_argument("--what", default="all", choices=["all", "big", "small", "proto", "proto-big"])
    ap.add_argument("--meta", default="{}", help="JSON: revision, versions… for the report")
    a = ap.parse_args()
    servers = []
    a.server_pids = {}
    for x in a.server:
        port, delay, pid = x.split(":")
        servers.append((int(port), float(delay)))
        a.server_pids[int(port)] = int(pid)
    port0 = servers[0][0]
    b = Bench(a)
    bins = [(a.label, a.bin)] + ([(a.base_label, a.base_bin)] if a.base_bin else [])
    base = f"http://127.0.0.1:{port0}"
    url = f"{base}/files/big.bin"
    out = os.path.join(a.work, "curl-out")
    meta = json.loads(a.meta)
    meta["load_at_start"] = load1()
    groups = []

    if a.what in ("all", "big"):
        p_http = b.project("big-http", url)
        p_hf = b.project("big-hf", "hf://bench/big")
        cmds = [
            ("curl -o /dev/null", "curl-null",
             lambda: b.run_cmd(["curl", "-sS", "--fail", "-o", "/dev/null", url])),
            ("curl -o file", "curl-disk",
             lambda: b.run_cmd(["curl", "-sS", "--fail", "-o", "big.bin", url], out)),
        ]
        for label, binary in bins:
            cmds += [
                (f"{label}, http:// source", "mld",
                 lambda binary=binary: b.run_mld(p_http, binary=binary)),
                (f"{label}, hf:// LFS (302 to /cdn/)", "mld",
                 lambda binary=binary: b.run_mld(p_hf, endpoint=base, binary=binary)),
            ]
        groups.append(("big", b.group(
            f"one {a.big_bytes / 1e9:g} GB file", cmds, a.runs, port0, bytes_=a.big_bytes)))
        if a.rate_server:
            rport, rate, rpid = a.rate_server.split(":")
            a.server_pids[int(rport)] = int(rpid)
            rurl = f"http://127.0.0.1:{rport}/files/big.bin"
            p_rate = b.project("big-http-rate", rurl)
            cmds = [
                ("curl -o /dev/null", "curl-null",
                 lambda: b.run_cmd(["curl", "-sS", "--fail", "-o", "/dev/null", rurl])),
                ("curl -o file", "curl-disk",
                 lambda: b.run_cmd(["curl", "-sS", "--fail", "-o", "big.bin", rurl], out)),
            ]
            for label, binary in bins:
                cmds.append((f"{label}, http:// source", "mld",
                             lambda binary=binary: b.run_mld(p_rate, binary=binary)))
            groups.append(("big", b.group(
                f"one {a.big_bytes / 1e9:g} GB file, server capped at {float(rate):g} MB/s",
                cmds, a.runs, int(rport), bytes_=a.big_bytes)))

    if a.what in ("all", "small"):
        for port, delay in servers:
            ep = f"http://127.0.0.1:{port}"
            p = b.project(f"small-{port}", "hf://bench/small")
            # curl over the same URLs, for context: one process, keep-alive, in order; and
            # --parallel with 8 connections.
            cfg = os.path.join(a.work, f"curl-small-{port}.cfg")
            with open(cfg, "w") as f:
                for path, u in small_urls(ep):
                    f.write(f'url = "{u}"\noutput = "{path.replace("/", "_")}"\n')
            cmds = []
            for label, binary in bins:
                cmds += [
                    (f"{label}, MLDATA_DOWNLOAD_JOBS=1", f"mld-serial:{label}",
                     lambda p=p, ep=ep, binary=binary: b.run_mld(p, ep, 1, binary)),
                    (f"{label}, default (8)", f"mld-par:{label}",
                     lambda p=p, ep=ep, binary=binary: b.run_mld(p, ep, None, binary)),
                    (f"{label}, MLDATA_DOWNLOAD_JOBS=16", f"mld-par:{label}",
                     lambda p=p, ep=ep, binary=binary: b.run_mld(p, ep, 16, binary)),
                ]
            cmds += [
                ("curl, one by one (keep-alive)", "curl-serial",
                 lambda cfg=cfg: b.run_cmd(["curl", "-sS", "--fail", "-K", cfg], out)),
                ("curl --parallel (8)", "curl-par",
                 lambda cfg=cfg: b.run_cmd(
                     ["curl", "-sS", "--fail", "--parallel", "--parallel-max", "8", "-K", cfg],
                     out)),
            ]
            title = f"{a.small_count} small files, server delay {delay:g} ms"
            groups.append(("small", b.group(title, cmds, a.runs, port, files=a.small_count)))

    if a.what in ("proto", "proto-big"):
        # The prototype (proto/): the same download loop with four ways to hash, vs curl.
        part = os.path.join(out, "big.part")
        cmds = [("curl -o file", "curl-disk",
                 lambda: b.run_cmd(["curl", "-sS", "--fail", "-o", "big.bin", url], out))]
        for v, what in [("none", "download only"),
                        ("after", "download, then a SHA-256 pass (today)"),
                        ("inline", "SHA-256 of each chunk in the download loop"),
                        ("pipelined", "SHA-256 on a second thread, fed chunk by chunk"),
                        ("pipelined-1m", "the same, in 1 MiB chunks"),
                        ("pipelined-4m", "the same, in 4 MiB chunks")]:
            cmds.append((f"prototype: {what}", "proto",
                         lambda v=v: b.run_cmd([a.proto, "big", url, part, v], out)))
        groups.append(("proto-big", b.group(
            f"prototype, one {a.big_bytes / 1e9:g} GB file", cmds, a.runs, port0,
            bytes_=a.big_bytes)))
        for port, delay in servers if a.what == "proto" else []:
            ep = f"http://127.0.0.1:{port}"
            lst = os.path.join(a.work, f"urls-{port}.txt")
            with open(lst, "w") as f:
                f.write("".join(u + "\n" for _, u in small_urls(ep)))
            cmds = []
            for jobs, pool in [(1, 0), (8, 0), (8, 8), (16, 0), (16, 16)]:
                label = (f"prototype: {jobs} thread{'s' if jobs > 1 else ''}, idle pool per host "
                         + (str(pool) if pool else "3 (ureq's default)"))
                cmds.append((label, "proto-small", lambda jobs=jobs, pool=pool, ep=ep, lst=lst:
                             b.run_cmd([a.proto, "small", lst, out, str(jobs), str(pool)], out,
                                       env={"PROTO_AFTER_MS": "1"})))
            groups.append(("proto-small", b.group(
                f"prototype, {a.small_count} small files (+1 ms of work each), "
                f"server delay {delay:g} ms", cmds, a.runs, port, files=a.small_count)))

    # --- report ---------------------------------------------------------------------------
    res_dir = os.path.join(a.work, "results")
    os.makedirs(res_dir, exist_ok=True)
    name = "proto" if a.what.startswith("proto") else "fetch"
    with open(os.path.join(res_dir, f"{name}.json"), "w") as f:
        json.dump({"meta": meta, "results": b.results}, f, indent=1)
    lines = []
    w = lines.append
    w(f"Run: {json.dumps(meta)}")
    for kind, rows in groups:
        w("")
        w(f"### {rows[0]['group']} (medians of {a.runs}; load {rows[0]['load_min']:.1f}–"
          f"{rows[0]['load_max']:.1f})")
        w("")
        if kind == "big":
            w("| command | fetch (reported) | fetch (events) | best fetch | rehash after fetch | wall | GB/s (fetch) | CPU | server CPU |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                m, bst = r["median"], r["best"]
                t = m.get("fetch_reported", m["wall"])
                w(f"| {r['label']} | {fmt_s(m.get('fetch_reported'))} | "
                  f"{fmt_s(m.get('fetch_events'))} | "
                  f"{fmt_s(bst.get('fetch_events', bst['wall']))} | {fmt_s(m.get('rehash'))} | "
                  f"{fmt_s(m['wall'])} | {r['bytes'] / 1e9 / t:.2f} | {fmt_s(m.get('cpu'))} | "
                  f"{fmt_s(m.get('server_cpu'))} |")
            disk_r = next(r for r in rows if r["kind"] == "curl-disk")
            disk, disk_best = disk_r["median"]["wall"], disk_r["best"]["wall"]
            null = next(r for r in rows if r["kind"] == "curl-null")["median"]["wall"]
            w("")
            for r in rows:
                if r["kind"] != "mld":
                    continue
                m = r["median"]
                w(f"- {r['label']}: curl -o file / fetch = **{disk / m['fetch_reported']:.2f}** "
                  f"(events: {disk / m['fetch_events']:.2f}; best vs best: "
                  f"{disk_best / r['best']['fetch_events']:.2f}; vs curl -o /dev/null: "
                  f"{null / m['fetch_reported']:.2f}; whole build: {disk / m['wall']:.2f})")
        elif kind == "small":
            w("| command | fetch (reported) | fetch (events) | wall | files/s (fetch) | CPU | server CPU | connections / requests |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                m = r["median"]
                t = m.get("fetch_events", m["wall"])
                w(f"| {r['label']} | {fmt_s(m.get('fetch_reported'))} | "
                  f"{fmt_s(m.get('fetch_events'))} | {fmt_s(m['wall'])} | "
                  f"{r['files'] / t:.0f} | {fmt_s(m.get('cpu'))} | {fmt_s(m.get('server_cpu'))} | "
                  f"{m.get('connections', 0):.0f} / {m.get('requests', 0):.0f} |")
            w("")
            for r in rows:
                if not r["kind"].startswith("mld-par:"):
                    continue
                who = r["kind"].split(":", 1)[1]
                ser_r = next(x for x in rows if x["kind"] == f"mld-serial:{who}")
                ser = ser_r["median"]
                m = r["median"]
                w(f"- {r['label']} vs one by one: **{ser['fetch_reported'] / m['fetch_reported']:.2f}x** "
                  f"(events: {ser['fetch_events'] / m['fetch_events']:.2f}x; best vs best: "
                  f"{ser_r['best']['fetch_events'] / r['best']['fetch_events']:.2f}x)")
            cs = next(r for r in rows if r["kind"] == "curl-serial")["median"]["wall"]
            cp = next(r for r in rows if r["kind"] == "curl-par")["median"]["wall"]
            w(f"- curl --parallel (8) vs curl one by one: {cs / cp:.2f}x")
        else:  # prototype groups
            w("| command | wall | best | GB/s or files/s | CPU | server CPU | connections |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                m = r["median"]
                rate = (f"{r['bytes'] / 1e9 / m['wall']:.2f}" if r["bytes"]
                        else f"{r['files'] / m['wall']:.0f}")
                w(f"| {r['label']} | {fmt_s(m['wall'])} | {fmt_s(r['best']['wall'])} | {rate} | "
                  f"{fmt_s(m.get('cpu'))} | {fmt_s(m.get('server_cpu'))} | "
                  f"{m.get('connections', 0):.0f} |")
            if kind == "proto-big":
                disk, disk_best = rows[0]["median"]["wall"], rows[0]["best"]["wall"]
                w("")
                for r in rows[1:]:
                    w(f"- {r['label']}: curl -o file / it = **{disk / r['median']['wall']:.2f}** "
                      f"(best vs best: {disk_best / r['best']['wall']:.2f})")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(res_dir, f"{name}-summary.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
