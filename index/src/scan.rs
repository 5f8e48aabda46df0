//! Capture by scanning: walk a project directory, and produce its current [`Tree`]
//! plus the content not stored yet, handed part by part to a sink.
//!
//! ```no_run
//! use std::path::Path;
//! use tl_index::scan::{scan, ScanOptions};
//! use tl_index::statcache::StatCache;
//!
//! let root = Path::new("/some/project");
//! let cache_path = root.join(".tl/index/statcache");
//! let previous = StatCache::load(&cache_path);
//! let outcome = scan::<std::io::Error>(
//!     root,
//!     &previous,
//!     &ScanOptions::default(),
//!     &|_hash| false,           // ask the blob index: is this content stored?
//!     &|part| { /* turn into a Blob record */ let _ = part; Ok(()) },
//! )?;
//! // Once the batch built from the parts is durable:
//! outcome.stat_cache.save(&cache_path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is captured
//!
//! - Regular files (mode [`Mode::File`], or [`Mode::Exec`] when the owner's execute
//!   bit is set, or their private and group-only variants: [`Mode::of_file`]) and symbolic links ([`Mode::Symlink`], content = the target path
//!   bytes; links are never followed, a link to a directory is one entry).
//! - Paths are the bytes of the path relative to the root, `/`-separated, not
//!   necessarily UTF-8 (unix only: they come from `OsStr` bytes).
//! - Hidden files are captured. `.gitignore` files, `.git/info/exclude` and
//!   `.tlignore` files (gitignore syntax) are honoured whether or not the directory is
//!   a git repository. Not honoured, on purpose, so that what is captured depends on
//!   the project alone: ignore files in directories above the root, the user's
//!   global git excludes, and ripgrep's `.ignore` files.
//! - Nothing named `.tl` or `.git` is ever entered or captured, at any depth.
//! - Editor swap and backup files (`defaults::EDITOR_TEMPORARIES`) are left out
//!   unless an ignore file's rule says otherwise (`!*~` in `.tlignore`).
//! - **Empty directories are not captured**: the tree model is files and symlinks,
//!   as in git; a directory exists in a tree only through what it contains.
//! - FIFOs, sockets and device files are skipped with a [`WarningKind::Special`]
//!   warning; unreadable files and directories give [`WarningKind::Unreadable`];
//!   files larger than [`ScanOptions::max_file_bytes`] give [`WarningKind::TooLarge`].
//!   A file that vanishes between the walk and the read is silently absent (that is
//!   the current state). None of these is fatal; only an unreadable root is.
//!   Every warning names its path ([`ScanWarning`]'s `Display` is `path: message`).
//! - A path skipped although it is still there (unreadable, too large, never held
//!   still) is absent from [`ScanOutcome::tree`]; the caller puts back the version
//!   its last checkpoint has with [`keep_skipped`], so that skipping never records
//!   a file as deleted.
//!
//! # Opening (`RELIABILITY.md`, "Path safety", rule 4)
//!
//! The walk (the `ignore` crate) only enumerates names and evaluates the ignore
//! rules. Every file is then reached through directory handles: each directory of
//! its path opened `openat(O_DIRECTORY|O_NOFOLLOW)` below a handle on the root
//! ([`crate::dirfd`], shared with restore), the file itself `openat(O_NOFOLLOW|
//! O_NONBLOCK)` in its parent's handle, its metadata from `fstatat(AT_SYMLINK_
//! NOFOLLOW)` there or `fstat` of the open file, a symlink read with `readlinkat`.
//! A directory swapped for a symlink after the walk listed it makes its files
//! vanish from this capture; nothing outside the root is ever read. Each worker
//! keeps the handles of the directories it is in (the paths come sorted): a handle
//! is the directory itself, whatever its name becomes later.
//!
//! # Reading
//!
//! A file whose stat matches the previous [`StatCache`] (size, mtime, ctime, inode,
//! mode), whose entry is not racily clean, and whose hash `has_blob` confirms stored,
//! is not read. Every other file is read with a double stat (`fstat` of the open
//! file before and after the read). If size, mtime or ctime moved during the read,
//! it is read again, up to [`READ_TRIES`] times; after that it is **skipped** with
//! a [`WarningKind::ChangedWhileRead`] warning naming it and nothing of it handed
//! over: a torn read is a state the file never had. It keeps its previous version
//! ([`keep_skipped`]); the daemon queues it again, to be read once it settles.
//!
//! Content is read in parts of at most [`PART_RAW_MAX`] bytes, so a file is never
//! held whole in memory. Since a blob is named by the hash of its whole content,
//! which is known only at the end, a file longer than one part is read twice: a
//! first pass hashes it (and remembers a hash per part); only if the content is
//! new, a second pass reads it again, checks each part against the first pass's part
//! hash, compresses it and hands it to the sink. A file of at most one part is read
//! once and its buffer reused.
//!
//! The second pass holds the compressed parts of the file and hands them over only
//! once every part matched the first pass and the file's stat did not move since:
//! **no part of content that no entry refers to is handed over** (the parts of one
//! file, at most `max_file_bytes`, are in memory meanwhile). If the file changed
//! in between, nothing is handed over and it is read again from scratch (up to
//! [`READ_TRIES`] times, then skipped with a warning), and any other file that
//! deduplicated against that content is read again after the parallel phase. A
//! sink error stops the scan; the caller then commits nothing.
//!
//! # Content deduplication
//!
//! Content for which `has_blob` returns true, or that this scan already handed over
//! (two files with equal content), is not handed over again.
//!
//! # Not done here
//!
//! Writing records, the log, or the stat cache file: the caller turns parts into
//! records and saves [`ScanOutcome::stat_cache`] once they are durable.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags};
use rustix::io::Errno;

