#!/usr/bin/env python3
"""Replay in place beside `git checkout` (issue 17), run for run.

    python3 benches/replay_in_place.py CORPUS TL [RUNS] [WORK]

Makes three copies of CORPUS under WORK (default /tmp/tl-replay-bench): a git
repository, a tl project without a daemon and one with `tl daemon start`. Each
gets two states: the corpus (S4), then five .rs files appended to and one file
added (S5). Then, alternating and RUNS times (default 9), each goes back from S5
to S4 in place (timed: `git checkout -q -f --detach S4`, `tl replay --to S4`),
and forward again (untimed). Prints the median and minimum of each and the raw
runs; the daemon's replays must report `"present": "daemon"` (it vouched for the
tree, so no scan ran before the replay).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def run(cmd, cwd, **kw):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, **kw)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}: {p.stderr!r}")
    return p.stdout


def edit(tree):
    rs = sorted(
        os.path.join(d, f)
        for d, _, fs in os.walk(tree)
        if "/.git" not in d and "/.tl" not in d
        for f in fs
        if f.endswith(".rs")
    )[:5]
    for p in rs:
        with open(p, "a") as f:
            f.write("// edited\n")
    with open(os.path.join(tree, "newfile.txt"), "w") as f:
        f.write("new\n")


def main():
    corpus, tl = sys.argv[1], os.path.abspath(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 9
    work = sys.argv[4] if len(sys.argv) > 4 else "/tmp/tl-replay-bench"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    g, plain, watched = (os.path.join(work, n) for n in ("git", "tl", "tl-daemon"))
    for d in (g, plain, watched):
        shutil.copytree(corpus, d, symlinks=True)
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=bench"]
    run(["git", "init", "-q"], g)
    run(["git", "config", "gc.auto", "0"], g)
    run(["git", "add", "-A"], g)
    run(git + ["commit", "-qm", "s4"], g)
    edit(g)
    run(["git", "add", "-A"], g)
    run(git + ["commit", "-qm", "s5"], g)
    s5, s4 = run(["git", "log", "--format=%H"], g, text=True).split()[:2]
    ids = {}
    for d in (plain, watched):
        run([tl, "init"], d)
        old = json.loads(run([tl, "checkpoint", "--json"], d))["id"]
        edit(d)
        new = json.loads(run([tl, "checkpoint", "--json"], d))["id"]
        ids[d] = (old, new)
    run([tl, "daemon", "start", "--debounce-ms", "20"], watched)
    time.sleep(2)

    def timed(cmd, cwd):
        time.sleep(0.3)
        subprocess.run(["sync"])
        t = time.perf_counter()
        out = run(cmd, cwd)
        return time.perf_counter() - t, out

    res = {"git checkout -f": [], "tl replay (no daemon)": [], "tl replay (daemon)": []}
    present = set()
    try:
        for _ in range(runs):
            dt, _ = timed(["git", "checkout", "-q", "-f", "--detach", s4], g)
            res["git checkout -f"].append(dt)
            run(["git", "checkout", "-q", "-f", "--detach", s5], g)
            for d, name in ((plain, "tl replay (no daemon)"), (watched, "tl replay (daemon)")):
                old, new = ids[d]
                dt, out = timed([tl, "replay", "--to", old, "--json"], d)
                res[name].append(dt)
                if d == watched:
                    present.add(json.loads(out)["present"])
                run([tl, "replay", "--to", new], d)
    finally:
        subprocess.run([tl, "daemon", "stop"], cwd=watched, capture_output=True)
    for k, v in res.items():
        print(
            "%-24s median %.3f min %.3f  %s"
            % (k, statistics.median(v), min(v), " ".join("%.3f" % x for x in v))
        )
    print("the daemon's replays reported present:", sorted(present))


if __name__ == "__main__":
    main()
