//! What live capture (the daemon, `tl watch`) needs from the store beyond the
//! commands: captures of only the paths a watcher reported, captures that commit
//! nothing when nothing changed, and gap markers.

use std::collections::BTreeMap;

use super::{now_ns, CheckpointOutcome, LiveState, PendingBlobs, Result, Store, StoreError};
use crate::record::{CommitKind, Record};
use crate::scan::{self, diff_trees, BlobPart, IgnoreRules};
use crate::statcache::StatCache;
use crate::types::{BlobHash, Tree};

impl Store {
    /// Captures the directory like [`Store::checkpoint`], but commits nothing and
    /// returns None when the tree is unchanged since the last checkpoint (a batch of
    /// events may end where it started: a file written and restored, ignored paths).
    pub fn checkpoint_if_changed(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<Option<CheckpointOutcome>> {
        self.capture(kind, message, &|_| {}, true)
    }

    /// Captures only `paths` (relative to the root; each a file, a symlink, a
    /// directory — everything under it — or a path that is gone) and commits the
    /// difference with the last checkpoint there, or nothing (None) when there is
    /// none. This is what a watcher's batch costs: the paths it names, not the
    /// tree. Falls back to a whole-tree capture when a path is the root or an
    /// ignore file (the rules changed).
    ///
    /// The first call keeps the stat cache and the ignore rules in memory for the
    /// next ones; [`Store::save_caches`] writes the stat cache.
    pub fn capture_paths(
        &mut self,
        kind: CommitKind,
        paths: Vec<Vec<u8>>,
    ) -> Result<Option<CheckpointOutcome>> {
        if self.live.is_none() {
            self.live = Some(LiveState {
                cache: StatCache::load(&self.stat_cache_path()),
                cache_dirty: false,
                rules: IgnoreRules::new(&self.root),
            });
        }
        if paths
            .iter()
            .any(|p| p.is_empty() || IgnoreRules::is_rule_path(p))
        {
            if let Some(live) = self.live.as_mut() {
                live.rules.forget();
            }
            return self.checkpoint_if_changed(kind, None);
        }
        let options = self.scan_options();
        let mut live = self.live.take().expect("set above");
        let result = self.capture_paths_with(kind, paths, &options, &mut live);
        self.live = Some(live);
        let (records, changes, part) = match result? {
            Some(x) => x,
            None => return Ok(None),
        };
        self.commit_changes(kind, None, records, &changes, part.1)?;
        self.after_commit();
        Ok(Some(self.outcome(part.0.warnings, part.0.stats)))
    }

    /// The scan and diff of [`Store::capture_paths`]: the records to append with the
    /// commit, the changes, the scan and the bytes of new content (None: no change).
    #[allow(clippy::type_complexity)]
    fn capture_paths_with(
        &self,
        _kind: CommitKind,
        paths: Vec<Vec<u8>>,
        options: &scan::ScanOptions,
        live: &mut LiveState,
    ) -> Result<Option<(Vec<Vec<u8>>, Vec<scan::Change>, (scan::PartialScan, u64))>> {
        let wal = self.wal()?;
        let catalog = &self.catalog;
        let pending = PendingBlobs::new(wal, &|_| {});
        let sink = |part: BlobPart| pending.push(part);
        let has_blob = |h: &BlobHash| catalog.has_blob(h);
        let mut part = scan::scan_paths(
            &self.root,
            paths,
            &mut live.rules,
            &live.cache,
            options,
            &has_blob,
            &sink,
        )
        .map_err(|e| StoreError::Scan(super::error_chain(&e)))?;
        let (records, bytes_new) = pending.finish();

        let mut changes = Vec::new();
        for scope in &part.scopes {
            let old = subtree(&self.catalog.head, scope);
            let new = subtree(&part.tree, scope);
            changes.extend(diff_trees(&old, &new));
        }
        changes.sort_by(|a, b| a.path().cmp(b.path()));

        live.cache.retain(|p| !part.covers(p));
        for (p, stat) in std::mem::take(&mut part.cache) {
            live.cache.insert(p, stat);
        }
        live.cache_dirty = true;
        if changes.is_empty() {
            return Ok(None);
        }
        Ok(Some((records, changes, (part, bytes_new))))
    }

    /// Records that events between `from_ns` and `to_ns` may have been lost (the
    /// capture that follows closes the gap by scanning). `tl log` shows it.
    pub fn record_gap(&mut self, from_ns: i64, to_ns: i64, reason: &str) -> Result<()> {
        let mut reason = reason.to_string();
        let max = crate::record::GAP_REASON_MAX_BYTES;
        if reason.len() > max {
            let mut cut = max;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        let rec = Record::Gap {
            from_ns: from_ns.min(to_ns),
            to_ns,
            reason,
        }
        .encode();
        self.wal()?.append(&[&rec])?;
        self.fold_to_end()?;
        self.save_catalog();
        Ok(())
    }

    /// The current time as the store stamps commits (ns since the Unix epoch).
    pub fn now_ns() -> i64 {
        now_ns()
    }
}

/// The entries of `tree` at or under `scope`.
fn subtree(tree: &Tree, scope: &[u8]) -> Tree {
    tree.range::<[u8], _>((std::ops::Bound::Included(scope), std::ops::Bound::Unbounded))
        .take_while(|(p, _)| p.starts_with(scope))
        .filter(|(p, _)| scan::under_scope(p, scope))
        .map(|(p, e)| (p.clone(), *e))
        .collect::<BTreeMap<_, _>>()
}
