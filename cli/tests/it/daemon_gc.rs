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

/// How many GCs the daemon's log says it ran.
fn gcs_done(root: &Path) -> usize {
    fs::read_to_string(root.join(".tl/daemon.log"))
        .unwrap_or_default()
        .matches("GC done")
        .count()
}

/// Waits until the daemon's log says it ran `n` GCs.
fn wait_gcs(root: &Path, n: usize) {
    let end = Instant::now() + Duration::from_secs(30);
    while gcs_done(root) < n {
        assert!(Instant::now() < end, "the daemon never ran GC {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_gc_that_found_nothing_to_drop_is_not_run_again_after_every_capture() {
    // Due by growth after the first capture; the default policy keeps every
    // recent state, so the GC finds nothing to drop and records nothing.
    let d = daemon_with("gc_every_bytes = 2000\n");
    let root = d.root();
    durable_after(&root, "big.txt", &noise(1, 6000));
    wait_gcs(&root, 1);
    assert!(
        fs::read_to_string(root.join(".tl/daemon.log"))
            .unwrap()
            .contains("dropped=0"),
        "the first GC dropped nothing"
    );
    // Small captures after it, each followed by the idle moment (2 s) when a
    // GC would start: none is due until the log grows by 2000 bytes more.
    for i in 0..3 {
        durable_after(&root, &format!("small{i}.txt"), &format!("small {i}"));
        std::thread::sleep(Duration::from_millis(2600));
    }
    assert_eq!(
        gcs_done(&root),
        1,
        "a GC that found nothing ran again after a small capture"
    );
    // Once it grew on, the GC is due again.
    durable_after(&root, "big2.txt", &noise(2, 6000));
    wait_gcs(&root, 2);
    assert!(in_sync(&root));
}

/// `len` hex digits zstd cannot shrink much, from `seed`.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap()
        })
        .collect()
}

#[test]
fn tl_daemon_stop_cuts_the_daemons_gc_and_leaves_the_log_as_it_was() {
    // 40,000 files to carry into a new log: a GC of a few seconds.
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    ok(&root, &["init"]);
    for d in 0..40 {
        for f in 0..1000 {
            write(
                &root,
                &format!("d{d}/f{f}.txt"),
                &noise(d * 1000 + f + 7, 200),
            );
        }
    }
    ok(&root, &["checkpoint", "-m", "many files"]);
    write(&root, "changing.txt", "one");
    ok(&root, &["checkpoint", "-m", "one to drop"]);
    fs::write(
        root.join(".tl/config.toml"),
        format!("gc_every_bytes = 2000\n{KEEP_NOTHING}"),
    )
    .unwrap();
    ok(&root, &["daemon", "start", "--debounce-ms", "20"]);
    let d = Daemon { dir };
    durable_after(&root, "trigger.txt", "a capture, then the idle GC");
    let before = states(&root);
    let log_path = root.join(".tl/daemon.log");
    let end = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("running the GC")
    {
        assert!(Instant::now() < end, "the daemon never started its GC");
        std::thread::sleep(Duration::from_millis(20));
    }
    let asked = Instant::now();
    ok(&root, &["daemon", "stop"]);
    let took = asked.elapsed();
    eprintln!("tl daemon stop during the GC took {took:?}");
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("the GC was stopped before it replaced the log"),
        "the stop waited for the GC instead of cutting it ({took:?}):\n{log}"
    );
    assert!(!log.contains("GC done"), "{log}");
    assert!(
        !root.join(".tl/gc").exists(),
        "what the GC wrote was removed"
    );
    assert_eq!(states(&root), before, "the log is as it was");
    assert!(in_sync(&root));
    assert!(ok(&root, &["fsck", "--deep"]).contains("OK"));
    // The GC runs again at the next start's first idle moment and thins.
    ok(&root, &["daemon", "start", "--debounce-ms", "20"]);
    durable_after(&root, "trigger2.txt", "another capture");
    wait_gcs(&root, 1);
    assert!(states(&root) < before);
    drop(d);
}
