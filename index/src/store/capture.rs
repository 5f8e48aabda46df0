//! Capture: scan the directory, hand new content to the log as it is produced,
//! and commit the difference with the head as one checkpoint.

use std::sync::Mutex;

use tl_wal::{Appended, Wal};

use super::batch::{BatchPolicy, OverLimit, Proceed};
use super::content::{AllStored, StoreContent};
use super::{error_chain, Result, Store, StoreError};
use crate::catalog::{fold_written, Checkpoint, ContentRecord, WrittenBatch, WrittenRecords};
use crate::record::{chain_hash, CommitKind, CommitStats, Record};
use crate::repopath::RepoPath;
use crate::scan::{self, diff_trees, Change, NewRecord, ScanOptions, ScanWarning};
use crate::statcache::StatCache;
use crate::types::Tree;

/// Blob records are appended in batches of about this many bytes during a capture
/// (4 MiB: a first capture of the 10k-file corpus peaks at 37 MB RSS, 55 MB at 8 MiB),
/// so a first capture of a large tree never holds all its new content in memory.
const BLOB_BATCH_BYTES: usize = 4 << 20;

/// What differs on disk from the last checkpoint ([`Store::status`]).
#[derive(Clone, Debug)]
pub struct WorktreeStatus {
    /// The changes, sorted by path.
    pub changes: Vec<Change>,
    /// What the scan could not read or left out.
    pub warnings: Vec<ScanWarning>,
    /// Files left out as likely secrets (see [`scan::SECRET_FILES`]).
    pub secrets_left_out: Vec<RepoPath>,
}

/// What a checkpoint did.
#[derive(Clone, Debug)]
pub struct CheckpointOutcome {
    /// The new checkpoint.
    pub checkpoint: Checkpoint,
    /// Problems met while capturing (skipped files and why).
    pub warnings: Vec<ScanWarning>,
    /// Files a whole-tree capture left out as likely secrets (see
    /// [`scan::SECRET_FILES`]); empty for a capture of some paths.
    pub secrets_left_out: Vec<RepoPath>,
    /// Set when the capture added more than `max_batch_bytes` (by the walk's
    /// estimate) and its [`BatchPolicy`] let it through.
    pub over_limit: Option<OverLimit>,
    /// Counters of the scan.
    pub scan: scan::ScanStats,
}

/// What a capture that commits only when something changed found: the new
/// checkpoint (None when the tree was unchanged) and, in both cases, the warnings
/// (a caller about to write the tree must leave the skipped paths alone).
#[derive(Debug)]
pub struct Capture {
    /// The new checkpoint, or None when the tree did not change.
    pub checkpoint: Option<Checkpoint>,
    /// Problems met while capturing (skipped files and why).
    pub warnings: Vec<ScanWarning>,
    /// Files left out as likely secrets (see [`scan::SECRET_FILES`]).
    pub secrets_left_out: Vec<RepoPath>,
    /// Set when the capture was over `max_batch_bytes` (see
    /// [`CheckpointOutcome::over_limit`]).
    pub over_limit: Option<OverLimit>,
    /// Counters of the scan.
    pub scan: scan::ScanStats,
}

/// New content on its way to the log: Blob records appended in batches of about
/// [`BLOB_BATCH_BYTES`] as a scan hands parts over (from its threads); the last,
/// partial batch goes with the Commit.
pub(super) struct PendingBlobs<'a> {
    wal: &'a Wal,
    progress: &'a (dyn Fn(u64) + Sync),
    inner: Mutex<Pending>,
}

/// The Blob records of a capture so far.
#[derive(Default)]
struct Pending {
    /// Records not appended yet.
    records: Vec<Vec<u8>>,
    /// The same records, their data let go (to fold them once appended).
    unsent_content: Vec<ContentRecord>,
    /// Their bytes.
    unsent_bytes: usize,
    /// Bytes of every record so far, appended or not.
    total_bytes: u64,
    /// The batches appended so far, to fold from memory; None once there are
    /// more than [`HELD_RECORDS_MAX`] records (then the commit folds from the log).
    sent: Option<Vec<SentBatch>>,
    /// Records in `sent`.
    held: usize,
}

/// A first capture of a million files holds at most this many records (64 bytes
/// each: 16 MiB) to fold from memory; a larger one folds from the log.
const HELD_RECORDS_MAX: usize = 1 << 18;

/// A batch of content records the log has taken, kept to be folded without
/// reading it back.
pub(super) struct SentBatch {
    at: Appended,
    records: Vec<ContentRecord>,
}

