#!/usr/bin/env python3
"""Deterministic generator of the small files of the million-file tree (issue 17).

  million_gen.py CORPUS DEST FIRST_PKG END_PKG [SEED]

Writes packages FIRST_PKG..END_PKG-1 under DEST/gen/pNNN/, each exactly
FILES_PER_PKG (4,600) files, so 200 packages make 920,000 files and the first
20 packages of the 1M tree are the 100k tree's. Everything comes from SEED
(default 17) and the package number, never from the clock or the machine, and
packages are independent (two processes can write disjoint ranges).

Sizes and extensions are drawn from CORPUS's own files of at most MAX_BYTES
(16 KiB): real source sizes, a few KB each (median ~3 KB). Content is real
source: a slice of the corpus's text at a drawn offset, after a first line that
names the file, so no two files share content (every file is its own blob, as
in a real tree of that size). Layout: each directory holds 10-30 files and
0-4 subdirectories, up to 7 levels deep (a ~1M tree has ~46k generated dirs).
Every mtime is 2024-01-01, like make-corpus.sh's.
"""
import os
import random
import sys

FILES_PER_PKG = 4600
MAX_BYTES = 16384
MTIME = 1704067200  # 2024-01-01T00:00:00Z
WORDS = ("core util io net fmt sync task time hash parse codec buf map tree list "
         "cache pool store log error config cli test bench proto wire frame http "
         "json text path fs os env os_str alloc ptr cell iter ops num str vec").split()


def corpus_files(corpus):
    out = []
    for d, dirs, files in os.walk(corpus):
        dirs.sort()
        for f in sorted(files):
            out.append(os.path.join(d, f))
    return out


def pool_and_sizes(corpus):
    """Text pool (the corpus's small files, concatenated in path order) and the
    (size, extension) of each of them, in the same order."""
    parts, kinds = [], []
    for p in corpus_files(corpus):
        size = os.path.getsize(p)
        if size > MAX_BYTES or size == 0:
            continue
        base = os.path.basename(p)
        ext = base.rsplit(".", 1)[1] if "." in base[1:] else ""
        if len(ext) > 5 or not ext.isalnum():
            ext = "rs"
        with open(p, "rb") as f:
            parts.append(f.read())
        kinds.append((size, ext))
    return b"".join(parts), kinds


def package(dest, pkg, seed, pool, kinds):
    rng = random.Random(f"{seed}:{pkg}")
    root = os.path.join(dest, "gen", f"p{pkg:03d}")
    left = FILES_PER_PKG
    queue = [(root, 0)]
    n_dirs = 0
    while left > 0:
        if not queue:  # the subtree closed early: open a new top module
            queue.append((os.path.join(root, f"extra{n_dirs}"), 1))
        d, depth = queue.pop(0)
        os.makedirs(d, exist_ok=True)
        n_dirs += 1
        n = min(left, rng.randint(10, 30))
        for i in range(n):
            size, ext = kinds[rng.randrange(len(kinds))]
            name = f"{rng.choice(WORDS)}_{i}.{ext}"
            path = os.path.join(d, name)
            head = f"// {os.path.relpath(path, dest)} (million_gen seed {seed})\n".encode()
            off = rng.randrange(len(pool) - size)
            body = pool[off:off + max(0, size - len(head))]
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, head + body)
            os.utime(fd, (MTIME, MTIME))
            os.close(fd)
        left -= n
        if depth < 7:
            for k in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                queue.append((os.path.join(d, f"{rng.choice(WORDS)}{k}"), depth + 1))
    return n_dirs


def main():
    corpus, dest = sys.argv[1], sys.argv[2]
    first, end = int(sys.argv[3]), int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 17
    pool, kinds = pool_and_sizes(corpus)
    dirs = 0
    for pkg in range(first, end):
        dirs += package(dest, pkg, seed, pool, kinds)
    print(f"packages {first}..{end - 1}: {(end - first) * FILES_PER_PKG} files, {dirs} dirs")


if __name__ == "__main__":
    main()
