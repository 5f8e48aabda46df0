//! The bodies of the fuzz targets, shared by `cargo fuzz` (`fuzz/fuzz_targets/*.rs`)
//! and by the replay of the checked-in corpus under `cargo test`
//! (`benches/tests/fuzz_corpus.rs`), so that every input the fuzzers kept is checked
//! again on every test run.
//!
//! Raw bytes almost never get past a crc32, and a fuzzer that never passes the
//! checksum only ever tests the checksum. So both targets take a mode byte that can
//! "repair" the fuzz bytes: walk them as frames and rewrite the crc, the LSN field
//! and the back-link so that they validate, which lets the fuzzer reach the sequence
//! rules, resynchronisation and recovery's torn-tail-or-corruption decision.

use std::sync::Arc;

use tl_wal::format::{
    check_frame_crc, decode_frame_header, encode_frame, frame_crc, frame_len, mask_crc, FrameKind,
    SegmentHeader, FLAG_BATCH_END, FLAG_BATCH_START, FORMAT_VERSION, FRAME_HEADER_LEN,
    FRAME_PAYLOAD_MAX, SEGMENT_HEADER_LEN,
};
use tl_wal::testing::MemStorage;
use tl_wal::{segment_name, LogIter, LogReader, Lsn, Options, Record, Wal};

/// Salt of the segments the targets build (fixed, so runs are deterministic).
pub const SALT: u64 = 0x5eed_5a17_0f7a_11ed;
/// Repository id of the segments the targets build.
pub const REPO_ID: [u8; 16] = *b"tl-fuzz-repo-id!";

/// Mode bit: rewrite the crc of every frame the fuzz bytes parse as.
pub const REPAIR_CRC: u8 = 1 << 2;
/// Mode bit: rewrite the LSN field of every such frame to its position.
pub const REPAIR_LSN: u8 = 1 << 3;
/// Mode bit: rewrite the back-link of every such frame to the previous crc.
pub const REPAIR_LINK: u8 = 1 << 4;
/// Mode bit (segment_recover): end the valid prefix with a clean-close mark.
pub const PREFIX_MARK: u8 = 1 << 5;

/// The header of a segment built by the targets.
pub fn header(base_lsn: Lsn) -> SegmentHeader {
    SegmentHeader {
        version: FORMAT_VERSION,
        repo_id: REPO_ID,
        base_lsn,
        salt: SALT,
        created_ns: 0,
    }
}

/// Walks `bytes`, which follow a frame of crc `prev_crc` ending at `lsn`, as frames
/// and rewrites the fields chosen by `mode` so that they validate. Stops at the first
/// position that does not parse as a frame header.
pub fn repair(bytes: &mut [u8], salt: u64, mut lsn: Lsn, mut prev_crc: u32, mode: u8) {
    let mut pos = 0;
    while pos + FRAME_HEADER_LEN <= bytes.len() {
        let available = (bytes.len() - pos) as u64;
        let Ok(h) = decode_frame_header(&bytes[pos..], available) else {
            break;
        };
        let end = pos + frame_len(h.len as usize);
        let frame = &mut bytes[pos..end];
        if mode & REPAIR_LSN != 0 {
            frame[8..16].copy_from_slice(&lsn.get().to_le_bytes());
        }
        if mode & REPAIR_LINK != 0 {
            frame[24..28].copy_from_slice(&prev_crc.to_le_bytes());
        }
        let crc = if mode & REPAIR_CRC != 0 {
            let payload = &frame[FRAME_HEADER_LEN..FRAME_HEADER_LEN + h.len as usize];
            let crc = frame_crc(salt, frame, payload);
            frame[0..4].copy_from_slice(&mask_crc(crc).to_le_bytes());
            crc
        } else {
            h.crc
        };
        prev_crc = crc;
        lsn += (end - pos) as u64;
        pos = end;
    }
}

