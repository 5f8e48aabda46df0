#!/usr/bin/env python3
"""tl daemon benchmark: event-to-durable latency, sustained events/s, idle RSS/CPU.

  watch_bench.py TL_BINARY CORPUS [--big N]

Copies CORPUS (never modified) to a temp dir, `tl init` + first checkpoint, then
for debounce 0 and 50 ms: starts `tl daemon start`, writes one small file at a
time and waits until the daemon's log (.tl/daemon.log) has a new "captured" line
(the line is written after the Commit's fsync returned: durable), TRIALS times.
Sustained: BURST small files written as fast as Python can; time until the log
head equals the disk (`tl status` clean, which flushes through the daemon first
only after the burst is over), and whether any capture lost events (gap lines).
Idle: RSS and CPU ticks of the daemon over IDLE_S seconds with no writes.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

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
            f.write("x" * 100)
        while captured(log) == n0:
            time.sleep(0.0002)
        lat.append((time.perf_counter_ns() - t0) / 1e6)
        time.sleep(0.02)
    lat.sort()
    return lat


def burst(root):
    d = os.path.join(root, "tl-watch-bench", "burst")
    os.makedirs(d, exist_ok=True)
    t0 = time.perf_counter()
    for i in range(BURST):
        fd = os.open(os.path.join(d, f"b{i:05d}.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"y" * 100)
        os.close(fd)
    t_write = time.perf_counter() - t0
    # 3 events per file (create, modify, close_write).
    log = os.path.join(root, ".tl/daemon.log")
    while True:
        out = tl(root, "status")
        if "No changes" in out:
            break
        time.sleep(0.05)
    t_all = time.perf_counter() - t0
    lost = open(log).read().count("may have been lost")
    return t_write, t_all, lost


def idle(root):
    p = pid(root)
    time.sleep(1)
    rss0, cpu0 = proc_stat(p)
    time.sleep(IDLE_S)
    rss1, cpu1 = proc_stat(p)
    return rss1, cpu1 - cpu0


def main():
    tmp = tempfile.mkdtemp(prefix="tlwb-")
    root = os.path.join(tmp, "tree")
    shutil.copytree(CORPUS, root, symlinks=True)
    nfiles = sum(len(f) for _, _, f in os.walk(root))
    tl(root, "init")
    tl(root, "checkpoint")
    print(f"tree: {nfiles} files")
    for deb in (0, 50):
        lat = latency(root, deb)
        p50, p99 = statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"debounce {deb:>2} ms: event-to-durable p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {lat[-1]:.1f} ms  (n={len(lat)})")
        if deb == 50:
            rss, ticks = idle(root)
            print(f"idle: RSS {rss/1e6:.1f} MB, CPU {ticks} ticks in {IDLE_S:.0f} s")
            tw, ta, lost = burst(root)
            print(f"burst {BURST} files ({3*BURST} events): written in {tw:.2f} s ({3*BURST/tw:,.0f} events/s), "
                  f"all durable after {ta:.2f} s ({3*BURST/ta:,.0f} events/s end to end), lossy batches: {lost}")
        tl(root, "daemon", "stop")
    shutil.rmtree(tmp)


main()
