#!/usr/bin/env python3
"""The load client of benches/serve.sh: plain http.client over one keep-alive
connection to 127.0.0.1 per client, requests chosen by a seeded random
generator (the same seed gives the same requests), latency per request from
sending it to having read its whole body.

  load.py latency ADDR TOKEN POOL N SEED
      N requests each of GET /api/file?path=P&at=T, /api/tree?at=T and
      /api/checkpoints?offset=O&limit=50 (after 50 of each unmeasured), and
      of /style.css (a small static answer: the floor of server plus client).
  load.py git REPO POOL N SEED
      the same choices of (T, P) answered by git on the exported history:
      `git cat-file -p COMMIT:P` (a process each), the same through one
      `git cat-file --batch` (kept open, as the keep-alive connection is),
      and `git log -n 50 COMMIT` (a process each).
  load.py concurrent ADDR TOKEN POOL CLIENTS REQS SEED PID
      CLIENTS threads, each with its own connection, REQS requests each (six
      files, three pages of checkpoints, one tree in ten), while another
      thread samples VmRSS of PID every 10 ms; prints the peak, VmHWM, the
      wall time and the latency percentiles over all of them.

POOL is a JSON file {"checkpoints": [{"id", "commit"}] oldest first, "paths":
[paths present at every checkpoint]}. Prints one line per measure:
`name n=N p50=… p90=… p99=… max=… ms`. Every answer must be a 200 (else it
stops with the status and the body), and the first file answers are compared
with git's bytes when `--check REPO` follows (done by `latency`).
"""

import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse

TIMEOUT_S = 30
PAGE = 50


