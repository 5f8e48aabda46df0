//! The catalog: everything `tl` needs to answer questions without reading the whole
//! log — checkpoints with their changes (the time index), where each blob's parts
//! are (the blob index), pins, and the tree at the head.
//!
//! It is a fold over the log and nothing else: `Catalog::fold_*` are the only ways
//! it changes, and `.tl/index/catalog` is a cache of it, written after each change
//! and discarded (rebuilt from the log) whenever it does not match the log.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tl_wal::Lsn;

use crate::record::{chain_hash, CommitKind, CommitStats, Record};
use crate::types::{BlobHash, Entry, Mode, Tree};

mod blob;
mod fold;

pub use blob::{read_verified, BlobReadError, PartAt, PartProblem, StoredBlob};

pub use fold::{fold_records, DamagedFrame, FoldObserver, Unobserved};

/// One path's change in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathChange {
    /// The path now has this entry.
    Put(Vec<u8>, Entry),
    /// The path no longer exists.
    Delete(Vec<u8>),
}

impl PathChange {
    /// The path changed.
    pub fn path(&self) -> &[u8] {
        match self {
            PathChange::Put(p, _) | PathChange::Delete(p) => p,
        }
    }
}

/// One checkpoint: a batch closed by a Commit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Short id: the first 12 hex digits of the commit's chain hash.
    pub id: String,
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

/// The fold of the log.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Repository id of the log this catalog folds.
    pub repo_id: [u8; 16],
    /// The log is folded up to (excluding) this LSN.
    pub through: Lsn,
    /// Checkpoints in log order.
    pub checkpoints: Vec<Checkpoint>,
    /// Where each blob's parts are.
    pub blobs: HashMap<BlobHash, StoredBlob>,
    /// Pins by name.
    pub pins: BTreeMap<String, Pin>,
    /// Intervals where events may have been missed.
    pub gaps: Vec<Gap>,
    /// Commits whose chain hash did not verify.
    pub chain_breaks: Vec<ChainBreak>,
    /// The tree after the last checkpoint.
    pub head: Tree,
    /// Keep only the last checkpoint, without its changes (see
    /// [`Catalog::make_lean`]).
    lean: bool,
    /// In a lean catalog: the hashes of complete blobs moved out of `blobs`, sorted
    /// (32 bytes each instead of a map entry with its part list).
    lean_blobs: Vec<BlobHash>,
    // Batch in progress while folding.
    pending: Vec<PathChange>,
    pending_hasher: Vec<Vec<u8>>,
    pending_lsn: Lsn,
}

impl Catalog {
    /// An empty catalog of the log `repo_id` (zeros when unknown), to fold from
    /// `through` (the log's first LSN).
    pub fn new(repo_id: [u8; 16], through: Lsn) -> Catalog {
        Catalog {
            repo_id,
            through,
            ..Catalog::default()
        }
    }

    /// Chain hash of the last checkpoint (zeros before the first).
    pub fn chain(&self) -> [u8; 32] {
        self.checkpoints.last().map(|c| c.chain).unwrap_or([0; 32])
    }

    /// Sequence number of the last checkpoint (0 before the first).
    pub fn seq(&self) -> u64 {
        self.checkpoints.last().map(|c| c.seq).unwrap_or(0)
    }

    /// Drops what a writer that only appends does not need: every checkpoint but
    /// the last, and the changes of that one; later folds keep only the last
    /// checkpoint too. The head, the blob index, pins and gaps stay. A lean catalog
    /// must not be saved (it would lose history): see `Store::go_lean`.
    pub fn make_lean(&mut self) {
        self.lean = true;
        let last = self.checkpoints.pop();
        self.checkpoints = Vec::new();
        if let Some(mut last) = last {
            last.changes = Vec::new();
            self.checkpoints.push(last);
        }
        self.pending = Vec::new();
        self.pending_hasher = Vec::new();
        self.compact_blob_index();
        // A map grown by inserts in path order has half-full nodes; rebuilt from
        // sorted entries, its nodes are full (101k paths: 21.8 -> 14.9 MB). The
        // keys are copied too, so the old map's memory is freed whole, in pages
        // the allocator can hand back, rather than as holes between live keys.
        let old = std::mem::take(&mut self.head);
        self.head = old.iter().map(|(k, v)| (k.clone(), *v)).collect();
        drop(old);
    }

