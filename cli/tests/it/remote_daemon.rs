//! The daemon ships by itself to remotes added with auto on (issue 15): a
//! capture reaches the remote within the push interval and a clone has it; an
//! idle daemon makes no request at all; a failing remote never blocks capture,
//! shows its error in `tl daemon status`, and catches up once it answers again.
//! Real daemon, real inotify, a file:// remote and a real moto S3 server behind
//! the fault proxy, all on 127.0.0.1, every wait bounded.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fault_proxy::{FaultProxy, Mode};
use crate::support::s3::{MotoServer, S3Env};
use crate::util::{ok, set_config, tl};

/// `tl daemon status --json` of `root`, run with `env`.
fn status(env: Option<&S3Env>, root: &Path) -> Value {
    let out = match env {
        Some(env) => env.tl(root, &["daemon", "status", "--json"]),
        None => tl(root, &["daemon", "status", "--json"]),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls the daemon's status until `done` holds for its first remote, at most
/// `within`; returns that remote's status.
fn wait_remote(
    env: Option<&S3Env>,
    root: &Path,
    within: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = status(env, root);
        let r = s["remotes"][0].clone();
        if done(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; last status: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn up_to_date(r: &Value) -> bool {
    r["lag_s"].is_null() && r["last_push_ns"].is_i64()
}

/// Stops the daemon of `root` on drop (with `env`, so a stop never waits on a
/// remote).
struct Stop<'a>(&'a Path);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = tl(self.0, &["daemon", "stop"]);
    }
}

#[test]
fn the_daemon_pushes_a_capture_to_an_auto_remote_within_the_interval_and_a_clone_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let usb = tmp.path().join("usb");
    fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    set_config(&root, "push_interval_s", "1");
    let url = format!("file://{}", usb.display());
    ok(&root, &["remote", "add", "usb", &url]);
    ok(&root, &["daemon", "start", "--debounce-ms", "50"]);
    let _stop = Stop(&root);

    fs::write(root.join("notes.txt"), "written under the daemon\n").unwrap();
    let start = Instant::now();
    let r = wait_remote(
        None,
        &root,
        Duration::from_secs(30),
        "the capture reaches the remote",
        |r| up_to_date(r) && r["last_error"].is_null(),
    );
    assert_eq!(r["name"], "usb");
    let lag = start.elapsed();
    let text = ok(&root, &["daemon", "status"]);
    assert!(
        text.contains("remote usb") && text.contains("up to date"),
        "{text}"
    );

    let clone = tmp.path().join("clone");
    ok(tmp.path(), &["clone", &url, clone.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(clone.join("notes.txt")).unwrap(),
        "written under the daemon\n",
        "shipped {lag:?} after the write"
    );
}

#[test]
fn an_idle_daemon_makes_no_request_and_a_failing_remote_never_blocks_capture() {
    let moto = MotoServer::start();
    moto.create_bucket("ship");
    let proxy = FaultProxy::start(moto.addr());
    let env = S3Env::new(&proxy.endpoint());
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    fs::create_dir(&root).unwrap();
    env.ok(&root, &["init"]);
    set_config(&root, "push_interval_s", "1");
    env.ok(&root, &["remote", "add", "s3", "s3://ship/proj"]);
    // The daemon inherits the environment it is started with.
    env.ok(&root, &["daemon", "start", "--debounce-ms", "50"]);
    let _stop = Stop(&root);

    fs::write(root.join("a.txt"), "one\n").unwrap();
    wait_remote(
        Some(&env),
        &root,
        Duration::from_secs(30),
        "first push",
        up_to_date,
    );
    // Idle: four push intervals without a capture, not one request.
    let before = proxy.counts().requests;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(proxy.counts().requests, before, "requests while idle");

    // The remote fails every request: capture goes on, the error shows.
    proxy.set_mode(Mode::Fail500);
    fs::write(root.join("b.txt"), "two\n").unwrap();
    let r = wait_remote(
        Some(&env),
        &root,
        Duration::from_secs(60),
        "the failure shows in the status",
        |r| r["failures"].as_u64().unwrap_or(0) >= 1,
    );
    assert!(
        r["last_error"].is_string() && !r["lag_s"].is_null(),
        "{r:#}"
    );
    let text = env.ok(&root, &["daemon", "status"]);
    assert!(text.contains("last error"), "{text}");
    // Captured all the same (the failure showed after the capture).
    assert_eq!(env.ok(&root, &["show", "--at", "now", "b.txt"]), "two\n");

    // It answers again: the next attempt (after the 5 s backoff) catches up.
    proxy.set_mode(Mode::Pass);
    let r = wait_remote(
        Some(&env),
        &root,
        Duration::from_secs(60),
        "the remote catches up",
        up_to_date,
    );
    assert!(r["last_error"].is_null() && r["failures"] == 0, "{r:#}");
    let clone = tmp.path().join("clone");
    env.ok(
        tmp.path(),
        &["clone", "s3://ship/proj", clone.to_str().unwrap()],
    );
    assert_eq!(fs::read_to_string(clone.join("b.txt")).unwrap(), "two\n");
}
