//! Walking the frames of one segment: validation in the documented order, the
//! record/batch sequence rules, and resynchronisation past damage.
//!
//! Memory is bounded: a cursor holds one read window of at most
//! `WINDOW + FRAME_HEADER_LEN + FRAME_PAYLOAD_MAX` bytes, whatever the file says.

use std::io;

use crate::format::*;
use crate::storage::SegmentFile;
use crate::Lsn;

const WINDOW: usize = 256 << 10;

/// A read-through window over a segment file.
pub(crate) struct Window {
    buf: Vec<u8>,
    start: u64,
}

impl Window {
    pub(crate) fn new() -> Window {
        Window {
            buf: Vec::new(),
            start: 0,
        }
    }

    /// Up to `n` bytes at `offset`, fewer only when `limit` (the end of the data)
    /// comes first. `n` must not exceed one frame.
    pub(crate) fn get(
        &mut self,
        file: &dyn SegmentFile,
        offset: u64,
        n: usize,
        limit: u64,
    ) -> io::Result<&[u8]> {
        debug_assert!(n <= FRAME_HEADER_LEN + FRAME_PAYLOAD_MAX + FRAME_ALIGN);
        let n = n.min(limit.saturating_sub(offset) as usize);
        let have = offset >= self.start && offset + n as u64 <= self.start + self.buf.len() as u64;
        if !have {
            let want = n.max(WINDOW).min(limit.saturating_sub(offset) as usize);
            self.buf.resize(want, 0);
            let mut filled = 0;
            while filled < want {
                match file.read_at(&mut self.buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(k) => filled += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.buf.truncate(filled);
            self.start = offset;
            if filled < n {
                return Ok(&self.buf[..filled]);
            }
        }
        let from = (offset - self.start) as usize;
        Ok(&self.buf[from..from + n])
    }
}

/// What the cursor found at its position.
#[derive(Debug)]
pub(crate) enum Step {
    /// A valid frame; its payload is `Cursor::payload()` until the next call.
    Frame(FrameHeader),
    /// End of data: the limit, or zeros up to it.
    End,
    /// Bytes at `offset` are not a valid frame.
    Damage {
        /// File offset of the bad frame.
        offset: u64,
        /// Why.
        problem: FrameProblem,
    },
}

/// A cursor over one segment's frames.
pub(crate) struct Cursor {
    pub(crate) file: Box<dyn SegmentFile>,
    pub(crate) header: SegmentHeader,
    /// File offset of the next frame.
    pub(crate) pos: u64,
    /// Read no further than this file offset.
    pub(crate) limit: u64,
    /// Crc of the previous frame, if known (unknown after a seek or resync).
    pub(crate) prev_crc: Option<u32>,
    /// Inside a record split across frames.
    pub(crate) in_record: bool,
    /// Inside a batch (`None`: unknown, after a seek into the middle of a batch).
    pub(crate) in_batch: Option<bool>,
    window: Window,
    payload_at: (u64, usize),
}

impl Cursor {
    /// A cursor at the first frame of the segment.
    pub(crate) fn new(file: Box<dyn SegmentFile>, header: SegmentHeader, limit: u64) -> Cursor {
        Cursor {
            file,
            header,
            pos: SEGMENT_HEADER_LEN as u64,
            limit,
            prev_crc: Some(header.crc()),
            in_record: false,
            in_batch: Some(false),
            window: Window::new(),
            payload_at: (0, 0),
        }
    }

    /// The LSN of a file offset in this segment.
    pub(crate) fn lsn_of(&self, offset: u64) -> Lsn {
        self.header.lsn_at(offset)
    }

    /// Positions the cursor at `offset` with unknown link and batch state.
    pub(crate) fn seek(&mut self, offset: u64) {
        self.pos = offset;
        self.prev_crc = None;
        self.in_record = false;
        self.in_batch = None;
    }

    /// The payload of the frame last returned by `next_frame`.
    pub(crate) fn payload(&mut self) -> io::Result<&[u8]> {
        let (off, len) = self.payload_at;
        self.window.get(&*self.file, off, len, self.limit)
    }

    /// Validates the frame at `offset` alone: structure, crc, LSN. Returns the
    /// header when the frame is self-consistent.
    pub(crate) fn check_at(
        &mut self,
        offset: u64,
    ) -> io::Result<Result<FrameHeader, FrameProblem>> {
        let available = self.limit.saturating_sub(offset);
        let salt = self.header.salt;
        let expected_lsn = self.lsn_of(offset);
        let head = self
            .window
            .get(&*self.file, offset, FRAME_HEADER_LEN, self.limit)?;
        let h = match decode_frame_header(head, available) {
            Ok(h) => h,
            Err(p) => return Ok(Err(p)),
        };
        // The LSN check is cheap and comes before reading the payload, so that
        // resynchronisation rejects almost every candidate position without a crc.
        if h.lsn != expected_lsn {
            return Ok(Err(FrameProblem::BadLsn {
                expected: expected_lsn,
                found: h.lsn,
            }));
        }
        let padded = frame_len(h.len as usize);
        let frame = self.window.get(&*self.file, offset, padded, self.limit)?;
        if let Err(p) = check_frame_crc(salt, &h, frame) {
            return Ok(Err(p));
        }
        // The padding is outside the crc; requiring zeros there makes every bit of
        // a frame checked, so fsck sees a flipped padding bit too.
        if !is_zero(&frame[FRAME_HEADER_LEN + h.len as usize..]) {
            return Ok(Err(FrameProblem::BadField("padding bytes are not zero")));
        }
        Ok(Ok(h))
    }

    /// Reads the next frame, checking it alone and in sequence. On `Damage` the
    /// position is left at the bad frame; call `resync`.
    pub(crate) fn next_frame(&mut self) -> io::Result<Step> {
        let offset = self.pos;
        if offset >= self.limit {
            return Ok(Step::End);
        }
        let head = self
            .window
            .get(&*self.file, offset, FRAME_HEADER_LEN, self.limit)?;
        if is_zero(head) {
            // Zeros mean "end of data" unless a valid frame follows them (a zeroed
            // sector in the middle of the data is damage, not an end).
            return Ok(match self.find_valid_after(offset)? {
                None => Step::End,
                Some(_) => Step::Damage {
                    offset,
                    problem: FrameProblem::BadField("zeroed bytes before valid frames"),
                },
            });
        }
        let h = match self.check_at(offset)? {
            Ok(h) => h,
            Err(problem) => return Ok(Step::Damage { offset, problem }),
        };
        if let Some(prev) = self.prev_crc {
            if h.prev != prev {
                let problem = FrameProblem::BadLink {
                    expected: prev,
                    found: h.prev,
                };
                return Ok(Step::Damage { offset, problem });
            }
        }
        if let Err(what) = self.check_sequence(&h) {
            return Ok(Step::Damage {
                offset,
                problem: FrameProblem::BadSequence(what),
            });
        }
        self.payload_at = (offset + FRAME_HEADER_LEN as u64, h.len as usize);
        self.pos = offset + frame_len(h.len as usize) as u64;
        self.prev_crc = Some(h.crc);
        Ok(Step::Frame(h))
    }

    fn check_sequence(&mut self, h: &FrameHeader) -> Result<(), &'static str> {
        let starts = h.flags & FLAG_BATCH_START != 0;
        let ends = h.flags & FLAG_BATCH_END != 0;
        let in_batch = self.in_batch;
        match h.kind {
            FrameKind::Mark => {
                if self.in_record || in_batch == Some(true) {
                    return Err("mark inside a batch");
                }
                self.in_batch = Some(false);
                return Ok(());
            }
            FrameKind::Full | FrameKind::First => {
                if self.in_record {
                    return Err("a record starts before the previous one ended");
                }
                match (in_batch, starts) {
                    (Some(false), false) => return Err("a record outside any batch"),
                    (Some(true), true) => return Err("a batch starts inside another"),
                    _ => {}
                }
                if h.kind == FrameKind::First && ends {
                    return Err("batch end on the first part of a record");
                }
                if h.kind == FrameKind::First && h.len as usize != FRAME_PAYLOAD_MAX {
                    return Err("first part of a split record is not full size");
                }
            }
            FrameKind::Middle | FrameKind::Last => {
                if !self.in_record {
                    return Err("a record part without a first part");
                }
                if starts {
                    return Err("batch start on a later part of a record");
                }
                if h.kind == FrameKind::Middle && ends {
                    return Err("batch end on a middle part of a record");
                }
                if h.kind == FrameKind::Middle && h.len as usize != FRAME_PAYLOAD_MAX {
                    return Err("middle part of a split record is not full size");
                }
            }
        }
        self.in_record = matches!(h.kind, FrameKind::First | FrameKind::Middle);
        self.in_batch = Some(!ends);
        Ok(())
    }

    /// The first offset after `from` (8-byte steps) holding a self-consistent frame
    /// that starts a batch (or a mark), if any before the limit.
    pub(crate) fn find_valid_after(&mut self, from: u64) -> io::Result<Option<u64>> {
        let mut p = from + FRAME_ALIGN as u64;
        while p + FRAME_HEADER_LEN as u64 <= self.limit {
            if let Ok(h) = self.check_at(p)? {
                let batch_start = matches!(h.kind, FrameKind::Full | FrameKind::First)
                    && h.flags & FLAG_BATCH_START != 0;
                if batch_start || h.kind == FrameKind::Mark {
                    return Ok(Some(p));
                }
            }
            p += FRAME_ALIGN as u64;
        }
        Ok(None)
    }

    /// Moves past damage at `offset` to the next batch start; returns it, or `None`
    /// (position at the limit) when no valid frame follows.
    pub(crate) fn resync(&mut self, offset: u64) -> io::Result<Option<u64>> {
        let found = self.find_valid_after(offset)?;
        match found {
            Some(p) => {
                self.pos = p;
                self.prev_crc = None;
                self.in_record = false;
                self.in_batch = Some(false);
            }
            None => self.pos = self.limit,
        }
        Ok(found)
    }
}
