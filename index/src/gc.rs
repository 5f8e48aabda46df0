//! GC: thinning the log by the retention policy, crash-safely (`index/GC.md`).
//!
//! - [`plan`](mod@plan): which checkpoints the policy keeps ([`GcPlan`]), changing
//!   nothing (`tl gc --dry-run`);
//! - [`rewrite`](mod@rewrite): the new log, written into `.tl/gc/wal/`;
//! - [`verify`](mod@verify): the new log folded again and checked against the old;
//! - [`swap`]: the new log put in place, and an interrupted GC finished or undone
//!   at the next open ([`recover_interrupted`]);
//! - [`fs`]: the file-system steps of the swap, behind a trait for crash tests.
//!
//! This version rewrites the whole log when anything is dropped (hard-linking
//! the untouched segments before the first dropped state, as `index/GC.md`
//! describes, is not done yet), and copies content as stored.

use std::path::Path;
use std::time::{Duration, Instant};

use tl_wal::{Lsn, Wal};

use crate::retention::Clock;
use crate::store::Store;

mod cancel;
mod error;
pub mod fs;
pub mod pack;
pub mod plan;
pub mod rewrite;
pub mod swap;
pub mod verify;

pub use cancel::Cancel;
pub use error::GcError;
pub use fs::{GcFs, RealFs};
pub use plan::{plan, GcPlan};
pub use swap::{recover_interrupted, GcLock, Interrupted};

/// What a GC did.
#[derive(Clone, Debug)]
pub struct GcReport {
    /// The decision per checkpoint.
    pub plan: GcPlan,
    /// Bytes of log after (equal to before when nothing was dropped).
    pub log_bytes_after: u64,
    /// Segments of the old log rewritten (0 when nothing was dropped).
    pub segments_rewritten: u64,
    /// Segments of the new log.
    pub segments_written: u64,
    /// Blobs copied into the new log.
    pub blobs_copied: u64,
    /// Pins carried over.
    pub pins: u64,
    /// Where the new log ends.
    pub end_lsn: Lsn,
    /// How long it took.
    pub elapsed: Duration,
}

impl GcReport {
    /// When this GC changed nothing ([`GcPlan::is_noop`]: no state to drop, too
    /// little content to pack), and so recorded nothing in the log: where
    /// and when it looked, for [`Store::gc_due`] not to run it again before the
    /// log grows on or a day goes by.
    pub fn found_nothing(&self) -> Option<GcChecked> {
        self.plan.is_noop().then_some(GcChecked {
            through: self.end_lsn,
            time_ns: self.plan.clock.now_ns,
        })
    }
}

/// A GC that found nothing to do: the log's end when it looked, and the time it
/// looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcChecked {
    /// The log's end (LSN) the GC saw.
    pub through: Lsn,
    /// Its clock's now (ns since the epoch, UTC).
    pub time_ns: i64,
}

/// What the policy of `store`'s config would do now, changing nothing.
pub fn plan_now(store: &Store, clock: Clock) -> Result<GcPlan, GcError> {
    let log_bytes = dir_bytes(&store.layout().log_dir())?;
    Ok(plan(
        store.catalog()?,
        &store.config().retention,
        clock,
        log_bytes,
    )?)
}

/// Applies the retention policy of `store` (opened for writing, with its full
/// catalog) at `clock`: when it drops anything, writes the thinned log, verifies
/// it and swaps it in. Returns the store reopened on the new log.
pub fn run(store: Store, clock: Clock) -> Result<(Store, GcReport), GcError> {
    run_on(store, clock, &RealFs)
}

/// [`run`], stopping with [`GcError::Cancelled`] at the next batch or blob once
/// `cancel` is set (until the swap begins: the swap runs to its end). A GC cut
/// short leaves the log as it was.
pub fn run_cancellable(
    store: Store,
    clock: Clock,
    cancel: &Cancel,
) -> Result<(Store, GcReport), GcError> {
    run_with(store, clock, &RealFs, cancel)
}

