//! Reading what the walk found: through directory handles, with the stat cache, the
//! double stat, the two passes over files longer than one part and the hand-over of
//! parts to the sink (the rules are in the module docs of [`super`]).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode as FsMode, OFlags};
use rustix::io::Errno;

use super::walk::Found;
use super::{
    BlobPart, ScanError, ScanOptions, ScanStats, ScanWarning, WarningKind, PART_RAW_MAX, READ_TRIES,
};
use crate::dirfd::{Reach, Walker};
use crate::repopath::RepoPath;
use crate::statcache::{CachedStat, StatCache};
use crate::types::{BlobHash, Entry, Mode, Tree};

/// What processing a list of found paths gave.
pub(super) struct ProcessedAll {
    pub(super) tree: Tree,
    pub(super) cache: Vec<(Vec<u8>, CachedStat)>,
    pub(super) warnings: Vec<ScanWarning>,
    pub(super) stats: ScanStats,
}

/// Reads (or takes from the stat cache) every found path, in parallel on `pool`
/// when there are many, and assembles the entries: see the module docs for the
/// handling of content whose storing stopped half-way. Every path is reached from
/// `root` through directory handles (see [`crate::dirfd`]); each worker keeps the
/// handles of the directory it is in, and the paths come sorted, so a directory is
/// opened about once per worker.
pub(super) fn process_found<E: Send>(
    root: BorrowedFd<'_>,
    found: &[Found],
    pool: Option<&rayon::ThreadPool>,
    previous: &StatCache,
    options: &ScanOptions,
    has_blob: &(dyn Fn(&BlobHash) -> bool + Sync),
    sink: &(dyn Fn(BlobPart) -> Result<(), E> + Sync),
) -> Result<ProcessedAll, ScanError<E>> {
    let scanner = Scanner {
        previous,
        options,
        has_blob,
        sink,
        claimed: Mutex::new(HashSet::new()),
        incomplete: Mutex::new(HashSet::new()),
        counters: Counters::default(),
    };
    let results: Vec<Processed> = match pool {
        Some(pool) if found.len() >= PARALLEL_MIN && pool.current_num_threads() > 1 => pool
            .install(|| {
                found
                    .par_iter()
                    .map_init(|| Walker::new(Some(root)), |w, f| scanner.process(w, f))
                    .collect::<Result<_, E>>()
            }),
        _ => {
            let mut w = Walker::new(Some(root));
            found
                .iter()
                .map(|f| scanner.process(&mut w, f))
                .collect::<Result<_, E>>()
        }
    }
    .map_err(ScanError::Sink)?;

    let mut tree = Tree::new();
    let mut cache = Vec::with_capacity(found.len());
    let mut warnings = Vec::new();
    let mut redo = Vec::new();
    let incomplete = scanner.incomplete.lock().unwrap().clone();
    for (found, processed) in found.iter().zip(results) {
        if let Some(warning) = processed.warning {
            warnings.push(warning);
        }
        if let Some(entry) = processed.entry {
            if incomplete.contains(&entry.hash) && !processed.emitted {
                redo.push(found);
                continue;
            }
            if let Some(stat) = processed.cache {
                cache.push((found.rel.clone(), stat));
            }
            tree.insert(found.rel.clone(), entry);
        }
    }
    // Files that deduplicated against content whose storing failed: read them
    // again, one by one, now that nobody else claims that content.
    let mut w = Walker::new(Some(root));
    for found in redo {
        let processed = scanner.process(&mut w, found).map_err(ScanError::Sink)?;
        if let Some(warning) = processed.warning {
            warnings.push(warning);
        }
        if let Some(entry) = processed.entry {
            if scanner.incomplete.lock().unwrap().contains(&entry.hash) && !processed.emitted {
                warnings.push(changed_warning(&found.rel));
                continue;
            }
            if let Some(stat) = processed.cache {
                cache.push((found.rel.clone(), stat));
            }
            tree.insert(found.rel.clone(), entry);
        }
    }
    let counters = &scanner.counters;
    let stats = ScanStats {
        files_seen: found.len() as u64,
        files_read: counters.files_read.load(Ordering::Relaxed),
        bytes_read: counters.bytes_read.load(Ordering::Relaxed),
        blobs_new: counters.blobs_new.load(Ordering::Relaxed),
        bytes_new_raw: counters.bytes_new_raw.load(Ordering::Relaxed),
        bytes_new_stored: counters.bytes_new_stored.load(Ordering::Relaxed),
    };
    Ok(ProcessedAll {
        tree,
        cache,
        warnings,
        stats,
    })
}

