#!/usr/bin/env bash
# A million files (issue 17; BENCHMARKS.md, "A million files"): a deterministic
# ~1M-file tree and tl's figures on it beside its peers, measured in one run.
#
# The tree (phase gen): the large corpus of ../shared/bench/make-corpus.sh
# (80,832 real source files, 1.6 GB, copied under corpus/) plus 920,000 small
# files written by million_gen.py under gen/ (200 packages of 4,600 files; sizes
# and extensions drawn from the corpus's files of <= 16 KiB, real source text,
# 10-30 files and 0-4 subdirectories a directory, up to 7 levels; fixed seed, no
# clock): 1,000,832 files. The 100k tree is its exact subset: corpus/r0 (10,104
# files) plus the first 20 packages (92,000), for the per-file ratio 100k -> 1M.
#
# Measures, each per tree of TREES, REPS runs alternating tl / peer, median and
# min, wall seconds and peak RSS (GNU time); before each timed command the tree
# is re-read untimed (this VM evicts idle page cache; after the first capture
# only its metadata, by a stat walk):
#   first  : tl's first capture (`tl init` + `tl checkpoint -y`, store removed
#            between runs) beside the read+hash limit of the same files in the same
#            run (`xargs -0 b3sum --num-threads 1`, and a plain `xargs -0 cat`);
#            then git's first `add -A && commit` once (the peer below needs it).
#   noop   : `tl checkpoint` with nothing changed, `tl status`, beside `git status`.
#   few    : 5 files appended to, then `tl checkpoint` beside `git add -A && git commit`.
#   replay : `tl replay --to` the point 5 files away (and back), beside
#            `git checkout -f --detach HEAD~1` (and back).
#   daemon : `tl daemon start` until its socket answers a flush (watch
#            registration plus catch-up), its RSS IDLE_S later; beside a private
#            watchman server's `watch-project` until a query answers (crawl done) and
#            its RSS IDLE_S later. Then event-to-durable latency under the daemon
#            (benches/watch/watch_bench.py, TRIALS single-file writes, p50/p99).
# git and tl share one tree: the git dir is outside it ($OUT/git-TREE, .tl
# excluded), so both see the same files in the same page cache.
#
# Usage: benches/million.sh [OUT]     (default OUT: /tmp/tlb/million)
# Env:   PHASES ("gen first noop few replay daemon"), TREES ("100k 1m"), REPS (3),
#        FIRST_REPS (REPS; a first capture of the 1M tree takes minutes),
#        TL (/tmp/million/tl), CORPUS (/tmp/tlb/corpus-large), IDLE_S (10),
#        TRIALS (100; 0 skips the latency measure), IDLE_GC (0: the daemon
#        phase puts the daemon's idle GC off, 1: leaves the store's setting)
# Needs: git, watchman, b3sum, GNU time, python3. Disk: ~8 GB for the 1M tree,
# ~0.8 GB for the 100k one, plus tl's store and git's objects (~5 GB).
# inotify: one watch a directory (~58k for the 1M tree); the bench raises
# fs.inotify.max_user_watches to 1,048,576 when it is lower and it may (and says so).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/tlb/million}
PHASES=${PHASES:-gen first noop few replay daemon}
TREES=${TREES:-100k 1m}
REPS=${REPS:-3}
FIRST_REPS=${FIRST_REPS:-$REPS}
TL=${TL:-/tmp/million/tl}
CORPUS=${CORPUS:-/tmp/tlb/corpus-large}
IDLE_S=${IDLE_S:-10}
TRIALS=${TRIALS:-100}
IDLE_GC=${IDLE_GC:-0}
export TZ=UTC LC_ALL=C
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x \
  GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x
