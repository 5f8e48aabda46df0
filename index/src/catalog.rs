//! The catalog: everything `tl` needs to answer questions without reading the whole
//! log — checkpoints with their changes (the time index), where each blob's parts
//! are (the blob index), pins, and the tree at the head.
//!
//! It is a fold over the log and nothing else: `Catalog::fold_*` are the only ways
//! it changes (its fields are private), and `.tl/index/catalog` is a cache of it
//! (`catalog/cache_file`), written after each change and discarded (rebuilt from
//! the log) whenever it does not match the log.
//!
//! A long-lived writer keeps a [`LeanCatalog`] instead (`catalog/lean`): the same
//! fold without the history, a type of its own so that code needing every
//! checkpoint cannot be handed the one a lean catalog keeps. `catalog/step` is the
//! fold step both share; `catalog/fold` drives either over the log.

use std::collections::{BTreeMap, HashMap};

use tl_wal::Lsn;

use crate::record::{CommitKind, CommitStats, Record, TimelineId};
use crate::repopath::RepoPath;
use crate::types::{BlobHash, Entry, Tree};

mod blob;
mod cache_file;
mod checkpoint_index;
mod fold;
mod lean;
mod step;
mod timelines;
mod written;

pub use blob::{
    read_verified, BlobReadError, BlockCache, ChunkRun, PartAt, PartProblem, StoredBlob,
};
pub use checkpoint_index::CheckpointIndex;
pub use fold::{fold_records, DamagedFrame, Fold, FoldObserver, Unobserved};
pub use lean::LeanCatalog;
use step::FoldState;
pub use timelines::{Timeline, Timelines, MAIN_NAME};
pub use written::{fold_written, ContentRecord, NotFoldable, WrittenBatch, WrittenRecords};

/// One path's change in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathChange {
    /// The path now has this entry.
    Put(RepoPath, Entry),
    /// The path no longer exists.
    Delete(RepoPath),
}

impl PathChange {
    /// The path changed.
    pub fn path(&self) -> &RepoPath {
        match self {
            PathChange::Put(p, _) | PathChange::Delete(p) => p,
        }
    }
}

/// One checkpoint: a batch closed by a Commit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Short id: the first 12 hex digits of the commit's chain hash, or of its
    /// `origin` when GC rewrote its batch (ids survive a GC).
    pub id: String,
    /// The chain value of its Commit in the log it was first written to, when GC
    /// rewrote its batch (an Origin record); None for a batch never rewritten.
    pub origin: Option<[u8; 32]>,
    /// LSN of the batch's first record.
    pub lsn: Lsn,
    /// LSN just after the batch.
    pub end_lsn: Lsn,
    /// Wall-clock time, ns since the Unix epoch.
    pub time_ns: i64,
    /// Commit sequence number.
    pub seq: u64,
    /// Auto, manual or restore.
    pub kind: CommitKind,
    /// The user's message.
    pub message: Option<String>,
    /// The timeline it is on (its Commit's).
    pub timeline: TimelineId,
    /// Counts as recorded in the Commit.
    pub stats: CommitStats,
    /// Full chain hash.
    pub chain: [u8; 32],
    /// What the checkpoint changed, sorted by path.
    pub changes: Vec<PathChange>,
}

impl Checkpoint {
    /// True when the checkpoint changed nothing, by its recorded counts (which a
    /// lean catalog keeps while it drops the changes themselves).
    pub fn changed_nothing(&self) -> bool {
        self.stats.added == 0 && self.stats.modified == 0 && self.stats.deleted == 0
    }
}

/// A pin: a named point in history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// LSN of the pinned checkpoint's batch.
    pub target_lsn: Lsn,
    /// When the pin was made.
    pub time_ns: i64,
}

/// A place where the log's chain of commits does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// LSN of the commit whose chain hash did not match.
    pub lsn: Lsn,
    /// Sequence number of that commit.
    pub seq: u64,
}

/// An interval where events may have been missed (a Gap record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Start, ns since the Unix epoch.
    pub from_ns: i64,
    /// End, ns since the Unix epoch.
    pub to_ns: i64,
    /// Why events may have been lost.
    pub reason: String,
}

/// A Thinned record and where it is: a GC rewrote the log before `lsn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThinnedAt {
    /// The record's LSN.
    pub lsn: Lsn,
    /// What the GC recorded.
    pub thinned: crate::record::Thinned,
}

