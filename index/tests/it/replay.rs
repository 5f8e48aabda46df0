//! What `replay::in_place` and `replay::into_dir` report: `unchanged` counts the
//! files of the target found right on disk, and nothing the replay did not look
//! at or did not write: a name tl never writes (skipped), a path left alone
//! because capture could not read it, a path kept because it changed after the
//! plan (that last case is in `restore_guard`).

use std::fs;
use tl_index::catalog::CheckpointIndex;

use tl_index::record::CommitKind;
use tl_index::replay::{in_place, into_dir, InPlace, Present, Purpose};
use tl_index::restore::MaterializeOptions;
use tl_index::store::Store;

use crate::support::project;

fn no_progress(_: u64, _: u64) {}

/// A replay in place to the first checkpoint, with the present to be captured.
fn replay_to_first() -> InPlace {
    InPlace {
        target: CheckpointIndex::new(0),
        only: None,
        purpose: Purpose::Replay,
        dry_run: false,
        present: Present::Unknown,
    }
}

#[test]
fn into_dir_counts_as_unchanged_only_the_files_found_right() {
    let (tmp, root, mut store) = project();
    for (name, body) in [("a", "one"), ("b", "two"), ("c", "three")] {
        fs::write(root.join(name), body).unwrap();
    }
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let into = tmp.path().join("into");
    fs::create_dir(&into).unwrap();
    fs::write(into.join("a"), "one").unwrap();
    // Different from the target's b, but content the log holds (so it may be
    // overwritten).
    fs::write(into.join("b"), "one").unwrap();
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let r = into_dir(
        &store,
        &tree,
        &into,
        &MaterializeOptions::default(),
        &no_progress,
    )
    .unwrap();
    assert_eq!(r.written, vec![b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(r.unchanged, 1);
}

#[test]
fn a_name_tl_never_writes_is_skipped_and_not_counted_unchanged() {
    let (tmp, root, mut store) = project();
    fs::write(root.join("a.txt"), "one").unwrap();
    fs::create_dir(root.join(".GIT")).unwrap();
    fs::write(root.join(".GIT/x"), "x").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();

    let into = tmp.path().join("into");
    let r = into_dir(
        &store,
        &tree,
        &into,
        &MaterializeOptions::default(),
        &no_progress,
    )
    .unwrap();
    assert_eq!(r.written, vec![b"a.txt".to_vec()]);
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert_eq!(r.unchanged, 0);

    // In place, with the disk already matching: the file is unchanged, the
    // reserved name skipped, and neither counted twice.
    let req = replay_to_first();
    let r = in_place(&mut store, &req, &tree, &no_progress).unwrap();
    assert!(!r.changed());
    assert_eq!(r.report.skipped.len(), 1);
    assert_eq!(r.report.unchanged, 1);
}

#[test]
fn a_path_capture_could_not_read_is_left_alone_and_not_counted_unchanged() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join("small"), "s").unwrap();
    fs::write(root.join("grows"), "tiny").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    // From now on files over 64 bytes are too large to capture.
    fs::write(root.join(".tl/config.toml"), "max_file_bytes = 64\n").unwrap();
    drop(store);
    let mut store = Store::open(&root).unwrap();
    let big = vec![b'g'; 1000];
    fs::write(root.join("grows"), &big).unwrap();
    fs::write(root.join("small"), "changed").unwrap();

    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let req = replay_to_first();
    let r = in_place(&mut store, &req, &tree, &no_progress).unwrap();
    assert_eq!(r.left_alone, vec![b"grows".to_vec()]);
    assert_eq!(fs::read(root.join("grows")).unwrap(), big);
    assert_eq!(fs::read(root.join("small")).unwrap(), b"s");
    assert_eq!(r.report.written, vec![b"small".to_vec()]);
    assert_eq!(r.report.unchanged, 0, "{:?}", r.report);
}

/// Writes to another file the first time the scan is about to read `trigger`:
/// an edit landing while a replay's capture of the present is under way.
struct EditElsewhere {
    trigger: &'static [u8],
    elsewhere: std::path::PathBuf,
    fired: std::sync::atomic::AtomicBool,
}

impl tl_index::scan::ReadSeam for EditElsewhere {
    fn before_open(&self, path: &[u8]) {
        use std::sync::atomic::Ordering;
        if path == self.trigger && !self.fired.swap(true, Ordering::SeqCst) {
            fs::write(&self.elsewhere, "edited during the replay").unwrap();
        }
    }
}

#[test]
fn a_replay_in_place_records_only_the_paths_it_wrote_without_scanning_the_tree_again() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join("aaa.txt"), "kept").unwrap();
    fs::write(root.join("edited.txt"), "old").unwrap();
    fs::write(root.join("gone.txt"), "old").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::write(root.join("edited.txt"), "new").unwrap();
    fs::remove_file(root.join("gone.txt")).unwrap();
    fs::write(root.join("added.txt"), "new").unwrap();
    // aaa.txt is stat'ed (unchanged) before edited.txt is read, so the capture
    // before the replay holds its old content; it changes on disk after that.
    store.set_read_seam(std::sync::Arc::new(EditElsewhere {
        trigger: b"edited.txt",
        elsewhere: root.join("aaa.txt"),
        fired: Default::default(),
    }));
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let req = replay_to_first();
    let r = in_place(&mut store, &req, &tree, &no_progress).unwrap();
    assert_eq!(
        r.report.written,
        vec![b"edited.txt".to_vec(), b"gone.txt".to_vec()]
    );
    assert_eq!(r.report.removed, vec![b"added.txt".to_vec()]);
    let recorded = r.recorded.expect("the replay changed files");
    assert_eq!(recorded.kind, CommitKind::Restore);
    // The restore checkpoint holds the target where the replay wrote, and the
    // capture before it everywhere else: the edit of aaa.txt made meanwhile is
    // not folded into the replay's record, and stays on disk.
    let last = store.checkpoints().len() - 1;
    let after = store.tree_at(CheckpointIndex::new(last)).unwrap();
    let content = |t: &tl_index::Tree| -> Vec<(Vec<u8>, tl_index::BlobHash)> {
        t.iter().map(|(p, e)| (p.clone(), e.hash)).collect()
    };
    assert_eq!(
        content(&after),
        content(&tree),
        "the replay's record is the target tree"
    );
    assert_eq!(
        fs::read(root.join("aaa.txt")).unwrap(),
        b"edited during the replay"
    );
    // The next checkpoint captures it.
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let next = store
        .tree_at(CheckpointIndex::new(store.checkpoints().len() - 1))
        .unwrap();
    assert_ne!(next.get(&b"aaa.txt"[..]), tree.get(&b"aaa.txt"[..]));
}
