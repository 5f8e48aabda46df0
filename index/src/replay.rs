//! Bringing a past tree back, as `tl replay` and `tl restore` do: in place with
//! the safety step that makes it undoable, or into another directory.
//!
//! In place ([`in_place`]), the present is first captured as a checkpoint of its
//! own (when it differs from the last one), so the replay itself can be undone;
//! paths that capture could not read although they are there are left as they are
//! on disk (a file is never deleted or overwritten because it could not be
//! captured). Then only what differs is written, and the result is recorded as a
//! checkpoint of kind restore. A replay that finds the files already matching adds
//! no checkpoint. A dry run captures and records nothing.
//!
//! Not here: words for the user, progress bars (the caller passes a callback).

use std::path::Path;

use crate::catalog::{Checkpoint, CheckpointIndex};
use crate::record::CommitKind;
use crate::restore::RestoreError;
use crate::restore::{materialize_with_progress, MaterializeOptions, MaterializeReport};
use crate::scan::ScanWarning;
use crate::store::{Store, StoreError};
use crate::types::Tree;
use crate::RepoPath;

/// Which command brings the tree back: it names the checkpoints recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The whole tree (`tl replay`).
    Replay,
    /// Some paths (`tl restore`).
    Restore,
}

impl Purpose {
    /// The message of the checkpoint holding the present, taken before.
    fn before_message(self, target: &Checkpoint) -> String {
        match self {
            Purpose::Replay => format!("before replay to {}", target.id),
            Purpose::Restore => format!("before restore from {}", target.id),
        }
    }

    /// The message of the checkpoint recording the result.
    fn after_message(self, target: &Checkpoint) -> String {
        match self {
            Purpose::Replay => format!("replay to {}", target.id),
            Purpose::Restore => format!("restore from {}", target.id),
        }
    }
}

/// What is known of the tree on disk before a replay in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Present {
    /// Nothing: it is captured first (a whole-tree scan), so the replay can be
    /// undone.
    Unknown,
    /// The last checkpoint holds it: a watcher that had captured everything it
    /// was told said so as it lent the log. Nothing is scanned before; the last
    /// checkpoint is the one that undoes the replay.
    Recorded,
}

/// What to bring back in place.
#[derive(Clone, Debug)]
pub struct InPlace {
    /// The checkpoint (index) to bring back.
    pub target: CheckpointIndex,
    /// Only these paths and what is below them (None: the whole tree).
    pub only: Option<Vec<RepoPath>>,
    /// Which command runs it.
    pub purpose: Purpose,
    /// Plan only: capture nothing, write nothing, record nothing.
    pub dry_run: bool,
    /// What is known of the tree on disk.
    pub present: Present,
}

/// Why bringing a tree back failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading the target, capturing the present or recording the result failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the tree failed (or was refused before anything was written).
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// What [`in_place`] did.
#[derive(Clone, Debug)]
pub struct InPlaceReport {
    /// What was written, removed, skipped and kept; `unchanged` counts the files
    /// of the target (under `only`) found right on disk, not the ones left alone.
    pub report: MaterializeReport,
    /// The checkpoint holding the present before the replay (None in a dry run or
    /// before any checkpoint): replaying to it undoes this one.
    pub before: Option<String>,
    /// Problems of the capture before it (skipped files and why).
    pub capture_warnings: Vec<ScanWarning>,
    /// Paths that capture could not read although they are there: left as they
    /// are on disk.
    pub left_alone: Vec<RepoPath>,
    /// The checkpoint of kind restore recording the result (None when nothing
    /// changed, or in a dry run).
    pub recorded: Option<Checkpoint>,
    /// What the replay took the tree on disk to be (a dry run: `Unknown`).
    pub present: Present,
}

impl InPlaceReport {
    /// True when files were written or removed.
    pub fn changed(&self) -> bool {
        changed(&self.report)
    }
}

/// True when a materialization wrote or removed something.
pub fn changed(r: &MaterializeReport) -> bool {
    !r.written.is_empty() || !r.removed.is_empty()
}

