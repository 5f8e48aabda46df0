//! The writer: recovery on open, group commit, rotation, poisoning.
//!
//! Group commit without a thread (the leader/follower scheme): an appender encodes
//! its batch under the state lock into the pending buffer, which assigns its LSNs.
//! If no flush is running it becomes the leader: it takes everything pending, writes
//! it with one `pwrite` + `fdatasync` per segment touched (linked in io_uring when
//! enabled), then marks it durable and wakes everyone. Appenders that arrive while a
//! flush runs queue behind it and are flushed together by the next leader.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{AppendError, OpenError, ReadError};
use crate::format::*;
use crate::log::{discover, io_err, scan_tail, segment_name, Damage, LogIter, Seg, VerifyReport};
use crate::storage::{FsStorage, SegmentFile, Storage};
use crate::Lsn;

/// How the log is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// A segment is sealed and a new one started once it reaches this size
    /// (a single batch larger than this gets a segment of its own).
    pub segment_bytes_max: u64,
    /// Append through io_uring when the kernel allows it.
    pub uring: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_bytes_max: 64 << 20,
            uring: false,
        }
    }
}

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
    /// True when writing resumes in a new segment (after an unclean end).
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

/// Result of a durable append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// LSN of the batch's first record.
    pub lsn: Lsn,
    /// LSN just after the batch; everything below it is durable.
    pub end_lsn: Lsn,
}

struct Chunk {
    /// Create this segment (write `bytes`, its header, at offset 0) before writing.
    create: Option<String>,
    segment: String,
    offset: u64,
    lsn: Lsn,
    bytes: Vec<u8>,
}

struct State {
    /// Segments as readers should see them: the last one's limit is the durable end.
    segs: Vec<Seg>,
    /// The segment new batches are encoded into (may not exist on disk yet).
    tail: SegmentHeader,
    tail_name: String,
    tail_offset: u64,
    tail_prev_crc: u32,
    /// The open file of the last segment that exists on disk.
    file: Option<(String, Arc<dyn SegmentFile>)>,
    pending: Vec<Chunk>,
    next_lsn: Lsn,
    durable_lsn: Lsn,
    flushing: bool,
    poisoned: Option<String>,
    closed: bool,
    force_rotate: bool,
    /// The last segment may hold bytes not yet synced (the previous writer's
    /// closing mark is written without a sync). Appends into it sync them too; a
    /// rotation syncs it first, so no new segment depends on unsynced bytes.
    tail_maybe_dirty: bool,
    /// Until this writer's first sync, the highest LSN known acknowledged from the
    /// frames found on disk: bytes read back at open may sit unsynced in the page
    /// cache (a previous writer's mark, or a batch it wrote but never synced), so
    /// frames written before our first sync must not claim them as acknowledged.
    acked_floor: Option<Lsn>,
}

struct Shared {
    storage: Arc<dyn Storage>,
    opts: Options,
    state: Mutex<State>,
    durable: Condvar,
    _lock: Box<dyn Send + Sync>,
}

/// An open log with its single writer. Cheap to share across threads by reference
/// (`&Wal` or `Arc<Wal>`): concurrent `append`s are grouped into one sync.
pub struct Wal {
    shared: Arc<Shared>,
}

