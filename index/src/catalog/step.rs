//! The fold step both catalogs share: what one record, a batch end, damage or the
//! end of the log does to everything but the checkpoint history. A Commit closes a
//! checkpoint, held as a [`Closed`] (everything but its end) until its batch ends;
//! the batch end hands back the [`Checkpoint`], whole. The
//! [`Catalog`](super::Catalog) keeps every one, the
//! [`LeanCatalog`](super::LeanCatalog) only the last.

use std::collections::{BTreeMap, HashMap};

use tl_wal::Lsn;

use super::timelines::Timelines;
use super::{
    apply, hex, ChainBreak, Checkpoint, ChunkRun, Gap, PartAt, PathChange, Pin, StoredBlob,
    ThinnedAt,
};
use crate::record::{chain_hash, CommitKind, CommitStats, Record, TimelineId};
use crate::repopath::RepoPath;
use crate::types::{BlobHash, Entry, Tree};

/// The folded state beside the checkpoints, and the batch in progress.
#[derive(Clone, Debug, Default)]
pub(super) struct FoldState {
    /// Repository id of the log folded.
    pub(super) repo_id: [u8; 16],
    /// The log is folded up to (excluding) this LSN.
    pub(super) through: Lsn,
    /// Where each blob's parts are.
    pub(super) blobs: HashMap<BlobHash, StoredBlob>,
    /// Pins by name.
    pub(super) pins: BTreeMap<String, Pin>,
    /// Intervals where events may have been missed.
    pub(super) gaps: Vec<Gap>,
    /// Intervals where the runaway guard held a directory, in log order.
    pub(super) holds: Vec<crate::record::Hold>,
    /// Commits whose chain hash did not verify.
    pub(super) chain_breaks: Vec<ChainBreak>,
    /// The tree after the last checkpoint.
    pub(super) head: Tree,
    /// What each GC that rewrote the log recorded, in log order.
    pub(super) thinnings: Vec<ThinnedAt>,
    /// The timelines the log names.
    pub(super) timelines: Timelines,
    /// The timeline of the last checkpoint (the first before any).
    pub(super) current_timeline: TimelineId,
    batch: Batch,
}

/// The batch being folded: its path changes and encoded records (for the chain
/// hash) until its Commit, then the checkpoint that Commit closed until the batch
/// ends (the head and the history change only then; damage before drops it).
#[derive(Clone, Debug, Default)]
struct Batch {
    changes: Vec<PathChange>,
    records: Vec<Vec<u8>>,
    lsn: Lsn,
    /// The chain value an Origin record gave the checkpoint this batch closes.
    origin: Option<[u8; 32]>,
    /// What the batch's Commit closed (the writer writes one Commit, last; a batch
    /// with more closes a checkpoint for each, all ending where it ends).
    closed: Vec<Closed>,
}

/// A checkpoint its Commit closed, waiting for the end of its batch: everything
/// of a [`Checkpoint`] but the end LSN, which only the batch end knows.
#[derive(Clone, Debug)]
struct Closed {
    id: String,
    origin: Option<[u8; 32]>,
    lsn: Lsn,
    time_ns: i64,
    seq: u64,
    kind: CommitKind,
    message: Option<String>,
    timeline: TimelineId,
    stats: CommitStats,
    chain: [u8; 32],
    changes: Vec<PathChange>,
}

impl Closed {
    /// The checkpoint, its batch having ended at `end_lsn`.
    fn ended_at(self, end_lsn: Lsn) -> Checkpoint {
        Checkpoint {
            id: self.id,
            origin: self.origin,
            lsn: self.lsn,
            end_lsn,
            time_ns: self.time_ns,
            seq: self.seq,
            kind: self.kind,
            message: self.message,
            timeline: self.timeline,
            stats: self.stats,
            chain: self.chain,
            changes: self.changes,
        }
    }
}

impl FoldState {
    /// Nothing folded yet, from `through` of the log `repo_id`.
    pub(super) fn new(repo_id: [u8; 16], through: Lsn) -> FoldState {
        FoldState {
            repo_id,
            through,
            ..FoldState::default()
        }
    }

