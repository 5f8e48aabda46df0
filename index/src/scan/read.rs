//! Reading what the walk found: through directory handles, with the stat cache, the
//! double stat, content-defined chunks for big files, and the hand-over of new
//! content to the sink (the rules are in the module docs of [`super`]).

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

use super::chunker::{Chunker, PreviousChunks};
use super::walk::Found;
use super::{
    BlobPart, ChunkList, NewRecord, ScanError, ScanOptions, ScanStats, ScanWarning, Stored,
    WarningKind, CHUNK_MIN_FILE, PART_RAW_MAX, READ_TRIES,
};
use crate::dirfd::{Reach, Walker};
use crate::record::{Chunk, CHUNKED_RUN_MAX, CHUNK_PARAMS_V1};
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
/// when there are many, and assembles the entries. Every path is reached from
/// `root` through directory handles (see [`crate::dirfd`]); each worker keeps the
/// handles of the directory it is in, and the paths come sorted, so a directory is
/// opened about once per worker.
pub(super) fn process_found<E: Send>(
    root: BorrowedFd<'_>,
    found: &[Found],
    pool: Option<&rayon::ThreadPool>,
    previous: &StatCache,
    options: &ScanOptions,
    stored: &dyn Stored,
    sink: &(dyn Fn(NewRecord) -> Result<(), E> + Sync),
) -> Result<ProcessedAll, ScanError<E>> {
    let scanner = Scanner {
        previous,
        options,
        stored,
        sink,
        claimed: Mutex::new(HashSet::new()),
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
    for (found, processed) in found.iter().zip(results) {
        if let Some(warning) = processed.warning {
            warnings.push(warning);
        }
        if let Some(entry) = processed.entry {
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
        bytes_reused: counters.bytes_reused.load(Ordering::Relaxed),
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
    bytes_reused: AtomicU64,
}

/// What processing one found path gave.
#[derive(Default)]
pub(super) struct Processed {
    entry: Option<Entry>,
    /// The stat cache entry, when the file was stable while read.
    cache: Option<CachedStat>,
    warning: Option<ScanWarning>,
}

/// What one read of a file gave.
enum Attempt {
    /// The file held still: its content, all of it handed to the sink unless
    /// stored or claimed already.
    Captured {
        hash: BlobHash,
        /// `fstat` after the read, its size the bytes read.
        stat: CachedStat,
    },
    /// The stat moved during the read: nothing refers to what was read.
    Moved,
    /// No capture.
    Failed(ReadFailure),
}

/// Why reading a file gave no capture.
enum ReadFailure {
    Io(io::Error),
    TooLarge(u64),
    Special,
    /// No regular file at the path any more, but a symlink or a directory:
    /// replaced since the stat.
    Replaced,
}

/// What looking at a path once gave.
enum Looked {
    Done(Processed),
    /// Its type changed since its stat: stat it again.
    Replaced,
}

impl From<io::Error> for ReadFailure {
    fn from(err: io::Error) -> ReadFailure {
        ReadFailure::Io(err)
    }
}

pub(super) struct Scanner<'a, E> {
    previous: &'a StatCache,
    options: &'a ScanOptions,
    stored: &'a dyn Stored,
    sink: &'a (dyn Fn(NewRecord) -> Result<(), E> + Sync),
    /// Hashes handed (or being handed) to the sink by this scan. A claim is
    /// always carried out: one sink call stores a whole blob or chunk, and a
    /// chunk list is claimed only once its chunks are handed over.
    claimed: Mutex<HashSet<BlobHash>>,
    counters: Counters,
}

impl<E> Scanner<'_, E> {
    /// Captures `found`, reached through `w`'s directory handles: its directories
    /// are opened one by one from the root, never following a symlink, so a
    /// directory swapped for a symlink since the walk makes the path vanish
    /// instead of leading out of the root. A path whose type changed between its
    /// stat and its read (a file replaced by a symlink, a symlink by a file) is
    /// stat'ed again, up to [`READ_TRIES`] times, and captured as what it is now.
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
        for _ in 0..READ_TRIES {
            let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT | Errno::NOTDIR) => return Ok(Processed::default()),
                Err(err) => return Ok(self.unreadable(found, &err.into())),
            };
            let looked = match FileType::from_raw_mode(st.st_mode) {
                FileType::Symlink => self.process_symlink(dir, name, found, &st)?,
                FileType::RegularFile => self.process_file(dir, name, found, &st)?,
                // Replaced by a directory since the walk; its content was not
                // walked (the next scan, or the watcher's event, takes it).
                FileType::Directory => Looked::Done(Processed::default()),
                _ => Looked::Done(Processed {
                    warning: Some(self.special(found)),
                    ..Processed::default()
                }),
            };
            match looked {
                Looked::Done(processed) => return Ok(processed),
                Looked::Replaced => continue,
            }
        }
        Ok(Processed {
            warning: Some(changed_warning(&found.rel)),
            ..Processed::default()
        })
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
    ) -> Result<Looked, E> {
        let target = match rustix::fs::readlinkat(dir, os(name), Vec::new()) {
            Ok(t) => t.into_bytes(),
            // Gone since the stat.
            Err(Errno::NOENT) => return Ok(Looked::Done(Processed::default())),
            // Replaced by something else than a symlink since the stat.
            Err(Errno::INVAL) => return Ok(Looked::Replaced),
            Err(err) => return Ok(Looked::Done(self.unreadable(found, &err.into()))),
        };
        let hash = BlobHash::of(&target);
        if self.claim(&hash) {
            self.emit_blob(hash, &target)?;
        }
        Ok(Looked::Done(Processed {
            entry: Some(Entry {
                hash,
                mode: Mode::Symlink,
                size: target.len() as u64,
                mtime_ns: CachedStat::of_stat(st).mtime_ns,
            }),
            ..Processed::default()
        }))
    }

    fn process_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        found: &Found,
        st: &rustix::fs::Stat,
    ) -> Result<Looked, E> {
        let current = CachedStat::of_stat(st);
        if current.size > self.options.max_file_bytes {
            return Ok(Looked::Done(self.too_large(found, current.size)));
        }
        if let Some(hash) = self.previous.fresh_hash(&found.rel, &current) {
            if self.stored.has_blob(&hash) || self.claimed.lock().unwrap().contains(&hash) {
                return Ok(Looked::Done(Processed {
                    entry: Some(entry_of(&current, hash)),
                    cache: Some(CachedStat { hash, ..current }),
                    ..Processed::default()
                }));
            }
        }
        self.counters.files_read.fetch_add(1, Ordering::Relaxed);
        for _ in 0..READ_TRIES {
            let processed = match self.read_once(dir, name, &found.rel)? {
                Attempt::Captured { hash, stat } => Processed {
                    entry: Some(entry_of(&stat, hash)),
                    cache: Some(CachedStat { hash, ..stat }),
                    ..Processed::default()
                },
                // Never held still: what the caller keeps is its last version
                // (see `keep_skipped`); a chunk stored meanwhile stays unreferenced
                // until a GC.
                Attempt::Moved => continue,
                // Vanished since the stat: that is the current state.
                Attempt::Failed(ReadFailure::Io(err)) if err.kind() == io::ErrorKind::NotFound => {
                    Processed::default()
                }
                Attempt::Failed(ReadFailure::Io(err)) => self.unreadable(found, &err),
                Attempt::Failed(ReadFailure::TooLarge(size)) => self.too_large(found, size),
                Attempt::Failed(ReadFailure::Special) => Processed {
                    warning: Some(self.special(found)),
                    ..Processed::default()
                },
                Attempt::Failed(ReadFailure::Replaced) => return Ok(Looked::Replaced),
            };
            return Ok(Looked::Done(processed));
        }
        Ok(Looked::Done(Processed {
            warning: Some(changed_warning(&found.rel)),
            ..Processed::default()
        }))
    }

    /// True when this caller must hand `hash` over: it is neither stored nor already
    /// handed over (or being handed over) by this scan.
    fn claim(&self, hash: &BlobHash) -> bool {
        !self.stored.has_blob(hash) && self.claimed.lock().unwrap().insert(*hash)
    }

    /// Opens `name` in `dir` as a regular file without following a symlink put
    /// there since the stat, and without blocking if it became a FIFO; the
    /// metadata is the open file's (`fstat`).
    fn open(&self, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(File, Metadata), ReadFailure> {
        let fd = rustix::fs::openat(
            dir,
            os(name),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            FsMode::empty(),
        )
        .map_err(|err| match err {
            // O_NOFOLLOW on a symlink fails with ELOOP: replaced by a symlink
            // since the stat.
            Errno::LOOP => ReadFailure::Replaced,
            err => ReadFailure::Io(err.into()),
        })?;
        let file = File::from(fd);
        let metadata = file.metadata()?;
        if metadata.file_type().is_dir() {
            return Err(ReadFailure::Replaced);
        }
        if !metadata.file_type().is_file() {
            return Err(ReadFailure::Special);
        }
        Ok((file, metadata))
    }

    /// Reads the file once, with a stat of the open file before and after: a
    /// file of at most [`CHUNK_MIN_FILE`] bytes into memory as one blob, a bigger
    /// one as a stream of chunks.
    fn read_once(&self, dir: BorrowedFd<'_>, name: &[u8], rel: &[u8]) -> Result<Attempt, E> {
        self.options.seam.before_open(rel);
        let (file, before) = match self.open(dir, name) {
            Ok(opened) => opened,
            Err(failure) => return Ok(Attempt::Failed(failure)),
        };
        let before = stat_of(&before, BlobHash::default());
        if before.size > self.options.max_file_bytes {
            return Ok(Attempt::Failed(ReadFailure::TooLarge(before.size)));
        }
        if before.size > CHUNK_MIN_FILE {
            let previous = self
                .stored
                .previous_chunks(rel)
                .unwrap_or_else(PreviousChunks::none);
            self.read_chunked(file, &before, previous, rel)
        } else {
            self.read_small(file, &before, rel)
        }
    }

    /// [`Scanner::read_once`] of a file that was at most [`CHUNK_MIN_FILE`]
    /// bytes: read whole (one byte more shows it grew), hashed, handed over as
    /// one blob once its stat held still.
    fn read_small(&self, file: File, before: &CachedStat, rel: &[u8]) -> Result<Attempt, E> {
        let mut raw = Vec::with_capacity(before.size as usize);
        let reader = self.options.seam.reader(rel, &file);
        if let Err(e) = reader.take(CHUNK_MIN_FILE + 1).read_to_end(&mut raw) {
            return Ok(Attempt::Failed(e.into()));
        }
        self.counters
            .bytes_read
            .fetch_add(raw.len() as u64, Ordering::Relaxed);
        let Some(after) = self.unmoved(&file, before, raw.len() as u64) else {
            return Ok(Attempt::Moved);
        };
        let hash = BlobHash::of(&raw);
        if self.claim(&hash) {
            self.emit_blob(hash, &raw)?;
        }
        Ok(Attempt::Captured { hash, stat: after })
    }

    /// [`Scanner::read_once`] of a big file: one pass through the chunker. Each
    /// chunk is hashed, and handed over at once (compressed) when neither stored
    /// nor claimed; only one chunker buffer is held, never the file. Once the
    /// stat held still, the chunk list is handed over, unless that content is
    /// stored or claimed already. A file that moved leaves the chunks handed
    /// over unreferenced (GC drops them).
    fn read_chunked(
        &self,
        file: File,
        before: &CachedStat,
        previous: PreviousChunks,
        rel: &[u8],
    ) -> Result<Attempt, E> {
        let reader = self.options.seam.reader(rel, &file);
        let mut chunker = Chunker::new(reader, CHUNK_PARAMS_V1, before.size, previous);
        let mut chunks = Vec::new();
        let mut len = 0u64;
        loop {
            let chunk = match chunker.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Ok(Attempt::Failed(e.into())),
            };
            let n = chunk.bytes.len() as u64;
            len += n;
            self.counters.bytes_read.fetch_add(n, Ordering::Relaxed);
            if len > self.options.max_file_bytes {
                return Ok(Attempt::Failed(ReadFailure::TooLarge(len)));
            }
            chunks.push(Chunk {
                hash: chunk.hash,
                len: n as u32,
            });
            if self.claim(&chunk.hash) {
                self.emit_blob(chunk.hash, chunk.bytes)?;
            }
        }
        self.counters
            .bytes_reused
            .fetch_add(chunker.reused_bytes(), Ordering::Relaxed);
        let Some(after) = self.unmoved(&file, before, len) else {
            return Ok(Attempt::Moved);
        };
        // Held still, so `len` is the size stat'ed before: over CHUNK_MIN_FILE.
        let hash = chunker.whole_hash();
        // Content of one chunk (cut at the maximum: runs of one byte, a period
        // the gear hash never cuts) is that chunk's blob: no list to write.
        let several = chunks.len() > 1;
        if several && self.claim(&hash) {
            self.emit_chunk_lists(hash, len, chunks)?;
        }
        if several {
            self.stored.keep_leaves(rel, &hash, &chunker.into_leaves());
        }
        Ok(Attempt::Captured { hash, stat: after })
    }

    /// The stat after a read of `len` bytes, if it is the stat `before` the read
    /// and says `len` bytes: the content read is a state the file had.
    fn unmoved(&self, file: &File, before: &CachedStat, len: u64) -> Option<CachedStat> {
        let after = stat_of(&file.metadata().ok()?, BlobHash::default());
        (before.same_stat(&after) && after.size == len).then_some(after)
    }

    /// Hands over one whole blob (a small file's content, a symlink target or a
    /// chunk: at most [`PART_RAW_MAX`] bytes), compressed when that saves bytes.
    fn emit_blob(&self, hash: BlobHash, raw: &[u8]) -> Result<(), E> {
        assert!(
            raw.len() <= PART_RAW_MAX,
            "a blob part holds at most one part"
        );
        let raw_len = raw.len() as u64;
        let (compressed, data) = self.compress(raw);
        self.count_new(raw_len, data.len() as u64);
        (self.sink)(NewRecord::Part(BlobPart {
            hash,
            raw_len,
            offset: 0,
            compressed,
            data,
        }))
    }

    /// Hands over the chunk lists of content `hash`: one per [`CHUNKED_RUN_MAX`]
    /// chunks, each from its own offset.
    fn emit_chunk_lists(&self, hash: BlobHash, raw_len: u64, chunks: Vec<Chunk>) -> Result<(), E> {
        let mut offset = 0u64;
        for run in chunks.chunks(CHUNKED_RUN_MAX) {
            let run_len: u64 = run.iter().map(|c| u64::from(c.len)).sum();
            (self.sink)(NewRecord::Chunks(ChunkList {
                hash,
                raw_len,
                offset,
                chunks: run.to_vec(),
            }))?;
            offset += run_len;
        }
        self.counters.blobs_new.fetch_add(1, Ordering::Relaxed);
        Ok(())
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
