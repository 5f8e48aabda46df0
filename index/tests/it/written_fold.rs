//! Folding what a capture just appended from memory (issue 17,
//! `catalog/written.rs`) gives the catalog the log's own fold gives: tried on
//! first captures of several 4 MiB content batches with a chunked big file, then
//! edits, deletes and renames, each compared with a fresh fold of the log; and
//! `fold_written` itself on a real log, with batches that do not follow the
//! catalog (refused, nothing folded) and that do (folded as the log folds them).

use std::fs;
use std::path::Path;

use tl_index::catalog::{
    fold_records, fold_written, Catalog, ContentRecord, NotFoldable, Unobserved, WrittenBatch,
    WrittenRecords,
};
use tl_index::record::{Codec, CommitKind, Record};
use tl_index::store::Store;
use tl_index::types::BlobHash;
use tl_wal::{LogReader, Options, Wal};

use crate::support::{commit_batch, noise, project, CommittedBatch};

const KIB: usize = 1 << 10;

/// The catalog of the log in `wal_dir`, folded from its first record.
fn folded_from_log(wal_dir: &Path, repo_id: [u8; 16]) -> Catalog {
    let quarantine = tempfile::tempdir().unwrap();
    let reader = LogReader::open(wal_dir, quarantine.path()).unwrap();
    let mut catalog = Catalog::new(repo_id, reader.start_lsn());
    fold_records(
        &mut catalog,
        reader.iter_from(reader.start_lsn()).unwrap(),
        &mut Unobserved,
    )
    .unwrap();
    catalog.fold_log_end(reader.end_lsn());
    catalog
}

/// Fails naming the first part of `found` that differs from `expected`.
fn assert_same_catalog(found: &Catalog, expected: &Catalog, after: &str) {
    assert_eq!(
        found.through(),
        expected.through(),
        "through, after {after}"
    );
    assert_eq!(
        found.checkpoints(),
        expected.checkpoints(),
        "checkpoints, after {after}"
    );
    assert_eq!(found.head(), expected.head(), "head, after {after}");
    assert_eq!(found.pins(), expected.pins(), "pins, after {after}");
    assert_eq!(found.chain(), expected.chain(), "chain, after {after}");
    assert_eq!(found.seq(), expected.seq(), "seq, after {after}");
    assert!(
        found.chain_breaks().is_empty(),
        "chain breaks after {after}"
    );
    let mut a: Vec<_> = found.blobs().iter().collect();
    let mut b: Vec<_> = expected.blobs().iter().collect();
    a.sort_by_key(|(h, _)| **h);
    b.sort_by_key(|(h, _)| **h);
    assert_eq!(a.len(), b.len(), "blob count, after {after}");
    for ((ha, sa), (hb, sb)) in a.iter().zip(&b) {
        assert_eq!(ha, hb, "blob hashes, after {after}");
        assert_eq!(sa, sb, "blob {ha:?}, after {after}");
    }
}

/// Compares the store's catalog (folded from memory) with a fresh fold of its log.
fn assert_matches_log(root: &Path, store: &Store, after: &str) {
    let found = store.catalog().unwrap();
    let expected = folded_from_log(&root.join(".tl/wal"), found.repo_id());
    assert_same_catalog(found, &expected, after);
}

#[test]
fn a_catalog_folded_from_the_captures_records_equals_the_logs_fold() {
    let (_tmp, root, mut store) = project();
    // 20 files of 600 KiB of noise (below the chunking threshold): three 4 MiB
    // content batches and a partial one with the Commit; one 6 MiB file in chunks.
    for i in 0..20u64 {
        let dir = root.join(format!("d{}", i % 4));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}.bin")), noise(600 * KIB, i + 1)).unwrap();
    }
    fs::write(root.join("big.bin"), noise(6 << 20, 0xb16)).unwrap();
    fs::write(root.join("small.txt"), b"hello\n").unwrap();
    let out = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert!(out.checkpoint.stats.bytes_new > 12 << 20, "{out:?}");
    assert_matches_log(&root, &store, "the first capture");

    fs::write(root.join("d1/f1.bin"), noise(600 * KIB, 0xed17)).unwrap();
    fs::remove_file(root.join("d2/f2.bin")).unwrap();
    fs::rename(root.join("d3/f3.bin"), root.join("moved.bin")).unwrap();
    let mut big = fs::read(root.join("big.bin")).unwrap();
    big.extend_from_slice(&noise(KIB, 7));
    fs::write(root.join("big.bin"), &big).unwrap();
    store
        .checkpoint(CommitKind::Manual, Some("edits".into()))
        .unwrap();
    assert_matches_log(&root, &store, "edits, a delete and a rename");

    // An unchanged tree: the Commit's batch alone.
    store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_matches_log(&root, &store, "a capture of an unchanged tree");
    assert_eq!(store.catalog().unwrap().checkpoints().len(), 3);
}