/// Brings checkpoint `req.target` back into the project, whose tree is `target`
/// (`Store::tree_at`): captures the present first (see the module doc), writes
/// what differs, records the result.
/// `progress(done, total)` follows the writing.
pub fn in_place(
    store: &mut Store,
    req: &InPlace,
    target: &Tree,
    progress: &dyn Fn(u64, u64),
) -> Result<InPlaceReport, ReplayError> {
    let cp = store.checkpoints()[req.target].clone();
    let mut opts = MaterializeOptions {
        dry_run: req.dry_run,
        only: req.only.clone(),
        leave: Vec::new(),
        ..MaterializeOptions::default()
    };
    let mut before = None;
    let mut capture_warnings = Vec::new();
    match (req.dry_run, req.present) {
        (true, _) => {}
        (false, Present::Recorded) => before = store.last_checkpoint().map(|c| c.id.clone()),
        (false, Present::Unknown) => {
            let present = capture_present(store, req.purpose.before_message(&cp))?;
            opts.leave = present.leave;
            before = present.before;
            capture_warnings = present.warnings;
        }
    }
    let root = store.root().to_path_buf();
    let report = materialize(store, target, &root, &opts, progress)?;
    let recorded = if !req.dry_run && changed(&report) {
        Some(record_result(
            store,
            &report,
            req.purpose.after_message(&cp),
        )?)
    } else {
        None
    };
    Ok(InPlaceReport {
        report,
        before,
        capture_warnings,
        left_alone: opts.leave,
        recorded,
        present: if req.dry_run {
            Present::Unknown
        } else {
            req.present
        },
    })
}

/// Records what a materialization in place left on disk as a checkpoint of kind
/// restore. Only the paths it wrote, removed or found changed under it are
/// captured: the capture just before it holds the rest of the tree, so a
/// whole-tree scan would find nothing else of the replay's (an edit elsewhere in
/// the meantime is the next checkpoint's). Should the targeted capture find
/// nothing to record (the paths were put back meanwhile), the whole tree is
/// captured, as a replay that changed files always records its result.
pub(crate) fn record_result(
    store: &mut Store,
    report: &MaterializeReport,
    message: String,
) -> Result<Checkpoint, ReplayError> {
    let paths: Vec<Vec<u8>> = report
        .written
        .iter()
        .chain(&report.removed)
        .chain(&report.kept)
        .map(|p| p.as_bytes().to_vec())
        .collect();
    if let Some(done) = store.capture_paths_as(CommitKind::Restore, Some(message.clone()), paths)? {
        return Ok(done.checkpoint);
    }
    Ok(store
        .checkpoint(CommitKind::Restore, Some(message))?
        .checkpoint)
}

/// The present, captured before a tree is brought back.
pub(crate) struct CapturedPresent {
    /// The id of the state holding it (None before any checkpoint).
    pub(crate) before: Option<String>,
    /// The capture's warnings.
    pub(crate) warnings: Vec<ScanWarning>,
    /// Paths it could not read although they are there: to be left alone.
    pub(crate) leave: Vec<RepoPath>,
}

/// Captures the present as a checkpoint (when it differs from the last one)
/// with `message`, so what comes next can be undone.
pub(crate) fn capture_present(
    store: &mut Store,
    message: String,
) -> Result<CapturedPresent, ReplayError> {
    let out = store.capture_if_changed(CommitKind::Auto, Some(message))?;
    let leave = out
        .warnings
        .iter()
        .filter(|w| !w.path.is_root() && w.kind.keeps_previous_version())
        .map(|w| w.path.clone())
        .collect();
    let before = match out.checkpoint {
        Some(c) => Some(c.id),
        None => store.checkpoints().last().map(|c| c.id.clone()),
    };
    Ok(CapturedPresent {
        before,
        warnings: out.warnings,
        leave,
    })
}

/// Writes `target` into `dir`, not the project (no history is captured or
/// written), as `tl replay --into` does; `opts.dry_run` only plans.
pub fn into_dir(
    store: &Store,
    target: &Tree,
    dir: &Path,
    opts: &MaterializeOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<MaterializeReport, ReplayError> {
    materialize(store, target, dir, opts, progress)
}

/// Materializes; the report's counts are the library's own (`unchanged`: the
/// files found right, neither skipped by name, left alone nor kept).
pub(crate) fn materialize(
    store: &Store,
    target: &Tree,
    dir: &Path,
    opts: &MaterializeOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<MaterializeReport, ReplayError> {
    Ok(materialize_with_progress(
        store, target, dir, opts, progress,
    )?)
}
