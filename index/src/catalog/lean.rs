//! [`LeanCatalog`]: the fold a long-lived writer (the daemon) keeps in memory. It
//! has what appending needs — the head, whether content is stored, the last
//! checkpoint (its chain hash, sequence number and end) — and none of the history:
//! there is no list of checkpoints to ask, so nothing that needs every checkpoint
//! can be handed its single one. It has no cache file either; the store rebuilds
//! and saves the full catalog when the cache is due.

use std::collections::{BTreeMap, HashMap};

use tl_wal::Lsn;

use super::step::FoldState;
use super::{Checkpoint, Fold, Gap, Pin, StoredBlob};
use crate::record::Record;
use crate::types::{BlobHash, Tree};

/// The fold of the log without its history (see the module docs).
#[derive(Clone, Debug)]
pub struct LeanCatalog {
    /// Everything but the checkpoints; its blob index holds only blobs with parts
    /// still missing once [`LeanCatalog::compact_blob_index`] ran.
    state: FoldState,
    /// The last checkpoint, without its changes.
    last: Option<Checkpoint>,
    /// The hashes of complete blobs moved out of the blob index, sorted (32 bytes
    /// each instead of a map entry with its part list).
    stored: Vec<BlobHash>,
    /// Where the chunk lists of the chunked blobs moved out of the blob index
    /// are (the LSNs of their Chunked records, in content order): what a capture
    /// reads back to try a big file's previous chunks first
    /// ([`LeanCatalog::chunk_list_lsns`]). 8 bytes a run, and a map entry a
    /// chunked version.
    chunk_lists: HashMap<BlobHash, Vec<Lsn>>,
}

impl LeanCatalog {
    /// The lean form of a full catalog's state and its last checkpoint (see
    /// [`Catalog::into_lean`](super::Catalog::into_lean)).
    pub(super) fn from_full(mut state: FoldState, last: Option<Checkpoint>) -> LeanCatalog {
        state.release_batch_memory();
        // A map grown by inserts in path order has half-full nodes; rebuilt from
        // sorted entries, its nodes are full (101k paths: 21.8 -> 14.9 MB). The
        // keys are copied too, so the old map's memory is freed whole, in pages
        // the allocator can hand back, rather than as holes between live keys.
        let old = std::mem::take(&mut state.head);
        state.head = old.iter().map(|(k, v)| (k.clone(), *v)).collect();
        drop(old);
        let mut lean = LeanCatalog {
            state,
            last: last.map(without_changes),
            stored: Vec::new(),
            chunk_lists: HashMap::new(),
        };
        lean.compact_blob_index();
        lean
    }

    /// Repository id of the log this catalog folds.
    pub fn repo_id(&self) -> [u8; 16] {
        self.state.repo_id
    }

    /// The log is folded up to (excluding) this LSN.
    pub fn through(&self) -> Lsn {
        self.state.through
    }

