//! Recovery of a project's `.tl/` after a crash or damage, as `tl recover` runs it.
//!
//! Opening the log for writing already runs the wal's recovery (a torn tail is cut
//! into `.tl/quarantine/`, damage inside sealed segments stays in place and is read
//! past). [`recover`] then checks the recovered log, moves every derived file that
//! disagrees with it into `.tl/quarantine/` and rebuilds the derived files, and
//! returns what it did as a [`RecoverReport`]. [`plan`] says what it would do,
//! changing nothing. Running it again changes nothing.
//!
//! Not here: words for the user (the CLI prints the report).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tl_wal::{FsStorage, TornTail};

use crate::fsck::{self, FsckOptions, FsckReport, Problem, ProblemKind};
use crate::layout::Layout;
use crate::store::{Store, StoreError};

/// What recovery does with the derived files (catalog, stat cache, snapshots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rebuild {
    /// Rebuild them only when one disagrees with the log.
    WhereDamaged,
    /// Delete and rebuild all of them (`--rebuild`).
    Everything,
}

/// Why recovery could not run.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// The log could not be opened, recovered or rebuilt from.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log could not be read for the check after recovery.
    #[error("cannot read the log in {dir}: {source}")]
    ReadLog {
        /// The log's directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The check of a store that is not open here could not run.
    #[error("cannot check {root}: {source}")]
    Check {
        /// The project's root.
        root: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A writer holds the log, so its end cannot be judged.
    #[error("a tl writer holds the log")]
    WriterRunning,
    /// A damaged derived file could not be moved to quarantine.
    #[error("cannot move {file} to {to}: {source}")]
    Quarantine {
        /// The damaged file.
        file: PathBuf,
        /// Where it was to go.
        to: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A derived file that disagreed with the log, moved aside before the rebuild.
#[derive(Clone, Debug)]
pub struct Quarantined {
    /// The problem fsck named.
    pub problem: Problem,
    /// Where the file is now (under `.tl/quarantine/derived-*`).
    pub moved_to: PathBuf,
}

/// The derived files rebuilt from the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rebuilt {
    /// Checkpoints in the rebuilt catalog.
    pub checkpoints: usize,
    /// Blobs in it.
    pub blobs: usize,
    /// Pins in it.
    pub pins: usize,
    /// Snapshots written.
    pub snapshots: usize,
}

/// What [`recover`] did.
#[derive(Clone, Debug)]
pub struct RecoverReport {
    /// The torn tail the wal's recovery cut (never acknowledged), if any.
    pub torn_tail: Option<TornTail>,
    /// A segment whose creation never finished, set aside (its name).
    pub torn_creation: Option<String>,
    /// Damage in the log, kept in place and read past: what was lost.
    pub lost: Vec<Problem>,
    /// Derived files that disagreed with the log, moved to quarantine.
    pub quarantined: Vec<Quarantined>,
    /// The rebuild, when one was done.
    pub rebuilt: Option<Rebuilt>,
    /// Segments of the log.
    pub segments: usize,
    /// Its first LSN.
    pub start_lsn: tl_wal::Lsn,
    /// The end of its valid part.
    pub end_lsn: tl_wal::Lsn,
    /// Checkpoints in the store after recovery.
    pub checkpoints: usize,
}

/// What [`recover`] would do about one problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Cut the torn tail into `.tl/quarantine/` (it was never acknowledged).
    CutTornTail,
    /// Move the derived file to `.tl/quarantine/` and rebuild it from the log.
    QuarantineAndRebuild,
    /// Nothing can be done: the log cannot be opened.
    Fail,
    /// Keep the damage in place, read past it and report the loss.
    ReadPast,
}

impl Action {
    /// What recovery does about a problem of this kind.
    pub fn for_kind(kind: ProblemKind) -> Action {
        match kind {
            ProblemKind::TornTail => Action::CutTornTail,
            k if k.is_derived() => Action::QuarantineAndRebuild,
            ProblemKind::LogOpen => Action::Fail,
            _ => Action::ReadPast,
        }
    }
}

/// What [`recover`] would do, found without changing anything.
#[derive(Clone, Debug)]
pub struct RecoverPlan {
    /// Each problem with what recovery does about it.
    pub steps: Vec<(Action, Problem)>,
}

/// Checks the store at `root` (not open here; a running watcher must have lent
/// its log) and says what [`recover`] would do.
pub fn plan(root: &Path) -> Result<RecoverPlan, RecoverError> {
    let opts = FsckOptions {
        deep: false,
        check_tail: true,
    };
    let report = fsck::fsck(root, &opts).map_err(|source| RecoverError::Check {
        root: root.to_path_buf(),
        source,
    })?;
    if report.writer_running {
        return Err(RecoverError::WriterRunning);
    }
    let steps = report
        .problems
        .into_iter()
        .map(|p| (Action::for_kind(p.kind), p))
        .collect();
    Ok(RecoverPlan { steps })
}

/// Recovers `store`, opened for writing (the open ran the wal's recovery): checks
/// the log, moves derived files that disagree with it to quarantine and rebuilds
/// them (all of them with [`Rebuild::Everything`]).
pub fn recover(store: &mut Store, rebuild: Rebuild) -> Result<RecoverReport, RecoverError> {
    let wal_recovery = store.recovery().cloned();
    let layout = store.layout().clone();
    // The log is recovered and locked by us: check it (the tail is ours now).
    let storage = FsStorage::new(layout.log_dir(), layout.quarantine()).map_err(|source| {
        RecoverError::ReadLog {
            dir: layout.log_dir(),
            source,
        }
    })?;
    let check = fsck::fsck_storage(
        &layout,
        Arc::new(storage),
        &FsckOptions {
            deep: false,
            check_tail: false,
        },
    );
    let lost: Vec<Problem> = check.log_problems().cloned().collect();
    let derived: Vec<Problem> = check
        .problems
        .iter()
        .filter(|p| p.kind.is_derived())
        .cloned()
        .collect();
    let mut quarantined = Vec::new();
    let mut rebuilt = None;
    if !derived.is_empty() || rebuild == Rebuild::Everything {
        quarantined = quarantine_derived(&layout, derived)?;
        let snapshots = store.rebuild()?.len();
        let catalog = store.catalog()?;
        rebuilt = Some(Rebuilt {
            checkpoints: catalog.checkpoints().len(),
            blobs: catalog.blobs().len(),
            pins: catalog.pins().len(),
            snapshots,
        });
    }
    let FsckReport {
        segments,
        start_lsn,
        end_lsn,
        ..
    } = check;
    Ok(RecoverReport {
        torn_tail: wal_recovery.as_ref().and_then(|r| r.torn_tail.clone()),
        torn_creation: wal_recovery.and_then(|r| r.torn_creation),
        lost,
        quarantined,
        rebuilt,
        segments,
        start_lsn,
        end_lsn,
        checkpoints: store.checkpoints().len(),
    })
}

/// Moves the damaged derived files named by `problems` into `.tl/quarantine/`
/// (a derived file is rebuilt from the log, but no byte is deleted unseen).
fn quarantine_derived(
    layout: &Layout,
    problems: Vec<Problem>,
) -> Result<Vec<Quarantined>, RecoverError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = layout.quarantine().join(format!("derived-{stamp}"));
    let mut moved = Vec::new();
    for problem in problems {
        let Some(file) = problem.file.clone() else {
            moved.push(Quarantined {
                problem,
                moved_to: dir.clone(),
            });
            continue;
        };
        let to = dir.join(file.file_name().unwrap_or_default());
        let failed = |source| RecoverError::Quarantine {
            file: file.clone(),
            to: to.clone(),
            source,
        };
        tl_wal::private_fs::ensure_dir(&dir).map_err(failed)?;
        match std::fs::rename(&file, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
        moved.push(Quarantined {
            problem,
            moved_to: to,
        });
    }
    Ok(moved)
}
