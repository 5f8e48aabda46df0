//! The log as a sequence of segments: discovery and validation on open, the
//! analysis of the last segment that recovery acts on, iteration by LSN, and full
//! verification.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cursor::{Cursor, Step};
use crate::error::{OpenError, ReadError};
use crate::format::*;
use crate::storage::{SegmentFile, Storage, LOCK_FILE};
use crate::Lsn;

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";

/// The file name of the segment starting at `base`.
pub fn segment_name(base: Lsn) -> String {
    format!("{base:020}{SEGMENT_SUFFIX}")
}

/// Parses a segment file name; `None` if it is not one.
pub fn parse_segment_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Lsn::new)
}

/// One segment as found on open.
#[derive(Clone, Debug)]
pub(crate) struct Seg {
    pub(crate) name: String,
    pub(crate) header: SegmentHeader,
    /// File offset where readable data ends (file length for sealed segments, the
    /// durable end for the active one).
    pub(crate) limit: u64,
}

impl Seg {
    pub(crate) fn end_lsn(&self) -> Lsn {
        self.header.lsn_at(self.limit)
    }
}

/// The segments of a log, validated: headers, names, one repository, contiguity.
pub(crate) struct Discovered {
    pub(crate) segs: Vec<Seg>,
    /// A last segment whose creation never completed (shorter than a header, or a
    /// zero header): safe to set aside.
    pub(crate) torn_creation: Option<String>,
}

pub(crate) fn io_err(storage: &dyn Storage, name: &str, source: io::Error) -> OpenError {
    OpenError::Io {
        path: storage.describe(name),
        source,
    }
}

pub(crate) fn discover(storage: &dyn Storage) -> Result<Discovered, OpenError> {
    let names = storage.list().map_err(|e| io_err(storage, "", e))?;
    let mut bases = Vec::new();
    for name in names {
        if name == LOCK_FILE {
            continue;
        }
        match parse_segment_name(&name) {
            Some(base) => bases.push((base, name)),
            None => {
                return Err(OpenError::ForeignFile {
                    path: storage.describe(&name),
                })
            }
        }
    }
    bases.sort();
    let n = bases.len();
    let mut segs: Vec<Seg> = Vec::with_capacity(n);
    let mut torn_creation = None;
    for (i, (base, name)) in bases.into_iter().enumerate() {
        let file = storage
            .open_read(&name)
            .map_err(|e| io_err(storage, &name, e))?;
        let len = file.len().map_err(|e| io_err(storage, &name, e))?;
        let mut head = vec![0u8; SEGMENT_HEADER_LEN.min(len as usize)];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| io_err(storage, &name, e))?;
        let header = match SegmentHeader::decode(&head) {
            Ok(h) => h,
            Err(HeaderProblem::UnsupportedVersion { found }) => {
                return Err(OpenError::UnsupportedVersion {
                    path: storage.describe(&name),
                    found,
                    supported: FORMAT_VERSION,
                })
            }
            Err(problem) => {
                let last = i + 1 == n;
                let unwritten = len <= SEGMENT_HEADER_LEN as u64 && is_zero(&head);
                let short = len < SEGMENT_HEADER_LEN as u64;
                if last && (unwritten || short) && i > 0 {
                    torn_creation = Some(name);
                    continue;
                }
                if last && (unwritten || short) && i == 0 {
                    torn_creation = Some(name);
                    continue;
                }
                return Err(OpenError::BadHeader {
                    path: storage.describe(&name),
                    problem,
                });
            }
        };
        if header.base_lsn != base {
            return Err(OpenError::NameMismatch {
                path: storage.describe(&name),
                header_lsn: header.base_lsn,
                name_lsn: base,
            });
        }
        if let Some(first) = segs.first() {
            if first.header.repo_id != header.repo_id {
                return Err(OpenError::ForeignSegment {
                    path: storage.describe(&name),
                    first: storage.describe(&first.name),
                });
            }
        }
        if let Some(prev) = segs.last() {
            if prev.end_lsn() != base {
                return Err(OpenError::MissingSegment {
                    previous: storage.describe(&prev.name),
                    expected: prev.end_lsn(),
                    next: storage.describe(&name),
                    found: base,
                });
            }
        }
        segs.push(Seg {
            name,
            header,
            limit: len,
        });
    }
    Ok(Discovered {
        segs,
        torn_creation,
    })
}

