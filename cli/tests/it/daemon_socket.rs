//! `.tl/daemon.sock` against hostile or broken clients: bounded memory and time,
//! private to the daemon's uid (RELIABILITY.md T20).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon::{daemon_status, durable_after, Daemon};
use crate::util::{ok, tl};

fn rss_kb(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn connect(root: &Path) -> UnixStream {
    UnixStream::connect(root.join(".tl/daemon.sock")).unwrap()
}

#[test]
fn an_oversized_request_is_dropped_and_the_daemon_stays_small() {
    let d = Daemon::start(50);
    let root = d.root();
    let before = rss_kb(d.pid());
    let conn = connect(&root);
    conn.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    let mut refused = false;
    // 256 MiB without a newline: the daemon must stop reading long before.
    for _ in 0..256 {
        match (&conn).write_all(&chunk) {
            Ok(()) => sent += chunk.len(),
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    assert!(
        refused,
        "the daemon read {sent} bytes of one request without dropping it"
    );
    let after = rss_kb(d.pid());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    // Still serving.
    assert_eq!(daemon_status(&root)["running"], true);
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(log.contains("a request over 4096 bytes"), "{log}");
}

#[test]
fn a_slow_client_does_not_delay_captures_or_status() {
    let d = Daemon::start(50);
    let root = d.root();
    let conn = connect(&root);
    // One byte a second, each within any per-read timeout, for up to 20 s.
    let slow = {
        let conn = conn.try_clone().unwrap();
        std::thread::spawn(move || {
            for b in br#"{"op": "status"     "#.iter().cycle().take(20) {
                if (&conn).write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let took = durable_after(&root, "during.txt", "captured meanwhile");
    assert!(
        took < Duration::from_secs(2),
        "a write took {took:?} to be captured"
    );
    let t0 = Instant::now();
    ok(&root, &["status"]);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "`tl status` took {:?}",
        t0.elapsed()
    );
    // The slow client is told, then dropped, at its deadline.
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).unwrap();
    assert!(line.contains("no complete request within 5 s"), "{line}");
    slow.join().unwrap();
}

#[test]
fn a_malformed_request_gets_an_error_and_the_daemon_goes_on() {
    let d = Daemon::start(50);
    let root = d.root();
    for bad in ["not json", "[1, 2]", "{\"op\": \"nonsense\"}"] {
        let conn = connect(&root);
        writeln!(&conn, "{bad}").unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], false, "{bad}: {v}");
    }
    assert_eq!(daemon_status(&root)["running"], true);
}

#[test]
fn the_socket_is_private_under_umask_000() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &str| {
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("umask 000 && exec \"$0\" {args}"))
            .arg(env!("CARGO_BIN_EXE_tl"))
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "tl {args}");
    };
    run("init");
    run("daemon start");
    let mode = |p: &str| {
        fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let (sock, tl_dir) = (mode(".tl/daemon.sock"), mode(".tl"));
    ok(dir.path(), &["daemon", "stop"]);
    assert_eq!(sock, 0o600, "socket mode {sock:o}");
    assert_eq!(tl_dir, 0o700, ".tl mode {tl_dir:o}");
}

#[test]
fn a_client_of_another_uid_is_refused() {
    assert!(
        effective_uid() == 0,
        "this test connects as uid 65534 and needs to run as root"
    );
    let d = Daemon::start(50);
    let root = d.root();
    // Let the file system allow it: only the daemon's own check may refuse.
    for (p, m) in [
        (d.dir.path().to_path_buf(), 0o755),
        (root.join(".tl"), 0o755),
        (root.join(".tl/daemon.sock"), 0o777),
    ] {
        fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
    }
    for action in ["stop", "status"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tl"))
            .uid(65534)
            .gid(65534)
            .current_dir("/")
            .arg("-C")
            .arg(&root)
            .args(["daemon", action])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{action} as uid 65534 was served");
        assert!(
            err.contains("uid 65534 may not use this watcher"),
            "{action}: {err}"
        );
    }
    let st = daemon_status(&root);
    assert_eq!(st["running"], true);
    assert_eq!(st["pid"], d.pid());
    let _ = tl(&root, &["daemon", "stop"]);
}

/// The effective uid of this process, from /proc (no extra dependency).
fn effective_uid() -> u32 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}
