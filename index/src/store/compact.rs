//! Snapshots of the head (compaction) and the rebuild of every derived file
//! from the log alone.

use std::path::PathBuf;

use tl_wal::private_fs;
use tl_wal::Lsn;

use super::error::io;
use super::{Held, Result, Store, StoreError};
use crate::catalog::{apply, Catalog, Checkpoint};
use crate::snapshot::{self, SnapshotMeta};
use crate::types::Tree;

impl Store {
    /// Deletes every derived file (catalog, stat cache, snapshots) and rebuilds the
    /// catalog and the snapshots from the log alone: where the compactor would
    /// write them, and at the checkpoints that had one (`tl compact`'s). Returns the
    /// snapshots written.
    pub fn rebuild(&mut self) -> Result<Vec<PathBuf>> {
        let index = self.layout.index_dir();
        let snaps = self.snapshot_dir();
        // Snapshots written on purpose (`tl compact`) are rebuilt where they were.
        let kept: Vec<Lsn> = snapshot::list_snapshots(&snaps)
            .map(|l| l.into_iter().map(|s| s.lsn).collect())
            .unwrap_or_default();
        for dir in [&index, &snaps] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(dir)(e)),
            }
            private_fs::ensure_dir(dir).map_err(io(dir))?;
        }
        self.catalog = Held::Full(Catalog::new(self.repo_id(), self.log.start()));
        self.damage.clear();
        self.fold_to_end()?;
        self.save_catalog();
        self.write_snapshots(&kept)
    }

    /// Writes the snapshots the compactor would have written (after every
    /// `snapshot_every`-th checkpoint), for a log whose snapshots were deleted
    /// (GC's new log). Returns the snapshots written.
    pub fn rebuild_snapshots(&mut self) -> Result<Vec<PathBuf>> {
        self.write_snapshots(&[])
    }

    /// Snapshots where the compactor would have written them, and after the
    /// checkpoints ending at `also`.
    fn write_snapshots(&mut self, also: &[Lsn]) -> Result<Vec<PathBuf>> {
        let snaps = self.snapshot_dir();
        let kept = also;
        let every = self.config.snapshot_every.max(1) as usize;
        let mut written = Vec::new();
        let mut tree = Tree::new();
        for (i, c) in self.catalog()?.checkpoints().iter().enumerate() {
            apply(&mut tree, &c.changes);
            if (i + 1) % every == 0 || kept.contains(&c.end_lsn) {
                let meta = snapshot_meta(c);
                written.push(snapshot::write_snapshot(&snaps, &meta, &tree)?);
            }
        }
        Ok(written)
    }

    /// Writes a snapshot of the head if enough checkpoints followed the last one.
    pub fn maybe_compact(&mut self) -> Option<PathBuf> {
        let cps = self.catalog.full()?.checkpoints();
        if cps.is_empty() {
            return None;
        }
        let newest = snapshot::newest_at_or_before(&self.snapshot_dir(), Lsn::MAX)
            .ok()
            .flatten();
        let since = match newest {
            Some(s) => cps.iter().filter(|c| c.end_lsn > s.lsn).count() as u64,
            None => cps.len() as u64,
        };
        if since < self.config.snapshot_every {
            return None;
        }
        self.compact().ok()
    }

    /// Writes a snapshot of the tree at the last checkpoint.
    pub fn compact(&mut self) -> Result<PathBuf> {
        let last = self
            .catalog
            .last_checkpoint()
            .ok_or(StoreError::NothingToCompact)?;
        let meta = snapshot_meta(last);
        Ok(snapshot::write_snapshot(
            &self.snapshot_dir(),
            &meta,
            self.catalog.head(),
        )?)
    }
}

/// The snapshot metadata of the tree after checkpoint `c`.
pub(super) fn snapshot_meta(c: &Checkpoint) -> SnapshotMeta {
    SnapshotMeta {
        lsn: c.end_lsn,
        time_ns: c.time_ns,
        timeline: c.timeline.0,
        seq: c.seq,
        chain: c.chain,
    }
}
