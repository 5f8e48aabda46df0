//! Reading history: the tree at a checkpoint, the changes of one, and content
//! (verified against its hash).

use std::io::Write;
use std::path::Path;

use tl_wal::Lsn;

use super::error::io;
use super::{Result, Store, StoreError};
use crate::catalog::{apply, read_verified, CheckpointIndex, PartProblem, PathChange};
use crate::snapshot;
use crate::types::{BlobHash, Entry, Tree};

impl Store {
    /// The tree as of checkpoint `idx`: the newest snapshot at or before it, plus
    /// the changes of the checkpoints after the snapshot.
    pub fn tree_at(&self, idx: CheckpointIndex) -> Result<Tree> {
        let cps = self.catalog()?.checkpoints();
        let target = &cps[idx];
        let mut tree = Tree::new();
        let mut from = 0;
        if let Ok(Some(found)) = snapshot::newest_at_or_before(&self.snapshot_dir(), target.end_lsn)
        {
            if let Some(j) = cps.iter().position(|c| c.end_lsn == found.lsn) {
                // A damaged snapshot is only a cache: fall back to the changes.
                if let Ok(s) = snapshot::Snapshot::open(&found.path) {
                    tree = s.to_tree();
                    from = j + 1;
                }
            }
        }
        for c in &cps[from..=idx.get()] {
            apply(&mut tree, &c.changes);
        }
        Ok(tree)
    }

    /// The entry of `path` as of checkpoint `idx` (None: no file there), the
    /// same as `tree_at(idx).get(path)` without building the tree: the last
    /// change to `path` at or before `idx`, walking back through the changes.
    pub fn entry_at(&self, idx: CheckpointIndex, path: &[u8]) -> Result<Option<Entry>> {
        let cps = self.catalog()?.checkpoints();
        for c in cps[..=idx.get()].iter().rev() {
            if let Some(change) = c
                .changes
                .iter()
                .rev()
                .find(|ch| ch.path().as_bytes() == path)
            {
                return Ok(match change {
                    PathChange::Put(_, e) => Some(*e),
                    PathChange::Delete(_) => None,
                });
            }
        }
        Ok(None)
    }

    /// The tree after the last checkpoint.
    pub fn head(&self) -> &Tree {
        self.catalog.head()
    }

    /// Writes the content of `hash` to `out`, verifying it against the hash.
    pub fn read_blob(&self, hash: &BlobHash, out: &mut dyn Write) -> Result<u64> {
        let bad = |why: String| StoreError::Blob {
            hash: hash.to_hex(),
            why,
        };
        let blob = match self.catalog.full() {
            Some(c) => c
                .blobs()
                .get(hash)
                .ok_or_else(|| bad("not in the log".into()))?,
            None => {
                return Err(bad(
                    "a lean store (a daemon's) does not know where content is; open the store \
                     anew to read it"
                        .into(),
                ))
            }
        };
        let catalog = self.catalog.full().expect("checked above");
        if !catalog.is_whole(blob) {
            return Err(bad("some of its parts or chunks are missing".into()));
        }
        let mut read = |lsn: Lsn| self.raw_record(lsn);
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        read_verified(hash, blob, catalog.blobs(), &mut read, &mut blocks, out).map_err(|e| {
            let lsn = e.lsn;
            match e.problem {
                PartProblem::Read(e) => StoreError::Read(e),
                PartProblem::Decode(source) => StoreError::Decode { lsn, source },
                PartProblem::NotABlobPart => bad(format!("record at LSN {lsn} is not a blob part")),
                PartProblem::OtherBlobsPart => {
                    bad(format!("record at LSN {lsn} is another blob's part"))
                }
                PartProblem::Write(e) => io(Path::new("<output>"))(e),
                PartProblem::Length { .. } | PartProblem::Hash => {
                    bad("content does not match its hash".into())
                }
                PartProblem::MissingChunk(c) => bad(format!(
                    "chunk {} listed at LSN {lsn} is not in the log",
                    c.to_hex()
                )),
            }
        })
    }

    /// Reads the record at `lsn` through the kept-open reader (GC copies stored
    /// content with it, verbatim).
    pub(crate) fn raw_record(&self, lsn: Lsn) -> Result<Vec<u8>, tl_wal::ReadError> {
        let mut guard = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(it) => it.seek(lsn)?,
            None => *guard = Some(self.log.iter_from(lsn)?),
        }
        let it = guard.as_mut().expect("set above");
        match it.next() {
            Some(Ok(r)) => Ok(r.data),
            Some(Err(e)) => {
                *guard = None;
                Err(e)
            }
            None => Err(tl_wal::ReadError::OutOfRange {
                lsn,
                start: lsn,
                end: lsn,
            }),
        }
    }

    /// The content of `hash` in memory.
    pub fn blob_bytes(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_blob(hash, &mut v)?;
        Ok(v)
    }

    /// Paths changed by checkpoint `idx` (of [`Store::checkpoints`]).
    pub fn changes(&self, idx: CheckpointIndex) -> &[PathChange] {
        &self.checkpoints()[idx].changes
    }
}
