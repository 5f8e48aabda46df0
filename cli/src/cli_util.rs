//! What the commands share: opening the store (for reading, or for writing with
//! the lease of a running watcher and a bounded wait for the lock), the notes
//! opening it may call for, and path arguments as the store names paths.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use tl_index::store::{find_root, Store, StoreError};
use tl_index::RepoPath;

use crate::command_error::CommandError;

pub mod lock_wait;

pub use lock_wait::StillLocked;

/// A store opened for writing, with the pause of a running watcher that lent it
/// the log, if one did. The store (and its lock) is dropped before the lease, so
/// the watcher finds the log free when it takes it back.
pub struct Writer {
    // Field order is drop order: the store first.
    store: Store,
    _lease: Option<crate::daemon::client::Lease>,
}

impl std::ops::Deref for Writer {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl std::ops::DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

impl Writer {
    /// True when the store was lent by a watcher that said the last checkpoint
    /// holds the tree as it is on disk (it had nothing pending): a replay need not
    /// capture the present first.
    pub fn tree_captured_by_watcher(&self) -> bool {
        self._lease.as_ref().is_some_and(|l| l.tree_captured())
    }

    /// Hands the store to `f`, which may close and reopen it (a GC swaps the log
    /// under it); a watcher's lease is kept until `f` returns.
    pub fn consume<T>(self, f: impl FnOnce(Store) -> Result<T>) -> Result<T> {
        let Writer { store, _lease } = self;
        let out = f(store);
        drop(_lease);
        out
    }
}

/// Opens the store of the project containing `cwd` for writing (see
/// [`open_writer_at`]).
pub fn open(cwd: &Path) -> Result<Writer> {
    let root = find_root(cwd)?;
    let store = open_writer_at(&root)?;
    report_recovery(&store);
    Ok(store)
}

/// Borrows the log from the watcher of `root`, when one runs: it captures what
/// is pending and releases the writer lock until the returned lease is dropped
/// (for a reader that must see the log at rest, `tl fsck`). None when no watcher
/// runs, or it is lent to another command already (that one holds the lock).
pub fn borrow_from_watcher(root: &Path) -> Result<Option<crate::daemon::client::Lease>> {
    if crate::daemon::live_pid(root).is_none() {
        return Ok(None);
    }
    match crate::daemon::client::pause(root) {
        Ok(lease) => Ok(lease),
        Err(e) if crate::command_error::is_busy(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the store at `root` for writing. When the log is locked and a watcher
/// (`tl watch`, `tl daemon`) holds it, the watcher is paused: it captures what is
/// pending and lends the log until the returned [`Writer`] is dropped, then
/// captures what happened meanwhile. When another command holds it, this waits
/// for it (see [`lock_wait`]), saying for whom after a moment, and gives up with
/// [`lock_wait::StillLocked`] after the timeout.
pub fn open_writer_at(root: &Path) -> Result<Writer> {
    let start = Instant::now();
    let limit = lock_wait::timeout();
    let mut lease: Option<crate::daemon::client::Lease> = None;
    let mut announced = false;
    let mut next_pause = start;
    // A running watcher holds the lock: ask it first, rather than learn that by
    // waiting out the lock's patience (a held lock is retried for 50 ms).
    if crate::daemon::live_pid(root).is_some() {
        next_pause = start + Duration::from_millis(500);
        match crate::daemon::client::pause(root) {
            Ok(l) => lease = l,
            // Paused for another command already: wait for it below.
            Err(e) if crate::command_error::is_busy(&e) => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        let (lock, holder) = match Store::open(root) {
            Ok(store) => {
                return Ok(Writer {
                    store,
                    _lease: lease,
                })
            }
            Err(StoreError::Open(tl_wal::OpenError::Locked { lock, holder })) => (lock, holder),
            Err(e) => return Err(e.into()),
        };
        // The watcher holds it (or the holder is unknown): ask it to lend the log.
        // While it is paused for another command, that command is the holder.
        let watcher = crate::daemon::live_pid(root);
        let by_watcher = holder.is_none() || (watcher.is_some() && holder == watcher);
        if lease.is_none() && by_watcher && Instant::now() >= next_pause {
            next_pause = Instant::now() + Duration::from_millis(500);
            match crate::daemon::client::pause(root) {
                Ok(Some(l)) => {
                    lease = Some(l);
                    continue;
                }
                Ok(None) => {}
                // Paused for another command already: wait for it like any holder.
                Err(e) if crate::command_error::is_busy(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Err(lock_wait::StillLocked {
                lock,
                holder: lock_wait::holder(holder),
                waited,
            }
            .into());
        }
        if !announced && waited >= lock_wait::ANNOUNCE_AFTER {
            announced = true;
            eprintln!(
                "tl: waiting for the lock held by {}...",
                lock_wait::holder(holder)
            );
        }
        std::thread::sleep(lock_wait::RETRY_EVERY.min(limit - waited));
    }
}

/// Tells the user when opening took group/other permissions off `.tl/` (a store
/// made before `.tl/` was owner-only).
pub fn report_tightened(store: &Store) {
    let tightened = store.tightened();
    if let Some(first) = tightened.first() {
        eprintln!(
            "tl: note: {} was readable by other users; made it owner-only ({} entries: \
             directories 0700, files without group/other bits), since history holds \
             copies of private files",
            first.display(),
            tightened.len()
        );
    }
}

/// Opens the store read-only (no lock: works beside a running writer).
pub fn open_read(cwd: &Path) -> Result<Store> {
    let root = find_root(cwd)?;
    let store = Store::open_read_only(&root)?;
    report_recovery(&store);
    Ok(store)
}

fn report_recovery(store: &Store) {
    report_tightened(store);
    match store.gc_recovery() {
        Some(tl_index::gc::Interrupted::Finished) => eprintln!(
            "tl: finished a GC that a crash interrupted after its new log was ready: the log \
             is the thinned one, every kept state as before"
        ),
        Some(tl_index::gc::Interrupted::Undone) => eprintln!(
            "tl: removed the unfinished new log of a GC that a crash interrupted: the log is \
             as it was before that GC"
        ),
        None => {}
    }
    if let Some(first) = store.temporaries_removed().first() {
        eprintln!(
            "tl: removed {} temporary file(s) a killed restore left (first: {}); the restore \
             itself may have stopped part-way: run it again to finish it",
            store.temporaries_removed().len(),
            first.display()
        );
    }
    if let Some(r) = store.recovery() {
        if let Some(t) = &r.torn_tail {
            eprintln!(
                "tl: recovered the log after an unclean stop: {} bytes of an unfinished write \
                 at LSN {} were moved to {}",
                t.bytes, t.lsn, t.quarantined_as
            );
        }
        if !r.corruption.is_empty() {
            eprintln!(
                "tl: the log has {} damaged place(s) (first at LSN {}); `tl fsck` names them, \
                 `tl recover` reports what was lost",
                r.corruption.len(),
                r.corruption[0].lsn
            );
        }
    }
    if let Some(tl_index::store::Damage { lsn, what }) = store.damage().first() {
        eprintln!(
            "tl: the log is damaged at LSN {lsn} ({what}); showing what is intact. `tl fsck` \
             names the damage, `tl recover` reports what was lost"
        );
    }
}

/// A path argument as stored: relative to the root, `/`-separated
/// ([`RepoPath::from_argument`]); a path outside the project is a usage error.
pub fn rel_path(store: &Store, cwd: &Path, p: &Path) -> Result<RepoPath> {
    RepoPath::from_argument(store.root(), cwd, p).map_err(|e| {
        CommandError::usage(e.to_string())
            .with_hint("give a path inside it")
            .into()
    })
}
