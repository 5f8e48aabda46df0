//! Helpers shared by the reliability tests: reading a log back as whole batches, the
//! frame layout of an intact segment, self-checking payloads and workloads.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::Rng;
use tl_wal::format::*;
use tl_wal::testing::MemStorage;
use tl_wal::{LogReader, Lsn, ReadError, Record, Wal};

/// A batch as appended: its records.
pub type Batch = Vec<Vec<u8>>;

/// A log read back: the complete batches (with their LSN) and the errors met.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub batches: Vec<(Lsn, Batch)>,
    pub errors: Vec<ReadError>,
}

impl ReadBack {
    pub fn contents(&self) -> Vec<Batch> {
        self.batches.iter().map(|(_, b)| b.clone()).collect()
    }
}

/// Groups records into whole batches as a replaying consumer does: the records of a
/// batch that an error interrupts are dropped.
pub fn read_back(it: impl Iterator<Item = Result<Record, ReadError>>) -> ReadBack {
    let mut out = ReadBack::default();
    let mut cur: Option<(Lsn, Batch)> = None;
    for item in it {
        match item {
            Ok(r) => {
                if r.first_in_batch {
                    assert!(cur.is_none(), "batch at {} starts inside another", r.lsn);
                    cur = Some((r.lsn, Vec::new()));
                }
                let c = cur.as_mut().expect("record outside any batch");
                c.1.push(r.data);
                if r.last_in_batch {
                    out.batches.push(cur.take().expect("in a batch"));
                }
            }
            Err(e) => {
                cur = None;
                out.errors.push(e);
            }
        }
    }
    assert!(
        cur.is_none(),
        "the log ended inside a batch without an error"
    );
    out
}

pub fn wal_read(wal: &Wal) -> ReadBack {
    read_back(wal.iter_from(wal.start_lsn()).expect("iter from start"))
}

pub fn reader_read(r: &LogReader) -> ReadBack {
    read_back(r.iter_from(r.start_lsn()).expect("iter from start"))
}

/// An independent copy of a MemStorage whose bytes are all synced.
pub fn copy_of(s: &MemStorage) -> MemStorage {
    s.crash(0)
}

/// A MemStorage holding the given files.
pub fn mem_with(files: &[(String, Vec<u8>)]) -> Arc<MemStorage> {
    let s = MemStorage::new();
    for (n, b) in files {
        s.put_file(n, b.clone());
    }
    Arc::new(s)
}

/// One frame of an intact segment, as laid out on disk.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub offset: usize,
    pub payload: usize,
    pub total: usize,
    pub kind: FrameKind,
    pub flags: u8,
    pub lsn: Lsn,
    pub acked: Lsn,
    pub crc: u32,
}

impl Frame {
    pub fn end(&self) -> usize {
        self.offset + self.total
    }
    /// Bytes covered by the crc or checked structurally: header and payload.
    pub fn covered(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + FRAME_HEADER_LEN + self.payload
    }
    pub fn starts_batch(&self) -> bool {
        self.flags & FLAG_BATCH_START != 0
    }
}

/// The frames of an intact segment, walked by their length fields.
pub fn frames(seg: &[u8]) -> Vec<Frame> {
    let mut v = Vec::new();
    let mut off = SEGMENT_HEADER_LEN;
    while off < seg.len() {
        let h = decode_frame_header(&seg[off..], (seg.len() - off) as u64).expect("intact frame");
        let total = frame_len(h.len as usize);
        v.push(Frame {
            offset: off,
            payload: h.len as usize,
            total,
            kind: h.kind,
            flags: h.flags,
            lsn: h.lsn,
            acked: h.acked,
            crc: h.crc,
        });
        off += total;
    }
    assert_eq!(off, seg.len(), "segment ends inside a frame");
    v
}

/// For each frame, the index of its batch (`None` for marks), and the start/end
/// file offsets of every batch.
pub fn batch_map(fr: &[Frame]) -> (Vec<Option<usize>>, Vec<(usize, usize)>) {
    let mut of = Vec::with_capacity(fr.len());
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for f in fr {
        if f.kind == FrameKind::Mark {
            of.push(None);
            continue;
        }
        if f.starts_batch() {
            spans.push((f.offset, f.end()));
        }
        let i = spans.len() - 1;
        spans[i].1 = f.end();
        of.push(Some(i));
    }
    (of, spans)
}

/// Deterministic pseudo-random bytes (splitmix64).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A self-checking record: tag, crc32 of the body, body (`len` >= 12 bytes total).
pub fn stamped(tag: u64, len: usize) -> Vec<u8> {
    let len = len.max(12);
    let body = noise(tag, len - 12);
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    v.extend_from_slice(&body);
    v
}

/// The tag of an intact stamped record.
pub fn check_stamped(b: &[u8]) -> Option<u64> {
    if b.len() < 12 {
        return None;
    }
    let crc = u32::from_le_bytes(b[8..12].try_into().unwrap());
    (crc32fast::hash(&b[12..]) == crc).then(|| u64::from_le_bytes(b[..8].try_into().unwrap()))
}

/// A random batch of 1–3 records, mostly small, sometimes empty or a few KiB.
pub fn random_batch(rng: &mut StdRng, tag: u64) -> Batch {
    let n = rng.gen_range(1..=3);
    (0..n)
        .map(|i| {
            let len = match rng.gen_range(0..20) {
                0 => 0,
                1 => rng.gen_range(1000..3000),
                _ => rng.gen_range(12..300),
            };
            if len == 0 {
                Vec::new()
            } else {
                stamped(tag * 8 + i, len)
            }
        })
        .collect()
}

pub fn refs(b: &Batch) -> Vec<&[u8]> {
    b.iter().map(|r| r.as_slice()).collect()
}

/// `got` holds exactly a prefix of `appended` that includes its first `acked`.
pub fn assert_prefix(got: &[Batch], appended: &[Batch], acked: usize, what: &str) {
    assert!(
        got.len() >= acked,
        "{what}: {} batches recovered but {acked} were acknowledged",
        got.len()
    );
    assert!(
        got.len() <= appended.len(),
        "{what}: {} batches recovered but only {} appended",
        got.len(),
        appended.len()
    );
    for (i, (g, a)) in got.iter().zip(appended).enumerate() {
        assert!(g == a, "{what}: batch {i} differs from what was appended");
    }
}
