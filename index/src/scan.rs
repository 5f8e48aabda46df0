//! Capture by scanning: walk a project directory, and produce its current [`Tree`]
//! plus the content not stored yet, handed record by record to a sink.
//!
//! ```no_run
//! use std::path::Path;
//! use tl_index::scan::{scan, ScanOptions};
//! use tl_index::statcache::StatCache;
//! use tl_index::types::BlobHash;
//!
//! let root = Path::new("/some/project");
//! let cache_path = root.join(".tl/index/statcache");
//! let previous = StatCache::load(&cache_path);
//! let outcome = scan::<std::io::Error>(
//!     root,
//!     &previous,
//!     &ScanOptions::default(),
//!     &|_hash: &BlobHash| false, // ask the blob index: is this content stored?
//!     &|new| { /* turn into a Blob or Chunked record */ let _ = new.into_record(); Ok(()) },
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
//! - Nothing named `.tl` or `.git` is ever entered or captured, at any depth, nor
//!   a file or symlink named as restore's temporaries (`.tl-tmp-PID-N`,
//!   [`crate::restore::is_temporary`]: one a killed restore left behind),
//!   whatever the ignore files say.
//! - Editor swap and backup files (`defaults::EDITOR_TEMPORARIES`) and files that
//!   usually hold secrets (`defaults::SECRET_FILES`: `.env`, `*.pem`, `*.key`,
//!   `id_rsa`…) are left out unless an ignore file's rule says otherwise (`!*~`,
//!   `!.env` in `.tlignore`); the secrets a full scan left out are listed in
//!   [`ScanOutcome::secrets_left_out`], so the caller can say how to include them.
//! - **Empty directories are not captured**: the tree model is files and symlinks,
//!   as in git; a directory exists in a tree only through what it contains.
//! - FIFOs, sockets and device files are skipped with a [`WarningKind::Special`]
//!   warning; unreadable files and directories give [`WarningKind::Unreadable`];
//!   files larger than [`ScanOptions::max_file_bytes`] give [`WarningKind::TooLarge`].
//!   A file that vanishes between the walk and the read (or while it is read) is
//!   silently absent: that is the current state, and the checkpoint records it
//!   deleted. One whose type changed since its stat (a file replaced by a
//!   symlink, a symlink by a file) is stat'ed again and captured as what it is
//!   now; one replaced by a directory is absent, the directory's content left to
//!   the next scan (it was not there when the walk listed the names). The
//!   reader's seam ([`ReadSeam`]) is how the tests make these happen. None of
//!   these is fatal; only an unreadable root is.
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
//! A file of at most [`CHUNK_MIN_FILE`] bytes is read into memory once, hashed,
//! and handed over as one blob ([`NewRecord::Part`]) once its stat held still. A
//! bigger file is read once as a stream and cut into content-defined chunks
//! (FastCDC, `index/CHUNKS.md`): each chunk is hashed and, unless stored or
//! handed over already, compressed and handed over at once, so that memory is one
//! chunker buffer (8 MiB) whatever the file's size, and an edit stores about the
//! edited bytes plus a chunk. Once the file's stat held still through the read,
//! its chunk list ([`NewRecord::Chunks`]) is handed over, named by the hash of the
//! whole content. A big file that moved during the read leaves the chunks
//! already handed over in the log with no entry referring to them: the price of
//! not holding the file, bounded by one read of it, and removed by the next GC.
//! No entry ever refers to content that was not whole when read. A sink error
//! stops the scan; the caller then commits nothing.
//!
//! # Content deduplication
//!
//! Content for which `has_blob` returns true, or that this scan already handed over
//! (two files with equal content, two files sharing a chunk), is not handed over
//! again.
//!
//! # Not done here
//!
//! Writing records, the log, or the stat cache file: the caller turns parts into
//! records and saves [`ScanOutcome::stat_cache`] once they are durable.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{Mode as FsMode, OFlags};