use crate::dirfd::{Reach, Walker};
use crate::statcache::{CachedStat, StatCache};
use crate::types::{BlobHash, Entry, Mode, Tree};

mod defaults;
mod diff;
pub use defaults::{is_editor_temporary, EDITOR_TEMPORARIES};
#[cfg(test)]
mod race_tests;
mod skipped;
mod targeted;
#[cfg(test)]
mod targeted_tests;
#[cfg(test)]
mod tests;

pub use diff::{diff_trees, Change};
pub use skipped::keep_skipped;
pub use targeted::{scan_paths, IgnoreRules, PartialScan};

/// The largest raw (uncompressed) part of a blob handed to the sink: the record
/// format's bound, so every part the scan makes is one the log accepts.
pub use crate::record::BLOB_PART_MAX_RAW as PART_RAW_MAX;

/// How many times a file that changes while being read is read again.
pub const READ_TRIES: usize = 3;

/// The name of tl's own ignore files (gitignore syntax), honoured in every directory.
pub const IGNORE_FILE_NAME: &str = ".tlignore";

/// Directory names never entered nor captured, at any depth.
pub const NEVER_CAPTURED: [&str; 2] = [".tl", ".git"];

/// Knobs of a scan; `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Files larger than this are skipped with a warning (`max_file_bytes` in
    /// `.tl/config.toml`). Default 100 MiB.
    pub max_file_bytes: u64,
    /// zstd compression level for new content. Default 1 (fast).
    pub zstd_level: i32,
    /// Worker threads for walking and reading; 0 means one per core. Default 0.
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            max_file_bytes: 100 * 1024 * 1024,
            zstd_level: 1,
            threads: 0,
        }
    }
}

/// One part of a new blob. A blob of `raw_len` bytes is handed over as parts at
/// offsets 0, [`PART_RAW_MAX`], 2 × [`PART_RAW_MAX`]… in that order; an empty blob is
/// one empty part.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlobPart {
    /// Hash of the whole raw content.
    pub hash: BlobHash,
    /// Length of the whole raw content.
    pub raw_len: u64,
    /// Offset of this part in the raw content.
    pub offset: u64,
    /// True when `data` is zstd-compressed (only done when it makes `data` smaller).
    pub compressed: bool,
    /// The part's bytes, at most [`PART_RAW_MAX`] once decompressed.
    pub data: Vec<u8>,
}

/// Why a path was left out of the tree (or captured with reservations).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WarningKind {
    /// A FIFO, socket or device file.
    Special,
    /// The file or directory could not be read (permissions, I/O error).
    Unreadable,
    /// The file is larger than `max_file_bytes`.
    TooLarge,
    /// The file kept changing while it was read.
    ChangedWhileRead,
    /// An ignore file could not be parsed or another walk problem.
    Walk,
}

