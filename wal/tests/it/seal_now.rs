//! `Wal::seal_now`: the segment holding every acknowledged batch is closed at once
//! (a push ships it), the next batch goes into a new segment, and the sealed one is
//! never written again, across a reopen too.

use std::sync::Arc;

use tl_wal::testing::MemStorage;
use tl_wal::{segment_name, Options, Wal};

use crate::common::*;

#[test]
fn seal_now_starts_a_new_segment_and_leaves_the_sealed_one_byte_identical() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let first = wal.append(&[&stamped(1, 300)]).unwrap();
    assert!(wal.seal_now().unwrap(), "a segment with frames is sealed");
    let names: Vec<String> = storage.files().keys().cloned().collect();
    assert_eq!(
        names,
        vec![segment_name(first.lsn), segment_name(first.end_lsn)],
        "the next segment exists before any batch goes into it"
    );
    let sealed = storage.files()[&segment_name(first.lsn)].clone();
    assert!(
        !wal.seal_now().unwrap(),
        "an empty segment is not sealed again"
    );
    let second = wal.append(&[&stamped(2, 300)]).unwrap();
    assert_eq!(second.lsn, first.end_lsn);
    drop(wal);
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    assert_eq!(
        wal_read(&wal).contents(),
        vec![vec![stamped(1, 300)], vec![stamped(2, 300)]]
    );
    drop(wal);
    assert_eq!(
        storage.files()[&segment_name(first.lsn)],
        sealed,
        "appends, the closing mark and a reopen never touch a sealed segment"
    );
}
