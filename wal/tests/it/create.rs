//! `Wal::create`: a new, empty log with a given repository id (GC's rewritten log
//! must carry the store's id), refused where a log (or the remains of one) exists.

use std::sync::Arc;

use tl_wal::format::SegmentHeader;
use tl_wal::testing::MemStorage;
use tl_wal::{segment_name, Lsn, OpenError, Options, Wal};

use crate::common::*;

const ID: [u8; 16] = *b"sixteen-byte-id!";

fn small() -> Options {
    Options {
        segment_bytes_max: 600,
        ..Options::default()
    }
}

/// The repository id in each segment header of `storage`.
fn header_ids(storage: &MemStorage) -> Vec<[u8; 16]> {
    storage
        .files()
        .values()
        .map(|b| SegmentHeader::decode(b).expect("intact header").repo_id)
        .collect()
}

#[test]
fn a_created_log_carries_the_given_repository_id_in_every_segment_and_after_reopen() {
    let storage = MemStorage::new();
    let (wal, report) = Wal::create_storage(Arc::new(storage.clone()), small(), ID).unwrap();
    assert!(report.created, "{report:?}");
    assert_eq!(report.start_lsn, Lsn::ZERO);
    assert_eq!(report.end_lsn, Lsn::ZERO);
    assert_eq!(wal.repo_id(), ID);
    assert_eq!(wal.start_lsn(), Lsn::ZERO);
    let batches: Vec<Batch> = (0..12).map(|i| vec![stamped(i, 200)]).collect();
    for b in &batches {
        wal.append(&refs(b)).unwrap();
    }
    wal.close().unwrap();
    let ids = header_ids(&storage);
    assert!(
        ids.len() > 1,
        "the workload rotates: {} segments",
        ids.len()
    );
    assert!(ids.iter().all(|id| *id == ID), "{ids:?}");

    let (wal, report) = Wal::open_storage(Arc::new(storage), small()).unwrap();
    assert!(!report.created);
    assert_eq!(wal.repo_id(), ID);
    assert_eq!(wal_read(&wal).contents(), batches);
}

#[test]
fn a_log_created_on_the_file_system_keeps_its_repository_id_on_reopen() {
    let d = tempfile::tempdir().unwrap();
    let (dir, q) = (d.path().join("gc").join("wal"), d.path().join("quarantine"));
    let (wal, report) = Wal::create(&dir, &q, Options::default(), ID).unwrap();
    assert!(report.created);
    assert_eq!(wal.repo_id(), ID);
    wal.append(&[b"one"]).unwrap();
    wal.close().unwrap();
    let (wal, _) = Wal::open(&dir, &q, Options::default()).unwrap();
    assert_eq!(wal.repo_id(), ID);
    assert_eq!(wal_read(&wal).contents(), vec![vec![b"one".to_vec()]]);
}

#[test]
fn creating_a_log_where_one_exists_fails_with_already_exists_and_changes_nothing() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    wal.append(&[b"kept"]).unwrap();
    drop(wal);
    let before = storage.files();
    let err = Wal::create_storage(Arc::new(storage.clone()), Options::default(), ID)
        .err()
        .expect("refused");
    match err {
        OpenError::AlreadyExists { segment, .. } => {
            assert_eq!(
                segment,
                std::path::Path::new("mem").join(segment_name(Lsn::ZERO))
            )
        }
        e => panic!("expected AlreadyExists, got {e}"),
    }
    assert_eq!(storage.files(), before);
}

#[test]
fn creating_a_log_over_a_segment_whose_creation_never_finished_fails_with_already_exists() {
    // `open` would set such a file aside and start a log with a random id; `create`
    // must not mix a new log with the remains of another.
    let storage = MemStorage::new();
    storage.put_file(&segment_name(Lsn::ZERO), vec![0; 10]);
    let err = Wal::create_storage(Arc::new(storage.clone()), Options::default(), ID)
        .err()
        .expect("refused");
    assert!(matches!(err, OpenError::AlreadyExists { .. }), "{err}");
    assert_eq!(storage.files().len(), 1);
}

#[test]
fn creating_a_log_twice_in_the_same_directory_fails_the_second_time() {
    let d = tempfile::tempdir().unwrap();
    let (dir, q) = (d.path().join("wal"), d.path().join("quarantine"));
    let (wal, _) = Wal::create(&dir, &q, Options::default(), ID).unwrap();
    drop(wal);
    let err = Wal::create(&dir, &q, Options::default(), ID)
        .err()
        .expect("refused");
    assert!(matches!(err, OpenError::AlreadyExists { .. }), "{err}");
}

#[test]
fn creating_a_log_in_a_directory_with_a_foreign_file_is_refused() {
    let storage = MemStorage::new();
    storage.put_file("notes.txt", b"hello".to_vec());
    let err = Wal::create_storage(Arc::new(storage), Options::default(), ID)
        .err()
        .expect("refused");
    assert!(matches!(err, OpenError::ForeignFile { .. }), "{err}");
}