impl WarningKind {
    /// True when the path is still there but its content could not be captured
    /// (unreadable, too large, never held still): the capture keeps the version
    /// the last checkpoint has, if any, instead of recording it as deleted (see
    /// [`keep_skipped`]). A special file is not "still there": what was tracked
    /// at that path is gone.
    pub fn keeps_previous_version(self) -> bool {
        matches!(
            self,
            WarningKind::Unreadable | WarningKind::TooLarge | WarningKind::ChangedWhileRead
        )
    }
}

/// A non-fatal problem met during a scan.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScanWarning {
    /// Path relative to the root (empty when the problem is not about one path).
    pub path: Vec<u8>,
    /// What happened.
    pub kind: WarningKind,
    /// A human-readable sentence, naming the setting to change where there is one.
    pub message: String,
}

/// `path: message` (the message alone when the problem is not about one path);
/// the path decoded lossily.
impl std::fmt::Display for ScanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "{}: {}",
                String::from_utf8_lossy(&self.path),
                self.message
            )
        }
    }
}

/// Counters of one scan.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ScanStats {
    /// Files and symlinks found (after ignore rules).
    pub files_seen: u64,
    /// Files whose content was read (stat cache misses).
    pub files_read: u64,
    /// Bytes read from files, all passes and retries included.
    pub bytes_read: u64,
    /// Distinct new blobs handed to the sink.
    pub blobs_new: u64,
    /// Raw bytes of those blobs.
    pub bytes_new_raw: u64,
    /// Bytes handed to the sink (after compression).
    pub bytes_new_stored: u64,
}

/// What a scan produces.
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    /// The full current tree.
    pub tree: Tree,
    /// The stat cache to use next time (save it once the new content is durable).
    pub stat_cache: StatCache,
    /// Non-fatal problems, sorted by path.
    pub warnings: Vec<ScanWarning>,
    /// Counters.
    pub stats: ScanStats,
}

/// A fatal scan failure. `E` is the sink's error type.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E> {
    /// The root cannot be listed (missing, not a directory, no permission).
    #[error("cannot read the project root {path}")]
    RootUnreadable {
        /// The root as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The worker thread pool could not be started.
    #[error("cannot start scan threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// The sink refused a part; the scan stopped.
    #[error("the blob sink failed")]
    Sink(E),
}

/// Scans `root` and returns its current tree; new content goes to `sink`.
///
/// `previous` is the stat cache of the last scan (or [`StatCache::new`]).
/// `has_blob` says whether content is already stored in the log. See the module
/// docs for the rules.
pub fn scan<E: Send>(
    root: &Path,
    previous: &StatCache,
    options: &ScanOptions,
    has_blob: &(dyn Fn(&BlobHash) -> bool + Sync),
    sink: &(dyn Fn(BlobPart) -> Result<(), E> + Sync),
) -> Result<ScanOutcome, ScanError<E>> {
    // Read before anything is stat'ed: see statcache's racily-clean rule.
    let taken_ns = now_ns();
    std::fs::read_dir(root).map_err(|source| ScanError::RootUnreadable {
        path: root.to_path_buf(),
        source,
    })?;
    let root_fd = open_root(root)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()?;
    let (found, mut warnings) = walk(root, pool.current_num_threads());
    let processed = process_found(
        root_fd.as_fd(),
        &found,
        Some(&pool),
        previous,
        options,
        has_blob,
        sink,
    )?;
    let mut stat_cache = StatCache::with_taken_ns(taken_ns);
    for (path, stat) in processed.cache {
        stat_cache.insert(path, stat);
    }
    warnings.extend(processed.warnings);
    warnings.sort_by(|a, b| a.path.cmp(&b.path));
    let (tree, stats) = (processed.tree, processed.stats);
    Ok(ScanOutcome {
        tree,
        stat_cache,
        warnings,
        stats,
    })
}

/// A handle on the root, every file is opened below (the root itself may be reached
/// through a symlink: it is the user's choice).
fn open_root<E>(root: &Path) -> Result<OwnedFd, ScanError<E>> {
    rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        FsMode::empty(),
    )
    .map_err(|e| ScanError::RootUnreadable {
        path: root.to_path_buf(),
        source: e.into(),
    })
}

/// What processing a list of found paths gave.
struct ProcessedAll {
    tree: Tree,
    cache: Vec<(Vec<u8>, CachedStat)>,
    warnings: Vec<ScanWarning>,
    stats: ScanStats,
}

