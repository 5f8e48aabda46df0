//! Where everything under a project's `.tl/` lives: the one place that spells
//! those paths. Every crate asks a [`Layout`] instead of joining names itself.
//!
//! ```text
//! .tl/config.toml           settings (max_file_bytes, zstd_level, snapshot_every, [retention])
//! .tl/wal/                  the segment log (the truth); .tl/wal/LOCK is the writer lock
//! .tl/quarantine/           bytes cut by recovery, caches set aside by recover
//! .tl/index/catalog         the catalog cache: derived
//! .tl/index/statcache       the stat cache: derived
//! .tl/index/git-map/        export-git's mapping of checkpoints to commits: derived
//! .tl/index/git-untracked   set once a command found `.tl/` untracked by Git
//! .tl/snapshots/            rkyv tree snapshots: derived
//! .tl/git/                  the bare repository export-git writes when there is no .git
//! .tl/daemon.pid            the daemon's pid
//! .tl/daemon.sock           the daemon's socket
//! .tl/daemon.log            the daemon's log
//! .tl/gc.lock               held by a running GC (and by whoever finishes an interrupted one)
//! .tl/gc/                   a GC in progress: wal/ (the new log), READY, old/ (the old log)
//! .tl/remotes/NAME/remote   a remote's settings (`tl remote add`)
//! .tl/remotes/NAME/shipped  what was shipped there: pushes never LIST the remote
//! ```
//!
//! A `Layout` only computes paths; it touches nothing on disk.

use std::path::{Path, PathBuf};

/// Name of the store directory at the project root.
pub const TL_DIR: &str = ".tl";

/// The paths of the store of one project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    tl: PathBuf,
}

impl Layout {
    /// The layout of the project whose root is `root` (its store is `root/.tl`).
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        let root = root.into();
        let tl = root.join(TL_DIR);
        Layout { root, tl }
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `.tl/` itself.
    pub fn tl_dir(&self) -> &Path {
        &self.tl
    }

    /// `.tl/remotes/`: one directory per remote.
    pub fn remotes_dir(&self) -> PathBuf {
        self.tl.join("remotes")
    }

    /// `.tl/remotes/NAME/`.
    pub fn remote_dir(&self, name: &str) -> PathBuf {
        self.remotes_dir().join(name)
    }

    /// `.tl/remotes/NAME/remote`: the remote's settings.
    pub fn remote_settings(&self, name: &str) -> PathBuf {
        self.remote_dir(name).join("remote")
    }

    /// `.tl/remotes/NAME/shipped`: what the remote holds, as far as pushes know.
    pub fn remote_shipped(&self, name: &str) -> PathBuf {
        self.remote_dir(name).join("shipped")
    }

    /// `.tl/config.toml`.
    pub fn config(&self) -> PathBuf {
        self.tl.join("config.toml")
    }

    /// `.tl/wal/`: the segment log.
    pub fn log_dir(&self) -> PathBuf {
        self.tl.join("wal")
    }

    /// `.tl/wal/LOCK`: the writer lock (the log's own name for it).
    pub fn lock(&self) -> PathBuf {
        self.log_dir().join(tl_wal::storage::LOCK_FILE)
    }

    /// `.tl/quarantine/`: bytes recovery cut, caches `recover` set aside.
    pub fn quarantine(&self) -> PathBuf {
        self.tl.join("quarantine")
    }

    /// `.tl/index/`: the derived indexes.
    pub fn index_dir(&self) -> PathBuf {
        self.tl.join("index")
    }

    /// `.tl/index/catalog`: the catalog cache.
    pub fn catalog(&self) -> PathBuf {
        self.index_dir().join("catalog")
    }

    /// `.tl/index/statcache`: the stat cache.
    pub fn stat_cache(&self) -> PathBuf {
        self.index_dir().join("statcache")
    }

    /// `.tl/index/git-map/`: export-git's mappings.
    pub fn git_map_dir(&self) -> PathBuf {
        self.index_dir().join("git-map")
    }

