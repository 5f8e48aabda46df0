//! The store end to end: capture, checkpoints, the tree at each checkpoint, content
//! read back byte for byte, and the catalog cache rebuilt from the log.

use std::fs;
use tl_index::catalog::CheckpointIndex;

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
        let t0 = store.tree_at(CheckpointIndex::new(0)).unwrap();
        assert_eq!(t0.len(), 2);
        assert_eq!(store.blob_bytes(&t0[&b"a.txt"[..]].hash).unwrap(), b"first");
        let t1 = store.tree_at(CheckpointIndex::new(1)).unwrap();
        assert_eq!(t1.len(), 1);
        assert_eq!(
            store.blob_bytes(&t1[&b"a.txt"[..]].hash).unwrap(),
            b"second"
        );
        assert!(store.catalog().unwrap().chain_breaks().is_empty());
        let id = &store.checkpoints()[0].id;
        assert_eq!(store.resolve(&id[..8]).unwrap(), CheckpointIndex::new(0));
    }
}

#[test]
fn entry_at_is_the_entry_of_tree_at_for_every_path_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("d")).unwrap();
    let mut store = Store::init(root).unwrap();
    // Adds, changes, a delete and a re-add, a path only ever deleted.
    let steps: [&[(&str, Option<&str>)]; 5] = [
        &[("a", Some("1")), ("d/b", Some("1")), ("gone", Some("x"))],
        &[("a", Some("2")), ("gone", None)],
        &[("d/b", None), ("c", Some("1"))],
        &[("d/b", Some("again")), ("a", Some("3"))],
        &[],
    ];
    for step in steps {
        for (p, content) in step {
            match content {
                Some(c) => fs::write(root.join(p), c).unwrap(),
                None => fs::remove_file(root.join(p)).unwrap(),
            }
        }
        store.checkpoint(CommitKind::Manual, None).unwrap();
    }
    for i in 0..store.checkpoints().len() {
        let idx = CheckpointIndex::new(i);
        let tree = store.tree_at(idx).unwrap();
        for p in ["a", "d/b", "gone", "c", "d", "never"] {
            assert_eq!(
                store.entry_at(idx, p.as_bytes()).unwrap(),
                tree.get(p.as_bytes()).copied(),
                "{p} at checkpoint {i}"
            );
        }
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
        saved.checkpoints().len(),
        71,
        "saved when 64 followed the last copy"
    );
    // `saved` is a full catalog by its type: `Catalog::load` has no lean form to
    // return (a `LeanCatalog` has no cache file).
    let store = Store::open_read_only(root).unwrap();
    assert_eq!(store.checkpoints().len(), 72);
    assert!(store.checkpoints().iter().all(|c| !c.changes.is_empty()));
    assert_eq!(*store.head(), head);
    let t = store.tree_at(CheckpointIndex::new(35)).unwrap();
    assert_eq!(store.blob_bytes(&t[&b"f0"[..]].hash).unwrap(), b"35");
}

