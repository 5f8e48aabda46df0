//! The live loop with the simulated backend: whatever the stream of events
//! (dropped, reordered, for ignored paths, with or without an overflow notice),
//! the captured state converges to the disk after the rescan, and a gap is
//! recorded exactly when events were reported lost.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tl_index::record::CommitKind;
use tl_index::store::Store;
use tl_watch::sim::{perturb, Perturbation, SimBackend, SimHandle};
use tl_watch::{DebounceConfig, Event};

use super::Live;

fn live(root: &Path) -> (Live<SimBackend>, SimHandle) {
    let store = Store::init(root).unwrap();
    let (backend, handle) = SimBackend::new();
    let cfg = DebounceConfig {
        quiet: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    };
    let l = Live::new(store, backend, cfg, None, Arc::new(AtomicBool::new(false)));
    (l, handle)
}

/// Applies a deterministic mix of writes, deletes and renames; returns the events
/// a perfect watcher would report.
fn churn(root: &Path, seed: u64, n: usize) -> Vec<Event> {
    let mut x = seed.max(1);
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut events = Vec::new();
    for i in 0..n {
        let dir = format!("d{}", rnd() % 4);
        let name = format!("{dir}/f{}", rnd() % 12);
        let p = root.join(&name);
        match rnd() % 5 {
            0 if p.exists() => {
                fs::remove_file(&p).unwrap();
            }
            1 if p.exists() => {
                let to = format!("d{}/r{}", rnd() % 4, rnd() % 12);
                fs::create_dir_all(root.join(&to).parent().unwrap()).unwrap();
                fs::rename(&p, root.join(&to)).unwrap();
                events.push(Event::Changed(to.into_bytes()));
            }
            _ => {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, format!("{seed} {i}")).unwrap();
                events.push(Event::Changed(dir.clone().into_bytes()));
            }
        }
        events.push(Event::Changed(name.into_bytes()));
    }
    events
}

fn converged(l: &Live<SimBackend>) -> bool {
    l.store().head() == &l.store().scan_worktree().unwrap()
}

#[test]
fn converges_after_rescan_whatever_the_perturbation() {
    for seed in 1..9u64 {
        let d = tempfile::tempdir().unwrap();
        let (mut l, h) = live(d.path());
        l.catch_up(None).unwrap();
        let overflow = seed % 2 == 0;
        let p = Perturbation {
            seed,
            drop_one_in: 3,
            overflow_on_drop: overflow,
            reorder_window: 8,
            ignored_one_in: 4,
        };
        let events = churn(d.path(), seed, 60);
        h.send(perturb(events, &p));
        l.flush().unwrap();
        let gaps = l.store().gaps().len();
        assert_eq!(
            gaps,
            usize::from(overflow),
            "seed {seed}: a gap iff loss was reported"
        );
        if !overflow {
            // Silent drops: only a rescan (as at start-up) repairs them.
            l.watcher_mut()
                .request_rescan(Vec::new(), "reconciliation", false);
            l.flush().unwrap();
        }
        assert!(
            converged(&l),
            "seed {seed}: captured state differs from disk"
        );
    }
}

#[test]
fn events_for_ignored_or_unchanged_paths_commit_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (mut l, h) = live(d.path());
    fs::write(d.path().join("a"), "1").unwrap();
    l.catch_up(None).unwrap();
    // The loop's store is lean (one checkpoint in memory): count by sequence.
    let n = l.store().seq();
    h.send([
        Event::Changed(b".git/index".to_vec()),
        Event::Changed(b"a".to_vec()),
    ]);
    l.flush().unwrap();
    assert_eq!(l.store().seq(), n);
    fs::write(d.path().join("a"), "2").unwrap();
    h.send([Event::Changed(b"a".to_vec())]);
    l.flush().unwrap();
    assert_eq!(l.store().seq(), n + 1);
    assert!(converged(&l));
}

/// A live loop serving `.tl/daemon.sock`, and its stop flag.
fn live_with_socket(root: &Path) -> (Live<SimBackend>, SimHandle, Arc<AtomicBool>) {
    let store = Store::init(root).unwrap();
    let listener = UnixListener::bind(tl_index::layout::Layout::new(root).daemon_socket()).unwrap();
    listener.set_nonblocking(true).unwrap();
    let (backend, handle) = SimBackend::new();
    let cfg = DebounceConfig {
        quiet: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let l = Live::new(store, backend, cfg, Some(listener), stop.clone());
    (l, handle, stop)
}

/// Sends `req`, lets the loop answer, returns the reply and the connection.
fn ask(l: &mut Live<SimBackend>, root: &Path, req: Value) -> (Value, UnixStream) {
    let conn = UnixStream::connect(tl_index::layout::Layout::new(root).daemon_socket()).unwrap();
    writeln!(&conn, "{req}").unwrap();
    l.turn().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).unwrap();
    (serde_json::from_str(&line).unwrap(), conn)
}

