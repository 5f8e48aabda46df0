//! Restore never loses what it did not plan for (issue 20, items 5 and 6): a file
//! edited between the plan and the rename over it is kept, not overwritten (the
//! observer's `planned` hook plays the user editing while a replay runs), and an
//! entry whose name only the `.git`/`.tl` rule refuses (a captured
//! `.GIT/hooks/post-checkout`) is skipped while the rest of the tree is restored.

use std::fs;
use std::path::Path;
use tl_index::catalog::CheckpointIndex;

use tl_index::record::CommitKind;
use tl_index::restore::{
    materialize, materialize_observed, MaterializeOptions, MaterializeReport, Observer,
};
use tl_index::store::Store;

use crate::support::project;

/// Runs `edit` once the plan is made, before anything is written.
struct EditAfterPlan<F: Fn()>(F);

impl<F: Fn()> Observer for EditAfterPlan<F> {
    fn planned(&self, _plan: &MaterializeReport) {
        (self.0)()
    }
}

fn replay_with_edit(store: &Store, idx: usize, root: &Path, edit: impl Fn()) -> MaterializeReport {
    let tree = store.tree_at(CheckpointIndex::new(idx)).unwrap();
    materialize_observed(
        store,
        &tree,
        root,
        &MaterializeOptions::default(),
        &EditAfterPlan(edit),
    )
    .unwrap()
}

#[test]
fn a_file_edited_after_the_plan_is_kept_not_overwritten() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join("a"), b"one").unwrap();
    fs::write(root.join("other"), b"old").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::write(root.join("a"), b"two").unwrap();
    fs::write(root.join("other"), b"new").unwrap();
    // The replay's capture of the present.
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let r = replay_with_edit(&store, 0, &root, || {
        fs::write(root.join("a"), b"unsaved edit").unwrap();
    });
    assert_eq!(fs::read(root.join("a")).unwrap(), b"unsaved edit");
    assert_eq!(r.kept, vec![b"a".to_vec()]);
    assert!(
        !r.written.iter().any(|p| p.as_bytes() == b"a"),
        "{:?}",
        r.written
    );
    // The rest of the replay is done.
    assert_eq!(fs::read(root.join("other")).unwrap(), b"old");
    assert_eq!(r.written, vec![b"other".to_vec()]);
    assert_eq!(r.bytes_written, 3);
    // A kept path was not found right: it is not counted unchanged.
    assert_eq!(r.unchanged, 0);
    // No temporary is left behind.
    let names: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_file_edited_after_the_plan_is_not_removed() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join("a"), b"one").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::write(root.join("b"), b"tracked").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let r = replay_with_edit(&store, 0, &root, || {
        fs::write(root.join("b"), b"edited while the replay ran").unwrap();
    });
    assert_eq!(
        fs::read(root.join("b")).unwrap(),
        b"edited while the replay ran"
    );
    assert_eq!(r.kept, vec![b"b".to_vec()]);
    assert!(r.removed.is_empty());
}

#[test]
fn a_file_created_after_the_plan_where_the_target_writes_is_kept() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join("a"), b"one").unwrap();
    fs::write(root.join("gone"), b"in the target").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::remove_file(root.join("gone")).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let r = replay_with_edit(&store, 0, &root, || {
        fs::write(root.join("gone"), b"a new file").unwrap();
    });
    assert_eq!(fs::read(root.join("gone")).unwrap(), b"a new file");
    assert_eq!(r.kept, vec![b"gone".to_vec()]);
    // Replayed again, once the edit is captured, the target wins as usual.
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let r = materialize(
        &store,
        &store.tree_at(CheckpointIndex::new(0)).unwrap(),
        &root,
        &MaterializeOptions::default(),
    )
    .unwrap();
    assert!(r.kept.is_empty());
    assert_eq!(fs::read(root.join("gone")).unwrap(), b"in the target");
}

#[test]
fn a_symlink_replaced_after_the_plan_is_kept() {
    let (_tmp, root, mut store) = project();
    std::os::unix::fs::symlink("one", root.join("l")).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::remove_file(root.join("l")).unwrap();
    std::os::unix::fs::symlink("two", root.join("l")).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let r = replay_with_edit(&store, 0, &root, || {
        fs::remove_file(root.join("l")).unwrap();
        fs::write(root.join("l"), b"now a file").unwrap();
    });
    assert_eq!(fs::read(root.join("l")).unwrap(), b"now a file");
    assert_eq!(r.kept, vec![b"l".to_vec()]);
}

