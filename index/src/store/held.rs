//! The catalog a store holds: the full one (every checkpoint), or after
//! [`Store::go_lean`](super::Store::go_lean) a long-lived writer's lean one (the
//! last checkpoint only). They are two types, so the history is reached only
//! through [`Held::full`]: code that needs every checkpoint gets `None` from a
//! lean store, never the lean catalog's single checkpoint as if it were all.

use tl_wal::Lsn;

use crate::catalog::{Catalog, Checkpoint, Fold, Gap, LeanCatalog};
use crate::record::Record;
use crate::types::{BlobHash, Tree};

/// The store's catalog (see the module docs).
// One per open store, never in a collection: the few hundred bytes the two
// variants differ by are not worth a box (and an indirection on every call).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Held {
    /// Every checkpoint with its changes, the blob index, pins, gaps.
    Full(Catalog),
    /// What appending needs (see [`LeanCatalog`]).
    Lean(LeanCatalog),
}

impl Held {
    /// The full catalog; `None` on a lean store.
    pub(super) fn full(&self) -> Option<&Catalog> {
        match self {
            Held::Full(c) => Some(c),
            Held::Lean(_) => None,
        }
    }

    /// The lean catalog; `None` on a full store.
    pub(super) fn lean_mut(&mut self) -> Option<&mut LeanCatalog> {
        match self {
            Held::Full(_) => None,
            Held::Lean(c) => Some(c),
        }
    }

    /// True after [`Held::go_lean`].
    pub(super) fn is_lean(&self) -> bool {
        matches!(self, Held::Lean(_))
    }

    /// Turns a full catalog into its lean form (a lean one stays as it is).
    pub(super) fn go_lean(&mut self) {
        let held = std::mem::replace(self, Held::Full(Catalog::default()));
        *self = match held {
            Held::Full(c) => Held::Lean(c.into_lean()),
            lean => lean,
        };
    }

    /// The last checkpoint (a lean one's has no changes).
    pub(super) fn last_checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            Held::Full(c) => c.checkpoints().last(),
            Held::Lean(c) => c.last_checkpoint(),
        }
    }

    /// Chain hash of the last checkpoint (zeros before the first).
    pub(super) fn chain(&self) -> [u8; 32] {
        match self {
            Held::Full(c) => c.chain(),
            Held::Lean(c) => c.chain(),
        }
    }

    /// Sequence number of the last checkpoint (0 before the first).
    pub(super) fn seq(&self) -> u64 {
        match self {
            Held::Full(c) => c.seq(),
            Held::Lean(c) => c.seq(),
        }
    }

    /// The tree after the last checkpoint.
    pub(super) fn head(&self) -> &Tree {
        match self {
            Held::Full(c) => c.head(),
            Held::Lean(c) => c.head(),
        }
    }

    /// Intervals where events may have been missed.
    pub(super) fn gaps(&self) -> &[Gap] {
        match self {
            Held::Full(c) => c.gaps(),
            Held::Lean(c) => c.gaps(),
        }
    }

    /// Intervals where the runaway guard held a directory.
    pub(super) fn holds(&self) -> &[crate::record::Hold] {
        match self {
            Held::Full(c) => c.holds(),
            Held::Lean(c) => c.holds(),
        }
    }

    /// What each GC recorded, in log order.
    pub(super) fn thinnings(&self) -> &[crate::catalog::ThinnedAt] {
        match self {
            Held::Full(c) => c.thinnings(),
            Held::Lean(c) => c.thinnings(),
        }
    }

    /// The timeline new states go to.
    pub(super) fn current_timeline(&self) -> crate::record::TimelineId {
        match self {
            Held::Full(c) => c.current_timeline(),
            Held::Lean(c) => c.current_timeline(),
        }
    }

    /// True when every part of the blob is in the log.
    pub(super) fn has_blob(&self, hash: &BlobHash) -> bool {
        match self {
            Held::Full(c) => c.has_blob(hash),
            Held::Lean(c) => c.has_blob(hash),
        }
    }

    fn fold(&mut self) -> &mut dyn Fold {
        match self {
            Held::Full(c) => c,
            Held::Lean(c) => c,
        }
    }
}

impl Fold for Held {
    fn through(&self) -> Lsn {
        match self {
            Held::Full(c) => c.through(),
            Held::Lean(c) => c.through(),
        }
    }
    fn fold_record(&mut self, lsn: Lsn, first_in_batch: bool, bytes: &[u8], record: Record) {
        self.fold().fold_record(lsn, first_in_batch, bytes, record);
    }
    fn fold_batch_end(&mut self, end: Lsn) {
        self.fold().fold_batch_end(end);
    }
    fn fold_resume(&mut self, lsn: Lsn) {
        self.fold().fold_resume(lsn);
    }
    fn fold_log_end(&mut self, end: Lsn) {
        self.fold().fold_log_end(end);
    }
    fn fold_damage(&mut self) {
        self.fold().fold_damage();
    }
}