    /// `.tl/index/git-untracked`: the mark any command but `tl init` leaves (0600)
    /// once it checked that Git does not track `.tl/`.
    pub fn git_untracked_mark(&self) -> PathBuf {
        self.index_dir().join("git-untracked")
    }

    /// `.tl/snapshots/`: tree snapshots.
    pub fn snapshots(&self) -> PathBuf {
        self.tl.join("snapshots")
    }

    /// `.tl/git/`: export-git's bare repository when the project has no `.git`.
    pub fn git_dir(&self) -> PathBuf {
        self.tl.join("git")
    }

    /// `.tl/index/git-blob-ids`: Git blob ids of content `tl publish` hashed (a
    /// derived cache).
    pub fn git_blob_ids(&self) -> PathBuf {
        self.index_dir().join("git-blob-ids")
    }

    /// `.tl/git-publish/`: where `tl publish` left each branch it wrote (not
    /// derived: without it, the next publish to that branch asks for `--force`).
    pub fn git_publish_dir(&self) -> PathBuf {
        self.tl.join("git-publish")
    }

    /// `.tl/daemon.pid`.
    pub fn daemon_pid(&self) -> PathBuf {
        self.tl.join("daemon.pid")
    }

    /// `.tl/daemon.sock`.
    pub fn daemon_socket(&self) -> PathBuf {
        self.tl.join("daemon.sock")
    }

    /// `.tl/daemon.log`.
    pub fn daemon_log(&self) -> PathBuf {
        self.tl.join("daemon.log")
    }

    /// `.tl/switching`: exists while a switch or undo writes the tree; names
    /// the state the tree held before (`crate::switch`).
    pub fn switching(&self) -> PathBuf {
        self.tl.join("switching")
    }

    /// `.tl/restoring/`: a mark per restore writing now (`PID-N`, naming the
    /// directory it writes into), so that the next open for writing removes the
    /// temporaries of one that was killed (`restore/leftovers`).
    pub fn restoring(&self) -> PathBuf {
        self.tl.join("restoring")
    }

    /// `.tl/gc.lock`: held by a GC for its whole run, and by whoever finishes
    /// or undoes an interrupted one (`index/GC.md`).
    pub fn gc_lock(&self) -> PathBuf {
        self.tl.join("gc.lock")
    }

    /// `.tl/gc/`: exists only while a GC runs or after one was interrupted.
    pub fn gc_dir(&self) -> PathBuf {
        self.tl.join("gc")
    }

    /// `.tl/gc/wal/`: the new log a GC writes.
    pub fn gc_new_log(&self) -> PathBuf {
        self.gc_dir().join("wal")
    }

    /// `.tl/gc/READY`: written once the new log is complete, synced and verified;
    /// from then on the swap is finished, never undone.
    pub fn gc_ready(&self) -> PathBuf {
        self.gc_dir().join("READY")
    }

    /// `.tl/gc/old/`: the old log, moved aside by the swap until it is deleted.
    pub fn gc_old_log(&self) -> PathBuf {
        self.gc_dir().join("old")
    }

    /// The directories made by `tl init` besides `.tl/` itself (the log makes its
    /// own).
    pub fn init_dirs(&self) -> [PathBuf; 2] {
        [self.index_dir(), self.snapshots()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_tl() {
        let l = Layout::new("/p");
        assert_eq!(l.tl_dir(), Path::new("/p/.tl"));
        assert_eq!(l.log_dir(), Path::new("/p/.tl/wal"));
        assert_eq!(l.lock(), Path::new("/p/.tl/wal/LOCK"));
        assert_eq!(l.catalog(), Path::new("/p/.tl/index/catalog"));
        assert_eq!(l.stat_cache(), Path::new("/p/.tl/index/statcache"));
        assert_eq!(l.git_map_dir(), Path::new("/p/.tl/index/git-map"));
        assert_eq!(l.daemon_socket(), Path::new("/p/.tl/daemon.sock"));
    }
}
