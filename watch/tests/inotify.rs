//! The inotify backend on real temporary directories.
#![cfg(target_os = "linux")]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use tl_watch::inotify::InotifyBackend;
use tl_watch::{Backend, Event};

/// Polls until `pred` holds for the events gathered so far (or 5 s pass).
fn gather(b: &mut InotifyBackend, pred: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let mut all = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        b.poll(Duration::from_millis(20), &mut all).unwrap();
        if pred(&all) {
            return all;
        }
    }
    panic!("condition not met; events: {all:?}");
}

fn changed(evs: &[Event], p: &str) -> bool {
    evs.iter()
        .any(|e| matches!(e, Event::Changed(x) if x == p.as_bytes()))
}

fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

#[test]
fn reports_writes_and_ignores_tl_and_git() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join(".git")).unwrap();
    fs::create_dir_all(d.path().join(".tl")).unwrap();
    fs::create_dir_all(d.path().join("src")).unwrap();
    let mut b = InotifyBackend::new(d.path()).unwrap();
    assert_eq!(b.watched_dirs(), 2, "root and src; never .tl nor .git");
    write(d.path(), ".git/index", "x");
    write(d.path(), ".tl/x", "x");
    write(d.path(), "src/a.rs", "fn a() {}");
    let evs = gather(&mut b, |e| changed(e, "src/a.rs"));
    assert!(
        evs.iter().all(
            |e| !matches!(e, Event::Changed(p) if p.starts_with(b".git") || p.starts_with(b".tl"))
        ),
        "{evs:?}"
    );
}

#[test]
fn root_gitignore_filters_events() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join(".gitignore"), "target/\n*.o\n").unwrap();
    fs::create_dir_all(d.path().join("target/debug")).unwrap();
    let mut b = InotifyBackend::new(d.path()).unwrap();
    assert_eq!(b.watched_dirs(), 1);
    write(d.path(), "x.o", "o");
    write(d.path(), "target/debug/bin", "o");
    write(d.path(), "main.c", "c");
    let evs = gather(&mut b, |e| changed(e, "main.c"));
    assert!(!changed(&evs, "x.o"), "{evs:?}");
}

#[test]
fn new_directories_are_watched_recursively() {
    let d = tempfile::tempdir().unwrap();
    let mut b = InotifyBackend::new(d.path()).unwrap();
    fs::create_dir_all(d.path().join("a/b/c")).unwrap();
    let _ = gather(&mut b, |e| changed(e, "a"));
    // Whatever was created before the watches existed is covered by the caller's
    // scan of "a"; from now on everything below is watched.
    assert_eq!(b.watched_dirs(), 4);
    write(d.path(), "a/b/c/deep.txt", "x");
    gather(&mut b, |e| changed(e, "a/b/c/deep.txt"));
}

#[test]
fn renamed_directories_keep_reporting_under_their_new_name() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("old/x/y")).unwrap();
    let mut b = InotifyBackend::new(d.path()).unwrap();
    fs::rename(d.path().join("old"), d.path().join("new")).unwrap();
    gather(&mut b, |e| changed(e, "old") && changed(e, "new"));
    write(d.path(), "new/x/y/f", "1");
    gather(&mut b, |e| changed(e, "new/x/y/f"));
    // Moved out of the tree: no longer watched.
    let out = tempfile::tempdir().unwrap();
    fs::rename(d.path().join("new"), out.path().join("gone")).unwrap();
    gather(&mut b, |e| changed(e, "new"));
    assert_eq!(b.watched_dirs(), 1);
    // Moved into the tree: watched.
    fs::rename(out.path().join("gone"), d.path().join("back")).unwrap();
    gather(&mut b, |e| changed(e, "back"));
    assert_eq!(b.watched_dirs(), 4);
    write(d.path(), "back/x/f", "2");
    gather(&mut b, |e| changed(e, "back/x/f"));
}

#[test]
fn editor_save_and_delete_recreate_are_reported() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "doc.txt", "v1");
    let mut b = InotifyBackend::new(d.path()).unwrap();
    write(d.path(), ".doc.txt.swp", "v2");
    fs::rename(d.path().join(".doc.txt.swp"), d.path().join("doc.txt")).unwrap();
    gather(&mut b, |e| changed(e, "doc.txt"));
    fs::remove_file(d.path().join("doc.txt")).unwrap();
    write(d.path(), "doc.txt", "v3");
    let evs = gather(&mut b, |e| {
        e.iter()
            .filter(|x| changed(std::slice::from_ref(x), "doc.txt"))
            .count()
            >= 2
    });
    assert!(changed(&evs, "doc.txt"));
}

#[test]
fn queue_overflow_asks_for_a_lossy_rescan() {
    let d = tempfile::tempdir().unwrap();
    let mut b = InotifyBackend::new(d.path()).unwrap();
    // The default queue holds 16,384 events: three per file overflows it.
    for i in 0..7000 {
        fs::write(d.path().join(format!("f{i}")), "x").unwrap();
    }
    let evs = gather(&mut b, |e| {
        e.iter()
            .any(|x| matches!(x, Event::Rescan { dir, lost: true, .. } if dir.is_empty()))
    });
    assert!(evs.len() > 1000);
}

#[test]
fn watch_limit_gives_a_message_naming_the_sysctl_and_falls_back_to_scans() {
    let d = tempfile::tempdir().unwrap();
    let mut b = InotifyBackend::with_limit(d.path(), Some(1)).unwrap();
    assert!(b.next_timer().is_none());
    fs::create_dir(d.path().join("x")).unwrap();
    let evs = gather(&mut b, |e| {
        e.iter()
            .any(|x| matches!(x, Event::Rescan { dir, lost: true, .. } if dir == b"x"))
    });
    let msg = evs
        .iter()
        .find_map(|e| match e {
            Event::Warning(w) => Some(w.clone()),
            _ => None,
        })
        .unwrap();
    assert!(msg.contains("fs.inotify.max_user_watches"), "{msg}");
    assert!(b.next_timer().is_some(), "periodic scans are scheduled");
    assert_eq!(b.watched_dirs(), 1);
}

#[test]
fn deleting_the_root_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir_all(root.join("sub")).unwrap();
    let mut b = InotifyBackend::new(&root).unwrap();
    fs::remove_dir_all(&root).unwrap();
    gather(&mut b, |e| e.contains(&Event::RootGone));
}
