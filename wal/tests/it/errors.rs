//! T5: every error path of the readers and the writer, provoked on purpose, must
//! come back as the exact typed error naming the segment file, the file offset and
//! the LSN (so `tl` can tell the user what is wrong and where). Frames are crafted
//! with the public `format` encoder, so a frame can be valid in every respect but
//! one.

use std::path::PathBuf;
use std::sync::Arc;

use tl_wal::format::*;
use tl_wal::testing::MemStorage;
use tl_wal::{
    segment_name, AppendError, Damage, LogReader, Lsn, OpenError, Options, ReadError, Storage, Wal,
};

use crate::alloc_meter::peak_during;
use crate::common::*;
use crate::flips::FlipStorage;

fn path(name: &str) -> PathBuf {
    PathBuf::from("mem").join(name)
}

/// A cleanly closed log of `n` one-record batches of 100 bytes over segments of at
/// most `seg_max` bytes.
fn small_log(n: u64, seg_max: u64) -> (MemStorage, Vec<Batch>) {
    let storage = MemStorage::new();
    let opts = Options {
        segment_bytes_max: seg_max,
        ..Options::default()
    };
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts).unwrap();
    let batches: Vec<Batch> = (0..n).map(|i| vec![stamped(i, 100)]).collect();
    for b in &batches {
        wal.append(&refs(b)).unwrap();
    }
    wal.close().unwrap();
    (storage, batches)
}

fn open_err(storage: MemStorage) -> OpenError {
    Wal::open_storage(Arc::new(storage), Options::default())
        .err()
        .expect("open must fail")
}

