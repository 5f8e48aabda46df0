//! Live capture end to end: the real binary, real inotify, temporary directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{ok, tl};
use tl_index::store::Store;

/// A project with a running daemon, stopped (or killed) on drop.
pub(crate) struct Daemon {
    pub(crate) dir: tempfile::TempDir,
}

impl Daemon {
    pub(crate) fn start(debounce_ms: u64) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        ok(dir.path(), &["init"]);
        ok(
            dir.path(),
            &["daemon", "start", "--debounce-ms", &debounce_ms.to_string()],
        );
        Daemon { dir }
    }
    pub(crate) fn root(&self) -> PathBuf {
        fs::canonicalize(self.dir.path()).unwrap()
    }
    pub(crate) fn pid(&self) -> u32 {
        fs::read_to_string(self.dir.path().join(".tl/daemon.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = tl(self.dir.path(), &["daemon", "stop"]);
    }
}

pub(crate) fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

/// True once the durable log's head equals the files on disk.
pub(crate) fn in_sync(root: &Path) -> bool {
    let Ok(store) = Store::open_read_only(root) else {
        return false;
    };
    store.checkpoints().last().is_some() && store.head() == &store.scan_worktree().unwrap()
}

pub(crate) fn wait_sync(root: &Path, within: Duration) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if in_sync(root) {
            return;
        }
        // A check scans the whole tree: do not starve the daemon of CPU.
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("the log never caught up with {}", root.display());
}

