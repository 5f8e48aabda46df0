//! The one fold of the log into a catalog ([`Catalog`], or a long-lived writer's
//! [`LeanCatalog`](super::LeanCatalog)): the store folds with it on open and after
//! each append, `fsck` folds with it too and observes what it meets (records, batch
//! ends, damage) to write its reports.

use std::path::Path;

use tl_wal::format::FrameProblem;
use tl_wal::{LogIter, Lsn, ReadError};

use super::Catalog;
use crate::record::{DecodeError, Record};

/// A damaged frame met while folding: the records up to `resumes_at` are lost.
#[derive(Clone, Copy, Debug)]
pub struct DamagedFrame<'a> {
    /// The segment.
    pub path: &'a Path,
    /// File offset of the bad frame.
    pub offset: u64,
    /// LSN of the bad frame.
    pub lsn: Lsn,
    /// What is wrong with it.
    pub problem: &'a FrameProblem,
    /// Where the next valid batch starts (`None`: nothing more in that segment).
    pub resumes_at: Option<Lsn>,
}

/// What folds the log: the steps [`fold_records`] takes, which are the only ways a
/// catalog changes.
pub trait Fold {
    /// The log is folded up to (excluding) this LSN.
    fn through(&self) -> Lsn;
    /// See [`Catalog::fold_record`].
    fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record);
    /// See [`Catalog::fold_batch_end`].
    fn fold_batch_end(&mut self, end: Lsn);
    /// See [`Catalog::fold_resume`].
    fn fold_resume(&mut self, lsn: Lsn);
    /// See [`Catalog::fold_log_end`].
    fn fold_log_end(&mut self, end: Lsn);
    /// See [`Catalog::fold_damage`].
    fn fold_damage(&mut self);
}

impl Fold for Catalog {
    fn through(&self) -> Lsn {
        Catalog::through(self)
    }
    fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record) {
        Catalog::fold_record(self, lsn, first_in_batch, bytes, record);
    }
    fn fold_batch_end(&mut self, end: Lsn) {
        Catalog::fold_batch_end(self, end);
    }
    fn fold_resume(&mut self, lsn: Lsn) {
        Catalog::fold_resume(self, lsn);
    }
    fn fold_log_end(&mut self, end: Lsn) {
        Catalog::fold_log_end(self, end);
    }
    fn fold_damage(&mut self) {
        Catalog::fold_damage(self);
    }
}

/// What a fold tells its caller as it goes. Every method has a default that
/// ignores the event; `catalog` is the fold so far (of type `C`).
pub trait FoldObserver<C: ?Sized = Catalog> {
    /// Record `record` is about to be folded (a batch's first record is seen
    /// here first).
    fn before_record(&mut self, _catalog: &C, _record: &tl_wal::Record) {}
    /// The record just seen decoded as `decoded`.
    fn decoded(&mut self, _decoded: &Record) {}
    /// The record at `lsn` does not decode: its batch is dropped.
    fn undecodable(&mut self, _catalog: &C, _lsn: Lsn, _error: &DecodeError) {}
    /// A batch ended (the catalog has folded through its end).
    fn batch_end(&mut self, _catalog: &C) {}
    /// A damaged frame: the batch in progress is dropped.
    fn damaged_frame(&mut self, _catalog: &C, _frame: DamagedFrame<'_>) {}
    /// Reading resumed after a damaged frame (the catalog folds through there).
    fn resumed(&mut self, _catalog: &C) {}
}

/// Observes nothing.
pub struct Unobserved;

impl<C: ?Sized> FoldObserver<C> for Unobserved {}

/// Folds the records of `records` (from `catalog`'s `through`, a batch boundary)
/// into `catalog`, telling `observer`. Damaged frames and undecodable records are
/// folded over (their batch is dropped); any other read error stops the fold and
/// is returned, the catalog keeping what was folded before it. The caller marks
/// the end with [`Fold::fold_log_end`].
pub fn fold_records<C: Fold + ?Sized>(
    catalog: &mut C,
    records: LogIter,
    observer: &mut dyn FoldObserver<C>,
) -> Result<(), ReadError> {
    for item in records {
        match item {
            Ok(r) => {
                observer.before_record(catalog, &r);
                let end = r.lsn + tl_wal::encoded_len(r.data.len());
                match Record::decode(&r.data) {
                    Ok(rec) => {
                        observer.decoded(&rec);
                        catalog.fold_record(r.lsn, r.first_in_batch, &r.data, rec);
                    }
                    Err(e) => {
                        observer.undecodable(catalog, r.lsn, &e);
                        catalog.fold_damage();
                    }
                }
                if r.last_in_batch {
                    catalog.fold_batch_end(end);
                    observer.batch_end(catalog);
                }
            }
            Err(ReadError::Corrupt {
                path,
                offset,
                lsn,
                problem,
                resumes_at,
            }) => {
                let frame = DamagedFrame {
                    path: &path,
                    offset,
                    lsn,
                    problem: &problem,
                    resumes_at,
                };
                observer.damaged_frame(catalog, frame);
                catalog.fold_damage();
                if let Some(r) = resumes_at {
                    catalog.fold_resume(r);
                    observer.resumed(catalog);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