/// The fold of the log, with its whole history.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    state: FoldState,
    /// Checkpoints in log order.
    checkpoints: Vec<Checkpoint>,
}

impl Catalog {
    /// An empty catalog of the log `repo_id` (zeros when unknown), to fold from
    /// `through` (the log's first LSN).
    pub fn new(repo_id: [u8; 16], through: Lsn) -> Catalog {
        Catalog {
            state: FoldState::new(repo_id, through),
            checkpoints: Vec::new(),
        }
    }

    /// Repository id of the log this catalog folds.
    pub fn repo_id(&self) -> [u8; 16] {
        self.state.repo_id
    }

    /// The log is folded up to (excluding) this LSN.
    pub fn through(&self) -> Lsn {
        self.state.through
    }

    /// Every checkpoint, in log order.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// Where each blob's parts are.
    pub fn blobs(&self) -> &HashMap<BlobHash, StoredBlob> {
        &self.state.blobs
    }

    /// Pins by name.
    pub fn pins(&self) -> &BTreeMap<String, Pin> {
        &self.state.pins
    }

    /// Intervals where events may have been missed, in log order.
    pub fn gaps(&self) -> &[Gap] {
        &self.state.gaps
    }

    /// Intervals where the daemon's runaway guard held a directory (Hold
    /// records), in log order.
    pub fn holds(&self) -> &[crate::record::Hold] {
        &self.state.holds
    }

    /// What each GC that rewrote the log recorded, in log order.
    pub fn thinnings(&self) -> &[ThinnedAt] {
        &self.state.thinnings
    }

    /// The timelines the log names (removed ones too).
    pub fn timelines(&self) -> &Timelines {
        &self.state.timelines
    }

    /// The timeline of the last checkpoint: the one new states go to.
    pub fn current_timeline(&self) -> TimelineId {
        self.state.current_timeline
    }

    /// The newest state of timeline `id` (its last checkpoint, or the one it
    /// started from while it has none); None when it has neither.
    pub fn timeline_head(&self, id: TimelineId) -> Option<CheckpointIndex> {
        timelines::head_of(&self.state.timelines, &self.checkpoints, id)
    }

    /// The states of timeline `id`, inherited ones first, in log order.
    pub fn lineage(&self, id: TimelineId) -> Vec<CheckpointIndex> {
        timelines::lineage(&self.state.timelines, &self.checkpoints, id)
    }

    /// Commits whose chain hash did not verify.
    pub fn chain_breaks(&self) -> &[ChainBreak] {
        &self.state.chain_breaks
    }

    /// The tree after the last checkpoint.
    pub fn head(&self) -> &Tree {
        &self.state.head
    }

    /// Chain hash of the last checkpoint (zeros before the first).
    pub fn chain(&self) -> [u8; 32] {
        self.checkpoints.last().map(|c| c.chain).unwrap_or([0; 32])
    }

    /// Sequence number of the last checkpoint (0 before the first).
    pub fn seq(&self) -> u64 {
        self.checkpoints.last().map(|c| c.seq).unwrap_or(0)
    }

    /// True when the blob's content is whole in the log: every part, or every
    /// chunk of its chunk lists.
    pub fn has_blob(&self, hash: &BlobHash) -> bool {
        self.state.blobs.get(hash).is_some_and(|b| self.is_whole(b))
    }

    /// True when `blob` (one of [`Catalog::blobs`]) can be read whole: its parts
    /// are all there, or its chunk lists and every chunk they name.
    pub fn is_whole(&self, blob: &StoredBlob) -> bool {
        blob.is_complete(&|c| self.state.blobs.get(c).is_some_and(|c| c.parts_complete()))
    }

    /// The index of the checkpoint whose batch starts at `lsn`.
    pub fn checkpoint_at_lsn(&self, lsn: Lsn) -> Option<CheckpointIndex> {
        self.checkpoints
            .binary_search_by_key(&lsn, |c| c.lsn)
            .ok()
            .map(CheckpointIndex::new)
    }

    /// Drops what a writer that only appends does not need (see [`LeanCatalog`]).
    /// The catalog cache must be saved before, if wanted: a lean catalog has none.
    pub fn into_lean(self) -> LeanCatalog {
        LeanCatalog::from_full(self.state, self.checkpoints.into_iter().last())
    }

