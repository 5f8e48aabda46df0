//! Step 3: carry out a [`Plan`](super::plan::Plan): temporary files verified while
//! written, the guard's re-check before every rename or removal, symlinks last.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, Mode as FsMode, OFlags};
use rustix::io::Errno;
use tl_wal::Lsn;

use super::disk::remove_empty_tree;
use super::guard::{self, Seen};
use super::plan::{Plan, PlannedFile, PlannedLink, PlannedRemoval};
use super::temps;
use super::{components, io_err, os, Observer, RestoreError};
use crate::dirfd::{Reach, Walker};
use crate::store::Store;
use crate::types::Entry;

/// Carries out `plan`; returns the paths kept because they changed since the plan
/// (sorted).
pub(super) fn execute(
    store: &Store,
    plan: &Plan,
    root: BorrowedFd<'_>,
    observer: &dyn Observer,
) -> Result<Vec<Vec<u8>>, RestoreError> {
    let mut w = Walker::new(Some(root));
    let mut kept = Vec::new();
    // Removals first: they free the paths where the target needs directories.
    for PlannedRemoval { path, seen } in &plan.removes {
        let comps = components(path);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        if let Reach::Dir = w.reach(dirs, false).map_err(io_err(path, "removing"))? {
            let as_planned = guard::still_as_planned(w.fd(), name, seen, plan.started_ns)
                .map_err(io_err(path, "inspecting"))?;
            if !as_planned {
                kept.push(path.clone());
                continue;
            }
            match rustix::fs::unlinkat(w.fd(), os(name), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(io_err(path, "removing")(e.into())),
            }
        }
    }
    for dir in &plan.clear_dirs {
        w.clear();
        let comps = components(dir);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        let reached = w.reach(dirs, false).map_err(io_err(dir, "removing"))?;
        if let Reach::Dir = reached {
            // What is left in it (`false`) is kept by the write planned there.
            remove_empty_tree(w.fd(), name).map_err(io_err(dir, "removing the directory"))?;
        }
        w.clear();
    }
    // Then files, then symlinks (never written through: they come last, and every
    // walk refuses to pass through one anyway).
    let total = (plan.files.len() + plan.links.len()) as u64;
    // Write in log order: content is then read sequentially through the store's
    // kept-open reader instead of refilling its window for every file.
    let first_lsn = |e: &Entry| {
        store
            .catalog()
            .ok()?
            .blobs()
            .get(&e.hash)
            .and_then(|b| b.first_lsn())
    };
    let mut files: Vec<&PlannedFile> = plan.files.iter().collect();
    files.sort_by_key(|f| first_lsn(&f.entry).unwrap_or(Lsn::MAX));
    let check = |w: &Walker<'_>, path: &[u8], name: &[u8], seen: &Seen| {
        guard::still_as_planned(w.fd(), name, seen, plan.started_ns)
            .map_err(io_err(path, "inspecting"))
    };
    // Directories written into, each cleared of stale temporaries once.
    let mut tidied: HashSet<Vec<u8>> = HashSet::new();
    let mut tidy = |w: &Walker<'_>, dirs: &[&[u8]]| {
        if tidied.insert(dirs.join(&b'/')) {
            // Best effort: a leftover temporary costs space, never correctness.
            let _ = temps::remove_stale(w.fd());
        }
    };
    for (i, PlannedFile { path, entry, seen }) in files.into_iter().enumerate() {
        let comps = components(path);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        reach_for_write(&mut w, path, dirs)?;
        tidy(&w, dirs);
        let replace = || check(&w, path, name, seen);
        if write_file(store, &w, path, name, entry, &replace)? == Written::Kept {
            kept.push(path.clone());
        }
        observer.progress(i as u64 + 1, total);
    }
    for PlannedLink {
        path,
        target: bytes,
        seen,
    } in &plan.links
    {
        let comps = components(path);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        reach_for_write(&mut w, path, dirs)?;
        tidy(&w, dirs);
        let replace = || check(&w, path, name, seen);
        if write_link(&w, path, name, bytes, &replace)? == Written::Kept {
            kept.push(path.clone());
        }
    }
    // Directories that the removals left empty, deepest first.
    let mut parents: BTreeSet<(usize, Vec<u8>)> = BTreeSet::new();
    for PlannedRemoval { path, .. } in &plan.removes {
        for (i, &b) in path.iter().enumerate() {
            if b == b'/' {
                let p = &path[..i];
                parents.insert((p.split(|&b| b == b'/').count(), p.to_vec()));
            }
        }
    }
    for (_, dir) in parents.iter().rev() {
        w.clear();
        let comps = components(dir);
        let (name, dirs) = comps.split_last().expect("a path has a component");
        if let Reach::Dir = w.reach(dirs, false).map_err(io_err(dir, "tidying"))? {
            match rustix::fs::unlinkat(w.fd(), os(name), AtFlags::REMOVEDIR) {
                Ok(()) => {}
                Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOENT | Errno::NOTDIR) => {}
                Err(e) => return Err(io_err(dir, "removing the empty directory")(e.into())),
            };
        }
    }
    // No fsync here, like git checkout: the log holds every byte written, so after a
    // power cut a replay can simply be run again. (syncfs would flush the whole
    // filesystem, other programs' dirty data included: seconds on a busy disk.)
    kept.sort();
    Ok(kept)
}

