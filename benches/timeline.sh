#!/usr/bin/env bash
# Benchmarks for timelines and bisect (issue 14), each beside its peer in the
# same run:
#   * `tl timeline switch` between two timelines differing in 1, 100 and 5,000
#     files of the corpus, against `git switch` between two branches with the
#     same difference (alternating, REPS each way, medians and minimums);
#   * `tl bisect` over STATES captured states (one file changed per state):
#     its steps (target <= ceil(log2 n) + 1) and its time per step, against one
#     `tl replay --into` of a state into an empty directory.
#
# Usage: benches/timeline.sh [CORPUS] [REPS] [STATES]
#        (defaults: /tmp/tlb/corpus-medium, 7, 1000)
# Needs: a profiling build (cargo build --profile profiling -p tl) and git.
# The corpus is copied, never modified in place.
set -euo pipefail
CORPUS=${1:-/tmp/tlb/corpus-medium}
REPS=${2:-7}
STATES=${3:-1000}
TL=${TL:-$(cd "$(dirname "$0")/.." && pwd)/target/profiling/tl}
WORK=$(mktemp -d /tmp/tl-timeline-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@x GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@x

now() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
# median and minimum of the numbers on stdin (ns), as "median min" in ms
stats() { sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f %.1f\n", m / 1e6, a[1] / 1e6 }'; }

echo "tl: $("$TL" --version 2>/dev/null | head -1)  git: $(git --version)  corpus: $CORPUS ($(find "$CORPUS" -type f | wc -l) files)"
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-18s %-18s %s\n' files "tl switch med/min" "git switch med/min" "ratio (median)"

for DIFF in 1 100 5000; do
    P="$WORK/p$DIFF"; G="$WORK/g$DIFF"
    rm -rf "$P" "$G"; cp -a "$CORPUS" "$P/"; cp -a "$CORPUS" "$G/"
    (cd "$P" && find . -type f -not -path './.git/*' -not -path './.tl/*' | LC_ALL=C sort) > "$WORK/files"
    # Every k-th file so the changed ones spread over the tree.
    NFILES=$(wc -l < "$WORK/files")
    STEP=$((NFILES / DIFF)); ((STEP >= 1)) || STEP=1
    awk -v s="$STEP" -v n="$DIFF" 'NR % s == 0 && c < n { print; c++ }' "$WORK/files" > "$WORK/changed"
    # git and tl each in a copy of their own (neither sees the other's files).
    git -C "$G" init -q -b main
    git -C "$G" config gc.auto 0
    git -C "$G" add -A && git -C "$G" commit -q -m base
    "$TL" -C "$P" init > /dev/null
    "$TL" -C "$P" checkpoint -m base > /dev/null 2>&1
    "$TL" -C "$P" timeline create other > /dev/null 2>&1
    git -C "$G" switch -q -c other
    while read -r f; do echo "changed on other" >> "$P/$f"; echo "changed on other" >> "$G/$f"; done < "$WORK/changed"
    "$TL" -C "$P" checkpoint -m other > /dev/null 2>&1
    git -C "$G" commit -q -am other
    : > "$WORK/tl_ns"; : > "$WORK/git_ns"
    for ((r = 0; r < REPS; r++)); do
        for target in main other; do
            t=$(now); "$TL" -C "$P" timeline switch "$target" > /dev/null 2>&1; echo $(($(now) - t)) >> "$WORK/tl_ns"
            t=$(now); git -C "$G" switch -q "$target"; echo $(($(now) - t)) >> "$WORK/git_ns"
        done
    done
    read -r tmed tmin < <(stats < "$WORK/tl_ns")
    read -r gmed gmin < <(stats < "$WORK/git_ns")
    printf '%-8s %-18s %-18s %s\n' "$DIFF" "$tmed / $tmin ms" "$gmed / $gmin ms" "$(awk -v a="$tmed" -v b="$gmed" 'BEGIN { printf "%.2fx", a / b }')"
    rm -rf "$P" "$G"
done

# Bisect over STATES states of a small tree: the first bad state is chosen so
# the search runs to its end; the command is a test of one file.
B="$WORK/bisect"
mkdir -p "$B"; cp -a "$CORPUS/." "$B/" 2>/dev/null || true
"$TL" -C "$B" init > /dev/null
"$TL" -C "$B" checkpoint > /dev/null 2>&1
t=$(now)
for ((i = 1; i <= STATES; i++)); do
    echo "$i" > "$B/state.txt"
    "$TL" -C "$B" checkpoint > /dev/null 2>&1
done
echo "made $STATES states in $(ms $(($(now) - t))) ms"
IDS=$("$TL" -C "$B" log --json | python3 -c "import json,sys; l=[c['id'] for c in json.load(sys.stdin) if c['type']=='checkpoint']; print(l[-1], l[0])")
read -r GOOD BAD <<< "$IDS"
BADAT=$((STATES * 2 / 3 + 1))
t=$(now)
"$TL" -C "$B" bisect --good "$GOOD" --bad "$BAD" --json -- sh -c "test \$(cat state.txt) -lt $BADAT" > "$WORK/bisect.json" 2> /dev/null
bis_ns=$(($(now) - t))
read -r steps found < <(python3 -c "import json; v=json.load(open('$WORK/bisect.json')); print(len(v['steps']), v['first_bad']['id'])")
bound=$(python3 -c "import math; print(math.ceil(math.log2($STATES)) + 1)")
: > "$WORK/into_ns"
for ((r = 0; r < 3; r++)); do
    rm -rf "$WORK/into"
    t=$(now); "$TL" -C "$B" replay --to "$BAD" --into "$WORK/into" > /dev/null; echo $(($(now) - t)) >> "$WORK/into_ns"
done
read -r imed imin < <(stats < "$WORK/into_ns")
per_step=$(awk -v ns="$bis_ns" -v s="$steps" 'BEGIN { printf "%.1f", ns / s / 1e6 }')
echo "bisect over $STATES states: $steps steps (bound ceil(log2 n)+1 = $bound), first bad $found, total $(ms $bis_ns) ms, $per_step ms per step"
echo "one replay --into an empty dir: median $imed ms (min $imin): per step / replay --into = $(awk -v a="$per_step" -v b="$imed" 'BEGIN { printf "%.2fx", a / b }')"
