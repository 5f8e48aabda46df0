#!/usr/bin/env bash
# Remotes (issue 15; BENCHMARKS.md, "Remote"), against one moto S3 server on
# 127.0.0.1, in one run:
#
# 1. push: a history of VERSIONS states of the medium corpus (the corpus, then
#    each step edits EDIT_FILES files, adds one and deletes one). After each
#    state: tl checkpoint + tl push to s3://tl-bench/proj, beside restic backup
#    of the same tree to s3:http://127.0.0.1:PORT/restic-bench (a restic
#    snapshot per state, as tl's push ships each state). Wall time of each, the
#    bytes each leaves on the server.
# 2. clone: tl clone of that remote beside restic restore latest, each into an
#    empty directory, each checked against the project's tree (diff -r).
# 3. lag: under the daemon (tl daemon start, the remote's auto push on, default
#    push-interval), LAG_SAMPLES writes at random moments, each timed until a
#    new segment object is listed on the server: p50/p99/max.
# 4. requests: requests the server receives (moto's request log) from tl's
#    daemon over IDLE_S seconds idle, then over SAVE_S seconds with one file
#    saved every 10 s, each scaled to an hour.
#
# Usage: benches/remote.sh [OUT]        (default OUT: /tmp/tlb/remote-<time>)
# Env:   CORPUS (a medium corpus; built with ../shared/bench/make-corpus.sh
#        when unset), VERSIONS (5) EDIT_FILES (20) LAG_SAMPLES (20)
#        IDLE_S (300) SAVE_S (300) PHASES ("push clone lag requests")
#        TL (target/profiling/tl: release code with debug info, for perf; build it
#        first: cargo build --profile profiling --bin tl)
# Needs: moto_server (pip install 'moto[server]'), restic (apt-get install -y
#        restic), curl, python3, GNU time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared/bench}
[ -d "$SHARED" ] || SHARED=/work/shared/bench
OUT=${1:-/tmp/tlb/remote-$(date -u +%Y%m%dT%H%M%S)}
VERSIONS=${VERSIONS:-5}
EDIT_FILES=${EDIT_FILES:-20}
LAG_SAMPLES=${LAG_SAMPLES:-20}
IDLE_S=${IDLE_S:-300}
SAVE_S=${SAVE_S:-300}
PHASES=${PHASES:-push clone lag requests}
TL=${TL:-$HERE/../target/profiling/tl}
export TZ=UTC LC_ALL=C RESTIC_PASSWORD=bench
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
[ -x "$TL" ] || { echo "no tl binary at $TL: cargo build --profile profiling --bin tl" >&2; exit 2; }
command -v moto_server > /dev/null || { echo "moto_server not found: pip install 'moto[server]'" >&2; exit 2; }
command -v restic > /dev/null || { echo "restic not found: apt-get install -y restic" >&2; exit 2; }
[ -e "$OUT" ] && { echo "refusing: $OUT exists" >&2; exit 2; }
mkdir -p "$OUT"
SUM=$OUT/summary.txt
say() { printf '%s\n' "$*" | tee -a "$SUM"; }
# timed DIR LABEL CMD...: runs CMD in DIR under GNU time, output kept in
# OUT/out.LABEL; sets WALL (seconds) and RSS (peak, KiB).
timed() {
  local dir=$1 label=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$OUT/.time" env -C "$dir" "$@" > "$OUT/out.$label" 2> "$OUT/err.$label" || {
    echo "FAILED: $label: $*" >&2; cat "$OUT/err.$label" >&2; exit 1; }
  read -r WALL RSS < <(tail -1 "$OUT/.time")
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
sum() { awk '{s+=$1} END {printf "%.2f\n", s}'; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x' if b else 'n/a')" "$1" "$2"; }

# One moto server for the whole run; its request log counts requests.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP=http://127.0.0.1:$PORT
moto_server -H 127.0.0.1 -p "$PORT" > "$OUT/moto.log" 2>&1 &
MOTO=$!
cleanup() {
  [ -n "${PROJ:-}" ] && [ -d "$PROJ/.tl" ] && (cd "$PROJ" && "$TL" daemon stop > /dev/null 2>&1 || true)
  kill "$MOTO" 2> /dev/null || true
}
trap cleanup EXIT
AUTH='Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0'
s3() { curl -s -H "$AUTH" "$@"; }
for _ in $(seq 1 150); do s3 -o /dev/null "$EP/" && break; sleep 0.2; done
s3 -f -o /dev/null -X PUT "$EP/tl-bench" || { echo "moto did not start: $(cat "$OUT/moto.log")" >&2; exit 1; }
s3 -f -o /dev/null -X PUT "$EP/restic-bench"
# bucket_bytes BUCKET PREFIX: bytes of every object under PREFIX (all pages).
bucket_bytes() {
  python3 - "$EP" "$1" "$2" <<'PY'
import re, sys, urllib.parse, urllib.request
ep, bucket, prefix = sys.argv[1:]
auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
total, token = 0, None
while True:
    q = {"list-type": "2", "prefix": prefix}
    if token: q["continuation-token"] = token
    req = urllib.request.Request(f"{ep}/{bucket}?{urllib.parse.urlencode(q)}", headers={"Authorization": auth})
    xml = urllib.request.urlopen(req).read().decode()
    total += sum(int(s) for s in re.findall(r"<Size>(\d+)</Size>", xml))
    m = re.search(r"<NextContinuationToken>(.*?)</NextContinuationToken>", xml)
    if "<IsTruncated>true</IsTruncated>" not in xml or not m: break
    token = m.group(1)
print(total)
PY
}
# seg_count: segment objects of the tl remote (one LIST).
seg_count() { s3 "$EP/tl-bench?list-type=2&prefix=proj/" | grep -o '/seg/' | wc -l; }
# requests: lines moto logged so far (one a request).
requests() { grep -c '" [0-9][0-9][0-9] ' "$OUT/moto.log" || true; }

if [ -z "${CORPUS:-}" ]; then
  CORPUS=$OUT/corpus
  bash "$SHARED/make-corpus.sh" "$CORPUS" medium > "$OUT/corpus.log" 2>&1
fi
say "remote bench $(date -u +%FT%TZ), tl $(cd "$HERE/.." && git rev-parse --short HEAD), $(restic version | cut -d' ' -f1-2), moto $(python3 -c 'import moto; print(moto.__version__)'), $(nproc) cores"
say "corpus: $(find "$CORPUS" -type f | wc -l) files, $(du -sb "$CORPUS" | cut -f1) bytes; $VERSIONS states"

PROJ=$OUT/proj
cp -a "$CORPUS" "$PROJ"
# edit_step N: the N-th step of the history (edits EDIT_FILES files, adds one,
# deletes one; deterministic).
edit_step() {
  python3 - "$PROJ" "$1" "$EDIT_FILES" <<'PY'
import os, sys
root, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) if "/.tl" not in d + "/" for f in fs)
files = [f for f in files if "/.tl/" not in f]
step = max(1, len(files) // (k + 2))
for i in range(k):
    with open(files[(n * 7919 + i * step) % len(files)], "a") as f:
        f.write(f"\n// edit {n}.{i}\n")
os.remove(files[(n * 104729) % len(files)])
with open(os.path.join(root, f"added-{n}.txt"), "w") as f:
    f.write(f"added in step {n}\n" * 100)
PY
}

