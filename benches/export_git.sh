#!/usr/bin/env bash
# Benchmark for `tl export-git` (issue 5): N checkpoints of a corpus, a few files
# changed in each, exported to Git, against a loop of `git add -A && git commit`
# making the same history in the same run; then `git fsck` on both results.
#
# Usage: benches/export_git.sh [N] [CORPUS]     (defaults: 1000, /tmp/tlb/corpus-medium)
# Needs: a profiling build (release code with debug info, for perf:
# cargo build --profile profiling -p tl) and git.
# The corpus is copied, never modified in place.
set -euo pipefail
N=${1:-1000}
CORPUS=${2:-/tmp/tlb/corpus-medium}
FILES_PER_STEP=3
TL=${TL:-$(cd "$(dirname "$0")/.." && pwd)/target/profiling/tl}
WORK=$(mktemp -d /tmp/tl-export-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@x GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@x

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }

cp -a "$CORPUS" "$WORK/tl"
cp -a "$CORPUS" "$WORK/git"
# tl leaves out files that usually hold private keys (README): neither copy holds
# them, so both histories can end on the same tree.
for d in "$WORK/tl" "$WORK/git"; do
    find "$d" -type f \( -name 'id_rsa*' -o -name 'id_dsa*' -o -name 'id_ecdsa*' \
        -o -name 'id_ed25519*' \) -delete
done
(cd "$WORK/tl" && find . -type f -not -path './.git/*' | LC_ALL=C sort) > "$WORK/files"
NFILES=$(wc -l < "$WORK/files")
"$TL" -C "$WORK/tl" init > /dev/null
git -C "$WORK/git" init -q -b main
git -C "$WORK/git" config gc.auto 0   # no background gc inside the timed loop

git_ns=0
tl_ns=0
for ((i = 0; i < N; i++)); do
    if ((i > 0)); then
        for ((k = 0; k < FILES_PER_STEP; k++)); do
            f=$(sed -n "$(((i * 7919 + k * 104729) % NFILES + 1))p" "$WORK/files")
            echo "edit $i.$k" >> "$WORK/tl/$f"
            echo "edit $i.$k" >> "$WORK/git/$f"
        done
    fi
    t=$(now); "$TL" -C "$WORK/tl" checkpoint > /dev/null; tl_ns=$((tl_ns + $(now) - t))
    t=$(now)
    git -C "$WORK/git" add -A
    git -C "$WORK/git" commit -q -m "step $i"
    git_ns=$((git_ns + $(now) - t))
done

t=$(now); "$TL" -C "$WORK/tl" export-git --repo "$WORK/export.git" > "$WORK/export.out"; export_ns=$(($(now) - t))
cat "$WORK/export.out"
t=$(now); "$TL" -C "$WORK/tl" export-git --repo "$WORK/export.git" > /dev/null; noop_ns=$(($(now) - t))

tl_tree=$(git -C "$WORK/export.git" rev-parse 'refs/tl/main^{tree}')
git_tree=$(git -C "$WORK/git" rev-parse 'HEAD^{tree}')
[[ "$tl_tree" == "$git_tree" ]] || { echo "final trees differ: $tl_tree vs $git_tree" >&2; exit 1; }
commits=$(git -C "$WORK/export.git" rev-list --count refs/tl/main)

t=$(now); git -C "$WORK/export.git" fsck --strict --no-dangling; fsck_tl_ns=$(($(now) - t))
pack=$(ls "$WORK"/export.git/objects/pack/*.pack)
git -C "$WORK/export.git" verify-pack -v "$pack" > "$WORK/verify-pack.out"
deltas=$(awk 'NF == 7 && length($1) == 40' "$WORK/verify-pack.out" | wc -l)
chains=$(sed -n 's/^chain length = \([0-9]*\):.*/\1/p' "$WORK/verify-pack.out" | sort -n | tail -1)
t=$(now); git -C "$WORK/git" fsck --strict --no-dangling; fsck_git_loose_ns=$(($(now) - t))
t=$(now); git -C "$WORK/git" gc -q; gc_ns=$(($(now) - t))
t=$(now); git -C "$WORK/git" fsck --strict --no-dangling; fsck_git_ns=$(($(now) - t))
size_tl=$(du -sk "$WORK/export.git/objects" | cut -f1)
size_git=$(du -sk "$WORK/git/.git/objects" | cut -f1)

echo
echo "corpus: $CORPUS ($NFILES files), $N checkpoints, $FILES_PER_STEP files changed per step"
echo "identical final tree: $tl_tree; $commits commits exported"
echo "git add -A && git commit loop:     $(secs $git_ns) s"
echo "tl export-git (all $N, one run):  $(secs $export_ns) s   ($(awk -v a="$git_ns" -v b="$export_ns" 'BEGIN { printf "%.1f", a / b }')x faster)"
echo "tl export-git again (no-op):       $(secs $noop_ns) s"
echo "(tl checkpoint loop, for context:  $(secs $tl_ns) s)"
echo "git fsck --strict, tl export pack:   $(secs $fsck_tl_ns) s, objects ${size_tl} KiB"
echo "git verify-pack -v, tl export pack:   ok, $deltas of its objects are deltas, longest chain $chains"
echo "git fsck --strict, git loose objects: $(secs $fsck_git_loose_ns) s"
echo "git gc of the git-made repository:  $(secs $gc_ns) s"
echo "git fsck --strict, git after gc:     $(secs $fsck_git_ns) s, objects ${size_git} KiB"