/// A segment being built the way the writer builds one: batches of `Full` frames,
/// each frame's `acked` the durable end when its batch was written.
pub struct SegmentBuilder {
    /// The file so far.
    pub bytes: Vec<u8>,
    /// Its header.
    pub header: SegmentHeader,
    /// LSN of the next frame.
    pub lsn: Lsn,
    /// Crc of the last frame (the header's when none).
    pub prev_crc: u32,
    /// Records written, with their LSNs.
    pub records: Vec<(Lsn, Vec<u8>)>,
}

impl SegmentBuilder {
    /// An empty segment starting at `base_lsn`.
    pub fn new(base_lsn: Lsn) -> SegmentBuilder {
        let header = header(base_lsn);
        SegmentBuilder {
            bytes: header.encode().to_vec(),
            header,
            lsn: base_lsn,
            prev_crc: header.crc(),
            records: Vec::new(),
        }
    }

    fn frame(&mut self, kind: FrameKind, flags: u8, acked: Lsn, payload: &[u8]) {
        let crc = encode_frame(
            &mut self.bytes,
            self.header.salt,
            self.lsn,
            acked,
            self.prev_crc,
            kind,
            flags,
            payload,
        );
        self.prev_crc = crc;
        self.lsn += frame_len(payload.len()) as u64;
    }

    /// Appends one complete batch.
    pub fn batch(&mut self, records: &[&[u8]]) {
        let acked = self.lsn;
        for (i, record) in records.iter().enumerate() {
            let mut flags = 0;
            if i == 0 {
                flags |= FLAG_BATCH_START;
            }
            if i + 1 == records.len() {
                flags |= FLAG_BATCH_END;
            }
            self.records.push((self.lsn, record.to_vec()));
            self.frame(FrameKind::Full, flags, acked, record);
        }
    }

    /// Appends the mark a clean close writes: everything before it is acknowledged.
    pub fn mark(&mut self) {
        let acked = self.lsn;
        self.frame(FrameKind::Mark, 0, acked, &[]);
    }

    /// Appends `n_batches` batches of `records_per_batch` small records.
    pub fn batches(&mut self, n_batches: usize, records_per_batch: usize) {
        for batch_idx in 0..n_batches {
            let owned: Vec<Vec<u8>> = (0..records_per_batch)
                .map(|record_idx| {
                    let n = (batch_idx * 7 + record_idx * 3) % 24;
                    vec![b'a' + (batch_idx % 26) as u8; n]
                })
                .collect();
            let records: Vec<&[u8]> = owned.iter().map(|r| &r[..]).collect();
            self.batch(&records);
        }
    }

    /// Appends the fuzz bytes, repaired as `mode` says.
    pub fn tail(&mut self, fuzz: &[u8], mode: u8) {
        let mut tail = fuzz.to_vec();
        repair(&mut tail, self.header.salt, self.lsn, self.prev_crc, mode);
        self.bytes.extend_from_slice(&tail);
    }

    /// The segment's file name.
    pub fn name(&self) -> String {
        segment_name(self.header.base_lsn)
    }
}

/// Reads all records; returns the intact ones and the number of errors. Panics if
/// the iterator yields more items than the bytes could possibly hold (a loop).
fn read_all(iter: LogIter, bytes_max: usize) -> (Vec<Record>, usize) {
    // Every item consumes at least one 8-byte aligned frame, or is an error that
    // moves on to the next batch or segment.
    let items_max = 2 * (bytes_max / 8) + 16;
    let mut records = Vec::new();
    let mut n_errors = 0;
    for (item_idx, item) in iter.enumerate() {
        assert!(
            item_idx <= items_max,
            "reading did not terminate: {item_idx} items from {bytes_max} bytes"
        );
        match item {
            Ok(r) => records.push(r),
            Err(_) => n_errors += 1,
        }
    }
    (records, n_errors)
}

