//! The store: a project's `.tl/` directory — the log, the catalog folded from it,
//! the stat cache, snapshots — and the operations the commands are made of. Where
//! each of those lives is [`Layout`]'s.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tl_wal::private_fs::{self, Durability, Expected};
use tl_wal::{LogReader, Lsn, Options, RecoveryReport, Wal};

use crate::catalog::{apply, Catalog, Checkpoint, PathChange};
use crate::layout::Layout;
pub use crate::layout::TL_DIR;
use crate::record::{self, chain_hash, Codec, CommitKind, CommitStats, Record};
use crate::scan::{self, diff_trees, BlobPart, Change, ScanOptions, ScanWarning};
use crate::snapshot::{self, SnapshotMeta};
use crate::statcache::StatCache;
use crate::timespec::{self, TimeExpr};
use crate::types::{BlobHash, Tree};

mod live;

/// Blob records are appended in batches of about this many bytes during a capture
/// (4 MiB: a first capture of the 10k-file corpus peaks at 37 MB RSS, 55 MB at 8 MiB),
/// so a first capture of a large tree never holds all its new content in memory.
const BLOB_BATCH_BYTES: usize = 4 << 20;

/// A store error: what went wrong and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No `.tl` here or above.
    #[error("{0} is not inside a tl project (no .tl directory here or above); run `tl init`")]
    NotInitialized(PathBuf),
    /// `tl init` where `.tl` exists.
    #[error("{0} is already initialised (it has a .tl directory)")]
    AlreadyInitialized(PathBuf),
    /// Opening the log failed.
    #[error(transparent)]
    Open(#[from] tl_wal::OpenError),
    /// Appending failed.
    #[error(transparent)]
    Append(#[from] tl_wal::AppendError),
    /// Reading the log failed.
    #[error("{0}; run `tl fsck` to see the damage")]
    Read(#[from] tl_wal::ReadError),
    /// A record that does not decode.
    #[error("record at LSN {lsn} does not decode: {source}; run `tl fsck`")]
    Decode {
        /// Where.
        lsn: Lsn,
        /// Why.
        #[source]
        source: record::DecodeError,
    },
    /// Content missing or not matching its hash.
    #[error("content {hash} is missing or damaged in the log ({why}); run `tl fsck`")]
    Blob {
        /// Hex hash.
        hash: String,
        /// What is wrong.
        why: String,
    },
    /// A time expression that names nothing.
    #[error("{0}")]
    Time(String),
    /// A time before the first checkpoint.
    #[error("{message}")]
    BeforeFirst {
        /// What was asked and when the first checkpoint is.
        message: String,
    },
    /// A pin that cannot be made or deleted.
    #[error("{0}")]
    Pin(String),
    /// A scan failed.
    #[error("capture failed: {0}")]
    Scan(String),
    /// A snapshot problem.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// `.tl/config.toml` is invalid.
    #[error("{path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// An entry under `.tl/` that `tl` did not make (a symlink, a directory where
    /// a file belongs): refused rather than written through.
    #[error(transparent)]
    UnexpectedEntry(#[from] private_fs::UnexpectedEntry),
    /// Another I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| match private_fs::unexpected_entry(&source) {
        Some(refused) => StoreError::UnexpectedEntry(refused.clone()),
        None => StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Settings from `.tl/config.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Files larger than this are skipped with a warning.
    pub max_file_bytes: u64,
    /// zstd level used at capture.
    pub zstd_level: i32,
    /// The compactor writes a snapshot once this many checkpoints follow the last.
    pub snapshot_every: u64,
    /// Segment size at which the log rotates.
    pub segment_bytes_max: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_file_bytes: 100 << 20,
            zstd_level: 1,
            snapshot_every: 100,
            segment_bytes_max: 64 << 20,
        }
    }
}

const DEFAULT_CONFIG: &str = "\
# tl settings. Every key is optional; the values shown are the defaults.

# Files larger than this many bytes are not captured (a warning names them).
max_file_bytes = 104857600

# zstd level for new content (1 = fastest).
zstd_level = 1

# Write a tree snapshot after this many checkpoints (snapshots speed up replay).
snapshot_every = 100

# Start a new log segment once the current one reaches this size.
segment_bytes_max = 67108864
";

impl Config {
    /// Reads the config file; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(io(path)(e)),
        };
        let bad = |why: String| StoreError::Config {
            path: path.to_path_buf(),
            why,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        let mut c = Config::default();
        for (key, value) in table {
            let int = value
                .as_integer()
                .ok_or_else(|| bad(format!("`{key}` must be an integer")))?;
            let positive = |v: i64| -> Result<u64> {
                if v <= 0 {
                    Err(bad(format!("`{key}` must be positive, found {v}")))
                } else {
                    Ok(v as u64)
                }
            };
            match key.as_str() {
                "max_file_bytes" => c.max_file_bytes = positive(int)?,
                "zstd_level" => {
                    if !(1..=22).contains(&int) {
                        return Err(bad(format!("`zstd_level` must be 1..=22, found {int}")));
                    }
                    c.zstd_level = int as i32
                }
                "snapshot_every" => c.snapshot_every = positive(int)?,
                "segment_bytes_max" => c.segment_bytes_max = positive(int)?.max(1 << 16),
                other => return Err(bad(format!("unknown setting `{other}`"))),
            }
        }
        Ok(c)
    }
}

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

/// What a checkpoint did.
#[derive(Clone, Debug)]
pub struct CheckpointOutcome {
    /// The new checkpoint.
    pub checkpoint: Checkpoint,
    /// Problems met while capturing (skipped files and why).
    pub warnings: Vec<ScanWarning>,
    /// Counters of the scan.
    pub scan: scan::ScanStats,
}

/// What a capture that commits only when something changed found: the new
/// checkpoint (None when the tree was unchanged) and, in both cases, the warnings
/// (a caller about to write the tree must leave the skipped paths alone).
#[derive(Debug)]
pub struct Capture {
    /// The new checkpoint, or None when the tree did not change.
    pub checkpoint: Option<Checkpoint>,
    /// Problems met while capturing (skipped files and why).
    pub warnings: Vec<ScanWarning>,
    /// Counters of the scan.
    pub scan: scan::ScanStats,
}

/// An open project store.
pub struct Store {
    layout: Layout,
    config: Config,
    log: Log,
    catalog: Catalog,
    recovery: Option<RecoveryReport>,
    /// Damage met while folding the log (LSN, message).
    damage: Vec<(Lsn, String)>,
    /// (through, checkpoints) of the catalog copy on disk.
    saved: (Lsn, u64),
    /// A log reader kept open between record reads (dropped after each append,
    /// since it only sees the log as it was when made).
    reader: Mutex<Option<tl_wal::LogIter>>,
    /// Set by [`Store::capture_paths`]: state kept between live captures.
    live: Option<LiveState>,
    /// What this open took group/other permissions off (a store made before `.tl/`
    /// was private).
    tightened: Vec<PathBuf>,
}

/// Rewrite the catalog cache once this many log bytes follow the saved copy…
const CATALOG_SAVE_BYTES: u64 = 1 << 20;
/// …or this many checkpoints.
const CATALOG_SAVE_CHECKPOINTS: usize = 64;

/// Finds the project root: `start` or the nearest ancestor holding `.tl/`.
pub fn find_root(start: &Path) -> Result<PathBuf> {
    let start = std::fs::canonicalize(start).map_err(io(start))?;
    let mut dir = start.as_path();
    loop {
        if Layout::new(dir).tl_dir().is_dir() {
            return Ok(dir.to_path_buf());
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return Err(StoreError::NotInitialized(start)),
        }
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// New content on its way to the log: Blob records appended in batches of about
/// [`BLOB_BATCH_BYTES`] as a scan hands parts over (from its threads); the last,
/// partial batch goes with the Commit.
struct PendingBlobs<'a> {
    wal: &'a Wal,
    progress: &'a (dyn Fn(u64) + Sync),
    /// (records not appended yet, their bytes, bytes of every record so far)
    inner: Mutex<(Vec<Vec<u8>>, usize, u64)>,
}

impl<'a> PendingBlobs<'a> {
    fn new(wal: &'a Wal, progress: &'a (dyn Fn(u64) + Sync)) -> PendingBlobs<'a> {
        PendingBlobs {
            wal,
            progress,
            inner: Mutex::new((Vec::new(), 0, 0)),
        }
    }

    fn push(&self, part: BlobPart) -> Result<(), tl_wal::AppendError> {
        let record = Record::Blob {
            hash: part.hash,
            raw_len: part.raw_len,
            offset: part.offset,
            codec: if part.compressed {
                Codec::Zstd
            } else {
                Codec::None
            },
            data: part.data,
        }
        .encode();
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        p.1 += record.len();
        p.2 += record.len() as u64;
        p.0.push(record);
        (self.progress)(p.2);
        if p.1 >= BLOB_BATCH_BYTES {
            p.1 = 0;
            let refs: Vec<&[u8]> = p.0.iter().map(|r| r.as_slice()).collect();
            self.wal.append(&refs)?;
            p.0.clear();
        }
        Ok(())
    }

    /// The records not appended yet, and the bytes of all records.
    fn finish(self) -> (Vec<Vec<u8>>, u64) {
        let (records, _, bytes) = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        (records, bytes)
    }
}

/// What a long-lived writer (the daemon) keeps between captures.
pub(crate) struct LiveState {
    /// The ignore files read so far.
    pub(crate) rules: scan::IgnoreRules,
    /// Sequence number of the newest snapshot, once looked up.
    pub(crate) snapshot_seq: Option<u64>,
    /// The snapshot being written by the background compactor.
    pub(crate) compactor: Option<std::thread::JoinHandle<()>>,
    /// Files the last capture found changing while read (see
    /// [`Store::take_unsettled`]).
    pub(crate) unsettled: Vec<Vec<u8>>,
}

impl LiveState {
    pub(crate) fn new(root: &Path) -> LiveState {
        LiveState {
            rules: scan::IgnoreRules::new(root),
            snapshot_seq: None,
            compactor: None,
            unsettled: Vec::new(),
        }
    }
}

impl Store {
    /// Creates `.tl/` in `root` (which must exist) and opens it.
    pub fn init(root: &Path) -> Result<Store> {
        let root = std::fs::canonicalize(root).map_err(io(root))?;
        let layout = Layout::new(&root);
        let tl = layout.tl_dir();
        if tl.exists() {
            return Err(StoreError::AlreadyInitialized(root));
        }
        // Owner-only: history is as private as the most private file it holds.
        private_fs::create_dir(tl).map_err(io(tl))?;
        for sub in layout.init_dirs() {
            private_fs::create_dir(&sub).map_err(io(tl))?;
        }
        let cfg = layout.config();
        private_fs::write_atomic(&cfg, DEFAULT_CONFIG.as_bytes(), Durability::Synced)
            .map_err(io(&cfg))?;
        Store::open(&root)
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
        if !tl.is_dir() {
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
        let (log, recovery) = if write {
            let opts = Options {
                segment_bytes_max: config.segment_bytes_max,
                uring: false,
            };
            let (wal, report) = Wal::open(layout.log_dir(), layout.quarantine(), opts)?;
            (Log::Writer(wal), Some(report))
        } else {
            let reader = LogReader::open(layout.log_dir(), layout.quarantine())?;
            (Log::Reader(reader), None)
        };
        let mut store = Store {
            layout,
            config,
            log,
            catalog: Catalog::default(),
            recovery,
            damage: Vec::new(),
            saved: (0, 0),
            reader: Mutex::new(None),
            live: None,
            tightened,
        };
        store.load_catalog()?;
        Ok(store)
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

    /// Loads the cached catalog if it matches the log, then folds what follows.
    fn load_catalog(&mut self) -> Result<()> {
        let catalog = self.cached_catalog();
        self.saved = (catalog.through, catalog.seq());
        self.catalog = catalog;
        self.fold_to_end()?;
        self.save_catalog_if_due();
        Ok(())
    }

    /// The saved catalog if it matches the log, else an empty one at the log start.
    fn cached_catalog(&self) -> Catalog {
        let repo_id = self.repo_id();
        let recovered_clean = self.recovery.as_ref().map(|r| r.is_clean()).unwrap_or(true);
        let end = self.log.end();
        let cached = Catalog::load(&self.catalog_path()).filter(|c| {
            recovered_clean && c.through <= end && c.through >= self.log.start() && {
                c.repo_id == repo_id || repo_id == [0; 16]
            }
        });
        let mut catalog = cached.unwrap_or_default();
        if catalog.through == 0 && catalog.checkpoints.is_empty() {
            catalog = Catalog::default();
            catalog.repo_id = repo_id;
            catalog.through = self.log.start();
        }
        catalog
    }

    fn repo_id(&self) -> [u8; 16] {
        self.log.wal().map(|w| w.repo_id()).unwrap_or([0; 16])
    }

    fn fold_to_end(&mut self) -> Result<()> {
        // The kept reader sees the log as it was; after an append it must be remade.
        *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = None;
        fold_log(&self.log, &mut self.catalog, &mut self.damage)
    }

    fn save_catalog(&mut self) {
        // The catalog is a cache: failing to save it costs a re-fold next time.
        if self.log.wal().is_none() {
            return;
        }
        let _ = private_fs::ensure_dir(&self.layout.index_dir());
        if self.is_lean() {
            // The lean catalog cannot be saved: rebuild the full one from the saved
            // copy and the log after it, save it, and let it go.
            let mut full = self.cached_catalog();
            let mut damage = Vec::new();
            if fold_log(&self.log, &mut full, &mut damage).is_ok()
                && damage.is_empty()
                && full.through == self.catalog.through
                && full.save(&self.catalog_path()).is_ok()
            {
                self.saved = (full.through, full.seq());
            }
            return;
        }
        if self.catalog.save(&self.catalog_path()).is_ok() {
            self.saved = (self.catalog.through, self.catalog.seq());
        }
    }

    /// Writes the catalog cache now (it is otherwise written lazily, see
    /// [`Store::checkpoint`]); for long-lived writers about to idle, and for tests.
    pub fn save_caches(&mut self) {
        self.save_catalog();
    }

    /// Saves the catalog once enough log follows the saved copy. Until then, each
    /// open folds the few records after it: cheaper than rewriting the whole
    /// catalog (which grows with history) on every checkpoint.
    fn save_catalog_if_due(&mut self) {
        let bytes = self.catalog.through.saturating_sub(self.saved.0);
        let checkpoints = self.catalog.seq().saturating_sub(self.saved.1);
        if bytes >= CATALOG_SAVE_BYTES || checkpoints >= CATALOG_SAVE_CHECKPOINTS as u64 {
            self.save_catalog();
        }
    }

    /// Deletes every derived file (catalog, stat cache, snapshots) and rebuilds the
    /// catalog and the snapshots from the log alone: where the compactor would
    /// write them, and at the checkpoints that had one (`tl compact`'s). Returns the
    /// snapshots written.
    pub fn rebuild(&mut self) -> Result<Vec<PathBuf>> {
        let index = self.layout.index_dir();
        let snaps = self.snapshot_dir();
        // Snapshots written on purpose (`tl compact`) are rebuilt where they were.
        let kept: Vec<Lsn> = snapshot::list_snapshots(&snaps)
            .map(|l| l.into_iter().map(|(lsn, _)| lsn).collect())
            .unwrap_or_default();
        for dir in [&index, &snaps] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(dir)(e)),
            }
            private_fs::ensure_dir(dir).map_err(io(dir))?;
        }
        let mut catalog = Catalog::default();
        catalog.repo_id = self.repo_id();
        catalog.through = self.log.start();
        self.catalog = catalog;
        self.damage.clear();
        self.fold_to_end()?;
        self.save_catalog();
        // Snapshots where the compactor would have written them.
        let every = self.config.snapshot_every.max(1) as usize;
        let mut written = Vec::new();
        let mut tree = Tree::new();
        for (i, c) in self.catalog.checkpoints.iter().enumerate() {
            apply(&mut tree, &c.changes);
            if ((i + 1) % every == 0 || kept.contains(&c.end_lsn)) && c.end_lsn != 0 {
                let meta = snapshot_meta(c);
                written.push(snapshot::write_snapshot(&snaps, &meta, &tree)?);
            }
        }
        Ok(written)
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
    pub fn damage(&self) -> &[(Lsn, String)] {
        &self.damage
    }

    /// The fold of the log.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Checkpoints, oldest first.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.catalog.checkpoints
    }

    fn wal(&self) -> Result<&Wal> {
        self.log.wal().ok_or_else(|| StoreError::Io {
            path: self.layout.log_dir(),
            source: std::io::Error::other("the store was opened read-only"),
        })
    }

    /// Captures the directory now and records a checkpoint.
    pub fn checkpoint(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<CheckpointOutcome> {
        self.checkpoint_with_progress(kind, message, &|_| {})
    }

    /// [`Store::checkpoint`], calling `progress` with the bytes of new content
    /// stored so far (from the scan's threads) as the capture goes.
    pub fn checkpoint_with_progress(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<CheckpointOutcome> {
        let out = self.capture(kind, message, progress, false)?;
        let checkpoint = out
            .checkpoint
            .expect("a capture that does not skip always commits");
        Ok(CheckpointOutcome {
            checkpoint,
            warnings: out.warnings,
            scan: out.scan,
        })
    }

    /// Captures the directory, committing a checkpoint only when the tree changed;
    /// the warnings are returned either way.
    pub fn capture_if_changed(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
    ) -> Result<Capture> {
        self.capture(kind, message, &|_| {}, true)
    }

    /// The capture behind [`Store::checkpoint_with_progress`]; with
    /// `skip_if_unchanged`, nothing is committed (no checkpoint) when the tree did
    /// not change.
    pub(crate) fn capture(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        progress: &(dyn Fn(u64) + Sync),
        skip_if_unchanged: bool,
    ) -> Result<Capture> {
        let options = self.scan_options();
        let previous = StatCache::load(&self.stat_cache_path());
        let wal = self.wal()?;
        let catalog = &self.catalog;
        let pending = PendingBlobs::new(wal, progress);
        let sink = |part: BlobPart| pending.push(part);
        let has_blob = |h: &BlobHash| catalog.has_blob(h);
        let outcome = scan::scan(self.root(), &previous, &options, &has_blob, &sink)
            .map_err(|e| StoreError::Scan(error_chain(&e)));
        let mut outcome = outcome?;
        let (records, bytes_new) = pending.finish();
        // A path skipped although still there keeps its last recorded version.
        scan::keep_skipped(&self.catalog.head, &mut outcome.tree, &mut outcome.warnings);
        self.note_unsettled(&outcome.warnings);

        let changes = diff_trees(&self.catalog.head, &outcome.tree);
        let committed = !(skip_if_unchanged && changes.is_empty());
        if committed {
            // Nothing refers to content still pending when nothing is committed:
            // it is not written.
            self.commit_changes(kind, message, records, &changes, bytes_new)?;
        }
        // An unchanged stat cache need not be rewritten (nothing was read).
        if outcome.stats.files_read > 0 || !changes.is_empty() || previous.is_empty() {
            let _ = outcome.stat_cache.save(&self.stat_cache_path());
        }
        if !committed {
            return Ok(Capture {
                checkpoint: None,
                warnings: outcome.warnings,
                scan: outcome.stats,
            });
        }
        self.after_commit();
        let done = self.outcome(outcome.warnings, outcome.stats);
        Ok(Capture {
            checkpoint: Some(done.checkpoint),
            warnings: done.warnings,
            scan: done.scan,
        })
    }

    /// The outcome of the capture just committed.
    fn outcome(&self, warnings: Vec<ScanWarning>, scan: scan::ScanStats) -> CheckpointOutcome {
        let checkpoint = self
            .catalog
            .checkpoints
            .last()
            .cloned()
            .expect("just committed");
        CheckpointOutcome {
            checkpoint,
            warnings,
            scan,
        }
    }

    /// Caches and compaction after a commit (a lean store leaves both to
    /// [`Store::idle_maintenance`]).
    fn after_commit(&mut self) {
        if self.is_lean() {
            return;
        }
        self.save_catalog_if_due();
        self.maybe_compact();
    }

    fn is_lean(&self) -> bool {
        self.catalog.is_lean()
    }

    /// Appends `records` (new content not yet appended), a Put or Delete per change
    /// and the Commit as one batch, then folds it from the log (the truth).
    fn commit_changes(
        &mut self,
        kind: CommitKind,
        message: Option<String>,
        mut records: Vec<Vec<u8>>,
        changes: &[Change],
        bytes_new: u64,
    ) -> Result<()> {
        let wal = self.wal()?;
        let mut stats = CommitStats {
            bytes_new,
            ..CommitStats::default()
        };
        for c in changes {
            let rec = match c {
                Change::Added(p, e) | Change::Modified(p, _, e) => {
                    if matches!(c, Change::Added(..)) {
                        stats.added += 1;
                    } else {
                        stats.modified += 1;
                    }
                    Record::Put {
                        path: p.clone(),
                        hash: e.hash,
                        mode: e.mode,
                        size: e.size,
                        mtime_ns: e.mtime_ns,
                    }
                }
                Change::Deleted(p, _) => {
                    stats.deleted += 1;
                    Record::Delete { path: p.clone() }
                }
            };
            records.push(rec.encode());
        }
        let chain = chain_hash(&self.catalog.chain(), records.iter().map(|r| r.as_slice()));
        let commit = Record::Commit {
            time_ns: now_ns(),
            seq: self.catalog.seq() + 1,
            kind,
            message,
            timeline: 0,
            acked_lsn: wal.durable_lsn(),
            chain,
            stats,
        };
        records.push(commit.encode());
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
        wal.append(&refs)?;
        self.fold_to_end()
    }

    /// What differs on disk from the last checkpoint (nothing is written).
    pub fn status(&self) -> Result<(Vec<Change>, Vec<ScanWarning>)> {
        let (tree, warnings) = self.scan_read_only()?;
        Ok((diff_trees(&self.catalog.head, &tree), warnings))
    }

    /// The current tree on disk (a scan that stores nothing).
    pub fn scan_worktree(&self) -> Result<Tree> {
        Ok(self.scan_read_only()?.0)
    }

    /// The scan options from the config.
    fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            max_file_bytes: self.config.max_file_bytes,
            zstd_level: self.config.zstd_level,
            threads: 0,
        }
    }

    /// A scan that stores nothing: every content counts as present, so nothing is
    /// compressed or handed on.
    fn scan_read_only(&self) -> Result<(Tree, Vec<ScanWarning>)> {
        let previous = StatCache::load(&self.stat_cache_path());
        let has_blob = |_: &BlobHash| true;
        let sink = |_: BlobPart| -> Result<(), std::convert::Infallible> { Ok(()) };
        let outcome = scan::scan(
            self.root(),
            &previous,
            &self.scan_options(),
            &has_blob,
            &sink,
        )
        .map_err(|e| StoreError::Scan(error_chain(&e)))?;
        let (mut tree, mut warnings) = (outcome.tree, outcome.warnings);
        scan::keep_skipped(&self.catalog.head, &mut tree, &mut warnings);
        Ok((tree, warnings))
    }

    /// The tree as of checkpoint `idx`: the newest snapshot at or before it, plus
    /// the changes of the checkpoints after the snapshot.
    pub fn tree_at(&self, idx: usize) -> Result<Tree> {
        let cps = &self.catalog.checkpoints;
        let target = &cps[idx];
        let mut tree = Tree::new();
        let mut from = 0;
        if let Ok(Some((lsn, path))) =
            snapshot::newest_at_or_before(&self.snapshot_dir(), target.end_lsn)
        {
            if let Some(j) = cps.iter().position(|c| c.end_lsn == lsn) {
                // A damaged snapshot is only a cache: fall back to the changes.
                if let Ok(s) = snapshot::Snapshot::open(&path) {
                    tree = s.to_tree();
                    from = j + 1;
                }
            }
        }
        for c in &cps[from..=idx] {
            apply(&mut tree, &c.changes);
        }
        Ok(tree)
    }

    /// The tree after the last checkpoint.
    pub fn head(&self) -> &Tree {
        &self.catalog.head
    }

    /// Writes the content of `hash` to `out`, verifying it against the hash.
    pub fn read_blob(&self, hash: &BlobHash, out: &mut dyn Write) -> Result<u64> {
        let bad = |why: String| StoreError::Blob {
            hash: hash.to_hex(),
            why,
        };
        let (raw_len, parts) = self.catalog.blobs.get(hash).ok_or_else(|| {
            bad(if self.catalog.is_lean() {
                "a lean store (a daemon's) does not know where content is; open the store \
                 anew to read it"
                    .into()
            } else {
                "not in the log".into()
            })
        })?;
        if !crate::catalog::blob_complete(*raw_len, parts) {
            return Err(bad("some of its parts are missing".into()));
        }
        let mut hasher = blake3::Hasher::new();
        let mut written = 0u64;
        for (offset, lsn) in parts {
            let bytes = self.read_record(*lsn)?;
            let rec = Record::decode(&bytes)
                .map_err(|source| StoreError::Decode { lsn: *lsn, source })?;
            let Record::Blob {
                hash: h,
                offset: o,
                codec,
                data,
                ..
            } = rec
            else {
                return Err(bad(format!("record at LSN {lsn} is not a blob part")));
            };
            if h != *hash || o != *offset {
                return Err(bad(format!("record at LSN {lsn} is another blob's part")));
            }
            let raw = record::decompress_part(codec, &data, record::part_raw_len_max(*raw_len, o))
                .map_err(|source| StoreError::Decode { lsn: *lsn, source })?;
            hasher.update(&raw);
            out.write_all(&raw).map_err(io(Path::new("<output>")))?;
            written += raw.len() as u64;
        }
        if written != *raw_len || BlobHash(*hasher.finalize().as_bytes()) != *hash {
            return Err(bad("content does not match its hash".into()));
        }
        Ok(written)
    }

    /// Reads the record at `lsn` through the kept-open reader.
    fn read_record(&self, lsn: Lsn) -> Result<Vec<u8>> {
        let mut guard = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(it) => it.seek(lsn)?,
            None => *guard = Some(self.log.iter_from(lsn)?),
        }
        let it = guard.as_mut().expect("set above");
        match it.next() {
            Some(Ok(r)) => Ok(r.data),
            Some(Err(e)) => {
                *guard = None;
                Err(e.into())
            }
            None => Err(tl_wal::ReadError::OutOfRange {
                lsn,
                start: lsn,
                end: lsn,
            }
            .into()),
        }
    }

    /// The content of `hash` in memory.
    pub fn blob_bytes(&self, hash: &BlobHash) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_blob(hash, &mut v)?;
        Ok(v)
    }

    /// Resolves a time expression to a checkpoint index: the last checkpoint at or
    /// before an instant, the last one before the end of a time stated to the
    /// second ([`timespec::Window`]), the checkpoint containing an LSN, a pin, or a
    /// checkpoint id prefix ([`ID_PREFIX_MIN`] to 12 hex digits; shorter ones are
    /// refused whatever they match).
    pub fn resolve(&self, expr: &str) -> Result<usize> {
        let cps = &self.catalog.checkpoints;
        if cps.is_empty() {
            return Err(StoreError::Time(
                "there are no checkpoints yet; run `tl checkpoint` first".into(),
            ));
        }
        let now = now_ns();
        let parsed = timespec::parse(expr, &jiff::Zoned::now())
            .map_err(|e| StoreError::Time(e.to_string()))?;
        let at_or_before = |start: i64, end_excl: i128| {
            if start > now + 1_000_000_000 {
                return Err(StoreError::Time(format!(
                    "\"{expr}\" ({}) is in the future",
                    timespec::format_local(start)
                )));
            }
            cps.iter()
                .rposition(|c| i128::from(c.time_ns) < end_excl)
                .ok_or_else(|| StoreError::BeforeFirst {
                    message: format!(
                        "\"{expr}\" ({}) is before the first checkpoint ({})",
                        timespec::format_local(start),
                        timespec::format_local(cps[0].time_ns)
                    ),
                })
        };
        match parsed {
            TimeExpr::Lsn(lsn) => {
                let idx = cps.iter().rposition(|c| c.lsn <= lsn).ok_or_else(|| {
                    StoreError::Time(format!(
                        "@{lsn} is before the first checkpoint (LSN {})",
                        cps[0].lsn
                    ))
                })?;
                Ok(idx)
            }
            TimeExpr::Instant(t) => at_or_before(t, i128::from(t) + 1),
            TimeExpr::Window(w) => at_or_before(w.start, i128::from(w.end)),
            TimeExpr::Name(name) => {
                if let Some(pin) = self.catalog.pins.get(&name) {
                    return self
                        .catalog
                        .checkpoint_at_lsn(pin.target_lsn)
                        .ok_or_else(|| {
                            StoreError::Time(format!("pin {name} names a checkpoint that is gone"))
                        });
                }
                self.resolve_id(&name)
            }
        }
    }

    /// A checkpoint id prefix (see [`Store::resolve`]).
    fn resolve_id(&self, name: &str) -> Result<usize> {
        let cps = &self.catalog.checkpoints;
        let lower = name.to_ascii_lowercase();
        let not_found = || {
            StoreError::Time(format!(
                "\"{name}\" is not a checkpoint id, a pin or a time; `tl log` lists checkpoint \
                 ids, `tl pins` the pins"
            ))
        };
        if !is_hex(&lower) {
            return Err(not_found());
        }
        if lower.len() < ID_PREFIX_MIN {
            return Err(StoreError::Time(format!(
                "checkpoint id prefix \"{name}\" is too short: give at least {ID_PREFIX_MIN} of \
                 its 12 hex digits"
            )));
        }
        let hits: Vec<usize> = (0..cps.len())
            .filter(|&i| cps[i].id.starts_with(&lower))
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(not_found()),
            many => Err(StoreError::Time(format!(
                "\"{name}\" is the start of {} checkpoint ids ({}); give more of its digits",
                many.len(),
                many.iter()
                    .take(4)
                    .map(|&i| cps[i].id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

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

    fn append_and_fold(&mut self, rec: &[u8]) -> Result<()> {
        self.wal()?.append(&[rec])?;
        self.fold_to_end()?;
        self.save_catalog_if_due();
        Ok(())
    }

    /// Writes a snapshot of the head if enough checkpoints followed the last one.
    pub fn maybe_compact(&mut self) -> Option<PathBuf> {
        let cps = &self.catalog.checkpoints;
        let last = cps.last()?;
        let newest = snapshot::newest_at_or_before(&self.snapshot_dir(), u64::MAX)
            .ok()
            .flatten();
        let since = match newest {
            Some((lsn, _)) => cps.iter().filter(|c| c.end_lsn > lsn).count() as u64,
            None => cps.len() as u64,
        };
        if since < self.config.snapshot_every || last.end_lsn == 0 {
            return None;
        }
        self.compact().ok()
    }

    /// Writes a snapshot of the tree at the last checkpoint.
    pub fn compact(&mut self) -> Result<PathBuf> {
        let last = self
            .catalog
            .checkpoints
            .last()
            .ok_or_else(|| StoreError::Time("there are no checkpoints to compact".into()))?;
        let meta = snapshot_meta(last);
        Ok(snapshot::write_snapshot(
            &self.snapshot_dir(),
            &meta,
            &self.catalog.head,
        )?)
    }

    /// The `.tl` directory.
    pub fn tl_dir(&self) -> &Path {
        self.layout.tl_dir()
    }

    /// Paths changed by checkpoint `idx`.
    pub fn changes(&self, idx: usize) -> &[PathChange] {
        &self.catalog.checkpoints[idx].changes
    }
}

/// The fewest hex digits of a checkpoint id taken as an id prefix.
pub const ID_PREFIX_MIN: usize = 4;

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What [`Store::write_pin`] does when the name is already pinned elsewhere.
enum IfPinned {
    Refuse,
    Move,
}

/// The snapshot metadata of the tree after checkpoint `c`.
fn snapshot_meta(c: &Checkpoint) -> SnapshotMeta {
    SnapshotMeta {
        lsn: c.end_lsn,
        time_ns: c.time_ns,
        timeline: 0,
        seq: c.seq,
        chain: c.chain,
    }
}

/// Folds the log from `catalog.through` to its end into `catalog`; damage met is
/// added to `damage` (LSN, what).
fn fold_log(log: &Log, catalog: &mut Catalog, damage: &mut Vec<(Lsn, String)>) -> Result<()> {
    let from = catalog.through;
    if from >= log.end() {
        return Ok(());
    }
    for item in log.iter_from(from)? {
        match item {
            Ok(r) => {
                let end = r.lsn + tl_wal::encoded_len(r.data.len());
                match Record::decode(&r.data) {
                    Ok(rec) => catalog.fold_record(r.lsn, r.first_in_batch, &r.data, rec),
                    Err(e) => {
                        damage.push((r.lsn, format!("undecodable record: {e}")));
                        catalog.fold_damage();
                    }
                }
                if r.last_in_batch {
                    catalog.fold_batch_end(end);
                }
            }
            Err(tl_wal::ReadError::Corrupt {
                lsn,
                problem,
                resumes_at,
                ..
            }) => {
                damage.push((lsn, format!("damaged frame: {problem}")));
                catalog.fold_damage();
                if let Some(r) = resumes_at {
                    catalog.through = r;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    catalog.through = catalog.through.max(log.end());
    Ok(())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

#[path = "store_testing.rs"]
mod testing;