use crate::record::{Chunk, Codec, Record, CHUNK_PARAMS_V1};
use crate::repopath::RepoPath;
use crate::statcache::StatCache;
use crate::types::{BlobHash, Tree};

mod chunker;
pub use chunker::PreviousChunks;
mod defaults;
mod diff;
mod estimate;
pub mod leaves;
pub use defaults::{
    default_rule, is_editor_temporary, is_secret, DefaultRule, EDITOR_TEMPORARIES, SECRET_FILES,
};
mod plan;
#[cfg(test)]
mod race_tests;
mod read;
#[cfg(test)]
mod reuse_tests;
mod seam;
mod skipped;
mod targeted;
#[cfg(test)]
mod targeted_tests;
#[cfg(test)]
mod tests;
mod walk;

pub use diff::{diff_trees, Change};
pub use estimate::{BatchEstimate, DirBytes, LARGEST_DIRS_MAX};
pub use plan::{plan, Planned};
use read::process_found;
pub use seam::{ReadSeam, Seam};
pub use skipped::keep_skipped;
pub use targeted::{plan_paths, scan_paths, IgnoreRules, PartialScan, PlannedPaths};

/// The largest raw (uncompressed) part of a blob handed to the sink: the record
/// format's bound, so every part the scan makes is one the log accepts.
pub use crate::record::BLOB_PART_MAX_RAW as PART_RAW_MAX;

/// Files bigger than this are stored as content-defined chunks; smaller ones as
/// one blob. 1 MiB: 4 of the 10,104 files of the medium bench corpus are bigger,
/// so the small-file path the benches measure is untouched, while a big file's
/// edit stores about one average chunk (1 MiB) instead of the file.
pub const CHUNK_MIN_FILE: u64 = 1 << 20;

/// How many times a file that changes while being read is read again.
pub const READ_TRIES: usize = 3;

/// The name of tl's own ignore files (gitignore syntax), honoured in every directory.
pub const IGNORE_FILE_NAME: &str = ".tlignore";

/// Directory names never entered nor captured, at any depth.
pub const NEVER_CAPTURED: [&str; 2] = [crate::layout::TL_DIR, ".git"];

/// Knobs of a scan; `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Files larger than this are skipped with a warning (`max_file_bytes` in
    /// `.tl/config.toml`). Default 1 GiB (issue 13: big files are affordable
    /// once they are chunked; a disk image or a dataset above it is still left
    /// out, by name).
    pub max_file_bytes: u64,
    /// zstd compression level for new content. Default 1 (fast).
    pub zstd_level: i32,
    /// Worker threads for walking and reading; 0 means one per core. Default 0.
    pub threads: usize,
    /// What stands between the scan and the files it reads: nothing by default;
    /// a test's faults ([`ReadSeam`]).
    pub seam: Seam,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            max_file_bytes: 1 << 30,
            zstd_level: 1,
            threads: 0,
            seam: Seam::default(),
        }
    }
}

/// A new blob, whole in one part: a small file's content, a symlink's target, or
/// a chunk of a big file (at most [`PART_RAW_MAX`] bytes; an empty blob is one
/// empty part).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlobPart {
    /// Hash of the raw content.
    pub hash: BlobHash,
    /// Length of the raw content.
    pub raw_len: u64,
    /// Offset of this part in the raw content (0: the scan writes whole blobs).
    pub offset: u64,
    /// True when `data` is zstd-compressed (only done when it makes `data` smaller).
    pub compressed: bool,
    /// The part's bytes, at most [`PART_RAW_MAX`] once decompressed.
    pub data: Vec<u8>,
}

/// The chunk list of a big file's content (or one run of it: see
/// [`crate::record::CHUNKED_RUN_MAX`]); its chunks were handed over before it, or
/// are stored already.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChunkList {
    /// Hash of the whole raw content.
    pub hash: BlobHash,
    /// Length of the whole raw content.
    pub raw_len: u64,
    /// Where the first chunk starts in the content.
    pub offset: u64,
    /// The chunks, in order.
    pub chunks: Vec<Chunk>,
}

