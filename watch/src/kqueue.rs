//! The macOS/BSD backend: kqueue, under a descriptor budget.
//!
//! Checked and linted for FreeBSD and macOS by `.ci/cross-check` (clippy with
//! `-Zbuild-std` on Linux), never run here: it is written against the
//! documented API of the `kqueue` crate (1.x) and kept small. kqueue
//! needs one open descriptor per watched vnode, and watching every file exhausts
//! descriptors on ordinary repositories, so this backend:
//! - watches directories only (`NOTE_WRITE` on a directory = an entry was added,
//!   removed or renamed; a file written in place does not fire it), at most
//!   [`DIR_BUDGET`] of them;
//! - reports a directory event as a rescan of that directory;
//! - covers everything else (file content changes, directories past the budget)
//!   with a periodic rescan every [`SCAN_EVERY`], which the capture's stat cache
//!   makes cheap.
//!
//! Unlike inotify it cannot overflow, so it is not read by a thread of its own
//! ([`crate::threaded`]): the kernel keeps one pending note per watched vnode and
//! merges later changes into it (their flags OR'd) until it is read, so a burst
//! while the daemon captures leaves at most [`DIR_BUDGET`] + 1 notes, never a
//! lost one; what it misses (in-place writes) the periodic scan covers anyway.
//!
//! Not done yet: per-file watches for recently written files under a small budget
//! (would shorten the latency of in-place writes from [`SCAN_EVERY`] to the
//! debounce). It never holds more than [`DIR_BUDGET`] + 1 descriptors.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kqueue::{EventData, EventFilter, FilterFlag, Ident, Vnode, Watcher};

use crate::{join, Backend, Event, Filter};

/// Directories watched at most (one descriptor each).
pub const DIR_BUDGET: usize = 1024;
/// Period of the stat scan covering what is not watched.
pub const SCAN_EVERY: Duration = Duration::from_secs(2);

/// kqueue watching of one root; see the module docs.
pub struct KqueueBackend {
    watcher: Watcher,
    root: PathBuf,
    watched: usize,
    next_scan: Instant,
    root_gone: bool,
}

impl KqueueBackend {
    /// Watches up to [`DIR_BUDGET`] directories of `root`, breadth first.
    pub fn new(root: &Path) -> io::Result<KqueueBackend> {
        let mut watcher = Watcher::new()?;
        let filter = Filter::load(root);
        let flags = FilterFlag::NOTE_WRITE
            | FilterFlag::NOTE_DELETE
            | FilterFlag::NOTE_RENAME
            | FilterFlag::NOTE_EXTEND;
        let mut queue = std::collections::VecDeque::from([Vec::<u8>::new()]);
        let mut watched = 0;
        while let Some(rel) = queue.pop_front() {
            if watched >= DIR_BUDGET {
                break;
            }
            let abs = root.join(std::ffi::OsStr::from_bytes(&rel));
            watcher.add_filename(&abs, EventFilter::EVFILT_VNODE, flags)?;
            watched += 1;
            if let Ok(rd) = std::fs::read_dir(&abs) {
                for e in rd.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        let child = join(&rel, e.file_name().as_bytes());
                        if !filter.ignored(&child, true) {
                            queue.push_back(child);
                        }
                    }
                }
            }
        }
        watcher.watch()?;
        Ok(KqueueBackend {
            watcher,
            root: root.to_path_buf(),
            watched,
            next_scan: Instant::now() + SCAN_EVERY,
            root_gone: false,
        })
    }
}

impl Backend for KqueueBackend {
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> io::Result<()> {
        let timeout = timeout.min(self.next_scan.saturating_duration_since(Instant::now()));
        let mut next = self.watcher.poll(Some(timeout));
        while let Some(ev) = next {
            if let Ident::Filename(_, path) = &ev.ident {
                let p = Path::new(path);
                let rel = p
                    .strip_prefix(&self.root)
                    .map(|r| r.as_os_str().as_bytes().to_vec())
                    .unwrap_or_default();
                match ev.data {
                    EventData::Vnode(Vnode::Delete) | EventData::Vnode(Vnode::Rename)
                        if rel.is_empty() =>
                    {
                        if !self.root_gone {
                            self.root_gone = true;
                            out.push(Event::RootGone);
                        }
                    }
                    _ => out.push(Event::Rescan {
                        dir: rel,
                        reason: "directory changed".into(),
                        lost: false,
                    }),
                }
            }
            next = self.watcher.poll(Some(Duration::ZERO));
        }
        if Instant::now() >= self.next_scan {
            self.next_scan = Instant::now() + SCAN_EVERY;
            out.push(Event::Rescan {
                dir: Vec::new(),
                reason: "periodic scan (kqueue does not see in-place writes)".into(),
                lost: false,
            });
        }
        Ok(())
    }

    fn next_timer(&self) -> Option<Instant> {
        Some(self.next_scan)
    }

    fn watched_dirs(&self) -> usize {
        self.watched
    }

    fn name(&self) -> &'static str {
        "kqueue"
    }
}
