//! What live capture (the daemon, `tl watch`) needs from the store beyond the
//! commands: captures of only the paths a watcher reported, captures that commit
//! nothing when nothing changed, and gap markers.

use std::collections::BTreeMap;

use std::path::Path;

use tl_wal::Lsn;

use super::capture::{NewContent, PendingBlobs};
use super::compact::snapshot_meta;
use super::{now_ns, CheckpointOutcome, Result, Store, StoreError};
use crate::record::{CommitKind, Record};
use crate::scan::{self, diff_trees, IgnoreRules, NewRecord};
use crate::snapshot;
use crate::statcache::StatCache;
use crate::types::Tree;

/// What a long-lived writer (the daemon) keeps between captures.
pub(crate) struct LiveState {
    /// The ignore files read so far.
    pub(crate) rules: scan::IgnoreRules,
    /// Sequence number of the newest snapshot, once looked up.
    pub(crate) snapshot_seq: Option<u64>,
    /// The snapshot being written by the background compactor.
    pub(crate) compactor: Option<std::thread::JoinHandle<()>>,
    /// Files the last capture found changing while read (see
    /// [`Store::take_unsettled`]).
    pub(crate) unsettled: Vec<Vec<u8>>,
    /// What the last capture looked at and skipped (see
    /// [`Store::take_skip_report`]).
    pub(crate) skips: Option<super::SkipReport>,
}

impl LiveState {
    pub(crate) fn new(root: &Path) -> LiveState {
        LiveState {
            rules: scan::IgnoreRules::new(root),
            snapshot_seq: None,
            compactor: None,
            unsettled: Vec::new(),
            skips: None,
        }
    }
}