fn content_of(l: &Live<SimBackend>, rel: &str) -> Option<tl_index::types::BlobHash> {
    l.store().head().get(rel.as_bytes()).map(|e| e.hash)
}

#[test]
fn a_lease_lends_the_log_and_its_end_captures_what_changed_meanwhile() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a"), "1").unwrap();
    let (mut l, h, _stop) = live_with_socket(root);
    l.catch_up(None).unwrap();
    assert!(Store::open(root).is_err(), "the loop holds the writer lock");

    // Pending events are captured before the log is lent.
    fs::write(root.join("p"), "pending").unwrap();
    h.send([Event::Changed(b"p".to_vec())]);
    let (v, lease) = ask(&mut l, root, json!({"op": "pause", "pid": 4242}));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["pid"], std::process::id());
    assert!(l.paused());

    // The holder writes the log itself.
    {
        let mut s = Store::open(root).expect("the lock is free once paused");
        assert!(s.head().contains_key(b"p".as_slice()));
        fs::write(root.join("b"), "by the holder").unwrap();
        s.checkpoint(CommitKind::Manual, Some("holder".into()))
            .unwrap();
    }
    // Changes during the pause are read, not captured.
    fs::write(root.join("a"), "2").unwrap();
    fs::write(root.join("c"), "3").unwrap();
    h.send([
        Event::Changed(b"b".to_vec()),
        Event::Changed(b"a".to_vec()),
        Event::Changed(b"c".to_vec()),
    ]);
    for _ in 0..20 {
        l.turn().unwrap();
    }
    assert!(l.paused());
    let (v, _) = ask(&mut l, root, json!({"op": "status"}));
    assert_eq!(
        (v["paused"].clone(), v["paused_by"].clone()),
        (json!(true), json!(4242))
    );
    for op in ["checkpoint", "flush", "pause"] {
        let (v, _) = ask(&mut l, root, json!({"op": op}));
        assert_eq!(v["ok"], false, "{op}: {v}");
        let err = v["error"].as_str().unwrap();
        assert!(
            err.contains("paused while pid 4242 writes; retry"),
            "{op}: {err}"
        );
    }

    // The holder goes away without a word (as when killed): the loop takes the
    // log back and captures what it missed.
    drop(lease);
    for _ in 0..100 {
        if !l.paused() {
            break;
        }
        l.turn().unwrap();
    }
    assert!(!l.paused(), "the lease's end was not noticed");
    assert!(
        Store::open(root).is_err(),
        "the loop holds the writer lock again"
    );
    // History as another process reads it (the loop's store keeps one checkpoint).
    let history = Store::open_read_only(root).unwrap();
    let cps = history.checkpoints();
    assert_eq!(cps[cps.len() - 2].message.as_deref(), Some("holder"));
    assert_eq!(cps.last().unwrap().kind, CommitKind::Auto);
    assert_eq!(
        content_of(&l, "a"),
        Some(tl_index::types::BlobHash::of(b"2"))
    );
    assert!(content_of(&l, "c").is_some());
    assert!(converged(&l));
    let (v, _) = ask(&mut l, root, json!({"op": "status"}));
    assert_eq!(v["paused"], false);
}

#[test]
fn stop_works_while_paused() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let (mut l, _h, stop) = live_with_socket(root);
    l.catch_up(None).unwrap();
    let (v, _lease) = ask(&mut l, root, json!({"op": "pause", "pid": 1}));
    assert_eq!(v["ok"], true, "{v}");
    let (v, _) = ask(&mut l, root, json!({"op": "stop"}));
    assert_eq!(v["ok"], true, "{v}");
    assert!(stop.load(Ordering::SeqCst));
    l.run().unwrap();
    assert!(l.paused(), "the holder still has the log");
}

#[test]
fn a_peer_of_another_uid_is_refused() {
    assert!(super::conn::check_peer_uid(1000, 1000).is_ok());
    let e = super::conn::check_peer_uid(1001, 1000).unwrap_err();
    assert!(e.contains("uid 1001 may not use this watcher"), "{e}");
}

/// A live loop whose runaway budget is 100 files a minute.
fn live_with_small_budget(root: &Path) -> (Live<SimBackend>, SimHandle) {
    drop(Store::init(root).unwrap());
    let config = root.join(".tl/config.toml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "runaway_files_per_minute = 60000",
        "runaway_files_per_minute = 100",
    );
    fs::write(&config, text).unwrap();
    let store = Store::open(root).unwrap();
    let (backend, handle) = SimBackend::new();
    let cfg = DebounceConfig {
        quiet: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    };
    let l = Live::new(store, backend, cfg, None, Arc::new(AtomicBool::new(false)));
    (l, handle)
}

