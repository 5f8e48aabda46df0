//! The writer: group commit, rotation, poisoning (opening, recovery and creation are
//! in `open`).
//!
//! Group commit without a thread (the leader/follower scheme): an appender encodes
//! its batch under the state lock into the pending buffer, which assigns its LSNs.
//! If no flush is running it becomes the leader: it takes everything pending, writes
//! it with one `pwrite` + `fdatasync` per segment touched (linked in io_uring when
//! enabled), then marks it durable and wakes everyone. Appenders that arrive while a
//! flush runs queue behind it and are flushed together by the next leader.
//! `append_batches` encodes many batches under one lock, so one leader flushes them
//! all: a bulk writer (GC's rewrite) pays one sync per segment, not per batch.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{AppendError, ReadError};
use crate::format::*;
use crate::log::{segment_name, LogIter, Seg, VerifyReport};
use crate::storage::{SegmentFile, Storage};
use crate::Lsn;

mod open;

pub use open::{RecoveryReport, TornTail};

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
    /// `seal_now` created the tail segment and nothing was appended since.
    just_sealed: bool,
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
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one batch of records and returns once it is durable (its sync
    /// returned). Records are opaque bytes of at most [`RECORD_MAX`].
    pub fn append(&self, records: &[&[u8]]) -> Result<Appended, AppendError> {
        let done = self.append_batches(&[records])?;
        Ok(done[0])
    }

    /// Appends several batches (each as in [`Wal::append`]) and returns once all are
    /// durable, with one write and one sync per segment they touch (rotating as
    /// usual) instead of one per batch. Returns each batch's LSNs, in order; they
    /// are contiguous, as from the same appends made one by one. Every batch is
    /// checked before any is encoded, so a refused one leaves the log unchanged. A
    /// crash before it returns leaves a prefix of whole batches (each is framed
    /// with its own start and end flags, and recovery keeps whole batches only).
    /// The batches are held in memory until the sync: bound what one call carries.
    pub fn append_batches(&self, batches: &[&[&[u8]]]) -> Result<Vec<Appended>, AppendError> {
        for records in batches {
            check_batch(records)?;
        }
        let Some(last) = batches.len().checked_sub(1) else {
            return Ok(Vec::new());
        };
        let mut st = self.lock();
        if let Some(cause) = &st.poisoned {
            return Err(AppendError::Poisoned {
                cause: cause.clone(),
            });
        }
        if st.closed {
            return Err(AppendError::Closed);
        }
        let done: Vec<Appended> = batches
            .iter()
            .map(|records| self.encode_batch(&mut st, records))
            .collect();
        self.wait_durable(st, done[last].end_lsn)?;
        Ok(done)
    }

    /// Encodes one checked batch into the pending buffer, assigning its LSNs.
    fn encode_batch(&self, st: &mut State, records: &[&[u8]]) -> Appended {
        let size: u64 = records.iter().map(|r| encoded_len(r.len())).sum();
        let tail_used = st.tail_offset > SEGMENT_HEADER_LEN as u64;
        let over = st.tail_offset + size > self.shared.opts.segment_bytes_max;
        if tail_used && (over || st.force_rotate) {
            self.rotate(st);
        }
        st.force_rotate = false;
        st.just_sealed = false;
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
        Appended {
            lsn: start_lsn,
            end_lsn: st.next_lsn,
        }
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

    /// Seals the current segment now, not at the next batch: once everything
    /// queued is durable, creates the next segment (its header synced, the
    /// directory synced) so the segment holding every acknowledged batch is never
    /// written again — what a push ships. Returns false, creating nothing, when
    /// the current segment holds no frame yet (it is already all there is).
    pub fn seal_now(&self) -> Result<bool, AppendError> {
        let mut st = self.lock();
        loop {
            if let Some(cause) = &st.poisoned {
                return Err(AppendError::Poisoned {
                    cause: cause.clone(),
                });
            }
            if st.closed {
                return Err(AppendError::Closed);
            }
            if !st.flushing && st.pending.is_empty() {
                break;
            }
            let end = st.next_lsn;
            self.wait_durable(st, end)?;
            st = self.lock();
        }
        if st.tail_offset <= SEGMENT_HEADER_LEN as u64 {
            return Ok(false);
        }
        self.rotate(&mut st);
        st.force_rotate = false;
        let mut st = self.flush(st)?;
        st.just_sealed = true;
        drop(st);
        Ok(true)
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
        if st.just_sealed && st.tail_offset == SEGMENT_HEADER_LEN as u64 {
            // Nothing since `seal_now`: the sealed segment was synced whole; a
            // mark would only give the next push a segment holding nothing.
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
        just_sealed: false,
    }
}

/// Refuses a batch that `append` must not encode: empty, or with a record over
/// [`RECORD_MAX`].
fn check_batch(records: &[&[u8]]) -> Result<(), AppendError> {
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
    Ok(())
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
