//! The basic contract: what is appended is read back, across reopen, rotation and
//! records split over many frames.

use std::sync::Arc;

use tl_wal::testing::MemStorage;
use tl_wal::{Lsn, Options, Record, Wal};

pub fn records(wal: &Wal) -> Vec<Record> {
    wal.iter_from(wal.start_lsn())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn appended_batches_read_back_in_order_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    {
        let (wal, report) =
            Wal::open(&path, path.with_file_name("quarantine"), Options::default()).unwrap();
        assert!(report.created);
        let a = wal.append(&[b"one", b"two"]).unwrap();
        let b = wal.append(&[b"three"]).unwrap();
        assert_eq!(a.end_lsn, b.lsn);
        assert_eq!(wal.read(b.lsn).unwrap(), b"three");
        wal.close().unwrap();
    }
    let (wal, report) =
        Wal::open(&path, path.with_file_name("quarantine"), Options::default()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(!report.new_segment);
    let got: Vec<_> = records(&wal)
        .into_iter()
        .map(|r| (r.data, r.last_in_batch))
        .collect();
    assert_eq!(
        got,
        vec![
            (b"one".to_vec(), false),
            (b"two".to_vec(), true),
            (b"three".to_vec(), true)
        ]
    );
}

#[test]
fn records_larger_than_a_frame_are_split_and_reassembled() {
    let storage = Arc::new(MemStorage::new());
    let (wal, _) = Wal::open_storage(storage, Options::default()).unwrap();
    let big: Vec<u8> = (0..3_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let exact = vec![9u8; tl_wal::format::FRAME_PAYLOAD_MAX];
    let at = wal.append(&[&big, b"", &exact]).unwrap();
    let got = records(&wal);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].data, big);
    assert_eq!(got[0].lsn, at.lsn);
    assert!(got[1].data.is_empty());
    assert_eq!(got[2].data, exact);
}

#[test]
fn segments_rotate_at_the_configured_size_and_read_across() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let opts = Options {
        segment_bytes_max: 4096,
        ..Options::default()
    };
    let (wal, _) = Wal::open(&path, path.with_file_name("quarantine"), opts.clone()).unwrap();
    for i in 0..100u32 {
        wal.append(&[&i.to_le_bytes()[..], &[0u8; 100]]).unwrap();
    }
    drop(wal);
    let n_segments = std::fs::read_dir(&path).unwrap().count() - 1; // LOCK
    assert!(n_segments > 3, "{n_segments} segments");
    let (wal, report) = Wal::open(&path, path.with_file_name("quarantine"), opts).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let got = records(&wal);
    assert_eq!(got.len(), 200);
    for i in 0..100u32 {
        assert_eq!(got[2 * i as usize].data, i.to_le_bytes());
    }
    assert_eq!(wal.verify().unwrap().damage, vec![]);
}

#[test]
fn concurrent_appenders_all_get_durable_distinct_lsns() {
    let storage = Arc::new(MemStorage::new());
    let (wal, _) = Wal::open_storage(storage, Options::default()).unwrap();
    let wal = Arc::new(wal);
    let mut handles = Vec::new();
    for t in 0..8u8 {
        let wal = wal.clone();
        handles.push(std::thread::spawn(move || {
            (0..200u32)
                .map(|i| wal.append(&[&[t], &i.to_le_bytes()[..]]).unwrap().lsn)
                .collect::<Vec<_>>()
        }));
    }
    let mut lsns: Vec<Lsn> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    lsns.sort();
    lsns.dedup();
    assert_eq!(lsns.len(), 1600);
    assert_eq!(records(&wal).len(), 3200);
}

#[test]
fn a_second_writer_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let (_wal, _) =
        Wal::open(&path, path.with_file_name("quarantine"), Options::default()).unwrap();
    let err = Wal::open(&path, path.with_file_name("quarantine"), Options::default())
        .err()
        .expect("second open must fail");
    assert!(matches!(err, tl_wal::OpenError::Locked { .. }), "{err}");
}
