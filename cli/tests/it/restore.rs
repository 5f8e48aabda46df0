//! `tl restore PATH... --at T` for the whole tree: `.` at the project root is every
//! path, `.` in a subdirectory is that subdirectory, like `git restore .`.

use std::fs;

use crate::util::{json, ok};

fn checkpoint_id(root: &std::path::Path) -> String {
    let v = json(root, &["checkpoint", "--json"]);
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn restore_dot_at_the_root_restores_the_whole_tree() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("a.txt"), "a1").unwrap();
    fs::write(root.join("src/b.rs"), "b1").unwrap();
    ok(root, &["init"]);
    let first = checkpoint_id(root);
    fs::write(root.join("a.txt"), "a2").unwrap();
    fs::write(root.join("src/b.rs"), "b2").unwrap();
    fs::write(root.join("src/new.rs"), "n").unwrap();
    ok(root, &["checkpoint"]);

    let out = ok(root, &["restore", ".", "--at", &first]);
    assert_eq!(
        fs::read_to_string(root.join("a.txt")).unwrap(),
        "a1",
        "{out}"
    );
    assert_eq!(fs::read_to_string(root.join("src/b.rs")).unwrap(), "b1");
    assert!(
        !root.join("src/new.rs").exists(),
        "a file made later is removed"
    );
    assert!(
        root.join(".tl").is_dir(),
        "the store is not part of the tree"
    );
    // The state it replaced was captured first, so the restore can be undone.
    let log = json(root, &["log", "--json"]);
    let messages: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("restore from")),
        "{messages:?}"
    );
}

#[test]
fn restore_dot_in_a_subdirectory_restores_only_that_subdirectory() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("a.txt"), "a1").unwrap();
    fs::write(root.join("src/b.rs"), "b1").unwrap();
    ok(root, &["init"]);
    let first = checkpoint_id(root);
    fs::write(root.join("a.txt"), "a2").unwrap();
    fs::write(root.join("src/b.rs"), "b2").unwrap();
    ok(root, &["checkpoint"]);

    ok(&root.join("src"), &["restore", ".", "--at", &first]);
    assert_eq!(fs::read_to_string(root.join("src/b.rs")).unwrap(), "b1");
    assert_eq!(
        fs::read_to_string(root.join("a.txt")).unwrap(),
        "a2",
        "outside `.`: untouched"
    );
}

#[test]
fn restore_dot_dry_run_names_what_differs_on_disk_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a.txt"), "a1").unwrap();
    ok(root, &["init"]);
    let first = checkpoint_id(root);
    fs::write(root.join("a.txt"), "a2").unwrap();
    let v = json(
        root,
        &["restore", ".", "--at", &first, "--dry-run", "--json"],
    );
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "a2");
    // A dry run captures nothing first: it looks at the disk, not at the last capture.
    assert_eq!(v["written"], serde_json::json!(["a.txt"]), "{v}");
}

/// A symlink where the replayed tree needs a directory is refused before anything
/// is written, and the user is told what to do (the advice moved from the
/// library's message, `RestoreError::Conflict`, to the CLI).
#[test]
fn a_symlink_in_the_way_of_replay_into_is_refused_with_the_next_step() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("project");
    fs::create_dir_all(root.join("a")).unwrap();
    fs::write(root.join("a/x"), "x").unwrap();
    fs::write(root.join("ok"), "ok").unwrap();
    ok(&root, &["init"]);
    ok(&root, &["checkpoint"]);
    let into = d.path().join("into");
    let elsewhere = d.path().join("elsewhere");
    fs::create_dir_all(&into).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, into.join("a")).unwrap();
    let into_arg = into.to_str().unwrap();
    let err = crate::util::fails(&root, &["replay", "--to", "now", "--into", into_arg]);
    assert!(
        err.contains("nothing was written; move it away and retry"),
        "{err}"
    );
    assert!(!into.join("ok").exists(), "refused before any write");
    assert!(fs::read_dir(&elsewhere).unwrap().next().is_none());
}