/// Below this many paths, processing stays on the calling thread (a live capture
/// of a few files should not wake a thread pool).
pub(super) const PARALLEL_MIN: usize = 64;

pub(super) fn changed_warning(rel: &[u8]) -> ScanWarning {
    ScanWarning {
        path: RepoPath::from(rel),
        kind: WarningKind::ChangedWhileRead,
        message: format!("skipped: changed while being read {READ_TRIES} times"),
    }
}

#[derive(Default)]
pub(super) struct Counters {
    files_read: AtomicU64,
    bytes_read: AtomicU64,
    blobs_new: AtomicU64,
    bytes_new_raw: AtomicU64,
    bytes_new_stored: AtomicU64,
}

/// What processing one found path gave.
#[derive(Default)]
pub(super) struct Processed {
    entry: Option<Entry>,
    /// The stat cache entry, when the file was stable while read.
    cache: Option<CachedStat>,
    warning: Option<ScanWarning>,
    /// True when this very path handed its content to the sink completely.
    emitted: bool,
}

/// The result of the first (hashing) pass over a file.
struct Hashed {
    hash: BlobHash,
    len: u64,
    /// Hash of each part, to check the second pass against.
    part_hashes: Vec<blake3::Hash>,
    /// The content, when it fits in one part (no second pass needed).
    single: Option<Vec<u8>>,
    /// `fstat` after the read.
    stat: CachedStat,
    /// True when the stat did not move during the read.
    stable: bool,
}

/// Why reading a file gave no capture.
enum ReadFailure {
    Io(io::Error),
    TooLarge(u64),
    Special,
}

impl From<io::Error> for ReadFailure {
    fn from(err: io::Error) -> ReadFailure {
        ReadFailure::Io(err)
    }
}

pub(super) struct Scanner<'a, E> {
    previous: &'a StatCache,
    options: &'a ScanOptions,
    has_blob: &'a (dyn Fn(&BlobHash) -> bool + Sync),
    sink: &'a (dyn Fn(BlobPart) -> Result<(), E> + Sync),
    /// Hashes handed (or being handed) to the sink by this scan.
    claimed: Mutex<HashSet<BlobHash>>,
    /// Claimed hashes whose handing over stopped half-way.
    incomplete: Mutex<HashSet<BlobHash>>,
    counters: Counters,
}

