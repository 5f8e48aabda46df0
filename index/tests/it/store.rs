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
