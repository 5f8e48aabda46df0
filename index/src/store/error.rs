//! What can go wrong in the store.

use std::path::{Path, PathBuf};

use tl_wal::private_fs;
use tl_wal::Lsn;

use crate::record;
use crate::snapshot;

/// A store error: what went wrong (the CLI says what to do about it).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No `.tl` here or above.
    #[error("{0} is not inside a tl project (no .tl directory here or above)")]
    NotInitialized(PathBuf),
    /// `tl init` where `.tl` exists.
    #[error("{0} is already initialised (it has a .tl directory)")]
    AlreadyInitialized(PathBuf),
    /// `.tl` is a symlink: never followed, since another user could point it
    /// at a store of theirs.
    #[error(
        "{} is a symlink to {}; tl refuses to follow it, as another user could point it \
         at a store of theirs",
        path.display(),
        target.display()
    )]
    TlSymlink {
        /// The `.tl` link.
        path: PathBuf,
        /// Where it points (empty if unreadable).
        target: PathBuf,
    },
    /// `.tl` is a directory another uid owns: refused, since its owner could
    /// rewrite the history tl replays or read what tl captures.
    #[error(
        "{} is owned by uid {owner}, not by uid {ours} running tl; tl refuses a store \
         another user owns, as they could rewrite the history it replays or read what it \
         captures",
        path.display()
    )]
    TlNotOurs {
        /// The `.tl` directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        ours: u32,
    },
    /// A capture would add more than `max_batch_bytes` and its policy refused
    /// it; nothing was stored.
    #[error("this capture would add {0}")]
    BatchOverLimit(Box<super::OverLimit>),
    /// Opening the log failed.
    #[error(transparent)]
    Open(#[from] tl_wal::OpenError),
    /// Appending failed.
    #[error(transparent)]
    Append(#[from] tl_wal::AppendError),
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] tl_wal::ReadError),
    /// A record that does not decode.
    #[error("record at LSN {lsn} does not decode: {source}")]
    Decode {
        /// Where.
        lsn: Lsn,
        /// Why.
        #[source]
        source: record::DecodeError,
    },
    /// Content missing or not matching its hash.
    #[error("content {hash} is missing or damaged in the log ({why})")]
    Blob {
        /// Hex hash.
        hash: String,
        /// What is wrong.
        why: String,
    },
    /// A time expression, pin or id that names no checkpoint.
    #[error(transparent)]
    Resolve(#[from] super::ResolveError),
    /// A pin that cannot be made, moved or deleted.
    #[error(transparent)]
    Pin(#[from] super::PinError),
    /// A timeline that cannot be made, renamed, removed or switched to.
    #[error(transparent)]
    Timeline(super::TimelineError),
    /// Nothing to undo.
    #[error(transparent)]
    Undo(#[from] crate::switch::UndoError),
    /// History asked of a lean store (a long-lived writer's, see
    /// [`Store::go_lean`](super::Store::go_lean)), which keeps only the last
    /// checkpoint in memory.
    #[error("this store (a watcher's) keeps no history in memory; open the store anew to read it")]
    Lean,
    /// There is no checkpoint to write a snapshot of.
    #[error("there are no checkpoints to compact")]
    NothingToCompact,
    /// A scan failed.
    #[error("capture failed: {0}")]
    Scan(String),
    /// A snapshot problem.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// A key `tl config` does not know.
    #[error("unknown setting `{key}`; known settings: {known}")]
    UnknownSetting {
        /// The key as given.
        key: String,
        /// Every known key, comma-separated.
        known: String,
    },
    /// `.tl/config.toml` is invalid.
    #[error("{path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The `[retention]` section of `.tl/config.toml` is invalid.
    #[error("{path}: {source}")]
    Retention {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: crate::retention::ConfigError,
    },
    /// An entry under `.tl/` that `tl` did not make (a symlink, a directory where
    /// a file belongs): refused rather than written through.
    #[error(transparent)]
    UnexpectedEntry(#[from] private_fs::UnexpectedEntry),
    /// `.tl/` holds a state no GC leaves, even interrupted (someone moved
    /// things by hand).
    #[error("{dir}: {why}")]
    GcInconsistent {
        /// `.tl/gc/`.
        dir: PathBuf,
        /// What was found.
        why: String,
    },
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

pub(crate) type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| match private_fs::unexpected_entry(&source) {
        Some(refused) => StoreError::UnexpectedEntry(refused.clone()),
        None => StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}