impl<E> Scanner<'_, E> {
    /// Captures `found`, reached through `w`'s directory handles: its directories
    /// are opened one by one from the root, never following a symlink, so a
    /// directory swapped for a symlink since the walk makes the path vanish
    /// instead of leading out of the root.
    fn process(&self, w: &mut Walker<'_>, found: &Found) -> Result<Processed, E> {
        let comps: Vec<&[u8]> = found.rel.split(|&b| b == b'/').collect();
        let (name, dirs) = comps.split_last().expect("a found path has a component");
        match w.reach(dirs, false) {
            Ok(Reach::Dir) => {}
            // A directory on the way is gone or is no directory now (a symlink, a
            // file): nothing at this path belongs to the tree any more.
            Ok(Reach::Missing | Reach::NotDir(_)) => return Ok(Processed::default()),
            Err(err) => return Ok(self.unreadable(found, &err)),
        }
        let dir = w.fd();
        let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(Processed::default()),
            Err(err) => return Ok(self.unreadable(found, &err.into())),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => self.process_symlink(dir, name, found, &st),
            FileType::RegularFile => self.process_file(dir, name, found, &st),
            // Replaced by a directory since the walk; its content was not walked.
            FileType::Directory => Ok(Processed::default()),
            _ => Ok(Processed {
                warning: Some(self.special(found)),
                ..Processed::default()
            }),
        }
    }

    fn unreadable(&self, found: &Found, err: &io::Error) -> Processed {
        Processed {
            warning: Some(ScanWarning {
                path: RepoPath::from(found.rel.as_slice()),
                kind: WarningKind::Unreadable,
                message: format!("skipped: cannot read {}: {err}", found.abs.display()),
            }),
            ..Processed::default()
        }
    }

    fn special(&self, found: &Found) -> ScanWarning {
        ScanWarning {
            path: RepoPath::from(found.rel.as_slice()),
            kind: WarningKind::Special,
            message: "skipped: not a regular file, directory or symlink (FIFO, socket or device)"
                .to_string(),
        }
    }

    fn too_large(&self, found: &Found, size: u64) -> Processed {
        Processed {
            warning: Some(ScanWarning {
                path: RepoPath::from(found.rel.as_slice()),
                kind: WarningKind::TooLarge,
                message: format!(
                    "skipped: {size} bytes is more than max_file_bytes = {} \
                     (raise max_file_bytes in .tl/config.toml to capture it)",
                    self.options.max_file_bytes
                ),
            }),
            ..Processed::default()
        }
    }

    fn process_symlink(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        found: &Found,
        st: &rustix::fs::Stat,
    ) -> Result<Processed, E> {
        let target = match rustix::fs::readlinkat(dir, os(name), Vec::new()) {
            Ok(t) => t.into_bytes(),
            // Gone, or replaced by something else than a symlink since the stat.
            Err(Errno::NOENT | Errno::INVAL) => return Ok(Processed::default()),
            Err(err) => return Ok(self.unreadable(found, &err.into())),
        };
        let hash = BlobHash::of(&target);
        let emitted = if self.claim(&hash) {
            self.emit_single(hash, target.clone())?;
            true
        } else {
            false
        };
        Ok(Processed {
            entry: Some(Entry {
                hash,
                mode: Mode::Symlink,
                size: target.len() as u64,
                mtime_ns: CachedStat::of_stat(st).mtime_ns,
            }),
            emitted,
            ..Processed::default()
        })
    }

    fn process_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        found: &Found,
        st: &rustix::fs::Stat,
    ) -> Result<Processed, E> {
        let current = CachedStat::of_stat(st);
        if current.size > self.options.max_file_bytes {
            return Ok(self.too_large(found, current.size));
        }
        if let Some(hash) = self.previous.fresh_hash(&found.rel, &current) {
            if (self.has_blob)(&hash) || self.claimed.lock().unwrap().contains(&hash) {
                return Ok(Processed {
                    entry: Some(entry_of(&current, hash)),
                    cache: Some(CachedStat { hash, ..current }),
                    ..Processed::default()
                });
            }
        }
        self.counters.files_read.fetch_add(1, Ordering::Relaxed);
        for _ in 0..READ_TRIES {
            let hashed = match self.read_stable(dir, name) {
                Ok(h) => h,
                Err(ReadFailure::Io(err)) if err.kind() == io::ErrorKind::NotFound => {
                    return Ok(Processed::default())
                }
                Err(ReadFailure::Io(err)) => return Ok(self.unreadable(found, &err)),
                Err(ReadFailure::TooLarge(size)) => return Ok(self.too_large(found, size)),
                Err(ReadFailure::Special) => {
                    return Ok(Processed {
                        warning: Some(self.special(found)),
                        ..Processed::default()
                    })
                }
            };
            if !hashed.stable {
                // Never held still: nothing of it is stored, and the caller keeps
                // the version it has (see `keep_skipped`).
                break;
            }
            let entry = entry_of(&hashed.stat, hashed.hash);
            let cache = Some(CachedStat {
                hash: hashed.hash,
                ..hashed.stat
            });
            if !self.claim(&hashed.hash) {
                return Ok(Processed {
                    entry: Some(entry),
                    cache,
                    emitted: false,
                    ..Processed::default()
                });
            }
            let stored = match hashed.single {
                Some(data) => {
                    self.emit_single(hashed.hash, data)?;
                    true
                }
                None => self.emit_parts(dir, name, &hashed)?,
            };
            if stored {
                return Ok(Processed {
                    entry: Some(entry),
                    cache,
                    emitted: true,
                    ..Processed::default()
                });
            }
            self.incomplete.lock().unwrap().insert(hashed.hash);
        }
        Ok(Processed {
            warning: Some(changed_warning(&found.rel)),
            ..Processed::default()
        })
    }

    /// True when this caller must hand `hash` over: it is neither stored nor already
    /// handed over (completely, or in progress) by this scan.
    fn claim(&self, hash: &BlobHash) -> bool {
        if (self.has_blob)(hash) {
            return false;
        }
        let mut claimed = self.claimed.lock().unwrap();
        if claimed.insert(*hash) {
            return true;
        }
        // Claimed before: hand it over again only if that attempt failed.
        self.incomplete.lock().unwrap().remove(hash)
    }

    /// Opens `name` in `dir` as a regular file without following a symlink put
    /// there since the walk, and without blocking if it became a FIFO; the
    /// metadata is the open file's (`fstat`).
    fn open(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(File, Metadata), ReadFailure> {
        let fd = rustix::fs::openat(
            dir,
            os(name),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FsMode::empty(),
        )
        .map_err(|err| match err {
            // O_NOFOLLOW on a symlink fails with ELOOP: it was replaced since the
            // walk; report it like a vanished file, the next scan will see it.
            Errno::LOOP => io::Error::from(io::ErrorKind::NotFound),
            err => err.into(),
        })?;
        let file = File::from(fd);
        let metadata = file.metadata()?;
        if !metadata.file_type().is_file() {
            return Err(ReadFailure::Special);
        }
        Ok((file, metadata))
    }

    /// The first pass: reads and hashes the file until its stat holds still during a
    /// read, at most [`READ_TRIES`] times; the last try is returned either way.
    fn read_stable(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<Hashed, ReadFailure> {
        let mut last = None;
        for _ in 0..READ_TRIES {
            let (mut file, before) = self.open(dir, name)?;
            let before = stat_of(&before, BlobHash::default());
            let mut hasher = blake3::Hasher::new();
            let mut part_hashes = Vec::new();
            let mut single = None;
            let mut len = 0u64;
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = read_part(&mut file, &mut buf)?;
                self.counters
                    .bytes_read
                    .fetch_add(n as u64, Ordering::Relaxed);
                len += n as u64;
                if len > self.options.max_file_bytes {
                    return Err(ReadFailure::TooLarge(len));
                }
                if n == 0 && !part_hashes.is_empty() {
                    break;
                }
                hasher.update(&buf);
                part_hashes.push(blake3::hash(&buf));
                if n < PART_RAW_MAX {
                    if part_hashes.len() == 1 {
                        single = Some(std::mem::take(&mut buf));
                    }
                    break;
                }
            }
            let after = stat_of(&file.metadata()?, BlobHash::default());
            let stable = before.same_stat(&after) && after.size == len;
            let hashed = Hashed {
                hash: BlobHash(*hasher.finalize().as_bytes()),
                len,
                part_hashes,
                single,
                stat: CachedStat { size: len, ..after },
                stable,
            };
            if stable {
                return Ok(hashed);
            }
            last = Some(hashed);
        }
        Ok(last.expect("READ_TRIES > 0"))
    }

    /// The second pass over a multi-part file: reads and compresses every part,
    /// each checked against the first pass, and hands them to the sink only once
    /// all matched and the file's stat did not move since the first pass. Ok(false),
    /// with nothing handed over, when the file changed in between: no part of
    /// content that no entry will refer to is ever stored. The compressed parts of
    /// one file are held in memory meanwhile (at most `max_file_bytes`).
    fn emit_parts(&self, dir: BorrowedFd<'_>, name: &[u8], hashed: &Hashed) -> Result<bool, E> {
        let Ok((mut file, opened)) = self.open(dir, name) else {
            return Ok(false);
        };
        let unmoved = |m: &Metadata| stat_of(m, BlobHash::default()).same_stat(&hashed.stat);
        if !unmoved(&opened) {
            return Ok(false);
        }
        let mut parts = Vec::with_capacity(hashed.part_hashes.len());
        let mut buf = Vec::new();
        let mut offset = 0u64;
        let mut stored = 0u64;
        for part_hash in &hashed.part_hashes {
            buf.clear();
            let Ok(n) = read_part(&mut file, &mut buf) else {
                return Ok(false);
            };
            self.counters
                .bytes_read
                .fetch_add(n as u64, Ordering::Relaxed);
            if blake3::hash(&buf) != *part_hash {
                return Ok(false);
            }
            let (compressed, data) = self.compress(&buf);
            stored += data.len() as u64;
            parts.push(BlobPart {
                hash: hashed.hash,
                raw_len: hashed.len,
                offset,
                compressed,
                data,
            });
            offset += n as u64;
        }
        // Growth past the last part is invisible to the part hashes: the stat says.
        if offset != hashed.len || !file.metadata().is_ok_and(|m| unmoved(&m)) {
            return Ok(false);
        }
        for part in parts {
            (self.sink)(part)?;
        }
        self.count_new(hashed.len, stored);
        Ok(true)
    }

    /// Hands over content that fits in one part.
    fn emit_single(&self, hash: BlobHash, raw: Vec<u8>) -> Result<(), E> {
        assert!(
            raw.len() <= PART_RAW_MAX,
            "emit_single needs at most one part"
        );
        let raw_len = raw.len() as u64;
        let (compressed, data) = match self.compress(&raw) {
            (true, data) => (true, data),
            (false, _) => (false, raw),
        };
        self.count_new(raw_len, data.len() as u64);
        (self.sink)(BlobPart {
            hash,
            raw_len,
            offset: 0,
            compressed,
            data,
        })
    }

    /// zstd-compresses `raw`; `(false, raw copy)` when that does not make it smaller.
    fn compress(&self, raw: &[u8]) -> (bool, Vec<u8>) {
        match zstd::bulk::compress(raw, self.options.zstd_level) {
            Ok(data) if data.len() < raw.len() => (true, data),
            _ => (false, raw.to_vec()),
        }
    }

    fn count_new(&self, raw: u64, stored: u64) {
        let c = &self.counters;
        c.blobs_new.fetch_add(1, Ordering::Relaxed);
        c.bytes_new_raw.fetch_add(raw, Ordering::Relaxed);
        c.bytes_new_stored.fetch_add(stored, Ordering::Relaxed);
    }
}

/// Reads up to [`PART_RAW_MAX`] bytes (fewer only at the end of the file) into `buf`.
fn read_part(file: &mut File, buf: &mut Vec<u8>) -> io::Result<usize> {
    debug_assert!(buf.is_empty());
    file.take(PART_RAW_MAX as u64).read_to_end(buf)
}

pub(super) fn stat_of(metadata: &Metadata, hash: BlobHash) -> CachedStat {
    CachedStat {
        size: metadata.len(),
        mtime_ns: mtime_ns(metadata),
        ctime_ns: metadata.ctime().saturating_mul(1_000_000_000) + metadata.ctime_nsec(),
        inode: metadata.ino(),
        mode: metadata.mode(),
        hash,
    }
}

pub(super) fn mtime_ns(metadata: &Metadata) -> i64 {
    metadata.mtime().saturating_mul(1_000_000_000) + metadata.mtime_nsec()
}

pub(super) fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

fn entry_of(stat: &CachedStat, hash: BlobHash) -> Entry {
    Entry {
        hash,
        mode: Mode::of_file(stat.mode),
        size: stat.size,
        mtime_ns: stat.mtime_ns,
    }
}
