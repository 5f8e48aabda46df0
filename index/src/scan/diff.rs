//! The difference between two trees, path by path.

use std::cmp::Ordering;

use crate::record::{CommitStats, Record};
use crate::repopath::RepoPath;
use crate::types::{Entry, Tree};

/// How one path differs between an old and a new tree.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Change {
    /// The path exists only in the new tree.
    Added(RepoPath, Entry),
    /// The path exists in both trees with a different hash or mode (old, new).
    Modified(RepoPath, Entry, Entry),
    /// The path exists only in the old tree.
    Deleted(RepoPath, Entry),
}

impl Change {
    /// The path this change is about.
    pub fn path(&self) -> &RepoPath {
        match self {
            Change::Added(p, _) | Change::Modified(p, _, _) | Change::Deleted(p, _) => p,
        }
    }

    /// The new entry (None for a deletion).
    pub fn new_entry(&self) -> Option<&Entry> {
        match self {
            Change::Added(_, e) | Change::Modified(_, _, e) => Some(e),
            Change::Deleted(..) => None,
        }
    }

    /// The record that makes this change in a batch (a Put or a Delete), counted
    /// into `stats` (added, modified, deleted), as every batch that commits a
    /// difference of trees writes it: capture's and GC's.
    pub fn to_record(&self, stats: &mut CommitStats) -> Record {
        let path = self.path().as_bytes().to_vec();
        match self {
            Change::Added(_, e) | Change::Modified(_, _, e) => {
                if matches!(self, Change::Added(..)) {
                    stats.added += 1;
                } else {
                    stats.modified += 1;
                }
                Record::Put {
                    path,
                    hash: e.hash,
                    mode: e.mode,
                    size: e.size,
                    mtime_ns: e.mtime_ns,
                }
            }
            Change::Deleted(..) => {
                stats.deleted += 1;
                Record::Delete { path }
            }
        }
    }
}

/// The changes that turn `old` into `new`, sorted by path.
///
/// Only content (hash) and mode count: an entry whose mtime alone changed (a
/// `touch`) is not modified, since nothing a restore would write differs. Size is
/// implied by the hash.
pub fn diff_trees(old: &Tree, new: &Tree) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut old_iter = old.iter().peekable();
    let mut new_iter = new.iter().peekable();
    loop {
        let order = match (old_iter.peek(), new_iter.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((old_path, _)), Some((new_path, _))) => old_path.cmp(new_path),
        };
        match order {
            Ordering::Less => {
                let (path, entry) = old_iter.next().unwrap();
                changes.push(Change::Deleted(
                    RepoPath::from_bytes(path.as_slice()),
                    *entry,
                ));
            }
            Ordering::Greater => {
                let (path, entry) = new_iter.next().unwrap();
                changes.push(Change::Added(RepoPath::from_bytes(path.as_slice()), *entry));
            }
            Ordering::Equal => {
                let (path, old_entry) = old_iter.next().unwrap();
                let (_, new_entry) = new_iter.next().unwrap();
                if old_entry.hash != new_entry.hash || old_entry.mode != new_entry.mode {
                    changes.push(Change::Modified(
                        RepoPath::from_bytes(path.as_slice()),
                        *old_entry,
                        *new_entry,
                    ));
                }
            }
        }
    }
    debug_assert!(changes.windows(2).all(|w| w[0].path() < w[1].path()));
    changes
}
