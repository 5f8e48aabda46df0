#!/usr/bin/env bash
# The simulated week of issue 12 (BENCHMARKS.md, "A simulated week"): one week
# of editing driven through the tl-index library with an injected clock
# (benches/src/bin/simweek), GC'd by the default retention policy, beside restic
# and borg given the same history and the equivalent policy.
#
# Usage: benches/simweek.sh [OUT]          (default OUT: /tmp/tlb/simweek-<time>)
# Env:   CORPUS   tree to copy (default /tmp/tlb/corpus-small, built by
#                 ../shared/bench/make-corpus.sh /tmp/tlb/corpus-small small if absent)
#        INTERVAL simulated seconds between edits, LO..HI (default 5..30; 60..300 is quick)
#        EVERY    the peers snapshot every EVERY-th step (and the last); tl runs twice:
#                 every step, and the same subsample (default 25)
#        PEERS    default "restic borg"; PEERS= (empty) runs tl only
#        SIMWEEK  the binary (default target/profiling/simweek; build it first:
#                 cargo build --profile profiling -p tl-benches --bin simweek)
# Needs: restic, borg (Debian: apt-get install -y restic borgbackup), python3, GNU time.
#
# Runs are sequential; each tool's store is measured with `du -sb` (apparent bytes;
# restic's and borg's caches are kept outside their repositories and not counted).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/tlb/simweek-$(date -u +%Y%m%dT%H%M%S)}
CORPUS=${CORPUS:-/tmp/tlb/corpus-small}
INTERVAL=${INTERVAL:-5..30}
EVERY=${EVERY:-25}
PEERS=${PEERS-restic borg}
SIMWEEK=${SIMWEEK:-$HERE/../target/profiling/simweek}
export TZ=UTC LC_ALL=C
[ -e "$OUT" ] && { echo "refusing: $OUT exists" >&2; exit 2; }
mkdir -p "$OUT"
if [ ! -d "$CORPUS" ]; then
  bash "$HERE/../../shared/bench/make-corpus.sh" "$CORPUS" small
fi

say() { printf '%s\n' "$*" | tee -a "$OUT/summary.txt"; }
bytes() { du -sb "$1" | cut -f1; }
# timed LABEL CMD...: runs CMD under GNU time, prints "LABEL rss_kib N wall_secs S"
timed() {
  local label=$1; shift
  /usr/bin/time -f '%M %e' -o "$OUT/time.$label" "$@" > "$OUT/out.$label"
  read -r rss wall < <(tail -1 "$OUT/time.$label")
  say "$label rss_kib $rss wall_secs $wall"
}
field() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

say "# simweek $(date -u +%FT%TZ) corpus=$CORPUS interval=$INTERVAL every=$EVERY"
say "# $(uname -r), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg); restic: $(restic version 2>/dev/null | cut -d' ' -f2); borg: $(borg --version 2>/dev/null | cut -d' ' -f2)"

# tl: every step, then the peers' subsample; each GC'd in its own process.
for run in full sub; do
  every=1; [ "$run" = sub ] && every=$EVERY
  timed "tl-$run.week" "$SIMWEEK" tl "$OUT/tl-$run" --corpus "$CORPUS" --interval "$INTERVAL" --every "$every"
  sed "s/^/tl-$run.week /" "$OUT/out.tl-$run.week" | tee -a "$OUT/summary.txt"
  say "tl-$run.store_bytes_before $(bytes "$OUT/tl-$run/tree/.tl")"
  end=$(field "$OUT/out.tl-$run.week" end_ns)
  timed "tl-$run.gc" "$SIMWEEK" gc "$OUT/tl-$run/tree" --now "$end"
  sed "s/^/tl-$run.gc /" "$OUT/out.tl-$run.gc" | tee -a "$OUT/summary.txt"
  say "tl-$run.store_bytes_after $(bytes "$OUT/tl-$run/tree/.tl")"
done
END_NS=$(field "$OUT/out.tl-sub.week" end_ns)

