//! T1: a log cut short at every byte offset of its last 16 frames (a torn or
//! truncated tail) must recover to exactly the complete batches before the cut: the
//! cut-off bytes go to quarantine byte for byte, the segment is truncated at the end
//! of the last complete batch, and opening again changes nothing (recovery is
//! idempotent). Both an unclean log (no closing mark) and a cleanly closed one (a mark
//! at the end acknowledging everything) are cut.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tl_wal::format::SEGMENT_HEADER_LEN;
use tl_wal::testing::MemStorage;
use tl_wal::{segment_name, Lsn, Options, Wal};

use crate::common::*;

/// A one-segment log of `n` random batches: (segment bytes, batches).
/// `clean`: closed with a mark; otherwise the bytes as a power cut would leave them.
pub fn one_segment_log(seed: u64, n: usize, clean: bool) -> (Vec<u8>, Vec<Batch>) {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut batches = Vec::new();
    for i in 0..n {
        let b = random_batch(&mut rng, i as u64);
        wal.append(&refs(&b)).unwrap();
        batches.push(b);
    }
    let unclean = storage.files();
    wal.close().unwrap();
    let files = if clean { storage.files() } else { unclean };
    assert_eq!(files.len(), 1);
    (files[&segment_name(Lsn::new(0))].clone(), batches)
}

fn truncate_every_offset(clean: bool) -> usize {
    let (seg, batches) = one_segment_log(1, 40, clean);
    let fr = frames(&seg);
    let (_, spans) = batch_map(&fr);
    assert!(fr.len() > 16);
    let name = segment_name(Lsn::new(0));
    let from = fr[fr.len() - 16].offset;
    let mut cases = 0;
    for cut in from..seg.len() {
        let cut_bytes = &seg[..cut];
        let storage = mem_with(&[(name.clone(), cut_bytes.to_vec())]);
        let complete = spans.iter().filter(|s| s.1 <= cut).count();
        let valid_end = spans
            .iter()
            .map(|s| s.1)
            .filter(|&e| e <= cut)
            .max()
            .unwrap_or(SEGMENT_HEADER_LEN);
        let (wal, report) = Wal::open_storage(storage.clone(), Options::default()).unwrap();
        assert!(report.corruption.is_empty(), "cut {cut}: {report:?}");
        assert_eq!(
            report.end_lsn,
            Lsn::new((valid_end - SEGMENT_HEADER_LEN) as u64),
            "cut {cut}"
        );
        match &report.torn_tail {
            None => assert_eq!(valid_end, cut, "cut {cut}: bytes after the last batch kept"),
            Some(t) => {
                assert_eq!(t.offset as usize, valid_end, "cut {cut}");
                assert_eq!(t.bytes as usize, cut - valid_end, "cut {cut}");
                let q = storage.quarantined();
                assert_eq!(q.len(), 1, "cut {cut}");
                assert!(
                    q[0].1 == cut_bytes[valid_end..],
                    "cut {cut}: quarantine differs"
                );
            }
        }
        let got = wal_read(&wal);
        assert!(got.errors.is_empty(), "cut {cut}: {:?}", got.errors);
        assert_eq!(got.contents(), batches[..complete], "cut {cut}");
        drop(wal);
        let q_before = storage.quarantined().len();
        let (wal, again) = Wal::open_storage(storage.clone(), Options::default()).unwrap();
        assert!(
            again.is_clean(),
            "cut {cut}: second open not clean: {again:?}"
        );
        assert_eq!(storage.quarantined().len(), q_before, "cut {cut}");
        assert_eq!(wal_read(&wal).contents(), batches[..complete], "cut {cut}");
        cases += 1;
    }
    cases
}

#[test]
fn truncating_an_unclean_log_at_every_byte_of_its_last_16_frames_keeps_exactly_the_complete_batches(
) {
    let cases = truncate_every_offset(false);
    eprintln!("T1 unclean: {cases} truncation offsets recovered exactly");
}

#[test]
fn truncating_a_cleanly_closed_log_at_every_byte_of_its_last_16_frames_keeps_exactly_the_complete_batches(
) {
    let cases = truncate_every_offset(true);
    eprintln!("T1 clean: {cases} truncation offsets recovered exactly");
}

#[test]
fn truncated_real_segment_file_is_cut_and_quarantined_on_disk() {
    let (seg, batches) = one_segment_log(2, 10, false);
    let fr = frames(&seg);
    let (_, spans) = batch_map(&fr);
    let last = fr[fr.len() - 1];
    for cut in [
        last.offset + 1,
        last.offset + 31,
        last.offset + 33,
        last.end() - 1,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join(segment_name(Lsn::new(0))), &seg[..cut]).unwrap();
        let (wal, report) =
            Wal::open(&path, path.with_file_name("quarantine"), Options::default()).unwrap();
        let torn = report.torn_tail.clone().expect("torn tail");
        let valid_end = spans
            .iter()
            .map(|s| s.1)
            .filter(|&e| e <= cut)
            .max()
            .unwrap();
        assert_eq!(torn.offset as usize, valid_end);
        let kept = std::fs::read(&torn.quarantined_as).unwrap();
        assert!(kept == seg[valid_end..cut]);
        assert_eq!(
            std::fs::metadata(path.join(segment_name(Lsn::new(0))))
                .unwrap()
                .len() as usize,
            valid_end
        );
        let complete = spans.iter().filter(|s| s.1 <= cut).count();
        assert_eq!(wal_read(&wal).contents(), batches[..complete]);
        drop(wal);
        let (_, again) =
            Wal::open(&path, path.with_file_name("quarantine"), Options::default()).unwrap();
        assert!(again.is_clean(), "{again:?}");
    }
}