/// One damaged place in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// File offset of the first bad byte found.
    pub offset: u64,
    /// Its LSN.
    pub lsn: Lsn,
    /// What is wrong there.
    pub problem: FrameProblem,
    /// LSN of the next valid batch, where reading resumes (`None`: nothing valid
    /// follows in this segment).
    pub resumes_at: Option<Lsn>,
}

impl Damage {
    /// The same damage as a read error.
    pub fn into_error(self) -> ReadError {
        ReadError::Corrupt {
            path: self.path,
            offset: self.offset,
            lsn: self.lsn,
            problem: self.problem,
            resumes_at: self.resumes_at,
        }
    }
}

/// What scanning the last segment found.
#[derive(Debug)]
pub(crate) struct TailScan {
    /// File offset just after the last complete batch (or mark) of the valid prefix.
    pub(crate) valid_end: u64,
    /// Crc of the frame that ends there (the header crc when no frame).
    pub(crate) crc_at_end: u32,
    /// Highest `acked` LSN found in any valid frame.
    pub(crate) max_acked: Lsn,
    /// Damage below the acknowledged LSN: corruption, kept in place and reported.
    pub(crate) corruption: Vec<Damage>,
    /// The first damage above the acknowledged LSN, if any: where the torn tail is.
    pub(crate) torn_at: Option<Damage>,
    /// File length.
    pub(crate) file_len: u64,
}

/// Scans a whole segment, resynchronising past damage, and decides where its valid
/// prefix ends. Damage below the highest acknowledged LSN is corruption; the first
/// damage above it starts the torn tail, and everything from the last complete batch
/// before it is cut (a prefix, never a hole).
pub(crate) fn scan_tail(
    storage: &dyn Storage,
    seg: &Seg,
    file: Box<dyn SegmentFile>,
) -> io::Result<TailScan> {
    let file_len = file.len()?;
    let path = storage.describe(&seg.name);
    let mut cursor = Cursor::new(file, seg.header, file_len);
    // Fast path: a segment that ends with a closing mark (kind Mark whose `acked` is
    // its own LSN, written only after everything before it was synced) was closed
    // cleanly: nothing after it can be torn, so its end is known without reading
    // the segment. Damage inside is still found by every read and by `verify()`.
    let header_len = SEGMENT_HEADER_LEN as u64;
    if file_len >= header_len + FRAME_HEADER_LEN as u64
        && (file_len - header_len).is_multiple_of(FRAME_ALIGN as u64)
    {
        let at = file_len - FRAME_HEADER_LEN as u64;
        if let Ok(h) = cursor.check_at(at)? {
            if h.kind == FrameKind::Mark && h.acked == h.lsn {
                return Ok(TailScan {
                    valid_end: file_len,
                    crc_at_end: h.crc,
                    max_acked: h.acked,
                    corruption: Vec::new(),
                    torn_at: None,
                    file_len,
                });
            }
        }
    }
    let mut last_end = (SEGMENT_HEADER_LEN as u64, seg.header.crc());
    let mut max_acked = Lsn::ZERO;
    // (damage, last batch end before it)
    let mut damages: Vec<(Damage, (u64, u32))> = Vec::new();
    loop {
        match cursor.next_frame()? {
            Step::Frame(h) => {
                // A frame can only vouch for bytes before itself (the writer never
                // sets `acked` past the frame's own LSN). Clamping keeps a forged or
                // damaged-but-checksummed `acked` from overflowing `acked_offset`
                // below (found by the `frame_decode` fuzz target).
                max_acked = max_acked.max(h.acked.min(h.lsn));
                if h.kind == FrameKind::Mark || h.flags & FLAG_BATCH_END != 0 {
                    last_end = (cursor.pos, h.crc);
                }
            }
            Step::End => break,
            Step::Damage { offset, problem } => {
                let resync = cursor.resync(offset)?;
                let damage = Damage {
                    path: path.clone(),
                    offset,
                    lsn: cursor.lsn_of(offset),
                    problem,
                    resumes_at: resync.map(|p| cursor.lsn_of(p)),
                };
                damages.push((damage, last_end));
                match resync {
                    // Everything before a resync point is settled: if the damage
                    // turns out to be corruption it stays, so a torn tail found later
                    // is cut from here at the earliest, never from before the
                    // corruption. (The crc there is unknown; corruption makes the
                    // writer start a new segment, so it is never linked to.)
                    Some(p) => last_end = (p, 0),
                    None => break,
                }
            }
        }
    }
    let acked_offset = if max_acked > seg.header.base_lsn {
        seg.header.offset_of(max_acked)
    } else {
        SEGMENT_HEADER_LEN as u64
    };
    let mut corruption = Vec::new();
    let mut torn_at = None;
    let mut valid_end = last_end;
    for (damage, end_before) in damages {
        if damage.offset < acked_offset {
            corruption.push(damage);
        } else {
            valid_end = end_before;
            torn_at = Some(damage);
            break;
        }
    }
    Ok(TailScan {
        valid_end: valid_end.0,
        crc_at_end: valid_end.1,
        max_acked,
        corruption,
        torn_at,
        file_len,
    })
}

