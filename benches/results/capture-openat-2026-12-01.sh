#!/usr/bin/env bash
# first capture and no-op checkpoint, base vs new tl, and git add+commit / git status on the same tree
set -eu
C=/tmp/tlcap/corpus; W=/tmp/capw
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; local e=$(date +%s.%N); echo "$e - $s" | bc; }
for rep in 1 2 3; do
  for b in base new; do
    rm -rf $W; cp -a $C $W; cd $W; rm -rf .tl .git
    /tmp/tl-$b init >/dev/null
    f=$(t /tmp/tl-$b checkpoint); n=$(t /tmp/tl-$b checkpoint)
    echo "rep $rep $b first $f noop $n"
  done
  rm -rf $W; cp -a $C $W; cd $W; rm -rf .tl .git
  git init -q; f=$(t sh -c 'git add -A && git -c user.email=a@b -c user.name=a commit -qm x'); n=$(t git status --porcelain)
  echo "rep $rep git first $f noop $n"
done
