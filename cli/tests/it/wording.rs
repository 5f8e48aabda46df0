//! What `replay`, `restore`, `checkpoint` and `status` say, and the checkpoints
//! they add (or do not).

use std::fs;

use crate::util::{fails, json, ok, tl};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.txt"), "one\n").unwrap();
    fs::write(d.path().join("b.txt"), "b\n").unwrap();
    ok(d.path(), &["init"]);
    d
}

fn count(d: &std::path::Path) -> usize {
    json(d, &["log", "--json"]).as_array().unwrap().len()
}

#[test]
fn replay_dry_run_says_would_remove_and_counts_unchanged_files() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("c.txt"), "c\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["replay", "--to", &first, "--dry-run"]);
    assert!(
        out.contains("would write 1 file(s), would remove 1, 1 unchanged"),
        "{out}"
    );
}

#[test]
fn a_replay_that_changes_nothing_adds_no_checkpoint() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok(d.path(), &["replay", "--to", &first]);
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(count(d.path()), 1);
}

#[test]
fn restore_says_restored_and_its_undo_hint_is_path_limited() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("b.txt"), "bb\n").unwrap();
    let run = tl(d.path(), &["restore", "a.txt", "--at", &first]);
    assert!(run.status.success(), "{run:?}");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("Restored:") && !out.contains("Replayed"),
        "{out}"
    );
    // The undo hint is on stderr, so that a closed stdout cannot lose it.
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("`tl restore a.txt --at "), "{err}");
    assert!(!err.contains("tl replay --to"), "{err}");
    assert_eq!(fs::read_to_string(d.path().join("b.txt")).unwrap(), "bb\n");
}

#[test]
fn restore_json_reports_what_it_wrote_and_how_to_undo() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    let v = json(d.path(), &["restore", "a.txt", "--at", &first, "--json"]);
    assert_eq!(v["written"][0], "a.txt");
    assert!(v["undo_command"]
        .as_str()
        .unwrap()
        .starts_with("tl restore a.txt --at "));
}

#[test]
fn replay_into_needs_no_writer_lock() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    // Another writer holds the log (as on a read-only .tl, no lock can be taken).
    let _writer = tl_index::store::Store::open(&fs::canonicalize(d.path()).unwrap()).unwrap();
    ok(
        d.path(),
        &["replay", "--to", &first, "--into", target.to_str().unwrap()],
    );
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "one\n");
}

#[test]
fn replay_into_an_existing_file_is_refused_up_front() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("file");
    fs::write(&file, "x").unwrap();
    let err = fails(
        d.path(),
        &["replay", "--to", &first, "--into", file.to_str().unwrap()],
    );
    assert!(
        err.contains("is not a directory") && !err.contains("part-way"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_without_changes_says_plainly_that_nothing_changed() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["checkpoint", "-m", "mark"]);
    assert!(
        out.contains("recorded with no changes since the previous checkpoint"),
        "{out}"
    );
    assert_eq!(count(d.path()), 2);
}

#[test]
fn status_without_a_daemon_says_nothing_is_capturing_and_json_names_the_checkpoint() {
    let d = project();
    let id = json(d.path(), &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok(d.path(), &["status"]);
    assert!(out.contains("Nothing is capturing changes"), "{out}");
    let v = json(d.path(), &["status", "--json"]);
    assert_eq!(v["checkpoint"], id.as_str());
    assert_eq!(v["capturing"], false);
}

#[test]
fn recover_rebuild_keeps_the_snapshot_compact_wrote() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    ok(d.path(), &["compact"]);
    let snaps = || {
        fs::read_dir(d.path().join(".tl/snapshots"))
            .unwrap()
            .count()
    };
    assert_eq!(snaps(), 1);
    ok(d.path(), &["recover", "--rebuild"]);
    assert_eq!(snaps(), 1);
}

#[test]
fn paths_inside_tl_or_ignored_say_why_they_are_not_there() {
    let d = project();
    fs::write(d.path().join(".gitignore"), "*.log\n").unwrap();
    fs::write(d.path().join("build.log"), "x\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let err = fails(d.path(), &["show", ".tl/config.toml", "--at", "now"]);
    assert!(err.contains("tl's own directory"), "{err}");
    let err = fails(d.path(), &["show", "build.log", "--at", "now"]);
    assert!(err.contains("ignored"), "{err}");
    let err = fails(d.path(), &["show", "/", "--at", "now"]);
    assert!(!err.contains("prefix not found"), "{err}");
}

#[test]
fn show_of_a_directory_lists_its_files_and_ls_lists_the_tree() {
    let d = project();
    fs::create_dir(d.path().join("src")).unwrap();
    fs::write(d.path().join("src/lib.rs"), "fn f() {}\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["show", "src", "--at", "now"]);
    assert!(out.contains("src/lib.rs"), "{out}");
    let all = ok(d.path(), &["ls"]);
    assert!(
        all.contains("100644") && all.contains("a.txt") && all.contains("src/lib.rs"),
        "{all}"
    );
    let v = json(d.path(), &["ls", "--at", "now", "src", "--json"]);
    assert_eq!(v["files"].as_array().unwrap().len(), 1);
    assert_eq!(v["files"][0]["path"], "src/lib.rs");
}
