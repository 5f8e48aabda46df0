//! Captures around held directories (the daemon's runaway guard, issue 13): a
//! held directory keeps what the last checkpoint recorded, whatever is written
//! into it, while everything beside it is captured, by a targeted capture or a
//! whole-tree one.

use std::fs;

use tl_index::record::CommitKind;
use tl_index::store::Store;
use tl_index::types::Tree;

fn paths(tree: &Tree) -> Vec<String> {
    tree.keys()
        .map(|p| String::from_utf8(p.clone()).unwrap())
        .collect()
}

fn setup() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("gen/out")).unwrap();
    fs::write(root.join("gen/out/old.c"), b"old").unwrap();
    fs::write(root.join("gen/hand.c"), b"hand").unwrap();
    fs::write(root.join("top.txt"), b"top").unwrap();
    fs::write(root.join("gone.txt"), b"gone").unwrap();
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    (dir, store)
}

fn write_beside_and_inside(root: &std::path::Path) {
    fs::write(root.join("gen/out/new.c"), b"new").unwrap();
    fs::write(root.join("gen/out/old.c"), b"old2").unwrap();
    fs::write(root.join("gen/hand.c"), b"hand2").unwrap();
    fs::write(root.join("top.txt"), b"top2").unwrap();
    fs::remove_file(root.join("gone.txt")).unwrap();
}

#[test]
fn a_whole_tree_capture_around_a_held_directory_keeps_it_as_recorded() {
    let (dir, mut store) = setup();
    let root = dir.path();
    write_beside_and_inside(root);
    let held = vec![b"gen/out".to_vec()];
    let out = store
        .capture_paths_around(CommitKind::Auto, vec![Vec::new()], &held)
        .unwrap()
        .expect("the tree beside the held directory changed");
    let s = out.checkpoint.stats;
    assert_eq!((s.added, s.modified, s.deleted), (0, 2, 1));
    assert_eq!(
        paths(store.head()),
        ["gen/hand.c", "gen/out/old.c", "top.txt"]
    );
    let old = &store.head()[&b"gen/out/old.c"[..]];
    assert_eq!(store.blob_bytes(&old.hash).unwrap(), b"old");

    // Released: a capture of the directory brings it up to date.
    store
        .capture_paths_around(CommitKind::Auto, vec![b"gen/out".to_vec()], &[])
        .unwrap()
        .expect("the held directory changed");
    assert_eq!(*store.head(), store.scan_worktree().unwrap());
}

#[test]
fn paths_under_a_held_directory_are_left_out_of_a_targeted_capture() {
    let (dir, mut store) = setup();
    let root = dir.path();
    write_beside_and_inside(root);
    let held = vec![b"gen/out".to_vec()];
    let named = vec![
        b"gen/out/new.c".to_vec(),
        b"gen/out/old.c".to_vec(),
        b"gen/hand.c".to_vec(),
    ];
    let out = store
        .capture_paths_around(CommitKind::Auto, named, &held)
        .unwrap()
        .expect("gen/hand.c changed");
    assert_eq!(out.checkpoint.stats.modified, 1);
    assert_eq!(
        paths(store.head()),
        ["gen/hand.c", "gen/out/old.c", "gone.txt", "top.txt"]
    );
    // Only paths under it: nothing to capture.
    let only_held = vec![b"gen/out/new.c".to_vec()];
    assert!(store
        .capture_paths_around(CommitKind::Auto, only_held, &held)
        .unwrap()
        .is_none());
    // A rescan of the parent is captured around it.
    fs::write(root.join("gen/more.c"), b"more").unwrap();
    store
        .capture_paths_around(CommitKind::Auto, vec![b"gen".to_vec()], &held)
        .unwrap()
        .expect("gen/more.c is new");
    assert_eq!(
        paths(store.head()),
        [
            "gen/hand.c",
            "gen/more.c",
            "gen/out/old.c",
            "gone.txt",
            "top.txt"
        ]
    );
}