/// [`run`], with the swap's file-system steps done through `fs` (the crash tests
/// stop it at each step).
pub fn run_on(store: Store, clock: Clock, fs: &dyn GcFs) -> Result<(Store, GcReport), GcError> {
    run_with(store, clock, fs, &Cancel::new())
}

fn run_with(
    store: Store,
    clock: Clock,
    fs: &dyn GcFs,
    cancel: &Cancel,
) -> Result<(Store, GcReport), GcError> {
    let started = Instant::now();
    let layout = store.layout().clone();
    let lock = GcLock::take(&layout)?;
    let plan = plan_now(&store, clock)?;
    let segments_before = segment_count(&layout.log_dir())?;
    if plan.is_noop() {
        let report = GcReport {
            log_bytes_after: plan.log_bytes,
            segments_rewritten: 0,
            segments_written: 0,
            blobs_copied: 0,
            pins: store.catalog()?.pins().len() as u64,
            end_lsn: store.catalog()?.through(),
            elapsed: started.elapsed(),
            plan,
        };
        return Ok((store, report));
    }
    refuse_damaged(&store)?;
    let gc_dir = layout.gc_dir();
    if fs.exists(&gc_dir).map_err(io(&gc_dir))? {
        return Err(GcError::Leftover { dir: gc_dir });
    }
    tl_wal::private_fs::create_dir(&gc_dir).map_err(io(&gc_dir))?;
    let written = match write_new_log(&store, &plan, cancel) {
        Ok(w) => w,
        Err(e) => {
            // The old log is untouched; what was written goes.
            let _ = fs.remove_dir_all(&gc_dir);
            return Err(e);
        }
    };
    swap::swap(&layout, fs, &lock)?;
    let root = layout.root().to_path_buf();
    drop(store);
    let mut store = Store::open(&root)?;
    store.rebuild_snapshots()?;
    store.save_caches();
    drop(lock);
    let report = GcReport {
        log_bytes_after: dir_bytes(&layout.log_dir())?,
        segments_rewritten: segments_before,
        segments_written: segment_count(&layout.log_dir())?,
        blobs_copied: written.blobs,
        pins: written.pins,
        end_lsn: written.end_lsn,
        elapsed: started.elapsed(),
        plan,
    };
    Ok((store, report))
}

/// Writes, closes and verifies the new log in `.tl/gc/wal/`.
fn write_new_log(
    store: &Store,
    plan: &GcPlan,
    cancel: &Cancel,
) -> Result<rewrite::Rewritten, GcError> {
    let layout = store.layout();
    let (wal, _) = Wal::create(
        layout.gc_new_log(),
        layout.quarantine(),
        store.config().wal_options(),
        store.catalog()?.repo_id(),
    )?;
    let written = rewrite::rewrite(store, plan, &wal, cancel)?;
    wal.close()?;
    verify::verify(
        &layout.gc_new_log(),
        &layout.quarantine(),
        store.catalog()?,
        plan,
        cancel,
    )?;
    cancel.check()?;
    Ok(written)
}

/// A damaged log or a broken chain is not thinned: `tl fsck` and `tl recover`
/// first.
fn refuse_damaged(store: &Store) -> Result<(), GcError> {
    if let Some(d) = store.damage().first() {
        return Err(GcError::Damaged {
            lsn: d.lsn,
            what: d.what.clone(),
        });
    }
    if let Some(b) = store.catalog()?.chain_breaks().first() {
        return Err(GcError::ChainBroken {
            lsn: b.lsn,
            seq: b.seq,
        });
    }
    Ok(())
}

/// Bytes of the files directly in `dir`.
pub fn dir_bytes(dir: &Path) -> Result<u64, GcError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let meta = entry.and_then(|e| e.metadata()).map_err(io(dir))?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Segment files in `dir`.
fn segment_count(dir: &Path) -> Result<u64, GcError> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if tl_wal::parse_segment_name(&entry.file_name().to_string_lossy()).is_some() {
            n += 1;
        }
    }
    Ok(n)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GcError + '_ {
    move |source| GcError::Io {
        path: path.to_path_buf(),
        source,
    }
}