impl<'a> PendingBlobs<'a> {
    pub(super) fn new(wal: &'a Wal, progress: &'a (dyn Fn(u64) + Sync)) -> PendingBlobs<'a> {
        PendingBlobs {
            wal,
            progress,
            inner: Mutex::new(Pending {
                sent: Some(Vec::new()),
                ..Pending::default()
            }),
        }
    }

    pub(super) fn push(&self, new: NewRecord) -> Result<(), tl_wal::AppendError> {
        let record = new.into_record();
        let encoded = record.encode();
        let content = ContentRecord::of(record, encoded.len());
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        p.unsent_bytes += encoded.len();
        p.total_bytes += encoded.len() as u64;
        p.records.push(encoded);
        match content {
            Some(c) => p.unsent_content.push(c),
            None => p.sent = None,
        }
        (self.progress)(p.total_bytes);
        if p.unsent_bytes >= BLOB_BATCH_BYTES {
            p.unsent_bytes = 0;
            let refs: Vec<&[u8]> = p.records.iter().map(|r| r.as_slice()).collect();
            let at = self.wal.append(&refs)?;
            p.records.clear();
            let records = std::mem::take(&mut p.unsent_content);
            p.held += records.len();
            if p.held > HELD_RECORDS_MAX {
                p.sent = None;
            }
            if let Some(sent) = &mut p.sent {
                sent.push(SentBatch { at, records });
            }
        }
        Ok(())
    }

    /// The records not appended yet, and the bytes of all records.
    pub(super) fn finish(self) -> NewContent {
        let p = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        NewContent {
            unsent: p.records,
            bytes: p.total_bytes,
            sent: p.sent,
        }
    }
}

/// The new content of a capture once its scan is done.
pub(super) struct NewContent {
    /// Blob records not appended yet (the last partial batch): they go with the
    /// Commit.
    pub(super) unsent: Vec<Vec<u8>>,
    /// Bytes of every new Blob record.
    pub(super) bytes: u64,
    /// The batches appended already, to fold from memory (None: fold from the
    /// log).
    pub(super) sent: Option<Vec<SentBatch>>,
}

impl NewContent {
    /// No new content.
    pub(super) fn none() -> NewContent {
        NewContent {
            unsent: Vec::new(),
            bytes: 0,
            sent: Some(Vec::new()),
        }
    }
}

/// What the scan of a capture found, before anything is committed.
struct Scanned {
    outcome: scan::ScanOutcome,
    content: NewContent,
    /// The difference with the head.
    changes: Vec<Change>,
    /// False when there was no stat cache to start from.
    had_stat_cache: bool,
    /// The estimate, when it was over `max_batch_bytes` and let through.
    over_limit: Option<OverLimit>,
}

/// An unchanged stat cache need not be rewritten (nothing was read).
fn needs_saving(files_read: u64, changes: &[Change], had_stat_cache: bool) -> bool {
    files_read > 0 || !changes.is_empty() || !had_stat_cache
}

