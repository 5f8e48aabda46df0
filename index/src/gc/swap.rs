//! Putting a GC's new log in place of the old one, and finishing or undoing a
//! GC that was interrupted (the table of `index/GC.md`).
//!
//! The order on disk: the new log is complete and synced in `.tl/gc/wal/`; the
//! derived files of the old log (catalog cache, stat cache, snapshots) are
//! deleted; `.tl/gc/READY` is written and synced; `.tl/wal` is renamed to
//! `.tl/gc/old`, then `.tl/gc/wal` to `.tl/wal`, and both directories synced;
//! only then is `.tl/gc/` (the old log with it) removed. Before `READY` the old
//! log is the store's; from `READY` on the new one is, and an interrupted swap is
//! finished, never undone.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

use tl_wal::private_fs;

use super::fs::GcFs;
use crate::layout::Layout;
use crate::store::StoreError;

/// How long a held GC lock is retried before it counts as held.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(100);

/// What [`recover_interrupted`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// A GC stopped before its new log was ready: the new log was removed, the
    /// old one is the store's, whole.
    Undone,
    /// A GC stopped during or after its swap: the swap was finished, the old log
    /// removed.
    Finished,
}

/// `.tl/gc.lock`, held: by a GC for its whole run, by whoever recovers an
/// interrupted one. Released when dropped.
#[derive(Debug)]
pub struct GcLock {
    _file: File,
}

impl GcLock {
    /// Takes the lock, or fails with the log's own `Locked` error (naming
    /// `.tl/gc.lock` and the pid written in it) when a GC holds it, so callers
    /// wait for it as they wait for the writer lock.
    pub fn take(layout: &Layout) -> Result<GcLock, StoreError> {
        let path = layout.gc_lock();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = private_fs::open_or_create(&path).map_err(io)?;
        // A lock just released can look held for a moment: a process forking a
        // child (to run git, say) shares the descriptor until the child's exec
        // closes it. So "held" must last a little while to count, as for the
        // log's own lock (`tl_wal::storage`).
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        let mut locked = file.try_lock();
        while matches!(locked, Err(TryLockError::WouldBlock))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
            locked = file.try_lock();
        }
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(StoreError::Open(tl_wal::OpenError::Locked {
                    lock: path.clone(),
                    holder,
                }));
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Only a hint for whoever waits.
        let _ = file.set_len(0);
        let _ = std::os::unix::fs::FileExt::write_all_at(
            &file,
            format!("{}\n", std::process::id()).as_bytes(),
            0,
        );
        Ok(GcLock { _file: file })
    }
}

/// True when a GC may have been interrupted here (`.tl/gc/` exists, or `.tl/wal`
/// is missing): then [`recover_interrupted`] must run before the log is opened.
pub fn may_be_interrupted(layout: &Layout, fs: &dyn GcFs) -> Result<bool, StoreError> {
    let gc = exists(fs, &layout.gc_dir())?;
    let wal = exists(fs, &layout.log_dir())?;
    Ok(gc || !wal)
}

/// The log a reader (which takes no lock and repairs nothing) should read:
/// `.tl/wal`, or, when a crash left a GC between its two renames, the complete
/// new log still at `.tl/gc/wal/` (the next writer finishes the swap).
pub fn readable_log_dir(layout: &Layout) -> std::path::PathBuf {
    let wal = layout.log_dir();
    if !wal.exists() && layout.gc_ready().exists() && layout.gc_new_log().is_dir() {
        return layout.gc_new_log();
    }
    wal
}

