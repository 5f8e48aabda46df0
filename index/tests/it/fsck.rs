//! `fsck` on real stores: clean stores are clean; damaged derived files (snapshots,
//! the catalog cache) are detected and rebuilt with identical results; damage in
//! the log is named with its place, time and paths; hostile blobs (zstd bombs,
//! absurd lengths) are bounded; snapshot + tail equals the full fold (T14).

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tl_index::catalog::CheckpointIndex;

use proptest::prelude::*;
use tl_index::catalog::{apply, Catalog, PathChange};
use tl_index::fsck::{catalog_diff, fsck, fsck_storage, FsckOptions, ProblemKind};
use tl_index::record::{chain_hash, Codec, CommitKind, CommitStats, Record};
use tl_index::snapshot::{self, Snapshot, SnapshotMeta};
use tl_index::store::{Store, StoreError};
use tl_index::types::{BlobHash, Entry, Mode, Tree};
use tl_wal::testing::MemStorage;

use crate::support::commit_batch;
use tl_wal::{Lsn, Options, Wal};

fn opts(deep: bool) -> FsckOptions {
    FsckOptions {
        deep,
        check_tail: true,
    }
}

fn kinds(root: &Path, deep: bool) -> Vec<ProblemKind> {
    fsck(root, &opts(deep))
        .unwrap()
        .problems
        .iter()
        .map(|p| p.kind)
        .collect()
}

/// A store with `n` checkpoints and a snapshot every 2.
fn history(root: &Path, n: usize) -> Vec<Tree> {
    fs::write(root.join("keep.txt"), b"kept").unwrap();
    let mut store = Store::init(root).unwrap();
    drop(store);
    fs::write(root.join(".tl/config.toml"), "snapshot_every = 2\n").unwrap();
    store = Store::open(root).unwrap();
    let mut trees = Vec::new();
    for i in 0..n {
        fs::write(root.join(format!("f{}", i % 3)), format!("version {i}\n")).unwrap();
        if i == 3 {
            fs::remove_file(root.join("f1")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
        store.checkpoint(CommitKind::Manual, None).unwrap();
        trees.push(store.head().clone());
    }
    // The catalog cache is written lazily; these tests check and damage it.
    store.save_caches();
    trees
}

fn all_trees(root: &Path) -> Vec<Tree> {
    let store = Store::open_read_only(root).unwrap();
    (0..store.checkpoints().len())
        .map(|i| store.tree_at(CheckpointIndex::new(i)).unwrap())
        .collect()
}

#[test]
fn a_fresh_store_is_clean_and_its_catalog_cache_is_used() {
    let d = tempfile::tempdir().unwrap();
    let trees = history(d.path(), 5);
    let r = fsck(d.path(), &opts(true)).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.checkpoints, 5);
    assert!(r.catalog_checked, "the catalog cache must load");
    assert!(r.snapshots >= 2);
    assert_eq!(r.blobs_rehashed, r.blobs);
    // The cache equals the fold, and the store resumes from it after a clean close
    // (the closing mark sits where the cache stops).
    let mut cached = Catalog::load(&d.path().join(".tl/index/catalog")).unwrap();
    let store = Store::open(d.path()).unwrap();
    // The open folds past the closing mark: only `through` moves.
    let folded = store.catalog().unwrap();
    assert!(cached.through() < folded.through());
    cached.fold_log_end(folded.through());
    assert_eq!(catalog_diff(&cached, folded), None);
    drop(store);
    assert_eq!(all_trees(d.path()), trees);
}

fn damage(path: &Path, how: usize) {
    let mut b = fs::read(path).unwrap();
    match how {
        0 => b.truncate(b.len() / 2),
        1 => {
            let n = b.len();
            b[n / 3..].fill(0)
        }
        _ => {
            let i = b.len() * 2 / 3;
            b[i] ^= 0x10
        }
    }
    fs::write(path, b).unwrap();
}

#[test]
fn damaged_snapshots_and_catalog_are_detected_and_rebuilt_identically() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let trees = history(root, 6);
    let snaps = snapshot::list_snapshots(&root.join(".tl/snapshots")).unwrap();
    assert!(snaps.len() >= 2);
    for how in 0..3 {
        // Snapshot damaged.
        damage(&snaps[how % snaps.len()].path, how);
        assert_eq!(
            kinds(root, false),
            vec![ProblemKind::DamagedSnapshot],
            "how {how}"
        );
        // Readers fall back to the log: same trees even before the repair.
        assert_eq!(all_trees(root), trees);
        // Catalog cache damaged too.
        damage(&root.join(".tl/index/catalog"), how);
        let k = kinds(root, false);
        assert!(k.contains(&ProblemKind::DamagedCatalog), "{k:?}");
        let mut store = Store::open(root).unwrap();
        store.rebuild().unwrap();
        drop(store);
        assert!(kinds(root, true).is_empty(), "how {how}");
        assert_eq!(all_trees(root), trees);
    }
}

