//! The exit codes `tl --help` promises: 0 success, 1 error, 2 usage, 3 `tl fsck`
//! found damage, 4 the store is locked or busy. Each failure still says why in one
//! line on stderr.

use std::fs;
use std::process::Command;

use crate::daemon::Daemon;
use crate::util::{ok, tl};

/// Runs `tl ARGS` in `dir`, asserts exit `code` and a one-line reason; returns it.
fn exits(dir: &std::path::Path, args: &[&str], code: i32) -> String {
    let out = tl(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "tl {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "tl {args:?}: {err}");
    err
}

#[test]
fn help_lists_the_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let help = ok(d.path(), &["--help"]);
    for line in [
        "0  success",
        "1  an error",
        "2  usage",
        "3  `tl fsck` found damage",
        "4  the store is locked or busy",
    ] {
        assert!(help.contains(line), "{line:?} missing from {help}");
    }
}

#[test]
fn success_is_0_and_an_error_is_1() {
    let d = tempfile::tempdir().unwrap();
    exits(d.path(), &["log"], 1);
    assert_eq!(tl(d.path(), &["init"]).status.code(), Some(0));
    let err = exits(d.path(), &["show", "nothing", "--at", "10m"], 1);
    assert!(err.starts_with("tl: "), "{err}");
}

#[test]
fn a_wrong_command_line_is_2() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    ok(d.path(), &["checkpoint"]);
    // clap's own parse errors (several lines of usage: not `exits`).
    for args in [&["frobnicate"][..], &["log", "--no-such-flag"], &["show"]] {
        assert_eq!(tl(d.path(), args).status.code(), Some(2), "{args:?}");
    }
    fs::write(d.path().join("file"), "x").unwrap();
    exits(d.path(), &["-C", "file", "log"], 2);
    exits(d.path(), &["-C", "no/such/dir", "log"], 2);
    exits(d.path(), &["pin", "10m"], 2);
    exits(d.path(), &["ls", "../elsewhere"], 2);
    exits(d.path(), &["export-git", "--every", "3 months"], 2);
    exits(d.path(), &["replay", "--to", "now", "--into", "file"], 2);
}

#[test]
fn damage_found_by_fsck_is_3_with_the_repair_as_hint() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    ok(d.path(), &["checkpoint"]);
    fs::write(d.path().join(".tl/index/catalog"), b"zeroed").unwrap();
    let err = exits(d.path(), &["fsck"], 3);
    assert!(
        err.contains("fsck found 1 problem(s); `tl recover --rebuild` repairs"),
        "{err}"
    );
    ok(d.path(), &["recover"]);
    assert_eq!(tl(d.path(), &["fsck"]).status.code(), Some(0));
}

#[test]
fn a_held_lock_or_a_running_watcher_is_4() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    let held = tl_index::store::Store::open(d.path()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(d.path())
        .env("TL_LOCK_TIMEOUT", "0")
        .args(["compact"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    drop(held);

    let w = Daemon::start(50);
    let err = exits(&w.root(), &["watch"], 4);
    assert!(err.contains("already watched by pid"), "{err}");
    let err = exits(&w.root(), &["daemon", "start"], 4);
    assert!(err.contains("already watched by pid"), "{err}");
}