    /// A record at `lsn` was read; `first_in_batch` marks a batch start. `bytes` is
    /// the encoded record (for the chain hash). The path changes of a batch and the
    /// checkpoint its Commit closes take effect at its end
    /// ([`Catalog::fold_batch_end`]); a batch interrupted by damage must be dropped
    /// with [`Catalog::fold_damage`].
    pub fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record) {
        let chain = self.chain();
        self.state
            .fold_record(lsn, first_in_batch, bytes, record, &chain);
    }

    /// A batch ended at `end`: the checkpoint it closed, if any, joins the history
    /// (its end LSN `end`) and the head.
    pub fn fold_batch_end(&mut self, end: Lsn) {
        let ended = self.state.fold_batch_end(end);
        self.checkpoints.extend(ended);
    }

    /// Reading resumed at `lsn` after damage: the fold continues from there.
    pub fn fold_resume(&mut self, lsn: Lsn) {
        self.state.fold_resume(lsn);
    }

    /// The log ends at `end`: the fold covers it (marks after the last batch, a
    /// damaged tail, are folded over).
    pub fn fold_log_end(&mut self, end: Lsn) {
        self.state.fold_log_end(end);
    }

    /// Damage interrupted the batch in progress: drop it.
    pub fn fold_damage(&mut self) {
        self.state.fold_damage();
    }
}