    /// The last checkpoint, without its changes (its counts stay).
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.last.as_ref()
    }

    /// Chain hash of the last checkpoint (zeros before the first).
    pub fn chain(&self) -> [u8; 32] {
        self.last.as_ref().map(|c| c.chain).unwrap_or([0; 32])
    }

    /// Sequence number of the last checkpoint (0 before the first).
    pub fn seq(&self) -> u64 {
        self.last.as_ref().map(|c| c.seq).unwrap_or(0)
    }

    /// The tree after the last checkpoint.
    pub fn head(&self) -> &Tree {
        &self.state.head
    }

    /// Pins by name.
    pub fn pins(&self) -> &BTreeMap<String, Pin> {
        &self.state.pins
    }

    /// Intervals where events may have been missed, in log order.
    pub fn gaps(&self) -> &[Gap] {
        &self.state.gaps
    }

    /// Intervals where the runaway guard held a directory, in log order.
    pub fn holds(&self) -> &[crate::record::Hold] {
        &self.state.holds
    }

    /// What each GC that rewrote the log recorded, in log order.
    pub fn thinnings(&self) -> &[super::ThinnedAt] {
        &self.state.thinnings
    }

    /// The timelines the log names (removed ones too).
    pub fn timelines(&self) -> &super::Timelines {
        &self.state.timelines
    }

    /// The timeline of the last checkpoint: the one new states go to.
    pub fn current_timeline(&self) -> crate::record::TimelineId {
        self.state.current_timeline
    }

    /// Blobs with parts still missing, and where those parts are (complete blobs
    /// are only known by hash: see [`LeanCatalog::has_blob`]).
    pub fn incomplete_blobs(&self) -> &HashMap<BlobHash, StoredBlob> {
        &self.state.blobs
    }

    /// True when the blob's content is whole in the log (every part, or every
    /// chunk of its chunk lists).
    pub fn has_blob(&self, hash: &BlobHash) -> bool {
        match self.state.blobs.get(hash) {
            None => self.stored.binary_search(hash).is_ok(),
            Some(blob) => blob.is_complete(&|c| self.has_plain(c)),
        }
    }

    /// The LSNs of the Chunked records of content `hash`, in content order, once
    /// it is complete; `None` for content not stored as chunks (or still in the
    /// blob index: see [`LeanCatalog::incomplete_blobs`]).
    pub fn chunk_list_lsns(&self, hash: &BlobHash) -> Option<&[Lsn]> {
        self.chunk_lists.get(hash).map(Vec::as_slice)
    }

    /// True when `hash` is whole as parts (a chunk is never itself chunked).
    fn has_plain(&self, hash: &BlobHash) -> bool {
        match self.state.blobs.get(hash) {
            None => self.stored.binary_search(hash).is_ok(),
            Some(blob) => blob.parts_complete(),
        }
    }

    /// Moves the complete blobs of the blob index into the sorted hash list
    /// (`has_blob` keeps answering; where their parts are is no longer known in
    /// memory). Call from time to time as new content is folded.
    pub fn compact_blob_index(&mut self) {
        // Plain blobs first: a chunk list is complete once its chunks are.
        let mut moved: Vec<BlobHash> = Vec::new();
        self.state.blobs.retain(|h, blob| {
            let complete = blob.parts_complete();
            if complete {
                moved.push(*h);
            }
            !complete
        });
        moved.sort_unstable();
        let known =
            |c: &BlobHash| moved.binary_search(c).is_ok() || self.stored.binary_search(c).is_ok();
        let mut chunked: Vec<BlobHash> = Vec::new();
        let chunk_lists = &mut self.chunk_lists;
        self.state.blobs.retain(|h, blob| {
            let complete = blob.is_complete(&known);
            if complete {
                chunked.push(*h);
                chunk_lists.insert(*h, blob.runs.iter().map(|r| r.lsn).collect());
            }
            !complete
        });
        moved.extend(chunked);
        if moved.is_empty() {
            return;
        }
        moved.sort_unstable();
        let old = std::mem::take(&mut self.stored);
        let mut merged = Vec::with_capacity(old.len() + moved.len());
        let (mut a, mut b) = (old.into_iter().peekable(), moved.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(h) = next {
                if merged.last() != Some(&h) {
                    merged.push(h);
                }
            }
        }
        self.stored = merged;
        self.state.blobs.shrink_to_fit();
    }

    /// As [`Catalog::fold_record`](super::Catalog::fold_record).
    pub fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record) {
        let chain = self.chain();
        self.state
            .fold_record(lsn, first_in_batch, bytes, record, &chain);
    }

    /// As [`Catalog::fold_batch_end`](super::Catalog::fold_batch_end); the
    /// checkpoint the batch closed replaces the last one, without its changes.
    pub fn fold_batch_end(&mut self, end: Lsn) {
        if let Some(c) = self.state.fold_batch_end(end).pop() {
            self.last = Some(without_changes(c));
        }
    }

    /// As [`Catalog::fold_resume`](super::Catalog::fold_resume).
    pub fn fold_resume(&mut self, lsn: Lsn) {
        self.state.fold_resume(lsn);
    }

    /// As [`Catalog::fold_log_end`](super::Catalog::fold_log_end).
    pub fn fold_log_end(&mut self, end: Lsn) {
        self.state.fold_log_end(end);
    }

    /// As [`Catalog::fold_damage`](super::Catalog::fold_damage).
    pub fn fold_damage(&mut self) {
        self.state.fold_damage();
    }
}

fn without_changes(mut c: Checkpoint) -> Checkpoint {
    c.changes = Vec::new();
    c
}

