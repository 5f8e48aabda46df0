//! Opening a log for writing: recovery of an existing log, creation of a new one
//! (with a random repository id, or a given one for GC's rewritten log), and
//! continuing after segments that must stay byte-identical (`open_sealed`: GC's
//! hard-linked segments, shared with the old log).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::{new_state, now_ns, random_u64, Options, Shared, State, Wal};
use crate::error::{OpenError, Unsealable};
use crate::format::*;
use crate::log::{
    discover, io_err, parse_segment_name, scan_tail, segment_name, Damage, Discovered, Seg,
};
use crate::storage::{FsStorage, SegmentFile, Storage, LOCK_FILE};
use crate::Lsn;

/// What recovery did when the log was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found.
    pub segments: usize,
    /// First LSN held.
    pub start_lsn: Lsn,
    /// End of the valid log after recovery: the next append's LSN.
    pub end_lsn: Lsn,
    /// Highest acknowledged LSN recorded in the last segment's frames.
    pub acked_lsn: Lsn,
    /// The torn tail cut from the last segment, if there was one.
    pub torn_tail: Option<TornTail>,
    /// Damage found below the acknowledged LSN: corruption, left in place.
    pub corruption: Vec<Damage>,
    /// A last segment whose creation never finished, set aside.
    pub torn_creation: Option<String>,
    /// True when this open created the log.
    pub created: bool,
    /// True when writing resumes in a new segment (after an unclean end, or
    /// always after `open_sealed`).
    pub new_segment: bool,
}

impl RecoveryReport {
    /// True when recovery found nothing to do.
    pub fn is_clean(&self) -> bool {
        self.torn_tail.is_none() && self.corruption.is_empty() && self.torn_creation.is_none()
    }
}

/// A torn tail that recovery cut off and kept in quarantine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: String,
    /// File offset where the cut starts.
    pub offset: u64,
    /// LSN where the cut starts (the new end of the log).
    pub lsn: Lsn,
    /// Bytes cut.
    pub bytes: u64,
    /// The first damage found there, if the tail was not just an unfinished batch.
    pub damage: Option<Damage>,
    /// Where the cut bytes were kept.
    pub quarantined_as: String,
}