/// Applies sorted changes to a tree.
pub fn apply(tree: &mut Tree, changes: &[PathChange]) {
    for c in changes {
        match c {
            PathChange::Put(p, e) => {
                tree.insert(p.as_bytes().to_vec(), *e);
            }
            PathChange::Delete(p) => {
                tree.remove(p.as_bytes());
            }
        }
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{chain_hash, CommitKind};
    use crate::types::Mode;

    fn folded() -> Catalog {
        let mut cat = Catalog::new([7; 16], Lsn::ZERO);
        let put = Record::Put {
            path: b"a/b.txt".to_vec(),
            hash: BlobHash([1; 32]),
            mode: Mode::Exec,
            size: 3,
            mtime_ns: 42,
        };
        let blob = Record::Blob {
            hash: BlobHash([1; 32]),
            raw_len: 3,
            offset: 0,
            codec: crate::record::Codec::None,
            data: b"abc".to_vec(),
        };
        let (b, p) = (blob.encode(), put.encode());
        let chain = chain_hash(&[0; 32], [b.as_slice(), p.as_slice()].into_iter());
        let commit = Record::Commit {
            time_ns: 5,
            seq: 1,
            kind: CommitKind::Manual,
            message: Some("m".into()),
            timeline: 0,
            acked_lsn: Lsn::new(0),
            chain,
            stats: CommitStats {
                added: 1,
                ..CommitStats::default()
            },
        };
        cat.fold_record(Lsn::new(0), true, &b, blob);
        cat.fold_record(Lsn::new(100), false, &p, put);
        cat.fold_record(Lsn::new(200), false, &commit.encode(), commit);
        cat.fold_batch_end(Lsn::new(300));
        cat.fold_record(
            Lsn::new(300),
            true,
            b"",
            Record::Pin {
                name: "p".into(),
                target_lsn: Lsn::new(0),
                time_ns: 6,
            },
        );
        cat.fold_batch_end(Lsn::new(340));
        cat
    }

    /// A Put of `a` and its Commit, folded as one batch from LSN 0 up to (not
    /// including) its end.
    fn commit_without_its_end(cat: &mut dyn Fold) {
        let put = Record::Put {
            path: b"a".to_vec(),
            hash: BlobHash([1; 32]),
            mode: Mode::File,
            size: 0,
            mtime_ns: 1,
        };
        let p = put.encode();
        let commit = Record::Commit {
            time_ns: 5,
            seq: 1,
            kind: CommitKind::Auto,
            message: None,
            timeline: 0,
            acked_lsn: Lsn::ZERO,
            chain: chain_hash(&[0; 32], [p.as_slice()].into_iter()),
            stats: CommitStats {
                added: 1,
                ..CommitStats::default()
            },
        };
        cat.fold_record(Lsn::new(0), true, &p, put);
        cat.fold_record(Lsn::new(64), false, &commit.encode(), commit);
    }

    #[test]
    fn a_checkpoint_exists_only_once_its_batch_ended_and_ends_there() {
        let mut cat = Catalog::new([7; 16], Lsn::ZERO);
        commit_without_its_end(&mut cat);
        assert!(cat.checkpoints().is_empty(), "the batch has not ended");
        assert!(cat.head().is_empty());
        cat.fold_batch_end(Lsn::new(200));
        assert_eq!(cat.checkpoints().len(), 1);
        assert_eq!(cat.checkpoints()[0].lsn, Lsn::new(0));
        assert_eq!(cat.checkpoints()[0].end_lsn, Lsn::new(200));
        assert!(cat.head().contains_key(&b"a"[..]));
        assert!(cat.chain_breaks().is_empty());

        let mut lean = Catalog::new([7; 16], Lsn::ZERO).into_lean();
        commit_without_its_end(&mut lean);
        assert!(lean.last_checkpoint().is_none(), "the batch has not ended");
        lean.fold_batch_end(Lsn::new(200));
        assert_eq!(lean.last_checkpoint().unwrap().end_lsn, Lsn::new(200));
    }

    #[test]
    fn damage_after_a_commit_before_its_batch_ended_drops_the_checkpoint() {
        let mut cat = Catalog::new([7; 16], Lsn::ZERO);
        commit_without_its_end(&mut cat);
        cat.fold_damage();
        cat.fold_resume(Lsn::new(200));
        assert!(cat.checkpoints().is_empty());
        assert!(cat.head().is_empty());
        assert_eq!(cat.through(), Lsn::new(200));

        let mut lean = Catalog::new([7; 16], Lsn::ZERO).into_lean();
        commit_without_its_end(&mut lean);
        lean.fold_damage();
        lean.fold_batch_end(Lsn::new(200));
        assert!(lean.last_checkpoint().is_none());
        assert!(lean.head().is_empty());
    }

    #[test]
    fn a_saved_catalog_loads_back_equal() {
        let cat = folded();
        assert!(cat.chain_breaks().is_empty());
        let back = Catalog::decode(&cat.encode()).expect("the cache must load back");
        assert_eq!(back.repo_id(), cat.repo_id());
        assert_eq!(back.through(), Lsn::new(340));
        assert_eq!(back.checkpoints(), cat.checkpoints());
        assert_eq!(back.blobs(), cat.blobs());
        assert_eq!(back.pins(), cat.pins());
        assert_eq!(back.head(), cat.head());
    }

    #[test]
    fn a_damaged_catalog_is_refused_not_misread() {
        let bytes = folded().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            assert!(Catalog::decode(&b).is_none(), "flip at byte {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(
                Catalog::decode(&bytes[..n]).is_none(),
                "truncation at {n} accepted"
            );
        }
    }

    /// A batch rewritten by GC: Put, Origin, Commit (chained over both), then a
    /// Thinned batch.
    fn thinned_log() -> (Catalog, [u8; 32]) {
        let mut cat = Catalog::new([7; 16], Lsn::ZERO);
        let put = Record::Put {
            path: b"f".to_vec(),
            hash: BlobHash([2; 32]),
            mode: Mode::File,
            size: 0,
            mtime_ns: 1,
        };
        let original = [0xab; 32];
        let origin = Record::Origin { chain: original };
        let (p, o) = (put.encode(), origin.encode());
        let chain = chain_hash(&[0; 32], [p.as_slice(), o.as_slice()].into_iter());
        let commit = Record::Commit {
            time_ns: 5,
            seq: 4,
            kind: CommitKind::Auto,
            message: None,
            timeline: 0,
            acked_lsn: Lsn::ZERO,
            chain,
            stats: CommitStats::default(),
        };
        cat.fold_record(Lsn::new(0), true, &p, put);
        cat.fold_record(Lsn::new(64), false, &o, origin);
        cat.fold_record(Lsn::new(128), false, &commit.encode(), commit);
        cat.fold_batch_end(Lsn::new(256));
        let thinned = Record::Thinned(crate::record::Thinned {
            time_ns: 9,
            prev_head: [0xcd; 32],
            prev_end_lsn: Lsn::new(10_000),
            states_before: 5,
            kept: 1,
            dropped: 4,
            first_seq: 1,
            last_seq: 4,
            policy: "keep-all = \"1h\"".into(),
        });
        cat.fold_record(Lsn::new(256), true, &thinned.encode(), thinned);
        cat.fold_batch_end(Lsn::new(512));
        (cat, original)
    }

    #[test]
    fn a_checkpoint_gc_rewrote_keeps_its_original_id_and_its_chain_verifies() {
        let (cat, original) = thinned_log();
        let c = &cat.checkpoints()[0];
        assert_eq!(c.id, hex(&original[..6]));
        assert_eq!(c.origin, Some(original));
        assert_ne!(c.chain, original, "the chain is the new log's own");
        assert!(cat.chain_breaks().is_empty(), "{:?}", cat.chain_breaks());
        assert_eq!(cat.thinnings().len(), 1);
        assert_eq!(cat.thinnings()[0].lsn, Lsn::new(256));
        assert_eq!(cat.thinnings()[0].thinned.dropped, 4);
    }

    #[test]
    fn an_origin_applies_only_to_the_commit_of_its_own_batch() {
        let (mut cat, _) = thinned_log();
        let commit = Record::Commit {
            time_ns: 6,
            seq: 5,
            kind: CommitKind::Auto,
            message: None,
            timeline: 0,
            acked_lsn: Lsn::ZERO,
            chain: [1; 32],
            stats: CommitStats::default(),
        };
        cat.fold_record(Lsn::new(512), true, &commit.encode(), commit);
        cat.fold_batch_end(Lsn::new(600));
        let c = &cat.checkpoints()[1];
        assert_eq!(c.origin, None);
        assert_eq!(c.id, hex(&[1; 32][..6]));
    }

    #[test]
    fn a_saved_catalog_keeps_origins_and_thinnings() {
        let (cat, _) = thinned_log();
        let back = Catalog::decode(&cat.encode()).expect("the cache must load back");
        assert_eq!(back.checkpoints(), cat.checkpoints());
        assert_eq!(back.thinnings(), cat.thinnings());
    }

    /// A catalog that folded a chunked content: two chunks, then its list (the
    /// second chunk only once `second` is folded).
    fn chunked_catalog(second: bool) -> (Catalog, BlobHash) {
        let mut cat = Catalog::new([7; 16], Lsn::ZERO);
        let (a, b) = (b"first chunk".to_vec(), b"second".to_vec());
        let whole = BlobHash::of(&[a.clone(), b.clone()].concat());
        let blob = |raw: &[u8]| Record::Blob {
            hash: BlobHash::of(raw),
            raw_len: raw.len() as u64,
            offset: 0,
            codec: crate::record::Codec::None,
            data: raw.to_vec(),
        };
        let list = Record::Chunked {
            hash: whole,
            raw_len: (a.len() + b.len()) as u64,
            offset: 0,
            params: crate::record::CHUNK_PARAMS_V1,
            chunks: [&a, &b]
                .iter()
                .map(|c| crate::record::Chunk {
                    hash: BlobHash::of(c),
                    len: c.len() as u32,
                })
                .collect(),
        };
        let mut records = vec![blob(&a), list];
        if second {
            records.push(blob(&b));
        }
        for (i, r) in records.into_iter().enumerate() {
            cat.fold_record(Lsn::new(64 * i as u64), i == 0, &r.encode(), r);
        }
        (cat, whole)
    }

    #[test]
    fn chunked_content_is_whole_once_every_chunk_is_folded_in_any_order() {
        let (cat, whole) = chunked_catalog(false);
        assert!(!cat.has_blob(&whole), "a chunk is missing");
        let (cat, whole) = chunked_catalog(true);
        assert!(cat.has_blob(&whole), "the list came before its last chunk");
        assert_eq!(cat.blobs()[&whole].runs.len(), 1);
    }

    #[test]
    fn a_saved_catalog_keeps_chunk_lists() {
        let (cat, whole) = chunked_catalog(true);
        let back = Catalog::decode(&cat.encode()).expect("the cache must load back");
        assert_eq!(back.blobs()[&whole], cat.blobs()[&whole]);
        assert!(back.has_blob(&whole));
    }

    #[test]
    fn older_catalog_caches_are_stale_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog");
        for (magic, older) in [
            (&b"TLCATv1\0"[..], true),
            (b"TLCATv2\0", true),
            (b"TLCATv3\0", true),
            (b"TLCATv4\0", true),
            (b"TLCATv5\0", false),
            (b"garbage!", false),
        ] {
            let mut bytes = folded().encode();
            bytes[..8].copy_from_slice(magic);
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(Catalog::is_older_cache(&path), older, "{magic:?}");
        }
        assert!(!Catalog::is_older_cache(&dir.path().join("absent")));
    }

    #[test]
    fn a_version_1_catalog_cache_is_not_read() {
        let mut bytes = folded().encode();
        bytes[..8].copy_from_slice(b"TLCATv1\0");
        let n = bytes.len() - 32;
        let sum = *blake3::hash(&bytes[..n]).as_bytes();
        bytes[n..].copy_from_slice(&sum);
        assert!(Catalog::decode(&bytes).is_none());
    }
}
