//! The store: a project's `.tl/` directory — the log, the catalog folded from it,
//! the stat cache, snapshots — and the operations the commands are made of. Where
//! each of those lives is [`Layout`]'s.
//!
//! By concern: `error`, `config`, `held` (the catalog held: full, or lean),
//! `cache` (the catalog cache policy and the fold of the log), `capture`, `read` (trees and content), `resolve` (time
//! expressions), `pins`, `compact` (snapshots, rebuild), `live` (what a
//! long-lived writer needs), `skipped` (the paths its captures currently skip),
//! `batch` (the per-capture total: `max_batch_bytes` and its `BatchPolicy`),
//! `owner` (`.tl` itself: a real directory of this uid).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tl_wal::private_fs::{self, Durability, Expected};
use tl_wal::{LogReader, Lsn, RecoveryReport, Storage, Wal};

use crate::catalog::{Catalog, Checkpoint, CheckpointIndex, Gap};
use crate::gc;
use crate::layout::Layout;
pub use crate::layout::TL_DIR;

use crate::gc::GcChecked;

mod around;
mod batch;
mod cache;
mod capture;
mod compact;
mod config;
pub mod config_edit;
mod content;
mod error;
mod held;
mod live;
mod owner;
mod pins;
mod read;
mod resolve;
pub mod settings;
mod skipped;
mod timelines;

pub use batch::{BatchDecision, BatchPolicy, OverLimit, Proceed};
pub use capture::{Capture, CheckpointOutcome, WorktreeStatus};
pub use config::Config;
use config::DEFAULT_CONFIG;
pub use error::StoreError;
use error::{io, Result};
use held::Held;
use live::LiveState;
use owner::{check_tl_dir, TlEntry};
pub use pins::{PinError, PinNameProblem};
pub use resolve::{ResolveError, ID_PREFIX_MIN};
pub use skipped::{is_skipped_path, SkipReport, SkippedPaths};
pub use timelines::TimelineError;

enum Log {
    Writer(Wal),
    Reader(LogReader),
}

impl Log {
    fn iter_from(&self, lsn: Lsn) -> Result<tl_wal::LogIter, tl_wal::ReadError> {
        match self {
            Log::Writer(w) => w.iter_from(lsn),
            Log::Reader(r) => r.iter_from(lsn),
        }
    }
    fn start(&self) -> Lsn {
        match self {
            Log::Writer(w) => w.start_lsn(),
            Log::Reader(r) => r.start_lsn(),
        }
    }
    fn end(&self) -> Lsn {
        match self {
            Log::Writer(w) => w.durable_lsn(),
            Log::Reader(r) => r.end_lsn(),
        }
    }
    fn wal(&self) -> Option<&Wal> {
        match self {
            Log::Writer(w) => Some(w),
            Log::Reader(_) => None,
        }
    }
}

/// Damage met while folding the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Where.
    pub lsn: Lsn,
    /// What is wrong there.
    pub what: String,
}

/// An open project store.
pub struct Store {
    layout: Layout,
    config: Config,
    log: Log,
    catalog: Held,
    recovery: Option<RecoveryReport>,
    /// Damage met while folding the log (LSN, message).
    damage: Vec<Damage>,
    /// What the catalog copy on disk covers.
    saved: cache::SavedCopy,
    /// A log reader kept open between record reads (dropped after each append,
    /// since it only sees the log as it was when made).
    reader: Mutex<Option<tl_wal::LogIter>>,
    /// The last solid blocks read, decompressed.
    blocks: Mutex<crate::catalog::BlockCache>,
    /// Set by [`Store::capture_paths`]: state kept between live captures.
    live: Option<LiveState>,
    /// What this open took group/other permissions off (a store made before `.tl/`
    /// was private).
    tightened: Vec<PathBuf>,
    /// What the open did about an interrupted GC.
    gc_recovery: Option<gc::Interrupted>,
    /// Where commit and pin times come from: the system clock, or the one a
    /// test or a simulation set ([`Store::set_clock`]).
    clock: Option<Clock>,
    /// What stands between captures and the files they read: nothing, or a
    /// test's faults ([`Store::set_read_seam`]).
    seam: crate::scan::Seam,
    /// The temporaries of killed restores this open removed (absolute paths).
    leftovers: Vec<PathBuf>,
}