    /// Folds one record (see [`Catalog::fold_record`](super::Catalog::fold_record));
    /// `chain` is the last checkpoint's chain hash. A Commit's checkpoint is handed
    /// back by [`FoldState::fold_batch_end`].
    pub(super) fn fold_record(
        &mut self,
        lsn: Lsn,
        first_in_batch: bool,
        bytes: &[u8],
        record: Record,
        chain: &[u8; 32],
    ) {
        if first_in_batch {
            self.batch.changes.clear();
            self.batch.records.clear();
            self.batch.lsn = lsn;
            self.batch.origin = None;
            self.batch.closed.clear();
        }
        let chain = self.batch.closed.last().map_or(chain, |c| &c.chain);
        let pending = &mut self.batch.changes;
        match record {
            Record::Blob {
                hash,
                raw_len,
                offset,
                ..
            } => {
                let e = self.blobs.entry(hash).or_insert(StoredBlob::new(raw_len));
                if !e.parts.iter().any(|p| p.offset == offset) {
                    e.parts.push(PartAt { offset, lsn });
                    e.parts.sort_unstable();
                }
            }
            Record::Block { ref members, .. } => {
                // Each member is a whole blob, its one part at offset 0 (found by
                // its hash in the block when read).
                for m in members {
                    let e = self
                        .blobs
                        .entry(m.hash)
                        .or_insert(StoredBlob::new(m.raw_len));
                    if !e.parts.iter().any(|p| p.offset == 0) {
                        e.parts.push(PartAt { offset: 0, lsn });
                        e.parts.sort_unstable();
                    }
                }
            }
            Record::Chunked {
                hash,
                raw_len,
                offset,
                chunks,
                ..
            } => {
                let e = self.blobs.entry(hash).or_insert(StoredBlob::new(raw_len));
                // The first list for an offset stands (as the first part does).
                if e.raw_len == raw_len && !e.runs.iter().any(|r| r.offset == offset) {
                    e.runs.push(ChunkRun {
                        offset,
                        lsn,
                        chunks,
                    });
                    e.runs.sort_unstable_by_key(|r| r.offset);
                }
            }
            Record::Put {
                path,
                hash,
                mode,
                size,
                mtime_ns,
            } => pending.push(PathChange::Put(
                RepoPath::from(path),
                Entry {
                    hash,
                    mode,
                    size,
                    mtime_ns,
                },
            )),
            Record::Delete { path } => pending.push(PathChange::Delete(RepoPath::from(path))),
            Record::Rename { from, to } => {
                let entry = pending
                    .iter()
                    .rev()
                    .find_map(|c| match c {
                        PathChange::Put(p, e) if *p == from => Some(Some(*e)),
                        PathChange::Delete(p) if *p == from => Some(None),
                        _ => None,
                    })
                    .unwrap_or_else(|| self.head.get(&from).copied());
                pending.push(PathChange::Delete(RepoPath::from(from)));
                if let Some(e) = entry {
                    pending.push(PathChange::Put(RepoPath::from(to), e));
                }
            }
            Record::Commit {
                time_ns,
                seq,
                kind,
                message,
                chain: committed,
                stats,
                timeline,
                ..
            } => {
                let expected = chain_hash(chain, self.batch.records.iter().map(|b| b.as_slice()));
                if expected != committed {
                    self.chain_breaks.push(ChainBreak { lsn, seq });
                }
                // Later changes to a path win; keep one per path, sorted.
                let mut by_path: BTreeMap<RepoPath, PathChange> = BTreeMap::new();
                for c in std::mem::take(pending) {
                    by_path.insert(c.path().clone(), c);
                }
                let changes: Vec<PathChange> = by_path.into_values().collect();
                self.batch.records.clear();
                let origin = self.batch.origin.take();
                self.batch.closed.push(Closed {
                    id: hex(&origin.unwrap_or(committed)[..6]),
                    origin,
                    lsn: self.batch.lsn,
                    time_ns,
                    seq,
                    kind,
                    message,
                    timeline: TimelineId(timeline),
                    stats,
                    chain: committed,
                    changes,
                });
                return;
            }
            Record::Pin {
                name,
                target_lsn,
                time_ns,
            } => {
                self.pins.insert(
                    name,
                    Pin {
                        target_lsn,
                        time_ns,
                    },
                );
            }
            Record::Unpin { name } => {
                self.pins.remove(&name);
            }
            Record::Gap {
                from_ns,
                to_ns,
                reason,
            } => self.gaps.push(Gap {
                from_ns,
                to_ns,
                reason,
            }),
            Record::Hold(hold) => self.holds.push(hold),
            Record::Timeline(op) => self.timelines.apply(op),
            Record::Origin { chain } => self.batch.origin = Some(chain),
            Record::Thinned(thinned) => self.thinnings.push(ThinnedAt { lsn, thinned }),
        }
        self.batch.records.push(bytes.to_vec());
    }

    /// A batch ended at `end`: the checkpoints it closed (none, or the one of its
    /// Commit) take effect on the head and are handed back, ending at `end`.
    pub(super) fn fold_batch_end(&mut self, end: Lsn) -> Vec<Checkpoint> {
        let ended: Vec<Checkpoint> = std::mem::take(&mut self.batch.closed)
            .into_iter()
            .map(|c| c.ended_at(end))
            .collect();
        for c in &ended {
            apply(&mut self.head, &c.changes);
            self.current_timeline = c.timeline;
        }
        self.batch.changes.clear();
        self.batch.records.clear();
        if self.batch.records.capacity() > 4096 {
            // A large batch (a first capture) must not pin its size in memory.
            self.release_batch_memory();
        }
        self.through = end;
        ended
    }

    /// Reading resumed at `lsn` after damage.
    pub(super) fn fold_resume(&mut self, lsn: Lsn) {
        self.through = lsn;
    }

    /// The log ends at `end`.
    pub(super) fn fold_log_end(&mut self, end: Lsn) {
        self.through = self.through.max(end);
    }

    /// Damage interrupted the batch in progress: drop it, with a checkpoint its
    /// Commit closed before the damage.
    pub(super) fn fold_damage(&mut self) {
        self.batch.changes.clear();
        self.batch.records.clear();
        self.batch.closed.clear();
    }

    /// Frees what the batch buffers hold.
    pub(super) fn release_batch_memory(&mut self) {
        self.batch.changes = Vec::new();
        self.batch.records = Vec::new();
    }
}