[ -x "$TL" ] || { echo "no tl binary at $TL" >&2; exit 2; }
mkdir -p "$OUT"
SUM=$OUT/summary.txt
say() { printf '%s\n' "$*" | tee -a "$SUM"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minimum() { sort -g | head -1; }
# timed DIR LABEL CMD...: CMD in DIR under GNU time, output discarded; sets WALL,
# RSS (peak, KiB) and CPU (user + sys seconds: on this shared machine the wall
# time of a run waits for the other agents' jobs, the CPU time much less).
timed() {
  local dir=$1 label=$2 u s; shift 2
  /usr/bin/time -f '%e %M %U %S' -o "$OUT/.time" env -C "$dir" "$@" > /dev/null 2> "$OUT/err.$label" || {
    echo "FAILED: $label: $*" >&2; tail -5 "$OUT/err.$label" >&2; exit 1; }
  read -r WALL RSS u s < <(tail -1 "$OUT/.time")
  CPU=$(echo "$u + $s" | bc)
}
# Rows of one measure: label -> lists of wall, rss, cpu.
declare -A WALLS RSSES CPUS
rec() { WALLS[$1]="${WALLS[$1]:-} $WALL"; RSSES[$1]="${RSSES[$1]:-} $RSS"; CPUS[$1]="${CPUS[$1]:-} $CPU"; }
row() { # row LABEL: median [min] wall, median CPU, median peak RSS MiB
  local w r c
  w=$(printf '%s\n' ${WALLS[$1]}); r=$(printf '%s\n' ${RSSES[$1]}); c=$(printf '%s\n' ${CPUS[$1]})
  say "$(printf '  %-44s %9s s  [min %7s]  cpu %7s s  %7.1f MiB  (n=%s)' "$1" "$(median <<< "$w")" "$(minimum <<< "$w")" \
    "$(median <<< "$c")" "$(echo "$(median <<< "$r") / 1024" | bc -l)" "$(wc -l <<< "$w")")"
}
ratio() { # wall and CPU medians, tl's over the peer's
  say "$(printf '  ratio %-38s %6.2fx wall, %6.2fx cpu' "$1 / $2" \
    "$(echo "$(printf '%s\n' ${WALLS[$1]} | median) / $(printf '%s\n' ${WALLS[$2]} | median)" | bc -l)" \
    "$(echo "$(printf '%s\n' ${CPUS[$1]} | median) / $(printf '%s\n' ${CPUS[$2]} | median)" | bc -l)")"
}
tree_dir() { echo "$OUT/tree-$1"; }
gitdir() { echo "$OUT/git-$1"; }
list() { echo "$OUT/files-$1.lst"; }
warm() { (cd "$1" && xargs -0 cat < "$2" > /dev/null); }
# The measures after the first capture read only metadata and a few files: a
# stat walk brings their part of the cache back (a full re-read of 5.6 GB would
# take a minute a run).
warm_meta() { find "$1" -printf '%s %T@\n' > /dev/null; }
G() { git --git-dir="$(gitdir "$T")" --work-tree="$(tree_dir "$T")" "$@"; }

say "million-file bench $(date -u +%FT%TZ), tl $("$TL" --version 2>/dev/null | head -1) ($TL), git $(git --version | cut -d' ' -f3), $(watchman --version 2>/dev/null || echo no-watchman) watchman, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ " $PHASES " == *" gen "* ]]; then
  for T in $TREES; do
    D=$(tree_dir "$T")
    [ -e "$D" ] && { say "gen $T: $D exists, kept"; continue; }
    t0=$(date +%s)
    mkdir -p "$D/corpus"
    case $T in
      1m) cp -a "$CORPUS/." "$D/corpus/"; pkgs=200 ;;
      100k) cp -a "$CORPUS/r0" "$D/corpus/"; pkgs=20 ;;
      *) echo "tree $T: 100k or 1m" >&2; exit 2 ;;
    esac
    # Two writers on disjoint package ranges (the result does not depend on it).
    python3 "$HERE/million_gen.py" "$CORPUS/r0" "$D" 0 $((pkgs / 2)) &
    python3 "$HERE/million_gen.py" "$CORPUS/r0" "$D" $((pkgs / 2)) "$pkgs"
    wait
    say "gen $T: $(find "$D" -type f | wc -l) files, $(find "$D" -type d | wc -l) dirs, $(du -sb "$D" | cut -f1) bytes, $(( $(date +%s) - t0 )) s"
  done
fi
for T in $TREES; do
  D=$(tree_dir "$T")
  [ -d "$D" ] || continue
  [ -s "$(list "$T")" ] || (cd "$D" && find . -path ./.tl -prune -o -type f -print0 | sort -z) > "$(list "$T")"
