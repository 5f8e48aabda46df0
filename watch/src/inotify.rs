//! The Linux backend: raw inotify, one watch per directory.
//!
//! - Registration is recursive at start; a directory created (or moved in) later is
//!   watched first and then reported, so the caller's scan of it cannot miss a file
//!   written before its watch existed.
//! - `IN_MOVED_FROM`/`IN_MOVED_TO` are joined by cookie: a directory renamed inside
//!   the tree keeps its watches (they follow the inode) and only the path map is
//!   rewritten; one moved out loses its watches; one moved in is registered.
//! - `IN_Q_OVERFLOW` becomes a lossy rescan of the root.
//! - When `fs.inotify.max_user_watches` is exhausted (`ENOSPC`), the unwatched
//!   subtrees are reported once with a message naming the sysctl, a lossy rescan is
//!   requested, and those subtrees are rescanned periodically from then on.
//! - `IN_DELETE_SELF`/`IN_MOVE_SELF` on the root report [`Event::RootGone`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

use crate::{join, Backend, Event, Filter};

/// How often subtrees left unwatched by the watch limit are rescanned.
pub const FALLBACK_SCAN_EVERY: Duration = Duration::from_secs(2);

const MAX_USER_WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";

fn mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::ATTRIB
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::DONT_FOLLOW
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

/// Raw inotify watching of one root; see the module docs.
pub struct InotifyBackend {
    inotify: Inotify,
    watches: Watches,
    root: PathBuf,
    filter: Filter,
    by_wd: HashMap<WatchDescriptor, Vec<u8>>,
    by_path: BTreeMap<Vec<u8>, WatchDescriptor>,
    buf: Vec<u8>,
    /// Test knob: behave as if the kernel limit were this many watches.
    limit: Option<usize>,
    /// Subtrees not watched because the limit was reached.
    unwatched: BTreeSet<Vec<u8>>,
    limit_reported: bool,
    next_fallback: Option<Instant>,
    root_gone: bool,
}

impl InotifyBackend {
    /// Watches `root` and every directory under it (ignore rules of the root apply).
    pub fn new(root: &Path) -> io::Result<InotifyBackend> {
        InotifyBackend::with_limit(root, None)
    }

    /// As [`InotifyBackend::new`], behaving as if at most `limit` watches could be
    /// added (tests of the watch-limit fallback without touching the sysctl).
    pub fn with_limit(root: &Path, limit: Option<usize>) -> io::Result<InotifyBackend> {
        let inotify = Inotify::init()?;
        let watches = inotify.watches();
        let mut b = InotifyBackend {
            inotify,
            watches,
            root: root.to_path_buf(),
            filter: Filter::load(root),
            by_wd: HashMap::new(),
            by_path: BTreeMap::new(),
            buf: vec![0; 64 * 1024],
            limit,
            unwatched: BTreeSet::new(),
            limit_reported: false,
            next_fallback: None,
            root_gone: false,
        };
        let mut startup = Vec::new();
        b.add_tree(Vec::new(), &mut startup)?;
        // Rebuilt from sorted entries, the map's nodes are full (less memory for
        // the daemon's life than the half-full nodes the inserts left).
        let old = std::mem::take(&mut b.by_path);
        b.by_path = old.iter().map(|(k, w)| (k.clone(), w.clone())).collect();
        drop(old);
        if b.by_path.is_empty() {
            return Err(io::Error::other(format!(
                "cannot watch {}: {}",
                root.display(),
                startup
                    .iter()
                    .find_map(|e| match e {
                        Event::Warning(w) => Some(w.as_str()),
                        _ => None,
                    })
                    .unwrap_or("no watch could be added")
            )));
        }
        Ok(b)
    }