impl Fold for LeanCatalog {
    fn through(&self) -> Lsn {
        self.state.through
    }
    fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record) {
        LeanCatalog::fold_record(self, lsn, first_in_batch, bytes, record);
    }
    fn fold_batch_end(&mut self, end: Lsn) {
        LeanCatalog::fold_batch_end(self, end);
    }
    fn fold_resume(&mut self, lsn: Lsn) {
        LeanCatalog::fold_resume(self, lsn);
    }
    fn fold_log_end(&mut self, end: Lsn) {
        LeanCatalog::fold_log_end(self, end);
    }
    fn fold_damage(&mut self) {
        LeanCatalog::fold_damage(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::record::{chain_hash, Codec, CommitKind, CommitStats};
    use crate::types::Mode;

    /// Folds one batch (a blob, a Put of it, the Commit) into `cat` at `lsn`.
    fn batch(cat: &mut dyn Fold, chain: [u8; 32], seq: u64, lsn: u64, n: u8) -> [u8; 32] {
        let hash = BlobHash([n; 32]);
        let blob = Record::Blob {
            hash,
            raw_len: 1,
            offset: 0,
            codec: Codec::None,
            data: vec![n],
        };
        let put = Record::Put {
            path: vec![b'f', n],
            hash,
            mode: Mode::File,
            size: 1,
            mtime_ns: 0,
        };
        let (b, p) = (blob.encode(), put.encode());
        let chain = chain_hash(&chain, [b.as_slice(), p.as_slice()].into_iter());
        let commit = Record::Commit {
            time_ns: seq as i64,
            seq,
            kind: CommitKind::Auto,
            message: None,
            timeline: 0,
            acked_lsn: Lsn::ZERO,
            chain,
            stats: CommitStats {
                added: 1,
                ..CommitStats::default()
            },
        };
        cat.fold_record(Lsn::new(lsn), true, &b, blob);
        cat.fold_record(Lsn::new(lsn + 100), false, &p, put);
        cat.fold_record(Lsn::new(lsn + 200), false, &commit.encode(), commit);
        cat.fold_batch_end(Lsn::new(lsn + 300));
        chain
    }

    #[test]
    fn a_lean_catalog_folds_like_the_full_one_but_keeps_only_the_last_checkpoint() {
        let mut full = Catalog::new([1; 16], Lsn::ZERO);
        let chain = batch(&mut full, [0; 32], 1, 0, 1);
        let mut lean = full.clone().into_lean();
        let (mut c_full, mut c_lean) = (chain, chain);
        for n in 2..6u8 {
            let lsn = u64::from(n) * 1000;
            c_full = batch(&mut full, c_full, u64::from(n), lsn, n);
            c_lean = batch(&mut lean, c_lean, u64::from(n), lsn, n);
        }
        assert_eq!(full.checkpoints().len(), 5);
        let last = lean.last_checkpoint().expect("a last checkpoint");
        let want = full.checkpoints().last().unwrap();
        assert_eq!((last.id.as_str(), last.seq), (want.id.as_str(), 5));
        assert_eq!((last.lsn, last.end_lsn), (want.lsn, want.end_lsn));
        assert!(last.changes.is_empty() && !want.changes.is_empty());
        assert_eq!(lean.head(), full.head());
        assert_eq!(lean.through(), full.through());
        assert_eq!((lean.chain(), lean.seq()), (full.chain(), full.seq()));
        assert!(full.chain_breaks().is_empty());
        for n in 1..6u8 {
            assert!(lean.has_blob(&BlobHash([n; 32])), "blob {n}");
        }
        assert!(!lean.has_blob(&BlobHash([9; 32])));
    }

    #[test]
    fn compacting_the_blob_index_keeps_has_blob_answering() {
        let mut full = Catalog::new([1; 16], Lsn::ZERO);
        batch(&mut full, [0; 32], 1, 0, 1);
        let mut lean = full.into_lean();
        assert!(
            lean.incomplete_blobs().is_empty(),
            "complete blobs move out"
        );
        let chain = lean.chain();
        batch(&mut lean, chain, 2, 1000, 2);
        assert_eq!(lean.incomplete_blobs().len(), 1, "folded since");
        lean.compact_blob_index();
        assert!(lean.incomplete_blobs().is_empty());
        assert!(lean.has_blob(&BlobHash([1; 32])) && lean.has_blob(&BlobHash([2; 32])));
    }
}
