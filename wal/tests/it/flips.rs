//! T3: every single-bit flip of a 64 KiB segment (524,288 flips) is detected. After
//! each flip the segment is opened read-only (`LogReader` + `verify()`), exactly as
//! recovery and fsck see it, and the outcome is classified:
//! - open error (the segment header is self-checksummed),
//! - damage reported (recovery's tail scan or verify),
//! - torn tail (the valid log ends earlier: recovery would cut and report it),
//! - harmless: nothing reported and every record read back unchanged;
//! - false accept: nothing reported but the records differ. Must be 0.
//!
//! Every flip in the segment header, a frame header or a payload must be detected
//! (crc32 detects every single-bit error). The zero padding after a payload is not
//! covered by the crc but must be zero, so flips there are detected too: 100% overall.
//!
//! The flips are applied on the fly by a read-only `Storage` over one shared buffer,
//! so no copy is made per flip; the work is split over two threads. By default every
//! 7th bit is flipped (74,899 flips, every bit position of every byte class, a few
//! seconds); `TL_FULL=1` flips all 524,288 bits (about 45 s on 2 cores at the test
//! profile's opt-level 1), `TL_FLIP_STRIDE=n` every n-th.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tl_wal::format::*;
use tl_wal::testing::MemStorage;
use tl_wal::{segment_name, LogReader, Lsn, Options, SegmentFile, Storage, Wal};

use crate::common::*;

const SEG_LEN: usize = 64 << 10;

struct Flip {
    base: Arc<Vec<u8>>,
    bit: usize,
}

impl SegmentFile for Flip {
    fn len(&self) -> io::Result<u64> {
        Ok(self.base.len() as u64)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let off = offset as usize;
        if off >= self.base.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.base.len() - off);
        buf[..n].copy_from_slice(&self.base[off..off + n]);
        let byte = self.bit / 8;
        if (off..off + n).contains(&byte) {
            buf[byte - off] ^= 1 << (self.bit % 8);
        }
        Ok(n)
    }
    fn write_all_at(&self, _: &[u8], _: u64) -> io::Result<()> {
        Err(io::ErrorKind::PermissionDenied.into())
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
    fn set_len(&self, _: u64) -> io::Result<()> {
        Err(io::ErrorKind::PermissionDenied.into())
    }
}

/// A read-only directory of one segment whose bytes are `base` with bit `bit`
/// flipped (`usize::MAX`: none). Also used to read big crafted segments without
/// copying them.
pub struct FlipStorage {
    pub name: String,
    pub base: Arc<Vec<u8>>,
    pub bit: usize,
}

impl Storage for FlipStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(vec![self.name.clone()])
    }
    fn open(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        assert_eq!(name, self.name);
        Ok(Box::new(Flip {
            base: self.base.clone(),
            bit: self.bit,
        }))
    }
    fn create(&self, _: &str) -> io::Result<Box<dyn SegmentFile>> {
        Err(io::ErrorKind::PermissionDenied.into())
    }
    fn remove(&self, _: &str) -> io::Result<()> {
        Err(io::ErrorKind::PermissionDenied.into())
    }
    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }
    fn quarantine(&self, _: &str, _: u64, _: &dyn SegmentFile, _: u64) -> io::Result<String> {
        Err(io::ErrorKind::PermissionDenied.into())
    }
    fn describe(&self, name: &str) -> PathBuf {
        PathBuf::from("flip").join(name)
    }
    fn lock(&self) -> io::Result<Box<dyn Send + Sync>> {
        Ok(Box::new(()))
    }
}

/// A cleanly closed segment of exactly 64 KiB: batches of 1–3 records of varied
/// sizes (some empty, some unaligned so that frames carry padding), the last record
/// sized so that the closing mark ends at byte 65,536.
fn segment_of_64k() -> (Vec<u8>, Vec<Batch>) {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let mut batches = Vec::new();
    let mut used = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN; // header + closing mark
    let mut i = 0u64;
    loop {
        let len = [0usize, 13, 100, 257, 999, 40, 3][i as usize % 7] + (i as usize % 5);
        let room = SEG_LEN - used;
        if room < frame_len(1200) + FRAME_HEADER_LEN + 16 {
            // Fill the rest with one record.
            let last = room - FRAME_HEADER_LEN;
            let b = vec![noise(i, last)];
            used += frame_len(last);
            wal.append(&refs(&b)).unwrap();
            batches.push(b);
            break;
        }
        let b = vec![noise(i, len)];
        used += frame_len(len);
        wal.append(&refs(&b)).unwrap();
        batches.push(b);
        i += 1;
    }
    wal.close().unwrap();
    let seg = storage.files()[&segment_name(Lsn::new(0))].clone();
    assert_eq!(seg.len(), SEG_LEN, "used {used}");
    (seg, batches)
}