/// Target `frame_decode`: arbitrary bytes through the header decoders, and a full
/// read of a segment made of them. Never panics; what decodes is consistent.
pub fn frame_decode(data: &[u8]) {
    // The pure decoders, on the bytes as they are.
    if let Ok(h) = SegmentHeader::decode(data) {
        assert_eq!(
            h.encode()[..],
            data[..SEGMENT_HEADER_LEN],
            "a header that decodes re-encodes to the same bytes"
        );
    }
    for available in [data.len() as u64, data.len() as u64 / 2, u64::MAX] {
        if let Ok(h) = decode_frame_header(data, available) {
            let needed = frame_len(h.len as usize);
            assert!(h.len as usize <= FRAME_PAYLOAD_MAX);
            assert!(needed as u64 <= available);
            if needed <= data.len() {
                let _ = check_frame_crc(SALT, &h, data);
            }
        }
    }

    // A whole segment: the bytes themselves when they start with a valid header
    // (e.g. a real segment file from the corpus), else a valid header followed by
    // the bytes after the mode byte, repaired as the mode says.
    let (name, file, built) = match SegmentHeader::decode(data) {
        Ok(h) => (segment_name(h.base_lsn), data.to_vec(), false),
        Err(_) => {
            let (mode, body) = data.split_first().map_or((0, &[][..]), |(m, b)| (*m, b));
            let mut seg = SegmentBuilder::new(Lsn::new(u64::from(mode & 3) * 4096));
            seg.tail(body, mode);
            (seg.name(), seg.bytes, true)
        }
    };
    let storage = MemStorage::new();
    storage.put_file(&name, file.clone());
    let reader = match LogReader::open_storage(Arc::new(storage)) {
        Ok(r) => r,
        Err(e) => {
            assert!(!built, "a segment with a valid header must open: {e}");
            return;
        }
    };
    let start = reader.start_lsn();
    let end = reader.end_lsn();
    assert!(start <= end);
    assert!(end.bytes_since(start) <= (file.len() - SEGMENT_HEADER_LEN) as u64);
    let (records, n_errors) = read_all(reader.iter_from(start).expect("start"), file.len());
    for r in &records {
        assert!(
            r.lsn >= start && r.lsn < end,
            "record LSN {} out of range",
            r.lsn
        );
    }
    // A record read by seeking to its LSN is the record the iteration gave.
    for r in records.iter().take(32) {
        if let Ok(data) = reader.read(r.lsn) {
            assert_eq!(data, r.data, "read({}) differs from iteration", r.lsn);
        }
    }
    let report = reader.verify().expect("verify of an in-memory segment");
    assert_eq!(report.records, records.len() as u64);
    assert_eq!(report.damage.len(), n_errors);
    assert!(report.batches <= report.records);
    // Seeking anywhere must not panic (it may well fail: not a record boundary).
    for k in 0..16u64 {
        let lsn = start + k * 8;
        if lsn > end {
            break;
        }
        if let Ok(iter) = reader.iter_from(lsn) {
            let _ = read_all(iter, file.len());
        }
    }
}

/// The intact records of an open log, from its start.
fn wal_records(wal: &Wal, bytes_max: usize) -> Vec<Record> {
    let iter = wal.iter_from(wal.start_lsn()).expect("iterate from start");
    read_all(iter, bytes_max).0
}

/// Every damage in `later` was already reported in `earlier` (recovery leaves
/// corruption below the acknowledged LSN in place, so a reopen reports it again).
/// Compared by place only: what is wrong there may read differently once recovery
/// cut the tail after it (a bad frame whose length field now runs past the end of
/// the file is `Short` where it was `Checksum`, a `Short` one has fewer bytes).
fn damage_subset(later: &[tl_wal::Damage], earlier: &[tl_wal::Damage]) -> bool {
    later
        .iter()
        .all(|x| earlier.iter().any(|y| x.offset == y.offset))
}

