//! The catalog cache policy: the saved copy is used when it matches the log, the
//! log after it is folded, and the copy is rewritten lazily (after enough log
//! follows it), never on every checkpoint.

use tl_wal::Lsn;

use super::{Damage, Held, Log, Result, Store};
use crate::catalog::{fold_records, Catalog, DamagedFrame, Fold, FoldObserver};
use crate::record::DecodeError;
use tl_wal::private_fs;

/// Rewrite the catalog cache once this many log bytes follow the saved copy…
const CATALOG_SAVE_BYTES: u64 = 1 << 20;
/// …or this many checkpoints.
const CATALOG_SAVE_CHECKPOINTS: usize = 64;

impl Store {
    /// Loads the cached catalog if it matches the log, then folds what follows.
    pub(super) fn load_catalog(&mut self) -> Result<()> {
        let catalog = self.cached_catalog();
        self.saved = SavedCopy::of(&catalog);
        self.catalog = Held::Full(catalog);
        self.fold_to_end()?;
        self.save_catalog_if_due();
        Ok(())
    }

    /// The saved catalog if it matches the log, else an empty one at the log start.
    pub(super) fn cached_catalog(&self) -> Catalog {
        let repo_id = self.repo_id();
        let recovered_clean = self.recovery.as_ref().map(|r| r.is_clean()).unwrap_or(true);
        let end = self.log.end();
        let cached = Catalog::load(&self.catalog_path()).filter(|c| {
            recovered_clean && c.through() <= end && c.through() >= self.log.start() && {
                c.repo_id() == repo_id || repo_id == [0; 16]
            }
        });
        match cached {
            Some(c) if c.through() != Lsn::ZERO || !c.checkpoints().is_empty() => c,
            _ => Catalog::new(repo_id, self.log.start()),
        }
    }

    pub(super) fn repo_id(&self) -> [u8; 16] {
        self.log.wal().map(|w| w.repo_id()).unwrap_or([0; 16])
    }

    pub(super) fn fold_to_end(&mut self) -> Result<()> {
        // The kept reader sees the log as it was; after an append it must be remade.
        *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = None;
        fold_log(&self.log, &mut self.catalog, &mut self.damage)
    }

    pub(super) fn save_catalog(&mut self) {
        // The catalog is a cache: failing to save it costs a re-fold next time.
        // Up to date already: nothing to write (a lean catalog would be rebuilt
        // from the saved copy only to write the same bytes again).
        if self.log.wal().is_none() || self.saved.through == self.catalog.through() {
            return;
        }
        let _ = private_fs::ensure_dir(&self.layout.index_dir());
        let Some(catalog) = self.catalog.full() else {
            // The lean catalog has no cache file: rebuild the full one from the
            // saved copy and the log after it, save it, and let it go.
            let mut full = self.cached_catalog();
            let mut damage = Vec::new();
            if fold_log(&self.log, &mut full, &mut damage).is_ok()
                && damage.is_empty()
                && full.through() == self.catalog.through()
                && full.save(&self.catalog_path()).is_ok()
            {
                self.saved = SavedCopy::of(&full);
            }
            return;
        };
        if catalog.save(&self.catalog_path()).is_ok() {
            self.saved = SavedCopy::of(catalog);
        }
    }

    /// Writes the catalog cache now (it is otherwise written lazily, see
    /// [`Store::checkpoint`]); for long-lived writers about to idle, and for tests.
    pub fn save_caches(&mut self) {
        self.save_catalog();
    }

    /// Writes the catalog cache only once enough log follows the saved copy (see
    /// [`Store::checkpoint`]): for a writer lending the log to a command, which
    /// folds the few records after the saved copy itself in less time than a
    /// rewrite of the whole catalog takes.
    pub fn save_caches_if_due(&mut self) {
        self.save_catalog_if_due();
    }

    /// Saves the catalog once enough log follows the saved copy. Until then, each
    /// open folds the few records after it: cheaper than rewriting the whole
    /// catalog (which grows with history) on every checkpoint.
    pub(super) fn save_catalog_if_due(&mut self) {
        let bytes = self
            .catalog
            .through()
            .checked_bytes_since(self.saved.through)
            .unwrap_or(0);
        let checkpoints = self.catalog.seq().saturating_sub(self.saved.seq);
        if bytes >= CATALOG_SAVE_BYTES || checkpoints >= CATALOG_SAVE_CHECKPOINTS as u64 {
            self.save_catalog();
        }
    }
}

/// Folds the log from `catalog.through()` to its end into `catalog` (full or lean);
/// damage met is added to `damage` (LSN, what).
pub(super) fn fold_log<C: Fold>(
    log: &Log,
    catalog: &mut C,
    damage: &mut Vec<Damage>,
) -> Result<()> {
    if catalog.through() >= log.end() {
        return Ok(());
    }
    let mut observer = DamageList(damage);
    fold_records(catalog, log.iter_from(catalog.through())?, &mut observer)?;
    catalog.fold_log_end(log.end());
    Ok(())
}

/// Collects the damage a fold meets, as the store reports it.
struct DamageList<'a>(&'a mut Vec<Damage>);

impl<C: ?Sized> FoldObserver<C> for DamageList<'_> {
    fn undecodable(&mut self, _: &C, lsn: Lsn, error: &DecodeError) {
        self.0.push(Damage {
            lsn,
            what: format!("undecodable record: {error}"),
        });
    }

    fn damaged_frame(&mut self, _: &C, frame: DamagedFrame<'_>) {
        let problem = frame.problem;
        self.0.push(Damage {
            lsn: frame.lsn,
            what: format!("damaged frame: {problem}"),
        });
    }
}

/// What the catalog copy on disk covers, to tell when it is worth rewriting.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SavedCopy {
    /// The log is folded into it up to this LSN.
    pub(super) through: Lsn,
    /// The sequence number of its last checkpoint.
    pub(super) seq: u64,
}

impl SavedCopy {
    pub(super) fn of(catalog: &Catalog) -> SavedCopy {
        SavedCopy {
            through: catalog.through(),
            seq: catalog.seq(),
        }
    }
}
