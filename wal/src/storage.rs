//! The small storage interface the log is written through.
//!
//! The writer and the readers never touch `std::fs` directly: they go through
//! [`Storage`] (a directory of segment files) and [`SegmentFile`]. [`FsStorage`] is
//! the real one; `testing::MemStorage` keeps written and synced bytes apart so that
//! tests can simulate power loss and I/O errors at every step (as redb's crash
//! tests and SQLite's crash-test VFS do).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A directory holding the segment files of one log.
pub trait Storage: Send + Sync {
    /// Names of all entries in the directory (files and others), unsorted.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Box<dyn SegmentFile>>;
    /// Opens an existing file for reading only.
    fn open_read(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        self.open(name)
    }
    /// Creates a new file; fails if it exists.
    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>>;
    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries (creations, removals) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Copies `len` bytes of `src` (the segment `name`) from `offset` somewhere safe,
    /// durably, and returns where, for the report. Recovery calls this before it
    /// truncates anything, so no byte is ever deleted without a copy.
    fn quarantine(
        &self,
        name: &str,
        offset: u64,
        src: &dyn SegmentFile,
        len: u64,
    ) -> io::Result<String>;
    /// A human-readable location of `name` for error messages.
    fn describe(&self, name: &str) -> PathBuf;
    /// Takes the single-writer lock of the directory; released when the returned
    /// guard drops. Fails with `WouldBlock` if another writer holds it.
    fn lock(&self) -> io::Result<Box<dyn Send + Sync>>;
    /// Records `pid` as the holder of the writer lock (taken by this process),
    /// for whoever finds it held. A probe of the lock (fsck) records nothing.
    fn set_lock_holder(&self, pid: u32) -> io::Result<()> {
        let _ = pid;
        Ok(())
    }
    /// The pid of the process holding the writer lock, as it recorded it (None
    /// when unknown: not recorded, or a storage without processes).
    fn lock_holder(&self) -> Option<u32> {
        None
    }
}