    fn abs(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(OsStr::from_bytes(rel))
        }
    }

    /// Watches `rel` and every directory under it not yet watched. Events about
    /// the limit go to `out`.
    fn add_tree(&mut self, rel: Vec<u8>, out: &mut Vec<Event>) -> io::Result<()> {
        let mut stack = vec![rel];
        while let Some(dir) = stack.pop() {
            if self.by_path.contains_key(&dir) {
                // Already watched (a rename seen twice); its children may not be.
            } else if self.limit.is_some_and(|l| self.by_path.len() >= l) {
                self.limit_reached(dir, out);
                continue;
            } else {
                match self.watches.add(self.abs(&dir), mask()) {
                    Ok(wd) => {
                        if let Some(old) = self.by_wd.insert(wd.clone(), dir.clone()) {
                            // The same inode under a new name (a rename we missed).
                            self.by_path.remove(&old);
                        }
                        self.by_path.insert(dir.clone(), wd);
                    }
                    Err(e) if e.raw_os_error() == Some(28) => {
                        // ENOSPC: fs.inotify.max_user_watches exhausted.
                        self.limit_reached(dir, out);
                        continue;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                        ) || e.raw_os_error() == Some(20) =>
                    {
                        continue; // gone (or replaced by a file) meanwhile
                    }
                    Err(e) if dir.is_empty() => return Err(e),
                    Err(e) => {
                        out.push(Event::Warning(format!(
                            "cannot watch {}: {e}; it is covered by scans only",
                            self.abs(&dir).display()
                        )));
                        continue;
                    }
                }
            }
            let Ok(entries) = std::fs::read_dir(self.abs(&dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(ft) = entry.file_type() else { continue };
                if !ft.is_dir() {
                    continue;
                }
                let child = join(&dir, entry.file_name().as_bytes());
                if !self.filter.ignored(&child, true) {
                    stack.push(child);
                }
            }
        }
        Ok(())
    }

    fn limit_reached(&mut self, dir: Vec<u8>, out: &mut Vec<Event>) {
        if self.unwatched.iter().any(|u| under(&dir, u)) {
            return;
        }
        self.unwatched.insert(dir.clone());
        self.next_fallback
            .get_or_insert_with(|| Instant::now() + FALLBACK_SCAN_EVERY);
        if !self.limit_reported {
            self.limit_reported = true;
            let current = std::fs::read_to_string(MAX_USER_WATCHES)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            out.push(Event::Warning(format!(
                "the inotify watch limit is reached (fs.inotify.max_user_watches = {current}, \
                 {} directories watched); raise it with `sudo sysctl fs.inotify.max_user_watches=524288` \
                 (and in /etc/sysctl.d/ to keep it); until then directories that could not be \
                 watched are scanned every {} s",
                self.by_path.len(),
                FALLBACK_SCAN_EVERY.as_secs()
            )));
        }
        out.push(Event::Rescan {
            dir,
            reason: "inotify watch limit reached (fs.inotify.max_user_watches)".into(),
            lost: true,
        });
    }

    /// Forgets the watches of `rel` and below (removing them from the kernel when
    /// `remove`: a directory moved out of the tree is still alive).
    fn forget_tree(&mut self, rel: &[u8], remove: bool) {
        let keys: Vec<Vec<u8>> = self
            .by_path
            .range(rel.to_vec()..)
            .take_while(|(k, _)| k.starts_with(rel))
            .filter(|(k, _)| under(k, rel))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(wd) = self.by_path.remove(&k) {
                self.by_wd.remove(&wd);
                if remove {
                    let _ = self.watches.remove(wd);
                }
            }
        }
        self.unwatched.retain(|u| !under(u, rel));
    }

    /// Rewrites the path map after a directory moved from `from` to `to` inside the tree.
    fn rename_tree(&mut self, from: &[u8], to: &[u8]) {
        let moved: Vec<(Vec<u8>, WatchDescriptor)> = self
            .by_path
            .range(from.to_vec()..)
            .take_while(|(k, _)| k.starts_with(from))
            .filter(|(k, _)| under(k, from))
            .map(|(k, w)| (k.clone(), w.clone()))
            .collect();
        for (k, wd) in moved {
            self.by_path.remove(&k);
            let mut new = to.to_vec();
            new.extend_from_slice(&k[from.len()..]);
            self.by_wd.insert(wd.clone(), new.clone());
            self.by_path.insert(new, wd);
        }
    }

    fn handle(
        &mut self,
        raw: Vec<(WatchDescriptor, EventMask, u32, Option<Vec<u8>>)>,
        out: &mut Vec<Event>,
    ) {
        // MOVED_FROM halves waiting for their MOVED_TO: (cookie, path, is_dir).
        let mut moved_from: Vec<(u32, Vec<u8>, bool)> = Vec::new();
        for (wd, m, cookie, name) in raw {
            if m.contains(EventMask::Q_OVERFLOW) {
                out.push(Event::Rescan {
                    dir: Vec::new(),
                    reason: "the inotify event queue overflowed".into(),
                    lost: true,
                });
                continue;
            }
            let Some(dir) = self.by_wd.get(&wd).cloned() else {
                continue;
            };
            if m.contains(EventMask::IGNORED) {
                if self.by_path.get(&dir) == Some(&wd) {
                    self.by_path.remove(&dir);
                }
                self.by_wd.remove(&wd);
                if dir.is_empty() && !self.root_gone {
                    self.root_gone = true;
                    out.push(Event::RootGone);
                }
                continue;
            }
            if m.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
                if dir.is_empty() && !self.root_gone {
                    self.root_gone = true;
                    out.push(Event::RootGone);
                }
                continue;
            }
            let Some(name) = name else { continue };
            let rel = join(&dir, &name);
            let is_dir = m.contains(EventMask::ISDIR);
            if self.filter.ignored(&rel, is_dir) {
                continue;
            }
            if dir.is_empty() && Filter::is_rule_file(&rel) {
                // The root's ignore rules changed: reload, watch what is no longer
                // ignored, and let the capture rescan everything.
                self.filter = Filter::load(&self.root);
                let _ = self.add_tree(Vec::new(), out);
                out.push(Event::Rescan {
                    dir: Vec::new(),
                    reason: "ignore rules changed".into(),
                    lost: false,
                });
                continue;
            }
            if m.contains(EventMask::MOVED_FROM) {
                moved_from.push((cookie, rel.clone(), is_dir));
            } else if m.contains(EventMask::MOVED_TO) {
                let pair = moved_from.iter().position(|(c, _, _)| *c == cookie);
                match pair {
                    Some(i) => {
                        let (_, from, from_dir) = moved_from.swap_remove(i);
                        if from_dir {
                            self.forget_tree(&rel, true); // replaced target, if any
                            self.rename_tree(&from, &rel);
                            let _ = self.add_tree(rel.clone(), out);
                        }
                    }
                    None if is_dir => {
                        let _ = self.add_tree(rel.clone(), out);
                    }
                    None => {}
                }
            } else if is_dir && m.contains(EventMask::CREATE) {
                let _ = self.add_tree(rel.clone(), out);
            } else if is_dir && m.contains(EventMask::DELETE) {
                self.forget_tree(&rel, false);
            }
            out.push(Event::Changed(rel));
        }
        for (_, from, is_dir) in moved_from {
            if is_dir {
                // Moved out of the tree: still alive elsewhere, stop watching it.
                self.forget_tree(&from, true);
            }
        }
    }
}

