#!/usr/bin/env bash
# The reliability tests of RELIABILITY.md at their reported sizes (issue 19), and a
# long fuzz run of every target with the new inputs merged into fuzz/corpus/.
#
# Usage: benches/soak.sh [tests|fuzz|all|report] [NAME...]  (default: all, every NAME)
#   tests: NAMEs among T4 T6store T14 T8cli T8wal, each run once, timed:
#     T4       TL_HOSTILE_RUNS=1000000        vandalized logs, 0 false accepts, bounded memory
#     T6store  TL_STORE_CRASH_IMAGES=10000    whole-store power-loss images, prefix + fsck clean
#     T14      TL_SNAPSHOT_TAIL_CASES=10000   snapshot + tail == full fold (proptest cases)
#     T8cli    TL_KILL9_RUNS=1000             kill -9 of a real `tl checkpoint`
#     T8wal    TL_KILL_RUNS=1000              kill -9 of a process appending to the log
#   Each size is the test's own environment variable (CI leaves it unset and runs
#   the small default); set it to run another size, e.g. TL_HOSTILE_RUNS=10000.
#   The tests are built with the `soak` profile: release speed, overflow checks and
#   debug assertions on.
#   fuzz: NAMEs among `cargo fuzz list` (in the order given); FUZZ_SECS (1800) each, FUZZ_JOBS (2) targets
#     at a time (one per core), `--sanitizer none` on the stable toolchain as
#     .ci/fuzz.sh does. New inputs go to a scratch corpus ($FUZZ_WORK, default
#     target/soak-fuzz), then `-merge=1` adds to fuzz/corpus/TARGET only those that
#     bring new coverage. A crash leaves its input in fuzz/artifacts/TARGET/ and is
#     reported; the other targets still run.
#
# Everything runs under `nice -n 19` (the machine is shared). The output is meant
# to be kept: benches/soak.sh all 2>&1 | tee benches/results/soak-COMMIT-DATE.txt
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PHASE=${1:-all}
shift || true
FUZZ_SECS=${FUZZ_SECS:-1800}
FUZZ_JOBS=${FUZZ_JOBS:-2}
WORK=${FUZZ_WORK:-$ROOT/target/soak-fuzz}
FAILED=0

stamp() { echo "$(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"; }

# name | package | exact test path | size variable | reported size
TESTS=(
  "T4|tl-wal|hostile::random_bursts_and_overwrites_never_panic_nor_return_records_that_were_not_written|TL_HOSTILE_RUNS|1000000"
  "T6store|tl-index|crash::power_loss_at_every_log_write_keeps_a_prefix_with_every_acknowledged_checkpoint|TL_STORE_CRASH_IMAGES|10000"
  "T14|tl-index|fsck::snapshot_plus_tail_equals_the_full_fold|TL_SNAPSHOT_TAIL_CASES|10000"
  "T8cli|tl|kill9::kill_9_during_capture_never_loses_an_acknowledged_checkpoint|TL_KILL9_RUNS|1000"
  "T8wal|tl-wal|kill9::kill_9_of_a_writing_process_loses_no_acknowledged_batch|TL_KILL_RUNS|1000"
)

