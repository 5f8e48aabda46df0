//! Directory handles: walking down a path one component at a time through
//! `openat(O_DIRECTORY|O_NOFOLLOW)`, so that nothing reached is ever outside the
//! directory the walk starts from (`RELIABILITY.md`, "Path safety", rule 4).
//!
//! Shared by materialization ([`crate::restore`]) and capture ([`crate::scan`]):
//! a path whose directories are swapped for symlinks while it is being reached
//! stops the walk ([`Reach::NotDir`]) instead of leading out of the root.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode as FsMode, OFlags};
use rustix::io::Errno;

fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

/// Opens directory `name` in `dir` without following a symlink.
pub(crate) fn open_dir(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        FsMode::empty(),
    )
}

/// How far a walk down a path's directories got.
pub(crate) enum Reach {
    /// All directories exist; the walker's current handle is the last one.
    Dir,
    /// A component does not exist.
    Missing,
    /// Component `i` exists but is not a directory (a file, a symlink, ...).
    NotDir(usize),
}

/// Walks down directories one component at a time, through handles, never following
/// a symlink. Holds the handles of the last walk (a handle is the directory itself,
/// so keeping it checks nothing in advance: nothing can be swapped under it).
pub(crate) struct Walker<'r> {
    /// `None`: the root does not exist (a dry run into a new directory).
    root: Option<BorrowedFd<'r>>,
    stack: Vec<(Vec<u8>, OwnedFd)>,
}

impl<'r> Walker<'r> {
    pub(crate) fn new(root: Option<BorrowedFd<'r>>) -> Self {
        Walker {
            root,
            stack: Vec::new(),
        }
    }

    /// The handle of the directory the last successful `reach` ended in.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self.stack.last() {
            Some((_, fd)) => fd.as_fd(),
            None => self.root.expect("walker on a missing root"),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.stack.clear();
    }

    /// Opens the directories `dirs` below the root (creating missing ones if
    /// `create`).
    pub(crate) fn reach(&mut self, dirs: &[&[u8]], create: bool) -> io::Result<Reach> {
        if self.root.is_none() {
            return Ok(Reach::Missing);
        }
        let mut keep = 0;
        while keep < self.stack.len() && keep < dirs.len() && self.stack[keep].0 == dirs[keep] {
            keep += 1;
        }
        self.stack.truncate(keep);
        for (i, name) in dirs.iter().enumerate().skip(keep) {
            let mut tries = 0;
            let fd = loop {
                tries += 1;
                match open_dir(self.fd(), name) {
                    Ok(fd) => break fd,
                    Err(Errno::NOENT) if create && tries <= 3 => {
                        match rustix::fs::mkdirat(self.fd(), os(name), FsMode::from_raw_mode(0o755))
                        {
                            Ok(()) | Err(Errno::EXIST) => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Err(Errno::NOENT) => return Ok(Reach::Missing),
                    Err(Errno::NOTDIR) | Err(Errno::LOOP) => return Ok(Reach::NotDir(i)),
                    Err(e) => return Err(e.into()),
                }
            };
            self.stack.push((name.to_vec(), fd));
        }
        Ok(Reach::Dir)
    }
}
