#!/usr/bin/env bash
# Benchmark for `tl show` of a file whose content sits in a solid block (issue
# 12): the corpus captured once and packed by `tl gc`, beside a git repository of
# the same tree after `git gc`; then N files picked at random (the same for
# both), each read by a fresh process: `tl show PATH --at ID` before the GC
# (content in Blob records) and after it (in solid blocks), against
# `git cat-file -p HEAD:PATH`. Prints p50/p99 of the wall time per read, and
# checks that both print the same bytes.
#
# Usage: benches/show_cold.sh [N] [CORPUS]   (defaults: 200, /tmp/tlb/corpus-medium)
# Needs: a profiling build (release code with debug info, for perf:
# cargo build --profile profiling -p tl) and git.
# The corpus is copied, never modified in place.
set -euo pipefail
N=${1:-200}
CORPUS=${2:-/tmp/tlb/corpus-medium}
TL=${TL:-$(cd "$(dirname "$0")/.." && pwd)/target/profiling/tl}
WORK=$(mktemp -d /tmp/tl-show-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@x GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@x

cp -a "$CORPUS" "$WORK/tree"
cp -a "$CORPUS" "$WORK/git"
git -C "$WORK/git" init -q -b main
git -C "$WORK/git" config gc.auto 0
git -C "$WORK/git" add -A
git -C "$WORK/git" commit -q -m tree
git -C "$WORK/git" gc -q
cd "$WORK/tree"
"$TL" init > /dev/null
"$TL" checkpoint > /dev/null
ID=$("$TL" log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
# Files only (no symlinks), up to 1 MiB: the ones GC packs into blocks.
find . -type f -size -1024k -not -path './.tl/*' | LC_ALL=C sort > "$WORK/files"
python3 - "$WORK/files" "$N" > "$WORK/picked" <<'EOF'
import random, sys
files = open(sys.argv[1]).read().split("\n")[:-1]
random.seed(12)
for f in random.sample(files, int(sys.argv[2])):
    print(f[2:])
EOF

time_reads() { # $1: tl|git; prints one wall time in microseconds per file
    while IFS= read -r f; do
        t0=$(date +%s%N)
        if [[ $1 == tl ]]; then
            "$TL" show "$f" --at "$ID" > "$WORK/out.$1"
        else
            git -C "$WORK/git" cat-file -p "HEAD:$f" > "$WORK/out.$1"
        fi
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
    done < "$WORK/picked"
}

time_reads tl > "$WORK/loose.us"
"$TL" gc > "$WORK/gc.out"
# Same bytes from both.
while IFS= read -r f; do
    cmp -s <("$TL" show "$f" --at "$ID") <(git -C "$WORK/git" cat-file -p "HEAD:$f") \
        || { echo "tl and git differ on $f" >&2; exit 1; }
done < "$WORK/picked"

time_reads tl > "$WORK/tl.us"
time_reads git > "$WORK/git.us"
cat "$WORK/gc.out"
python3 - "$WORK/tl.us" "$WORK/git.us" "$N" "$(du -sb .tl/wal | cut -f1)" "$(du -sb "$WORK/git/.git" | cut -f1)" "$WORK/loose.us" <<'EOF'
import sys
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
tl = [int(x) for x in open(sys.argv[1])]
git = [int(x) for x in open(sys.argv[2])]
loose = [int(x) for x in open(sys.argv[6])]
n = sys.argv[3]
print(f"reads: {n} files, each by a fresh process; tl log {int(sys.argv[4])/1e6:.1f} MB, .git after gc {int(sys.argv[5])/1e6:.1f} MB")
for name, xs in (("tl show (blocks)", tl), ("tl show (before gc)", loose), ("git cat-file -p", git)):
    print(f"{name:20} p50 {pct(xs, 50)/1000:.2f} ms  p99 {pct(xs, 99)/1000:.2f} ms")
print(f"ratio tl/git         p50 {pct(tl, 50)/pct(git, 50):.2f}x  p99 {pct(tl, 99)/pct(git, 99):.2f}x")
EOF
