//! Pins: names for checkpoints, made and deleted by records in the log.

use super::resolve::{is_hex, ID_PREFIX_MIN};
use super::{Result, Store};
use crate::catalog::CheckpointIndex;
use crate::record::{self, Record};
use crate::timespec::{self, TimeExpr};

/// Why a name cannot name a pin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinNameProblem {
    /// Not a valid record name.
    #[error(
        "\"{0}\" is not a valid pin name (letters, digits, '.', '_', '-'; not starting with '-')"
    )]
    Invalid(String),
    /// It reads as a time (`10m`, `now`, `2026-11-22`), which it would shadow.
    #[error("\"{0}\" reads as a time, so it cannot be a pin name")]
    ReadsAsTime(String),
    /// It could be a checkpoint id prefix.
    #[error("\"{0}\" could be the start of a checkpoint id, so it cannot be a pin name")]
    LooksLikeId(String),
}

/// Why a pin cannot be made, moved or deleted.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The name cannot be a pin's.
    #[error(transparent)]
    Name(#[from] PinNameProblem),
    /// The name already names another checkpoint.
    #[error("pin {name} already names {}", .current.as_deref().unwrap_or("a checkpoint that is gone"))]
    AlreadyPinned {
        /// The pin.
        name: String,
        /// The id of the checkpoint it names (None: one the log no longer has).
        current: Option<String>,
    },
    /// A timeline has the name: `NAME` would be ambiguous.
    #[error("{name} is the name of a timeline")]
    IsTimeline {
        /// As given.
        name: String,
    },
    /// No pin of that name.
    #[error("there is no pin named \"{name}\"")]
    NoSuchPin {
        /// As given.
        name: String,
    },
}

impl Store {
    /// Why `name` cannot name a pin, if it cannot: not a valid record name, or it
    /// reads as a time (`10m`, `now`, `2026-11-22`) or could be a checkpoint id
    /// prefix ([`ID_PREFIX_MIN`] or more hex digits), which it would shadow or be
    /// shadowed by.
    pub fn pin_name_problem(name: &str) -> Option<PinNameProblem> {
        if !record::is_valid_name(name) {
            return Some(PinNameProblem::Invalid(name.to_string()));
        }
        match timespec::parse(name, &jiff::Zoned::now()) {
            Ok(TimeExpr::Name(_)) => {}
            _ => return Some(PinNameProblem::ReadsAsTime(name.to_string())),
        }
        if name.len() >= ID_PREFIX_MIN && is_hex(&name.to_ascii_lowercase()) {
            return Some(PinNameProblem::LooksLikeId(name.to_string()));
        }
        None
    }

    /// Names checkpoint `idx`. A new name only: a name already pinned elsewhere is
    /// refused ([`Store::move_pin`] moves it); pinning the same checkpoint again
    /// writes nothing.
    pub fn pin(&mut self, name: &str, idx: CheckpointIndex) -> Result<()> {
        self.write_pin(name, idx, IfPinned::Refuse)
    }

    /// Names checkpoint `idx`, moving the pin if `name` names another one.
    pub fn move_pin(&mut self, name: &str, idx: CheckpointIndex) -> Result<()> {
        self.write_pin(name, idx, IfPinned::Move)
    }

    fn write_pin(&mut self, name: &str, idx: CheckpointIndex, if_pinned: IfPinned) -> Result<()> {
        if let Some(problem) = Store::pin_name_problem(name) {
            return Err(PinError::Name(problem).into());
        }
        let catalog = self.catalog()?;
        if catalog.timelines().by_name(name).is_some() {
            return Err(PinError::IsTimeline {
                name: name.to_string(),
            }
            .into());
        }
        let target_lsn = catalog.checkpoints()[idx].lsn;
        if let Some(old) = catalog.pins().get(name) {
            if old.target_lsn == target_lsn {
                return Ok(());
            }
            if matches!(if_pinned, IfPinned::Refuse) {
                let current = catalog
                    .checkpoint_at_lsn(old.target_lsn)
                    .map(|i| catalog.checkpoints()[i].id.clone());
                return Err(PinError::AlreadyPinned {
                    name: name.to_string(),
                    current,
                }
                .into());
            }
        }
        let rec = Record::Pin {
            name: name.to_string(),
            target_lsn,
            time_ns: self.stamp_ns(),
        }
        .encode();
        self.append_and_fold(&rec)
    }

    /// Deletes the pin `name` (an Unpin record); the checkpoint stays.
    pub fn unpin(&mut self, name: &str) -> Result<()> {
        if !self.catalog()?.pins().contains_key(name) {
            return Err(PinError::NoSuchPin {
                name: name.to_string(),
            }
            .into());
        }
        let rec = Record::Unpin {
            name: name.to_string(),
        }
        .encode();
        self.append_and_fold(&rec)
    }

    pub(super) fn append_and_fold(&mut self, rec: &[u8]) -> Result<()> {
        self.wal()?.append(&[rec])?;
        self.fold_to_end()?;
        self.save_catalog_if_due();
        Ok(())
    }
}

/// What [`Store::write_pin`] does when the name is already pinned elsewhere.
enum IfPinned {
    Refuse,
    Move,
}