fn fs_storage(
    dir: &Path,
    quarantine: &Path,
    opts: &Options,
) -> Result<Arc<dyn Storage>, OpenError> {
    let storage = FsStorage::new(dir, quarantine)
        .map_err(|source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .with_uring(opts.uring);
    Ok(Arc::new(storage))
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`, running recovery. Bytes it
    /// cuts are copied to the directory `quarantine` first.
    pub fn open(
        dir: impl AsRef<Path>,
        quarantine: impl AsRef<Path>,
        opts: Options,
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let storage = fs_storage(dir.as_ref(), quarantine.as_ref(), &opts)?;
        Wal::open_storage(storage, opts)
    }

    /// Creates a new, empty log in `dir` (made if missing) whose segments carry
    /// `repo_id`, starting at LSN 0. Fails with [`OpenError::AlreadyExists`] if
    /// the directory holds any segment. The new directory's own entry in its
    /// parent is not synced here: that is the caller's (GC syncs `.tl/gc`).
    pub fn create(
        dir: impl AsRef<Path>,
        quarantine: impl AsRef<Path>,
        opts: Options,
        repo_id: [u8; 16],
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let storage = fs_storage(dir.as_ref(), quarantine.as_ref(), &opts)?;
        Wal::create_storage(storage, opts, repo_id)
    }

    /// Opens the log in `dir` to continue after its segments without ever
    /// changing a byte of them (they may be hard links shared with another log,
    /// as GC's kept segments are): the first append starts a new segment, and
    /// neither recovery nor `close`/`Drop` writes into an existing segment (the
    /// last one is held read-only). Fails with [`OpenError::NoSegment`] on an
    /// empty directory and [`OpenError::NotSealed`] when the last segment has no
    /// frame or a torn tail that recovery would have to cut.
    pub fn open_sealed(
        dir: impl AsRef<Path>,
        quarantine: impl AsRef<Path>,
        opts: Options,
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let storage = fs_storage(dir.as_ref(), quarantine.as_ref(), &opts)?;
        Wal::open_sealed_storage(storage, opts)
    }

    /// Opens the log held by `storage`, running recovery.
    pub fn open_storage(
        storage: Arc<dyn Storage>,
        opts: Options,
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let lock = take_lock(&*storage)?;
        let found = discover(&*storage)?;
        let mut report = RecoveryReport {
            segments: found.segs.len(),
            ..Default::default()
        };
        let s = &*storage;
        set_aside_torn_creation(s, &found, &mut report)?;

        let mut segs = found.segs;
        let state = match segs.last().cloned() {
            None => {
                // A new log (or one whose only segment never got its header).
                let base = found
                    .torn_creation
                    .as_deref()
                    .and_then(parse_segment_name)
                    .unwrap_or(Lsn::ZERO);
                report.created = found.torn_creation.is_none();
                start_log(s, base, rand::random(), &mut report)?
            }
            Some(last) => {
                let file = s.open(&last.name).map_err(|e| io_err(s, &last.name, e))?;
                let file: Arc<dyn SegmentFile> = Arc::from(file);
                let scan = scan_tail(s, &last, Box::new(ArcFile(file.clone())))
                    .map_err(|e| io_err(s, &last.name, e))?;
                report.acked_lsn = scan.max_acked;
                report.corruption = scan.corruption.clone();
                let cut = scan.file_len - scan.valid_end;
                let mut valid_end = scan.valid_end;
                let mut crc_at_end = scan.crc_at_end;
                if cut > 0 {
                    let kept = s
                        .quarantine(&last.name, scan.valid_end, &*file, cut)
                        .map_err(|e| io_err(s, &last.name, e))?;
                    file.set_len(scan.valid_end)
                        .map_err(|e| io_err(s, &last.name, e))?;
                    file.sync_data().map_err(|e| io_err(s, &last.name, e))?;
                    report.torn_tail = Some(TornTail {
                        segment: last.name.clone(),
                        offset: scan.valid_end,
                        lsn: last.header.lsn_at(scan.valid_end),
                        bytes: cut,
                        damage: scan.torn_at.clone(),
                        quarantined_as: kept,
                    });
                    if !scan.corruption.is_empty() {
                        // The damage kept as corruption was judged so on the `acked`
                        // of frames that may sit in the tail just cut (an unfinished
                        // batch). Persist the judgement with a mark acknowledging the
                        // kept prefix, or the next open, no longer seeing that
                        // evidence, would call the same damage a torn tail and cut the
                        // acknowledged records after it (found by the
                        // `segment_recover` fuzz target: recovery was not idempotent).
                        let lsn = last.header.lsn_at(valid_end);
                        let mut mark = Vec::with_capacity(FRAME_HEADER_LEN);
                        crc_at_end = encode_frame(
                            &mut mark,
                            last.header.salt,
                            lsn,
                            lsn,
                            crc_at_end,
                            FrameKind::Mark,
                            0,
                            &[],
                        );
                        file.write_and_sync(&mark, valid_end)
                            .map_err(|e| io_err(s, &last.name, e))?;
                        valid_end += FRAME_HEADER_LEN as u64;
                    }
                }
                let n = segs.len();
                segs[n - 1].limit = valid_end;
                let mut st = continue_after(segs, file, crc_at_end, scan.max_acked);
                // After an unclean end, begin a new segment instead of appending to
                // a tail that held damage.
                if cut > 0 || !scan.corruption.is_empty() {
                    st.force_rotate = true;
                    report.new_segment = true;
                }
                report.start_lsn = st.segs[0].header.base_lsn;
                report.end_lsn = st.next_lsn;
                st
            }
        };
        Ok((Wal::assemble(storage, opts, state, lock), report))
    }

    /// Creates a new, empty log in `storage` with `repo_id`; see [`Wal::create`].
    pub fn create_storage(
        storage: Arc<dyn Storage>,
        opts: Options,
        repo_id: [u8; 16],
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let lock = take_lock(&*storage)?;
        let s = &*storage;
        let names = s.list().map_err(|e| io_err(s, "", e))?;
        // Any segment name counts, even one whose creation never finished: a new
        // log is never mixed with the remains of another.
        if let Some(name) = names
            .iter()
            .filter(|n| parse_segment_name(n).is_some())
            .min()
        {
            return Err(OpenError::AlreadyExists {
                dir: s.describe(""),
                segment: s.describe(name),
            });
        }
        // Refuses what `open` would refuse later (a foreign file).
        discover(s)?;
        let mut report = RecoveryReport {
            created: true,
            ..Default::default()
        };
        let state = start_log(s, Lsn::ZERO, repo_id, &mut report)?;
        Ok((Wal::assemble(storage, opts, state, lock), report))
    }

    /// Opens the log held by `storage` to continue after its segments without
    /// changing them; see [`Wal::open_sealed`].
    pub fn open_sealed_storage(
        storage: Arc<dyn Storage>,
        opts: Options,
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let lock = take_lock(&*storage)?;
        let found = discover(&*storage)?;
        let s = &*storage;
        let Some(last) = found.segs.last().cloned() else {
            return Err(OpenError::NoSegment {
                dir: s.describe(""),
            });
        };
        // Read-only: nothing here may write into a segment that may be shared.
        let file: Arc<dyn SegmentFile> = Arc::from(
            s.open_read(&last.name)
                .map_err(|e| io_err(s, &last.name, e))?,
        );
        let scan = scan_tail(s, &last, Box::new(ArcFile(file.clone())))
            .map_err(|e| io_err(s, &last.name, e))?;
        let refuse = |reason| OpenError::NotSealed {
            segment: s.describe(&last.name),
            reason,
        };
        if scan.valid_end < scan.file_len {
            return Err(refuse(Unsealable::TornTail {
                offset: scan.valid_end,
                bytes: scan.file_len - scan.valid_end,
            }));
        }
        if scan.valid_end == SEGMENT_HEADER_LEN as u64 {
            return Err(refuse(Unsealable::NoFrames));
        }
        let mut report = RecoveryReport {
            segments: found.segs.len(),
            acked_lsn: scan.max_acked,
            corruption: scan.corruption.clone(),
            new_segment: true,
            ..Default::default()
        };
        // Only removes a directory entry (never a byte of a kept segment's file).
        set_aside_torn_creation(s, &found, &mut report)?;
        let mut segs = found.segs;
        let n = segs.len();
        segs[n - 1].limit = scan.valid_end;
        let mut st = continue_after(segs, file, scan.crc_at_end, scan.max_acked);
        // With a last segment that holds frames, the first batch rotates; and
        // `close_inner` writes no mark while a rotation is pending, nor before this
        // writer's first sync. After it, the tail is the new segment.
        st.force_rotate = true;
        report.start_lsn = st.segs[0].header.base_lsn;
        report.end_lsn = st.next_lsn;
        Ok((Wal::assemble(storage, opts, st, lock), report))
    }

    fn assemble(
        storage: Arc<dyn Storage>,
        opts: Options,
        state: State,
        lock: Box<dyn Send + Sync>,
    ) -> Wal {
        Wal {
            shared: Arc::new(Shared {
                storage,
                opts,
                state: Mutex::new(state),
                durable: Condvar::new(),
                _lock: lock,
            }),
        }
    }
}

/// Takes the single-writer lock and records this process as its holder.
fn take_lock(storage: &dyn Storage) -> Result<Box<dyn Send + Sync>, OpenError> {
    let lock = storage.lock().map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            OpenError::Locked {
                lock: storage.describe(LOCK_FILE),
                holder: storage.lock_holder(),
            }
        } else {
            io_err(storage, LOCK_FILE, e)
        }
    })?;
    // Only a hint for whoever waits: failing to record it costs them the pid.
    let _ = storage.set_lock_holder(std::process::id());
    Ok(lock)
}

/// Copies a last segment whose creation never finished to quarantine and removes it.
fn set_aside_torn_creation(
    s: &dyn Storage,
    found: &Discovered,
    report: &mut RecoveryReport,
) -> Result<(), OpenError> {
    let Some(name) = &found.torn_creation else {
        return Ok(());
    };
    let file = s.open_read(name).map_err(|e| io_err(s, name, e))?;
    let len = file.len().map_err(|e| io_err(s, name, e))?;
    s.quarantine(name, 0, &*file, len)
        .map_err(|e| io_err(s, name, e))?;
    s.remove(name).map_err(|e| io_err(s, name, e))?;
    s.sync_dir().map_err(|e| io_err(s, "", e))?;
    report.torn_creation = Some(name.clone());
    Ok(())
}

/// Creates the first segment of a log (at `base`, with `repo_id`), durably, and
/// the writer's state over it.
fn start_log(
    s: &dyn Storage,
    base: Lsn,
    repo_id: [u8; 16],
    report: &mut RecoveryReport,
) -> Result<State, OpenError> {
    let header = SegmentHeader {
        version: FORMAT_VERSION,
        repo_id,
        base_lsn: base,
        salt: random_u64(),
        created_ns: now_ns(),
    };
    let name = segment_name(base);
    let file = create_segment(s, &name, &header).map_err(|e| io_err(s, &name, e))?;
    let segs = vec![Seg {
        name: name.clone(),
        header,
        limit: SEGMENT_HEADER_LEN as u64,
    }];
    report.start_lsn = base;
    report.end_lsn = base;
    report.new_segment = true;
    Ok(new_state(
        segs,
        header,
        name.clone(),
        Some((name, file)),
        header.crc(),
    ))
}

/// The writer's state continuing the last of `segs` (its `limit` set to the end of
/// its valid data, whose last frame crc is `crc_at_end`), open as `file`, with
/// `max_acked` the highest `acked` its frames record.
fn continue_after(
    segs: Vec<Seg>,
    file: Arc<dyn SegmentFile>,
    crc_at_end: u32,
    max_acked: Lsn,
) -> State {
    let last = segs.last().expect("a log has a segment").clone();
    let end = last.end_lsn();
    let mut st = new_state(
        segs,
        last.header,
        last.name.clone(),
        Some((last.name, file)),
        crc_at_end,
    );
    st.tail_offset = last.limit;
    st.next_lsn = end;
    st.durable_lsn = end;
    st.acked_floor = Some(max_acked.min(end));
    st
}

fn create_segment(
    s: &dyn Storage,
    name: &str,
    header: &SegmentHeader,
) -> std::io::Result<Arc<dyn SegmentFile>> {
    let f = s.create(name)?;
    f.write_and_sync(&header.encode(), 0)?;
    s.sync_dir()?;
    Ok(Arc::from(f))
}

/// Shares one open file between the writer and recovery's scan.
struct ArcFile(Arc<dyn SegmentFile>);

impl SegmentFile for ArcFile {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
}
