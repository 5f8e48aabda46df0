//! The file-system operations of a GC's swap and of its recovery, behind a
//! trait: [`RealFs`] does them; the crash tests wrap it to stop at any one of
//! them, as a kill -9 would (`index/tests/it/gc_crash.rs`).

use std::fs::{self, File};
use std::io;
use std::path::Path;

use tl_wal::private_fs::{self, Durability};

/// What the swap and its recovery do to `.tl/`, one call per step.
pub trait GcFs {
    /// True when something exists at `path` (without following a symlink).
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Writes `bytes` to `path` (replacing it) and syncs the file.
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Renames `from` to `to` (a directory, in the swap).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the directory `path` and everything under it; missing is fine.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Removes the file `path`; missing is fine.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of the directory `path` durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl GcFs for RealFs {
    fn exists(&self, path: &Path) -> io::Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        private_fs::write_atomic(path, bytes, Durability::Synced)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}