fn random_u64() -> u64 {
    rand::random()
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`, running recovery. Bytes it
    /// cuts are copied to the directory `quarantine` first.
    pub fn open(
        dir: impl AsRef<Path>,
        quarantine: impl AsRef<Path>,
        opts: Options,
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let dir = dir.as_ref();
        let quarantine = quarantine.as_ref();
        let storage = FsStorage::new(dir, quarantine)
            .map_err(|source| OpenError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .with_uring(opts.uring);
        Wal::open_storage(Arc::new(storage), opts)
    }

    /// Opens the log held by `storage`, running recovery.
    pub fn open_storage(
        storage: Arc<dyn Storage>,
        opts: Options,
    ) -> Result<(Wal, RecoveryReport), OpenError> {
        let lock = storage.lock().map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                OpenError::Locked {
                    lock: storage.describe(crate::storage::LOCK_FILE),
                    holder: storage.lock_holder(),
                }
            } else {
                io_err(&*storage, crate::storage::LOCK_FILE, e)
            }
        })?;
        // Only a hint for whoever waits: failing to record it costs them the pid.
        let _ = storage.set_lock_holder(std::process::id());
        let found = discover(&*storage)?;
        let mut report = RecoveryReport {
            segments: found.segs.len(),
            ..Default::default()
        };
        let s = &*storage;

        if let Some(name) = &found.torn_creation {
            let file = s.open_read(name).map_err(|e| io_err(s, name, e))?;
            let len = file.len().map_err(|e| io_err(s, name, e))?;
            s.quarantine(name, 0, &*file, len)
                .map_err(|e| io_err(s, name, e))?;
            s.remove(name).map_err(|e| io_err(s, name, e))?;
            s.sync_dir().map_err(|e| io_err(s, "", e))?;
            report.torn_creation = Some(name.clone());
        }

        let mut segs = found.segs;
        let state = match segs.last().cloned() {
            None => {
                // A new log (or one whose only segment never got its header).
                let base = found
                    .torn_creation
                    .as_deref()
                    .and_then(crate::log::parse_segment_name)
                    .unwrap_or(Lsn::ZERO);
                report.created = found.torn_creation.is_none();
                report.new_segment = true;
                let header = SegmentHeader {
                    version: FORMAT_VERSION,
                    repo_id: rand::random(),
                    base_lsn: base,
                    salt: random_u64(),
                    created_ns: now_ns(),
                };
                let name = segment_name(base);
                let file = create_segment(s, &name, &header).map_err(|e| io_err(s, &name, e))?;
                segs.push(Seg {
                    name: name.clone(),
                    header,
                    limit: SEGMENT_HEADER_LEN as u64,
                });
                report.start_lsn = base;
                report.end_lsn = base;
                new_state(segs, header, name.clone(), Some((name, file)), header.crc())
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
                let end = segs[n - 1].end_lsn();
                report.start_lsn = segs[0].header.base_lsn;
                report.end_lsn = end;
                let mut st = new_state(
                    segs,
                    last.header,
                    last.name.clone(),
                    Some((last.name.clone(), file)),
                    crc_at_end,
                );
                st.tail_offset = valid_end;
                st.next_lsn = end;
                st.durable_lsn = end;
                st.acked_floor = Some(report.acked_lsn.min(end));
                // After an unclean end, begin a new segment instead of appending to
                // a tail that held damage.
                if cut > 0 || !scan.corruption.is_empty() {
                    st.force_rotate = true;
                    report.new_segment = true;
                }
                st
            }
        };
        let wal = Wal {
            shared: Arc::new(Shared {
                storage,
                opts,
                state: Mutex::new(state),
                durable: Condvar::new(),
                _lock: lock,
            }),
        };
        Ok((wal, report))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one batch of records and returns once it is durable (its sync
    /// returned). Records are opaque bytes of at most [`RECORD_MAX`].
    pub fn append(&self, records: &[&[u8]]) -> Result<Appended, AppendError> {
        if records.is_empty() {
            return Err(AppendError::EmptyBatch);
        }
        for r in records {
            if r.len() > RECORD_MAX {
                return Err(AppendError::RecordTooLarge {
                    len: r.len(),
                    max: RECORD_MAX,
                });
            }
        }
        let mut st = self.lock();
        if let Some(cause) = &st.poisoned {
            return Err(AppendError::Poisoned {
                cause: cause.clone(),
            });
        }
        if st.closed {
            return Err(AppendError::Closed);
        }
        let (lsn, end) = self.encode_batch(&mut st, records);
        self.wait_durable(st, end)
            .map(|()| Appended { lsn, end_lsn: end })
    }

    fn encode_batch(&self, st: &mut State, records: &[&[u8]]) -> (Lsn, Lsn) {
        let size: u64 = records.iter().map(|r| encoded_len(r.len())).sum();
        let tail_used = st.tail_offset > SEGMENT_HEADER_LEN as u64;
        let over = st.tail_offset + size > self.shared.opts.segment_bytes_max;
        if tail_used && (over || st.force_rotate) {
            self.rotate(st);
        }
        st.force_rotate = false;
        let acked = match st.acked_floor {
            Some(floor) => floor.min(st.durable_lsn),
            None => st.durable_lsn,
        };
        let salt = st.tail.salt;
        let start_lsn = st.next_lsn;
        let mut chunk = match st.pending.last() {
            Some(c) if c.create.is_none() && c.segment == st.tail_name => {
                st.pending.pop().expect("checked above")
            }
            _ => Chunk {
                create: None,
                segment: st.tail_name.clone(),
                offset: st.tail_offset,
                lsn: st.next_lsn,
                bytes: Vec::with_capacity(size as usize),
            },
        };
        let n = records.len();
        for (i, record) in records.iter().enumerate() {
            let parts: Vec<&[u8]> = if record.is_empty() {
                vec![&record[..]]
            } else {
                record.chunks(FRAME_PAYLOAD_MAX).collect()
            };
            let k = parts.len();
            for (j, part) in parts.into_iter().enumerate() {
                let kind = match (k, j) {
                    (1, _) => FrameKind::Full,
                    (_, 0) => FrameKind::First,
                    (_, j) if j + 1 == k => FrameKind::Last,
                    _ => FrameKind::Middle,
                };
                let mut flags = 0;
                if i == 0 && j == 0 {
                    flags |= FLAG_BATCH_START;
                }
                if i + 1 == n && j + 1 == k {
                    flags |= FLAG_BATCH_END;
                }
                let lsn = st.next_lsn;
                let crc = encode_frame(
                    &mut chunk.bytes,
                    salt,
                    lsn,
                    acked,
                    st.tail_prev_crc,
                    kind,
                    flags,
                    part,
                );
                st.tail_prev_crc = crc;
                let len = frame_len(part.len()) as u64;
                st.next_lsn += len;
                st.tail_offset += len;
            }
        }
        st.pending.push(chunk);
        (start_lsn, st.next_lsn)
    }

    /// Starts a new segment at the current end (encoded now, created on disk by the
    /// next flush, before anything is written into it).
    fn rotate(&self, st: &mut State) {
        let header = SegmentHeader {
            version: FORMAT_VERSION,
            repo_id: st.tail.repo_id,
            base_lsn: st.next_lsn,
            salt: random_u64(),
            created_ns: now_ns(),
        };
        let name = segment_name(header.base_lsn);
        st.pending.push(Chunk {
            create: Some(name.clone()),
            segment: name.clone(),
            offset: 0,
            lsn: header.base_lsn,
            bytes: header.encode().to_vec(),
        });
        st.tail = header;
        st.tail_name = name;
        st.tail_offset = SEGMENT_HEADER_LEN as u64;
        st.tail_prev_crc = header.crc();
    }

    fn wait_durable<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        end: Lsn,
    ) -> Result<(), AppendError> {
        loop {
            if st.durable_lsn >= end {
                return Ok(());
            }
            if let Some(cause) = &st.poisoned {
                return Err(AppendError::Poisoned {
                    cause: cause.clone(),
                });
            }
            if !st.flushing {
                st = self.flush(st)?;
                continue;
            }
            st = self
                .shared
                .durable
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Leader: writes and syncs everything pending, outside the lock.
    fn flush<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
    ) -> Result<MutexGuard<'a, State>, AppendError> {
        st.flushing = true;
        let chunks = std::mem::take(&mut st.pending);
        let target = st.next_lsn;
        let mut file = st.file.clone();
        let mut dirty = st.tail_maybe_dirty;
        drop(st);
        let s = &*self.shared.storage;
        let mut result: Result<(), AppendError> = Ok(());
        let mut created: Vec<Seg> = Vec::new();
        for chunk in &chunks {
            let io = |source| AppendError::Io {
                path: s.describe(&chunk.segment),
                offset: chunk.offset,
                lsn: chunk.lsn,
                source,
            };
            let r = (|| {
                if let Some(name) = &chunk.create {
                    if dirty {
                        if let Some((_, old)) = &file {
                            old.sync_data().map_err(io)?;
                        }
                        dirty = false;
                    }
                    let f = s.create(name).map_err(io)?;
                    let f: Arc<dyn SegmentFile> = Arc::from(f);
                    f.write_and_sync(&chunk.bytes, 0).map_err(io)?;
                    s.sync_dir().map_err(io)?;
                    let header = SegmentHeader::decode(&chunk.bytes).expect("encoded by rotate");
                    created.push(Seg {
                        name: name.clone(),
                        header,
                        limit: SEGMENT_HEADER_LEN as u64,
                    });
                    file = Some((name.clone(), f));
                    return Ok(());
                }
                let (name, f) = file.as_ref().expect("a segment file is open");
                debug_assert_eq!(name, &chunk.segment);
                f.write_and_sync(&chunk.bytes, chunk.offset).map_err(io)?;
                dirty = false;
                Ok(())
            })();
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
        let mut st = self.lock();
        st.flushing = false;
        st.file = file;
        st.tail_maybe_dirty = dirty;
        match result {
            Ok(()) => {
                st.durable_lsn = target;
                st.acked_floor = None;
                let n_created = created.len();
                st.segs.extend(created);
                // A flush that rotated completed every segment it left (the tail it
                // found included): each ends where the next begins.
                let n = st.segs.len();
                for i in n.saturating_sub(n_created + 1)..n - 1 {
                    let next_base = st.segs[i + 1].header.base_lsn;
                    st.segs[i].limit = st.segs[i].header.offset_of(next_base);
                }
                let last = st.segs.last_mut().expect("at least one segment");
                last.limit = last.header.offset_of(target);
                self.shared.durable.notify_all();
                Ok(st)
            }
            Err(e) => {
                // fsyncgate: after a failed write or sync the page cache may hold
                // bytes the disk does not, and a retried fsync can falsely succeed.
                // Refuse every later write; reopening re-reads the truth from disk.
                st.poisoned = Some(e.to_string());
                st.pending.clear();
                self.shared.durable.notify_all();
                Err(e)
            }
        }
    }

    /// The end of the durable log: every batch below it is acknowledged.
    pub fn durable_lsn(&self) -> Lsn {
        self.lock().durable_lsn
    }

    /// The first LSN the log holds.
    pub fn start_lsn(&self) -> Lsn {
        self.lock().segs[0].header.base_lsn
    }

    /// True when an I/O failure poisoned the writer.
    pub fn is_poisoned(&self) -> bool {
        self.lock().poisoned.is_some()
    }

    /// The log's repository id (equal in every segment).
    pub fn repo_id(&self) -> [u8; 16] {
        self.lock().tail.repo_id
    }

    /// Iterates durable records from `lsn` (a record boundary) to the durable end.
    pub fn iter_from(&self, lsn: Lsn) -> Result<LogIter, ReadError> {
        let segs = self.lock().segs.clone();
        LogIter::new(self.shared.storage.clone(), segs, lsn)
    }

    /// Reads the record that starts at `lsn`.
    pub fn read(&self, lsn: Lsn) -> Result<Vec<u8>, ReadError> {
        read_one(self.iter_from(lsn)?, lsn)
    }

    /// Reads every segment and reports all damage.
    pub fn verify(&self) -> Result<VerifyReport, ReadError> {
        let segs = self.lock().segs.clone();
        crate::log::verify(self.shared.storage.clone(), segs)
    }

    /// Seals the current segment: the next batch starts a new one.
    pub fn seal(&self) {
        self.lock().force_rotate = true;
    }

    /// Writes a mark saying everything so far is acknowledged, syncs it and closes
    /// the log. Later appends fail with [`AppendError::Closed`].
    pub fn close(self) -> Result<(), AppendError> {
        self.close_inner()
    }

    fn close_inner(&self) -> Result<(), AppendError> {
        let mut st = self.lock();
        if st.closed {
            return Ok(());
        }
        if let Some(cause) = &st.poisoned {
            return Err(AppendError::Poisoned {
                cause: cause.clone(),
            });
        }
        // Let queued batches go first, so the mark acknowledges them all.
        while st.flushing || !st.pending.is_empty() {
            let end = st.next_lsn;
            st = match self.wait_durable(st, end) {
                Ok(()) => self.lock(),
                Err(e) => return Err(e),
            };
        }
        st.closed = true;
        if st.acked_floor.is_some() {
            // Nothing was synced by this writer: the log is as it was found (with
            // its own closing mark, if it had one); a new mark could not claim more.
            return Ok(());
        }
        if st.force_rotate && st.tail_offset > SEGMENT_HEADER_LEN as u64 {
            // Recovery asked for a new segment; a mark alone is not worth one.
            return Ok(());
        }
        let acked = st.durable_lsn;
        let lsn = st.next_lsn;
        let mut bytes = Vec::with_capacity(FRAME_HEADER_LEN);
        let crc = encode_frame(
            &mut bytes,
            st.tail.salt,
            lsn,
            acked,
            st.tail_prev_crc,
            FrameKind::Mark,
            0,
            &[],
        );
        st.tail_prev_crc = crc;
        let Some((name, file)) = st.file.clone() else {
            return Ok(());
        };
        if name != st.tail_name {
            return Ok(());
        }
        let offset = st.tail_offset;
        st.next_lsn += FRAME_HEADER_LEN as u64;
        st.tail_offset += FRAME_HEADER_LEN as u64;
        // No sync: the mark vouches only for bytes already synced. If it is lost or
        // torn by a crash, the next open scans the segment (and quarantines a torn
        // mark as a torn tail), exactly as without it. Saving the sync halves the
        // syncs of a one-checkpoint `tl` command.
        file.write_all_at(&bytes, offset)
            .map_err(|source| AppendError::Io {
                path: self.shared.storage.describe(&name),
                offset,
                lsn,
                source,
            })
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        // Best effort: a failure here leaves an unmarked but valid log.
        let _ = self.close_inner();
    }
}

fn new_state(
    segs: Vec<Seg>,
    tail: SegmentHeader,
    tail_name: String,
    file: Option<(String, Arc<dyn SegmentFile>)>,
    prev_crc: u32,
) -> State {
    let end = segs.last().map(|s| s.end_lsn()).unwrap_or(tail.base_lsn);
    State {
        segs,
        tail,
        tail_name,
        tail_offset: SEGMENT_HEADER_LEN as u64,
        tail_prev_crc: prev_crc,
        file,
        pending: Vec::new(),
        next_lsn: end,
        durable_lsn: end,
        flushing: false,
        poisoned: None,
        closed: false,
        force_rotate: false,
        tail_maybe_dirty: true,
        acked_floor: None,
    }
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

/// Bytes a record of `len` bytes occupies in frames.
pub fn encoded_len(len: usize) -> u64 {
    if len == 0 {
        return frame_len(0) as u64;
    }
    let full = len / FRAME_PAYLOAD_MAX;
    let rest = len % FRAME_PAYLOAD_MAX;
    let mut n = full as u64 * frame_len(FRAME_PAYLOAD_MAX) as u64;
    if rest > 0 {
        n += frame_len(rest) as u64;
    }
    n
}

pub(crate) fn read_one(mut it: LogIter, lsn: Lsn) -> Result<Vec<u8>, ReadError> {
    match it.next() {
        Some(Ok(r)) => {
            debug_assert_eq!(r.lsn, lsn);
            Ok(r.data)
        }
        Some(Err(e)) => Err(e),
        None => Err(ReadError::OutOfRange {
            lsn,
            start: lsn,
            end: lsn,
        }),
    }
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
