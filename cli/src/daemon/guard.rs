//! The daemon's own files changing under it: a `git checkout` (or stash, reset,
//! a restore from backup) of a work tree that tracks `.tl/` rewrites the log's
//! segments with older copies and deletes `daemon.pid`. A writer going on would
//! append to a file nobody can see any more (the old inode) while the log on disk
//! went back in time. So the daemon checks, every [`CHECK_EVERY`], that the
//! newest segment it saw is still there with the same inode and no shorter, and
//! that `daemon.pid` still names it; if not it stops with an error naming what
//! changed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Between two checks.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The newest segment as last seen.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Seen {
    name: String,
    ino: u64,
    len: u64,
}

/// What the daemon knows of its files.
pub struct OwnFiles {
    /// The watched directory and its inode: when it is gone or moved, the
    /// watcher reports it (a root gone is a stop, not an error).
    root: (PathBuf, Option<u64>),
    pid_file: PathBuf,
    wal_dir: PathBuf,
    seen: Option<Seen>,
    next: Instant,
}

impl OwnFiles {
    /// The files of the daemon of `root` (`.tl/daemon.pid`, `.tl/wal/`).
    pub fn new(root: &Path) -> OwnFiles {
        let layout = tl_index::layout::Layout::new(root);
        OwnFiles {
            root: (
                root.to_path_buf(),
                std::fs::metadata(root).ok().map(|m| m.ino()),
            ),
            pid_file: layout.daemon_pid(),
            wal_dir: layout.log_dir(),
            seen: None,
            next: Instant::now(),
        }
    }

    /// When the next check is due.
    pub fn due_at(&self) -> Instant {
        self.next
    }

    /// Forgets what was seen: another writer had the log (a pause), so it may have
    /// legitimately cut a torn tail.
    pub fn forget(&mut self) {
        self.seen = None;
    }

    /// Checks when due; Err names what changed.
    pub fn check(&mut self) -> Result<(), String> {
        if Instant::now() < self.next {
            return Ok(());
        }
        self.next = Instant::now() + CHECK_EVERY;
        let root_ino = std::fs::metadata(&self.root.0).ok().map(|m| m.ino());
        if root_ino.is_none() || root_ino != self.root.1 {
            return Ok(());
        }
        self.check_pid_file()?;
        let newest = newest_segment(&self.wal_dir)?;
        if let Some(old) = &self.seen {
            let path = self.wal_dir.join(&old.name);
            match std::fs::metadata(&path) {
                Err(_) => {
                    return Err(format!(
                        "the log segment {} vanished under the daemon",
                        path.display()
                    ))
                }
                Ok(m) if m.ino() != old.ino => {
                    return Err(format!(
                        "the log segment {} was replaced by another file (inode {} became {}; \
                         was .tl/ checked out by git?)",
                        path.display(),
                        old.ino,
                        m.ino()
                    ))
                }
                Ok(m) if m.len() < old.len => {
                    return Err(format!(
                        "the log segment {} shrank from {} to {} bytes under the daemon",
                        path.display(),
                        old.len,
                        m.len()
                    ))
                }
                Ok(_) => {}
            }
        }
        self.seen = newest;
        Ok(())
    }

    fn check_pid_file(&self) -> Result<(), String> {
        let ours = std::process::id();
        match std::fs::read_to_string(&self.pid_file) {
            Err(_) => Err(format!(
                "{} vanished under the daemon",
                self.pid_file.display()
            )),
            Ok(s) if s.trim().parse::<u32>().ok() != Some(ours) => Err(format!(
                "{} no longer names this daemon (pid {ours}) but {:?}",
                self.pid_file.display(),
                s.trim()
            )),
            Ok(_) => Ok(()),
        }
    }
}

/// The segment with the highest name in `dir`, if any.
fn newest_segment(dir: &Path) -> Result<Option<Seen>, String> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list the log {} ({e})", dir.display()))?;
    let name = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| tl_wal::parse_segment_name(n).is_some())
        .max();
    let Some(name) = name else {
        return Ok(None);
    };
    let m = std::fs::metadata(dir.join(&name))
        .map_err(|e| format!("cannot stat {} ({e})", dir.join(&name).display()))?;
    Ok(Some(Seen {
        name,
        ino: m.ino(),
        len: m.len(),
    }))
}
