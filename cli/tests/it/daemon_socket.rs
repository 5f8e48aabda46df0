//! `.tl/daemon.sock` against hostile or broken clients: bounded memory and time,
//! private to the daemon's uid (RELIABILITY.md T20).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
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

/// Sends `line` to the socket at `sock` as uid and gid 65534 from a small
/// python3 client, which prints `connect failed: errno N (NAME)` or `reply:
/// LINE`, then keeps its connection open for `hold_s` seconds.
fn raw_request_as_nobody(sock: &Path, line: &str, hold_s: u32) -> Child {
    const CLIENT: &str = r#"
import errno, socket, sys, time
path, line, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(path)
except OSError as e:
    print("connect failed: errno %d (%s)" % (e.errno, errno.errorcode.get(e.errno, "?")), flush=True)
    sys.exit(0)
try:
    s.sendall((line + "\n").encode())
except OSError:
    pass  # refused before reading: the answer is read all the same
print("reply: " + s.makefile("rb").readline().decode().strip(), flush=True)
time.sleep(hold)
"#;
    Command::new("python3")
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .arg("-c")
        .arg(CLIENT)
        .arg(sock)
        .arg(line)
        .arg(hold_s.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 is needed by this test ({e}): apt-get install python3"))
}

/// The first line the client of [`raw_request_as_nobody`] printed.
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// Lets the file system give uid 65534 the socket: only the daemon's own
/// `SO_PEERCRED` check is left to refuse it.
fn open_the_socket_to_everyone(d: &Daemon) {
    let root = d.root();
    for (p, m) in [
        (d.dir.path().to_path_buf(), 0o755),
        (root.join(".tl"), 0o755),
        (root.join(".tl/daemon.sock"), 0o777),
    ] {
        fs::set_permissions(&p, fs::Permissions::from_mode(m)).unwrap();
    }
}

fn assert_root() {
    assert!(
        effective_uid() == 0,
        "this test connects as uid 65534 and needs to run as root"
    );
}

#[test]
fn a_client_of_another_uid_is_refused() {
    assert_root();
    let d = Daemon::start(50);
    let root = d.root();
    open_the_socket_to_everyone(&d);
    // The CLI of another uid refuses the store before it reaches the socket.
    let out = Command::new(env!("CARGO_BIN_EXE_tl"))
        .uid(65534)
        .gid(65534)
        .current_dir("/")
        .arg("-C")
        .arg(&root)
        .args(["daemon", "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "tl daemon status as uid 65534: {err}"
    );
    assert!(err.contains("is owned by uid 0, not by uid 65534"), "{err}");
    // The socket itself refuses a raw request.
    for op in ["stop", "status"] {
        let mut client = raw_request_as_nobody(
            &root.join(".tl/daemon.sock"),
            &format!(r#"{{"op": "{op}"}}"#),
            0,
        );
        let line = first_line(&mut client);
        client.wait().unwrap();
        let reply: serde_json::Value = serde_json::from_str(
            line.strip_prefix("reply: ")
                .unwrap_or_else(|| panic!("{op}: {line}")),
        )
        .unwrap();
        assert_eq!(reply["ok"], false, "{op} as uid 65534 was served: {reply}");
        assert!(
            reply["error"]
                .as_str()
                .unwrap()
                .contains("uid 65534 may not use this watcher (it runs as uid 0)"),
            "{op}: {reply}"
        );
        assert!(reply.get("pid").is_none(), "{op}: {reply}");
    }
    let st = daemon_status(&root);
    assert_eq!(st["running"], true);
    assert_eq!(st["pid"], d.pid());
    let _ = tl(&root, &["daemon", "stop"]);
}

#[test]
fn a_raw_pause_from_another_uid_is_refused_and_the_daemon_keeps_capturing() {
    assert_root();
    let d = Daemon::start(50);
    let root = d.root();
    let sock = root.join(".tl/daemon.sock");
    let pause = r#"{"op": "pause", "pid": 0}"#;
    // As `tl daemon start` leaves it: the 0700 `.tl/` keeps uid 65534 out.
    let mut client = raw_request_as_nobody(&sock, pause, 0);
    let line = first_line(&mut client);
    client.wait().unwrap();
    assert!(
        line.contains("connect failed") && line.contains("EACCES"),
        "{line}"
    );
    assert_eq!(daemon_status(&root)["paused"], false);
    // With the file system's door open, the uid check refuses it, and the
    // daemon is not paused while the refused client holds its connection.
    open_the_socket_to_everyone(&d);
    let mut client = raw_request_as_nobody(&sock, pause, 30);
    let line = first_line(&mut client);
    let reply: serde_json::Value = serde_json::from_str(
        line.strip_prefix("reply: ")
            .unwrap_or_else(|| panic!("{line}")),
    )
    .unwrap();
    assert_eq!(reply["ok"], false, "paused for uid 65534: {reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("uid 65534 may not use this watcher"),
        "{reply}"
    );
    let st = daemon_status(&root);
    assert_eq!(st["running"], true, "{st}");
    assert_eq!(st["paused"], false, "{st}");
    let took = durable_after(
        &root,
        "after.txt",
        "captured while the refused client waits",
    );
    assert!(
        took < Duration::from_secs(2),
        "a write took {took:?} to be captured"
    );
    ok(&root, &["checkpoint", "-m", "the log is the daemon's"]);
    let _ = client.kill();
    client.wait().unwrap();
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(
        log.contains("client connection refused: uid 65534 may not use this watcher"),
        "{log}"
    );
}

/// The effective uid of this process, from /proc (no extra dependency).
fn effective_uid() -> u32 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}