/// What a scan asks of the store about the content it holds already.
pub trait Stored: Sync {
    /// True when content `hash` is whole in the log: the scan does not hand it
    /// over again.
    fn has_blob(&self, hash: &BlobHash) -> bool;

    /// The chunks of the content `path` held in the newest state, when that
    /// content is stored as a chunk list, with its leaves when they are known:
    /// the chunker tries them in place first (`index/CHUNKS.md`, "Reading a big
    /// file again"). `None` when there is no such list; the chunks are the same
    /// either way, only the work differs.
    fn previous_chunks(&self, path: &[u8]) -> Option<PreviousChunks>;

    /// Keeps the leaves of the content `hash` just read at `path` for the next
    /// read ([`leaves`]). A cache: failing to keep them costs only time.
    fn keep_leaves(&self, path: &[u8], hash: &BlobHash, leaves: &leaves::Leaves);
}

/// A closure that answers `has_blob` is a [`Stored`] that knows no chunk list.
impl<F: Fn(&BlobHash) -> bool + Sync> Stored for F {
    fn has_blob(&self, hash: &BlobHash) -> bool {
        self(hash)
    }

    fn previous_chunks(&self, _path: &[u8]) -> Option<PreviousChunks> {
        None
    }

    fn keep_leaves(&self, _path: &[u8], _hash: &BlobHash, _leaves: &leaves::Leaves) {}
}

/// What a scan hands to its sink: one content record to write.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NewRecord {
    /// A whole blob.
    Part(BlobPart),
    /// A chunk list.
    Chunks(ChunkList),
}

impl NewRecord {
    /// The record to write.
    pub fn into_record(self) -> Record {
        match self {
            NewRecord::Part(p) => Record::Blob {
                hash: p.hash,
                raw_len: p.raw_len,
                offset: p.offset,
                codec: if p.compressed {
                    Codec::Zstd
                } else {
                    Codec::None
                },
                data: p.data,
            },
            NewRecord::Chunks(c) => Record::Chunked {
                hash: c.hash,
                raw_len: c.raw_len,
                offset: c.offset,
                params: CHUNK_PARAMS_V1,
                chunks: c.chunks,
            },
        }
    }

    /// The hash of the content the record stores (of the chunk, for a chunk).
    pub fn hash(&self) -> BlobHash {
        match self {
            NewRecord::Part(p) => p.hash,
            NewRecord::Chunks(c) => c.hash,
        }
    }
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
    /// Path relative to the root (the root itself when the problem is not about
    /// one path).
    pub path: RepoPath,
    /// What happened.
    pub kind: WarningKind,
    /// A human-readable sentence, naming the setting to change where there is one.
    pub message: String,
}

/// `path: message` (the message alone when the problem is not about one path);
/// the path decoded lossily.
impl std::fmt::Display for ScanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
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
    /// Bytes of big files taken as chunks of their previous version, found in
    /// place by hash without cutting again (part of `bytes_read`).
    pub bytes_reused: u64,
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
    /// Files left out because their names say they usually hold secrets
    /// ([`SECRET_FILES`]) and no ignore file's rule keeps them, sorted.
    pub secrets_left_out: Vec<RepoPath>,
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
/// `stored` says whether content is already stored in the log, and what a big
/// file's previous chunks were ([`Stored`]). See the module
/// docs for the rules.
pub fn scan<E: Send>(
    root: &Path,
    previous: &StatCache,
    options: &ScanOptions,
    stored: &dyn Stored,
    sink: &(dyn Fn(NewRecord) -> Result<(), E> + Sync),
) -> Result<ScanOutcome, ScanError<E>> {
    plan(root, options)?.read(previous, options, stored, sink)
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

fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}
