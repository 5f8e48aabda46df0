#!/usr/bin/env bash
# Big files (issue 13; BENCHMARKS.md, "Big files"), three measures in one run:
#
# 1. edits: EDITS small edits to a SIZE_MB file of incompressible bytes (even
#    edits append 1 KiB, odd ones overwrite 100 bytes in place, at offsets spread
#    over the file), each followed by a snapshot: tl checkpoint, restic backup,
#    borg create (both chunk content), and git add + commit (whole blobs; only
#    GIT_EDITS edits, since each stores the whole file again). Per tool: the first
#    snapshot's time, the median time of a snapshot after an edit, and the store's
#    growth over the edits (du -sb). Beside them: one warm read of the file (cat),
#    the figure issue 13 compares a checkpoint with (target: <= 1.2x), and with
#    b3sum, a read that also hashes (1 thread, all cores), before each checkpoint.
# 2. big: first capture and restore (tl replay --into) of a BIG_GB file of
#    incompressible bytes, beside cat, b3sum and zstd -1 of the same file and a
#    plain copy (cp + sync), with peak RSS.
# 3. huge: capture, show (to /dev/null) and restore of a HUGE_GB file (64 MiB of
#    noise repeated: the store stays small, every byte is still read, hashed,
#    chunked and written back), peak RSS of each (issue 13: <= 64 MB).
#
# Usage: benches/bigfile.sh [OUT]        (default OUT: /tmp/tlb/bigfile-<time>)
# Env:   SIZE_MB (500) EDITS (100) GIT_EDITS (3) BIG_GB (2) HUGE_GB (4)
#        PEERS ("restic borg git"; empty: tl only)
#        TL (target/profiling/tl: release code with debug info, for perf; build it
#        first: cargo build --profile profiling --bin tl)
#        PHASES ("edits big huge")
# Needs: restic, borg (apt-get install -y restic borgbackup), git, openssl, GNU time,
#        b3sum (cargo install b3sum) for the b3sum line (skipped if absent).
# Disk: about 4 x SIZE_MB + 3 x BIG_GB + 2 x HUGE_GB under OUT, each phase
# removed after it ran.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/tlb/bigfile-$(date -u +%Y%m%dT%H%M%S)}
SIZE_MB=${SIZE_MB:-500}
EDITS=${EDITS:-100}
GIT_EDITS=${GIT_EDITS:-3}
BIG_GB=${BIG_GB:-2}
HUGE_GB=${HUGE_GB:-4}
PEERS=${PEERS-restic borg git}
PHASES=${PHASES:-edits big huge}
TL=${TL:-$HERE/../target/profiling/tl}
export TZ=UTC LC_ALL=C RESTIC_PASSWORD=bench BORG_PASSPHRASE= BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x \
  GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x