/// Target `segment_recover`: arbitrary bytes as the last segment of a log.
///
/// Byte 0 is the mode: bits 0-1 the layout (0: the rest is the whole segment file;
/// 1: a valid header, then the fuzz bytes; 2: a valid header, valid batches, then the
/// fuzz bytes; 3: like 2 after a sealed, valid segment), then the `REPAIR_*` bits and
/// `PREFIX_MARK`. Byte 1 is the shape of the valid prefix (batches, records per
/// batch). Checks: opening never panics; it keeps every batch of the valid prefix;
/// the read-only reader before recovery sees the records the writer sees after it;
/// reopening reports a clean recovery with the same records and end (give or take
/// the mark a clean close writes); an append after recovery survives a reopen.
pub fn segment_recover(data: &[u8]) {
    let (mode, rest) = data.split_first().map_or((0, &[][..]), |(m, r)| (*m, r));
    let layout = mode & 3;
    let (shape, fuzz) = if layout == 0 {
        (0, rest)
    } else {
        rest.split_first().map_or((0, &[][..]), |(s, f)| (*s, f))
    };
    let n_batches = usize::from(shape & 7);
    let records_per_batch = usize::from((shape >> 3) & 3) + 1;

    let storage = MemStorage::new();
    let mut expected: Vec<(Lsn, Vec<u8>)> = Vec::new();
    let mut bytes_total = fuzz.len() + 4 * SEGMENT_HEADER_LEN;
    match layout {
        0 => storage.put_file(&segment_name(Lsn::ZERO), fuzz.to_vec()),
        _ => {
            let mut base = Lsn::ZERO;
            if layout == 3 {
                let mut sealed = SegmentBuilder::new(Lsn::ZERO);
                sealed.batches(2, 2);
                storage.put_file(&sealed.name(), sealed.bytes.clone());
                expected.extend(sealed.records.iter().cloned());
                bytes_total += sealed.bytes.len();
                base = sealed.lsn;
            }
            let mut last = SegmentBuilder::new(base);
            if layout >= 2 {
                last.batches(n_batches, records_per_batch);
                if mode & PREFIX_MARK != 0 {
                    last.mark();
                }
            }
            expected.extend(last.records.iter().cloned());
            last.tail(fuzz, mode);
            bytes_total += last.bytes.len();
            storage.put_file(&last.name(), last.bytes);
        }
    }

    // What a read-only reader sees before recovery touches anything.
    let before = LogReader::open_storage(Arc::new(storage.clone()))
        .ok()
        .map(|r| read_all(r.iter_from(r.start_lsn()).expect("start"), bytes_total).0);

    let opts = Options {
        segment_bytes_max: 64 << 10,
        uring: false,
    };
    let (wal, first) = match Wal::open_storage(Arc::new(storage.clone()), opts.clone()) {
        Ok(x) => x,
        Err(e) => {
            assert_eq!(layout, 0, "a log with valid headers must open: {e}");
            return;
        }
    };
    let records = wal_records(&wal, bytes_total);
    assert_eq!(first.end_lsn, wal.durable_lsn());
    for (i, (lsn, data)) in expected.iter().enumerate() {
        let r = records
            .get(i)
            .unwrap_or_else(|| panic!("recovery lost record {i} of the valid prefix"));
        assert_eq!(
            (r.lsn, &r.data),
            (*lsn, data),
            "record {i} of the valid prefix"
        );
    }
    if let Some(before) = &before {
        assert_eq!(
            before, &records,
            "the reader before recovery and the writer after it disagree"
        );
    }
    let report = wal.verify().expect("verify");
    assert_eq!(report.records, records.len() as u64);
    drop(wal);

    // Recovery is idempotent: a second open finds nothing to cut.
    let (wal, second) = Wal::open_storage(Arc::new(storage.clone()), opts.clone())
        .unwrap_or_else(|e| panic!("reopening a recovered log failed: {e}"));
    assert!(
        second.torn_tail.is_none(),
        "second open cut: {second:?}\nfirst: {first:?}"
    );
    assert!(second.torn_creation.is_none(), "second open: {second:?}");
    assert!(
        damage_subset(&second.corruption, &first.corruption),
        "first {first:?} second {second:?}"
    );
    assert!(
        second.end_lsn == first.end_lsn
            || second.end_lsn == first.end_lsn + FRAME_HEADER_LEN as u64,
        "end moved from {} to {} (only a mark may be added)",
        first.end_lsn,
        second.end_lsn
    );
    assert_eq!(wal_records(&wal, bytes_total + 64), records);

    // Appending after recovery works and survives a reopen.
    let appended = wal
        .append(&[b"after recovery"])
        .unwrap_or_else(|e| panic!("append after recovery failed: {e}"));
    drop(wal);
    let (wal, third) = Wal::open_storage(Arc::new(storage), opts)
        .unwrap_or_else(|e| panic!("reopening after an append failed: {e}"));
    assert!(third.torn_tail.is_none(), "third open cut: {third:?}");
    assert!(third.end_lsn >= appended.end_lsn);
    let after = wal_records(&wal, bytes_total + 4096);
    assert_eq!(after.len(), records.len() + 1, "{third:?}");
    assert_eq!(after[..records.len()], records[..]);
    let last = after.last().expect("one record at least");
    assert_eq!(
        (last.lsn, &last.data[..]),
        (appended.lsn, &b"after recovery"[..])
    );
}