# The policy's equivalents for the subsample (see BENCHMARKS.md): its snapshots
# are at least EVERY*LO seconds apart, so when that is >= 60 s "one per minute for
# a day" keeps every snapshot of the last day, and keep-all 1h is inside it.
python3 - "$OUT/tl-sub/manifest.tsv" "$END_NS" > "$OUT/policy.env" <<'PY'
import sys, csv
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter='\t') if r['snapshot'] == '1']
end = int(sys.argv[2]); day = 86400 * 10**9
t = sorted(int(r['time_ns']) for r in rows)
gap = min(b - a for a, b in zip(t, t[1:])) // 10**9
# borg counts buckets, not spans, and only from the real clock's now: emulate
# the spans with counts, by borg's own rule (newest first; a bucket whose newest
# archive an earlier rule kept uses up no count).
kept = {x for x in t if x > end - day}                 # keep-last: the last day
def count(period):
    n, last = 0, None
    for x in sorted(t, reverse=True):
        p = x // period
        if p != last:
            last = p
            if x not in kept:
                kept.add(x); n += 1
    return n
hourly = count(3600 * 10**9)
daily = count(86400 * 10**9)
print(f"MIN_GAP_SECS={gap}")
print(f"BORG_LAST={sum(1 for x in t if x > end - day)}")
print(f"BORG_HOURLY={hourly}")
print(f"BORG_DAILY={daily}")
print(f"EXPECTED_KEPT={len(kept)}")
PY
. "$OUT/policy.env"
say "policy min_gap_secs $MIN_GAP_SECS borg_last $BORG_LAST borg_hourly $BORG_HOURLY borg_daily $BORG_DAILY expected_kept $EXPECTED_KEPT"
[ "$MIN_GAP_SECS" -ge 60 ] || say "WARNING: subsample snapshots closer than 60 s: keep-within 1d keeps more than minutely would"

for peer in $PEERS; do
  case $peer in
    restic)
      export RESTIC_PASSWORD=bench
      R=$OUT/restic-repo; C=$OUT/restic-cache
      restic -r "$R" --cache-dir "$C" init -q > /dev/null
      snap="restic -r '$R' --cache-dir '$C' backup -q --host bench --time \"\$T\" ."
      prune=(restic -r "$R" --cache-dir "$C" forget -q --keep-within 1d --keep-within-hourly 7d
             --keep-within-daily 90d --prune)
      count() { restic -r "$R" --cache-dir "$C" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
      ;;
    borg)
      export BORG_PASSPHRASE='' BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_BASE_DIR=$OUT/borg-base
      R=$OUT/borg-repo
      borg init -e none "$R"
      snap="borg create --timestamp \"\$T_ISO\" \"$R::s\$STEP\" ."
      prune=(borg prune --keep-last "$BORG_LAST" --keep-hourly "$BORG_HOURLY" --keep-daily "$BORG_DAILY" "$R")
      count() { borg list --short "$R" | wc -l; }
      ;;
    *) echo "unknown peer $peer" >&2; exit 2 ;;
  esac
  timed "$peer.week" "$SIMWEEK" replay "$OUT/$peer" --corpus "$CORPUS" --interval "$INTERVAL" --every "$EVERY" --peer-cmd "$snap"
  sed "s/^/$peer.week /" "$OUT/out.$peer.week" | tee -a "$OUT/summary.txt"
  if cmp -s "$OUT/$peer/manifest.tsv" "$OUT/tl-sub/manifest.tsv"; then
    say "$peer.manifest identical to tl-sub's"
  else
    say "$peer.manifest DIFFERS from tl-sub's"; exit 1
  fi
  say "$peer.snapshots_before $(count)"
  say "$peer.store_bytes_before $(bytes "$R")"
  timed "$peer.prune" "${prune[@]}"
  if [ "$peer" = borg ]; then
    timed "$peer.compact" borg compact "$R"
  fi
  say "$peer.snapshots_after $(count)"
  say "$peer.store_bytes_after $(bytes "$R")"
done
say "# done $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
