#!/usr/bin/env bash
# Issue 11's "no regression" check: the peer harness on the small and medium corpora,
# tl before the restructuring (e900d6d) and after it (HEAD), each beside chkpt and git
# in the same run, alternating before/after so both see the same machine state.
#
#   cargo build --release -p tl && cp target/release/tl /tmp/tl-after
#   git worktree add /tmp/tl-e900 e900d6d && (cd /tmp/tl-e900 && cargo build --release -p tl) \
#     && cp /tmp/tl-e900/target/release/tl /tmp/tl-before
#   bash ../shared/bench/make-corpus.sh /tmp/tlb/corpus-small small
#   bash ../shared/bench/make-corpus.sh /tmp/tlb/corpus-medium medium
#   bash benches/results/peers-restructure-2026-12-02.sh
#   python3 ../shared/bench/lib/summarize.py /tmp/tlb/restructure/*.tsv
set -euo pipefail
HARNESS=${HARNESS:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench/run-peers.sh}
OUT=${OUT:-/tmp/tlb/restructure}
REPS=${REPS:-5}
mkdir -p "$OUT"
for corpus in small medium; do
  for side in before after; do
    TL=/tmp/tl-$side PEERS="tl chkpt git" REPS=$REPS OUTDIR=$OUT WORK=/tmp/tlb/run-$corpus-$side \
      bash "$HARNESS" /tmp/tlb/corpus-$corpus "$corpus-$side"
  done
done