    /// In a lean catalog, moves the complete blobs of the blob index into the
    /// sorted hash list (`has_blob` keeps answering; where their parts are is no
    /// longer known in memory). Call from time to time as new content is folded.
    pub fn compact_blob_index(&mut self) {
        if !self.lean {
            return;
        }
        let mut moved: Vec<BlobHash> = Vec::new();
        self.blobs.retain(|h, blob| {
            let complete = blob.is_complete();
            if complete {
                moved.push(*h);
            }
            !complete
        });
        if moved.is_empty() {
            return;
        }
        moved.sort_unstable();
        let old = std::mem::take(&mut self.lean_blobs);
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
        self.lean_blobs = merged;
        self.blobs.shrink_to_fit();
    }

    /// True after [`Catalog::make_lean`].
    pub fn is_lean(&self) -> bool {
        self.lean
    }

    /// True when every part of the blob is in the log.
    pub fn has_blob(&self, hash: &BlobHash) -> bool {
        match self.blobs.get(hash) {
            None => self.lean_blobs.binary_search(hash).is_ok(),
            Some(blob) => blob.is_complete(),
        }
    }

    /// A record at `lsn` was read; `first_in_batch` marks a batch start. `bytes` is
    /// the encoded record (for the chain hash). Records of a batch take effect at
    /// its Commit; a batch interrupted by damage must be dropped with
    /// [`Catalog::fold_damage`].
    pub fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record) {
        if first_in_batch {
            self.pending.clear();
            self.pending_hasher.clear();
            self.pending_lsn = lsn;
        }
        match record {
            Record::Blob {
                hash,
                raw_len,
                offset,
                ..
            } => {
                let e = self.blobs.entry(hash).or_insert(StoredBlob {
                    raw_len,
                    parts: Vec::new(),
                });
                if !e.parts.iter().any(|p| p.offset == offset) {
                    e.parts.push(PartAt { offset, lsn });
                    e.parts.sort_unstable();
                }
            }
            Record::Put {
                path,
                hash,
                mode,
                size,
                mtime_ns,
            } => self.pending.push(PathChange::Put(
                path,
                Entry {
                    hash,
                    mode,
                    size,
                    mtime_ns,
                },
            )),
            Record::Delete { path } => self.pending.push(PathChange::Delete(path)),
            Record::Rename { from, to } => {
                let entry = self
                    .pending
                    .iter()
                    .rev()
                    .find_map(|c| match c {
                        PathChange::Put(p, e) if *p == from => Some(Some(*e)),
                        PathChange::Delete(p) if *p == from => Some(None),
                        _ => None,
                    })
                    .unwrap_or_else(|| self.head.get(&from).copied());
                self.pending.push(PathChange::Delete(from));
                if let Some(e) = entry {
                    self.pending.push(PathChange::Put(to, e));
                }
            }
            Record::Commit {
                time_ns,
                seq,
                kind,
                message,
                chain,
                stats,
                ..
            } => {
                let expected = chain_hash(
                    &self.chain(),
                    self.pending_hasher.iter().map(|b| b.as_slice()),
                );
                if expected != chain {
                    self.chain_breaks.push(ChainBreak { lsn, seq });
                }
                let mut changes = std::mem::take(&mut self.pending);
                // Later changes to a path win; keep one per path, sorted.
                let mut by_path: BTreeMap<Vec<u8>, PathChange> = BTreeMap::new();
                for c in changes.drain(..) {
                    by_path.insert(c.path().to_vec(), c);
                }
                let mut changes: Vec<PathChange> = by_path.into_values().collect();
                apply(&mut self.head, &changes);
                if self.lean {
                    changes = Vec::new();
                    self.checkpoints.clear();
                }
                self.checkpoints.push(Checkpoint {
                    id: hex(&chain[..6]),
                    lsn: self.pending_lsn,
                    end_lsn: Lsn::ZERO,
                    time_ns,
                    seq,
                    kind,
                    message,
                    stats,
                    chain,
                    changes,
                });
                self.pending_hasher.clear();
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
        }
        self.pending_hasher.push(bytes.to_vec());
    }

    /// A batch ended at `end`: records the end LSN of a checkpoint it closed.
    pub fn fold_batch_end(&mut self, end: Lsn) {
        if let Some(last) = self.checkpoints.last_mut() {
            if last.end_lsn == Lsn::ZERO {
                last.end_lsn = end;
            }
        }
        self.pending.clear();
        self.pending_hasher.clear();
        if self.pending_hasher.capacity() > 4096 {
            // A large batch (a first capture) must not pin its size in memory.
            self.pending = Vec::new();
            self.pending_hasher = Vec::new();
        }
        self.through = end;
    }

    /// Reading resumed at `lsn` after damage: the fold continues from there.
    pub fn fold_resume(&mut self, lsn: Lsn) {
        self.through = lsn;
    }

    /// The log ends at `end`: the fold covers it (marks after the last batch, a
    /// damaged tail, are folded over).
    pub fn fold_log_end(&mut self, end: Lsn) {
        self.through = self.through.max(end);
    }

    /// Damage interrupted the batch in progress: drop it.
    pub fn fold_damage(&mut self) {
        self.pending.clear();
        self.pending_hasher.clear();
    }

    /// The index of the checkpoint whose batch starts at `lsn`.
    pub fn checkpoint_at_lsn(&self, lsn: Lsn) -> Option<usize> {
        self.checkpoints.binary_search_by_key(&lsn, |c| c.lsn).ok()
    }

    /// Writes the catalog cache.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        assert!(!self.lean, "a lean catalog must not be saved");
        let bytes = self.encode();
        // No fsync: this is a cache with a checksum. After a crash it is either the
        // old copy, the new one, or damaged, and a damaged one is rebuilt from the log.
        // Through an unpredictable owner-only temporary, never through a symlink.
        tl_wal::private_fs::write_atomic(path, &bytes, tl_wal::private_fs::Durability::Cache)
    }

    /// Reads the catalog cache; `None` when missing, damaged or of another version
    /// (the caller then rebuilds it from the log).
    pub fn load(path: &Path) -> Option<Catalog> {
        let bytes = std::fs::read(path).ok()?;
        Catalog::decode(&bytes)
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(CATALOG_MAGIC);
        w.extend_from_slice(&self.repo_id);
        put_u64(&mut w, self.through.get());
        put_u64(&mut w, self.checkpoints.len() as u64);
        for c in &self.checkpoints {
            put_u64(&mut w, c.lsn.get());
            put_u64(&mut w, c.end_lsn.get());
            put_u64(&mut w, c.time_ns as u64);
            put_u64(&mut w, c.seq);
            w.push(c.kind.code());
            match &c.message {
                Some(m) => {
                    w.push(1);
                    put_bytes(&mut w, m.as_bytes());
                }
                None => w.push(0),
            }
            put_u64(&mut w, c.stats.added as u64);
            put_u64(&mut w, c.stats.modified as u64);
            put_u64(&mut w, c.stats.deleted as u64);
            put_u64(&mut w, c.stats.bytes_new);
            w.extend_from_slice(&c.chain);
            put_u64(&mut w, c.changes.len() as u64);
            for ch in &c.changes {
                match ch {
                    PathChange::Put(p, e) => {
                        w.push(1);
                        put_bytes(&mut w, p);
                        put_entry(&mut w, e);
                    }
                    PathChange::Delete(p) => {
                        w.push(0);
                        put_bytes(&mut w, p);
                    }
                }
            }
        }
        put_u64(&mut w, self.blobs.len() as u64);
        for (h, blob) in &self.blobs {
            w.extend_from_slice(&h.0);
            put_u64(&mut w, blob.raw_len);
            put_u64(&mut w, blob.parts.len() as u64);
            for p in &blob.parts {
                put_u64(&mut w, p.offset);
                put_u64(&mut w, p.lsn.get());
            }
        }
        put_u64(&mut w, self.pins.len() as u64);
        for (name, pin) in &self.pins {
            put_bytes(&mut w, name.as_bytes());
            put_u64(&mut w, pin.target_lsn.get());
            put_u64(&mut w, pin.time_ns as u64);
        }
        put_u64(&mut w, self.gaps.len() as u64);
        for g in &self.gaps {
            put_u64(&mut w, g.from_ns as u64);
            put_u64(&mut w, g.to_ns as u64);
            put_bytes(&mut w, g.reason.as_bytes());
        }
        put_u64(&mut w, self.chain_breaks.len() as u64);
        for b in &self.chain_breaks {
            put_u64(&mut w, b.lsn.get());
            put_u64(&mut w, b.seq);
        }
        let sum = blake3::hash(&w);
        w.extend_from_slice(sum.as_bytes());
        w
    }

    fn decode(bytes: &[u8]) -> Option<Catalog> {
        if bytes.len() < 32 + CATALOG_MAGIC.len() {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(body).as_bytes() != sum {
            return None;
        }
        let mut r = Reader { b: body, at: 0 };
        if r.take(CATALOG_MAGIC.len())? != CATALOG_MAGIC {
            return None;
        }
        let mut cat = Catalog {
            repo_id: r.take(16)?.try_into().ok()?,
            through: Lsn::new(r.u64()?),
            ..Catalog::default()
        };
        let n = r.count()?;
        for _ in 0..n {
            let lsn = Lsn::new(r.u64()?);
            let end_lsn = Lsn::new(r.u64()?);
            let time_ns = r.u64()? as i64;
            let seq = r.u64()?;
            let kind = CommitKind::from_code(r.u8()?)?;
            let message = match r.u8()? {
                0 => None,
                1 => Some(String::from_utf8(r.bytes()?.to_vec()).ok()?),
                _ => return None,
            };
            let stats = CommitStats {
                added: r.u64()? as u32,
                modified: r.u64()? as u32,
                deleted: r.u64()? as u32,
                bytes_new: r.u64()?,
            };
            let chain: [u8; 32] = r.take(32)?.try_into().ok()?;
            let m = r.count()?;
            let mut changes = Vec::with_capacity(m.min(1 << 16));
            for _ in 0..m {
                changes.push(match r.u8()? {
                    1 => {
                        let p = r.bytes()?.to_vec();
                        PathChange::Put(p, r.entry()?)
                    }
                    0 => PathChange::Delete(r.bytes()?.to_vec()),
                    _ => return None,
                });
            }
            apply(&mut cat.head, &changes);
            cat.checkpoints.push(Checkpoint {
                id: hex(&chain[..6]),
                lsn,
                end_lsn,
                time_ns,
                seq,
                kind,
                message,
                stats,
                chain,
                changes,
            });
        }
        let n = r.count()?;
        for _ in 0..n {
            let h = BlobHash(r.take(32)?.try_into().ok()?);
            let raw_len = r.u64()?;
            let m = r.count()?;
            let mut parts = Vec::with_capacity(m.min(1 << 16));
            for _ in 0..m {
                let offset = r.u64()?;
                let lsn = Lsn::new(r.u64()?);
                parts.push(PartAt { offset, lsn });
            }
            cat.blobs.insert(h, StoredBlob { raw_len, parts });
        }
        let n = r.count()?;
        for _ in 0..n {
            let name = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            let target_lsn = Lsn::new(r.u64()?);
            let time_ns = r.u64()? as i64;
            cat.pins.insert(
                name,
                Pin {
                    target_lsn,
                    time_ns,
                },
            );
        }
        let n = r.count()?;
        for _ in 0..n {
            let from_ns = r.u64()? as i64;
            let to_ns = r.u64()? as i64;
            let reason = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            cat.gaps.push(Gap {
                from_ns,
                to_ns,
                reason,
            });
        }
        let n = r.count()?;
        for _ in 0..n {
            cat.chain_breaks.push(ChainBreak {
                lsn: Lsn::new(r.u64()?),
                seq: r.u64()?,
            });
        }
        if r.at != r.b.len() {
            return None;
        }
        Some(cat)
    }
}

