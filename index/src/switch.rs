//! Switching timelines and undoing the last operation: both bring a stored
//! tree back in place the way a replay does (`crate::replay`), and both record
//! where they leave the project so that they can themselves be undone.
//!
//! A switch captures the present onto the current timeline (the shelf: edits
//! not yet captured are kept there), writes what differs between it and the
//! newest state of the timeline switched to (only tracked paths: untracked and
//! ignored files are never touched, as in every restore), then records a
//! Commit of kind Switch on that timeline: the batch turns the shelf into its
//! state, so the files the switch wrote are not edits of either timeline, and
//! the states after it belong to it.
//!
//! Undo finds the last operation (a Commit of kind Restore, Switch or Undo),
//! captures the present, brings back the state just before that operation (the
//! one it captured first) and records a Commit of kind Undo on that state's
//! timeline. The undo is itself the last operation then, so a second undo
//! brings back what the first undid: undo twice is redo, as in jj.
//!
//! # Killed while writing
//!
//! Before writing, both put `.tl/switching` (synced), naming the last state
//! recorded; the Commit that records the result removes it. A switch or undo
//! that finds it naming the last state still (nothing recorded since) knows the
//! tree is partly that state and partly the interrupted target: it captures
//! nothing first (the mix is no state of any timeline), and compares every
//! tracked path on disk while writing (`restore::materialize_after_interruption`),
//! so running the same switch again, or any other, ends with one timeline's
//! state. A marker naming an older state is stale and is removed.

use crate::catalog::{Checkpoint, CheckpointIndex};
use crate::record::{CommitKind, TimelineId};
use crate::replay::{capture_present, materialize, ReplayError};
use crate::restore::{MaterializeOptions, MaterializeReport};
use crate::scan::ScanWarning;
use crate::store::{Store, StoreError, TimelineError};
use crate::types::Tree;
use crate::RepoPath;

/// What a switch or an undo did.
#[derive(Clone, Debug)]
pub struct Moved {
    /// The timeline before.
    pub from: TimelineId,
    /// The timeline after.
    pub to: TimelineId,
    /// The state holding the present before (what `tl undo` brings back).
    pub before: Option<String>,
    /// The state brought back (None: a timeline with no state yet, so the
    /// tracked files were removed).
    pub target: Option<Checkpoint>,
    /// What was written and removed.
    pub report: MaterializeReport,
    /// The capture before's warnings.
    pub capture_warnings: Vec<ScanWarning>,
    /// Paths the capture could not read although they are there: left alone.
    pub left_alone: Vec<RepoPath>,
    /// The Commit recording the result (kind Switch or Undo).
    pub recorded: Checkpoint,
}

/// What `tl undo` would undo.
#[derive(Clone, Debug)]
pub struct LastOperation {
    /// The operation's Commit.
    pub op: CheckpointIndex,
    /// The state captured just before it: what undo brings back.
    pub before: CheckpointIndex,
}

/// Why there is nothing to undo.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// No replay, restore, switch or undo in the log.
    #[error("there is no replay, restore, timeline switch or undo to undo")]
    NothingToUndo,
}

/// Switches the project to timeline `to` (see the module doc).
pub fn switch(
    store: &mut Store,
    to: TimelineId,
    progress: &dyn Fn(u64, u64),
) -> Result<Moved, ReplayError> {
    let from = store.current_timeline();
    let catalog = store.catalog()?;
    let name = catalog.timelines().name_of(to);
    if to == from {
        return Err(StoreError::from(TimelineError::AlreadyOn(name)).into());
    }
    let from_name = catalog.timelines().name_of(from);
    let present = match interrupted(store)? {
        Some(p) => p,
        None => capture_present(
            store,
            format!("shelved on {from_name} before switch to {name}"),
        )?,
    };
    let target = store.catalog()?.timeline_head(to);
    let message = format!("switch from {from_name} to {name}");
    bring_back(
        store,
        target,
        present,
        to,
        CommitKind::Switch,
        message,
        progress,
    )
}

/// The last operation `tl undo` would undo, if any.
pub fn last_operation(store: &Store) -> Result<LastOperation, ReplayError> {
    let cps = store.catalog()?.checkpoints();
    let op = cps
        .iter()
        .rposition(|c| c.kind.is_operation())
        .filter(|&i| i > 0)
        .ok_or(StoreError::Undo(UndoError::NothingToUndo))?;
    Ok(LastOperation {
        op: CheckpointIndex::new(op),
        before: CheckpointIndex::new(op - 1),
    })
}

