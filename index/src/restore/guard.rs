//! The last look before a path is replaced or removed: is it still what the plan
//! saw? A file edited after the plan (the replay captured the present, then planned,
//! and writes for a while) must not be overwritten without being saved: when it
//! changed, the restore leaves it as it is and reports it as kept.
//!
//! The plan remembers each path's stat (size, mtime, ctime, inode, mode) and content
//! hash. Just before the rename over it (or the unlink), the path is stat'ed again
//! through its directory handle: another stat means another file. A stat that matches
//! but whose times are within [`RACY_NS`] of the plan's start may hide a second
//! change in the same timestamp tick (git's "racily clean" entries): the content is
//! hashed again. What stays open is the instant between that look and the rename
//! itself, and writes through a descriptor opened before it.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags};
use rustix::io::Errno;

use super::os;
use crate::statcache::CachedStat;
use crate::types::BlobHash;

/// Timestamps this close to the plan's start (or later) are not trusted alone.
pub(super) const RACY_NS: i64 = 2_000_000_000;

/// What the plan saw at a path it replaces or removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// Nothing (or only what the plan removes first: a directory, a file in the way).
    Nothing,
    /// A file or symlink with this stat (its `hash` field unused) and content.
    Entry {
        /// The stat when planned.
        stat: CachedStat,
        /// The content hash (a symlink's: of its target).
        hash: BlobHash,
    },
}

/// A stat as the plan keeps it.
pub(super) fn cached_stat(st: &rustix::fs::Stat) -> CachedStat {
    CachedStat::of_stat(st)
}

/// BLAKE3 of regular file `name` in `dir`.
pub(super) fn hash_file(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<BlobHash> {
    // O_NONBLOCK: should a FIFO replace the file after the stat, opening it must not
    // hang; the fstat below refuses it.
    let fd = rustix::fs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        FsMode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("it stopped being a regular file"));
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(File::from(fd))?;
    Ok(BlobHash(*hasher.finalize().as_bytes()))
}

/// The wall clock, ns since the Unix epoch.
pub(super) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// True if `name` in `dir` still is what the plan saw (or is gone: then nothing can
/// be lost there).
pub(super) fn still_as_planned(
    dir: BorrowedFd<'_>,
    name: &[u8],
    seen: &Seen,
    plan_started_ns: i64,
) -> io::Result<bool> {
    let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let Seen::Entry { stat, hash } = seen else {
        return Ok(false); // something appeared where the plan saw nothing
    };
    let now = cached_stat(&st);
    if !now.same_stat(stat) {
        return Ok(false);
    }
    let racy = now.mtime_ns.max(now.ctime_ns) > plan_started_ns.saturating_sub(RACY_NS);
    if !racy {
        return Ok(true);
    }
    let current = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => hash_file(dir, name)?,
        FileType::Symlink => {
            BlobHash::of(rustix::fs::readlinkat(dir, os(name), Vec::new())?.as_bytes())
        }
        _ => return Ok(false),
    };
    Ok(current == *hash)
}
