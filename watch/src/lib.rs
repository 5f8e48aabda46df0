//! `tl-watch`: raw platform watchers behind one [`Backend`] trait.
//!
//! A backend turns the kernel's notifications into [`Event`]s about paths relative
//! to the watched root; a [`Debouncer`] coalesces them per path and hands out a
//! [`Batch`] once the tree has been quiet for a while (or a maximum delay passed, so
//! a file written continuously is still captured). [`Watcher`] ties the two.
//!
//! This crate emits paths and reads no file content; it never writes the store. The
//! caller captures each batch (tl: one Commit of kind auto per batch).
//!
//! Backends:
//! - [`inotify::InotifyBackend`] (Linux): one watch per directory, registered
//!   recursively; new directories are watched, then reported so the caller scans
//!   them; rename pairs joined by cookie; queue overflow and the watch limit turn
//!   into rescan requests marked as possibly lossy.
//! - [`sim::SimBackend`]: a deterministic scripted backend for tests (drops,
//!   overflow, reordering, ignored paths).
//! - [`threaded::Threaded`]: wraps a backend so a thread of its own drains the
//!   kernel's queue while the caller captures (used for inotify).
//! - `kqueue::KqueueBackend` (macOS/BSD, behind `cfg`): directory vnode watches
//!   under a descriptor budget plus periodic stat scans. Not compiled on Linux.
//!
//! Paths are `/`-separated bytes relative to the root (the root itself is the empty
//! path), as in `tl-index`. Nothing named `.tl` or `.git` is ever watched or
//! reported; ignore rules of the root (`.gitignore`, `.tlignore`,
//! `.git/info/exclude`) filter what is watched and reported — nested ignore files are
//! left to the capture scan, which applies every rule (an event for such a path only
//! costs a capture that finds nothing new).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

mod debounce;
mod filter;
#[cfg(target_os = "linux")]
pub mod inotify;
#[cfg(any(
    target_os = "macos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub mod kqueue;
pub mod sim;
pub mod threaded;
mod watcher;

pub use debounce::{Batch, DebounceConfig, Debouncer};
pub use filter::{join, Filter, NEVER_WATCHED};
pub use watcher::{Next, Watcher};

/// Waits until one of `fds` is readable (or hung up) or `timeout` passes. A
/// signal ends the wait early without an error: callers loop and check their
/// flags. Shared by the backends, the reading thread and the daemon's loop.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<()> {
    let ts = rustix::event::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let mut pfds: Vec<_> = fds
        .iter()
        .map(|fd| rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN))
        .collect();
    match rustix::event::poll(&mut pfds, Some(&ts)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What a backend reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Something at this path changed: a file written, created, deleted or renamed,
    /// a directory created (already watched when reported: scan it) or renamed.
    Changed(Vec<u8>),
    /// Everything under this directory (empty = the root) must be scanned again.
    Rescan {
        /// The directory, relative to the root.
        dir: Vec<u8>,
        /// Why, for the log.
        reason: String,
        /// True when events may have been lost (the caller records a gap).
        lost: bool,
    },
    /// Something the user should read (e.g. the watch limit was reached).
    Warning(String),
    /// The watched root was deleted or moved away: watching cannot go on.
    RootGone,
}

/// A source of [`Event`]s for one root.
pub trait Backend: Send {
    /// Waits at most `timeout` for events and appends what arrived (possibly
    /// nothing) to `out`. `Duration::ZERO` only drains what is ready.
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> io::Result<()>;
    /// A descriptor that becomes readable when [`Backend::poll`] has something, so a
    /// caller can wait on it beside its own (None: call `poll` with a timeout).
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    /// When the backend next wants `poll` called although its descriptor is quiet
    /// (periodic fallback scans).
    fn next_timer(&self) -> Option<Instant> {
        None
    }
    /// Directories currently watched.
    fn watched_dirs(&self) -> usize;
    /// A short name for logs (`inotify`, `kqueue`, `sim`).
    fn name(&self) -> &'static str;
}

/// The best backend of this platform for `root` (on Linux, inotify read by a
/// thread of its own: see [`threaded`]).
#[cfg(target_os = "linux")]
pub fn platform_backend(root: &std::path::Path) -> io::Result<Box<dyn Backend>> {
    let inotify = inotify::InotifyBackend::new(root)?;
    Ok(Box::new(threaded::Threaded::spawn(inotify)?))
}

/// The best backend of this platform for `root`.
#[cfg(any(
    target_os = "macos",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
pub fn platform_backend(root: &std::path::Path) -> io::Result<Box<dyn Backend>> {
    Ok(Box::new(kqueue::KqueueBackend::new(root)?))
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> io::Result<()> {
        (**self).poll(timeout, out)
    }
    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        (**self).as_fd()
    }
    fn next_timer(&self) -> Option<Instant> {
        (**self).next_timer()
    }
    fn watched_dirs(&self) -> usize {
        (**self).watched_dirs()
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
}
