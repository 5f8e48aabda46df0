//! Typed errors. Each names the segment file, the offset and the LSN where it
//! applies, and what was expected, so that `tl` can tell the user what to run next.

use std::io;
use std::path::PathBuf;

use crate::format::{FrameProblem, HeaderProblem};
use crate::Lsn;

/// Opening a log directory failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// An I/O error on a file of the log.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process holds the log's writer lock.
    #[error("{lock} is held by another tl writer{}; stop it or wait", holder_suffix(*holder))]
    Locked {
        /// The lock file.
        lock: PathBuf,
        /// The pid the holder recorded in the lock file, if it did.
        holder: Option<u32>,
    },
    /// A file in the segment directory that is not a segment.
    #[error(
        "{path} is not a tl segment (expected <20-digit LSN>.seg); \
         move it out of the log directory"
    )]
    ForeignFile {
        /// The file.
        path: PathBuf,
    },
    /// A segment written by a newer (or unknown) format version.
    #[error(
        "{path} has segment format version {found}; this tl reads version {supported}: \
         upgrade tl"
    )]
    UnsupportedVersion {
        /// The segment.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this code reads.
        supported: u32,
    },
    /// A segment header that does not validate.
    #[error("{path}: damaged segment header at offset 0: {problem}")]
    BadHeader {
        /// The segment.
        path: PathBuf,
        /// What is wrong.
        problem: HeaderProblem,
    },
    /// A segment whose header disagrees with its file name.
    #[error("{path}: header says base LSN {header_lsn} but the file name says {name_lsn}")]
    NameMismatch {
        /// The segment.
        path: PathBuf,
        /// LSN in the header.
        header_lsn: Lsn,
        /// LSN in the file name.
        name_lsn: Lsn,
    },
    /// A segment of another log.
    #[error("{path} belongs to another log (repository id differs from {first})")]
    ForeignSegment {
        /// The segment.
        path: PathBuf,
        /// The first segment, whose id the others must share.
        first: PathBuf,
    },
    /// Segments do not join up: one is missing (or truncated) in the middle.
    #[error(
        "log is not contiguous: {previous} ends at LSN {expected} but the next segment \
         {next} starts at LSN {found} (a segment is missing or was truncated)"
    )]
    MissingSegment {
        /// The segment before the hole.
        previous: PathBuf,
        /// The LSN the next segment should start at.
        expected: Lsn,
        /// The segment after the hole.
        next: PathBuf,
        /// The LSN it starts at.
        found: Lsn,
    },
    /// `Wal::create` found a segment: the directory already holds a log (or the
    /// remains of one), which a new log must not be mixed with.
    #[error("{dir} already holds a log ({segment}); a new log is created only where none is")]
    AlreadyExists {
        /// The segment directory.
        dir: PathBuf,
        /// The first segment file found there.
        segment: PathBuf,
    },
    /// `Wal::open_sealed` found no segment to continue after.
    #[error("{dir} holds no segment to continue after; create the log instead")]
    NoSegment {
        /// The segment directory.
        dir: PathBuf,
    },
    /// `Wal::open_sealed` found a last segment that it could not leave unchanged.
    #[error("{segment} cannot stay unchanged with new segments after it: {reason}")]
    NotSealed {
        /// The last segment.
        segment: PathBuf,
        /// Why not.
        reason: Unsealable,
    },
}

/// Appending failed. Nothing of the batch is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// An earlier write or sync failed; the log refuses writes until reopened.
    #[error(
        "the log writer is poisoned by an earlier I/O failure ({cause}); nothing more is \
         written until the log is reopened"
    )]
    Poisoned {
        /// The first failure.
        cause: String,
    },
    /// This append's write or sync failed (the writer is now poisoned).
    #[error("writing {path} at offset {offset} (LSN {lsn}) failed: {source}")]
    Io {
        /// The segment.
        path: PathBuf,
        /// File offset of the failed write.
        offset: u64,
        /// LSN of the failed write.
        lsn: Lsn,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A batch with no records.
    #[error("a batch must hold at least one record")]
    EmptyBatch,
    /// A record over the maximum size.
    #[error("record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The log was closed.
    #[error("the log is closed")]
    Closed,
}

/// Reading the log failed at a place.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A frame that does not validate inside data that should be intact.
    #[error(
        "{path}: damaged frame at offset {offset} (LSN {lsn}): {problem}; {}",
        match .resumes_at {
            Some(r) => format!("reading resumes at LSN {r} (LSNs {lsn}..{r} skipped)"),
            None => "nothing readable follows in this segment".to_string(),
        }
    )]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// File offset of the bad frame.
        offset: u64,
        /// Its LSN.
        lsn: Lsn,
        /// What is wrong.
        problem: FrameProblem,
        /// Where the next valid batch starts, if any.
        resumes_at: Option<Lsn>,
    },
    /// An I/O error while reading.
    #[error("reading {path} at offset {offset} failed: {source}")]
    Io {
        /// The segment.
        path: PathBuf,
        /// Offset of the read.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The LSN is outside the log.
    #[error("LSN {lsn} is outside the log (which holds LSNs {start}..{end})")]
    OutOfRange {
        /// Requested LSN.
        lsn: Lsn,
        /// First LSN held.
        start: Lsn,
        /// End of the durable log.
        end: Lsn,
    },
    /// The LSN is inside the log but no record starts there.
    #[error("{path}: no record starts at LSN {lsn} (offset {offset})")]
    NotARecord {
        /// The segment.
        path: PathBuf,
        /// File offset.
        offset: u64,
        /// Requested LSN.
        lsn: Lsn,
    },
}

/// Why `Wal::open_sealed` cannot continue after the last segment without touching it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsealable {
    /// The segment holds no frame: the next segment would start at its base LSN and
    /// so need its file name.
    #[error("it holds no frames, so the next segment would need its name")]
    NoFrames,
    /// Recovery would cut a torn tail off the segment (truncating the file).
    #[error(
        "its valid data ends at offset {offset}, {bytes} bytes before its end (a torn tail \
         that recovery would cut)"
    )]
    TornTail {
        /// File offset where the valid data ends.
        offset: u64,
        /// Bytes after it.
        bytes: u64,
    },
}

/// " (pid N)" for [`OpenError::Locked`] when the holder is known.
fn holder_suffix(holder: Option<u32>) -> String {
    holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
}