#[test]
fn a_lean_stores_fold_of_its_captures_records_equals_the_logs_fold() {
    // The daemon's store is lean (head and last checkpoint only): the same fold
    // from memory, through the lean catalog.
    let (_tmp, root, mut store) = project();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let repo_id = store.catalog().unwrap().repo_id();
    store.go_lean();
    for i in 0..12u64 {
        fs::write(root.join(format!("f{i}.bin")), noise(600 * KIB, i * 2 + 1)).unwrap();
    }
    fs::write(root.join("big.bin"), noise(5 << 20, 0xb16)).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::remove_file(root.join("f0.bin")).unwrap();
    fs::rename(root.join("f1.bin"), root.join("g1.bin")).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();

    let expected = folded_from_log(&root.join(".tl/wal"), repo_id);
    assert_eq!(store.head(), expected.head(), "head");
    let mut last = expected.checkpoints().last().unwrap().clone();
    last.changes = Vec::new();
    assert_eq!(store.last_checkpoint(), Some(&last), "last checkpoint");
    assert_eq!(store.seq(), 3);
    // The content folded from memory counts as stored: copies store nothing.
    fs::copy(root.join("f2.bin"), root.join("copy2.bin")).unwrap();
    fs::copy(root.join("big.bin"), root.join("copy-big.bin")).unwrap();
    let out = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_eq!(
        out.checkpoint.stats.bytes_new, 0,
        "{:?}",
        out.checkpoint.stats
    );
}

/// A Blob record of `data` (stored raw) and its encoding.
fn blob(data: &[u8], offset: u64) -> (Record, Vec<u8>) {
    let record = Record::Blob {
        hash: BlobHash(*blake3::hash(data).as_bytes()),
        raw_len: data.len() as u64,
        offset,
        codec: Codec::None,
        data: data.to_vec(),
    };
    let bytes = record.encode();
    (record, bytes)
}

#[test]
fn fold_written_folds_batches_that_follow_the_catalog_as_the_log_would() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let (wal, _) = Wal::open(&dir, tmp.path().join("q"), Options::default()).unwrap();
    let repo_id = [7; 16];
    let mut catalog = Catalog::new(repo_id, wal.start_lsn());

    // Two content batches, then a batch with a Put (of the first blob) and its
    // Commit.
    let mut sent = Vec::new();
    for b in 0..2u64 {
        let parts: Vec<(Record, Vec<u8>)> = (0..3)
            .map(|i| blob(&noise(5000, (b * 10 + i) * 2 + 1), 0))
            .collect();
        let refs: Vec<&[u8]> = parts.iter().map(|(_, e)| e.as_slice()).collect();
        let at = wal.append(&refs).unwrap();
        let records: Vec<ContentRecord> = parts
            .into_iter()
            .map(|(r, e)| ContentRecord::of(r, e.len()).unwrap())
            .collect();
        sent.push((at, records));
    }
    let hash = BlobHash(*blake3::hash(&noise(5000, 1)).as_bytes());
    let put = Record::Put {
        path: b"a.bin".to_vec(),
        hash,
        mode: tl_index::types::Mode::File,
        size: 5000,
        mtime_ns: 1,
    }
    .encode();
    let CommittedBatch { at: last, records } = commit_batch(&wal, &catalog.chain(), 1, vec![put]);

    let mut batches: Vec<WrittenBatch<'_>> = sent
        .iter()
        .map(|(at, rs)| WrittenBatch {
            at: *at,
            records: WrittenRecords::Content(rs),
        })
        .collect();
    batches.push(WrittenBatch {
        at: last,
        records: WrittenRecords::Encoded(&records),
    });

    // Without the first batch the rest does not follow the catalog: refused.
    let refused = fold_written(&mut catalog, &batches[1..]).unwrap_err();
    assert!(
        matches!(refused, NotFoldable::NotContiguous { .. }),
        "{refused}"
    );
    assert_eq!(catalog.through(), wal.start_lsn(), "nothing folded");
    assert!(catalog.blobs().is_empty(), "nothing folded");

    fold_written(&mut catalog, &batches).unwrap();
    catalog.fold_log_end(wal.durable_lsn());
    let expected = folded_from_log(&dir, repo_id);
    assert_eq!(expected.blobs().len(), 6);
    assert_eq!(expected.checkpoints().len(), 1);
    assert_same_catalog(&catalog, &expected, "two content batches and a commit");
}

#[test]
fn fold_written_refuses_a_batch_whose_records_do_not_fill_its_lsns() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(
        tmp.path().join("wal"),
        tmp.path().join("q"),
        Options::default(),
    )
    .unwrap();
    let mut catalog = Catalog::new([1; 16], wal.start_lsn());
    let (r1, e1) = blob(b"one", 0);
    let (_, e2) = blob(b"two", 0);
    let at = wal.append(&[&e1, &e2]).unwrap();
    // Only one of the batch's two records given.
    let held = [ContentRecord::of(r1, e1.len()).unwrap()];
    let batch = WrittenBatch {
        at,
        records: WrittenRecords::Content(&held),
    };
    let refused = fold_written(&mut catalog, &[batch]).unwrap_err();
    assert!(
        matches!(refused, NotFoldable::LengthMismatch { .. }),
        "{refused}"
    );
    assert!(catalog.blobs().is_empty(), "nothing folded");
}
