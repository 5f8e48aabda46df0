//! What a capture is about to add, estimated from stat sizes before any content
//! is read (issue 13: the per-capture total): the files whose size or
//! modification time differs from the last checkpoint's entry, or that it lacks,
//! summed, and the directories most of those bytes are in.
//!
//! An estimate, not a promise: a file merely touched counts although nothing new
//! is stored, content found elsewhere in the log or compressing well costs less,
//! and a file over `max_file_bytes` (skipped) counts nothing. Each file found
//! costs one `lstat` by name (the walk has only names); nothing is opened.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::read::{mtime_ns, PARALLEL_MIN};
use super::walk::Found;
use super::ScanOptions;
use crate::repopath::RepoPath;
use crate::types::Tree;

/// How many directories an estimate names.
pub const LARGEST_DIRS_MAX: usize = 5;

/// The bytes a capture is about to read as new, before it reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchEstimate {
    /// Files new or changed since the last checkpoint (by size and mtime).
    pub files: u64,
    /// Their bytes, by `lstat`.
    pub bytes: u64,
    /// Where most of those bytes are, biggest first, at most
    /// [`LARGEST_DIRS_MAX`]: for each top-level directory, the deepest directory
    /// under it that holds at least four fifths of its bytes (so a dataset deep
    /// in `data/raw/2024` is named, and `node_modules` spread over thousands of
    /// packages is named as itself). The root stands for the files directly in
    /// it.
    pub largest_dirs: Vec<DirBytes>,
}

/// One directory of an estimate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirBytes {
    /// The directory (the root: the files directly in it).
    pub dir: RepoPath,
    /// Bytes to add at or under it.
    pub bytes: u64,
    /// Files to add at or under it.
    pub files: u64,
}

/// The estimate for `found` against `head` (the last checkpoint's tree).
pub(super) fn estimate(
    found: &[Found],
    head: &Tree,
    options: &ScanOptions,
    pool: Option<&rayon::ThreadPool>,
) -> BatchEstimate {
    let new_bytes = |f: &Found| -> Option<u64> {
        let m = std::fs::symlink_metadata(&f.abs).ok()?;
        if !m.file_type().is_file() || m.len() > options.max_file_bytes {
            return None;
        }
        let unchanged = head
            .get(&f.rel)
            .is_some_and(|e| e.size == m.len() && e.mtime_ns == mtime_ns(&m));
        (!unchanged).then_some(m.len())
    };
    let sizes: Vec<Option<u64>> = match pool {
        Some(pool) if found.len() >= PARALLEL_MIN => {
            pool.install(|| found.par_iter().map(new_bytes).collect())
        }
        _ => found.iter().map(new_bytes).collect(),
    };
    let new: Vec<(&[u8], u64)> = found
        .iter()
        .zip(sizes)
        .filter_map(|(f, size)| Some((f.rel.as_slice(), size?)))
        .collect();
    summarize(&new)
}

/// Bytes and files at or under a directory.
#[derive(Clone, Copy, Default)]
struct Sum {
    bytes: u64,
    files: u64,
}

/// The estimate of these new files (path, bytes).
pub(super) fn summarize<'a>(new: &[(&'a [u8], u64)]) -> BatchEstimate {
    // Every directory's total, the root's (b"") included.
    let mut dirs: BTreeMap<&'a [u8], Sum> = BTreeMap::new();
    for &(path, bytes) in new {
        let mut add = |dir: &'a [u8]| {
            let s = dirs.entry(dir).or_default();
            s.bytes += bytes;
            s.files += 1;
        };
        add(b"");
        for (i, &b) in path.iter().enumerate() {
            if b == b'/' {
                add(&path[..i]);
            }
        }
    }
    let total = dirs.get(b"".as_slice()).copied().unwrap_or_default();
    let mut groups: Vec<(&[u8], Sum)> = dirs
        .iter()
        .filter(|(d, _)| !d.is_empty() && !d.contains(&b'/'))
        .map(|(d, s)| (*d, *s))
        .collect();
    let in_dirs = groups.iter().fold(Sum::default(), |a, (_, s)| Sum {
        bytes: a.bytes + s.bytes,
        files: a.files + s.files,
    });
    if total.files > in_dirs.files {
        groups.push((
            b"",
            Sum {
                bytes: total.bytes - in_dirs.bytes,
                files: total.files - in_dirs.files,
            },
        ));
    }
    groups.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(b.0)));
    groups.truncate(LARGEST_DIRS_MAX);
    let largest_dirs = groups
        .into_iter()
        .map(|(dir, sum)| {
            let (dir, sum) = if dir.is_empty() {
                (dir, sum)
            } else {
                deepest_holding_most(&dirs, dir, sum)
            };
            DirBytes {
                dir: RepoPath::from_bytes(dir),
                bytes: sum.bytes,
                files: sum.files,
            }
        })
        .collect();
    BatchEstimate {
        files: total.files,
        bytes: total.bytes,
        largest_dirs,
    }
}

/// From `dir` down, the deepest directory whose largest child directory holds
/// less than four fifths of its bytes.
fn deepest_holding_most<'a>(
    dirs: &BTreeMap<&'a [u8], Sum>,
    mut dir: &'a [u8],
    mut sum: Sum,
) -> (&'a [u8], Sum) {
    loop {
        let prefix = [dir, b"/"].concat();
        let biggest = dirs
            .range::<[u8], _>((std::ops::Bound::Excluded(dir), std::ops::Bound::Unbounded))
            .take_while(|(d, _)| d.starts_with(&prefix))
            .filter(|(d, _)| !d[prefix.len()..].contains(&b'/'))
            .max_by_key(|(_, s)| s.bytes);
        match biggest {
            Some((child, s)) if s.bytes.saturating_mul(5) >= sum.bytes.saturating_mul(4) => {
                dir = child;
                sum = *s;
            }
            _ => return (dir, sum),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(e: &BatchEstimate) -> Vec<(String, u64)> {
        e.largest_dirs
            .iter()
            .map(|d| (d.dir.to_string(), d.bytes))
            .collect()
    }

    #[test]
    fn the_largest_directories_are_named_as_deep_as_most_of_their_bytes_go() {
        let new: Vec<(&[u8], u64)> = vec![
            (b"README", 10),
            (b"data/raw/2024/a.bin", 900),
            (b"data/raw/2024/b.bin", 900),
            (b"data/notes.txt", 5),
            (b"node_modules/x/index.js", 300),
            (b"node_modules/y/index.js", 300),
            (b"node_modules/z/index.js", 300),
            (b"src/main.rs", 20),
            (b"a/1", 1),
            (b"b/1", 1),
            (b"c/1", 1),
        ];
        let e = summarize(&new);
        assert_eq!(e.files, 11);
        assert_eq!(e.bytes, 2738);
        assert_eq!(
            dirs(&e),
            [
                ("data/raw/2024".to_string(), 1800),
                ("node_modules".to_string(), 900),
                ("src".to_string(), 20),
                (".".to_string(), 10),
                ("a".to_string(), 1),
            ]
        );
        assert_eq!(summarize(&[]), BatchEstimate::default());
    }
}