done

if [[ " $PHASES " == *" first "* ]]; then
  for T in $TREES; do
    D=$(tree_dir "$T"); L=$(list "$T"); WALLS=(); RSSES=(); CPUS=()
    say ""
    say "== first capture, tree $T ($(tr -cd '\0' < "$L" | wc -c) files, load $(cut -d' ' -f1 /proc/loadavg)) =="
    for i in $(seq 1 "$FIRST_REPS"); do
      warm "$D" "$L"
      timed "$D" "cat-$T-$i" sh -c "xargs -0 cat < '$L'"; rec "read (xargs cat)"
      timed "$D" "b3-$T-$i" sh -c "xargs -0 b3sum --num-threads 1 < '$L'"; rec "read+hash limit (xargs b3sum, 1 thread)"
      rm -rf "$D/.tl"; (cd "$D" && "$TL" init > /dev/null)
      warm "$D" "$L"
      timed "$D" "tl-first-$T-$i" "$TL" checkpoint -y -m first; rec "tl first capture"
    done
    row "read (xargs cat)"; row "read+hash limit (xargs b3sum, 1 thread)"; row "tl first capture"
    ratio "tl first capture" "read+hash limit (xargs b3sum, 1 thread)"
    say "  target: <= 1.5x the read+hash limit; store $(du -sb "$D/.tl" | cut -f1) bytes"
    if [ ! -d "$(gitdir "$T")" ]; then
      git init -q --bare "$(gitdir "$T")"; G config gc.auto 0; G config core.bare false
      echo "/.tl/" >> "$(gitdir "$T")/info/exclude"
      warm "$D" "$L"
      timed "$D" "git-first-$T" sh -c "git --git-dir='$(gitdir "$T")' --work-tree=. add -A && git --git-dir='$(gitdir "$T")' --work-tree=. commit -q -m first"
      say "  git add -A && git commit (first, once): $WALL s, cpu $CPU s, $(echo "$RSS / 1024" | bc) MiB"
    fi
  done
fi

# The files the few-file and replay measures edit: 5 spread evenly over the tree.
few_files() {
  local n; n=$(tr -cd '\0' < "$(list "$T")" | wc -c)
  tr '\0' '\n' < "$(list "$T")" | awk -v s=$((n / 5)) 'NR % s == 7' | head -5
}

if [[ " $PHASES " == *" noop "* ]]; then
  for T in $TREES; do
    D=$(tree_dir "$T"); L=$(list "$T"); WALLS=(); RSSES=(); CPUS=()
    say ""
    say "== no-op, tree $T (load $(cut -d' ' -f1 /proc/loadavg)) =="
    (cd "$D" && "$TL" checkpoint -m settle > /dev/null); G status --porcelain > /dev/null
    for i in $(seq 1 "$REPS"); do
      warm_meta "$D"
      timed "$D" "tl-noop-$T-$i" "$TL" checkpoint; rec "tl checkpoint (no-op)"
      timed "$D" "tl-status-$T-$i" "$TL" status; rec "tl status (clean)"
      timed "$D" "git-status-$T-$i" git --git-dir="$(gitdir "$T")" --work-tree=. status --porcelain; rec "git status"
    done
    row "tl checkpoint (no-op)"; row "tl status (clean)"; row "git status"
    ratio "tl checkpoint (no-op)" "git status"; ratio "tl status (clean)" "git status"
    say "  target: no-op checkpoint <= git's"
  done
fi

