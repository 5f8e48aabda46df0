#!/usr/bin/env python3
"""tl daemon benchmark: event-to-durable latency, sustained events/s, idle RSS/CPU.

  watch_bench.py TL_BINARY CORPUS

Environment: TRIALS (40), BURST (20000 files), IDLE_S (5), BURST_BIN (a compiled
writer, `target/release/burst`, used when it exists: Python's writer tops out below
the rate to measure), SCRATCH=1 (use CORPUS itself, a scratch copy, instead of
copying it: for the 100k-file tree), WATCHMAN=1 (also start a private watchman
server on the same tree and report its RSS once its crawl is done and after IDLE_S).

Copies CORPUS (never modified) to a temp dir, `tl init` + first checkpoint, then
for debounce 0 and 50 ms: starts `tl daemon start`, writes one small file at a
time and waits until the daemon's log (.tl/daemon.log) has a new "captured" line
(the line is written after the Commit's fsync returned: durable), TRIALS times.
Sustained: BURST small files written as fast as Python can; time until the log
head equals the disk (`tl status` clean, which flushes through the daemon first
only after the burst is over), and whether any capture lost events (gap lines).
Idle: RSS and CPU ticks of the daemon over IDLE_S seconds with no writes.
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

TL, CORPUS = os.path.abspath(sys.argv[1]), sys.argv[2]
TRIALS = int(os.environ.get("TRIALS", "40"))
BURST = int(os.environ.get("BURST", "20000"))
IDLE_S = float(os.environ.get("IDLE_S", "5"))


def tl(root, *args):
    return subprocess.run([TL, "-C", root, *args], check=True, capture_output=True, text=True).stdout


def pid(root):
    return int(open(os.path.join(root, ".tl/daemon.pid")).read())


def proc_stat(p):
    rss = 0
    for line in open(f"/proc/{p}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return rss, int(f[11]) + int(f[12])


def captured(log):
    try:
        return open(log).read().count(" captured ")
    except FileNotFoundError:
        return 0


def latency(root, debounce):
    tl(root, "daemon", "start", "--debounce-ms", str(debounce))
    log = os.path.join(root, ".tl/daemon.log")
    d = os.path.join(root, "tl-watch-bench")
    os.makedirs(d, exist_ok=True)
    time.sleep(0.5)
    lat = []
    for i in range(TRIALS):
        n0 = captured(log)
        t0 = time.perf_counter_ns()
        with open(os.path.join(d, f"lat{debounce}-{i}.txt"), "w") as f:
            f.write(f"{time.time_ns():<100}")  # new content every trial
        while captured(log) == n0:
            time.sleep(0.0002)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        time.sleep(0.02)
    lat.sort()
    return lat


BURST_BIN = os.environ.get("BURST_BIN", os.path.join(os.path.dirname(TL), "burst"))


def burst(root):
    """Writes BURST files; returns (write s, all-durable s, lossy batches, daemon CPU s).

    All-durable: after the writer is done, a `flush` request on the daemon's socket
    returns (the daemon has captured every event it read, and each capture's Commit
    is fsynced); then, untimed, `tl status` must report a clean tree (else the run
    is marked INCOMPLETE). Daemon CPU: its user+system time over the burst, so
    events / CPU is the rate one core of the daemon sustains whatever else the
    machine runs.
    """
    d = os.path.join(root, "tl-watch-bench", "burst")
    os.makedirs(d, exist_ok=True)
    p = pid(root)
    _, cpu0 = proc_stat(p)
    t0 = time.perf_counter()
    if os.access(BURST_BIN, os.X_OK):
        subprocess.run([BURST_BIN, d, str(BURST)], check=True, capture_output=True)
    else:
        for i in range(BURST):
            fd = os.open(os.path.join(d, f"b{i:05d}.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, b"y" * 100)
            os.close(fd)
    t_write = time.perf_counter() - t0
    log = os.path.join(root, ".tl/daemon.log")
    flush(root)
    t_all = time.perf_counter() - t0
    _, cpu1 = proc_stat(p)
    if "No changes" not in tl(root, "status"):
        print("INCOMPLETE: the tree differs from the last capture after the flush")
    lost = open(log).read().count("may have been lost")
    return t_write, t_all, lost, (cpu1 - cpu0) / os.sysconf("SC_CLK_TCK")


def flush(root):
    """Asks the daemon to capture everything pending; returns when it has."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(os.path.join(root, ".tl/daemon.sock"))
        c.sendall(b'{"op": "flush"}\n')
        reply = c.makefile().readline()
    assert json.loads(reply)["ok"], reply