impl Store {
    /// Captures the directory like [`Store::checkpoint`], but commits nothing and
    /// returns None when the tree is unchanged since the last checkpoint (a batch of
    /// events may end where it started: a file written and restored, ignored paths).
    pub fn checkpoint_if_changed(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<Option<CheckpointOutcome>> {
        let out = self.capture_if_changed(kind, message)?;
        Ok(out.checkpoint.map(|checkpoint| CheckpointOutcome {
            checkpoint,
            warnings: out.warnings,
            secrets_left_out: out.secrets_left_out,
            over_limit: out.over_limit,
            scan: out.scan,
        }))
    }

    /// Captures only `paths` (relative to the root; each a file, a symlink, a
    /// directory — everything under it — or a path that is gone) and commits the
    /// difference with the last checkpoint there, or nothing (None) when there is
    /// none. This is what a watcher's batch costs: the paths it names, not the
    /// tree. Falls back to a whole-tree capture when a path is the root or an
    /// ignore file (the rules changed).
    ///
    /// Every file named is read (the event says it changed; a file whose only
    /// change is its metadata costs one read and stores nothing new), so no stat
    /// cache is held in memory between batches. The ignore rules read are kept.
    pub fn capture_paths(
        &mut self,
        kind: CommitKind,
        paths: Vec<Vec<u8>>,
    ) -> Result<Option<CheckpointOutcome>> {
        self.capture_paths_as(kind, None, paths)
    }

    /// [`Store::capture_paths`] with a message for the checkpoint: what a replay
    /// or restore records after writing, as it knows which paths it wrote and
    /// removed (a whole-tree scan after it would only find those).
    pub fn capture_paths_as(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        paths: Vec<Vec<u8>>,
    ) -> Result<Option<CheckpointOutcome>> {
        if self.live.is_none() {
            self.live = Some(LiveState::new(self.layout.root()));
        }
        if paths
            .iter()
            .any(|p| p.is_empty() || IgnoreRules::is_rule_path(p))
        {
            if let Some(live) = self.live.as_mut() {
                live.rules.forget();
            }
            return self.checkpoint_if_changed(kind, message);
        }
        self.capture_scopes(kind, message, paths)
    }

    /// The targeted capture of [`Store::capture_paths`] once the root and the
    /// ignore files are dealt with: `scopes` scanned, the difference committed.
    pub(super) fn capture_scopes(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        paths: Vec<Vec<u8>>,
    ) -> Result<Option<CheckpointOutcome>> {
        let root = self.layout.root().to_path_buf();
        let mut live = self.live.take().unwrap_or_else(|| LiveState::new(&root));
        let scanned = self.scan_scopes(paths, &mut live.rules);
        self.live = Some(live);
        let ScopedScan {
            mut part,
            content,
            over_limit,
        } = scanned?;
        // A path skipped although still there keeps its last recorded version.
        scan::keep_skipped(self.catalog.head(), &mut part.tree, &mut part.warnings);
        self.note_unsettled(&part.warnings);
        self.note_skips(super::SkipReport::of_scopes(&part.scopes, &part.warnings));
        let mut changes = Vec::new();
        for scope in &part.scopes {
            let old = subtree(self.catalog.head(), scope);
            let new = subtree(&part.tree, scope);
            changes.extend(diff_trees(&old, &new));
        }
        if changes.is_empty() {
            return Ok(None);
        }
        changes.sort_by(|a, b| a.path().cmp(b.path()));
        self.commit_changes(kind, message, content, &changes)?;
        self.after_commit();
        let mut done = self.outcome(part.warnings, part.stats);
        done.over_limit = over_limit;
        Ok(Some(done))
    }

    /// The targeted scan of [`Store::capture_paths`]: what the scopes hold and the
    /// new content.
    /// A batch over `max_batch_bytes` by the walk's estimate goes on (a watcher
    /// cannot ask anyone); the outcome says so.
    fn scan_scopes(&self, paths: Vec<Vec<u8>>, rules: &mut IgnoreRules) -> Result<ScopedScan> {
        let options = self.scan_options();
        let scan_error =
            |e: scan::ScanError<tl_wal::AppendError>| StoreError::Scan(super::error_chain(&e));
        let planned = scan::plan_paths(self.layout.root(), paths, rules).map_err(scan_error)?;
        let over_limit = self.check_batch(
            planned.estimate(self.catalog.head(), &options),
            &super::batch::Proceed,
        )?;
        let wal = self.wal()?;
        let pending = PendingBlobs::new(wal, &|_| {});
        let sink = |new: NewRecord| pending.push(new);
        let stored = super::content::StoreContent::new(self);
        let part = planned
            .read(&StatCache::new(), &options, &stored, &sink)
            .map_err(scan_error)?;
        let content = pending.finish();
        Ok(ScopedScan {
            part,
            content,
            over_limit,
        })
    }

    /// The files the last capture found changing while it read them, whether or
    /// not it committed anything (they kept their previous version): a watcher
    /// queues them again, to be captured once they settle. Empties the list.
    pub fn take_unsettled(&mut self) -> Vec<Vec<u8>> {
        self.live
            .as_mut()
            .map(|l| std::mem::take(&mut l.unsettled))
            .unwrap_or_default()
    }

    /// Remembers the files of `warnings` that changed while being read, for
    /// [`Store::take_unsettled`] (only kept once live state exists or is needed).
    pub(crate) fn note_unsettled(&mut self, warnings: &[scan::ScanWarning]) {
        let unsettled: Vec<Vec<u8>> = warnings
            .iter()
            .filter(|w| w.kind == scan::WarningKind::ChangedWhileRead)
            .map(|w| w.path.as_bytes().to_vec())
            .collect();
        if unsettled.is_empty() && self.live.is_none() {
            return;
        }
        let root = self.layout.root().to_path_buf();
        self.live
            .get_or_insert_with(|| LiveState::new(&root))
            .unsettled = unsettled;
    }

    /// Turns this store into a long-lived writer's: the catalog is saved now, then
    /// replaced by a [`LeanCatalog`](crate::catalog::LeanCatalog) that keeps only
    /// what appending needs (the head, which blobs are stored, the last
    /// checkpoint), and saving the catalog cache and compaction move out of the
    /// capture path to [`Store::idle_maintenance`]. From then on the history is not
    /// in memory: [`Store::catalog`] is an error, [`Store::checkpoints`] empty, and
    /// `tree_at`, `resolve`, pins and content reads fail with
    /// [`StoreError::Lean`] or say so; [`Store::last_checkpoint`], [`Store::seq`],
    /// [`Store::gaps`], [`Store::head`] and [`Store::has_blob`] work on both. Other
    /// processes read history from the log and the saved catalog, as always.
    pub fn go_lean(&mut self) {
        self.save_catalog();
        self.catalog.go_lean();
    }

    /// Work for a quiet moment: saves the catalog cache when enough log follows
    /// the saved copy, and starts the compactor (a snapshot of the head, written by
    /// a thread at the lowest CPU priority) when enough checkpoints follow the
    /// newest snapshot. Returns true when a snapshot was started.
    pub fn idle_maintenance(&mut self) -> bool {
        self.save_catalog_if_due();
        if let Some(lean) = self.catalog.lean_mut() {
            lean.compact_blob_index();
        }
        self.compact_in_background()
    }

    fn compact_in_background(&mut self) -> bool {
        let Some(last) = self.catalog.last_checkpoint() else {
            return false;
        };
        let dir = self.snapshot_dir();
        let live = self
            .live
            .get_or_insert_with(|| LiveState::new(self.layout.root()));
        if live.compactor.as_ref().is_some_and(|h| !h.is_finished()) {
            return false;
        }
        if let Some(h) = live.compactor.take() {
            let _ = h.join();
        }
        let snap_seq = *live
            .snapshot_seq
            .get_or_insert_with(|| newest_snapshot_seq(&dir));
        if last.seq.saturating_sub(snap_seq) < self.config.snapshot_every {
            return false;
        }
        let meta = snapshot_meta(last);
        let head = self.catalog.head().clone();
        live.snapshot_seq = Some(last.seq);
        live.compactor = Some(std::thread::spawn(move || {
            // Lowest priority: a capture always goes first. Failing to lower it
            // (a restricted sandbox) only costs fairness.
            lower_this_threads_priority();
            // A snapshot is a cache: one not written is written at the next chance
            // or rebuilt by `tl recover --rebuild`.
            let _ = snapshot::write_snapshot(&dir, &meta, &head);
        }));
        true
    }

    /// True while the compactor's thread is writing a snapshot.
    pub fn compactor_running(&self) -> bool {
        self.live
            .as_ref()
            .and_then(|l| l.compactor.as_ref())
            .is_some_and(|h| !h.is_finished())
    }

    /// Waits for a snapshot being written in the background.
    pub fn wait_for_compactor(&mut self) {
        if let Some(h) = self.live.as_mut().and_then(|l| l.compactor.take()) {
            let _ = h.join();
        }
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
        if !self.is_lean() {
            self.save_catalog();
        }
        Ok(())
    }

    /// The current time as the store stamps commits (ns since the Unix epoch).
    pub fn now_ns() -> i64 {
        now_ns()
    }
}

/// What a targeted scan found.
struct ScopedScan {
    part: scan::PartialScan,
    content: NewContent,
    over_limit: Option<super::OverLimit>,
}

/// Lowers the calling thread's scheduling priority to the lowest (nice 19). On
/// Linux a thread has its own nice value, set through its thread id; elsewhere
/// `setpriority` would lower the whole process (the capture too), so nothing is
/// done there and the compactor runs at normal priority.
fn lower_this_threads_priority() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Failing to lower it (a restricted sandbox) only costs fairness.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    }
}

/// The sequence number of the newest readable snapshot (0 when there is none).
fn newest_snapshot_seq(dir: &std::path::Path) -> u64 {
    snapshot::newest_at_or_before(dir, Lsn::MAX)
        .ok()
        .flatten()
        .and_then(|s| snapshot::Snapshot::open(&s.path).ok())
        .map(|s| s.meta().seq)
        .unwrap_or(0)
}

/// The entries of `tree` at or under `scope`.
fn subtree(tree: &Tree, scope: &[u8]) -> Tree {
    tree.range::<[u8], _>((std::ops::Bound::Included(scope), std::ops::Bound::Unbounded))
        .take_while(|(p, _)| p.starts_with(scope))
        .filter(|(p, _)| crate::pathsafe::is_under(p, scope))
        .map(|(p, e)| (p.clone(), *e))
        .collect::<BTreeMap<_, _>>()
}