fn under(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/')
}

impl Backend for InotifyBackend {
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Event>) -> io::Result<()> {
        let now = Instant::now();
        let timeout = match self.next_fallback {
            Some(t) => timeout.min(t.saturating_duration_since(now)),
            None => timeout,
        };
        if !timeout.is_zero() {
            crate::wait_readable(&[self.inotify.as_fd()], timeout)?;
        }
        loop {
            let raw: Vec<_> = match self.inotify.read_events(&mut self.buf) {
                Ok(events) => events
                    .map(|e| {
                        (
                            e.wd,
                            e.mask,
                            e.cookie,
                            e.name.map(|n| n.as_bytes().to_vec()),
                        )
                    })
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if raw.is_empty() {
                break;
            }
            self.handle(raw, out);
        }
        if let Some(t) = self.next_fallback {
            if Instant::now() >= t {
                for dir in &self.unwatched {
                    out.push(Event::Rescan {
                        dir: dir.clone(),
                        reason: "periodic scan of a directory the watch limit left unwatched"
                            .into(),
                        lost: false,
                    });
                }
                self.next_fallback = if self.unwatched.is_empty() {
                    None
                } else {
                    Some(Instant::now() + FALLBACK_SCAN_EVERY)
                };
            }
        }
        Ok(())
    }

    fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.inotify.as_fd())
    }

    fn next_timer(&self) -> Option<Instant> {
        self.next_fallback
    }

    fn watched_dirs(&self) -> usize {
        self.by_path.len()
    }

    fn name(&self) -> &'static str {
        "inotify"
    }
}