def pct(xs, p):
    """The p-th percentile by nearest rank."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[k]


def line(name, ns, extra=""):
    ms = [x / 1e6 for x in ns]
    print(
        f"{name:<28} n={len(ms):<5} p50={pct(ms, 50):.3f} p90={pct(ms, 90):.3f} "
        f"p99={pct(ms, 99):.3f} max={max(ms):.3f} ms{extra}",
        flush=True,
    )


class Client:
    def __init__(self, addr, token):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
        self.headers = {"Authorization": "Bearer " + token, "Host": addr}

    def get(self, path):
        """(ns taken, body) of one GET that must answer 200."""
        t = time.perf_counter_ns()
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        ns = time.perf_counter_ns() - t
        if r.status != 200:
            sys.exit(f"GET {path}: {r.status} {body[:300]!r}")
        return ns, body


def q(**kw):
    return urllib.parse.urlencode(kw)


class Choices:
    """The requests, drawn from one seeded generator."""

    def __init__(self, pool, seed):
        self.cps = pool["checkpoints"]
        self.paths = pool["paths"]
        self.rng = random.Random(seed)

    def file(self):
        return self.rng.choice(self.cps), self.rng.choice(self.paths)

    def checkpoint(self):
        return self.rng.choice(self.cps)

    def offset(self):
        return self.rng.randrange(0, max(1, len(self.cps) - PAGE))


def tl_requests(ch, n):
    """n of each kind, as (kind, url) lists."""
    files = []
    for _ in range(n):
        cp, p = ch.file()
        files.append((cp, p, "/api/file?" + q(path=p, at=cp["id"])))
    trees = ["/api/tree?" + q(at=ch.checkpoint()["id"]) for _ in range(n)]
    pages = ["/api/checkpoints?" + q(offset=ch.offset(), limit=PAGE) for _ in range(n)]
    return files, trees, pages


def latency(addr, token, pool, n, seed, check_repo):
    c = Client(addr, token)
    warm = Choices(pool, seed + 1)
    wf, wt, wp = tl_requests(warm, 50)
    for _, _, u in wf:
        c.get(u)
    for u in wt + wp + ["/style.css"] * 50:
        c.get(u)
    files, trees, pages = tl_requests(Choices(pool, seed), n)
    ns, sizes = [], []
    for k, (cp, p, u) in enumerate(files):
        t, body = c.get(u)
        ns.append(t)
        sizes.append(len(body))
        if check_repo and k < 20:
            want = subprocess.run(
                ["git", "-C", check_repo, "cat-file", "-p", f"{cp['commit']}:{p}"],
                capture_output=True, check=True,
            ).stdout
            if want != body:
                sys.exit(f"{p} at {cp['id']}: tl and git disagree")
    line("tl GET /api/file", ns, f"  (avg {sum(sizes) // len(sizes)} bytes)")
    ns, sizes = [], []
    for u in trees:
        t, body = c.get(u)
        ns.append(t)
        sizes.append(len(body))
    line("tl GET /api/tree", ns, f"  (avg {sum(sizes) // len(sizes)} bytes)")
    ns = [c.get(u)[0] for u in pages]
    line(f"tl GET /api/checkpoints {PAGE}", ns)
    ns = [c.get("/style.css")[0] for _ in range(n)]
    line("tl GET /style.css (floor)", ns)


def git(repo, pool, n, seed):
    files, _, _ = tl_requests(Choices(pool, seed), n)
    ns = []
    for cp, p, _ in files:
        t = time.perf_counter_ns()
        subprocess.run(
            ["git", "-C", repo, "cat-file", "-p", f"{cp['commit']}:{p}"],
            stdout=subprocess.DEVNULL, check=True,
        )
        ns.append(time.perf_counter_ns() - t)
    line("git cat-file -p C:P", ns)
    batch = subprocess.Popen(
        ["git", "-C", repo, "cat-file", "--batch"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    ns = []
    for cp, p, _ in files:
        t = time.perf_counter_ns()
        batch.stdin.write(f"{cp['commit']}:{p}\n".encode())
        batch.stdin.flush()
        head = batch.stdout.readline().split()
        if len(head) != 3:
            sys.exit(f"git cat-file --batch: {head!r} for {p}")
        batch.stdout.read(int(head[2]) + 1)
        ns.append(time.perf_counter_ns() - t)
    batch.stdin.close()
    batch.wait()
    line("git cat-file --batch C:P", ns)
    ch = Choices(pool, seed)
    ns = []
    for _ in range(n):
        commit = ch.checkpoint()["commit"]
        t = time.perf_counter_ns()
        subprocess.run(
            ["git", "-C", repo, "log", "-n", str(PAGE), commit],
            stdout=subprocess.DEVNULL, check=True,
        )
        ns.append(time.perf_counter_ns() - t)
    line(f"git log -n {PAGE} C", ns)


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith(key + ":"):
                return int(row.split()[1])
    return 0


def concurrent(addr, token, pool, clients, reqs, seed, pid):
    all_ns = []
    lock = threading.Lock()
    failures = []

    def one(k):
        ch = Choices(pool, seed * 1000 + k)
        try:
            c = Client(addr, token)
            mine = []
            for r in range(reqs):
                kind = r % 10
                if kind < 6:
                    cp, p = ch.file()
                    u = "/api/file?" + q(path=p, at=cp["id"])
                elif kind < 9:
                    u = "/api/checkpoints?" + q(offset=ch.offset(), limit=PAGE)
                else:
                    u = "/api/tree?" + q(at=ch.checkpoint()["id"])
                mine.append(c.get(u)[0])
            with lock:
                all_ns.extend(mine)
        except BaseException as e:  # noqa: BLE001 (reported below)
            with lock:
                failures.append(repr(e))

    peak = [vm(pid, "VmRSS")]
    done = threading.Event()

    def sample():
        while not done.wait(0.01):
            peak[0] = max(peak[0], vm(pid, "VmRSS"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    t = time.perf_counter_ns()
    for th in threads:
        th.start()
    for th in threads:
        th.join(TIMEOUT_S * reqs)
    wall = time.perf_counter_ns() - t
    done.set()
    sampler.join()
    if failures or any(th.is_alive() for th in threads):
        sys.exit(f"concurrent clients failed: {failures[:3]}")
    line(
        f"tl {clients} clients mixed",
        all_ns,
        f"  ({len(all_ns)} requests in {wall / 1e9:.2f} s, {len(all_ns) / (wall / 1e9):.0f}/s)",
    )
    print(f"RSS under {clients} clients: peak sampled VmRSS {peak[0]} kB, VmHWM {vm(pid, 'VmHWM')} kB")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "latency" and len(argv) in (7, 9):
        check = argv[8] if len(argv) == 9 and argv[7] == "--check" else None
        latency(argv[2], argv[3], json.load(open(argv[4])), int(argv[5]), int(argv[6]), check)
    elif cmd == "git" and len(argv) == 6:
        git(argv[2], json.load(open(argv[3])), int(argv[4]), int(argv[5]))
    elif cmd == "concurrent" and len(argv) == 9:
        concurrent(argv[2], argv[3], json.load(open(argv[4])), int(argv[5]), int(argv[6]),
                   int(argv[7]), int(argv[8]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