#[test]
fn a_captured_dot_git_in_capitals_is_skipped_and_the_rest_replayed() {
    let (tmp, root, mut store) = project();
    fs::write(root.join("a.txt"), b"one").unwrap();
    fs::create_dir_all(root.join(".GIT/hooks")).unwrap();
    fs::write(root.join(".GIT/hooks/post-checkout"), b"#!/bin/sh\n").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    assert!(store.head().contains_key(&b".GIT/hooks/post-checkout"[..]));
    fs::write(root.join("a.txt"), b"two").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();

    // In place: tracked and in the target, skipped; the rest is replayed.
    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let r = materialize(&store, &tree, &root, &MaterializeOptions::default()).unwrap();
    assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"one");
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert_eq!(r.skipped[0].path, b".GIT/hooks/post-checkout");
    let shown = r.skipped[0].to_string();
    assert!(
        shown.contains(".GIT/hooks/post-checkout") && shown.contains("not restored"),
        "{shown}"
    );
    assert_eq!(
        fs::read(root.join(".GIT/hooks/post-checkout")).unwrap(),
        b"#!/bin/sh\n"
    );

    // Into another directory: never written.
    let into = tmp.path().join("into");
    let r = materialize(&store, &tree, &into, &MaterializeOptions::default()).unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(fs::read(into.join("a.txt")).unwrap(), b"one");
    assert!(!into.join(".GIT").exists());

    // Deleted from disk and captured: replays keep working and never recreate it.
    fs::remove_dir_all(root.join(".GIT")).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let r = materialize(&store, &tree, &root, &MaterializeOptions::default()).unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert!(!root.join(".GIT").exists());
    // A tracked one that the target lacks is not removed either.
    fs::create_dir_all(root.join(".GIT")).unwrap();
    fs::write(root.join(".GIT/x"), b"x").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let none = store.tree_at(store.last_index().unwrap()).unwrap();
    let mut without: tl_index::Tree = none.clone();
    without.retain(|p, _| !p.starts_with(b".GIT"));
    let r = materialize(&store, &without, &root, &MaterializeOptions::default()).unwrap();
    assert_eq!(r.skipped.len(), 1);
    assert!(r.removed.is_empty());
    assert!(root.join(".GIT/x").exists());
}

#[test]
fn temporaries_a_killed_restore_left_are_removed_by_the_next_one() {
    let (_tmp, root, mut store) = project();
    fs::create_dir(root.join("d")).unwrap();
    fs::write(root.join("d/f"), b"one").unwrap();
    fs::write(root.join("g"), b"one").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::write(root.join("d/f"), b"two").unwrap();
    fs::write(root.join("g"), b"two").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    // The temporaries of a process that is gone (a child that exited and was reaped).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!(".tl-tmp-{dead}-3");
    fs::write(root.join("d").join(&stale), b"half a file").unwrap();
    std::os::unix::fs::symlink("half a link", root.join(format!(".tl-tmp-{dead}-4"))).unwrap();
    // Not stale: this process's own (in use), and names that only look alike.
    let ours = format!(".tl-tmp-{}-999999", std::process::id());
    fs::write(root.join(&ours), b"in use").unwrap();
    fs::write(root.join(".tl-tmp-notes"), b"someone's notes").unwrap();
    fs::create_dir(root.join(format!(".tl-tmp-{dead}-5"))).unwrap();

    let tree = store.tree_at(CheckpointIndex::new(0)).unwrap();
    let r = materialize(&store, &tree, &root, &MaterializeOptions::default()).unwrap();
    assert_eq!(r.written.len(), 2);
    assert!(!root.join("d").join(&stale).exists());
    assert!(fs::symlink_metadata(root.join(format!(".tl-tmp-{dead}-4"))).is_err());
    assert!(root.join(&ours).exists());
    assert!(root.join(".tl-tmp-notes").exists());
    assert!(root.join(format!(".tl-tmp-{dead}-5")).is_dir());
    assert_eq!(fs::read(root.join("d/f")).unwrap(), b"one");
}

/// A project whose first checkpoint has a file `d` and whose head has a
/// directory `d` holding `d/x` in its place; the replay to the first removes
/// `d/x`, then `d`, to write the file.
fn directory_the_target_replaces() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let (tmp, root, mut store) = project();
    fs::write(root.join("a"), b"one").unwrap();
    fs::write(root.join("d"), b"d was a file").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::remove_file(root.join("d")).unwrap();
    fs::create_dir(root.join("d")).unwrap();
    fs::write(root.join("d/x"), b"tracked").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    (tmp, root, store)
}

#[test]
fn a_file_created_after_the_plan_in_a_directory_the_target_replaces_is_kept_with_it() {
    let (_tmp, root, store) = directory_the_target_replaces();
    let r = replay_with_edit(&store, 0, &root, || {
        fs::write(root.join("d/new"), b"written while the replay ran").unwrap();
    });
    assert_eq!(
        fs::read(root.join("d/new")).unwrap(),
        b"written while the replay ran"
    );
    assert!(!root.join("d/x").exists(), "the tracked file is removed");
    assert_eq!(r.kept, vec![b"d".to_vec()]);
    assert_eq!(r.removed, vec![b"d/x".to_vec()]);
    assert!(r.written.is_empty(), "{:?}", r.written);
}

#[test]
fn a_file_edited_after_the_plan_in_a_directory_the_target_replaces_is_kept_with_it() {
    let (_tmp, root, store) = directory_the_target_replaces();
    let r = replay_with_edit(&store, 0, &root, || {
        fs::write(root.join("d/x"), b"edited while the replay ran").unwrap();
    });
    assert_eq!(
        fs::read(root.join("d/x")).unwrap(),
        b"edited while the replay ran"
    );
    assert_eq!(r.kept, vec![b"d".to_vec(), b"d/x".to_vec()]);
    assert!(r.removed.is_empty());
    assert!(r.written.is_empty(), "{:?}", r.written);
}