/// Undoes the last operation (see the module doc).
pub fn undo(store: &mut Store, progress: &dyn Fn(u64, u64)) -> Result<Moved, ReplayError> {
    let last = last_operation(store)?;
    let catalog = store.catalog()?;
    let op = catalog.checkpoints()[last.op].clone();
    let before_cp = catalog.checkpoints()[last.before].clone();
    // Back onto the timeline the state was on, unless it was removed since.
    let to = match catalog.timelines().get(before_cp.timeline) {
        Some(t) if !t.removed => t.id,
        _ => store.current_timeline(),
    };
    let present = match interrupted(store)? {
        Some(p) => p,
        None => capture_present(store, format!("before undo of {}", op.id))?,
    };
    let message = format!("undo of {} ({})", op.id, op.kind.as_str());
    // The index is unchanged by the capture (it only appends).
    bring_back(
        store,
        Some(last.before),
        present,
        to,
        CommitKind::Undo,
        message,
        progress,
    )
}

const MARKER_MAGIC: &str = "tl switching v1\n";

/// The state a `.tl/switching` marker names, if the file is there and well formed.
fn marker_names(marker: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(marker).ok()?;
    let id = text.strip_prefix(MARKER_MAGIC)?.trim();
    Some(id.to_string())
}

fn write_marker(marker: &std::path::Path, last: &str) -> Result<(), ReplayError> {
    tl_wal::private_fs::write_atomic(
        marker,
        format!("{MARKER_MAGIC}{last}\n").as_bytes(),
        tl_wal::private_fs::Durability::Synced,
    )
    .map_err(|source| {
        StoreError::Io {
            path: marker.to_path_buf(),
            source,
        }
        .into()
    })
}

fn remove_marker(marker: &std::path::Path) -> Result<(), ReplayError> {
    match std::fs::remove_file(marker) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
            path: marker.to_path_buf(),
            source,
        }
        .into()),
        _ => Ok(()),
    }
}

/// After a switch or undo killed while writing (its marker names the last
/// state): the present to start from, captured by nobody. A stale marker (a
/// state was recorded since) is removed and None returned.
fn interrupted(store: &Store) -> Result<Option<crate::replay::CapturedPresent>, ReplayError> {
    let marker = store.layout().switching();
    let Some(id) = marker_names(&marker) else {
        if marker.exists() {
            remove_marker(&marker)?;
        }
        return Ok(None);
    };
    let last = store
        .last_checkpoint()
        .map(|c| c.id.clone())
        .unwrap_or_default();
    if id != last {
        remove_marker(&marker)?;
        return Ok(None);
    }
    Ok(Some(crate::replay::CapturedPresent {
        before: Some(last).filter(|l| !l.is_empty()),
        warnings: Vec::new(),
        leave: Vec::new(),
    }))
}

/// Writes `target`'s tree (or none) in place, leaving alone what `present`
/// could not read, and records the result on timeline `to`.
fn bring_back(
    store: &mut Store,
    target: Option<CheckpointIndex>,
    present: crate::replay::CapturedPresent,
    to: TimelineId,
    kind: CommitKind,
    message: String,
    progress: &dyn Fn(u64, u64),
) -> Result<Moved, ReplayError> {
    let from = store.current_timeline();
    let tree = match target {
        Some(i) => store.tree_at(i)?,
        None => Tree::new(),
    };
    let target_cp = target.map(|i| store.checkpoints()[i].clone());
    let opts = MaterializeOptions {
        dry_run: false,
        only: None,
        leave: present.leave.clone(),
        ..MaterializeOptions::default()
    };
    let marker = store.layout().switching();
    let resumed = marker_names(&marker).is_some();
    let report = if resumed {
        crate::restore::materialize_after_interruption(store, &tree, progress)?
    } else {
        let last = store
            .last_checkpoint()
            .map(|c| c.id.clone())
            .unwrap_or_default();
        write_marker(&marker, &last)?;
        let root = store.root().to_path_buf();
        materialize(store, &tree, &root, &opts, progress)?
    };
    let recorded = store.checkpoint_on(to, kind, Some(message))?.checkpoint;
    remove_marker(&marker)?;
    Ok(Moved {
        from,
        to,
        before: present.before,
        target: target_cp,
        report,
        capture_warnings: present.warnings,
        left_alone: present.leave,
        recorded,
    })
}