#[derive(Default)]
struct Counts {
    open_error: AtomicU64,
    damage: AtomicU64,
    torn: AtomicU64,
    harmless_padding: AtomicU64,
    missed_covered: AtomicU64,
    false_accept: AtomicU64,
}

#[test]
fn every_single_bit_flip_of_a_64k_segment_is_detected() {
    let (seg, batches) = segment_of_64k();
    let fr = frames(&seg);
    let mut padding = vec![false; seg.len()];
    for f in &fr {
        padding[f.offset + FRAME_HEADER_LEN + f.payload..f.end()].fill(true);
    }
    let base = Arc::new(seg);
    let clean_end = {
        let r = LogReader::open_storage(Arc::new(FlipStorage {
            name: segment_name(Lsn::new(0)),
            base: base.clone(),
            bit: usize::MAX,
        }))
        .unwrap();
        assert_eq!(reader_read(&r).contents(), batches);
        r.end_lsn()
    };
    let full = std::env::var("TL_FULL").is_ok_and(|v| v == "1");
    let stride: usize = std::env::var("TL_FLIP_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 1 } else { 7 });
    let counts = Counts::default();
    let threads = 2;
    let bits = base.len() * 8;
    std::thread::scope(|sc| {
        for t in 0..threads {
            let (base, counts, padding, batches) = (&base, &counts, &padding, &batches);
            sc.spawn(move || {
                for bit in (t * stride..bits).step_by(threads * stride) {
                    let storage = Arc::new(FlipStorage {
                        name: segment_name(Lsn::new(0)),
                        base: base.clone(),
                        bit,
                    });
                    let bump = |c: &AtomicU64| c.fetch_add(1, Ordering::Relaxed);
                    let r = match LogReader::open_storage(storage) {
                        Err(_) => {
                            bump(&counts.open_error);
                            continue;
                        }
                        Ok(r) => r,
                    };
                    if !r.tail_corruption().is_empty() {
                        bump(&counts.damage);
                        continue;
                    }
                    if r.end_lsn() != clean_end {
                        bump(&counts.torn);
                        continue;
                    }
                    let v = r.verify().unwrap();
                    if !v.damage.is_empty() {
                        bump(&counts.damage);
                        continue;
                    }
                    if reader_read(&r).contents() != *batches {
                        bump(&counts.false_accept);
                        eprintln!("FALSE ACCEPT: bit {bit} (byte {})", bit / 8);
                    } else if padding[bit / 8] {
                        bump(&counts.harmless_padding);
                    } else {
                        bump(&counts.missed_covered);
                        eprintln!(
                            "MISSED: bit {bit} (byte {}) changed nothing visible",
                            bit / 8
                        );
                    }
                }
            });
        }
    });
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let total = (0..bits).step_by(stride).count() as u64;
    let pad_bits = (0..bits).step_by(stride).filter(|b| padding[b / 8]).count();
    eprintln!(
        "T3: {total} flips of a {} byte segment ({} frames): {} open errors (segment \
         header), {} damage reported, {} torn tails, {} harmless in padding (of {pad_bits} \
         padding bits flipped), {} missed in covered bytes, {} false accepts",
        base.len(),
        fr.len(),
        get(&counts.open_error),
        get(&counts.damage),
        get(&counts.torn),
        get(&counts.harmless_padding),
        get(&counts.missed_covered),
        get(&counts.false_accept),
    );
    assert_eq!(get(&counts.false_accept), 0);
    assert_eq!(get(&counts.missed_covered), 0);
    let detected = get(&counts.open_error) + get(&counts.damage) + get(&counts.torn);
    // The reader requires zero padding, so every flipped bit is detected: 100%.
    assert_eq!(get(&counts.harmless_padding), 0);
    assert_eq!(detected, total);
    let header_bits = (0..SEGMENT_HEADER_LEN * 8).step_by(stride).count() as u64;
    assert_eq!(get(&counts.open_error), header_bits);
}
