#!/usr/bin/env bash
# Benchmark for `tl publish` (issue 18), beside `git add -A && git commit` doing
# the same work in the same run, on two copies of a corpus that start from the
# same base commit:
#   1. one state: REPS rounds, alternating, each editing FILES_PER_STEP files in
#      both copies, then `tl publish --branch one-K` (which captures the present
#      first) against `git add -A && git commit`; medians and minimums;
#   2. a series: N checkpoints (FILES_PER_STEP files changed in each), made with
#      `tl checkpoint`, against the loop of N `git add -A && git commit`; then
#      `tl publish --since FIRST --branch series` writes the N commits in one
#      run, and `--squash` writes one.
# Checks: the series branch's final tree equals git's HEAD tree; `git fsck
# --strict` is clean on the published repository.
#
# Usage: benches/publish.sh [N] [CORPUS] [REPS]   (defaults: 1000, /tmp/tlb/corpus-medium, 7)
# Needs: a profiling build (cargo build --profile profiling -p tl) and git.
# The corpus is copied, never modified in place.
set -euo pipefail
N=${1:-1000}
CORPUS=${2:-/tmp/tlb/corpus-medium}
REPS=${3:-7}
FILES_PER_STEP=3
TL=${TL:-$(cd "$(dirname "$0")/.." && pwd)/target/profiling/tl}
[ -x "$TL" ] || { echo "no tl binary at $TL: cargo build --profile profiling -p tl" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tl-publish-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@x GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@x

now() { date +%s%N; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minimum() { sort -n | head -1; }

P=$WORK/tl     # tl's copy: a Git work tree with tl on it
G=$WORK/git    # git's copy
cp -a "$CORPUS" "$P"
# tl leaves out files that usually hold secrets (README); git would commit them,
# and the trees would differ by them. The copy has none.
find "$P" -type f \( -name 'id_rsa*' -o -name 'id_dsa*' -o -name 'id_ecdsa*' \
    -o -name 'id_ed25519*' \) -delete
(cd "$P" && find . -type f -not -path './.git/*' | LC_ALL=C sort) > "$WORK/files"
NFILES=$(wc -l < "$WORK/files")
git -C "$P" init -q -b main
git -C "$P" config gc.auto 0
git -C "$P" config user.name bench
git -C "$P" config user.email bench@x
git -C "$P" add -A
git -C "$P" commit -q -m base
cp -a "$P" "$G"
"$TL" -C "$P" init > /dev/null
"$TL" -C "$P" checkpoint > /dev/null

step=0
edit_both() {
    for ((k = 0; k < FILES_PER_STEP; k++)); do
        f=$(sed -n "$(((step * 7919 + k * 104729) % NFILES + 1))p" "$WORK/files")
        echo "edit $step.$k" >> "$P/$f"
        echo "edit $step.$k" >> "$G/$f"
    done
    step=$((step + 1))
}

# 1. One state, alternating.
: > "$WORK/one-tl"; : > "$WORK/one-git"
for ((r = 0; r < REPS; r++)); do
    edit_both
    t=$(now); "$TL" -C "$P" publish --branch "one-$r" > /dev/null; echo $(($(now) - t)) >> "$WORK/one-tl"
    t=$(now); git -C "$G" add -A; git -C "$G" commit -q -m "one $r"; echo $(($(now) - t)) >> "$WORK/one-git"
done

# 2. A series of N checkpoints.
first=""
cp_ns=0
git_ns=0
for ((i = 0; i < N; i++)); do
    edit_both
    t=$(now)
    id=$("$TL" -C "$P" checkpoint --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    cp_ns=$((cp_ns + $(now) - t))
    [ -n "$first" ] || first=$id
    t=$(now); git -C "$G" add -A; git -C "$G" commit -q -m "step $i"; git_ns=$((git_ns + $(now) - t))
done
t=$(now); "$TL" -C "$P" publish "$id" --since "$first" --branch series --json > "$WORK/series.json"; series_ns=$(($(now) - t))
t=$(now); "$TL" -C "$P" publish "$id" --since "$first" --squash --branch squashed > /dev/null; squash_ns=$(($(now) - t))
commits=$(git -C "$P" rev-list --count main..series)
tl_tree=$(git -C "$P" rev-parse 'series^{tree}')
git_tree=$(git -C "$G" rev-parse 'HEAD^{tree}')
[[ "$tl_tree" == "$git_tree" ]] || { echo "final trees differ: $tl_tree vs $git_tree" >&2; exit 1; }
t=$(now); git -C "$P" fsck --strict --no-dangling; fsck_ns=$(($(now) - t))
pack_bytes=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pack_bytes"])' "$WORK/series.json")

one_tl=$(median < "$WORK/one-tl"); one_git=$(median < "$WORK/one-git")
echo "corpus: $CORPUS ($NFILES files); $FILES_PER_STEP files changed per step; tl $("$TL" --version)"
echo "one state, $REPS alternating rounds (median / min):"
echo "  tl publish --branch B (captures first): $(ms "$one_tl") / $(ms "$(minimum < "$WORK/one-tl")") ms"
echo "  git add -A && git commit:               $(ms "$one_git") / $(ms "$(minimum < "$WORK/one-git")") ms"
echo "  ratio tl/git (medians):                 $(awk -v a="$one_tl" -v b="$one_git" 'BEGIN { printf "%.2f", a / b }')"
echo "series of $N states:"
echo "  git add -A && git commit loop:          $(secs $git_ns) s"
echo "  tl checkpoint loop (context):           $(secs $cp_ns) s"
echo "  tl publish --since FIRST ($commits commits, one run): $(secs $series_ns) s ($(awk -v a="$git_ns" -v b="$series_ns" 'BEGIN { printf "%.1f", a / b }')x faster than the git loop), pack $pack_bytes bytes"
echo "  tl publish --since FIRST --squash:      $(secs $squash_ns) s"
echo "  identical final tree: $tl_tree; git fsck --strict clean in $(secs $fsck_ns) s"