/// Whether a file or symlink was put in place.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Yes,
    /// What was there changed since the plan: left as it is.
    Kept,
}

fn reach_for_write(w: &mut Walker<'_>, path: &[u8], dirs: &[&[u8]]) -> Result<(), RestoreError> {
    match w
        .reach(dirs, true)
        .map_err(io_err(path, "creating directories"))?
    {
        Reach::Dir => Ok(()),
        Reach::Missing => Err(io_err(path, "creating directories")(io::Error::other(
            "a directory vanished while being created",
        ))),
        Reach::NotDir(i) => Err(io_err(&dirs[..=i].join(&b'/'), "creating a directory")(
            io::Error::other("a file or symlink appeared where a directory is needed"),
        )),
    }
}

/// Creates a temp file next to `name`, `O_EXCL|O_NOFOLLOW`.
fn create_temp(dir: BorrowedFd<'_>) -> io::Result<(Vec<u8>, File)> {
    loop {
        let tmp = temps::name();
        match rustix::fs::openat(
            dir,
            os(&tmp),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            FsMode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((tmp, File::from(fd))),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `Ok(true)` if the path may be replaced now (see [`guard`]).
type MayReplace<'a> = dyn Fn() -> Result<bool, RestoreError> + 'a;

fn write_file(
    store: &Store,
    w: &Walker<'_>,
    path: &[u8],
    name: &[u8],
    entry: &Entry,
    may_replace: &MayReplace<'_>,
) -> Result<Written, RestoreError> {
    let dir = w.fd();
    let (tmp, file) = create_temp(dir).map_err(io_err(path, "creating a temp file"))?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 18, &file);
        store.read_blob(&entry.hash, &mut out)?;
        out.flush().map_err(io_err(path, "writing"))?;
        drop(out);
        // Exactly the recorded bits, whatever the umask: a private file comes
        // back private (never setuid/setgid/sticky: Mode has no such bits).
        rustix::fs::fchmod(
            &file,
            FsMode::from_raw_mode(entry.mode.permissions() as rustix::fs::RawMode),
        )
        .map_err(|e| io_err(path, "setting the mode")(e.into()))?;
        // The last look, right before the rename (the content was just streamed).
        if !may_replace()? {
            return Ok(Written::Kept);
        }
        rustix::fs::renameat(dir, os(&tmp), dir, os(name))
            .map_err(|e| io_err(path, "renaming into place")(e.into()))?;
        Ok(Written::Yes)
    })();
    if !matches!(result, Ok(Written::Yes)) {
        let _ = rustix::fs::unlinkat(dir, os(&tmp), AtFlags::empty());
    }
    result
}

fn write_link(
    w: &Walker<'_>,
    path: &[u8],
    name: &[u8],
    target: &[u8],
    may_replace: &MayReplace<'_>,
) -> Result<Written, RestoreError> {
    let dir = w.fd();
    if !may_replace()? {
        return Ok(Written::Kept);
    }
    let tmp = loop {
        let tmp = temps::name();
        match rustix::fs::symlinkat(os(target), dir, os(&tmp)) {
            Ok(()) => break tmp,
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(io_err(path, "creating the symlink")(e.into())),
        }
    };
    rustix::fs::renameat(dir, os(&tmp), dir, os(name)).map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, os(&tmp), AtFlags::empty());
        io_err(path, "renaming the symlink into place")(e.into())
    })?;
    Ok(Written::Yes)
}