if [[ " $PHASES " == *" push "* ]]; then
  say ""
  say "== push: $VERSIONS states, after each: tl checkpoint + tl push, beside restic backup =="
  (cd "$PROJ" && "$TL" init > /dev/null && "$TL" remote add s3 s3://tl-bench/proj --endpoint "$EP" --no-auto > /dev/null)
  restic -r "s3:$EP/restic-bench" init > /dev/null 2>&1
  say "$(printf '%-6s %12s %10s %10s %12s %10s' state tl_ckpt_s tl_push_s restic_s push_ratio push_kib)"
  cks=(); pushes=(); restics=()
  for v in $(seq 0 $((VERSIONS - 1))); do
    [ "$v" -gt 0 ] && edit_step "$v"
    cat $(find "$PROJ" -type f -not -path '*/.tl/*' | head -20000) > /dev/null 2>&1 || true
    timed "$PROJ" "ckpt-$v" "$TL" checkpoint -m "state $v"; ck=$WALL
    timed "$PROJ" "push-$v" "$TL" push s3; push=$WALL; prss=$RSS
    timed "$OUT" "restic-$v" restic -r "s3:$EP/restic-bench" backup --quiet --host bench proj --exclude proj/.tl; rs=$WALL
    cks+=("$ck"); pushes+=("$push"); restics+=("$rs")
    say "$(printf '%-6s %12s %10s %10s %12s %10s' "$v" "$ck" "$push" "$rs" "$(ratio "$push" "$rs")" "$prss")"
  done
  TLB=$(bucket_bytes tl-bench proj/); RB=$(bucket_bytes restic-bench "")
  first_p=${pushes[0]}; first_r=${restics[0]}
  inc_p=$(printf '%s\n' "${pushes[@]:1}" | median); inc_r=$(printf '%s\n' "${restics[@]:1}" | median)
  inc_c=$(printf '%s\n' "${cks[@]:1}" | median)
  say "first state: tl push ${first_p} s (checkpoint ${cks[0]} s before it) vs restic backup ${first_r} s: $(ratio "$first_p" "$first_r") of restic; checkpoint + push $(ratio "$(echo "${cks[0]} + $first_p" | bc)" "$first_r")"
  say "later states (median): tl push ${inc_p} s (checkpoint ${inc_c} s) vs restic backup ${inc_r} s: $(ratio "$inc_p" "$inc_r"); checkpoint + push $(ratio "$(echo "$inc_c + $inc_p" | bc)" "$inc_r")"
  say "whole history: tl push $(printf '%s\n' "${pushes[@]}" | sum) s, restic $(printf '%s\n' "${restics[@]}" | sum) s"
  say "on the server: tl $TLB bytes, restic $RB bytes"
  timed "$PROJ" push-noop "$TL" push s3
  say "a push with nothing new: ${WALL} s"
fi

if [[ " $PHASES " == *" clone "* ]]; then
  say ""
  say "== clone: tl clone beside restic restore latest (each into an empty directory) =="
  sync; echo 1 > /proc/sys/vm/drop_caches 2> /dev/null || true
  timed "$OUT" tl-clone "$TL" clone s3://tl-bench/proj "$OUT/tl-clone" --endpoint "$EP"; tc=$WALL; tcr=$RSS
  timed "$OUT" restic-restore restic -r "s3:$EP/restic-bench" restore latest --target "$OUT/restic-restore"; rr=$WALL; rrr=$RSS
  # tl leaves out what it never captures (private keys and other secrets the
  # rules exclude): the clone must equal a replay of the newest checkpoint.
  NEWEST=$(cd "$PROJ" && "$TL" log --json | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r.get("type","checkpoint")=="checkpoint"][0])')
  (cd "$PROJ" && "$TL" replay --to "$NEWEST" --into "$OUT/replayed" > /dev/null)
  diff -r --exclude=.tl "$OUT/replayed" "$OUT/tl-clone" > /dev/null || { echo "tl clone differs from a replay of $NEWEST" >&2; exit 1; }
  left_out=$(diff -rq --exclude=.tl "$PROJ" "$OUT/tl-clone" | wc -l || true)
  diff -r "$PROJ" "$OUT/restic-restore/proj" --exclude=.tl > /dev/null || { echo "restic restore differs" >&2; exit 1; }
  [ "$(cd "$PROJ" && "$TL" log --json | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r.get("type","checkpoint")=="checkpoint"])')" = \
    "$(cd "$OUT/tl-clone" && "$TL" log --json | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r.get("type","checkpoint")=="checkpoint"])')" ] \
    || { echo "the clone lists other checkpoints" >&2; exit 1; }
  say "tl clone ${tc} s (peak ${tcr} KiB) vs restic restore ${rr} s (peak ${rrr} KiB): $(ratio "$tc" "$rr") of restic; the clone equals a replay of the newest checkpoint ($left_out paths of the project tl never captures: secrets), restic's the project"
  rm -rf "$OUT/tl-clone" "$OUT/restic-restore" "$OUT/replayed"