/// Seed inputs for the corpus: (target, file name, bytes). Deterministic except the
/// segments written by a real `Wal`, whose salt and repository id are random.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();

    // Frames as the writer makes them, after a mode byte (no repair needed).
    let mut seg = SegmentBuilder::new(Lsn::ZERO);
    seg.batches(3, 2);
    seg.mark();
    let frames = seg.bytes[SEGMENT_HEADER_LEN..].to_vec();
    out.push((
        "frame_decode",
        "frames-3-batches".into(),
        [&[0u8][..], &frames].concat(),
    ));
    // The same frames with a torn last frame, and with one flipped payload byte,
    // repaired (the crc then validates and the sequence rules must catch it).
    let torn = [&[0u8][..], &frames[..frames.len() - 20]].concat();
    out.push(("frame_decode", "frames-torn".into(), torn));
    let mut flipped = frames.clone();
    flipped[FRAME_HEADER_LEN + 1] ^= 0x40;
    flipped[28] = FrameKind::Middle as u8;
    let all = REPAIR_CRC | REPAIR_LSN | REPAIR_LINK;
    out.push((
        "frame_decode",
        "frames-repaired".into(),
        [&[all][..], &flipped].concat(),
    ));
    // A whole segment file (it starts with a valid header, so it is read as it is).
    out.push(("frame_decode", "segment-built".into(), seg.bytes.clone()));

    // Real segments written by the writer: closed cleanly, and torn.
    let storage = MemStorage::new();
    let opts = Options {
        segment_bytes_max: 64 << 10,
        uring: false,
    };
    {
        let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts).expect("open");
        wal.append(&[b"first", b"batch"]).expect("append");
        wal.append(&[b"second"]).expect("append");
        wal.append(&[&[7u8; 300][..], b"", b"x"]).expect("append");
    }
    let real = storage
        .files()
        .remove(&segment_name(Lsn::ZERO))
        .expect("segment 0");
    out.push(("frame_decode", "segment-real".into(), real.clone()));
    out.push((
        "segment_recover",
        "real-closed".into(),
        [&[0u8][..], &real].concat(),
    ));
    let cut = real.len() - 40;
    out.push((
        "segment_recover",
        "real-torn".into(),
        [&[0u8][..], &real[..cut]].concat(),
    ));

    // Built layouts, each with a different tail.
    let tail_frames = &frames[..frames.len() - 32]; // without the mark
    let shape = 3 | (1 << 3); // 3 batches of 2 records
    out.push((
        "segment_recover",
        "header-garbage".into(),
        [&[1u8, 0][..], b"not a frame at all, just bytes."].concat(),
    ));
    out.push((
        "segment_recover",
        "prefix-torn-tail".into(),
        [
            &[2u8 | all, shape][..],
            &tail_frames[..tail_frames.len() - 12],
        ]
        .concat(),
    ));
    out.push((
        "segment_recover",
        "prefix-mark-repaired-tail".into(),
        [&[2u8 | all | PREFIX_MARK, shape][..], tail_frames].concat(),
    ));
    out.push((
        "segment_recover",
        "sealed-then-flipped".into(),
        [&[3u8 | REPAIR_LSN | REPAIR_LINK, shape][..], &flipped].concat(),
    ));
    out.push((
        "segment_recover",
        "sealed-then-zeros".into(),
        [&[3u8 | PREFIX_MARK, 2][..], &[0u8; 96][..]].concat(),
    ));
    out
}