/// A source of "now" for a store, ns since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Finds the project root: `start` or the nearest ancestor holding `.tl/`. The
/// first `.tl` found that is a symlink, or a directory of another uid, is
/// refused rather than skipped (see `owner`).
pub fn find_root(start: &Path) -> Result<PathBuf> {
    let start = std::fs::canonicalize(start).map_err(io(start))?;
    let mut dir = start.as_path();
    loop {
        if let TlEntry::Ours = check_tl_dir(Layout::new(dir).tl_dir())? {
            return Ok(dir.to_path_buf());
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return Err(StoreError::NotInitialized(start)),
        }
    }
}

/// The stamp of a new record: `clock`, or 1 µs after `last` if the clock is not
/// past it.
pub(crate) fn monotonic_stamp(clock: i64, last: Option<i64>) -> i64 {
    match last {
        Some(last) if clock <= last => last.saturating_add(1_000),
        _ => clock,
    }
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Creates `.tl/` in `root` (which must exist) and opens it.
    pub fn init(root: &Path) -> Result<Store> {
        let root = Store::create_empty(root)?;
        Store::open(&root)
    }

    /// Creates `.tl/` in `root` (which must exist) with its directories and the
    /// default config but no log yet, and returns the canonical root: a clone
    /// writes the remote's segments into `.tl/wal/` before the first open.
    pub(crate) fn create_empty(root: &Path) -> Result<PathBuf> {
        let root = std::fs::canonicalize(root).map_err(io(root))?;
        let layout = Layout::new(&root);
        let tl = layout.tl_dir();
        if !matches!(check_tl_dir(tl)?, TlEntry::Missing) {
            return Err(StoreError::AlreadyInitialized(root));
        }
        // Owner-only: history is as private as the most private file it holds.
        private_fs::create_dir(tl).map_err(io(tl))?;
        for sub in layout.init_dirs() {
            private_fs::create_dir(&sub).map_err(io(tl))?;
        }
        // Wal::open would make it; a clone writes segments into it first.
        let log = layout.log_dir();
        private_fs::create_dir(&log).map_err(io(&log))?;
        let cfg = layout.config();
        private_fs::write_atomic(&cfg, DEFAULT_CONFIG.as_bytes(), Durability::Synced)
            .map_err(io(&cfg))?;
        Ok(root)
    }

    /// Opens the store of the project at `root` for writing (takes the log's writer
    /// lock and runs recovery).
    pub fn open(root: &Path) -> Result<Store> {
        Store::open_inner(root, true)
    }

    /// Opens the store read-only: no lock, no recovery; reads end where the valid
    /// log ends.
    pub fn open_read_only(root: &Path) -> Result<Store> {
        Store::open_inner(root, false)
    }

    fn open_inner(root: &Path, write: bool) -> Result<Store> {
        let layout = Layout::new(root);
        let tl = layout.tl_dir();
        if !matches!(check_tl_dir(tl)?, TlEntry::Ours) {
            return Err(StoreError::NotInitialized(root.to_path_buf()));
        }
        // A store made before `.tl/` was private is tightened once: with `.tl/`
        // itself 0700 nothing under it is reachable by others.
        let tightened = if private_fs::is_private_dir(tl).map_err(io(tl))? {
            Vec::new()
        } else {
            private_fs::tighten(tl).map_err(io(tl))?
        };
        for (path, expected) in [
            (layout.log_dir(), Expected::Dir),
            (layout.index_dir(), Expected::Dir),
            (layout.snapshots(), Expected::Dir),
            (layout.config(), Expected::File),
        ] {
            private_fs::check_entry(&path, expected).map_err(io(&path))?;
        }
        let config = Config::load(&layout.config())?;
        let (log, recovery, gc_recovery) = if write {
            // An interrupted GC is finished or undone before the log is opened:
            // until then `.tl/wal` may be the old log, or missing.
            let gc_recovery = if gc::swap::may_be_interrupted(&layout, &gc::RealFs)? {
                let lock = gc::GcLock::take(&layout)?;
                gc::recover_interrupted(&layout, &gc::RealFs, &lock)?
            } else {
                None
            };
            let opts = config.wal_options();
            let (wal, report) = Wal::open(layout.log_dir(), layout.quarantine(), opts)?;
            (Log::Writer(wal), Some(report), gc_recovery)
        } else {
            let reader = LogReader::open(gc::swap::readable_log_dir(&layout), layout.quarantine())?;
            (Log::Reader(reader), None, None)
        };
        // A restore killed mid-write left temporaries: removed now (best
        // effort: no capture records them meanwhile).
        let leftovers = if write {
            crate::restore::clean_after_crash(&layout).unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut store = Store::from_log(layout, config, log, recovery, tightened)?;
        store.gc_recovery = gc_recovery;
        store.leftovers = leftovers;
        Ok(store)
    }

    /// Opens the store of the project at `root` (which must hold `.tl/`) for
    /// writing, with its log held by `storage` instead of `.tl/wal/` — a
    /// `tl_wal::testing::MemStorage` in the power-loss tests and the
    /// `store_open_replay` fuzz target. Config, catalog, snapshots and the files
    /// captured stay on the real file system. Runs the log's recovery.
    pub fn open_with_storage(root: &Path, storage: Arc<dyn Storage>) -> Result<Store> {
        let layout = Layout::new(root);
        if !matches!(check_tl_dir(layout.tl_dir())?, TlEntry::Ours) {
            return Err(StoreError::NotInitialized(root.to_path_buf()));
        }
        let config = Config::load(&layout.config())?;
        let (wal, report) = Wal::open_storage(storage, config.wal_options())?;
        Store::from_log(layout, config, Log::Writer(wal), Some(report), Vec::new())
    }

    /// The store over an open log: loads the catalog cache and folds the log after it.
    fn from_log(
        layout: Layout,
        config: Config,
        log: Log,
        recovery: Option<RecoveryReport>,
        tightened: Vec<PathBuf>,
    ) -> Result<Store> {
        let mut store = Store {
            layout,
            config,
            log,
            catalog: Held::Full(Catalog::default()),
            recovery,
            damage: Vec::new(),
            saved: cache::SavedCopy::default(),
            reader: Mutex::new(None),
            blocks: Mutex::new(crate::catalog::BlockCache::new()),
            live: None,
            tightened,
            gc_recovery: None,
            clock: None,
            seam: crate::scan::Seam::default(),
            leftovers: Vec::new(),
        };
        store.load_catalog()?;
        Ok(store)
    }

    /// Stamps commits and pins with `clock` instead of the system clock: for
    /// simulations of long histories (retention's model tests, the simulated
    /// week of `benches/`).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
    }

    /// The temporaries that restores killed mid-write had left and this open
    /// removed (absolute paths; empty for a read-only open).
    pub fn temporaries_removed(&self) -> &[PathBuf] {
        &self.leftovers
    }

    /// Reads the files of every later capture through `seam` (the tests of
    /// files that fail or change under the reader, [`crate::scan::ReadSeam`]).
    pub fn set_read_seam(&mut self, seam: Arc<dyn crate::scan::ReadSeam>) {
        self.seam = crate::scan::Seam::new(seam);
    }

    /// Now, as this store stamps commits and pins: the clock, but never earlier
    /// than the last checkpoint (1 µs after it at least), so the log's times only
    /// go forward. When the wall clock steps back (NTP, a VM restored), new
    /// states are stamped just after the last one until the clock catches up;
    /// a step forward (a laptop resumed after a day) is time that passed.
    pub(crate) fn stamp_ns(&self) -> i64 {
        let clock = self.clock.as_ref().map_or_else(now_ns, |c| c());
        monotonic_stamp(clock, self.last_checkpoint().map(|c| c.time_ns))
    }

    /// What this open did about a GC interrupted by a crash (writers only).
    pub fn gc_recovery(&self) -> Option<gc::Interrupted> {
        self.gc_recovery
    }

    /// The entries under `.tl/` this open took group and other permission bits
    /// off (`.tl/` first): empty unless the store was made before `.tl/` was
    /// owner-only, or someone widened it since. The caller may tell the user.
    pub fn tightened(&self) -> &[PathBuf] {
        &self.tightened
    }

    fn catalog_path(&self) -> PathBuf {
        self.layout.catalog()
    }

    fn stat_cache_path(&self) -> PathBuf {
        self.layout.stat_cache()
    }

    fn snapshot_dir(&self) -> PathBuf {
        self.layout.snapshots()
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Where everything under `.tl/` lives.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What recovery did on open (writers only).
    pub fn recovery(&self) -> Option<&RecoveryReport> {
        self.recovery.as_ref()
    }

    /// Damage met while reading the log: (LSN, what).
    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// The fold of the log, with its history; [`StoreError::Lean`] on a lean
    /// store (see [`Store::go_lean`]), which does not hold it.
    pub fn catalog(&self) -> Result<&Catalog> {
        self.catalog.full().ok_or(StoreError::Lean)
    }

    /// Checkpoints, oldest first. Empty on a lean store (see [`Store::go_lean`]):
    /// its history is not in memory; [`Store::last_checkpoint`] works on both.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        self.catalog.full().map_or(&[], |c| c.checkpoints())
    }

    /// The index of the last of [`Store::checkpoints`]; None when there are none
    /// (or on a lean store, which does not hold them).
    pub fn last_index(&self) -> Option<CheckpointIndex> {
        self.checkpoints()
            .len()
            .checked_sub(1)
            .map(CheckpointIndex::new)
    }

    /// The last checkpoint (on a lean store, without its changes).
    pub fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.catalog.last_checkpoint()
    }

    /// Sequence number of the last checkpoint (0 before the first).
    pub fn seq(&self) -> u64 {
        self.catalog.seq()
    }

    /// Intervals where events may have been missed (Gap records), in log order.
    pub fn gaps(&self) -> &[Gap] {
        self.catalog.gaps()
    }

    /// Intervals where the daemon's runaway guard held a directory (Hold
    /// records), in log order, on a full or a lean store.
    pub fn holds(&self) -> &[crate::record::Hold] {
        self.catalog.holds()
    }

    /// The Thinned record of the last GC, on a full or a lean store.
    pub fn last_gc(&self) -> Option<&crate::catalog::ThinnedAt> {
        self.catalog.thinnings().last()
    }

    /// True when the GC is due by the daemon's rule: the log grew by
    /// `gc_every_bytes` since the last GC (since its start, before the first),
    /// or a day went by since the last GC (since the first checkpoint, before
    /// the first GC) and something was captured since. `now_ns` is now.
    /// `checked` is the newest GC that found nothing to drop: it records
    /// nothing in the log, so without it the same GC would be due again after
    /// every capture; the later of it and the last thinning counts.
    pub fn gc_due(&self, now_ns: i64, checked: Option<GcChecked>) -> bool {
        const DAY_NS: i64 = 86_400 * 1_000_000_000;
        let end = self.log.end();
        let Some(last) = self.catalog.last_checkpoint() else {
            return false;
        };
        // A Thinned record's LSN is where it starts (a checkpoint after it starts
        // later); a mark's is the log's end then (a checkpoint after it starts
        // there or later).
        let thinned = self
            .last_gc()
            .map(|t| (t.lsn, t.thinned.time_ns, last.lsn > t.lsn));
        let marked = checked.map(|c| (c.through, c.time_ns, last.lsn >= c.through));
        let since = match (thinned, marked) {
            (Some(t), Some(c)) if c.0 > t.0 => Some(c),
            (Some(t), _) => Some(t),
            (None, c) => c,
        };
        let (since_lsn, since_ns, captured_since) =
            since.unwrap_or((self.log.start(), i64::MIN, true));
        let grown = end.checked_bytes_since(since_lsn).unwrap_or(0);
        let first_ns = if since_ns == i64::MIN {
            // Before any GC, a day counts from the oldest state still held.
            self.catalog
                .full()
                .and_then(|c| c.checkpoints().first())
                .map_or(last.time_ns, |c| c.time_ns)
        } else {
            since_ns
        };
        captured_since
            && (grown >= self.config.gc_every_bytes || now_ns.saturating_sub(first_ns) >= DAY_NS)
    }

    /// True when every part of the blob `hash` is in the log.
    pub fn has_blob(&self, hash: &crate::types::BlobHash) -> bool {
        self.catalog.has_blob(hash)
    }

    fn wal(&self) -> Result<&Wal> {
        self.log.wal().ok_or_else(|| StoreError::Io {
            path: self.layout.log_dir(),
            source: std::io::Error::other("the store was opened read-only"),
        })
    }

    /// Seals the log's current segment now ([`Wal::seal_now`]), so every
    /// acknowledged batch sits in a segment that is never written again (what a
    /// push to a remote ships). False when the current segment is still empty.
    pub fn seal_log(&self) -> Result<bool> {
        Ok(self.wal()?.seal_now()?)
    }

    /// The `.tl` directory.
    pub fn tl_dir(&self) -> &Path {
        self.layout.tl_dir()
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}