/// The time until `rel` with `content` is in the durable log.
pub(crate) fn durable_after(root: &Path, rel: &str, content: &str) -> Duration {
    let hash = tl_index::types::BlobHash::of(content.as_bytes());
    let t0 = Instant::now();
    write(root, rel, content);
    loop {
        let store = Store::open_read_only(root).unwrap();
        if store.head().get(rel.as_bytes()).map(|e| e.hash) == Some(hash) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{rel} never captured"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The id of a checkpoint taken now with `message` (through the daemon, when
/// one runs).
pub(crate) fn checkpoint_id(root: &Path, message: &str) -> String {
    let out: serde_json::Value =
        serde_json::from_str(&ok(root, &["checkpoint", "-m", message, "--json"])).unwrap();
    out["id"].as_str().unwrap().to_string()
}

#[test]
fn a_write_is_durable_within_the_debounce_plus_100_ms() {
    let d = Daemon::start(50);
    let root = d.root();
    let mut times: Vec<Duration> = (0..7)
        .map(|i| durable_after(&root, &format!("f{i}.txt"), &format!("v{i}")))
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    eprintln!("event-to-durable: {times:?}");
    assert!(
        median <= Duration::from_millis(150),
        "median {median:?} above debounce + 100 ms: {times:?}"
    );
}

#[test]
fn a_burst_of_10000_writes_across_100_new_directories_converges() {
    let d = Daemon::start(50);
    let root = d.root();
    for dir in 0..100 {
        for f in 0..100 {
            write(&root, &format!("d{dir}/f{f}"), &format!("{dir}/{f}"));
        }
    }
    wait_sync(&root, Duration::from_secs(40));
    // The replayed tree is the directory (the daemon lends replay the log).
    let out = tempfile::tempdir().unwrap();
    let into = out.path().join("r");
    ok(
        &root,
        &[
            "replay",
            "--to",
            "@999999999999",
            "--into",
            into.to_str().unwrap(),
        ],
    );
    for (dir, f) in [(0, 0), (57, 3), (99, 99)] {
        let rel = format!("d{dir}/f{f}");
        assert_eq!(
            fs::read(into.join(&rel)).unwrap(),
            fs::read(root.join(&rel)).unwrap()
        );
    }
    let n = fs::read_dir(&into).unwrap().count();
    assert_eq!(n, 100);
}

#[test]
fn deep_directory_renames_delete_recreate_and_editor_saves() {
    let d = Daemon::start(20);
    let root = d.root();
    write(&root, "a/b/c/d/e/f.txt", "deep");
    write(&root, "doc.txt", "v1");
    wait_sync(&root, Duration::from_secs(10));
    fs::rename(root.join("a"), root.join("z")).unwrap();
    write(&root, "z/b/c/d/e/g.txt", "after rename");
    fs::rename(root.join("z/b/c"), root.join("c2")).unwrap();
    write(&root, "c2/d/h.txt", "moved again");
    // Delete and recreate the same name.
    fs::remove_file(root.join("doc.txt")).unwrap();
    write(&root, "doc.txt", "v2");
    // Editor-style save: write a temporary file, rename it over.
    write(&root, ".doc.txt.swp", "v3");
    fs::rename(root.join(".doc.txt.swp"), root.join("doc.txt")).unwrap();
    wait_sync(&root, Duration::from_secs(10));
    let store = Store::open_read_only(&root).unwrap();
    assert!(store.head().contains_key(b"c2/d/h.txt".as_slice()));
    assert!(!store.head().contains_key(b"z/b/c/d/e/g.txt".as_slice()));
    assert!(
        store.head().contains_key(b"z/b/e/g.txt".as_slice()) || root.join("c2/d/e/g.txt").exists()
    );
    assert!(!store.head().contains_key(b"a/b/c/d/e/f.txt".as_slice()));
    assert!(!store.head().contains_key(b".doc.txt.swp".as_slice()));
}

#[test]
fn kill_9_during_a_burst_then_restart_captures_the_final_state() {
    let d = Daemon::start(10);
    let root = d.root();
    let pid = d.pid();
    write(&root, "first", "1");
    wait_sync(&root, Duration::from_secs(10));
    let writer = {
        let root = root.clone();
        std::thread::spawn(move || {
            for i in 0..3000 {
                write(&root, &format!("b{}/f{i}", i % 30), &format!("{i}"));
                if i % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(60));
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(
        !writer.is_finished(),
        "the kill should land during the burst"
    );
    writer.join().unwrap();
    // Stale pid file and socket are left behind; start replaces them.
    ok(&root, &["daemon", "start"]);
    assert_ne!(d.pid(), pid);
    wait_sync(&root, Duration::from_secs(20));
    let log = ok(&root, &["log"]);
    assert!(log.contains("gap"), "{log}");
}

#[test]
fn a_second_watcher_on_the_same_tree_is_refused() {
    let d = Daemon::start(50);
    let root = d.root();
    let pid = d.pid();
    let out = tl(&root, &["daemon", "start"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("already watched by pid {pid}")),
        "{err}"
    );
    let out = tl(&root, &["watch"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("already watched by pid {pid}")),
        "{err}"
    );
    // Commands still work, through the daemon.
    write(&root, "x", "1");
    let cp = ok(&root, &["checkpoint", "-m", "by hand"]);
    assert!(!cp.contains("no changes") || in_sync(&root), "{cp}");
    assert!(ok(&root, &["log"]).contains("by hand"));
    assert!(ok(&root, &["status"]).contains("No changes"));
    let st = ok(&root, &["daemon", "status"]);
    assert!(st.contains("inotify") && st.contains("RSS"), "{st}");
    ok(&root, &["daemon", "stop"]);
    assert!(!root.join(".tl/daemon.sock").exists());
    assert!(ok(&root, &["daemon", "status"]).contains("No daemon"));
}

pub(crate) fn daemon_status(root: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(root, &["daemon", "status", "--json"])).unwrap()
}

/// Waits until the daemon took the log back after a command it was paused for.
fn wait_resumed(root: &Path) {
    let end = Instant::now() + Duration::from_secs(10);
    while daemon_status(root)["paused"] != false {
        assert!(Instant::now() < end, "the daemon stayed paused");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replay_in_place_runs_beside_the_daemon_which_keeps_capturing() {
    let d = Daemon::start(20);
    let root = d.root();
    let pid = d.pid();
    write(&root, "a.txt", "first");
    let first = checkpoint_id(&root, "first");
    write(&root, "a.txt", "second");
    write(&root, "sub/b.txt", "new");
    wait_sync(&root, Duration::from_secs(10));

    let out = ok(&root, &["replay", "--to", &first]);
    assert!(out.contains("Replayed"), "{out}");
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "first");
    assert!(!root.join("sub/b.txt").exists());

    // Same daemon, writing again; the replay's own writes added nothing.
    wait_resumed(&root);
    let st = daemon_status(&root);
    assert_eq!(st["pid"], pid);
    let store = Store::open_read_only(&root).unwrap();
    let last = store.checkpoints().last().unwrap();
    assert_eq!(last.kind, tl_index::record::CommitKind::Restore);
    drop(store);
    durable_after(&root, "after.txt", "captured by the daemon");
    assert!(in_sync(&root));
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(log.contains("paused") && log.contains("resumed"), "{log}");
}

#[test]
fn pin_compact_and_restore_run_beside_the_daemon() {
    let d = Daemon::start(20);
    let root = d.root();
    write(&root, "x", "1");
    wait_sync(&root, Duration::from_secs(10));
    assert!(ok(&root, &["pin", "v1"]).contains("Pinned v1"));
    assert!(ok(&root, &["pins"]).contains("v1"));
    assert!(ok(&root, &["compact"]).contains("Wrote snapshot"));
    write(&root, "x", "2");
    wait_sync(&root, Duration::from_secs(10));
    ok(&root, &["restore", "x", "--at", "v1"]);
    assert_eq!(fs::read_to_string(root.join("x")).unwrap(), "1");
    wait_resumed(&root);
    durable_after(&root, "y", "still watched");
    assert!(in_sync(&root));
}

#[test]
fn daemon_status_json_gives_the_last_capture_in_rfc3339_utc() {
    let d = Daemon::start(0);
    let root = d.root();
    write(&root, "x", "1");
    let end = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let v = daemon_status(&root);
        if v["last_capture_ns"].as_i64().is_some() {
            break v;
        }
        assert!(Instant::now() < end, "nothing captured: {v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let t = v["last_capture"].as_str().unwrap();
    assert!(t.ends_with('Z') && t.contains('T'), "{t}");
    let human = ok(&root, &["daemon", "status"]);
    assert!(!human.contains("(last never)"), "{human}");
    ok(&root, &["daemon", "stop"]);
}

/// The id of the last checkpoint in the durable log.
fn last_id(root: &Path) -> String {
    let store = Store::open_read_only(root).unwrap();
    store.checkpoints().last().unwrap().id.clone()
}

#[test]
fn a_replay_under_a_daemon_with_nothing_pending_skips_the_capture_before_and_stays_undoable() {
    let d = Daemon::start(20);
    let root = d.root();
    write(&root, "a.txt", "first");
    let first = checkpoint_id(&root, "first");
    write(&root, "a.txt", "second");
    write(&root, "sub/b.txt", "new");
    wait_sync(&root, Duration::from_secs(10));
    let present = last_id(&root);

    let out: serde_json::Value =
        serde_json::from_str(&ok(&root, &["replay", "--to", &first, "--json"])).unwrap();
    // The daemon said the last checkpoint holds the tree: that is the state the
    // undo brings back, and no "before replay" checkpoint was taken.
    assert_eq!(out["undo"], present.as_str(), "{out}");
    assert_eq!(out["present"], "daemon", "{out}");
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(log.contains("captured=true"), "{log}");
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "first");
    assert!(!root.join("sub/b.txt").exists());
    let store = Store::open_read_only(&root).unwrap();
    let kinds: Vec<_> = store.checkpoints().iter().map(|c| c.kind).collect();
    let messages: Vec<_> = store
        .checkpoints()
        .iter()
        .filter_map(|c| c.message.clone())
        .collect();
    drop(store);
    assert_eq!(
        *kinds.last().unwrap(),
        tl_index::record::CommitKind::Restore
    );
    assert!(
        !messages.iter().any(|m| m.starts_with("before replay")),
        "{messages:?}"
    );

    // Undo: the edits come back, through the daemon again.
    wait_resumed(&root);
    ok(&root, &["replay", "--to", &present]);
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "second");
    assert_eq!(fs::read_to_string(root.join("sub/b.txt")).unwrap(), "new");
    wait_resumed(&root);
    durable_after(&root, "after.txt", "still watched");
    assert!(in_sync(&root));
}

#[test]
fn a_replay_under_a_daemon_that_skipped_a_file_captures_the_present_first() {
    let d = Daemon::start(20);
    let root = d.root();
    write(&root, "a.txt", "first");
    let first = checkpoint_id(&root, "first");
    ok(&root, &["config", "set", "max_file_bytes", "64"]);
    ok(&root, &["daemon", "stop"]);
    ok(&root, &["daemon", "start", "--debounce-ms", "20"]);
    // Too large to capture: the daemon skips it and so cannot vouch for the tree.
    write(&root, "big.bin", &"x".repeat(1000));
    write(&root, "a.txt", "second");
    let end = Instant::now() + Duration::from_secs(10);
    while daemon_status(&root)["skipped"]
        .as_array()
        .is_none_or(|s| s.is_empty())
    {
        assert!(Instant::now() < end, "{}", daemon_status(&root));
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = tl(&root, &["replay", "--to", &first, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["present"], "scanned", "{out}");
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(log.contains("captured=false"), "{log}");
    // The file it could not capture is left as it is.
    assert_eq!(fs::read(root.join("big.bin")).unwrap().len(), 1000);
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "first");
}