#[test]
fn an_ignore_file_change_rescans_around_the_held_directory() {
    let (dir, mut store) = setup();
    let root = dir.path();
    write_beside_and_inside(root);
    fs::write(root.join(".tlignore"), b"*.txt\n").unwrap();
    let held = vec![b"gen/out".to_vec()];
    store
        .capture_paths_around(CommitKind::Auto, vec![b".tlignore".to_vec()], &held)
        .unwrap()
        .expect("the rules changed");
    // Beside gen/out, what a whole-tree capture under the new rules gives;
    // gen/out as recorded.
    let head = store.head().clone();
    let beside = |t: &Tree| -> Tree {
        t.iter()
            .filter(|(p, _)| !tl_index::pathsafe::is_under(p, b"gen/out"))
            .map(|(p, e)| (p.clone(), *e))
            .collect()
    };
    assert_eq!(beside(&head), beside(&store.scan_worktree().unwrap()));
    assert!(head.contains_key(&b"gen/out/old.c"[..]));
    assert!(!head.contains_key(&b"gen/out/new.c"[..]));
    assert!(head.contains_key(&b".tlignore"[..]));
    let old = &head[&b"gen/out/old.c"[..]];
    assert_eq!(store.blob_bytes(&old.hash).unwrap(), b"old");
    let hand = &head[&b"gen/hand.c"[..]];
    assert_eq!(store.blob_bytes(&hand.hash).unwrap(), b"hand2");
}

fn hold(dir: &str, from_ns: i64, to_ns: i64) -> tl_index::record::Hold {
    tl_index::record::Hold {
        dir: dir.as_bytes().to_vec(),
        from_ns,
        to_ns,
        files_per_minute: 60_001,
        bytes_per_minute: 4096,
        ended: "resumed by tl resume".into(),
    }
}

fn fsck_clean(root: &std::path::Path) -> tl_index::fsck::FsckReport {
    let report = tl_index::fsck::fsck(
        root,
        &tl_index::fsck::FsckOptions {
            deep: true,
            check_tail: true,
        },
    )
    .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    report
}

#[test]
fn a_recorded_hold_is_folded_cached_checked_by_fsck_and_refolded_alike() {
    let (dir, mut store) = setup();
    let root = dir.path();
    let now = Store::now_ns();
    store.record_hold(hold("gen/out", now - 10, now)).unwrap();
    assert_eq!(store.holds(), [hold("gen/out", now - 10, now)]);
    // A long reason is cut to what the record holds.
    let mut long = hold("gen", now - 5, now);
    long.ended = "é".repeat(3000);
    store.record_hold(long).unwrap();
    assert_eq!(store.holds()[1].ended.len(), 4096);
    store.save_caches();
    drop(store);
    // From the catalog cache, from the log alone, and by fsck's fresh fold.
    let cached = Store::open(root).unwrap().holds().to_vec();
    assert_eq!(cached.len(), 2);
    let report = fsck_clean(root);
    assert!(
        report.catalog_checked,
        "the cache holding the holds was compared"
    );
    assert_eq!(report.catalog.holds(), cached);
    fs::remove_file(root.join(".tl/index/catalog")).unwrap();
    assert_eq!(Store::open(root).unwrap().holds(), cached);
}

#[test]
fn a_lean_store_keeps_the_holds_it_records() {
    let (_dir, mut store) = setup();
    store.go_lean();
    let now = Store::now_ns();
    store.record_hold(hold("gen/out", now - 10, now)).unwrap();
    assert_eq!(store.holds().len(), 1);
}

#[test]
fn gc_carries_the_holds_in_their_place() {
    let (dir, mut store) = setup();
    let root = dir.path();
    let t0 = Store::now_ns();
    store.record_hold(hold("gen/out", t0 - 10, t0)).unwrap();
    fs::write(root.join("top.txt"), b"after the hold").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let t1 = Store::now_ns();
    store.record_hold(hold("gen", t1, t1 + 1)).unwrap();
    let before = store.holds().to_vec();
    drop(store);
    let none = "[retention]\nkeep-all = \"0s\"\nkeep-minutely = \"0s\"\nkeep-hourly = \
                \"0s\"\nkeep-daily = \"0s\"\n";
    fs::write(root.join(".tl/config.toml"), none).unwrap();
    let store = Store::open(root).unwrap();
    let clock = tl_index::retention::Clock {
        now_ns: Store::now_ns(),
        utc_offset_secs: 0,
    };
    let (store, report) = tl_index::gc::run(store, clock).unwrap();
    assert!(report.plan.dropped() > 0, "the GC rewrote the log");
    let mut after = store.holds().to_vec();
    after.sort_by_key(|h| h.to_ns);
    assert_eq!(after, before);
    drop(store);
    fsck_clean(root);
}
