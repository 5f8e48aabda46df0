//! What can stop a GC. Whatever it is, the old log is left whole: a GC fails
//! before its swap, or finishes it.

use std::path::PathBuf;

use tl_wal::Lsn;

use crate::retention::SelectError;
use crate::store::StoreError;

/// A GC that could not be done (the CLI says what to do about it).
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The store failed (opening, reading, the lock held by another GC).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log has damage: thinning it would fold the damage into the new log.
    #[error("the log has damage at LSN {lsn} ({what}); GC does not thin a damaged log")]
    Damaged {
        /// Where the first damage is.
        lsn: Lsn,
        /// What it is.
        what: String,
    },
    /// The chain of commits does not verify.
    #[error("the chain of commits breaks at LSN {lsn} (seq {seq}); GC does not thin a log that may have been tampered with")]
    ChainBroken {
        /// The commit whose chain did not match.
        lsn: Lsn,
        /// Its sequence number.
        seq: u64,
    },
    /// A pin or held state names no state.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// A pin names an LSN where no checkpoint starts.
    #[error("pin {name} names LSN {lsn}, where no checkpoint starts")]
    PinWithoutCheckpoint {
        /// The pin.
        name: String,
        /// What it names.
        lsn: Lsn,
    },
    /// Content a kept checkpoint needs is not (wholly) in the log.
    #[error("content {hash} of {path} in checkpoint {checkpoint} is missing from the log")]
    MissingContent {
        /// Hex hash.
        hash: String,
        /// A path that has it.
        path: String,
        /// The checkpoint's id.
        checkpoint: String,
    },
    /// `.tl/gc/` is there although no GC was interrupted (recovery ran at open).
    #[error("{dir} already exists")]
    Leftover {
        /// `.tl/gc/`.
        dir: PathBuf,
    },
    /// Opening or creating the new log failed.
    #[error(transparent)]
    Open(#[from] tl_wal::OpenError),
    /// Writing the new log failed.
    #[error(transparent)]
    Append(#[from] tl_wal::AppendError),
    /// Reading a log failed.
    #[error(transparent)]
    Read(#[from] tl_wal::ReadError),
    /// The new log does not hold what the old one promised: it was not used.
    #[error("the new log failed verification ({what}); the old log is unchanged")]
    Verify {
        /// What differed.
        what: String,
    },
    /// Cut short by [`Cancel`](super::Cancel) before the swap; the old log is
    /// unchanged and what was written of the new one removed.
    #[error("the GC was stopped before it replaced the log; the log is unchanged")]
    Cancelled,
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