#[test]
fn a_snapshot_of_another_history_is_a_mismatch() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    history(root, 4);
    let snapshot::SnapshotFile { lsn, path } =
        snapshot::list_snapshots(&root.join(".tl/snapshots")).unwrap()[0].clone();
    let meta = Snapshot::open(&path).unwrap().meta();
    let mut tree = Snapshot::open(&path).unwrap().to_tree();
    tree.insert(
        b"ghost".to_vec(),
        Entry {
            hash: BlobHash::of(b"boo"),
            mode: Mode::File,
            size: 3,
            mtime_ns: 0,
        },
    );
    snapshot::write_snapshot(&root.join(".tl/snapshots"), &meta, &tree).unwrap();
    let r = fsck(root, &opts(false)).unwrap();
    assert_eq!(r.problems.len(), 1);
    let p = &r.problems[0];
    assert_eq!(p.kind, ProblemKind::SnapshotMismatch);
    assert_eq!(p.paths, vec![b"ghost".to_vec()]);
    assert_eq!(p.lsn, Some(lsn));
}

#[test]
fn damage_in_the_log_is_named_with_place_time_and_paths() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    history(root, 5);
    let seg = root.join(".tl/wal/00000000000000000000.seg");
    // Flip a byte inside the third checkpoint's batch.
    let store = Store::open_read_only(root).unwrap();
    let c = store.checkpoints()[2].clone();
    let after = store.checkpoints()[1].id.clone();
    let before = store.checkpoints()[3].id.clone();
    drop(store);
    let mut b = fs::read(&seg).unwrap();
    let off = (c.end_lsn.get() - 8 + 64) as usize; // inside the Commit frame, the batch's last
    b[off] ^= 1;
    fs::write(&seg, &b).unwrap();
    let r = fsck(root, &opts(false)).unwrap();
    let frame = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::DamagedFrame)
        .expect("damaged frame reported");
    assert_eq!(frame.file.as_deref(), Some(seg.as_path()));
    assert!(frame.lsn.unwrap() >= c.lsn && frame.lsn.unwrap() < c.end_lsn);
    assert_eq!(frame.offset, Some(frame.lsn.unwrap().get() + 64));
    assert_eq!(frame.after.as_ref().unwrap().id, after);
    assert_eq!(frame.before.as_ref().unwrap().id, before);
    assert_eq!(frame.checkpoints_lost, 1);
    assert!(!frame.repair.is_empty());
    // The next commit does not chain; the store still reads every other checkpoint.
    assert!(r.problems.iter().any(|p| p.kind == ProblemKind::ChainBreak));
    assert_eq!(r.checkpoints, 4);
}

