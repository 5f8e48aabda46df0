//! `Wal::open_sealed`: continuing after segments that must stay byte-identical
//! (GC hard-links the old log's kept segments into the new log directory, so they
//! are shared with the old log). What must hold: appends go to new segments only;
//! neither the open, nor appends, nor `close` or `Drop` change a byte of any
//! segment that was there before; the log reads back whole; a last segment that
//! cannot stay unchanged (no frames, a torn tail) is refused and left as it was.

use std::collections::BTreeMap;
use std::sync::Arc;

use tl_wal::format::{SegmentHeader, FORMAT_VERSION};
use tl_wal::testing::MemStorage;
use tl_wal::{segment_name, Lsn, OpenError, Options, Unsealable, Wal};

use crate::common::*;

fn small() -> Options {
    Options {
        segment_bytes_max: 800,
        ..Options::default()
    }
}

/// A log of several segments and its batches; `close` says whether it got a
/// closing mark.
fn old_log(close: bool) -> (MemStorage, Vec<Batch>) {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), small()).unwrap();
    let batches: Vec<Batch> = (0..20).map(|i| vec![stamped(i, 150)]).collect();
    for b in &batches {
        wal.append(&refs(b)).unwrap();
    }
    if close {
        wal.close().unwrap();
    } else {
        std::mem::forget(wal);
    }
    assert!(storage.files().len() > 2);
    (copy_all(&storage.files()), batches)
}

fn copy_all(files: &BTreeMap<String, Vec<u8>>) -> MemStorage {
    let s = MemStorage::new();
    for (name, bytes) in files {
        s.put_file(name, bytes.clone());
    }
    s
}

fn assert_unchanged(before: &BTreeMap<String, Vec<u8>>, now: &MemStorage, ctx: &str) {
    let now = now.files();
    for (name, bytes) in before {
        assert!(now.get(name) == Some(bytes), "{ctx}: {name} changed");
    }
}

/// Opens `storage` sealed, appends `fresh` (singly, then all at once), ends the
/// writer with `end`, and checks the old segments are unchanged and the whole log
/// reads back.
fn check(storage: MemStorage, kept: Vec<Batch>, end: fn(Wal), ctx: &str) {
    let before = storage.files();
    let last_old = before.keys().max().unwrap().clone();
    let (wal, report) = Wal::open_sealed_storage(Arc::new(storage.clone()), small()).unwrap();
    assert!(report.new_segment, "{ctx}: {report:?}");
    assert!(report.is_clean(), "{ctx}: {report:?}");
    assert_unchanged(&before, &storage, &format!("{ctx}, after open"));
    let fresh: Vec<Batch> = (100..112).map(|i| vec![stamped(i, 120)]).collect();
    wal.append(&refs(&fresh[0])).unwrap();
    let r: Vec<Vec<&[u8]>> = fresh[1..].iter().map(refs).collect();
    let slices: Vec<&[&[u8]]> = r.iter().map(|b| b.as_slice()).collect();
    wal.append_batches(&slices).unwrap();
    end(wal);
    assert_unchanged(&before, &storage, ctx);
    let files = storage.files();
    let new: Vec<_> = files.keys().filter(|n| !before.contains_key(*n)).collect();
    assert!(!new.is_empty(), "{ctx}: no new segment");
    assert!(new.iter().all(|n| **n > last_old), "{ctx}: {new:?}");

    let (wal, report) = Wal::open_storage(Arc::new(storage), small()).unwrap();
    assert!(report.is_clean(), "{ctx}: {report:?}");
    let got = wal_read(&wal);
    assert!(got.errors.is_empty(), "{ctx}: {:?}", got.errors);
    let mut want = kept;
    want.extend(fresh);
    assert_eq!(got.contents(), want, "{ctx}");
    assert!(wal.verify().unwrap().damage.is_empty(), "{ctx}");
}

fn close(wal: Wal) {
    wal.close().unwrap();
}

#[test]
fn open_sealed_appends_only_to_new_segments_and_close_leaves_every_old_byte_unchanged() {
    let (storage, batches) = old_log(true);
    check(storage, batches, close, "whole log, closed cleanly");
}

#[test]
fn open_sealed_after_drop_without_close_leaves_every_old_byte_unchanged() {
    let (storage, batches) = old_log(true);
    check(storage, batches, drop, "whole log, writer dropped");
}

#[test]
fn open_sealed_after_a_log_without_closing_mark_leaves_every_old_byte_unchanged() {
    let (storage, batches) = old_log(false);
    check(storage, batches, close, "whole log, no closing mark");
}