if [[ " $PHASES " == *" few "* ]]; then
  for T in $TREES; do
    D=$(tree_dir "$T"); L=$(list "$T"); WALLS=(); RSSES=(); CPUS=()
    mapfile -t FEW < <(few_files)
    say ""
    say "== few-file checkpoint (5 files appended to), tree $T (load $(cut -d' ' -f1 /proc/loadavg)) =="
    for i in $(seq 1 "$REPS"); do
      for f in "${FEW[@]}"; do printf '// edit %s\n' "$i" >> "$D/$f"; done
      warm_meta "$D"
      if [ $((i % 2)) = 1 ]; then
        timed "$D" "tl-few-$T-$i" "$TL" checkpoint -m "few $i"; rec "tl checkpoint (5 files)"
        timed "$D" "git-few-$T-$i" sh -c "git --git-dir='$(gitdir "$T")' --work-tree=. add -A && git --git-dir='$(gitdir "$T")' --work-tree=. commit -q -m 'few $i'"; rec "git add -A && git commit"
      else
        timed "$D" "git-few-$T-$i" sh -c "git --git-dir='$(gitdir "$T")' --work-tree=. add -A && git --git-dir='$(gitdir "$T")' --work-tree=. commit -q -m 'few $i'"; rec "git add -A && git commit"
        timed "$D" "tl-few-$T-$i" "$TL" checkpoint -m "few $i"; rec "tl checkpoint (5 files)"
      fi
    done
    row "tl checkpoint (5 files)"; row "git add -A && git commit"
    ratio "tl checkpoint (5 files)" "git add -A && git commit"
  done
fi

if [[ " $PHASES " == *" replay "* ]]; then
  for T in $TREES; do
    D=$(tree_dir "$T"); L=$(list "$T"); WALLS=(); RSSES=(); CPUS=()
    say ""
    say "== replay in place, 5 files away, tree $T (load $(cut -d' ' -f1 /proc/loadavg)) =="
    mapfile -t FEW < <(few_files)
    for f in "${FEW[@]}"; do printf '// replay edit\n' >> "$D/$f"; done
    (cd "$D" && "$TL" checkpoint -m before-replay > /dev/null)
    G add -A; G commit -q -m before-replay
    read -r NEW OLD < <(cd "$D" && "$TL" log --json | python3 -c 'import json,sys; l=json.load(sys.stdin); print(l[0]["id"], l[1]["id"])')
    BR=$(G symbolic-ref --short HEAD)
    for i in $(seq 1 "$REPS"); do
      warm_meta "$D"
      timed "$D" "tl-replay-$T-$i-a" "$TL" replay --to "$OLD"; rec "tl replay --to (5 files)"
      timed "$D" "tl-replay-$T-$i-b" "$TL" replay --to "$NEW"; rec "tl replay --to (5 files)"
      timed "$D" "git-co-$T-$i-a" git --git-dir="$(gitdir "$T")" --work-tree=. checkout -q -f --detach HEAD~1; rec "git checkout -f (5 files)"
      timed "$D" "git-co-$T-$i-b" git --git-dir="$(gitdir "$T")" --work-tree=. checkout -q -f "$BR"; rec "git checkout -f (5 files)"
    done
    row "tl replay --to (5 files)"; row "git checkout -f (5 files)"
    ratio "tl replay --to (5 files)" "git checkout -f (5 files)"
    say "  target: <= git"
  done
fi

