//! Each command driven through the real binary: output contract, exit codes, and
//! the one-line reason on stderr when something is wrong.

use std::fs;

use crate::util::{fails, json, ok};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.txt"), "one\n").unwrap();
    fs::create_dir(d.path().join("src")).unwrap();
    fs::write(d.path().join("src/lib.rs"), "fn f() {}\n").unwrap();
    ok(d.path(), &["init"]);
    d
}

#[test]
fn init_creates_the_store_and_a_second_init_says_it_is_initialised() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["init"]);
    assert!(out.contains("Initialised"));
    assert!(d.path().join(".tl/wal").is_dir());
    let err = fails(d.path(), &["init"]);
    assert!(err.contains("already initialised"), "{err}");
}

#[test]
fn init_with_a_directory_argument_creates_it() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init", "sub/project"]);
    assert!(d.path().join("sub/project/.tl").is_dir());
}

#[test]
fn commands_outside_a_project_say_how_to_init() {
    let d = tempfile::tempdir().unwrap();
    for args in [&["log"][..], &["status"], &["checkpoint"], &["pins"]] {
        let err = fails(d.path(), args);
        assert!(err.contains("tl init"), "{args:?}: {err}");
    }
}

#[test]
fn checkpoint_json_reports_counts_and_a_no_change_checkpoint_is_recorded() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json", "-m", "first"]);
    assert_eq!(first["added"], 2);
    assert_eq!(first["message"], "first");
    assert!(first["id"].as_str().unwrap().len() >= 8);
    assert!(first["lsn"].is_u64());
    let out = ok(d.path(), &["checkpoint"]);
    assert!(out.contains("no changes"), "{out}");
    assert_eq!(
        json(d.path(), &["log", "--json"]).as_array().unwrap().len(),
        2
    );
}

#[test]
fn status_lists_changes_since_the_last_checkpoint() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    assert!(ok(d.path(), &["status"]).contains("No changes"));
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("new.txt"), "n\n").unwrap();
    fs::remove_file(d.path().join("src/lib.rs")).unwrap();
    let out = ok(d.path(), &["status"]);
    assert!(
        out.contains("M a.txt") && out.contains("A new.txt") && out.contains("D src/lib.rs"),
        "{out}"
    );
    let v = json(d.path(), &["status", "--json"]);
    assert_eq!(v["changes"].as_array().unwrap().len(), 3);
    assert_eq!(v["clean"], false);
}

#[test]
fn log_is_newest_first_and_filters_by_path() {
    let d = project();
    ok(d.path(), &["checkpoint", "-m", "one"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    ok(d.path(), &["checkpoint", "-m", "two"]);
    let v = json(d.path(), &["log", "--json"]);
    assert_eq!(v[0]["message"], "two");
    assert_eq!(v[1]["message"], "one");
    let by_path = json(d.path(), &["log", "--json", "src"]);
    assert_eq!(by_path.as_array().unwrap().len(), 1);
    assert_eq!(by_path[0]["message"], "one");
    let text = ok(d.path(), &["log"]);
    assert!(text.lines().next().unwrap().contains("two"));
    let none = json(d.path(), &["log", "--json", "--since", "2099-01-01"]);
    assert!(none.as_array().unwrap().is_empty());
}

#[test]
fn diff_shows_a_unified_diff_a_stat_and_binary_files() {
    let d = project();
    fs::write(d.path().join("bin.dat"), [0u8, 159, 146, 150]).unwrap();
    let first = json(d.path(), &["checkpoint", "--json"]);
    let id = first["id"].as_str().unwrap();
    fs::write(d.path().join("a.txt"), "one\nadded\n").unwrap();
    fs::write(d.path().join("bin.dat"), [1u8, 159, 146, 150]).unwrap();
    let out = ok(d.path(), &["diff", id]);
    assert!(
        out.contains("--- a/a.txt") && out.contains("+added"),
        "{out}"
    );
    assert!(
        out.contains("Binary files a/bin.dat and b/bin.dat differ"),
        "{out}"
    );
    let stat = ok(d.path(), &["diff", id, "--stat"]);
    assert!(stat.contains(" a.txt   | +1 -0"), "{stat}");
    let second = json(d.path(), &["checkpoint", "--json"]);
    let v = json(
        d.path(),
        &[
            "diff",
            id,
            second["id"].as_str().unwrap(),
            "--json",
            "--",
            "a.txt",
        ],
    );
    assert_eq!(v["files"].as_array().unwrap().len(), 1);
}

#[test]
fn show_prints_a_file_as_it_was() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"]);
    fs::write(d.path().join("a.txt"), "changed\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    assert_eq!(
        ok(
            d.path(),
            &["show", "a.txt", "--at", first["id"].as_str().unwrap()]
        ),
        "one\n"
    );
    let err = fails(
        d.path(),
        &["show", "missing.txt", "--at", first["id"].as_str().unwrap()],
    );
    assert!(err.contains("did not exist"), "{err}");
}

#[test]
fn pins_name_points_usable_as_times() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    let out = ok(d.path(), &["pin", "good"]);
    assert!(out.contains("Pinned good"), "{out}");
    fs::write(d.path().join("a.txt"), "bad\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", "good"]), "one\n");
    let v = json(d.path(), &["pins", "--json"]);
    assert_eq!(v[0]["name"], "good");
    let err = fails(d.path(), &["pin", "bad/name"]);
    assert!(err.contains("not a valid pin name"), "{err}");
}

