//! Content-defined chunks (issue 13, `index/CHUNKS.md`) on real stores: a big
//! file's small edits store about the edited bytes, random edits replay
//! byte-identical and keep sharing the chunks outside the edit, GC keeps the
//! chunks kept states need and drops the rest (orphans of a moving file
//! included), and `fsck --deep` reads chunked content back clean.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use tl_index::catalog::CheckpointIndex;
use tl_index::gc;
use tl_index::record::{Chunk, CommitKind, Record};
use tl_index::retention::Clock;
use tl_index::store::Store;
use tl_index::types::BlobHash;

use crate::fixture_store::assert_fsck_deep_is_clean;
use crate::support::{noise, project};

const MIB: usize = 1 << 20;
/// The largest chunk (CHUNK_PARAMS_V1).
const MAX_CHUNK: u64 = 4 << 20;

/// The chunks of content `hash` as the store's catalog lists them.
fn chunks_of(store: &Store, hash: &BlobHash) -> Vec<Chunk> {
    let blob = &store.catalog().unwrap().blobs()[hash];
    blob.chunks().copied().collect()
}

/// Bytes of every segment of the log.
fn log_bytes(root: &Path) -> u64 {
    gc::dir_bytes(&root.join(".tl/wal")).unwrap()
}

/// The content of `path` at checkpoint `i`.
fn content_at(store: &Store, i: usize, path: &[u8]) -> Vec<u8> {
    let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
    store.blob_bytes(&tree[path].hash).unwrap()
}

#[test]
fn small_edits_to_a_big_file_store_about_the_edited_bytes_not_the_file() {
    // Issue 13's measurement: ten small edits to a 48 MiB file grew `.tl` by
    // 480 MiB, one whole copy per edit.
    let (_tmp, root, mut store) = project();
    let mut data = noise(48 * MIB, 0x5eed);
    fs::write(root.join("big.bin"), &data).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let first = log_bytes(&root);
    let mut versions = vec![data.clone()];
    for i in 0..10u64 {
        if i % 2 == 0 {
            data.extend_from_slice(&noise(1024, i + 1));
        } else {
            let at = (i as usize * 4_700_000) % (data.len() - 100);
            data[at..at + 100].copy_from_slice(&noise(100, i + 100));
        }
        fs::write(root.join("big.bin"), &data).unwrap();
        let out = store.checkpoint(CommitKind::Manual, None).unwrap();
        let stored = out.checkpoint.stats.bytes_new;
        assert!(
            stored <= 2 * MAX_CHUNK,
            "edit {i} stored {stored} bytes: more than the two chunks around it"
        );
        versions.push(data.clone());
    }
    let growth = log_bytes(&root) - first;
    // About a chunk (1 MiB on average) per edit; the whole file was 480 MiB.
    assert!(
        growth < 32 * MIB as u64,
        "ten small edits grew the log by {growth} bytes"
    );
    for (i, want) in versions.iter().enumerate() {
        assert!(content_at(&store, i, b"big.bin") == *want, "version {i}");
    }
    drop(store);
    assert_fsck_deep_is_clean(&root);
}

#[test]
fn a_big_file_read_again_takes_its_old_chunks_in_place_in_full_and_lean_stores() {
    // CHUNKS.md, "Reading a big file again": a small edit is found by hashing
    // the old chunks where they were, not by cutting the whole file again. The
    // full catalog has the old list in memory; the daemon's lean one reads it
    // back from the log (and from memory for what it folded since).
    let (_tmp, root, mut store) = project();
    let mut data = noise(40 * MIB, 0xfeed);
    fs::write(root.join("big.bin"), &data).unwrap();
    let first = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_eq!(
        first.scan.bytes_reused, 0,
        "nothing to reuse the first time"
    );
    let mut versions = vec![data.clone()];
    let least = data.len() as u64 - 3 * MAX_CHUNK;
    let edit = |data: &mut Vec<u8>, n: u64| {
        let at = (n as usize * 7_000_000) % (data.len() - 100);
        data[at..at + 100].copy_from_slice(&noise(100, n));
        fs::write(root.join("big.bin"), &*data).unwrap();
    };
    edit(&mut data, 1);
    let full = store.checkpoint(CommitKind::Manual, None).unwrap();
    versions.push(data.clone());
    assert!(
        full.scan.bytes_reused >= least,
        "full store: {} bytes reused",
        full.scan.bytes_reused
    );
    store.go_lean();
    for n in 2..4 {
        edit(&mut data, n);
        let lean = store
            .capture_paths(CommitKind::Auto, vec![b"big.bin".to_vec()])
            .unwrap()
            .expect("the edit is captured");
        versions.push(data.clone());
        assert!(
            lean.scan.bytes_reused >= least,
            "lean store, edit {n}: {} bytes reused",
            lean.scan.bytes_reused
        );
        assert!(lean.checkpoint.stats.bytes_new <= 3 * MAX_CHUNK);
    }
    drop(store);
    let store = Store::open(&root).unwrap();
    for (i, want) in versions.iter().enumerate() {
        assert!(content_at(&store, i, b"big.bin") == *want, "version {i}");
    }
}