impl Store {
    /// Captures the directory now and records a checkpoint.
    pub fn checkpoint(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<CheckpointOutcome> {
        self.checkpoint_with_progress(kind, message, &|_| {})
    }

    /// [`Store::checkpoint`], calling `progress` with the bytes of new content
    /// stored so far (from the scan's threads) as the capture goes. Always
    /// commits a checkpoint, even when the tree did not change.
    pub fn checkpoint_with_progress(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<CheckpointOutcome> {
        self.checkpoint_guarded(kind, message, progress, &Proceed)
    }

    /// [`Store::checkpoint_with_progress`], putting a capture whose estimate
    /// (the walk's stat sizes, before anything is read) is over
    /// `max_batch_bytes` to `policy`: refused, it fails with
    /// [`StoreError::BatchOverLimit`] having stored nothing.
    pub fn checkpoint_guarded(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        progress: &(dyn Fn(u64) + Sync),
        policy: &dyn BatchPolicy,
    ) -> Result<CheckpointOutcome> {
        let scanned = self.scan_for_capture(progress, policy)?;
        self.commit_scanned(kind, message, scanned)
    }

    /// Captures the directory now and records a checkpoint on timeline `on`
    /// (a switch's or an undo's, which may land on another timeline than the
    /// current one).
    pub fn checkpoint_on(
        &mut self,
        on: crate::record::TimelineId,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<CheckpointOutcome> {
        let scanned = self.scan_for_capture(&|_| {}, &Proceed)?;
        self.commit_scanned_on(on, kind, message, scanned)
    }

    /// Captures the directory, committing a checkpoint only when the tree changed;
    /// the warnings are returned either way.
    pub fn capture_if_changed(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<Capture> {
        let scanned = self.scan_for_capture(&|_| {}, &Proceed)?;
        if scanned.changes.is_empty() {
            // Nothing refers to content still pending when nothing is committed:
            // it is not written.
            self.save_stat_cache(&scanned);
            return Ok(Capture {
                checkpoint: None,
                warnings: scanned.outcome.warnings,
                secrets_left_out: scanned.outcome.secrets_left_out,
                over_limit: scanned.over_limit,
                scan: scanned.outcome.stats,
            });
        }
        let done = self.commit_scanned(kind, message, scanned)?;
        Ok(Capture {
            checkpoint: Some(done.checkpoint),
            warnings: done.warnings,
            secrets_left_out: done.secrets_left_out,
            over_limit: done.over_limit,
            scan: done.scan,
        })
    }

    /// The scan of a capture: new content goes to the log as it is produced (all
    /// but the last partial batch), and the difference with the head is computed.
    /// A capture over `max_batch_bytes` by the walk's estimate is put to
    /// `policy` before anything is read.
    fn scan_for_capture(
        &mut self,
        progress: &(dyn Fn(u64) + Sync),
        policy: &dyn BatchPolicy,
    ) -> Result<Scanned> {
        let options = self.scan_options();
        let planned = scan::plan::<tl_wal::AppendError>(self.root(), &options)
            .map_err(|e| StoreError::Scan(error_chain(&e)))?;
        let over_limit =
            self.check_batch(planned.estimate(self.catalog.head(), &options), policy)?;
        let previous = StatCache::load(&self.stat_cache_path());
        let wal = self.wal()?;
        let pending = PendingBlobs::new(wal, progress);
        let sink = |new: NewRecord| pending.push(new);
        let stored = StoreContent::new(self);
        let outcome = planned
            .read(&previous, &options, &stored, &sink)
            .map_err(|e| StoreError::Scan(error_chain(&e)));
        let mut outcome = outcome?;
        let content = pending.finish();
        // A path skipped although still there keeps its last recorded version.
        scan::keep_skipped(
            self.catalog.head(),
            &mut outcome.tree,
            &mut outcome.warnings,
        );
        self.note_unsettled(&outcome.warnings);
        self.note_skips(super::SkipReport::of_tree(&outcome.warnings));
        let changes = diff_trees(self.catalog.head(), &outcome.tree);
        Ok(Scanned {
            had_stat_cache: !previous.is_empty(),
            outcome,
            content,
            changes,
            over_limit,
        })
    }

    /// Commits what `scanned` found as a checkpoint (whatever it found).
    fn commit_scanned(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        scanned: Scanned,
    ) -> Result<CheckpointOutcome> {
        let on = self.catalog.current_timeline();
        self.commit_scanned_on(on, kind, message, scanned)
    }

    /// [`Store::commit_scanned`] onto timeline `on`.
    fn commit_scanned_on(
        &mut self,
        on: crate::record::TimelineId,
        kind: CommitKind,
        message: Option<String>,
        mut scanned: Scanned,
    ) -> Result<CheckpointOutcome> {
        let content = std::mem::replace(&mut scanned.content, NewContent::none());
        self.commit_changes_on(on, kind, message, content, &scanned.changes)?;
        self.save_stat_cache(&scanned);
        self.after_commit();
        let mut done = self.outcome(scanned.outcome.warnings, scanned.outcome.stats);
        done.secrets_left_out = scanned.outcome.secrets_left_out;
        done.over_limit = scanned.over_limit;
        Ok(done)
    }

    /// Saves the stat cache a capture produced, unless nothing in it changed.
    fn save_stat_cache(&self, scanned: &Scanned) {
        if needs_saving(
            scanned.outcome.stats.files_read,
            &scanned.changes,
            scanned.had_stat_cache,
        ) {
            let _ = scanned.outcome.stat_cache.save(&self.stat_cache_path());
        }
    }

    /// The outcome of the capture just committed.
    pub(super) fn outcome(
        &self,
        warnings: Vec<ScanWarning>,
        scan: scan::ScanStats,
    ) -> CheckpointOutcome {
        let checkpoint = self
            .catalog
            .last_checkpoint()
            .cloned()
            .expect("just committed");
        CheckpointOutcome {
            checkpoint,
            warnings,
            secrets_left_out: Vec::new(),
            over_limit: None,
            scan,
        }
    }

    /// Caches and compaction after a commit (a lean store leaves both to
    /// [`Store::idle_maintenance`]).
    pub(super) fn after_commit(&mut self) {
        if self.is_lean() {
            return;
        }
        self.save_catalog_if_due();
        self.maybe_compact();
    }

    pub(super) fn is_lean(&self) -> bool {
        self.catalog.is_lean()
    }

    /// Appends `content`'s unsent records, a Put or Delete per change
    /// and the Commit as one batch on the current timeline, then folds them
    /// (see [`Store::fold_appended`]).
    pub(super) fn commit_changes(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        content: NewContent,
        changes: &[Change],
    ) -> Result<()> {
        let on = self.catalog.current_timeline();
        self.commit_changes_on(on, kind, message, content, changes)
    }

    /// [`Store::commit_changes`] onto timeline `on` (a switch's Commit is on
    /// the timeline switched to).
    pub(super) fn commit_changes_on(
        &mut self,
        on: crate::record::TimelineId,
        kind: CommitKind,
        message: Option<String>,
        content: NewContent,
        changes: &[Change],
    ) -> Result<()> {
        let wal = self.wal()?;
        let mut stats = CommitStats {
            bytes_new: content.bytes,
            ..CommitStats::default()
        };
        let mut records = content.unsent;
        for c in changes {
            records.push(c.to_record(&mut stats).encode());
        }
        let chain = chain_hash(&self.catalog.chain(), records.iter().map(|r| r.as_slice()));
        let commit = Record::Commit {
            time_ns: self.stamp_ns(),
            seq: self.catalog.seq() + 1,
            kind,
            message,
            timeline: on.0,
            acked_lsn: wal.durable_lsn(),
            chain,
            stats,
        };
        records.push(commit.encode());
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
        let at = wal.append(&refs)?;
        self.fold_appended(content.sent, at, &records)
    }

    /// Folds what this capture appended (the content batches `sent`, then the
    /// Commit's batch at `at`) from the records still in memory, rather than
    /// reading tens of megabytes back from the log; then anything after them in
    /// the log. Whatever cannot be folded so (nothing held, another writer's
    /// batch in between) is folded from the log, the truth.
    fn fold_appended(
        &mut self,
        sent: Option<Vec<SentBatch>>,
        at: Appended,
        records: &[Vec<u8>],
    ) -> Result<()> {
        if let Some(sent) = &sent {
            let mut batches: Vec<WrittenBatch<'_>> = sent
                .iter()
                .map(|b| WrittenBatch {
                    at: b.at,
                    records: WrittenRecords::Content(&b.records),
                })
                .collect();
            batches.push(WrittenBatch {
                at,
                records: WrittenRecords::Encoded(records),
            });
            // On an error nothing was folded: the log fold below does it all.
            let _ = fold_written(&mut self.catalog, &batches);
        }
        self.fold_to_end()
    }

    /// What differs on disk from the last checkpoint (nothing is written).
    pub fn status(&self) -> Result<WorktreeStatus> {
        let outcome = self.scan_read_only()?;
        Ok(WorktreeStatus {
            changes: diff_trees(self.catalog.head(), &outcome.tree),
            warnings: outcome.warnings,
            secrets_left_out: outcome.secrets_left_out,
        })
    }

    /// The current tree on disk (a scan that stores nothing).
    pub fn scan_worktree(&self) -> Result<Tree> {
        Ok(self.scan_read_only()?.tree)
    }

    /// The scan options from the config.
    pub(super) fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            max_file_bytes: self.config.max_file_bytes,
            zstd_level: self.config.zstd_level,
            threads: 0,
            seam: self.seam.clone(),
        }
    }

    /// A scan that stores nothing: every content counts as present, so nothing is
    /// compressed or handed on. Skipped paths keep their last version in its tree.
    fn scan_read_only(&self) -> Result<scan::ScanOutcome> {
        let previous = StatCache::load(&self.stat_cache_path());
        let stored = AllStored(StoreContent::new(self));
        let sink = |_: NewRecord| -> Result<(), std::convert::Infallible> { Ok(()) };
        let outcome = scan::scan(self.root(), &previous, &self.scan_options(), &stored, &sink)
            .map_err(|e| StoreError::Scan(error_chain(&e)))?;
        let mut outcome = outcome;
        scan::keep_skipped(
            self.catalog.head(),
            &mut outcome.tree,
            &mut outcome.warnings,
        );
        Ok(outcome)
    }
}
