//! Timelines made, renamed and removed: Timeline records in the log, checked
//! here first. Switching is in `crate::switch` (a capture, then a minimal
//! restore, then a Commit on the timeline switched to).

use super::{Result, Store, StoreError};
use crate::catalog::{CheckpointIndex, Timeline};
use crate::record::{Record, TimelineId, TimelineOp, TimelineOpKind};

/// Why a timeline cannot be made, renamed, removed or switched to.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The name cannot be a timeline's (the pin rules: it must not read as a
    /// time or a checkpoint id).
    #[error(transparent)]
    Name(#[from] super::PinNameProblem),
    /// A live timeline has the name already.
    #[error("a timeline named {0} already exists")]
    Exists(String),
    /// A pin has the name: `NAME` would be ambiguous.
    #[error("{0} is the name of a pin")]
    IsPin(String),
    /// No live timeline of that name.
    #[error("there is no timeline named {0}")]
    NoSuch(String),
    /// The current timeline cannot be removed.
    #[error("{0} is the current timeline")]
    Current(String),
    /// Switching to the timeline one is on.
    #[error("already on timeline {0}")]
    AlreadyOn(String),
}

impl Store {
    /// The timeline new states go to.
    pub fn current_timeline(&self) -> TimelineId {
        self.catalog.current_timeline()
    }

    /// The live timeline called `name`.
    pub fn timeline_named(&self, name: &str) -> Result<Timeline> {
        self.catalog()?
            .timelines()
            .by_name(name)
            .cloned()
            .ok_or_else(|| TimelineError::NoSuch(name.to_string()).into())
    }

    /// Why `name` cannot be given to a timeline, if it cannot.
    fn check_new_timeline_name(&self, name: &str) -> Result<()> {
        if let Some(problem) = Store::pin_name_problem(name) {
            return Err(TimelineError::Name(problem).into());
        }
        let catalog = self.catalog()?;
        if catalog.timelines().by_name(name).is_some() {
            return Err(TimelineError::Exists(name.to_string()).into());
        }
        if catalog.pins().contains_key(name) {
            return Err(TimelineError::IsPin(name.to_string()).into());
        }
        Ok(())
    }

    /// Makes timeline `name` starting at state `base` (None: a log with no
    /// state yet); switching to it is the caller's next step.
    pub fn create_timeline(
        &mut self,
        name: &str,
        base: Option<CheckpointIndex>,
    ) -> Result<TimelineId> {
        self.check_new_timeline_name(name)?;
        let catalog = self.catalog()?;
        let id = catalog.timelines().next_id();
        let base_lsn = base.map(|i| catalog.checkpoints()[i].lsn);
        self.write_timeline_op(TimelineOp {
            kind: TimelineOpKind::Create,
            id,
            name: name.to_string(),
            base: base_lsn,
            time_ns: self.stamp_ns(),
        })?;
        Ok(id)
    }

    /// Renames timeline `old` to `new`.
    pub fn rename_timeline(&mut self, old: &str, new: &str) -> Result<()> {
        let t = self.timeline_named(old)?;
        self.check_new_timeline_name(new)?;
        self.write_timeline_op(TimelineOp {
            kind: TimelineOpKind::Rename,
            id: t.id,
            name: new.to_string(),
            base: None,
            time_ns: self.stamp_ns(),
        })
    }

    /// Removes timeline `name` from the list (not the current one); its states
    /// stay in the log until a GC drops them. Returns its newest state.
    pub fn remove_timeline(&mut self, name: &str) -> Result<Option<CheckpointIndex>> {
        let t = self.timeline_named(name)?;
        if t.id == self.current_timeline() {
            return Err(TimelineError::Current(name.to_string()).into());
        }
        let head = self.catalog()?.timeline_head(t.id);
        self.write_timeline_op(TimelineOp {
            kind: TimelineOpKind::Remove,
            id: t.id,
            name: name.to_string(),
            base: None,
            time_ns: self.stamp_ns(),
        })?;
        Ok(head)
    }

    fn write_timeline_op(&mut self, op: TimelineOp) -> Result<()> {
        self.append_and_fold(&Record::Timeline(op).encode())
    }
}

impl From<TimelineError> for StoreError {
    fn from(e: TimelineError) -> StoreError {
        StoreError::Timeline(e)
    }
}