/// One edit of a big file.
#[derive(Clone, Debug)]
enum Edit {
    Insert { at: usize, len: usize },
    Delete { at: usize, len: usize },
    Overwrite { at: usize, len: usize },
    Append { len: usize },
    Truncate { to: usize },
}

impl Edit {
    /// Applies the edit; returns where it starts and how many new bytes it wrote.
    fn apply(&self, data: &mut Vec<u8>, seed: u64) -> (usize, usize) {
        let clamp = |at: usize, data: &Vec<u8>| at % (data.len() + 1);
        match *self {
            Edit::Insert { at, len } => {
                let at = clamp(at, data);
                data.splice(at..at, noise(len, seed));
                (at, len)
            }
            Edit::Delete { at, len } => {
                let at = clamp(at, data);
                let end = (at + len).min(data.len());
                data.drain(at..end);
                (at, 0)
            }
            Edit::Overwrite { at, len } => {
                let at = clamp(at, data);
                let end = (at + len).min(data.len());
                data[at..end].copy_from_slice(&noise(end - at, seed));
                (at, end - at)
            }
            Edit::Append { len } => {
                let at = data.len();
                data.extend_from_slice(&noise(len, seed));
                (at, len)
            }
            Edit::Truncate { to } => {
                let to = clamp(to, data);
                data.truncate(to);
                (to, 0)
            }
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0usize..24 * MIB;
    let len = 1usize..256 * 1024;
    prop_oneof![
        (at.clone(), len.clone()).prop_map(|(at, len)| Edit::Insert { at, len }),
        (at.clone(), len.clone()).prop_map(|(at, len)| Edit::Delete { at, len }),
        (at.clone(), len.clone()).prop_map(|(at, len)| Edit::Overwrite { at, len }),
        len.prop_map(|len| Edit::Append { len }),
        at.prop_map(|to| Edit::Truncate { to }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random edits to big random files replay byte-identical, and the chunk
    /// lists of two versions share every chunk before the edit (cut points
    /// before it depend only on the bytes before it) and all but a few chunks
    /// after it (the cut points fall back in step within the chunks following
    /// the edit).
    #[test]
    fn random_edits_to_big_files_replay_identical_and_share_chunks_outside_the_edit(
        len in 6 * MIB..24 * MIB,
        seed in any::<u64>(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let (_tmp, root, mut store) = project();
        let mut data = noise(len, seed);
        fs::write(root.join("f.bin"), &data).unwrap();
        store.checkpoint(CommitKind::Manual, None).unwrap();
        let mut versions = vec![data.clone()];
        for (i, e) in edits.iter().enumerate() {
            let before = chunks_of(&store, &BlobHash::of(&data));
            let (at, written) = e.apply(&mut data, seed ^ (i as u64 + 1));
            fs::write(root.join("f.bin"), &data).unwrap();
            store.checkpoint(CommitKind::Manual, None).unwrap();
            versions.push(data.clone());
            if data.len() as u64 <= tl_index::scan::CHUNK_MIN_FILE {
                continue; // small now: one blob, no list
            }
            let after = chunks_of(&store, &BlobHash::of(&data));
            // Every chunk that ends before the edit is shared, in place, unless
            // the end of the content was within a maximal chunk of its start in
            // either version (then the end bounded its cut: the last chunks).
            let both = (versions[versions.len() - 2].len().min(data.len())) as u64;
            let mut start = 0u64;
            for (old, new) in before.iter().zip(&after) {
                let end = start + u64::from(old.len);
                if end > at as u64 || start + MAX_CHUNK > both {
                    break;
                }
                prop_assert_eq!(old, new);
                start = end;
            }
            // Bytes of the new version in chunks the old one lacks: the edit
            // and at most a few chunks around it.
            let unshared: u64 = after
                .iter()
                .filter(|c| !before.contains(c))
                .map(|c| u64::from(c.len))
                .sum();
            prop_assert!(
                unshared <= written as u64 + 3 * MAX_CHUNK,
                "{} unshared bytes after {:?}", unshared, e
            );
        }
        for (i, want) in versions.iter().enumerate() {
            prop_assert!(content_at(&store, i, b"f.bin") == *want, "version {}", i);
        }
    }
}

const KEEP_NONE: &str = "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\n\
                         keep-minutely = \"0s\"\nkeep-hourly = \"0s\"\nkeep-daily = \"0s\"\n";

fn clock_after(days: i64) -> Clock {
    Clock {
        now_ns: Store::now_ns() + days * 86_400 * 1_000_000_000,
        utc_offset_secs: 0,
    }
}

/// Appends `records` to the log of the project at `root` as one batch with no
/// Commit (what a capture leaves when the file it streamed moved).
fn append_content_batch(root: &Path, records: &[Record]) {
    let (wal, _) = tl_wal::Wal::open(
        root.join(".tl/wal"),
        root.join(".tl/quarantine"),
        tl_wal::Options::default(),
    )
    .unwrap();
    let encoded: Vec<Vec<u8>> = records.iter().map(Record::encode).collect();
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    wal.append(&refs).unwrap();
}

#[test]
fn gc_keeps_the_chunks_kept_states_share_and_drops_the_others_and_orphans() {
    let (_tmp, root, store) = project();
    drop(store);
    fs::write(root.join(".tl/config.toml"), KEEP_NONE).unwrap();
    let mut store = Store::open(&root).unwrap();
    let mut data = noise(12 * MIB, 77);
    fs::write(root.join("big.bin"), &data).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    data[6 * MIB..6 * MIB + 4096].copy_from_slice(&noise(4096, 78));
    fs::write(root.join("big.bin"), &data).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let newest = BlobHash::of(&data);
    let kept_chunks: std::collections::BTreeSet<BlobHash> =
        chunks_of(&store, &newest).iter().map(|c| c.hash).collect();
    drop(store);
    // An orphan chunk: stored by a capture whose file then moved.
    let orphan = noise(300_000, 79);
    append_content_batch(
        &root,
        &[Record::Blob {
            hash: BlobHash::of(&orphan),
            raw_len: orphan.len() as u64,
            offset: 0,
            codec: tl_index::record::Codec::None,
            data: orphan.clone(),
        }],
    );
    let store = Store::open(&root).unwrap();
    assert!(store.has_blob(&BlobHash::of(&orphan)));
    let before = log_bytes(&root);
    let (store, report) = gc::run(store, clock_after(1)).unwrap();
    assert_eq!((report.plan.kept(), report.plan.dropped()), (1, 1));
    drop(store);
    let store = Store::open(&root).unwrap();
    let cat = store.catalog().unwrap();
    let left: std::collections::BTreeSet<BlobHash> = cat
        .blobs()
        .iter()
        .filter(|(_, b)| b.runs.is_empty())
        .map(|(h, _)| *h)
        .collect();
    assert_eq!(
        left, kept_chunks,
        "exactly the newest state's chunks remain"
    );
    assert!(
        !store.has_blob(&BlobHash::of(&orphan)),
        "the orphan is gone"
    );
    assert!(content_at(&store, 0, b"big.bin") == data);
    assert!(log_bytes(&root) < before);
    drop(store);
    assert_fsck_deep_is_clean(&root);
}
