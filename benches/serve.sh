#!/usr/bin/env bash
# Benchmark for `tl serve` (issue 16), each figure beside git's in the same run:
#   * N checkpoints of a copy of the corpus (a few files appended to between
#     `tl checkpoint`s), exported to Git with `tl export-git --repo`;
#   * p50/p99 of GET /api/file?path=P&at=T, /api/tree?at=T and a page of
#     /api/checkpoints (REQS each, varied P and T, one keep-alive connection
#     from benches/serve/load.py), beside `git cat-file -p C:P` (and through
#     `git cat-file --batch`) and `git log -n 50 C` with the same choices;
#   * RSS of the server idle (VmRSS after start, and after the latency runs)
#     and under 50 concurrent clients (a bounded loop: 50 x 100 requests);
#   * page load time in headless Chromium (benches/serve/page.py).
#
# Usage: benches/serve.sh [CORPUS] [N] [REQS]
#        (defaults: /tmp/tlb/corpus-medium, 1000, 1000)
# Needs: a profiling build (cargo build --profile profiling -p tl), git, python3,
#        chromium and chromedriver (apt-get install -y chromium chromium-driver).
# The corpus is copied, never modified in place. KEEP=DIR keeps the project
# and its export in DIR, and a later run with the same KEEP reuses them.
set -euo pipefail
CORPUS=${1:-/tmp/tlb/corpus-medium}
N=${2:-1000}
REQS=${3:-1000}
CLIENTS=50
CLIENT_REQS=100
FILES_PER_STEP=3
HERE=$(cd "$(dirname "$0")" && pwd)
TL=${TL:-$HERE/../target/profiling/tl}
WORK=$(mktemp -d /tmp/tl-serve-bench.XXXXXX)
SERVER=
cleanup() {
    if [[ -n "$SERVER" ]]; then
        kill "$SERVER" 2> /dev/null || true
        wait "$SERVER" 2> /dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
PROJ=${KEEP:-$WORK}/proj
REPO=${KEEP:-$WORK}/export.git

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e9 }'; }
vm() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

echo "tl: $("$TL" --version | head -1) ($(git -C "$HERE" rev-parse --short HEAD))  $(git --version)  $(chromium --version 2> /dev/null)"
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"

if [[ ! -d "$PROJ/.tl" ]]; then
    mkdir -p "$(dirname "$PROJ")"
    cp -a "$CORPUS" "$PROJ"
    (cd "$PROJ" && find . -type f -not -path './.git/*' | LC_ALL=C sort) > "$WORK/files"
    NFILES=$(wc -l < "$WORK/files")
    "$TL" -C "$PROJ" init > /dev/null
    t=$(now)
    for ((i = 0; i < N; i++)); do
        if ((i > 0)); then
            for ((k = 0; k < FILES_PER_STEP; k++)); do
                f=$(sed -n "$(((i * 7919 + k * 104729) % NFILES + 1))p" "$WORK/files")
                echo "edit $i.$k" >> "$PROJ/$f"
            done
        fi
        "$TL" -C "$PROJ" checkpoint > /dev/null 2>> "$WORK/checkpoint.err"
    done
    echo "made $N checkpoints of $NFILES files in $(secs $(($(now) - t))) s"
    "$TL" -C "$PROJ" export-git --repo "$REPO" > /dev/null
fi

# The pool of choices: every checkpoint with its exported commit (the export
# makes one commit per checkpoint, oldest first), and the files of the first
# checkpoint (each is in every checkpoint: edits only append).
"$TL" -C "$PROJ" log --json > "$WORK/log.json"
git -C "$REPO" rev-list --reverse refs/tl/main > "$WORK/commits"
git -C "$REPO" ls-tree -r --name-only "$(head -1 "$WORK/commits")" > "$WORK/paths"
python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
ids = [c["id"] for c in json.load(open(f"{w}/log.json")) if c.get("type", "checkpoint") == "checkpoint"]
ids.reverse()
commits = open(f"{w}/commits").read().split()
if len(ids) != len(commits):
    sys.exit(f"{len(ids)} checkpoints but {len(commits)} exported commits")
paths = open(f"{w}/paths").read().splitlines()
json.dump({"checkpoints": [{"id": i, "commit": c} for i, c in zip(ids, commits)], "paths": paths},
          open(f"{w}/pool.json", "w"))
print(f"history: {len(ids)} checkpoints, {len(paths)} files, exported to {len(commits)} git commits")
PY

"$TL" -C "$PROJ" serve > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
for ((i = 0; i < 100; i++)); do
    grep -q '^Serving ' "$WORK/serve.out" && break
    sleep 0.1
done
URL=$(sed -n 's/^Serving //p' "$WORK/serve.out")
[[ -n "$URL" ]] || { echo "tl serve did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
ADDR=${URL#http://}; ADDR=${ADDR%%/*}
TOKEN=${URL##*token=}
sleep 1
echo "RSS idle after start: VmRSS $(vm $SERVER VmRSS) kB"

echo "--- latency, one keep-alive connection, $REQS requests each"
python3 "$HERE/serve/load.py" latency "$ADDR" "$TOKEN" "$WORK/pool.json" "$REQS" 16 --check "$REPO"
echo "RSS idle after the latency runs: VmRSS $(vm $SERVER VmRSS) kB, VmHWM $(vm $SERVER VmHWM) kB"
echo "--- git on the same history and the same choices, $REQS each"
python3 "$HERE/serve/load.py" git "$REPO" "$WORK/pool.json" "$REQS" 16
echo "--- $CLIENTS concurrent clients, $CLIENT_REQS requests each"
python3 "$HERE/serve/load.py" concurrent "$ADDR" "$TOKEN" "$WORK/pool.json" "$CLIENTS" "$CLIENT_REQS" 16 "$SERVER"
sleep 1
echo "RSS idle after the clients: VmRSS $(vm $SERVER VmRSS) kB"
echo "--- page load in headless Chromium"
python3 "$HERE/serve/page.py" "$ADDR" "$TOKEN" 5
