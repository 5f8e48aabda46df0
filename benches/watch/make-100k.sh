#!/usr/bin/env bash
# Builds the 100k-file tree of the watcher benchmark: ten copies of a corpus
# (../shared/bench/make-corpus.sh … medium), every file of copies 1-9 given a
# unique last line so that content is not shared between copies (the daemon's
# blob index then holds ~100k blobs, as on a real tree of that size).
#
#   benches/watch/make-100k.sh CORPUS DEST
set -euo pipefail
corpus=$1 dest=$2
[ -e "$dest" ] && { echo "$dest exists; remove it first" >&2; exit 1; }
mkdir -p "$dest"
for i in 0 1 2 3 4 5 6 7 8 9; do cp -r "$corpus" "$dest/c$i"; done
for i in 1 2 3 4 5 6 7 8 9; do
  find "$dest/c$i" -type f -exec sh -c 'for f; do printf "\n// copy %s\n" "$0" >> "$f"; done' "$i" {} +
done
find "$dest" -type f | wc -l