#[test]
fn open_sealed_over_only_the_sealed_segments_of_a_log_leaves_them_unchanged() {
    // GC's case: the kept segments are sealed ones, not the old writer's tail.
    let (storage, batches) = old_log(true);
    let mut files = storage.files();
    let tail = files.keys().max().unwrap().clone();
    files.remove(&tail);
    let kept = {
        let probe = copy_all(&files);
        let r = tl_wal::LogReader::open_storage(Arc::new(probe)).unwrap();
        reader_read(&r).contents()
    };
    assert!(kept.len() < batches.len() && batches.starts_with(&kept));
    check(copy_all(&files), kept, close, "sealed segments only");
}

#[test]
fn open_sealed_then_close_without_appending_writes_nothing() {
    let (storage, _) = old_log(false);
    let before = storage.files();
    let (wal, _) = Wal::open_sealed_storage(Arc::new(storage.clone()), small()).unwrap();
    wal.close().unwrap();
    assert_eq!(storage.files(), before);
}

#[test]
fn open_sealed_on_the_file_system_leaves_hard_linked_segments_of_the_old_log_unchanged() {
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().unwrap();
    let (old, new, q) = (
        d.path().join("wal"),
        d.path().join("gc-wal"),
        d.path().join("quarantine"),
    );
    let (wal, _) = Wal::open(&old, &q, small()).unwrap();
    for i in 0..20 {
        wal.append(&[&stamped(i, 150)]).unwrap();
    }
    wal.close().unwrap();
    let read_dir = |p: &std::path::Path| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, std::fs::read(e.path()).unwrap())
            })
            .collect()
    };
    let old_files = read_dir(&old);
    assert!(old_files.len() > 2);
    let tail = old_files.keys().max().unwrap().clone();
    std::fs::create_dir(&new).unwrap();
    for name in old_files.keys().filter(|n| **n != tail) {
        std::fs::hard_link(old.join(name), new.join(name)).unwrap();
    }
    let (wal, report) = Wal::open_sealed(&new, &q, small()).unwrap();
    assert!(report.new_segment);
    let fresh: Vec<Vec<u8>> = (100..110).map(|i| stamped(i, 120)).collect();
    let batches: Vec<Vec<&[u8]>> = fresh.iter().map(|r| vec![r.as_slice()]).collect();
    let slices: Vec<&[&[u8]]> = batches.iter().map(|b| b.as_slice()).collect();
    wal.append_batches(&slices).unwrap();
    wal.close().unwrap();
    assert_eq!(read_dir(&old), old_files, "the old log changed");
    for name in old_files.keys().filter(|n| **n != tail) {
        assert_eq!(
            std::fs::metadata(new.join(name)).unwrap().nlink(),
            2,
            "{name}"
        );
    }
    let (wal, report) = Wal::open(&new, &q, small()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let got = wal_read(&wal).contents();
    assert_eq!(got.len(), (old_files.len() - 1) * 4 + fresh.len());
    assert_eq!(got.last().unwrap(), &vec![fresh.last().unwrap().clone()]);
}

#[test]
fn open_sealed_refuses_an_empty_directory() {
    let err = Wal::open_sealed_storage(Arc::new(MemStorage::new()), small())
        .err()
        .expect("refused");
    assert!(matches!(err, OpenError::NoSegment { .. }), "{err}");
}

#[test]
fn open_sealed_refuses_a_last_segment_without_frames() {
    let storage = MemStorage::new();
    let header = SegmentHeader {
        version: FORMAT_VERSION,
        repo_id: [1; 16],
        base_lsn: Lsn::ZERO,
        salt: 7,
        created_ns: 0,
    };
    storage.put_file(&segment_name(Lsn::ZERO), header.encode().to_vec());
    let before = storage.files();
    let err = Wal::open_sealed_storage(Arc::new(storage.clone()), small())
        .err()
        .expect("refused");
    assert!(
        matches!(
            err,
            OpenError::NotSealed {
                reason: Unsealable::NoFrames,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(storage.files(), before);
}

#[test]
fn open_sealed_refuses_a_torn_tail_and_leaves_it_in_place() {
    let (storage, _) = old_log(true);
    let mut files = storage.files();
    let tail = files.keys().max().unwrap().clone();
    let len = files[&tail].len() as u64;
    files.get_mut(&tail).unwrap().extend_from_slice(&[0xab; 20]);
    let storage = copy_all(&files);
    let err = Wal::open_sealed_storage(Arc::new(storage.clone()), small())
        .err()
        .expect("refused");
    match err {
        OpenError::NotSealed {
            reason: Unsealable::TornTail { offset, bytes },
            ..
        } => {
            assert!(offset <= len, "{offset} > {len}");
            assert_eq!(offset + bytes, len + 20);
        }
        e => panic!("expected a torn tail, got {e}"),
    }
    assert_eq!(storage.files(), files);
    assert!(storage.quarantined().is_empty());
}