/// One record read from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// LSN of the record (of its first frame).
    pub lsn: Lsn,
    /// The record starts a batch.
    pub first_in_batch: bool,
    /// The record ends a batch: the batch is complete.
    pub last_in_batch: bool,
    /// The record's bytes, as appended.
    pub data: Vec<u8>,
}

/// Iterates records in LSN order. After an `Err(ReadError::Corrupt)` the iterator
/// has already moved to the next valid batch (the error's `resumes_at`); records of
/// the batch that the damage interrupted, yielded before the error, belong to an
/// incomplete batch and should be discarded by a consumer that applies batches.
pub struct LogIter {
    storage: Arc<dyn Storage>,
    segs: Vec<Seg>,
    idx: usize,
    cursor: Option<Cursor>,
    start_offset: Option<u64>,
    record: Vec<u8>,
    record_lsn: Lsn,
    record_first: bool,
    done: bool,
}

impl LogIter {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        segs: Vec<Seg>,
        lsn: Lsn,
    ) -> Result<LogIter, ReadError> {
        let start = segs.first().map(|s| s.header.base_lsn).unwrap_or(Lsn::ZERO);
        let end = segs.last().map(|s| s.end_lsn()).unwrap_or(Lsn::ZERO);
        let mut it = LogIter {
            storage,
            segs,
            idx: 0,
            cursor: None,
            start_offset: None,
            record: Vec::new(),
            record_lsn: Lsn::ZERO,
            record_first: false,
            done: false,
        };
        if lsn < start || lsn > end {
            return Err(ReadError::OutOfRange { lsn, start, end });
        }
        if lsn == end {
            it.done = true;
            return Ok(it);
        }
        let idx = it
            .segs
            .iter()
            .position(|s| lsn >= s.header.base_lsn && lsn < s.end_lsn())
            .ok_or(ReadError::OutOfRange { lsn, start, end })?;
        it.idx = idx;
        let offset = it.segs[idx].header.offset_of(lsn);
        if offset != SEGMENT_HEADER_LEN as u64 {
            it.start_offset = Some(offset);
        }
        Ok(it)
    }

    /// Moves the iterator to the record starting at `lsn`, keeping the open segment
    /// file and its read window when `lsn` is in the same segment: reading many
    /// records by LSN (a restore reading blob parts) then costs no reopen and, for
    /// nearby records, no I/O.
    pub fn seek(&mut self, lsn: Lsn) -> Result<(), ReadError> {
        let start = self
            .segs
            .first()
            .map(|s| s.header.base_lsn)
            .unwrap_or(Lsn::ZERO);
        let end = self.segs.last().map(|s| s.end_lsn()).unwrap_or(Lsn::ZERO);
        if lsn < start || lsn > end {
            return Err(ReadError::OutOfRange { lsn, start, end });
        }
        self.record.clear();
        if lsn == end {
            self.done = true;
            return Ok(());
        }
        self.done = false;
        let idx = self
            .segs
            .iter()
            .position(|s| lsn >= s.header.base_lsn && lsn < s.end_lsn())
            .ok_or(ReadError::OutOfRange { lsn, start, end })?;
        let offset = self.segs[idx].header.offset_of(lsn);
        match self.cursor.as_mut() {
            Some(cursor) if self.idx == idx => cursor.seek(offset),
            _ => {
                self.idx = idx;
                self.cursor = None;
            }
        }
        self.start_offset = Some(offset);
        Ok(())
    }

    fn path(&self) -> PathBuf {
        self.storage.describe(&self.segs[self.idx].name)
    }

    fn open_cursor(&mut self) -> Result<(), ReadError> {
        let seg = &self.segs[self.idx];
        let file = self
            .storage
            .open_read(&seg.name)
            .map_err(|source| ReadError::Io {
                path: self.storage.describe(&seg.name),
                offset: 0,
                source,
            })?;
        let mut cursor = Cursor::new(file, seg.header, seg.limit);
        if let Some(off) = self.start_offset {
            cursor.seek(off);
        }
        self.cursor = Some(cursor);
        Ok(())
    }

    fn next_segment(&mut self) {
        self.idx += 1;
        self.cursor = None;
        self.start_offset = None;
        self.record.clear();
        if self.idx >= self.segs.len() {
            self.done = true;
        }
    }

    /// True when a frame starts at file `offset` of the current segment, walking its
    /// frames from the start (past damage, as readers resynchronise). Only used to
    /// tell "no record starts here" from "the record here is damaged" after a seek.
    fn frame_starts_at(&self, offset: u64) -> Result<bool, ReadError> {
        let seg = &self.segs[self.idx];
        let path = self.storage.describe(&seg.name);
        let io = |at: u64| {
            let path = path.clone();
            move |source| ReadError::Io {
                path,
                offset: at,
                source,
            }
        };
        let file = self.storage.open_read(&seg.name).map_err(io(0))?;
        let mut c = Cursor::new(file, seg.header, seg.limit);
        while c.pos < offset {
            let at = c.pos;
            match c.next_frame().map_err(io(at))? {
                Step::Frame(_) => {}
                Step::End => return Ok(false),
                Step::Damage { offset: bad, .. } => {
                    if c.resync(bad).map_err(io(bad))?.is_none() {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(c.pos == offset)
    }

    fn step(&mut self) -> Result<Option<Record>, ReadError> {
        if self.cursor.is_none() {
            self.open_cursor()?;
        }
        let seeking = self.start_offset.take();
        let path = self.path();
        let next_base = self.segs.get(self.idx + 1).map(|s| s.header.base_lsn);
        let cursor = self.cursor.as_mut().expect("cursor opened above");
        let io = |offset: u64| {
            let path = path.clone();
            move |source| ReadError::Io {
                path,
                offset,
                source,
            }
        };
        let offset = cursor.pos;
        let step = cursor.next_frame().map_err(io(offset))?;
        match step {
            Step::End => {
                let pos = cursor.pos;
                let limit = cursor.limit;
                let unfinished = cursor.in_record || cursor.in_batch == Some(true);
                let lsn = cursor.lsn_of(pos);
                if seeking.is_some() && pos < limit && !self.frame_starts_at(pos)? {
                    // Zeros inside a frame (a zeroed payload), not the end of data.
                    self.done = true;
                    return Err(ReadError::NotARecord {
                        path,
                        offset: pos,
                        lsn,
                    });
                }
                self.next_segment();
                if pos < limit || unfinished {
                    // Zeros where a sealed segment should hold data, or a batch that
                    // never ended: damage, not an end.
                    return Err(ReadError::Corrupt {
                        path,
                        offset: pos,
                        lsn,
                        problem: FrameProblem::BadSequence("segment data ends inside a batch"),
                        resumes_at: next_base,
                    });
                }
                Ok(None)
            }
            Step::Damage { offset, problem } => {
                let lsn = cursor.lsn_of(offset);
                // Right after a seek, a valid later part of a record is out of
                // sequence only because of where we started, and bytes that do not
                // decode may simply be the inside of a frame: damage only if a frame
                // really starts there.
                if seeking.is_some()
                    && (matches!(problem, FrameProblem::BadSequence(_))
                        || !self.frame_starts_at(offset)?)
                {
                    self.done = true;
                    return Err(ReadError::NotARecord { path, offset, lsn });
                }
                let cursor = self.cursor.as_mut().expect("cursor opened above");
                let resync = cursor.resync(offset).map_err(io(offset))?;
                let resumes_at = match resync {
                    Some(p) => Some(cursor.lsn_of(p)),
                    None => next_base,
                };
                self.record.clear();
                if resync.is_none() {
                    self.next_segment();
                }
                Err(ReadError::Corrupt {
                    path,
                    offset,
                    lsn,
                    problem,
                    resumes_at,
                })
            }
            Step::Frame(h) => {
                let lsn = h.lsn;
                // A mark sits between batches: starting there is starting at the
                // next record (the catalog resumes its fold at such an LSN).
                if seeking.is_some()
                    && !matches!(h.kind, FrameKind::Full | FrameKind::First | FrameKind::Mark)
                {
                    self.done = true;
                    return Err(ReadError::NotARecord { path, offset, lsn });
                }
                let first = h.flags & FLAG_BATCH_START != 0;
                let last = h.flags & FLAG_BATCH_END != 0;
                let payload_offset = offset + FRAME_HEADER_LEN as u64;
                let payload = cursor.payload().map_err(io(payload_offset))?;
                match h.kind {
                    FrameKind::Mark => Ok(None),
                    FrameKind::Full => Ok(Some(Record {
                        lsn,
                        first_in_batch: first,
                        last_in_batch: last,
                        data: payload.to_vec(),
                    })),
                    FrameKind::First => {
                        self.record.clear();
                        self.record.extend_from_slice(payload);
                        self.record_lsn = lsn;
                        self.record_first = first;
                        Ok(None)
                    }
                    FrameKind::Middle | FrameKind::Last => {
                        if self.record.len() + payload.len() > RECORD_MAX {
                            let resync = cursor.resync(offset).map_err(io(offset))?;
                            let resumes_at = resync.map(|p| cursor.lsn_of(p)).or(next_base);
                            self.record.clear();
                            if resync.is_none() {
                                self.next_segment();
                            }
                            return Err(ReadError::Corrupt {
                                path,
                                offset,
                                lsn,
                                problem: FrameProblem::RecordTooLarge,
                                resumes_at,
                            });
                        }
                        self.record.extend_from_slice(payload);
                        if h.kind == FrameKind::Middle {
                            return Ok(None);
                        }
                        Ok(Some(Record {
                            lsn: self.record_lsn,
                            first_in_batch: self.record_first,
                            last_in_batch: last,
                            data: std::mem::take(&mut self.record),
                        }))
                    }
                }
            }
        }
    }
}

impl Iterator for LogIter {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Ok(Some(r)) => return Some(Ok(r)),
                Ok(None) => {}
                Err(e) => {
                    if matches!(e, ReadError::Io { .. }) {
                        self.done = true;
                    }
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// What a full verification of the log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: usize,
    /// Records read intact.
    pub records: u64,
    /// Complete batches read intact.
    pub batches: u64,
    /// End of the log.
    pub end_lsn: Lsn,
    /// Every damaged place.
    pub damage: Vec<Damage>,
}

pub(crate) fn verify(storage: Arc<dyn Storage>, segs: Vec<Seg>) -> Result<VerifyReport, ReadError> {
    let mut report = VerifyReport {
        segments: segs.len(),
        end_lsn: segs.last().map(|s| s.end_lsn()).unwrap_or(Lsn::ZERO),
        ..VerifyReport::default()
    };
    let start = segs.first().map(|s| s.header.base_lsn).unwrap_or(Lsn::ZERO);
    for item in LogIter::new(storage, segs, start)? {
        match item {
            Ok(r) => {
                report.records += 1;
                if r.last_in_batch {
                    report.batches += 1;
                }
            }
            Err(ReadError::Corrupt {
                path,
                offset,
                lsn,
                problem,
                resumes_at,
            }) => report.damage.push(Damage {
                path,
                offset,
                lsn,
                problem,
                resumes_at,
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}