fn write_many(root: &Path, dir: &str, from: usize, n: usize) {
    fs::create_dir_all(root.join(dir)).unwrap();
    for i in from..from + n {
        fs::write(root.join(dir).join(format!("f{i}")), i.to_string()).unwrap();
    }
}

fn count_under(l: &Live<SimBackend>, prefix: &str) -> usize {
    l.store()
        .head()
        .keys()
        .filter(|p| p.starts_with(prefix.as_bytes()))
        .count()
}

#[test]
fn a_generator_that_overflows_the_watcher_is_counted_by_what_the_rescan_changed() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let (mut l, h) = live_with_small_budget(root);
    fs::write(root.join("hand.txt"), "v0").unwrap();
    l.catch_up(None).unwrap();
    // An overflow: no path named, only a rescan of the whole tree.
    write_many(root, "gen/out", 0, 150);
    let overflow = || Event::Rescan {
        dir: Vec::new(),
        reason: "inotify queue overflow".into(),
        lost: true,
    };
    h.send([overflow()]);
    l.flush().unwrap();
    assert_eq!(count_under(&l, "gen/out/"), 150, "captured once");
    let dirs: Vec<String> = l.hold_statuses().into_iter().map(|h| h.dir).collect();
    assert_eq!(dirs, ["gen/out"]);

    // Held: the next whole-tree rescan captures around it.
    write_many(root, "gen/out", 150, 50);
    fs::write(root.join("hand.txt"), "v1").unwrap();
    h.send([overflow()]);
    l.flush().unwrap();
    assert_eq!(count_under(&l, "gen/out/"), 150, "not captured while held");
    let hand = l.store().head()[&b"hand.txt"[..]].hash;
    assert_eq!(hand, tl_index::types::BlobHash::of(b"v1"));

    // Resumed: captured once, and the hold is in the log.
    let resumed = l.resume("gen/out").unwrap();
    assert_eq!(resumed.checkpoint.map(|c| c.added), Some(50));
    assert_eq!(count_under(&l, "gen/out/"), 200);
    assert!(l.hold_statuses().is_empty());
    let holds = l.store().holds();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].dir, b"gen/out");
    assert_eq!(holds[0].files_per_minute, 150);
    assert_eq!(holds[0].ended, "resumed by tl resume");
    assert!(converged(&l));
}

#[test]
fn a_new_directory_reported_as_a_rescan_counts_its_files() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let (mut l, h) = live_with_small_budget(root);
    l.catch_up(None).unwrap();
    // A new directory is watched, then reported for a scan: its 120 files
    // come as one rescan of it, not 120 paths.
    write_many(root, "vendor/pkg", 0, 120);
    h.send([Event::Rescan {
        dir: b"vendor/pkg".to_vec(),
        reason: "new directory".into(),
        lost: false,
    }]);
    l.flush().unwrap();
    let dirs: Vec<String> = l.hold_statuses().into_iter().map(|h| h.dir).collect();
    assert_eq!(dirs, ["vendor/pkg"]);
    assert!(
        l.resume("vendor").is_err(),
        "only the held directory resumes"
    );
}

#[test]
fn a_lease_held_open_past_an_hour_is_taken_back_by_the_clock() {
    use std::sync::Mutex;
    use std::time::Instant;
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a"), "1").unwrap();
    let (mut l, h, _stop) = live_with_socket(root);
    let start = Instant::now();
    let offset = Arc::new(Mutex::new(Duration::ZERO));
    let o = offset.clone();
    l.set_clock(Box::new(move || start + *o.lock().unwrap()));
    l.catch_up(None).unwrap();

    // A holder that closed its store but hangs on to the connection.
    let (v, _lease) = ask(&mut l, root, json!({"op": "pause", "pid": 4242}));
    assert_eq!(v["ok"], true, "{v}");
    drop(Store::open(root).expect("the lock is free once paused"));
    fs::write(root.join("a"), "2").unwrap();
    h.send([Event::Changed(b"a".to_vec())]);
    *offset.lock().unwrap() = Duration::from_secs(3599);
    for _ in 0..5 {
        l.turn().unwrap();
    }
    assert!(l.paused(), "a lease under an hour is kept");
    *offset.lock().unwrap() = Duration::from_secs(3600);
    for _ in 0..50 {
        if !l.paused() {
            break;
        }
        l.turn().unwrap();
    }
    assert!(!l.paused(), "the hour's limit did not end the lease");
    assert!(Store::open(root).is_err(), "the loop holds the lock again");
    assert_eq!(
        content_of(&l, "a"),
        Some(tl_index::types::BlobHash::of(b"2")),
        "what changed during the pause is captured"
    );
}
