//! GC beside the daemon (issue 12): the daemon runs the GC itself when the log
//! grew, through the same code as `tl gc`, and keeps capturing; `tl gc` run
//! while the daemon captures borrows its lease, and nothing written meanwhile is
//! lost.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::daemon::{durable_after, in_sync, wait_sync, write, Daemon};
use crate::util::{json, ok};

/// Keeps only what is always kept: the newest state and the pins.
const KEEP_NOTHING: &str = "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\n\
                            keep-minutely = \"0s\"\nkeep-hourly = \"0s\"\nkeep-daily = \"0s\"\n";

/// A project with `config` and a daemon started on it.
fn daemon_with(config: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["init"]);
    fs::write(dir.path().join(".tl/config.toml"), config).unwrap();
    ok(dir.path(), &["daemon", "start", "--debounce-ms", "20"]);
    Daemon { dir }
}

fn states(root: &Path) -> usize {
    json(root, &["log", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "checkpoint")
        .count()
}

#[test]
fn the_daemon_runs_the_gc_itself_once_the_log_grew_and_keeps_capturing() {
    let d = daemon_with(&format!("gc_every_bytes = 2000\n{KEEP_NOTHING}"));
    let root = d.root();
    for i in 0..6 {
        durable_after(&root, &format!("f{i}.txt"), &format!("{i}\n").repeat(300));
    }
    // The idle work runs 2 s after the last capture; the GC then runs.
    let log_path = root.join(".tl/daemon.log");
    let end = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("GC done")
    {
        assert!(Instant::now() < end, "the daemon never ran the GC");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("dropped="), "{log}");
    assert!(states(&root) < 6, "the daemon's GC thinned the history");
    // The daemon took the log back and captures on, and says when it ran the GC.
    durable_after(&root, "after.txt", "captured after the GC");
    let status = json(&root, &["daemon", "status", "--json"]);
    assert!(status["last_gc"]["kept"].as_u64().is_some(), "{status}");
    assert!(ok(&root, &["daemon", "status"]).contains("last GC"));
    assert!(in_sync(&root));
    assert!(ok(&root, &["fsck", "--deep"]).contains("OK"));
}

#[test]
fn tl_gc_while_the_daemon_captures_loses_nothing_written_meanwhile() {
    let d = daemon_with(KEEP_NOTHING);
    let root = d.root();
    write(&root, "base.txt", "base");
    wait_sync(&root, Duration::from_secs(10));
    let writer_root = root.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..150 {
            write(
                &writer_root,
                &format!("w/{}.txt", i % 40),
                &format!("version {i}\n"),
            );
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    let mut ran = 0;
    while !writer.is_finished() {
        let out = ok(&root, &["gc"]);
        assert!(
            out.contains("Thinned") || out.contains("Nothing to do"),
            "{out}"
        );
        ran += 1;
    }
    writer.join().unwrap();
    assert!(ran >= 2, "only {ran} GCs ran while writing");
    // Everything written during the GCs is captured: the log's head is the disk.
    wait_sync(&root, Duration::from_secs(20));
    for i in 110..150 {
        let want = format!("version {i}\n");
        let got = ok(
            &root,
            &["show", &format!("w/{}.txt", i % 40), "--at", "now"],
        );
        assert_eq!(got, want);
    }
    assert!(ok(&root, &["fsck", "--deep"]).contains("OK"));
}