if [[ " $PHASES " == *" daemon "* ]]; then
  need=$(( $(find "$(tree_dir "${TREES##* }")" -type d | wc -l) * 2 + 10000 ))
  cur=$(cat /proc/sys/fs/inotify/max_user_watches)
  if [ "$cur" -lt "$need" ]; then
    if echo 1048576 > /proc/sys/fs/inotify/max_user_watches 2> /dev/null; then
      say "raised fs.inotify.max_user_watches $cur -> 1048576 (needed ~$need)"
    else say "fs.inotify.max_user_watches is $cur, below ~$need, and cannot be raised"; fi
  else say "fs.inotify.max_user_watches $cur >= ~$need needed: not raised"; fi
  for T in $TREES; do
    D=$(tree_dir "$T"); L=$(list "$T")
    if [ "$IDLE_GC" = 0 ]; then
      # The daemon's own GC (due once the log grew by gc_every_bytes, 64 MiB by
      # default: a first capture always makes it due) holds the full store, runs at
      # the lowest priority and keeps `tl daemon stop` waiting: 171 s on the 100k
      # tree on this loaded machine. Put off here, so these are the daemon's figures.
      sed -i 's/^gc_every_bytes = .*/gc_every_bytes = 1099511627776/' "$D/.tl/config.toml"
      say "idle GC put off (gc_every_bytes = 1 TiB in $D/.tl/config.toml)"
    fi
    say ""
    say "== daemon start and idle RSS beside watchman, tree $T ($(find "$D" -path "$D/.tl" -prune -o -type d -print | wc -l) dirs, load $(cut -d' ' -f1 /proc/loadavg)) =="
    for i in $(seq 1 "$REPS"); do
      warm_meta "$D"
      python3 - "$TL" "$D" "$IDLE_S" <<'PY' | tee -a "$SUM"
import json, os, socket, subprocess, sys, time
tl, root, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
def rss(p):
    for line in open(f"/proc/{p}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def cpu(p):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
t0 = time.perf_counter()
subprocess.run([tl, "-C", root, "daemon", "start"], check=True, capture_output=True)
t_cmd = time.perf_counter() - t0
sock = os.path.join(root, ".tl/daemon.sock")
while True:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(sock); c.sendall(b'{"op": "flush"}\n')
            if json.loads(c.makefile().readline())["ok"]:
                break
    except (FileNotFoundError, ConnectionRefusedError):
        time.sleep(0.01)
t_ready = time.perf_counter() - t0
pid = int(open(os.path.join(root, ".tl/daemon.pid")).read())
c0 = cpu(pid); r0 = rss(pid); time.sleep(idle); r1 = rss(pid)
st = json.loads(subprocess.run([tl, "-C", root, "daemon", "status", "--json"], check=True, capture_output=True, text=True).stdout)
subprocess.run([tl, "-C", root, "daemon", "stop"], check=True, capture_output=True)
t1 = time.perf_counter()
while os.path.exists(f"/proc/{pid}"):  # stop returns before the process is gone
    time.sleep(0.05)
print(f"  tl daemon stop: the process gone {time.perf_counter() - t1:.2f} s after `tl daemon stop` returned")
print(f"  tl daemon: start returned {t_cmd:.2f} s, watching + caught up {t_ready:.2f} s (cpu {c0:.2f} s), RSS {r0:.1f} MiB then {r1:.1f} MiB idle {idle:.0f} s (status rss_bytes {st.get('rss_bytes', 0)/2**20:.1f} MiB)")
PY
      warm_meta "$D"
      python3 - "$D" "$IDLE_S" <<'PY' | tee -a "$SUM"
import json, os, shutil, subprocess, sys, tempfile, time
root, idle = sys.argv[1], float(sys.argv[2])
def rss(p):
    for line in open(f"/proc/{p}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def cpu(p):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
st = tempfile.mkdtemp(prefix="wm-")
base = ["watchman", "--sockname", f"{st}/sock", "--statefile", f"{st}/state",
        "--logfile", f"{st}/log", "--pidfile", f"{st}/pid", "--no-save-state"]
try:
    subprocess.run(base + ["get-sockname"], check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(base + ["watch-project", root], check=True, capture_output=True)
    subprocess.run(base + ["-j"], input=json.dumps(["query", root, {"since": "c:0:0", "fields": ["name"], "expression": ["name", "nope"]}]),
                   check=True, capture_output=True, text=True)
    crawl = time.perf_counter() - t0
    p = int(open(f"{st}/pid").read())
    c0 = cpu(p); r0 = rss(p); time.sleep(idle); r1 = rss(p)
    print(f"  watchman: watch-project + crawl {crawl:.2f} s (cpu {c0:.2f} s), RSS {r0:.1f} MiB then {r1:.1f} MiB idle {idle:.0f} s")
finally:
    subprocess.run(base + ["shutdown-server"], capture_output=True)
    shutil.rmtree(st, ignore_errors=True)
PY
    done
    say "  target: idle RSS <= watchman's and < 150 MB"
    if [ "$TRIALS" != 0 ]; then
      say "  event-to-durable under the daemon (benches/watch/watch_bench.py, $TRIALS single-file writes):"
      SCRATCH=1 BURST=0 TRIALS=$TRIALS IDLE_S=$IDLE_S python3 "$HERE/watch/watch_bench.py" "$TL" "$D" 2>&1 | sed 's/^/    /' | tee -a "$SUM"
      (cd "$D" && "$TL" daemon stop > /dev/null 2>&1 || true)
    fi
  done
fi
say ""
say "raw output: $OUT"
