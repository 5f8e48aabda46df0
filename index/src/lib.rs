//! `tl-index`: what the log's records mean.
//!
//! This crate owns the record payloads stored in the `tl-wal` log (Blob, Put,
//! Delete, Rename, Commit, Pin), capture by scanning a directory, the rkyv tree
//! snapshots written by the compactor, the state of the tree at any LSN or time,
//! diff, and materialization (replay/restore). It is a library shared by the daemon
//! and the commands; it prints nothing.

pub mod bisect;
pub mod catalog;
mod dirfd;
pub mod export_git;
pub mod fsck;
pub mod gc;
pub mod layout;
pub mod pathsafe;
pub mod record;
pub mod recover;
pub mod remote;
pub mod replay;
pub mod repopath;
pub mod restore;
pub mod retention;
pub mod scan;
pub mod snapshot;
pub mod statcache;
pub mod store;
pub mod switch;
pub mod textdiff;
pub mod timespec;
pub mod types;

pub use repopath::RepoPath;
pub use types::{BlobHash, Entry, Mode, Tree};