/// Random batches of file operations, each captured by `capture_paths` with the
/// paths a watcher would report: after every batch the head equals the tree on
/// disk (content and mode, as a whole-tree capture compares them), and a fresh open of the
/// store (the log folded again) gives the same head. Tried: 16 cases (500 with
/// TL_BATCH_CASES=500, run once: all held) × 25 batches
/// of 1-8 operations (writes, deletes, new and removed directories, renames,
/// symlinks, mode changes), on a lean store as the daemon runs it.
#[test]
fn random_batches_captured_by_path_keep_the_head_equal_to_the_disk() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// Clears `path` and creates its parent; false when the parent cannot exist
    /// (a file is in the way).
    fn make_room(path: &std::path::Path) -> bool {
        let _ = fs::remove_file(path);
        let _ = fs::remove_dir_all(path);
        path.parent()
            .is_none_or(|parent| fs::create_dir_all(parent).is_ok())
    }

    #[derive(Clone, Debug)]
    enum Op {
        Write(u8, u8, u8),
        Delete(u8, u8),
        RemoveDir(u8),
        RenameDir(u8, u8),
        Symlink(u8, u8),
        Chmod(u8, u8),
    }
    const DIRS: [&str; 5] = ["", "a", "a/b", "c", "c/d.e"];
    const FILES: [&str; 4] = ["x", "y.txt", "z.o", "a.b"];
    let rel = |d: u8, f: u8| {
        let d = DIRS[d as usize % DIRS.len()];
        let f = FILES[f as usize % FILES.len()];
        if d.is_empty() {
            f.to_string()
        } else {
            format!("{d}/{f}")
        }
    };
    let op = prop_oneof![
        4 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(d, f, b)| Op::Write(d, f, b)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(d, f)| Op::Delete(d, f)),
        1 => any::<u8>().prop_map(Op::RemoveDir),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::RenameDir(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(d, f)| Op::Symlink(d, f)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(d, f)| Op::Chmod(d, f)),
    ];
    let batches = prop::collection::vec(prop::collection::vec(op, 1..9), 25);
    let cases = std::env::var("TL_BATCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    runner
        .run(&batches, |batches| {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            fs::write(root.join(".gitignore"), "*.o\n").unwrap();
            let mut store = Store::init(root).unwrap();
            store.checkpoint(CommitKind::Manual, None).unwrap();
            store.go_lean();
            for ops in &batches {
                let mut touched: Vec<Vec<u8>> = Vec::new();
                for op in ops {
                    let p = |s: &str| root.join(s);
                    let mut parent_of = |r: &str| {
                        // A new parent directory is reported itself.
                        let mut prefix = String::new();
                        for c in r
                            .split('/')
                            .rev()
                            .skip(1)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                        {
                            if !prefix.is_empty() {
                                prefix.push('/');
                            }
                            prefix.push_str(c);
                            if !p(&prefix).exists() {
                                touched.push(prefix.clone().into_bytes());
                                break;
                            }
                        }
                    };
                    match op {
                        Op::Write(d, f, b) => {
                            let r = rel(*d, *f);
                            parent_of(&r);
                            if !make_room(&p(&r)) {
                                continue;
                            }
                            let _ = fs::write(p(&r), vec![*b; *b as usize % 9]);
                            touched.push(r.into_bytes());
                        }
                        Op::Delete(d, f) => {
                            let r = rel(*d, *f);
                            let _ = fs::remove_file(p(&r));
                            touched.push(r.into_bytes());
                        }
                        Op::RemoveDir(d) => {
                            let r = DIRS[*d as usize % DIRS.len()];
                            if !r.is_empty() {
                                let _ = fs::remove_dir_all(p(r));
                                touched.push(r.as_bytes().to_vec());
                            }
                        }
                        Op::RenameDir(a, b) => {
                            let a = DIRS[*a as usize % DIRS.len()];
                            let b = DIRS[*b as usize % DIRS.len()];
                            if a.is_empty() || b.is_empty() || b.starts_with(a) || a.starts_with(b)
                            {
                                continue;
                            }
                            let _ = fs::remove_dir_all(p(b));
                            let _ = fs::remove_file(p(b));
                            touched.push(b.as_bytes().to_vec());
                            if fs::rename(p(a), p(b)).is_ok() {
                                touched.push(a.as_bytes().to_vec());
                            }
                        }
                        Op::Symlink(d, f) => {
                            let r = rel(*d, *f);
                            parent_of(&r);
                            if !make_room(&p(&r)) {
                                continue;
                            }
                            let _ = symlink("target", p(&r));
                            touched.push(r.into_bytes());
                        }
                        Op::Chmod(d, f) => {
                            let r = rel(*d, *f);
                            if let Ok(m) = fs::symlink_metadata(p(&r)) {
                                if m.is_file() {
                                    let mode = m.permissions().mode() ^ 0o100;
                                    let _ = fs::set_permissions(
                                        p(&r),
                                        fs::Permissions::from_mode(mode),
                                    );
                                    touched.push(r.into_bytes());
                                }
                            }
                        }
                    }
                }
                store.capture_paths(CommitKind::Auto, touched).unwrap();
                // As for a whole-tree capture, a new mtime alone is not a change.
                let disk = store.scan_worktree().unwrap();
                let differ = tl_index::scan::diff_trees(store.head(), &disk);
                prop_assert!(differ.is_empty(), "after {:?}: {:?}", ops, differ);
            }
            let head = store.head().clone();
            drop(store);
            let reopened = Store::open(root).unwrap();
            prop_assert_eq!(reopened.head(), &head);
            Ok(())
        })
        .unwrap();
}