/// Reads (or takes from the stat cache) every found path, in parallel on `pool`
/// when there are many, and assembles the entries: see the module docs for the
/// handling of content whose storing stopped half-way. Every path is reached from
/// `root` through directory handles (see [`crate::dirfd`]); each worker keeps the
/// handles of the directory it is in, and the paths come sorted, so a directory is
/// opened about once per worker.
fn process_found<E: Send>(
    root: BorrowedFd<'_>,
    found: &[Found],
    pool: Option<&rayon::ThreadPool>,
    previous: &StatCache,
    options: &ScanOptions,
    has_blob: &(dyn Fn(&BlobHash) -> bool + Sync),
    sink: &(dyn Fn(BlobPart) -> Result<(), E> + Sync),
) -> Result<ProcessedAll, ScanError<E>> {
    let scanner = Scanner {
        previous,
        options,
        has_blob,
        sink,
        claimed: Mutex::new(HashSet::new()),
        incomplete: Mutex::new(HashSet::new()),
        counters: Counters::default(),
    };
    let results: Vec<Processed> = match pool {
        Some(pool) if found.len() >= PARALLEL_MIN && pool.current_num_threads() > 1 => pool
            .install(|| {
                found
                    .par_iter()
                    .map_init(|| Walker::new(Some(root)), |w, f| scanner.process(w, f))
                    .collect::<Result<_, E>>()
            }),
        _ => {
            let mut w = Walker::new(Some(root));
            found
                .iter()
                .map(|f| scanner.process(&mut w, f))
                .collect::<Result<_, E>>()
        }
    }
    .map_err(ScanError::Sink)?;

    let mut tree = Tree::new();
    let mut cache = Vec::with_capacity(found.len());
    let mut warnings = Vec::new();
    let mut redo = Vec::new();
    let incomplete = scanner.incomplete.lock().unwrap().clone();
    for (found, processed) in found.iter().zip(results) {
        if let Some(warning) = processed.warning {
            warnings.push(warning);
        }
        if let Some(entry) = processed.entry {
            if incomplete.contains(&entry.hash) && !processed.emitted {
                redo.push(found);
                continue;
            }
            if let Some(stat) = processed.cache {
                cache.push((found.rel.clone(), stat));
            }
            tree.insert(found.rel.clone(), entry);
        }
    }
    // Files that deduplicated against content whose storing failed: read them
    // again, one by one, now that nobody else claims that content.
    let mut w = Walker::new(Some(root));
    for found in redo {
        let processed = scanner.process(&mut w, found).map_err(ScanError::Sink)?;
        if let Some(warning) = processed.warning {
            warnings.push(warning);
        }
        if let Some(entry) = processed.entry {
            if scanner.incomplete.lock().unwrap().contains(&entry.hash) && !processed.emitted {
                warnings.push(changed_warning(&found.rel));
                continue;
            }
            if let Some(stat) = processed.cache {
                cache.push((found.rel.clone(), stat));
            }
            tree.insert(found.rel.clone(), entry);
        }
    }
    let counters = &scanner.counters;
    let stats = ScanStats {
        files_seen: found.len() as u64,
        files_read: counters.files_read.load(Ordering::Relaxed),
        bytes_read: counters.bytes_read.load(Ordering::Relaxed),
        blobs_new: counters.blobs_new.load(Ordering::Relaxed),
        bytes_new_raw: counters.bytes_new_raw.load(Ordering::Relaxed),
        bytes_new_stored: counters.bytes_new_stored.load(Ordering::Relaxed),
    };
    Ok(ProcessedAll {
        tree,
        cache,
        warnings,
        stats,
    })
}

/// Below this many paths, processing stays on the calling thread (a live capture
/// of a few files should not wake a thread pool).
const PARALLEL_MIN: usize = 64;

/// A file or symlink the walk found.
struct Found {
    /// Absolute (root-joined) path.
    abs: PathBuf,
    /// Path relative to the root, `/`-separated bytes.
    rel: Vec<u8>,
}

