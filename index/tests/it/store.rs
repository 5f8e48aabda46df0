//! The store end to end: capture, checkpoints, the tree at each checkpoint, content
//! read back byte for byte, and the catalog cache rebuilt from the log.

use std::fs;

use tl_index::record::CommitKind;
use tl_index::store::Store;

#[test]
fn checkpoints_record_each_state_and_read_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("a.txt"), b"first").unwrap();
    fs::create_dir(root.join("src")).unwrap();
    fs::write(root.join("src/lib.rs"), b"fn main() {}").unwrap();
    let mut store = Store::init(root).unwrap();
    let one = store
        .checkpoint(CommitKind::Manual, Some("one".into()))
        .unwrap();
    assert_eq!(one.checkpoint.stats.added, 2);
    fs::write(root.join("a.txt"), b"second").unwrap();
    fs::remove_file(root.join("src/lib.rs")).unwrap();
    let two = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_eq!(
        (two.checkpoint.stats.modified, two.checkpoint.stats.deleted),
        (1, 1)
    );
    let none = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert!(none.checkpoint.changes.is_empty());
    drop(store);

    for remove_catalog in [false, true] {
        if remove_catalog {
            // The catalog cache is written lazily; it may not exist yet.
            let _ = fs::remove_file(root.join(".tl/index/catalog"));
        }
        let store = Store::open(root).unwrap();
        assert_eq!(store.checkpoints().len(), 3);
        let t0 = store.tree_at(0).unwrap();
        assert_eq!(t0.len(), 2);
        assert_eq!(store.blob_bytes(&t0[&b"a.txt"[..]].hash).unwrap(), b"first");
        let t1 = store.tree_at(1).unwrap();
        assert_eq!(t1.len(), 1);
        assert_eq!(
            store.blob_bytes(&t1[&b"a.txt"[..]].hash).unwrap(),
            b"second"
        );
        assert!(store.catalog().chain_breaks.is_empty());
        let id = &store.checkpoints()[0].id;
        assert_eq!(store.resolve(&id[..8]).unwrap(), 0);
    }
}

/// Live capture of only the paths a watcher named commits what a full capture
/// would, keeps content readable, keeps its stat cache across calls, and falls back
/// to a whole-tree capture when an ignore file changes.
#[test]
fn capture_paths_commits_what_a_full_capture_would() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src/deep")).unwrap();
    fs::write(root.join("src/a.rs"), b"a").unwrap();
    fs::write(root.join("src/deep/b.rs"), b"b").unwrap();
    fs::write(root.join("keep.txt"), b"k").unwrap();
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();

    // A modified file, a new directory with content, a deleted directory.
    fs::write(root.join("src/a.rs"), b"a2").unwrap();
    fs::create_dir_all(root.join("new/sub")).unwrap();
    fs::write(root.join("new/sub/c.rs"), b"c").unwrap();
    fs::remove_dir_all(root.join("src/deep")).unwrap();
    let out = store
        .capture_paths(
            CommitKind::Auto,
            vec![b"src/a.rs".to_vec(), b"new".to_vec(), b"src/deep".to_vec()],
        )
        .unwrap()
        .expect("changes were made");
    let s = out.checkpoint.stats;
    assert_eq!((s.added, s.modified, s.deleted), (1, 1, 1));
    assert_eq!(*store.head(), store.scan_worktree().unwrap());
    let c = &store.head()[&b"new/sub/c.rs"[..]];
    assert_eq!(store.blob_bytes(&c.hash).unwrap(), b"c");

    // Paths that did not change commit nothing.
    assert!(store
        .capture_paths(
            CommitKind::Auto,
            vec![b"keep.txt".to_vec(), b"gone".to_vec()]
        )
        .unwrap()
        .is_none());

    // An ignore file changed: the whole tree is captured under the new rules.
    fs::write(root.join(".gitignore"), b"*.txt\n").unwrap();
    let out = store
        .capture_paths(CommitKind::Auto, vec![b".gitignore".to_vec()])
        .unwrap()
        .unwrap();
    assert_eq!(out.checkpoint.stats.deleted, 1, "keep.txt is now ignored");
    assert_eq!(*store.head(), store.scan_worktree().unwrap());

    // The stat cache kept in memory is saved on request, and the log alone gives
    // the same head after reopening.
    store.save_caches();
    let head = store.head().clone();
    drop(store);
    let store = Store::open(root).unwrap();
    assert_eq!(*store.head(), head);
    assert!(root.join(".tl/index/statcache").exists());
}

/// A lean store (the daemon's) keeps only the last checkpoint in memory, yet the
/// catalog it saves when idle holds the whole history, and its background
/// compactor writes snapshots where the inline one would.
#[test]
fn a_lean_store_saves_the_full_history_and_compacts_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("f0"), b"0").unwrap();
    let mut store = Store::init(root).unwrap();
    fs::write(root.join(".tl/config.toml"), "snapshot_every = 5\n").unwrap();
    drop(store);
    store = Store::open(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    store.go_lean();
    for i in 1..=70 {
        let name = format!("f{}", i % 7);
        fs::write(root.join(&name), format!("{i}")).unwrap();
        let out = store
            .capture_paths(CommitKind::Auto, vec![name.into_bytes()])
            .unwrap()
            .unwrap();
        assert_eq!(out.checkpoint.seq, i + 1);
        assert!(store.checkpoints().len() <= 1, "lean keeps one checkpoint");
        if i % 10 == 0 {
            store.idle_maintenance();
            store.wait_for_compactor();
        }
    }
    assert_eq!(*store.head(), store.scan_worktree().unwrap());
    // Content already stored is known to a lean store (dedup), and not stored again.
    fs::write(root.join("copy"), b"35").unwrap();
    let out = store
        .capture_paths(CommitKind::Auto, vec![b"copy".to_vec()])
        .unwrap()
        .unwrap();
    assert_eq!(out.checkpoint.stats.bytes_new, 0, "deduplicated");
    let head = store.head().clone();
    store.idle_maintenance();
    store.wait_for_compactor();
    let snaps = fs::read_dir(root.join(".tl/snapshots")).unwrap().count();
    assert!(snaps >= 7, "one snapshot per 10 checkpoints, found {snaps}");
    drop(store);

    // The saved catalog (64 checkpoints were due) holds the whole history.
    let saved = tl_index::catalog::Catalog::load(&root.join(".tl/index/catalog")).unwrap();
    assert_eq!(
        saved.checkpoints.len(),
        71,
        "saved when 64 followed the last copy"
    );
    assert!(!saved.is_lean());
    let store = Store::open_read_only(root).unwrap();
    assert_eq!(store.checkpoints().len(), 72);
    assert!(store.checkpoints().iter().all(|c| !c.changes.is_empty()));
    assert_eq!(*store.head(), head);
    let t = store.tree_at(35).unwrap();
    assert_eq!(store.blob_bytes(&t[&b"f0"[..]].hash).unwrap(), b"35");
}
