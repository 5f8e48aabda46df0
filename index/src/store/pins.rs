//! Pins: names for checkpoints, made and deleted by records in the log.

use super::resolve::{is_hex, ID_PREFIX_MIN};
use super::{now_ns, Result, Store, StoreError};
use crate::record::{self, Record};
use crate::timespec::{self, TimeExpr};

impl Store {
    /// Why `name` cannot name a pin, if it cannot: not a valid record name, or it
    /// reads as a time (`10m`, `now`, `2026-11-22`) or could be a checkpoint id
    /// prefix ([`ID_PREFIX_MIN`] or more hex digits), which it would shadow or be
    /// shadowed by.
    pub fn pin_name_problem(name: &str) -> Option<String> {
        if !record::is_valid_name(name) {
            return Some(format!(
                "\"{name}\" is not a valid pin name (letters, digits, '.', '_', '-'; not \
                 starting with '-')"
            ));
        }
        match timespec::parse(name, &jiff::Zoned::now()) {
            Ok(TimeExpr::Name(_)) => {}
            _ => {
                return Some(format!(
                    "\"{name}\" reads as a time, so it cannot be a pin name; choose a name \
                     that is not one (e.g. \"at-{name}\")"
                ))
            }
        }
        if name.len() >= ID_PREFIX_MIN && is_hex(&name.to_ascii_lowercase()) {
            return Some(format!(
                "\"{name}\" could be the start of a checkpoint id, so it cannot be a pin \
                 name; use a name with a letter past 'f' (e.g. \"pin-{name}\")"
            ));
        }
        None
    }

    /// Names checkpoint `idx`. A new name only: a name already pinned elsewhere is
    /// refused ([`Store::move_pin`] moves it); pinning the same checkpoint again
    /// writes nothing.
    pub fn pin(&mut self, name: &str, idx: usize) -> Result<()> {
        self.write_pin(name, idx, IfPinned::Refuse)
    }

    /// Names checkpoint `idx`, moving the pin if `name` names another one.
    pub fn move_pin(&mut self, name: &str, idx: usize) -> Result<()> {
        self.write_pin(name, idx, IfPinned::Move)
    }

    fn write_pin(&mut self, name: &str, idx: usize, if_pinned: IfPinned) -> Result<()> {
        if let Some(problem) = Store::pin_name_problem(name) {
            return Err(StoreError::Pin(problem));
        }
        let target_lsn = self.catalog.checkpoints[idx].lsn;
        if let Some(old) = self.catalog.pins.get(name) {
            if old.target_lsn == target_lsn {
                return Ok(());
            }
            if matches!(if_pinned, IfPinned::Refuse) {
                let shown = match self.catalog.checkpoint_at_lsn(old.target_lsn) {
                    Some(i) => self.catalog.checkpoints[i].id.clone(),
                    None => "a checkpoint that is gone".into(),
                };
                return Err(StoreError::Pin(format!(
                    "pin {name} already names {shown}; `tl pin --force {name} ...` moves it, \
                     `tl pin --delete {name}` deletes it"
                )));
            }
        }
        let rec = Record::Pin {
            name: name.to_string(),
            target_lsn,
            time_ns: now_ns(),
        }
        .encode();
        self.append_and_fold(&rec)
    }

    /// Deletes the pin `name` (an Unpin record); the checkpoint stays.
    pub fn unpin(&mut self, name: &str) -> Result<()> {
        if !self.catalog.pins.contains_key(name) {
            return Err(StoreError::Pin(format!(
                "there is no pin named \"{name}\"; `tl pins` lists them"
            )));
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