fi

if [[ " $PHASES " == *" lag "* || " $PHASES " == *" requests "* ]]; then
  # The daemon's own project, its remote with auto push (the default interval).
  DP=$OUT/daemon-proj
  mkdir -p "$DP"; cp -a "$CORPUS/." "$DP/"
  (cd "$DP" && "$TL" init > /dev/null && "$TL" checkpoint > /dev/null \
    && "$TL" remote add auto s3://tl-bench/daemon --endpoint "$EP" > /dev/null && "$TL" push auto > /dev/null)
  PROJ=$DP
  (cd "$DP" && "$TL" daemon start > "$OUT/daemon-start.txt" 2>&1)
  sleep 15
  dseg() { s3 "$EP/tl-bench?list-type=2&prefix=daemon/" | grep -o '/seg/' | wc -l; }
fi

if [[ " $PHASES " == *" lag "* ]]; then
  say ""
  say "== lag: a write under the daemon until its segment is listed on the server ($LAG_SAMPLES samples) =="
  lags=()
  for i in $(seq 1 "$LAG_SAMPLES"); do
    sleep "$(python3 -c "import random; random.seed($i); print(round(random.uniform(0.5, 4), 2))")"
    n0=$(dseg)
    t0=$(date +%s.%N)
    echo "lag sample $i $(date +%s.%N)" > "$DP/lag-$i.txt"
    while [ "$(dseg)" -le "$n0" ]; do
      sleep 0.05
      if [ "$(echo "$(date +%s.%N) - $t0 > 120" | bc)" = 1 ]; then echo "sample $i: no segment in 120 s" >&2; exit 1; fi
    done
    lags+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  done
  printf '%s\n' "${lags[@]}" > "$OUT/lags.txt"
  say "lag p50 $(pct 50 < "$OUT/lags.txt") s, p99 $(pct 99 < "$OUT/lags.txt") s, max $(sort -g "$OUT/lags.txt" | tail -1) s (polling every 50 ms)"
  say "$(cd "$DP" && "$TL" daemon status 2>&1 | grep -i -A3 remote | head -4 | tr '\n' ' ')"
fi

if [[ " $PHASES " == *" requests "* ]]; then
  say ""
  say "== requests: what the server receives from the daemon (moto's request log) =="
  sleep 15
  r0=$(requests); sleep "$IDLE_S"; r1=$(requests)
  idle=$((r1 - r0))
  say "idle ${IDLE_S} s: $idle requests -> $(( idle * 3600 / IDLE_S )) an hour"
  r0=$(requests); end=$(( $(date +%s) + SAVE_S )); k=0
  while [ "$(date +%s)" -lt "$end" ]; do
    k=$((k + 1)); echo "save $k" >> "$DP/saved.txt"; sleep 10
  done
  r1=$(requests)
  saves=$((r1 - r0))
  say "one save every 10 s for ${SAVE_S} s ($k saves): $saves requests -> $(( saves * 3600 / SAVE_S )) an hour ($(python3 -c "print(round($saves / $k, 1))") a save)"
  grep -o '"[A-Z]* /[^ ]*' "$OUT/moto.log" | tail -n "$saves" | sed 's/?.*//; s#/seg/.*#/seg/…#; s#/manifest/.*#/manifest/…#' | sort | uniq -c | sort -rn | head -8 | while read -r l; do say "   $l"; done
fi
say ""
say "raw output: $OUT"
