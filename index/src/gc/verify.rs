//! Checking the new log against the old before it replaces it: folded again
//! (with the one fold), it must hold exactly the kept checkpoints, each with its
//! id, sequence number, time, kind, message and tree; every pin on the same
//! checkpoint; a chain that verifies; no damage; and every blob a kept tree needs
//! complete and hashing to its name.

use std::path::Path;

use tl_wal::{LogIter, LogReader, Lsn, ReadError};

use super::cancel::Cancel;
use super::error::GcError;
use super::plan::GcPlan;
use crate::catalog::{
    apply, fold_records, read_verified, BlockCache, Catalog, FoldObserver, PathChange,
};
use crate::types::{BlobHash, Tree};

/// The new log's fold, once it passed every check.
pub struct Verified {
    /// The fold of the new log.
    pub catalog: Catalog,
}

/// Verifies the log in `dir` (quarantine `quarantine`) against `old`, the fold
/// of the log it replaces, as thinned by `plan`; stops with
/// [`GcError::Cancelled`] at the next blob once `cancel` is set.
pub fn verify(
    dir: &Path,
    quarantine: &Path,
    old: &Catalog,
    plan: &GcPlan,
    cancel: &Cancel,
) -> Result<Verified, GcError> {
    let reader = LogReader::open(dir, quarantine)?;
    let mut new = Catalog::new(old.repo_id(), reader.start_lsn());
    let mut damage = DamageSeen(None);
    fold_records(&mut new, reader.iter_from(reader.start_lsn())?, &mut damage)?;
    new.fold_log_end(reader.end_lsn());
    let fail = |what: String| GcError::Verify { what };
    if let Some(what) = damage.0 {
        return Err(fail(what));
    }
    if let Some(b) = new.chain_breaks().first() {
        return Err(fail(format!(
            "the chain of commits breaks at LSN {} (seq {})",
            b.lsn, b.seq
        )));
    }
    let kept = plan.selection.kept();
    if new.checkpoints().len() != kept.len() {
        return Err(fail(format!(
            "{} checkpoints written, {} kept",
            new.checkpoints().len(),
            kept.len()
        )));
    }
    let mut old_tree = Tree::new();
    let mut new_tree = Tree::new();
    let mut next = 0;
    let mut needed: Vec<BlobHash> = Vec::new();
    for (i, c) in old.checkpoints().iter().enumerate() {
        apply(&mut old_tree, &c.changes);
        if kept.get(next) != Some(&i) {
            continue;
        }
        let n = &new.checkpoints()[next];
        next += 1;
        apply(&mut new_tree, &n.changes);
        let same = n.id == c.id
            && n.seq == c.seq
            && n.time_ns == c.time_ns
            && n.kind == c.kind
            && n.message == c.message;
        if !same {
            return Err(fail(format!(
                "checkpoint {} (seq {}) came out as {} (seq {})",
                c.id, c.seq, n.id, n.seq
            )));
        }
        if new_tree != old_tree {
            return Err(fail(format!("the tree of checkpoint {} differs", c.id)));
        }
        needed.extend(n.changes.iter().filter_map(|ch| match ch {
            PathChange::Put(_, e) => Some(e.hash),
            PathChange::Delete(_) => None,
        }));
    }
    check_pins(old, &new)?;
    check_content(&reader, &new, needed, cancel)?;
    Ok(Verified { catalog: new })
}

/// Every pin of the old log names, in the new one, the checkpoint of the same id.
fn check_pins(old: &Catalog, new: &Catalog) -> Result<(), GcError> {
    let id_at = |cat: &Catalog, lsn: Lsn| {
        cat.checkpoint_at_lsn(lsn)
            .map(|idx| cat.checkpoints()[idx].id.clone())
    };
    let names_old: Vec<&String> = old.pins().keys().collect();
    let names_new: Vec<&String> = new.pins().keys().collect();
    if names_old != names_new {
        return Err(GcError::Verify {
            what: format!("pins {names_old:?} came out as {names_new:?}"),
        });
    }
    for (name, pin) in old.pins() {
        let moved = &new.pins()[name];
        if id_at(old, pin.target_lsn) != id_at(new, moved.target_lsn)
            || pin.time_ns != moved.time_ns
        {
            return Err(GcError::Verify {
                what: format!("pin {name} no longer names the same checkpoint"),
            });
        }
    }
    Ok(())
}

/// Reads back every blob in `needed` from the new log, verified.
fn check_content(
    reader: &LogReader,
    new: &Catalog,
    mut needed: Vec<BlobHash>,
    cancel: &Cancel,
) -> Result<(), GcError> {
    needed.sort_unstable_by_key(|h| h.0);
    needed.dedup();
    // Read in log order, so the reader only moves forward.
    let first_lsn = |h: &BlobHash| {
        new.blobs()
            .get(h)
            .and_then(|b| b.first_lsn())
            .unwrap_or(Lsn::MAX)
    };
    needed.sort_by_key(first_lsn);
    let mut it: Option<LogIter> = None;
    let mut read = |lsn: Lsn| -> Result<Vec<u8>, ReadError> {
        match it.as_mut() {
            Some(i) => i.seek(lsn)?,
            None => it = Some(reader.iter_from(lsn)?),
        }
        match it.as_mut().and_then(|i| i.next()) {
            Some(Ok(r)) => Ok(r.data),
            Some(Err(e)) => Err(e),
            None => Err(ReadError::OutOfRange {
                lsn,
                start: lsn,
                end: lsn,
            }),
        }
    };
    let mut blocks = BlockCache::new();
    for hash in needed {
        cancel.check()?;
        let Some(blob) = new.blobs().get(&hash).filter(|b| new.is_whole(b)) else {
            return Err(GcError::Verify {
                what: format!("content {} is missing from the new log", hash.to_hex()),
            });
        };
        let sink = &mut std::io::sink();
        read_verified(&hash, blob, new.blobs(), &mut read, &mut blocks, sink).map_err(|e| {
            GcError::Verify {
                what: format!(
                    "content {} does not read back at LSN {}: {:?}",
                    hash.to_hex(),
                    e.lsn,
                    e.problem
                ),
            }
        })?;
    }
    Ok(())
}

/// Remembers the first damage the fold met.
struct DamageSeen(Option<String>);

impl<C: ?Sized> FoldObserver<C> for DamageSeen {
    fn undecodable(&mut self, _: &C, lsn: Lsn, error: &crate::record::DecodeError) {
        self.0
            .get_or_insert_with(|| format!("the record at LSN {lsn} does not decode: {error}"));
    }

    fn damaged_frame(&mut self, _: &C, frame: crate::catalog::DamagedFrame<'_>) {
        let (lsn, problem) = (frame.lsn, frame.problem);
        self.0
            .get_or_insert_with(|| format!("a damaged frame at LSN {lsn}: {problem}"));
    }
}