/// Walks `root` in parallel, honouring the ignore rules; returns the files and
/// symlinks found (sorted by path) and the warnings about what was left out.
fn walk(root: &Path, threads: usize) -> (Vec<Found>, Vec<ScanWarning>) {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .same_file_system(false)
        .threads(threads)
        .add_custom_ignore_filename(IGNORE_FILE_NAME)
        .filter_entry(|entry| {
            let name = entry.file_name();
            !NEVER_CAPTURED.iter().any(|never| name == *never)
        });
    let found = Mutex::new(Vec::new());
    let warnings = Mutex::new(Vec::new());
    // Consulted only for the rare names that look like editor temporaries: is an
    // explicit rule keeping them (the walk has already applied every other rule)?
    let rules = Mutex::new(IgnoreRules::new(root));
    builder.build_parallel().run(|| {
        Box::new(|result| {
            match result {
                Ok(entry) => {
                    if entry.depth() == 0 {
                        return ignore::WalkState::Continue;
                    }
                    let rel = relative(root, entry.path());
                    match entry.file_type() {
                        Some(t) if t.is_dir() => {}
                        Some(t) if t.is_file() || t.is_symlink() => {
                            let name = entry.file_name().as_bytes();
                            if defaults::is_editor_temporary(name)
                                && !rules.lock().unwrap().explicitly_kept(&rel)
                            {
                                return ignore::WalkState::Continue;
                            }
                            found.lock().unwrap().push(Found {
                                abs: entry.path().to_path_buf(),
                                rel,
                            });
                        }
                        _ => warnings.lock().unwrap().push(ScanWarning {
                            path: rel,
                            kind: WarningKind::Special,
                            message: "skipped: not a regular file, directory or symlink \
                                      (FIFO, socket or device)"
                                .to_string(),
                        }),
                    }
                }
                Err(err) => warnings.lock().unwrap().push(walk_warning(root, &err)),
            }
            ignore::WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap();
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    (found, warnings.into_inner().unwrap())
}

/// Turns a walker error into a warning about the path it concerns.
fn walk_warning(root: &Path, err: &ignore::Error) -> ScanWarning {
    fn path_of(err: &ignore::Error) -> Option<&Path> {
        match err {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                path_of(err)
            }
            _ => None,
        }
    }
    let kind = match err.io_error() {
        Some(_) => WarningKind::Unreadable,
        None => WarningKind::Walk,
    };
    ScanWarning {
        path: path_of(err).map(|p| relative(root, p)).unwrap_or_default(),
        kind,
        message: format!("skipped: {err}"),
    }
}

/// `path` relative to `root`, as bytes.
fn relative(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root)
        .unwrap_or(path)
        .as_os_str()
        .as_bytes()
        .to_vec()
}

fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

fn changed_warning(rel: &[u8]) -> ScanWarning {
    ScanWarning {
        path: rel.to_vec(),
        kind: WarningKind::ChangedWhileRead,
        message: format!("skipped: changed while being read {READ_TRIES} times"),
    }
}

#[derive(Default)]
struct Counters {
    files_read: AtomicU64,
    bytes_read: AtomicU64,
    blobs_new: AtomicU64,
    bytes_new_raw: AtomicU64,
    bytes_new_stored: AtomicU64,
}

/// What processing one found path gave.
#[derive(Default)]
struct Processed {
    entry: Option<Entry>,
    /// The stat cache entry, when the file was stable while read.
    cache: Option<CachedStat>,
    warning: Option<ScanWarning>,
    /// True when this very path handed its content to the sink completely.
    emitted: bool,
}

/// The result of the first (hashing) pass over a file.
struct Hashed {
    hash: BlobHash,
    len: u64,
    /// Hash of each part, to check the second pass against.
    part_hashes: Vec<blake3::Hash>,
    /// The content, when it fits in one part (no second pass needed).
    single: Option<Vec<u8>>,
    /// `fstat` after the read.
    stat: CachedStat,
    /// True when the stat did not move during the read.
    stable: bool,
}

/// Why reading a file gave no capture.
enum ReadFailure {
    Io(io::Error),
    TooLarge(u64),
    Special,
}

impl From<io::Error> for ReadFailure {
    fn from(err: io::Error) -> ReadFailure {
        ReadFailure::Io(err)
    }
}

struct Scanner<'a, E> {
    previous: &'a StatCache,
    options: &'a ScanOptions,
    has_blob: &'a (dyn Fn(&BlobHash) -> bool + Sync),
    sink: &'a (dyn Fn(BlobPart) -> Result<(), E> + Sync),
    /// Hashes handed (or being handed) to the sink by this scan.
    claimed: Mutex<HashSet<BlobHash>>,
    /// Claimed hashes whose handing over stopped half-way.
    incomplete: Mutex<HashSet<BlobHash>>,
    counters: Counters,
}

impl<E> Scanner<'_, E> {
    /// Captures `found`, reached through `w`'s directory handles: its directories
    /// are opened one by one from the root, never following a symlink, so a
    /// directory swapped for a symlink since the walk makes the path vanish
    /// instead of leading out of the root.
    fn process(&self, w: &mut Walker<'_>, found: &Found) -> Result<Processed, E> {
        let comps: Vec<&[u8]> = found.rel.split(|&b| b == b'/').collect();
        let (name, dirs) = comps.split_last().expect("a found path has a component");
        match w.reach(dirs, false) {
            Ok(Reach::Dir) => {}
            // A directory on the way is gone or is no directory now (a symlink, a
            // file): nothing at this path belongs to the tree any more.
            Ok(Reach::Missing | Reach::NotDir(_)) => return Ok(Processed::default()),
            Err(err) => return Ok(self.unreadable(found, &err)),
        }
        let dir = w.fd();
        let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(Processed::default()),
            Err(err) => return Ok(self.unreadable(found, &err.into())),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => self.process_symlink(dir, name, found, &st),
            FileType::RegularFile => self.process_file(dir, name, found, &st),
            // Replaced by a directory since the walk; its content was not walked.
            FileType::Directory => Ok(Processed::default()),
            _ => Ok(Processed {
                warning: Some(self.special(found)),
                ..Processed::default()
            }),
        }
    }

    fn unreadable(&self, found: &Found, err: &io::Error) -> Processed {
        Processed {
            warning: Some(ScanWarning {
                path: found.rel.clone(),
                kind: WarningKind::Unreadable,
                message: format!("skipped: cannot read {}: {err}", found.abs.display()),
            }),
            ..Processed::default()
        }
    }

    fn special(&self, found: &Found) -> ScanWarning {
        ScanWarning {
            path: found.rel.clone(),
            kind: WarningKind::Special,
            message: "skipped: not a regular file, directory or symlink (FIFO, socket or device)"
                .to_string(),
        }
    }

    fn too_large(&self, found: &Found, size: u64) -> Processed {
        Processed {
            warning: Some(ScanWarning {
                path: found.rel.clone(),
                kind: WarningKind::TooLarge,
                message: format!(
                    "skipped: {size} bytes is more than max_file_bytes = {} \
                     (raise max_file_bytes in .tl/config.toml to capture it)",
                    self.options.max_file_bytes
                ),
            }),
            ..Processed::default()
        }
    }

    fn process_symlink(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        found: &Found,
        st: &rustix::fs::Stat,
    ) -> Result<Processed, E> {
        let target = match rustix::fs::readlinkat(dir, os(name), Vec::new()) {
            Ok(t) => t.into_bytes(),
            // Gone, or replaced by something else than a symlink since the stat.
            Err(Errno::NOENT | Errno::INVAL) => return Ok(Processed::default()),
            Err(err) => return Ok(self.unreadable(found, &err.into())),
        };
        let hash = BlobHash::of(&target);
        let emitted = if self.claim(&hash) {
            self.emit_single(hash, target.clone())?;
            true
        } else {
            false
        };
        Ok(Processed {
            entry: Some(Entry {
                hash,
                mode: Mode::Symlink,
                size: target.len() as u64,
                mtime_ns: CachedStat::of_stat(st).mtime_ns,
            }),
            emitted,
            ..Processed::default()
        })
    }

    fn process_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        found: &Found,
        st: &rustix::fs::Stat,
    ) -> Result<Processed, E> {
        let current = CachedStat::of_stat(st);
        if current.size > self.options.max_file_bytes {
            return Ok(self.too_large(found, current.size));
        }
        if let Some(hash) = self.previous.fresh_hash(&found.rel, &current) {
            if (self.has_blob)(&hash) || self.claimed.lock().unwrap().contains(&hash) {
                return Ok(Processed {
                    entry: Some(entry_of(&current, hash)),
                    cache: Some(CachedStat { hash, ..current }),
                    ..Processed::default()
                });
            }
        }
        self.counters.files_read.fetch_add(1, Ordering::Relaxed);
        for _ in 0..READ_TRIES {
            let hashed = match self.read_stable(dir, name) {
                Ok(h) => h,
                Err(ReadFailure::Io(err)) if err.kind() == io::ErrorKind::NotFound => {
                    return Ok(Processed::default())
                }
                Err(ReadFailure::Io(err)) => return Ok(self.unreadable(found, &err)),
                Err(ReadFailure::TooLarge(size)) => return Ok(self.too_large(found, size)),
                Err(ReadFailure::Special) => {
                    return Ok(Processed {
                        warning: Some(self.special(found)),
                        ..Processed::default()
                    })
                }
            };
            if !hashed.stable {
                // Never held still: nothing of it is stored, and the caller keeps
                // the version it has (see `keep_skipped`).
                break;
            }
            let entry = entry_of(&hashed.stat, hashed.hash);
            let cache = Some(CachedStat {
                hash: hashed.hash,
                ..hashed.stat
            });
            if !self.claim(&hashed.hash) {
                return Ok(Processed {
                    entry: Some(entry),
                    cache,
                    emitted: false,
                    ..Processed::default()
                });
            }
            let stored = match hashed.single {
                Some(data) => {
                    self.emit_single(hashed.hash, data)?;
                    true
                }
                None => self.emit_parts(dir, name, &hashed)?,
            };
            if stored {
                return Ok(Processed {
                    entry: Some(entry),
                    cache,
                    emitted: true,
                    ..Processed::default()
                });
            }
            self.incomplete.lock().unwrap().insert(hashed.hash);
        }
        Ok(Processed {
            warning: Some(changed_warning(&found.rel)),
            ..Processed::default()
        })
    }

    /// True when this caller must hand `hash` over: it is neither stored nor already
    /// handed over (completely, or in progress) by this scan.
    fn claim(&self, hash: &BlobHash) -> bool {
        if (self.has_blob)(hash) {
            return false;
        }
        let mut claimed = self.claimed.lock().unwrap();
        if claimed.insert(*hash) {
            return true;
        }
        // Claimed before: hand it over again only if that attempt failed.
        self.incomplete.lock().unwrap().remove(hash)
    }

    /// Opens `name` in `dir` as a regular file without following a symlink put
    /// there since the walk, and without blocking if it became a FIFO; the
    /// metadata is the open file's (`fstat`).
    fn open(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(File, Metadata), ReadFailure> {
        let fd = rustix::fs::openat(
            dir,
            os(name),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FsMode::empty(),
        )
        .map_err(|err| match err {
            // O_NOFOLLOW on a symlink fails with ELOOP: it was replaced since the
            // walk; report it like a vanished file, the next scan will see it.
            Errno::LOOP => io::Error::from(io::ErrorKind::NotFound),
            err => err.into(),
        })?;
        let file = File::from(fd);
        let metadata = file.metadata()?;
        if !metadata.file_type().is_file() {
            return Err(ReadFailure::Special);
        }
        Ok((file, metadata))
    }

    /// The first pass: reads and hashes the file until its stat holds still during a
    /// read, at most [`READ_TRIES`] times; the last try is returned either way.
    fn read_stable(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<Hashed, ReadFailure> {
        let mut last = None;
        for _ in 0..READ_TRIES {
            let (mut file, before) = self.open(dir, name)?;
            let before = stat_of(&before, BlobHash::default());
            let mut hasher = blake3::Hasher::new();
            let mut part_hashes = Vec::new();
            let mut single = None;
            let mut len = 0u64;
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = read_part(&mut file, &mut buf)?;
                self.counters
                    .bytes_read
                    .fetch_add(n as u64, Ordering::Relaxed);
                len += n as u64;
                if len > self.options.max_file_bytes {
                    return Err(ReadFailure::TooLarge(len));
                }
                if n == 0 && !part_hashes.is_empty() {
                    break;
                }
                hasher.update(&buf);
                part_hashes.push(blake3::hash(&buf));
                if n < PART_RAW_MAX {
                    if part_hashes.len() == 1 {
                        single = Some(std::mem::take(&mut buf));
                    }
                    break;
                }
            }
            let after = stat_of(&file.metadata()?, BlobHash::default());
            let stable = before.same_stat(&after) && after.size == len;
            let hashed = Hashed {
                hash: BlobHash(*hasher.finalize().as_bytes()),
                len,
                part_hashes,
                single,
                stat: CachedStat { size: len, ..after },
                stable,
            };
            if stable {
                return Ok(hashed);
            }
            last = Some(hashed);
        }
        Ok(last.expect("READ_TRIES > 0"))
    }

    /// The second pass over a multi-part file: reads and compresses every part,
    /// each checked against the first pass, and hands them to the sink only once
    /// all matched and the file's stat did not move since the first pass. Ok(false),
    /// with nothing handed over, when the file changed in between: no part of
    /// content that no entry will refer to is ever stored. The compressed parts of
    /// one file are held in memory meanwhile (at most `max_file_bytes`).
    fn emit_parts(&self, dir: BorrowedFd<'_>, name: &[u8], hashed: &Hashed) -> Result<bool, E> {
        let Ok((mut file, opened)) = self.open(dir, name) else {
            return Ok(false);
        };
        let unmoved = |m: &Metadata| stat_of(m, BlobHash::default()).same_stat(&hashed.stat);
        if !unmoved(&opened) {
            return Ok(false);
        }
        let mut parts = Vec::with_capacity(hashed.part_hashes.len());
        let mut buf = Vec::new();
        let mut offset = 0u64;
        let mut stored = 0u64;
        for part_hash in &hashed.part_hashes {
            buf.clear();
            let Ok(n) = read_part(&mut file, &mut buf) else {
                return Ok(false);
            };
            self.counters
                .bytes_read
                .fetch_add(n as u64, Ordering::Relaxed);
            if blake3::hash(&buf) != *part_hash {
                return Ok(false);
            }
            let (compressed, data) = self.compress(&buf);
            stored += data.len() as u64;
            parts.push(BlobPart {
                hash: hashed.hash,
                raw_len: hashed.len,
                offset,
                compressed,
                data,
            });
            offset += n as u64;
        }
        // Growth past the last part is invisible to the part hashes: the stat says.
        if offset != hashed.len || !file.metadata().is_ok_and(|m| unmoved(&m)) {
            return Ok(false);
        }
        for part in parts {
            (self.sink)(part)?;
        }
        self.count_new(hashed.len, stored);
        Ok(true)
    }

    /// Hands over content that fits in one part.
    fn emit_single(&self, hash: BlobHash, raw: Vec<u8>) -> Result<(), E> {
        assert!(
            raw.len() <= PART_RAW_MAX,
            "emit_single needs at most one part"
        );
        let raw_len = raw.len() as u64;
        let (compressed, data) = match self.compress(&raw) {
            (true, data) => (true, data),
            (false, _) => (false, raw),
        };
        self.count_new(raw_len, data.len() as u64);
        (self.sink)(BlobPart {
            hash,
            raw_len,
            offset: 0,
            compressed,
            data,
        })
    }

    /// zstd-compresses `raw`; `(false, raw copy)` when that does not make it smaller.
    fn compress(&self, raw: &[u8]) -> (bool, Vec<u8>) {
        match zstd::bulk::compress(raw, self.options.zstd_level) {
            Ok(data) if data.len() < raw.len() => (true, data),
            _ => (false, raw.to_vec()),
        }
    }

    fn count_new(&self, raw: u64, stored: u64) {
        let c = &self.counters;
        c.blobs_new.fetch_add(1, Ordering::Relaxed);
        c.bytes_new_raw.fetch_add(raw, Ordering::Relaxed);
        c.bytes_new_stored.fetch_add(stored, Ordering::Relaxed);
    }
}

/// Reads up to [`PART_RAW_MAX`] bytes (fewer only at the end of the file) into `buf`.
fn read_part(file: &mut File, buf: &mut Vec<u8>) -> io::Result<usize> {
    debug_assert!(buf.is_empty());
    file.take(PART_RAW_MAX as u64).read_to_end(buf)
}

fn stat_of(metadata: &Metadata, hash: BlobHash) -> CachedStat {
    CachedStat {
        size: metadata.len(),
        mtime_ns: mtime_ns(metadata),
        ctime_ns: metadata.ctime().saturating_mul(1_000_000_000) + metadata.ctime_nsec(),
        inode: metadata.ino(),
        mode: metadata.mode(),
        hash,
    }
}

fn mtime_ns(metadata: &Metadata) -> i64 {
    metadata.mtime().saturating_mul(1_000_000_000) + metadata.mtime_nsec()
}

fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

fn entry_of(stat: &CachedStat, hash: BlobHash) -> Entry {
    Entry {
        hash,
        mode: Mode::of_file(stat.mode),
        size: stat.size,
        mtime_ns: stat.mtime_ns,
    }
}