def idle(root):
    """RSS and CPU ticks over IDLE_S seconds, from 4 s after the last write (the
    daemon does its idle work, catalog cache and compaction, 2 s after a capture)."""
    p = pid(root)
    time.sleep(4)
    rss0, cpu0 = proc_stat(p)
    time.sleep(IDLE_S)
    rss1, cpu1 = proc_stat(p)
    return rss1, cpu1 - cpu0


def watchman_rss(root):
    """RSS of a private watchman server watching `root`: after its crawl, and idle."""
    st = tempfile.mkdtemp(prefix="wm-")
    base = ["watchman", "--sockname", f"{st}/sock", "--statefile", f"{st}/state",
            "--logfile", f"{st}/log", "--pidfile", f"{st}/pid", "--no-save-state"]
    try:
        subprocess.run(base + ["get-sockname"], check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run(base + ["watch-project", root], check=True, capture_output=True)
        # A query waits for the crawl to settle.
        subprocess.run(base + ["-j"], input=json.dumps(["query", root, {"since": "c:0:0", "fields": ["name"], "expression": ["name", "nope"]}]),
                       check=True, capture_output=True, text=True)
        crawl = time.perf_counter() - t0
        p = int(open(f"{st}/pid").read())
        rss0, _ = proc_stat(p)
        time.sleep(IDLE_S)
        rss1, _ = proc_stat(p)
        print(f"watchman: crawl {crawl:.2f} s, RSS {rss0/1e6:.1f} MB after crawl, {rss1/1e6:.1f} MB idle")
    finally:
        subprocess.run(base + ["shutdown-server"], capture_output=True)
        shutil.rmtree(st, ignore_errors=True)


def main():
    if os.environ.get("SCRATCH") == "1":
        tmp, root = None, os.path.abspath(CORPUS)
    else:
        tmp = tempfile.mkdtemp(prefix="tlwb-")
        root = os.path.join(tmp, "tree")
        shutil.copytree(CORPUS, root, symlinks=True)
    nfiles = sum(len(f) for _, _, f in os.walk(root))
    if not os.path.isdir(os.path.join(root, ".tl")):
        tl(root, "init")
        tl(root, "checkpoint")
    print(f"tree: {nfiles} files")
    if os.environ.get("WATCHMAN") == "1":
        watchman_rss(root)
    for deb in (0, 50):
        lat = latency(root, deb)
        # Nearest rank: the smallest value at or above 99% of the trials.
        p50, p99 = statistics.median(lat), lat[max(0, -(-len(lat) * 99 // 100) - 1)]
        print(f"debounce {deb:>2} ms: event-to-durable p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {lat[-1]:.1f} ms  (n={len(lat)})")
        if deb == 50:
            rss, ticks = idle(root)
            print(f"idle: RSS {rss/1e6:.1f} MB, CPU {ticks} ticks in {IDLE_S:.0f} s")
            if os.environ.get("BURST") == "0":
                tl(root, "daemon", "stop")
                break
            tw, ta, lost, cpu = burst(root)
            print(f"burst {BURST} files ({3*BURST} events): written in {tw:.2f} s ({3*BURST/tw:,.0f} events/s), "
                  f"all durable after {ta:.2f} s ({3*BURST/ta:,.0f} events/s end to end), lossy batches: {lost}; "
                  f"daemon CPU {cpu:.2f} s ({3*BURST/max(cpu, 0.01):,.0f} events per CPU second)")
        tl(root, "daemon", "stop")
    if tmp:
        shutil.rmtree(tmp)


main()
