//! Looking at the disk through directory handles: what is at a path, listing and
//! clearing a directory that stands in the way.

use std::io::{self};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::guard::{self};
use super::os;
use crate::dirfd::{open_dir, Reach, Walker};
use crate::statcache::CachedStat;
use crate::types::Mode;

/// What is on disk at a path.
pub(super) enum Disk {
    Missing,
    /// Component `i` of the path's directories is not a directory.
    Blocked(usize),
    File {
        mode: Mode,
        /// The stat, to look the file up in the stat cache (hash left zero).
        stat: CachedStat,
    },
    Symlink {
        stat: CachedStat,
    },
    Dir,
    Other,
}

pub(super) fn stat_at(w: &mut Walker<'_>, comps: &[&[u8]]) -> io::Result<Disk> {
    let (name, dirs) = comps.split_last().expect("a path has a component");
    match w.reach(dirs, false)? {
        Reach::Missing => return Ok(Disk::Missing),
        Reach::NotDir(i) => return Ok(Disk::Blocked(i)),
        Reach::Dir => {}
    }
    let st = match rustix::fs::statat(w.fd(), os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Disk::Missing),
        Err(e) => return Err(e.into()),
    };
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Disk::File {
            mode: Mode::of_file(st.st_mode as u32),
            stat: guard::cached_stat(&st),
        },
        FileType::Symlink => Disk::Symlink {
            stat: guard::cached_stat(&st),
        },
        FileType::Directory => Disk::Dir,
        _ => Disk::Other,
    })
}

pub(super) fn read_link(w: &Walker<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(w.fd(), os(name), Vec::new())?.into_bytes())
}

/// Appends every non-directory below the directory `fd` (named `prefix`) to `out`,
/// without following symlinks.
pub(super) fn list_tree(
    fd: BorrowedFd<'_>,
    prefix: &[u8],
    out: &mut Vec<Vec<u8>>,
) -> io::Result<()> {
    let names: Vec<Vec<u8>> = rustix::fs::Dir::read_from(fd)?
        .map(|e| e.map(|e| e.file_name().to_bytes().to_vec()))
        .collect::<Result<_, _>>()?;
    for name in names {
        if name == b"." || name == b".." {
            continue;
        }
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(&name);
        let st = rustix::fs::statat(fd, os(&name), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let sub = open_dir(fd, &name)?;
            list_tree(sub.as_fd(), &full, out)?;
        } else {
            out.push(full);
        }
    }
    Ok(())
}

/// Removes directory `name` in `parent` and the directories below it, as long as
/// they hold nothing else: `Ok(false)` when something that is no directory is
/// still in them (put there after the plan, or kept by the guard because it
/// changed): that part is left as it is, and the write planned at `name` then
/// finds a directory there and keeps it.
pub(super) fn remove_empty_tree(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<bool> {
    let fd = match open_dir(parent, name) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(true),
        // A file or a symlink (or a directory replaced by one since the plan).
        Err(Errno::NOTDIR | Errno::LOOP) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let names: Vec<Vec<u8>> = rustix::fs::Dir::read_from(&fd)?
        .map(|e| e.map(|e| e.file_name().to_bytes().to_vec()))
        .collect::<Result<_, _>>()?;
    let mut emptied = true;
    for sub in names {
        if sub != b"." && sub != b".." && !remove_empty_tree(fd.as_fd(), &sub)? {
            emptied = false;
        }
    }
    if !emptied {
        return Ok(false);
    }
    match rustix::fs::unlinkat(parent, os(name), AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(true),
        // Something was put there meanwhile.
        Err(Errno::NOTEMPTY | Errno::EXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
