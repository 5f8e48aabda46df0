//! A new user's first steps and first mistakes: `tl init` in a git work tree, a
//! `.tl/` inside a `.tl/`, `-C` on a file, two writers at once, a pipe closed by
//! `head`, a project moved while its daemon runs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{write, Daemon};
use crate::util::{fails, git_text, ok, tl};

/// Polls `f` until true or `within` passes.
fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < end, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is not alive: the daemon is no child of ours, but check anyway.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
}

#[test]
fn init_in_a_git_work_tree_keeps_tl_out_of_git() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    git_text(root, &["init", "-q"]);
    fs::write(root.join("a.txt"), "a").unwrap();
    let out = ok(root, &["init"]);
    assert!(out.contains(".git/info/exclude"), "{out}");
    ok(root, &["checkpoint"]);
    git_text(root, &["add", "-A"]);
    git_text(root, &["commit", "-q", "-m", "one"]);
    let tracked = git_text(root, &["ls-files"]);
    assert_eq!(tracked, "a.txt\n");
    // A second init elsewhere in the same repository adds nothing twice.
    fs::create_dir(root.join("sub")).unwrap();
    let out = ok(&root.join("sub"), &["init"]);
    assert!(!out.contains("exclude"), "{out}");
    let exclude = fs::read_to_string(root.join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.matches(".tl/").count(), 1, "{exclude}");
}

#[test]
fn a_command_warns_when_git_tracks_tl() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    git_text(root, &["init", "-q"]);
    fs::write(root.join("a.txt"), "a").unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint"]);
    let clean = tl(root, &["log"]);
    assert!(String::from_utf8_lossy(&clean.stderr).is_empty());
    git_text(root, &["add", "-f", ".tl/wal"]);
    git_text(root, &["commit", "-q", "-m", "oops"]);
    for args in [&["log"][..], &["status"][..]] {
        let out = tl(root, args);
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.matches("warning: git tracks").count(),
            1,
            "{args:?}: {err}"
        );
        assert!(err.contains("git rm -r --cached .tl"), "{err}");
    }
}

#[test]
fn the_daemon_stops_loudly_when_git_rewinds_its_log() {
    let d = Daemon::start(20);
    let root = d.root();
    let pid = d.pid();
    git_text(&root, &["init", "-q"]);
    write(&root, "a.txt", "one");
    ok(&root, &["checkpoint", "-m", "one"]);
    git_text(&root, &["add", "-f", "a.txt", ".tl/wal"]);
    git_text(&root, &["commit", "-q", "-m", "with the log"]);
    write(&root, "a.txt", "two");
    ok(&root, &["checkpoint", "-m", "two"]);
    // The log goes back to the commit's copy.
    git_text(&root, &["checkout", "--", ".tl/wal"]);
    eventually(Duration::from_secs(10), "the daemon kept running", || {
        !alive(pid)
    });
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(
        log.contains("was replaced by another file") || log.contains("shrank"),
        "{log}"
    );
    assert!(log.contains("stopped on an error"), "{log}");
}

#[test]
fn init_inside_a_tl_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    let err = fails(root, &["init", ".tl/wal"]);
    assert!(err.contains("inside a .tl directory"), "{err}");
    fs::write(root.join("f"), "x").unwrap();
    ok(root, &["checkpoint"]);
    let err = fails(
        root,
        &["replay", "--to", "@999999999999", "--into", ".tl/wal/x"],
    );
    assert!(err.contains("inside a .tl directory"), "{err}");
    assert!(!root.join(".tl/wal/x").exists());
    assert!(!root.join(".tl/wal/.tl").exists());
    ok(root, &["log"]);
}

#[test]
fn minus_c_on_a_file_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    fs::write(root.join("Cargo.toml"), "").unwrap();
    let err = fails(root, &["-C", "Cargo.toml", "log"]);
    assert!(err.contains("-C Cargo.toml is not a directory"), "{err}");
}

#[test]
fn a_moved_project_gets_no_tl_index_at_its_old_path() {
    let d = Daemon::start(20);
    let root = d.root();
    let pid = d.pid();
    write(&root, "a", "1");
    ok(&root, &["checkpoint"]);
    let moved = root.with_file_name(format!(
        "{}-moved",
        root.file_name().unwrap().to_string_lossy()
    ));
    fs::rename(&root, &moved).unwrap();
    eventually(Duration::from_secs(10), "the daemon did not stop", || {
        !alive(pid)
    });
    assert!(!root.exists(), "{} was made anew", root.display());
    fs::rename(&moved, &root).unwrap();
}

/// Holds the log's writer lock in this process (its pid goes into the lock file).
fn hold_lock(root: &Path) -> tl_index::store::Store {
    tl_index::store::Store::open(root).unwrap()
}

#[test]
fn a_second_writer_waits_for_the_lock_and_says_for_whom() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    fs::write(root.join("f"), "x").unwrap();
    let held = hold_lock(root);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(root)
        .env("TL_LOCK_TIMEOUT", "60")
        .args(["checkpoint", "-m", "second"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let want = format!(
        "tl: waiting for the lock held by pid {}",
        std::process::id()
    );
    assert!(line.starts_with(&want), "{line}");
    assert!(child.try_wait().unwrap().is_none(), "it gave up");
    drop(held);
    let st = child.wait().unwrap();
    assert!(st.success(), "{st}");
    assert!(ok(root, &["log"]).contains("second"));
}

#[test]
fn a_lock_held_too_long_fails_with_exit_4_naming_the_pid_and_the_path_once() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    ok(root, &["init"]);
    let _held = hold_lock(root);
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(root)
        .env("TL_LOCK_TIMEOUT", "1")
        .args(["pin", "x"])
        .output()
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap();
    let lock = fs::canonicalize(root).unwrap().join(".tl/wal/LOCK");
    assert!(
        last.contains(&format!("{} is still held", lock.display())),
        "{err}"
    );
    assert!(
        last.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert_eq!(last.matches("wal/LOCK").count(), 1, "{last}");
    assert!(!last.contains("//"), "{last}");
}

/// Runs `tl ARGS` in `dir` with stdout a pipe already closed by its reader.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(dir)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_pipe_ends_commands_quietly_and_keeps_the_undo_hint() {
    let d = Daemon::start(20);
    let root = d.root();
    write(&root, "a", "1");
    let first: serde_json::Value =
        serde_json::from_str(&ok(&root, &["checkpoint", "--json"])).unwrap();
    write(&root, "a", "2");
    ok(&root, &["checkpoint"]);
    for args in [
        &["daemon", "status"][..],
        &["status"][..],
        &["log"][..],
        &["pins"][..],
    ] {
        let out = into_closed_pipe(&root, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let out = into_closed_pipe(&root, &["replay", "--to", first["id"].as_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("undoes this"), "{err}");
    assert_eq!(fs::read_to_string(root.join("a")).unwrap(), "1");
}
