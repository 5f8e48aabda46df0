//! `tl-wal`: the checksummed, segmented write-ahead log that is the single source of
//! truth of `tl`.
//!
//! The log stores opaque records in batches. A batch is acknowledged (its `append`
//! returns) only once a sync covering it has returned; concurrent appenders are
//! grouped into one write and one `fdatasync`. Every frame carries a crc salted with
//! its segment's random salt, its own LSN (its byte position in the whole log), a
//! back-link to the previous frame's crc and the LSN through which the log was
//! durable when it was written, so recovery can tell a torn tail (cut it, keep the
//! bytes in quarantine) from corruption of acknowledged data (report, never cut).
//! The byte layout is in `wal/FORMAT.md`.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use tl_wal::{Options, Wal};
//! let (wal, report) = Wal::open(
//!     dir.path().join("wal"),
//!     dir.path().join("quarantine"),
//!     Options::default(),
//! )?;
//! assert!(report.created);
//! let done = wal.append(&[b"hello", b"world"])?;
//! let records: Vec<_> = wal.iter_from(done.lsn)?.collect::<Result<_, _>>()?;
//! assert_eq!(records[1].data, b"world");
//! assert!(records[1].last_in_batch);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Besides `open`: `Wal::append_batches` makes many batches durable with one sync
//! per segment touched, `Wal::create` starts a log with a given repository id, and
//! `Wal::open_sealed` appends after segments without changing a byte of them (GC's
//! rewritten log, `index/GC.md`).
//!
//! What it is not: it knows nothing of files, paths or trees (that is `tl-index`),
//! and it does not interpret records. Limits: a frame carries at most
//! [`format::FRAME_PAYLOAD_MAX`] bytes, a record at most [`format::RECORD_MAX`].

mod cursor;
mod error;
pub mod format;
mod log;
mod lsn;
pub mod private_fs;
pub mod storage;
pub mod testing;
#[cfg(target_os = "linux")]
mod uring;
mod writer;

use std::path::Path;
use std::sync::Arc;

pub use error::{AppendError, OpenError, ReadError, Unsealable};
pub use log::{parse_segment_name, segment_name, Damage, LogIter, Record, VerifyReport};
pub use lsn::Lsn;
pub use storage::{FsStorage, SegmentFile, Storage};
pub use writer::{encoded_len, Appended, Options, RecoveryReport, TornTail, Wal};

/// True when io_uring can be used on this machine.
pub fn uring_available() -> bool {
    #[cfg(target_os = "linux")]
    {
        uring::available()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// A read-only view of a log, for readers that run beside a writer (or on a log
/// they must not modify). It never truncates or quarantines anything: reading ends
/// where the valid prefix of the last segment ends.
pub struct LogReader {
    storage: Arc<dyn Storage>,
    segs: Vec<log::Seg>,
    scan_corruption: Vec<Damage>,
}

impl LogReader {
    /// Opens the log in `dir` read-only. `quarantine` is where a writer's recovery
    /// would keep cut bytes; a reader never writes there.
    pub fn open(
        dir: impl AsRef<Path>,
        quarantine: impl AsRef<Path>,
    ) -> Result<LogReader, OpenError> {
        let dir = dir.as_ref();
        let quarantine = quarantine.as_ref();
        if !dir.is_dir() {
            return Err(OpenError::Io {
                path: dir.to_path_buf(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        let storage = FsStorage::new(dir, quarantine).map_err(|source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        LogReader::open_storage(Arc::new(storage))
    }

    /// Opens the log held by `storage` read-only.
    pub fn open_storage(storage: Arc<dyn Storage>) -> Result<LogReader, OpenError> {
        let found = log::discover(&*storage)?;
        let mut segs = found.segs;
        let mut scan_corruption = Vec::new();
        if let Some(last) = segs.last_mut() {
            let s = &*storage;
            let file = s
                .open_read(&last.name)
                .map_err(|e| log::io_err(s, &last.name, e))?;
            let scan = log::scan_tail(s, last, file).map_err(|e| log::io_err(s, &last.name, e))?;
            last.limit = scan.valid_end;
            scan_corruption = scan.corruption;
        }
        Ok(LogReader {
            storage,
            segs,
            scan_corruption,
        })
    }

    /// First LSN held.
    pub fn start_lsn(&self) -> Lsn {
        self.segs
            .first()
            .map(|s| s.header.base_lsn)
            .unwrap_or(Lsn::ZERO)
    }

    /// End of the valid log.
    pub fn end_lsn(&self) -> Lsn {
        self.segs.last().map(|s| s.end_lsn()).unwrap_or(Lsn::ZERO)
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.segs.len()
    }

    /// Corruption found in the last segment while finding its end.
    pub fn tail_corruption(&self) -> &[Damage] {
        &self.scan_corruption
    }

    /// Iterates records from `lsn` (a record boundary).
    pub fn iter_from(&self, lsn: Lsn) -> Result<LogIter, ReadError> {
        LogIter::new(self.storage.clone(), self.segs.clone(), lsn)
    }

    /// Reads the record that starts at `lsn`.
    pub fn read(&self, lsn: Lsn) -> Result<Vec<u8>, ReadError> {
        writer::read_one(self.iter_from(lsn)?, lsn)
    }

    /// Reads every segment and reports all damage.
    pub fn verify(&self) -> Result<VerifyReport, ReadError> {
        log::verify(self.storage.clone(), self.segs.clone())
    }
}