wanted() { # NAME: true when no names were given or NAME is one of them
  [ ${#NAMES[@]} -eq 0 ] && return 0
  local n
  for n in "${NAMES[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}

run_tests() {
  echo "== soak tests (cargo test --profile soak), $(stamp)"
  # Always the three packages together: one feature set, so one build serves all
  # (each exact test name is in one of the three test binaries).
  local pkgs=(-p tl-wal -p tl-index -p tl) line name pkg path var size
  nice -n 19 cargo test --profile soak "${pkgs[@]}" --test it --no-run 2>&1 | tail -3
  local summary=()
  for line in "${TESTS[@]}"; do
    IFS='|' read -r name pkg path var size <<<"$line"
    wanted "$name" || continue
    size=${!var:-$size}
    echo "-- $name ($pkg): $var=$size cargo test --profile soak ${pkgs[*]} --test it $path -- --exact"
    echo "   start $(stamp)"
    local log=$WORK/logs/test-$name.log
    mkdir -p "$WORK/logs"
    local t0=$SECONDS
    env "$var=$size" nice -n 19 /usr/bin/time -f '   wall %e s, user %U s, sys %S s, max RSS %M KiB' \
      cargo test -q --profile soak "${pkgs[@]}" --test it "$path" -- --exact --nocapture \
      >"$log" 2>&1
    local status=$?
    local took=$((SECONDS - t0))
    grep -E '^(T[0-9]|   wall)' "$log" | sed 's/^T/   T/'
    echo "   end   $(stamp)"
    if [ $status -ne 0 ]; then
      echo "   FAILED (exit $status); log: $log"
      grep -E 'panicked|assert' -A6 "$log" | head -30 | sed 's/^/   | /'
      FAILED=1
      summary+=("$name $var=$size FAILED after ${took}s")
    else
      summary+=("$name $var=$size held, ${took}s: $(grep -E '^T[0-9]' "$log" | tail -1)")
    fi
  done
  echo "== soak tests summary"
  printf '%s\n' "${summary[@]}"
}

fuzz_one() { # TARGET: one long run, then the merge; writes its own log
  local t=$1 log=$WORK/logs/fuzz-$1.log
  mkdir -p "$WORK/corpus/$t" "$WORK/logs" "$ROOT/fuzz/corpus/$t"
  {
    echo "start $(stamp)"
    nice -n 19 cargo fuzz run --sanitizer none "$t" "$WORK/corpus/$t" "corpus/$t" -- \
      -max_total_time="$FUZZ_SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    echo "fuzz exit $?"
    echo "end $(stamp)"
    # Only inputs that add coverage to the checked-in corpus are copied into it.
    nice -n 19 cargo fuzz run --sanitizer none "$t" "corpus/$t" "$WORK/corpus/$t" -- -merge=1
    echo "merge exit $?"
  } >"$log" 2>&1
}

fuzz_report() { # TARGET
  local t=$1 log=$WORK/logs/fuzz-$1.log
  local execs rss done_line merged status
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  rss=$(grep -oE 'stat::peak_rss_mb: +[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$')
  done_line=$(grep -E '^#[0-9]+\s+DONE.*corp:' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+')
  merged=$(grep -E 'MERGE-OUTER: [0-9]+ new files' "$log" | tail -1 | sed 's/.*MERGE-OUTER: //')
  status=$(grep -oE '^fuzz exit [0-9]+' "$log" | grep -oE '[0-9]+$')
  local secs=$(( $(date -d "$(grep -oE '^end [0-9T:Z-]+' "$log" | cut -d' ' -f2)" +%s) - $(date -d "$(grep -oE '^start [0-9T:Z-]+' "$log" | cut -d' ' -f2)" +%s) ))
  local verdict=held
  if [ "${status:-1}" != 0 ] || grep -qE 'panicked|ERROR: libFuzzer|SUMMARY: libFuzzer' "$log"; then
    verdict="FAILED (exit ${status:-?}); inputs in fuzz/artifacts/$t/; log $log"
    FAILED=1
  fi
  echo "$t: ${secs}s, ${execs:-?} executions ($(( ${execs:-0} / (secs > 0 ? secs : 1) ))/s), $done_line, peak RSS ${rss:-?} MB, merged: ${merged:-none}; $verdict"
  grep -E 'panicked|SUMMARY|artifact_prefix.*Test unit|Test unit written' "$log" | head -5 | sed 's/^/   | /'
}

run_fuzz() {
  cd "$ROOT/fuzz"
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
  fi
  local targets=() all=()
  mapfile -t all < <(cargo fuzz list)
  [ "$PHASE" = report ] && { for t in "${NAMES[@]:-${all[@]}}"; do fuzz_report "$t"; done; return; }
  if [ ${#NAMES[@]} -eq 0 ]; then
    targets=("${all[@]}")
  else # in the order given
    for t in "${NAMES[@]}"; do
      printf '%s\n' "${all[@]}" | grep -qxF "$t" || { echo "no fuzz target $t" >&2; exit 2; }
      targets+=("$t")
    done
  fi
  [ ${#targets[@]} -eq 0 ] && return 0
  echo "== soak fuzz: ${targets[*]}: ${FUZZ_SECS}s each, $FUZZ_JOBS at a time, $(stamp)"
  nice -n 19 cargo fuzz build --sanitizer none 2>&1 | tail -2
  local i=0
  while [ $i -lt ${#targets[@]} ]; do
    local batch=("${targets[@]:$i:$FUZZ_JOBS}")
    echo "-- ${batch[*]} from $(stamp)"
    for t in "${batch[@]}"; do fuzz_one "$t" & done
    wait
    for t in "${batch[@]}"; do fuzz_report "$t"; done
    i=$((i + FUZZ_JOBS))
  done
  echo "== corpus after the merges"
  for t in "${targets[@]}"; do
    echo "$t: $(ls "corpus/$t" | wc -l) inputs, $(du -sk "corpus/$t" | cut -f1) KiB"
  done
  cd "$ROOT"
}

NAMES=("$@")
echo "tl soak at $(git rev-parse --short HEAD 2>/dev/null), $(nproc) cores, $(stamp)"
case $PHASE in
  tests) run_tests ;;
  fuzz) run_fuzz ;;
  all) run_tests; run_fuzz ;;
  report) run_fuzz ;; # the fuzz lines again, from the logs of an earlier run
  *) echo "usage: benches/soak.sh [tests|fuzz|all|report] [NAME...]" >&2; exit 2 ;;
esac
echo "== done $(stamp)"
exit $FAILED