const CATALOG_MAGIC: &[u8] = b"TLCATv1\0";

/// Applies sorted changes to a tree.
pub fn apply(tree: &mut Tree, changes: &[PathChange]) {
    for c in changes {
        match c {
            PathChange::Put(p, e) => {
                tree.insert(p.clone(), *e);
            }
            PathChange::Delete(p) => {
                tree.remove(p);
            }
        }
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u64(w, b.len() as u64);
    w.extend_from_slice(b);
}

fn put_entry(w: &mut Vec<u8>, e: &Entry) {
    w.extend_from_slice(&e.hash.0);
    w.push(e.mode.code());
    put_u64(w, e.size);
    put_u64(w, e.mtime_ns as u64);
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.b.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    /// A count, bounded by the bytes left (each item takes at least one byte).
    fn count(&mut self) -> Option<usize> {
        let n = self.u64()?;
        if n > (self.b.len() - self.at) as u64 {
            return None;
        }
        Some(n as usize)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.count()?;
        self.take(n)
    }
    fn entry(&mut self) -> Option<Entry> {
        let hash = BlobHash(self.take(32)?.try_into().ok()?);
        let mode = Mode::from_code(self.u8()?)?;
        Some(Entry {
            hash,
            mode,
            size: self.u64()?,
            mtime_ns: self.u64()? as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CommitKind;

    fn folded() -> Catalog {
        let mut cat = Catalog {
            repo_id: [7; 16],
            ..Catalog::default()
        };
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

    #[test]
    fn a_saved_catalog_loads_back_equal() {
        let cat = folded();
        assert!(cat.chain_breaks.is_empty());
        let back = Catalog::decode(&cat.encode()).expect("the cache must load back");
        assert_eq!(back.repo_id, cat.repo_id);
        assert_eq!(back.through, Lsn::new(340));
        assert_eq!(back.checkpoints, cat.checkpoints);
        assert_eq!(back.blobs, cat.blobs);
        assert_eq!(back.pins, cat.pins);
        assert_eq!(back.head, cat.head);
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
}
