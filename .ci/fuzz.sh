#!/usr/bin/env bash
# Bounded fuzz runs of every target in fuzz/ (RELIABILITY.md T13), on the stable
# toolchain: `--sanitizer none` because plain `cargo fuzz run` needs nightly's -Z flags
# (see RELIABILITY.md, "Fuzzing on the stable toolchain").
#
#   .ci/fuzz.sh                    # every target, FUZZ_SECONDS (30) each
#   FUZZ_SECONDS=300 .ci/fuzz.sh frame_decode
#
# The checked-in corpus (fuzz/corpus/TARGET) is read as seeds but never written:
# new inputs go to a scratch corpus ($FUZZ_WORK, default target/fuzz-work), so a CI
# run leaves the tree clean. A crash leaves its input in fuzz/artifacts/TARGET/ and
# fails the script; minimise it with `cargo fuzz tmin --sanitizer none TARGET FILE`,
# then check it into fuzz/corpus/TARGET/ so `cargo test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${FUZZ_SECONDS:-30}
WORK=${FUZZ_WORK:-$ROOT/target/fuzz-work}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

cd fuzz
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cargo fuzz list)
fi

for target in "${TARGETS[@]}"; do
  echo "== cargo fuzz run $target (${SECONDS_EACH}s)"
  mkdir -p "$WORK/corpus/$target" "$WORK/logs"
  log="$WORK/logs/$target.log"
  # -timeout: one input taking 10 s is a hang (the targets are bounded by design).
  set +e
  cargo fuzz run --sanitizer none "$target" "$WORK/corpus/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    2>&1 | tee "$log" | grep -E '^(#[0-9]+\s+(INITED|DONE)|Done|stat::|SUMMARY|thread .* panicked)'
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ] || grep -qE 'panicked|ERROR: libFuzzer|SUMMARY: libFuzzer' "$log"; then
    echo "FAIL: $target (exit $status); log: $log; inputs in fuzz/artifacts/$target/" >&2
    tail -40 "$log" >&2
    exit 1
  fi
done
echo "== fuzz: all targets ran ${SECONDS_EACH}s without a crash, timeout or OOM"