#[test]
fn times_before_the_first_checkpoint_or_in_the_future_are_clear_errors() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    let err = fails(d.path(), &["show", "a.txt", "--at", "1990-01-01"]);
    assert!(err.contains("before the first checkpoint"), "{err}");
    let err = fails(d.path(), &["show", "a.txt", "--at", "2099-01-01"]);
    assert!(err.contains("future"), "{err}");
    let err = fails(d.path(), &["show", "a.txt", "--at", "no such thing ~~"]);
    assert!(err.contains("accepted"), "{err}");
    let err = fails(d.path(), &["show", "a.txt", "--at", "deadbeefcafe"]);
    assert!(err.contains("not a checkpoint id"), "{err}");
}

#[test]
fn dash_c_runs_in_another_directory() {
    let d = project();
    let elsewhere = tempfile::tempdir().unwrap();
    let p = d.path().to_str().unwrap();
    ok(elsewhere.path(), &["-C", p, "checkpoint"]);
    assert_eq!(
        json(elsewhere.path(), &["-C", p, "log", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn compact_writes_a_snapshot_and_history_is_unchanged() {
    let d = project();
    ok(d.path(), &["checkpoint"]);
    let before = ok(d.path(), &["show", "a.txt", "--at", "now"]);
    assert!(ok(d.path(), &["compact"]).contains("snapshot"));
    assert_eq!(
        fs::read_dir(d.path().join(".tl/snapshots"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", "now"]), before);
}

#[test]
fn every_command_has_help_with_an_example() {
    let d = tempfile::tempdir().unwrap();
    for cmd in [
        "init",
        "checkpoint",
        "status",
        "log",
        "diff",
        "show",
        "replay",
        "restore",
        "pin",
        "pins",
        "compact",
        "recover",
    ] {
        let out = ok(d.path(), &[cmd, "--help"]);
        assert!(out.contains("Example"), "{cmd} --help has no example");
    }
}

#[test]
fn recover_rebuild_from_the_log_alone_yields_the_same_states() {
    let d = project();
    ok(d.path(), &["checkpoint", "-m", "one"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    ok(d.path(), &["checkpoint", "-m", "two"]);
    ok(d.path(), &["pin", "p"]);
    ok(d.path(), &["compact"]);
    let log_before = json(d.path(), &["log", "--json"]);
    fs::remove_dir_all(d.path().join(".tl/index")).unwrap();
    fs::remove_dir_all(d.path().join(".tl/snapshots")).unwrap();
    let out = ok(d.path(), &["recover", "--rebuild"]);
    assert!(out.contains("Rebuilt the catalog (2 checkpoints"), "{out}");
    assert_eq!(json(d.path(), &["log", "--json"]), log_before);
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", "p"]), "two\n");
    let first = log_before[1]["id"].as_str().unwrap();
    assert_eq!(ok(d.path(), &["show", "a.txt", "--at", first]), "one\n");
}

#[test]
fn replay_in_place_brings_the_tree_back_and_can_be_undone() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"]);
    let first_id = first["id"].as_str().unwrap();
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("b.txt"), "b\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    fs::write(d.path().join("a.txt"), "unsaved edit\n").unwrap();
    let dry = ok(d.path(), &["replay", "--to", first_id, "--dry-run"]);
    assert!(dry.contains("W a.txt") && dry.contains("D b.txt"), "{dry}");
    assert_eq!(
        fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "unsaved edit\n"
    );
    let v = json(d.path(), &["replay", "--to", first_id, "--json"]);
    assert_eq!(fs::read_to_string(d.path().join("a.txt")).unwrap(), "one\n");
    assert!(!d.path().join("b.txt").exists());
    // The unsaved edit was captured first: replaying to that checkpoint undoes it.
    assert_eq!(v["present"], "scanned", "{v}");
    let undo = v["undo"].as_str().unwrap();
    ok(d.path(), &["replay", "--to", undo]);
    assert_eq!(
        fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "unsaved edit\n"
    );
    assert_eq!(fs::read_to_string(d.path().join("b.txt")).unwrap(), "b\n");
    let kinds: Vec<String> = json(d.path(), &["log", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"restore".to_string()), "{kinds:?}");
}

#[test]
fn replay_into_another_directory_leaves_the_project_alone() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("new/dir");
    ok(
        d.path(),
        &[
            "replay",
            "--to",
            first["id"].as_str().unwrap(),
            "--into",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "one\n");
    assert_eq!(
        fs::read_to_string(target.join("src/lib.rs")).unwrap(),
        "fn f() {}\n"
    );
    assert_eq!(fs::read_to_string(d.path().join("a.txt")).unwrap(), "two\n");
}

#[test]
fn restore_brings_back_only_the_named_paths() {
    let d = project();
    let first = json(d.path(), &["checkpoint", "--json"]);
    fs::write(d.path().join("a.txt"), "two\n").unwrap();
    fs::write(d.path().join("src/lib.rs"), "changed\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    ok(
        d.path(),
        &["restore", "src", "--at", first["id"].as_str().unwrap()],
    );
    assert_eq!(
        fs::read_to_string(d.path().join("src/lib.rs")).unwrap(),
        "fn f() {}\n"
    );
    assert_eq!(fs::read_to_string(d.path().join("a.txt")).unwrap(), "two\n");
    let err = fails(
        d.path(),
        &[
            "restore",
            "nothing-here",
            "--at",
            first["id"].as_str().unwrap(),
        ],
    );
    assert!(err.contains("did not exist"), "{err}");
}
