//! Restores that did not finish. While a restore writes, a mark in
//! `.tl/restoring/` (`PID-N`, holding the path of the directory it writes into)
//! says so; it is removed when the restore ends, however it ends. A restore
//! killed mid-write (kill -9, a crash, a power cut after the mark was synced)
//! leaves its mark and the temporaries it was writing; the next open of the store
//! for writing ([`clean_after_crash`]) walks the directory of every mark whose
//! process is gone, removes the temporaries of dead processes there (files and
//! symlinks only, never following a symlink, never entering `.tl` or `.git`),
//! then the mark. No capture records a temporary in the meantime
//! ([`super::is_temporary`]).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags};
use tl_wal::private_fs::{self, Durability};

use super::temps;
use crate::dirfd::open_dir;
use crate::layout::Layout;
use crate::scan::NEVER_CAPTURED;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The mark of a restore writing now; removed when dropped.
pub(super) struct Mark {
    path: PathBuf,
}

impl Mark {
    /// Marks that this process starts writing into `dir` (made absolute).
    pub(super) fn begin(layout: &Layout, dir: &Path) -> io::Result<Mark> {
        let dir = std::fs::canonicalize(dir)?;
        let marks = layout.restoring();
        private_fs::ensure_dir(&marks)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = marks.join(format!("{}-{n}", std::process::id()));
        private_fs::write_atomic(&path, dir.as_os_str().as_bytes(), Durability::Synced)?;
        Ok(Mark { path })
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The process id a mark's file name holds.
fn pid_of(name: &[u8]) -> Option<u32> {
    let dash = name.iter().position(|&b| b == b'-')?;
    let (pid, n) = (&name[..dash], &name[dash + 1..]);
    if n.is_empty() || !n.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// Removes the temporaries that restores of processes now gone left behind, in
/// the directories their marks name, and those marks; returns the temporaries
/// removed (absolute paths). Marks of processes still running are left.
pub fn clean_after_crash(layout: &Layout) -> io::Result<Vec<PathBuf>> {
    let marks = layout.restoring();
    let entries = match std::fs::read_dir(&marks) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = pid_of(name.as_bytes()) else {
            continue;
        };
        if pid == std::process::id() || !temps::is_gone(pid) {
            continue;
        }
        let mark = entry.path();
        let file = private_fs::open_rw(&mark)?;
        let mut dir = Vec::new();
        io::Read::read_to_end(&mut &file, &mut dir)?;
        let dir = PathBuf::from(OsStr::from_bytes(&dir));
        match rustix::fs::open(
            &dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            FsMode::empty(),
        ) {
            Ok(fd) => remove_below(fd, &dir, &mut removed)?,
            // The directory is gone: so are its temporaries.
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => {}
            Err(e) => return Err(e.into()),
        }
        std::fs::remove_file(&mark)?;
    }
    Ok(removed)
}

/// Removes the stale temporaries in `root` (at `path`) and every directory
/// below it, through directory handles.
fn remove_below(root: OwnedFd, path: &Path, removed: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut stack = vec![(root, path.to_path_buf())];
    while let Some((fd, at)) = stack.pop() {
        for name in temps::remove_stale(fd.as_fd())? {
            removed.push(at.join(OsStr::from_bytes(&name)));
        }
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." || NEVER_CAPTURED.iter().any(|n| name == n.as_bytes())
            {
                continue;
            }
            let is_dir = match entry.file_type() {
                FileType::Directory => true,
                FileType::Unknown => {
                    rustix::fs::statat(&fd, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
                }
                _ => false,
            };
            if is_dir {
                // Gone or replaced since listed: nothing of ours below it.
                if let Ok(sub) = open_dir(fd.as_fd(), name) {
                    stack.push((sub, at.join(OsStr::from_bytes(name))));
                }
            }
        }
    }
    Ok(())
}