#[test]
fn a_foreign_file_in_the_segment_directory_is_refused_by_name() {
    let (storage, _) = small_log(3, 1 << 20);
    storage.put_file("notes.txt", b"hello".to_vec());
    match open_err(storage) {
        OpenError::ForeignFile { path: p } => assert_eq!(p, path("notes.txt")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_segment_of_a_newer_format_version_is_refused_with_both_versions() {
    let header = SegmentHeader {
        version: FORMAT_VERSION + 1,
        repo_id: [7; 16],
        base_lsn: Lsn::new(0),
        salt: 1,
        created_ns: 0,
    };
    let storage = MemStorage::new();
    storage.put_file(&segment_name(Lsn::new(0)), header.encode().to_vec());
    match open_err(storage) {
        OpenError::UnsupportedVersion {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(p, path(&segment_name(Lsn::new(0))));
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_damaged_segment_header_is_refused_with_its_problem() {
    let (storage, _) = small_log(20, 1024);
    let first = segment_name(Lsn::new(0));
    let mut bytes = storage.files()[&first].clone();
    bytes[20] ^= 0x10; // inside the repository id
    storage.put_file(&first, bytes.clone());
    match open_err(copy_of(&storage)) {
        OpenError::BadHeader {
            path: p,
            problem: HeaderProblem::Checksum { .. },
        } => assert_eq!(p, path(&first)),
        e => panic!("{e:?}"),
    }
    bytes[20] ^= 0x10;
    bytes[0] = b'X';
    storage.put_file(&first, bytes);
    match open_err(storage) {
        OpenError::BadHeader {
            path: p,
            problem: HeaderProblem::BadMagic,
        } => assert_eq!(p, path(&first)),
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_segment_whose_name_disagrees_with_its_header_is_refused() {
    let (storage, _) = small_log(3, 1 << 20);
    let bytes = storage.files()[&segment_name(Lsn::new(0))].clone();
    storage.delete_file(&segment_name(Lsn::new(0)));
    storage.put_file(&segment_name(Lsn::new(64)), bytes);
    match open_err(storage) {
        OpenError::NameMismatch {
            path: p,
            header_lsn,
            name_lsn,
        } => {
            assert_eq!(p, path(&segment_name(Lsn::new(64))));
            assert_eq!((header_lsn, name_lsn), (Lsn::new(0), Lsn::new(64)));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_segment_of_another_log_is_refused() {
    let (a, _) = small_log(20, 1024);
    let (b, _) = small_log(20, 1024);
    let names: Vec<String> = a.files().keys().cloned().collect();
    assert!(names.len() >= 3);
    assert_eq!(b.files().keys().cloned().collect::<Vec<_>>(), names);
    a.put_file(&names[1], b.files()[&names[1]].clone());
    match open_err(a) {
        OpenError::ForeignSegment { path: p, first } => {
            assert_eq!(p, path(&names[1]));
            assert_eq!(first, path(&names[0]));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_missing_middle_segment_is_refused_with_the_hole() {
    let (storage, _) = small_log(20, 1024);
    let names: Vec<String> = storage.files().keys().cloned().collect();
    let lens: Vec<u64> = storage.files().values().map(|v| v.len() as u64).collect();
    storage.delete_file(&names[1]);
    let expected = Lsn::new(lens[0] - SEGMENT_HEADER_LEN as u64);
    match open_err(storage) {
        OpenError::MissingSegment {
            previous,
            expected: e,
            next,
            found,
        } => {
            assert_eq!(previous, path(&names[0]));
            assert_eq!(e, expected);
            assert_eq!(next, path(&names[2]));
            assert_eq!(Some(found), tl_wal::parse_segment_name(&names[2]));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_second_writer_on_the_same_storage_is_refused_as_locked() {
    let storage = MemStorage::new();
    let (_wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    match open_err(storage.clone()) {
        OpenError::Locked { lock, holder } => {
            assert_eq!(lock, storage.describe(tl_wal::storage::LOCK_FILE));
            assert_eq!(holder, None, "a MemStorage has no processes");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_locked_log_names_its_lock_file_once_and_the_holders_pid() {
    let d = tempfile::tempdir().unwrap();
    let wal_dir = d.path().join("wal");
    let (_wal, _) = Wal::open(
        &wal_dir,
        wal_dir.with_file_name("quarantine"),
        Options::default(),
    )
    .unwrap();
    let e = match Wal::open(
        &wal_dir,
        wal_dir.with_file_name("quarantine"),
        Options::default(),
    ) {
        Err(e) => e,
        Ok(_) => panic!("a second writer was let in"),
    };
    let lock = wal_dir.join("LOCK");
    match &e {
        OpenError::Locked { lock: l, holder } => {
            assert_eq!(l, &lock);
            assert_eq!(*holder, Some(std::process::id()));
        }
        e => panic!("{e:?}"),
    }
    let msg = e.to_string();
    assert_eq!(
        msg,
        format!(
            "{} is held by another tl writer (pid {}); stop it or wait",
            lock.display(),
            std::process::id()
        )
    );
}

/// A cleanly closed one-segment log of 8 one-record batches, its frames and salt.
fn eight_frames() -> (Vec<u8>, Vec<Frame>, u64, Vec<Batch>) {
    let (storage, batches) = small_log(8, 1 << 20);
    let seg = storage.files()[&segment_name(Lsn::new(0))].clone();
    let fr = frames(&seg);
    let salt = SegmentHeader::decode(&seg).unwrap().salt;
    (seg, fr, salt, batches)
}

/// Opens `bytes` as the only segment: verification must report exactly one corruption
/// at frame 3 (all is acknowledged by the closing mark), reading must return it as the
/// same typed error and resume at frame 4, and the other batches must be intact.
fn corrupt_at_frame_3(bytes: Vec<u8>) -> FrameProblem {
    let (seg, fr, _, batches) = eight_frames();
    assert_eq!(bytes.len(), seg.len());
    let name = segment_name(Lsn::new(0));
    let storage = mem_with(&[(name.clone(), bytes)]);
    let (wal, report) = Wal::open_storage(storage.clone(), Options::default()).unwrap();
    assert!(report.torn_tail.is_none(), "{report:?}");
    // The segment ends with a closing mark, so open trusts its end without reading
    // it (the clean-close fast path); the damage is found by verify() and reads.
    assert!(report.corruption.is_empty(), "{report:?}");
    let verified = wal.verify().unwrap();
    assert_eq!(verified.damage.len(), 1, "{verified:?}");
    let d = verified.damage[0].clone();
    let want = Damage {
        path: path(&name),
        offset: fr[3].offset as u64,
        lsn: fr[3].lsn,
        problem: d.problem,
        resumes_at: Some(fr[4].lsn),
    };
    assert_eq!(d, want);
    let got = wal_read(&wal);
    match &got.errors[..] {
        [ReadError::Corrupt {
            path: p,
            offset,
            lsn,
            problem,
            resumes_at,
        }] => {
            assert_eq!(p, &want.path);
            assert_eq!(
                (*offset, *lsn, *resumes_at),
                (want.offset, want.lsn, want.resumes_at)
            );
            assert_eq!(*problem, d.problem);
        }
        e => panic!("{e:?}"),
    }
    let mut expected = batches.clone();
    expected.remove(3);
    assert_eq!(got.contents(), expected);
    // The same through the read-only reader and verify().
    let v = LogReader::open_storage(storage).unwrap().verify().unwrap();
    assert_eq!(v.damage, vec![want]);
    d.problem
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Re-encodes frame 3 with some fields changed; its crc is valid for what it says.
fn reencode(seg: &[u8], fr: &[Frame], salt: u64, lsn: Lsn, prev: u32, kind: FrameKind) -> Vec<u8> {
    let f = fr[3];
    let payload = &seg[f.offset + FRAME_HEADER_LEN..f.offset + FRAME_HEADER_LEN + f.payload];
    let mut frame = Vec::new();
    let flags = if kind == FrameKind::Full { f.flags } else { 0 };
    encode_frame(&mut frame, salt, lsn, f.acked, prev, kind, flags, payload);
    let mut out = seg.to_vec();
    out[f.offset..f.end()].copy_from_slice(&frame);
    out
}

#[test]
fn a_frame_running_past_the_end_of_the_data_is_short() {
    let (mut seg, fr, _, _) = eight_frames();
    let available = (seg.len() - fr[3].offset) as u64;
    set_u32(&mut seg, fr[3].offset + 4, available as u32);
    let p = corrupt_at_frame_3(seg);
    let needed = frame_len(available as usize) as u64;
    assert_eq!(p, FrameProblem::Short { needed, available });
}

#[test]
fn a_hostile_length_field_is_over_long_and_allocates_nothing() {
    let (mut seg, fr, _, _) = eight_frames();
    set_u32(&mut seg, fr[3].offset + 4, u32::MAX);
    let (p, peak) = peak_during(|| corrupt_at_frame_3(seg));
    assert_eq!(p, FrameProblem::OverLong { len: u32::MAX });
    eprintln!("T5 OverLong: peak allocation while opening and reading {peak} bytes");
    assert!(peak < 4 << 20, "{peak} bytes allocated");
}

#[test]
fn an_unknown_frame_kind_is_a_bad_field() {
    let (mut seg, fr, _, _) = eight_frames();
    seg[fr[3].offset + 28] = 9;
    assert_eq!(
        corrupt_at_frame_3(seg),
        FrameProblem::BadField("unknown frame kind")
    );
}

#[test]
fn a_flipped_payload_bit_is_a_checksum_mismatch() {
    let (mut seg, fr, _, _) = eight_frames();
    seg[fr[3].offset + FRAME_HEADER_LEN + 50] ^= 4;
    match corrupt_at_frame_3(seg) {
        FrameProblem::Checksum { stored, computed } => {
            assert_eq!(stored, fr[3].crc);
            assert_ne!(computed, stored);
        }
        p => panic!("{p:?}"),
    }
}

#[test]
fn a_valid_frame_at_the_wrong_position_is_a_bad_lsn() {
    let (seg, fr, salt, _) = eight_frames();
    let bytes = reencode(&seg, &fr, salt, fr[3].lsn + 8, fr[2].crc, FrameKind::Full);
    assert_eq!(
        corrupt_at_frame_3(bytes),
        FrameProblem::BadLsn {
            expected: fr[3].lsn,
            found: fr[3].lsn + 8
        }
    );
}

#[test]
fn a_valid_frame_not_linked_to_its_predecessor_is_a_bad_link() {
    let (seg, fr, salt, _) = eight_frames();
    let bytes = reencode(&seg, &fr, salt, fr[3].lsn, 0xdead_beef, FrameKind::Full);
    assert_eq!(
        corrupt_at_frame_3(bytes),
        FrameProblem::BadLink {
            expected: fr[2].crc,
            found: 0xdead_beef
        }
    );
}

#[test]
fn a_record_part_without_a_first_part_is_a_bad_sequence() {
    let (seg, fr, salt, _) = eight_frames();
    let bytes = reencode(&seg, &fr, salt, fr[3].lsn, fr[2].crc, FrameKind::Middle);
    assert_eq!(
        corrupt_at_frame_3(bytes),
        FrameProblem::BadSequence("a record part without a first part")
    );
}

/// A crafted record of 65 frames (First, 63 Middle, Last) claiming 64 MiB + 8 bytes:
/// every frame is valid, the reassembled record is not. The reader must stop at
/// RECORD_MAX, report RecordTooLarge at the Last frame, resume at the next batch,
/// and never hold more than one maximal record (the bound on reader memory).
#[test]
fn a_record_assembled_past_the_maximum_is_too_large_and_memory_stays_bounded() {
    let header = SegmentHeader {
        version: FORMAT_VERSION,
        repo_id: [1; 16],
        base_lsn: Lsn::new(0),
        salt: 42,
        created_ns: 0,
    };
    let mut seg = header.encode().to_vec();
    let big = vec![0x5au8; FRAME_PAYLOAD_MAX];
    let n_full = RECORD_MAX / FRAME_PAYLOAD_MAX;
    let total = SEGMENT_HEADER_LEN + (n_full + 2) * FRAME_HEADER_LEN + RECORD_MAX + 16;
    let mut prev = header.crc();
    let lsn = |seg: &Vec<u8>| Lsn::new((seg.len() - SEGMENT_HEADER_LEN) as u64);
    let acked = Lsn::new((total - SEGMENT_HEADER_LEN) as u64); // all acknowledged: corruption
    for i in 0..n_full {
        let (kind, flags) = if i == 0 {
            (FrameKind::First, FLAG_BATCH_START)
        } else {
            (FrameKind::Middle, 0)
        };
        let l = lsn(&seg);
        prev = encode_frame(&mut seg, 42, l, acked, prev, kind, flags, &big);
    }
    let last_off = seg.len();
    let l = lsn(&seg);
    prev = encode_frame(
        &mut seg,
        42,
        l,
        acked,
        prev,
        FrameKind::Last,
        FLAG_BATCH_END,
        b"8 bytes!",
    );
    let next_lsn = lsn(&seg);
    let flags = FLAG_BATCH_START | FLAG_BATCH_END;
    encode_frame(
        &mut seg,
        42,
        next_lsn,
        acked,
        prev,
        FrameKind::Full,
        flags,
        b"after",
    );
    assert_eq!(seg.len(), total);
    let storage = Arc::new(FlipStorage {
        name: segment_name(Lsn::new(0)),
        base: Arc::new(seg),
        bit: usize::MAX,
    });
    let (got, peak) = peak_during(|| {
        let r = LogReader::open_storage(storage).unwrap();
        assert!(r.tail_corruption().is_empty());
        reader_read(&r)
    });
    match &got.errors[..] {
        [ReadError::Corrupt {
            path: p,
            offset,
            lsn,
            problem: FrameProblem::RecordTooLarge,
            resumes_at,
        }] => {
            assert_eq!(p, &PathBuf::from("flip").join(segment_name(Lsn::new(0))));
            assert_eq!(*offset as usize, last_off);
            assert_eq!(lsn.get() as usize, last_off - SEGMENT_HEADER_LEN);
            assert_eq!(*resumes_at, Some(next_lsn));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(got.contents(), vec![vec![b"after".to_vec()]]);
    eprintln!(
        "T5 RecordTooLarge: peak reader allocation {} MiB",
        peak >> 20
    );
    assert!(peak <= RECORD_MAX + (4 << 20), "{peak} bytes allocated");
}

#[test]
fn reading_outside_the_log_is_out_of_range() {
    let (storage, _) = small_log(3, 1 << 20);
    let (wal, report) = Wal::open_storage(Arc::new(storage), Options::default()).unwrap();
    let end = report.end_lsn;
    for lsn in [end + 8, Lsn::new(u64::MAX)] {
        match wal.iter_from(lsn).err().expect("out of range") {
            ReadError::OutOfRange {
                lsn: l,
                start,
                end: e,
            } => {
                assert_eq!((l, start, e), (lsn, Lsn::new(0), end))
            }
            e => panic!("{e:?}"),
        }
    }
    assert!(wal.iter_from(end).unwrap().next().is_none());
}

#[test]
fn reading_at_a_later_part_of_a_split_record_is_not_a_record() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage), Options::default()).unwrap();
    let a = wal.append(&[&noise(1, FRAME_PAYLOAD_MAX + 100)]).unwrap();
    wal.append(&[b"next"]).unwrap();
    let lsn = a.lsn + frame_len(FRAME_PAYLOAD_MAX) as u64;
    match wal.read(lsn).expect_err("not a record") {
        ReadError::NotARecord {
            path: p,
            offset,
            lsn: l,
        } => {
            assert_eq!(p, path(&segment_name(Lsn::new(0))));
            assert_eq!((offset, l), (lsn.get() + SEGMENT_HEADER_LEN as u64, lsn));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn reading_inside_a_frame_is_not_a_record_and_not_corruption() {
    let (storage, _) = small_log(4, 1 << 20);
    let (wal, _) = Wal::open_storage(Arc::new(storage), Options::default()).unwrap();
    let rec = wal.iter_from(Lsn::new(0)).unwrap().nth(1).unwrap().unwrap();
    for delta in (8..136).step_by(8) {
        let lsn = rec.lsn + delta;
        match wal.read(lsn).expect_err("not a record") {
            ReadError::NotARecord { offset, lsn: l, .. } => {
                assert_eq!((offset, l), (lsn.get() + SEGMENT_HEADER_LEN as u64, lsn))
            }
            e => panic!("read at LSN {lsn} ({delta} into a frame): {e:?}"),
        }
    }
}

#[test]
fn an_empty_batch_is_refused() {
    let (wal, _) = Wal::open_storage(Arc::new(MemStorage::new()), Options::default()).unwrap();
    assert!(matches!(wal.append(&[]), Err(AppendError::EmptyBatch)));
    assert!(!wal.is_poisoned());
}

#[test]
fn a_record_over_the_maximum_is_refused_before_anything_is_written() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let ops = storage.ops();
    let big = vec![0u8; RECORD_MAX + 1];
    match wal.append(&[b"ok", &big]) {
        Err(AppendError::RecordTooLarge { len, max }) => {
            assert_eq!((len, max), (RECORD_MAX + 1, RECORD_MAX))
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(storage.ops(), ops);
    wal.append(&[b"still writable"]).unwrap();
}

#[test]
fn after_a_failed_write_the_writer_is_poisoned_for_good() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    wal.append(&[b"one"]).unwrap();
    storage.fail_sync_at(1);
    let end = wal.durable_lsn();
    match wal.append(&[b"two"]) {
        Err(AppendError::Io {
            path: p,
            offset,
            lsn,
            ..
        }) => {
            assert_eq!(p, path(&segment_name(Lsn::new(0))));
            assert_eq!((offset, lsn), (end.get() + SEGMENT_HEADER_LEN as u64, end));
        }
        r => panic!("{r:?}"),
    }
    for _ in 0..3 {
        match wal.append(&[b"three"]) {
            Err(AppendError::Poisoned { cause }) => assert!(cause.contains("injected"), "{cause}"),
            r => panic!("{r:?}"),
        }
    }
    assert!(wal.is_poisoned());
    assert!(matches!(wal.close(), Err(AppendError::Poisoned { .. })));
}