/// One segment file.
#[allow(clippy::len_without_is_empty)]
pub trait SegmentFile: Send + Sync {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`.
    fn sync_data(&self) -> io::Result<()>;
    /// Writes then syncs; the sync covers the write. Implementations may link the
    /// two (io_uring).
    fn write_and_sync(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_all_at(buf, offset)?;
        self.sync_data()
    }
    /// Truncates or extends to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;

    /// Reads exactly `buf.len()` bytes at `offset` (or fails with `UnexpectedEof`).
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The real file system: a directory of segments, plus a quarantine directory for
/// bytes cut off by recovery.
#[derive(Debug, Clone)]
pub struct FsStorage {
    dir: PathBuf,
    quarantine_dir: PathBuf,
    uring: bool,
}

impl FsStorage {
    /// Segments live in `dir`; bytes cut by recovery go to `quarantine_dir`.
    /// `dir` is created if missing, `quarantine_dir` when something is first cut.
    pub fn new(dir: impl Into<PathBuf>, quarantine_dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        let quarantine_dir = quarantine_dir.into();
        crate::private_fs::ensure_dir(&dir)?;
        Ok(FsStorage {
            dir,
            quarantine_dir,
            uring: false,
        })
    }

    /// Uses io_uring (linked write + fdatasync) for appends when the kernel allows
    /// it; silently keeps the std path otherwise. See [`crate::uring_available`].
    pub fn with_uring(mut self, on: bool) -> Self {
        self.uring = on && crate::uring_available();
        self
    }

    /// True when appends go through io_uring.
    pub fn uses_uring(&self) -> bool {
        self.uring
    }

    /// The segment directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn wrap(&self, file: File) -> Box<dyn SegmentFile> {
        #[cfg(target_os = "linux")]
        if self.uring {
            match crate::uring::UringFile::new(file) {
                Ok(f) => return Box::new(f),
                Err((file, _)) => return Box::new(StdFile(file)),
            }
        }
        Box::new(StdFile(file))
    }
}

impl Storage for FsStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        let f = crate::private_fs::open_rw(&self.dir.join(name))?;
        Ok(self.wrap(f))
    }

    fn open_read(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        Ok(Box::new(StdFile(File::open(self.dir.join(name))?)))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        let f = crate::private_fs::create_new(&self.dir.join(name))?;
        Ok(self.wrap(f))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn quarantine(
        &self,
        name: &str,
        offset: u64,
        src: &dyn SegmentFile,
        len: u64,
    ) -> io::Result<String> {
        crate::private_fs::ensure_dir(&self.quarantine_dir)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut n = 0u32;
        let path = loop {
            let p = self
                .quarantine_dir
                .join(format!("{name}.at-{offset}.{stamp}.{n}.tail"));
            match crate::private_fs::create_new(&p) {
                Ok(mut f) => {
                    copy_range(src, offset, len, &mut f)?;
                    f.sync_all()?;
                    break p;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        };
        File::open(&self.quarantine_dir)?.sync_all()?;
        Ok(path.display().to_string())
    }

    fn describe(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn set_lock_holder(&self, pid: u32) -> io::Result<()> {
        let f = crate::private_fs::open_rw(&self.dir.join(LOCK_FILE))?;
        f.set_len(0)?;
        FileExt::write_all_at(&f, format!("{pid}\n").as_bytes(), 0)
    }

    fn lock_holder(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join(LOCK_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn lock(&self) -> io::Result<Box<dyn Send + Sync>> {
        let path = self.dir.join(LOCK_FILE);
        let f = crate::private_fs::open_or_create(&path)?;
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        Ok(Box::new(lock_current(&path, f, deadline)?))
    }
}

/// Locks `f`, the lock file opened at `path`, and returns it once it is locked
/// *and still the file at `path`*. A lock just released can look held for a
/// moment: a process forking a child (to run git, say) shares the released
/// descriptor with it until the child's exec closes it; so "held" must last until
/// `deadline` to count (`WouldBlock`). And the file locked may no longer be the
/// log's: whoever held the lock may have moved the log directory away meanwhile
/// (GC's swap, `index/GC.md`), and a lock on the moved file guards nothing; then
/// the file now at `path` is opened and locked instead.
fn lock_current(path: &Path, mut f: File, deadline: std::time::Instant) -> io::Result<File> {
    loop {
        match f.try_lock() {
            Ok(()) if is_at(&f, path)? => return Ok(f),
            Ok(()) => match crate::private_fs::open_or_create(path) {
                Ok(now) => f = now,
                // Between the two renames of a swap there is no log directory.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if std::time::Instant::now() >= deadline {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            },
            Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(fs::TryLockError::WouldBlock) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// True when the open file `f` is the file at `path` (same device and inode).
fn is_at(f: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = f.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(open.dev() == now.dev() && open.ino() == now.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// How long a held writer lock is retried before the log counts as locked.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(50);

/// Name of the lock file inside the segment directory.
pub const LOCK_FILE: &str = "LOCK";

/// A plain file: `pwrite` + `fdatasync`.
#[derive(Debug)]
pub struct StdFile(pub File);

impl SegmentFile for StdFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(&self.0, buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.0, buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

/// Streams `len` bytes of `src` from `offset` into `out` through a bounded buffer.
pub fn copy_range(
    src: &dyn SegmentFile,
    offset: u64,
    len: u64,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        src.read_exact_at(&mut buf[..n], offset + done)?;
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    fn ino(path: &Path) -> u64 {
        fs::metadata(path).unwrap().ino()
    }

    /// A new log directory in place of `wal`, the old one moved to `old` (as
    /// GC's swap leaves them).
    fn swap(dir: &Path) {
        fs::rename(dir.join("wal"), dir.join("old")).unwrap();
        fs::create_dir(dir.join("wal")).unwrap();
        crate::private_fs::open_or_create(&dir.join("wal").join(LOCK_FILE)).unwrap();
    }

    #[test]
    fn a_lock_file_moved_away_before_it_was_locked_is_not_the_one_kept() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("wal")).unwrap();
        let path = d.path().join("wal").join(LOCK_FILE);
        let opened = crate::private_fs::open_or_create(&path).unwrap();
        swap(d.path());
        let deadline = Instant::now() + Duration::from_secs(5);
        let locked = lock_current(&path, opened, deadline).unwrap();
        assert_eq!(locked.metadata().unwrap().ino(), ino(&path));
        assert_ne!(ino(&path), ino(&d.path().join("old").join(LOCK_FILE)));
    }

    #[test]
    fn a_writer_waiting_while_the_holder_moves_the_log_locks_the_new_one() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("wal")).unwrap();
        let path = d.path().join("wal").join(LOCK_FILE);
        let holder = crate::private_fs::open_or_create(&path).unwrap();
        holder.try_lock().unwrap();
        let waiting = crate::private_fs::open_or_create(&path).unwrap();
        let dir = d.path().to_path_buf();
        let mover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            swap(&dir);
            drop(holder);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let locked = lock_current(&path, waiting, deadline).unwrap();
        mover.join().unwrap();
        assert_eq!(locked.metadata().unwrap().ino(), ino(&path));
        // And it holds it: another try on the file at the path fails.
        let other = crate::private_fs::open_or_create(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
    }
}