#[test]
fn zstd_bombs_and_absurd_lengths_are_bounded_at_the_store_level() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    drop(Store::init(root).unwrap());
    let mem = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(mem.clone()), Options::default()).unwrap();
    // 1 GiB of zeros in a few tens of KiB, claiming to be a 100-byte file.
    let mut bomb = Vec::new();
    zstd::stream::copy_encode(
        std::io::Read::take(std::io::repeat(0), 1 << 30),
        &mut bomb,
        3,
    )
    .unwrap();
    assert!(bomb.len() < 1 << 20);
    let bomb_hash = BlobHash::of(b"not really");
    let huge_hash = BlobHash::of(b"huge");
    let put = |path: &[u8], hash, size| {
        Record::Put {
            path: path.to_vec(),
            hash,
            mode: Mode::File,
            size,
            mtime_ns: 0,
        }
        .encode()
    };
    let records = vec![
        Record::Blob {
            hash: bomb_hash,
            raw_len: 100,
            offset: 0,
            codec: Codec::Zstd,
            data: bomb,
        }
        .encode(),
        Record::Blob {
            hash: huge_hash,
            raw_len: u64::MAX,
            offset: 0,
            codec: Codec::None,
            data: vec![1; 10],
        }
        .encode(),
        put(b"bomb", bomb_hash, 100),
        put(b"huge", huge_hash, u64::MAX),
    ];
    commit_batch(&wal, &[0; 32], 1, records);
    drop(wal);
    let t = Instant::now();
    let store = Store::open_with_storage(root, Arc::new(mem.clone())).unwrap();
    let err = store.blob_bytes(&bomb_hash).unwrap_err();
    // The hint (`run \`tl fsck\``) is the CLI's: command_error's tests check it.
    assert!(
        matches!(err, StoreError::Decode { .. } | StoreError::Blob { .. }),
        "{err}"
    );
    assert!(store.blob_bytes(&huge_hash).is_err());
    drop(store);
    let r = fsck_storage(
        &tl_index::layout::Layout::new(root),
        Arc::new(mem),
        &opts(true),
    );
    let k: Vec<ProblemKind> = r.problems.iter().map(|p| p.kind).collect();
    assert!(k.contains(&ProblemKind::DamagedBlob), "{k:?}");
    assert!(k.contains(&ProblemKind::MissingBlob), "{k:?}");
    let bad = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::DamagedBlob)
        .unwrap();
    assert_eq!(bad.paths, vec![b"bomb".to_vec()]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

/// T14's case count: `TL_SNAPSHOT_TAIL_CASES` (default 256; the reported run is 10^4).
fn snapshot_tail_cases() -> u32 {
    std::env::var("TL_SNAPSHOT_TAIL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn entry(n: u8) -> Entry {
    Entry {
        hash: BlobHash::of(&[n]),
        mode: if n.is_multiple_of(5) {
            Mode::Exec
        } else {
            Mode::File
        },
        size: n as u64,
        mtime_ns: n as i64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: snapshot_tail_cases(), ..ProptestConfig::default() })]

    /// T14: the snapshot at any checkpoint plus the changes after it equals the fold
    /// of every change from the start.
    #[test]
    fn snapshot_plus_tail_equals_the_full_fold(
        batches in prop::collection::vec(
            prop::collection::vec((0u8..24, prop::option::of(0u8..255)), 0..12), 1..12),
        at in 0usize..12,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::default();
        let mut lsn = Lsn::new(0);
        let mut chain = [0u8; 32];
        for (seq, batch) in batches.iter().enumerate() {
            let mut encoded = Vec::new();
            for (p, e) in batch {
                let path = format!("d{}/f{p}", p % 3).into_bytes();
                let rec = match e {
                    Some(n) => {
                        let e = entry(*n);
                        Record::Put { path, hash: e.hash, mode: e.mode, size: e.size, mtime_ns: e.mtime_ns }
                    }
                    None => Record::Delete { path },
                };
                encoded.push(rec.encode());
            }
            chain = chain_hash(&chain, encoded.iter().map(|r| r.as_slice()));
            encoded.push(Record::Commit {
                time_ns: seq as i64, seq: seq as u64 + 1, kind: CommitKind::Auto, message: None,
                timeline: 0, acked_lsn: lsn, chain, stats: CommitStats::default(),
            }.encode());
            let n = encoded.len();
            for (i, bytes) in encoded.iter().enumerate() {
                let rec = Record::decode(bytes).unwrap();
                catalog.fold_record(lsn, i == 0, bytes, rec);
                lsn += 64;
                if i + 1 == n {
                    catalog.fold_batch_end(lsn);
                }
            }
        }
        prop_assert!(catalog.chain_breaks().is_empty());
        let cps = catalog.checkpoints();
        let k = at % cps.len();
        let mut tree = Tree::new();
        for c in &cps[..=k] {
            apply(&mut tree, &c.changes);
        }
        let c = &cps[k];
        let meta = SnapshotMeta { lsn: c.end_lsn, time_ns: c.time_ns, timeline: 0, seq: c.seq, chain: c.chain };
        let path = snapshot::write_snapshot(dir.path(), &meta, &tree).unwrap();
        let mut from_snapshot = Snapshot::open(&path).unwrap().to_tree();
        for c in &cps[k + 1..] {
            apply(&mut from_snapshot, &c.changes);
        }
        prop_assert_eq!(&from_snapshot, catalog.head());
        // And the changes are what the batches said, last write per path winning.
        for c in cps {
            let mut seen = std::collections::BTreeSet::new();
            for ch in &c.changes {
                prop_assert!(seen.insert(ch.path().clone()));
                let _ = matches!(ch, PathChange::Put(..));
            }
        }
    }
}