/// Finishes or undoes a GC interrupted by a crash, holding `_lock`. Nothing to do
/// (None) when no GC was interrupted. The caller deletes nothing else: the
/// derived files were deleted before `READY` was written.
pub fn recover_interrupted(
    layout: &Layout,
    fs: &dyn GcFs,
    _lock: &GcLock,
) -> Result<Option<Interrupted>, StoreError> {
    let gc = layout.gc_dir();
    if !exists(fs, &gc)? {
        return Ok(None);
    }
    let tl = layout.tl_dir();
    let ready = exists(fs, &layout.gc_ready())?;
    let wal = exists(fs, &layout.log_dir())?;
    let new = exists(fs, &layout.gc_new_log())?;
    if !ready {
        if !wal {
            return Err(inconsistent(
                layout,
                "the GC's new log was not ready, yet the log directory is missing",
            ));
        }
        fs.remove_dir_all(&gc).map_err(at(&gc))?;
        fs.sync_dir(tl).map_err(at(tl))?;
        return Ok(Some(Interrupted::Undone));
    }
    match (wal, new) {
        (true, true) => {
            // The swap had not begun.
            fs.rename(&layout.log_dir(), &layout.gc_old_log())
                .map_err(at(&layout.log_dir()))?;
            fs.rename(&layout.gc_new_log(), &layout.log_dir())
                .map_err(at(&layout.gc_new_log()))?;
        }
        (false, true) => {
            // Between the two renames.
            fs.rename(&layout.gc_new_log(), &layout.log_dir())
                .map_err(at(&layout.gc_new_log()))?;
        }
        (true, false) => {}
        (false, false) => {
            return Err(inconsistent(
                layout,
                "a GC was ready to swap logs, yet neither the log nor the new log is there",
            ))
        }
    }
    finish(layout, fs)?;
    Ok(Some(Interrupted::Finished))
}

/// Puts the new log (complete, synced and verified in `.tl/gc/wal/`) in place of
/// the old one, holding the GC lock. The old log's writer lock may still be held
/// by the caller: the swap moves the directory it is in, and a writer waiting for
/// it re-checks after taking it that it is still the log's (`tl_wal::storage`).
pub fn swap(layout: &Layout, fs: &dyn GcFs, _lock: &GcLock) -> Result<(), StoreError> {
    remove_derived(layout, fs)?;
    let gc = layout.gc_dir();
    let ready = layout.gc_ready();
    // The new log's directory entry is durable before READY can be.
    fs.sync_dir(&gc).map_err(at(&gc))?;
    fs.write_synced(&ready, b"the new log in wal/ is complete and verified\n")
        .map_err(at(&ready))?;
    fs.sync_dir(&gc).map_err(at(&gc))?;
    fs.rename(&layout.log_dir(), &layout.gc_old_log())
        .map_err(at(&layout.log_dir()))?;
    fs.rename(&layout.gc_new_log(), &layout.log_dir())
        .map_err(at(&layout.gc_new_log()))?;
    finish(layout, fs)
}

/// After the renames: make them durable, then remove `.tl/gc/` (the old log).
fn finish(layout: &Layout, fs: &dyn GcFs) -> Result<(), StoreError> {
    let tl = layout.tl_dir();
    let gc = layout.gc_dir();
    fs.sync_dir(tl).map_err(at(tl))?;
    fs.sync_dir(&gc).map_err(at(&gc))?;
    // The derived files again: a crash between their removal and READY's left
    // them removed, but an open of the old log in between may have rebuilt them.
    remove_derived(layout, fs)?;
    fs.remove_dir_all(&gc).map_err(at(&gc))?;
    fs.sync_dir(tl).map_err(at(tl))
}

/// Deletes what was derived from the old log and names its LSNs (the catalog
/// cache, the stat cache, the snapshots). The Git export's mapping names
/// checkpoint ids, which a GC keeps, so it stays.
fn remove_derived(layout: &Layout, fs: &dyn GcFs) -> Result<(), StoreError> {
    for file in [layout.catalog(), layout.stat_cache()] {
        fs.remove_file(&file).map_err(at(&file))?;
    }
    let snaps = layout.snapshots();
    fs.remove_dir_all(&snaps).map_err(at(&snaps))?;
    private_fs::ensure_dir(&snaps).map_err(at(&snaps))?;
    let index = layout.index_dir();
    fs.sync_dir(&index).map_err(at(&index))
}

fn exists(fs: &dyn GcFs, path: &Path) -> Result<bool, StoreError> {
    fs.exists(path).map_err(at(path))
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn inconsistent(layout: &Layout, why: &str) -> StoreError {
    StoreError::GcInconsistent {
        dir: layout.gc_dir(),
        why: why.to_string(),
    }
}