[ -x "$TL" ] || { echo "no tl binary at $TL: cargo build --profile profiling --bin tl" >&2; exit 2; }
[ -e "$OUT" ] && { echo "refusing: $OUT exists" >&2; exit 2; }
mkdir -p "$OUT"
SUM=$OUT/summary.txt
say() { printf '%s\n' "$*" | tee -a "$SUM"; }
bytes() { du -sb "$1" | cut -f1; }
# timed DIR LABEL CMD...: runs CMD in DIR under GNU time, its output discarded
# (cat and zstd write the file's size); sets WALL (seconds) and RSS (peak, KiB).
timed() {
  local dir=$1 label=$2; shift 2
  /usr/bin/time -f '%e %M' -o "$OUT/.time" env -C "$dir" "$@" > /dev/null 2> "$OUT/err.$label" || {
    echo "FAILED: $label: $*" >&2; cat "$OUT/err.$label" >&2; exit 1; }
  read -r WALL RSS < <(tail -1 "$OUT/.time")
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# noise FILE BYTES SEED: deterministic incompressible bytes (AES-CTR of zeros).
noise() {
  # openssl dies of SIGPIPE once head has its bytes: check the size instead.
  { openssl enc -aes-128-ctr -nosalt -pass "pass:$3" -pbkdf2 < /dev/zero 2>/dev/null || true; } \
    | head -c "$2" > "$1"
  [ "$(stat -c %s "$1")" = "$2" ] || { echo "noise: short $1" >&2; exit 1; }
}
# edit FILE I: the I-th edit (1-based): append 1 KiB, or overwrite 100 bytes.
edit() {
  python3 - "$1" "$2" <<'PY'
import os, sys
path, i = sys.argv[1], int(sys.argv[2])
rnd = bytes((i * 7919 + k * 104729) % 251 for k in range(1024))
with open(path, "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    if i % 2 == 0:
        f.seek(0, 2); f.write(rnd)
    else:
        f.seek((i * 4_700_001) % (size - 100)); f.write(rnd[:100])
PY
}
tl_init() {
  (cd "$1" && "$TL" init > /dev/null)
  # Above every file this bench writes, whatever the default.
  sed -i 's/^max_file_bytes = .*/max_file_bytes = 17179869184/' "$1/.tl/config.toml"
}

say "bigfile bench $(date -u +%FT%TZ), tl $(cd "$HERE/.." && git rev-parse --short HEAD), $(nproc) cores"

if [[ " $PHASES " == *" edits "* ]]; then
  W=$OUT/edits; mkdir -p "$W"
  noise "$W/base.bin" $((SIZE_MB * 1000 * 1000)) edits
  cat "$W/base.bin" > /dev/null
  reads=()
  for _ in 1 2 3 4 5; do timed "$W" cat cat base.bin; reads+=("$WALL"); done
  READ=$(printf '%s\n' "${reads[@]}" | median)
  say ""
  say "== edits: $EDITS small edits to a ${SIZE_MB} MB file (one warm read: ${READ} s) =="
  say "$(printf '%-7s %10s %12s %12s %14s %10s' tool first_s edit_med_s edit_max_s growth_bytes peak_kib)"
  for tool in tl $PEERS; do
    P=$W/$tool-proj; R=$W/$tool-repo; mkdir -p "$P"; cp "$W/base.bin" "$P/data.bin"
    n=$EDITS; [ "$tool" = git ] && n=$GIT_EDITS
    case $tool in
      tl) tl_init "$P"; snap() { timed "$P" "tl-$1" "$TL" checkpoint; } ;;
      restic) restic init --repo "$R" > /dev/null
              snap() { timed "$W" "restic-$1" restic --repo "$R" backup "$tool-proj"; } ;;
      borg) borg init -e none "$R" > /dev/null
            snap() { timed "$W" "borg-$1" borg create "$R::s$1" "$tool-proj"; } ;;
      git) git -C "$P" init -q
           snap() { timed "$P" "git-$1" sh -c 'git add -A && git commit -q -m s'; } ;;
    esac
    store() { case $tool in tl) bytes "$P/.tl" ;; git) bytes "$P/.git" ;; *) bytes "$R" ;; esac; }
    snap 0; first=$WALL; peak=$RSS; s0=$(store); ws=(); rs=(); b1=(); ba=()
    for i in $(seq 1 "$n"); do
      edit "$P/data.bin" "$i"
      # tl's checkpoint against one read of the file in the same state of the
      # page cache (this VM's reclaim evicts idle cache within minutes).
      # With b3sum: a read that also hashes (one thread, and every core), since
      # a checkpoint must hash every byte to know what changed.
      if [ "$tool" = tl ]; then
        timed "$P" "read-$i" cat data.bin; rs+=("$WALL")
        if command -v b3sum > /dev/null; then
          timed "$P" "b3-$i" b3sum --num-threads 1 data.bin; b1+=("$WALL")
          timed "$P" "b3all-$i" b3sum data.bin; ba+=("$WALL")
        fi
      fi
      snap "$i"; ws+=("$WALL"); [ "$RSS" -gt "$peak" ] && peak=$RSS
    done
    growth=$(( $(store) - s0 ))
    med=$(printf '%s\n' "${ws[@]}" | median); max=$(printf '%s\n' "${ws[@]}" | sort -g | tail -1)
    note=""; [ "$n" != "$EDITS" ] && note="  ($n edits: growth x$((EDITS / n)) for $EDITS = $(( growth * EDITS / n )))"
    say "$(printf '%-7s %10s %12s %12s %14s %10s' "$tool" "$first" "$med" "$max" "$growth" "$peak")$note"
    if [ "$tool" = tl ]; then
      say "        one read of the file just before each checkpoint: median $(printf '%s\n' "${rs[@]}" | median) s"
      if [ ${#b1[@]} -gt 0 ]; then
        say "        b3sum of it just before each checkpoint: median $(printf '%s\n' "${b1[@]}" | median) s (1 thread), $(printf '%s\n' "${ba[@]}" | median) s (all cores)"
      fi
    fi
    rm -rf "$P" "$R"
  done
  rm -rf "$W"
fi

if [[ " $PHASES " == *" big "* ]]; then
  W=$OUT/big; mkdir -p "$W/proj"
  BYTES=$((BIG_GB * 1000 * 1000 * 1000))
  noise "$W/proj/big.bin" "$BYTES" big
  say ""
  say "== big: first capture and restore of a ${BIG_GB} GB file =="
  say "$(printf '%-26s %8s %8s %10s' measure wall_s MB_per_s peak_kib)"
  row() { say "$(printf '%-26s %8s %8s %10s' "$1" "$WALL" "$(echo "$BYTES / $WALL / 1000000" | bc)" "$RSS")"; }
  cat "$W/proj/big.bin" > /dev/null
  timed "$W" cat cat proj/big.bin; row "cat (warm read)"
  if command -v b3sum > /dev/null; then timed "$W" b3 b3sum --num-threads 1 proj/big.bin; row "b3sum, 1 thread"; fi
  timed "$W" zstd zstd -1 -T1 -c proj/big.bin; row "zstd -1, 1 thread"
  timed "$W" cp sh -c "cp proj/big.bin copy.bin && sync"; row "cp + sync (write limit)"
  rm -f "$W/copy.bin"
  tl_init "$W/proj"
  timed "$W/proj" tl-capture "$TL" checkpoint -m big; row "tl checkpoint (first)"
  ID=$(cd "$W/proj" && "$TL" log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  timed "$W/proj" tl-restore sh -c "'$TL' replay --to $ID --into '$W/restored' && sync"
  row "tl replay --into + sync"
  cmp "$W/proj/big.bin" "$W/restored/big.bin" || { echo "restore differs" >&2; exit 1; }
  say "store: $(bytes "$W/proj/.tl") bytes"
  rm -rf "$W"
fi

if [[ " $PHASES " == *" huge "* ]]; then
  W=$OUT/huge; mkdir -p "$W/proj"
  noise "$W/block" $((64 << 20)) huge
  for _ in $(seq 1 $((HUGE_GB * 16))); do cat "$W/block"; done > "$W/proj/huge.img"
  rm "$W/block"
  BYTES=$(stat -c %s "$W/proj/huge.img")
  say ""
  say "== huge: a ${HUGE_GB} GiB file ($BYTES bytes; 64 MiB of noise repeated) =="
  say "$(printf '%-26s %8s %10s' measure wall_s peak_kib)"
  tl_init "$W/proj"
  timed "$W/proj" h-capture "$TL" checkpoint -m huge
  say "$(printf '%-26s %8s %10s' "tl checkpoint" "$WALL" "$RSS")"
  ID=$(cd "$W/proj" && "$TL" log --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  timed "$W/proj" h-show sh -c "'$TL' show huge.img --at $ID > /dev/null"
  say "$(printf '%-26s %8s %10s' "tl show > /dev/null" "$WALL" "$RSS")"
  timed "$W/proj" h-restore "$TL" replay --to "$ID" --into "$W/restored"
  say "$(printf '%-26s %8s %10s' "tl replay --into" "$WALL" "$RSS")"
  cmp "$W/proj/huge.img" "$W/restored/huge.img" || { echo "restore differs" >&2; exit 1; }
  say "store: $(bytes "$W/proj/.tl") bytes"
  rm -rf "$W"
fi
say ""
say "raw output: $OUT"
