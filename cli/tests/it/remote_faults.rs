//! Issue 15's faults, on a real moto S3 server (support/s3.rs), some through the
//! fault proxy (support/fault_proxy.rs): the server stopped or hung (SIGSTOP)
//! mid-push, `tl push` killed with -9 at random points, 500/503/delay/reset
//! answers, objects truncated or bit-flipped on the server. Nothing acknowledged
//! locally is lost (`tl log` the same, `tl fsck` clean), a failing push fails
//! loudly within its limit and the next one recovers, a clone afterwards is
//! byte-identical, deep verify names every damaged object and clone refuses it.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::fault_proxy::{FaultProxy, Mode};
use crate::support::project::{
    assert_fsck_clean, checkpoint, history, log_ids, set_push_timeout, tree_of,
};
use crate::support::s3::{MotoServer, S3Env};
use crate::util::ok;

const BUCKET: &str = "tl-faults";

/// A project under `top/proj` with `versions` checkpoints and a remote `s3`
/// at `s3://BUCKET/proj` (the bucket created on `moto`).
fn project(top: &Path, moto: &MotoServer, env: &S3Env, versions: u64) -> Vec<String> {
    moto.create_bucket(BUCKET);
    let root = top.join("proj");
    let ids = history(&root, versions, 40, 20_000);
    env.ok(
        &root,
        &["remote", "add", "s3", &format!("s3://{BUCKET}/proj")],
    );
    ids
}

fn spawn_push(env: &S3Env, root: &Path) -> Child {
    env.command(root)
        .args(["push", "s3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most `limit`; panics (after killing it) past that.
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tl push still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Waits (at most 30 s) until moto has logged a PUT: the push is under way.
fn wait_for_upload(moto: &MotoServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !moto.request_log().iter().any(|l| l.contains("\"PUT /")) {
        assert!(Instant::now() < deadline, "no PUT reached moto in 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Clones the remote into `top/NAME`; asserts the clone has the project's
/// checkpoint ids and tree, byte for byte, and a clean deep fsck.
fn assert_clone_identical(top: &Path, env: &S3Env, name: &str) {
    let root = top.join("proj");
    env.ok(top, &["clone", &format!("s3://{BUCKET}/proj"), name]);
    let clone = top.join(name);
    assert_eq!(log_ids(&clone), log_ids(&root), "the same checkpoint ids");
    assert!(
        tree_of(&clone) == tree_of(&root),
        "the same tree, byte for byte"
    );
    ok(&clone, &["fsck", "--deep"]);
}

/// Asserts a push failed, saying it was a push to `s3` that failed and why.
fn assert_failed_loudly(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the push should fail: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("s3"), "names the remote: {err}");
    assert!(
        err.lines().count() <= 6,
        "a short reason, not a dump: {err}"
    );
    err
}

#[test]
fn a_push_whose_server_is_stopped_midway_fails_naming_the_cause_and_the_next_push_recovers() {
    let d = tempfile::tempdir().unwrap();
    let mut moto = MotoServer::start();
    let env = moto.env();
    let root = d.path().join("proj");
    let mut ids = project(d.path(), &moto, &env, 3);
    set_push_timeout(&root, "s3", 10);

    let child = spawn_push(&env, &root);
    wait_for_upload(&moto);
    moto.stop();
    let started = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(40));
    if out.status.success() {
        // It finished before the stop: the next one meets the stopped server.
        ids.push(checkpoint(&root, 9, 40, 20_000));
        let out = env.tl(&root, &["push", "s3"]);
        assert_failed_loudly(&out);
    } else {
        assert_failed_loudly(&out);
    }
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    let before = log_ids(&root);
    assert_eq!(before.len(), ids.len(), "every checkpoint is still listed");
    assert_fsck_clean(&root);

    moto.restart();
    env.ok(&root, &["push", "s3"]);
    assert_eq!(log_ids(&root), before);
    assert_clone_identical(d.path(), &env, "clone");
}

#[test]
fn a_push_to_a_server_hung_midway_gives_up_within_its_limit_and_the_next_push_recovers() {
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let env = moto.env();
    let root = d.path().join("proj");
    project(d.path(), &moto, &env, 3);
    set_push_timeout(&root, "s3", 5);
    let before = log_ids(&root);

    let child = spawn_push(&env, &root);
    wait_for_upload(&moto);
    moto.pause();
    let started = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(40));
    let took = started.elapsed();
    moto.resume();
    if !out.status.success() {
        let err = assert_failed_loudly(&out);
        assert!(
            took < Duration::from_secs(5 + 10),
            "gave up after {took:?}: {err}"
        );
    }
    assert_eq!(log_ids(&root), before);
    assert_fsck_clean(&root);

    env.ok(&root, &["push", "s3"]);
    assert_clone_identical(d.path(), &env, "clone");

    // And a push that meets a server hung from the start gives up too.
    checkpoint(&root, 7, 40, 20_000);
    let before = log_ids(&root);
    moto.pause();
    let started = Instant::now();
    let out = wait_bounded(spawn_push(&env, &root), Duration::from_secs(40));
    let took = started.elapsed();
    moto.resume();
    let err = assert_failed_loudly(&out);
    assert!(
        took < Duration::from_secs(5 + 10),
        "gave up after {took:?}: {err}"
    );
    assert!(
        took >= Duration::from_secs(4),
        "waited its limit first: {took:?}"
    );
    assert_eq!(log_ids(&root), before);
    assert_fsck_clean(&root);
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn push_killed_with_sigkill_at_random_points_then_pushed_again_clones_byte_identical() {
    let runs: u64 = std::env::var("TL_PUSH_KILL9_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let env = moto.env();
    let root = d.path().join("proj");
    project(d.path(), &moto, &env, 2);
    // One whole push, timed, to aim the kills.
    let t = Instant::now();
    env.ok(&root, &["push", "s3"]);
    let window = t.elapsed().as_micros().max(50_000) as u64;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut killed, mut finished) = (0, 0);
    for run in 0..runs {
        checkpoint(&root, 10 + run, 40, 20_000);
        let before = log_ids(&root);
        let mut child = spawn_push(&env, &root);
        std::thread::sleep(Duration::from_micros(rng.below(window)));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "run {run}: {err}");
        if out.status.success() {
            finished += 1;
        } else {
            killed += 1;
        }
        assert_eq!(
            log_ids(&root),
            before,
            "run {run}: the local log is untouched"
        );
    }
    assert_fsck_clean(&root);
    env.ok(&root, &["push", "s3"]);
    let again = env.ok(&root, &["push", "s3"]);
    assert!(again.contains("up to date"), "{again}");
    env.ok(&root, &["verify", "--remote", "s3", "--deep"]);
    assert_clone_identical(d.path(), &env, "clone");
    eprintln!("push kill -9: {runs} runs ({killed} killed, {finished} finished first), window {window} µs");
}

/// A project whose remote `s3` is reached through `proxy` (in front of `moto`).
fn proxied_project(top: &Path, moto: &MotoServer, proxy: &FaultProxy) -> S3Env {
    let env = S3Env::new(&proxy.endpoint());
    project(top, moto, &env, 2);
    set_push_timeout(&top.join("proj"), "s3", 6);
    env
}

#[test]
fn a_push_meeting_500_or_503_answers_fails_within_its_limit_and_recovers_once_they_stop() {
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr());
    let env = proxied_project(d.path(), &moto, &proxy);
    let root = d.path().join("proj");
    let before = log_ids(&root);
    for mode in [
        Mode::Fail500,
        Mode::Fail503 {
            retry_after_secs: 1,
        },
    ] {
        proxy.set_mode(mode);
        let requests = proxy.counts().requests;
        let started = Instant::now();
        let out = wait_bounded(spawn_push(&env, &root), Duration::from_secs(40));
        let took = started.elapsed();
        let err = assert_failed_loudly(&out);
        assert!(
            took < Duration::from_secs(6 + 10),
            "{mode:?}: {took:?}: {err}"
        );
        assert!(
            proxy.counts().requests > requests + 1,
            "{mode:?}: a server error is retried before giving up: {:?}",
            proxy.counts()
        );
        assert_eq!(log_ids(&root), before, "{mode:?}");
        assert_fsck_clean(&root);
        assert!(
            moto.list_objects(BUCKET).is_empty(),
            "{mode:?}: nothing got through"
        );
    }
    proxy.set_mode(Mode::Pass);
    env.ok(&root, &["push", "s3"]);
    assert_clone_identical(d.path(), &env, "clone");
}

#[test]
fn a_push_through_a_slow_link_succeeds_and_one_through_resets_recovers_afterwards() {
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(moto.addr());
    let env = proxied_project(d.path(), &moto, &proxy);
    let root = d.path().join("proj");

    proxy.set_mode(Mode::Delay(Duration::from_millis(200)));
    env.ok(&root, &["push", "s3"]);
    assert_clone_identical(d.path(), &env, "slow");

    // Every connection cut after 4 KiB: segments of ~800 KB never get through.
    checkpoint(&root, 5, 40, 20_000);
    let before = log_ids(&root);
    proxy.set_mode(Mode::ResetAfter(4096));
    let out = wait_bounded(spawn_push(&env, &root), Duration::from_secs(40));
    assert_failed_loudly(&out);
    assert!(proxy.counts().resets >= 1, "{:?}", proxy.counts());
    assert_eq!(log_ids(&root), before);
    assert_fsck_clean(&root);

    proxy.set_mode(Mode::Pass);
    env.ok(&root, &["push", "s3"]);
    assert_clone_identical(d.path(), &env, "after-resets");
}

#[test]
fn objects_damaged_on_the_server_are_each_named_by_deep_verify_and_a_clone_refuses_them() {
    let d = tempfile::tempdir().unwrap();
    let moto = MotoServer::start();
    let env = moto.env();
    moto.create_bucket(BUCKET);
    let root = d.path().join("proj");
    std::fs::create_dir_all(&root).unwrap();
    ok(&root, &["init"]);
    env.ok(
        &root,
        &["remote", "add", "s3", &format!("s3://{BUCKET}/proj")],
    );
    // A push after each checkpoint: a segment each.
    for v in 0..3 {
        checkpoint(&root, v, 10, 5_000);
        env.ok(&root, &["push", "s3"]);
    }
    let segments: Vec<_> = moto
        .list_objects(BUCKET)
        .into_iter()
        .filter(|o| o.key.contains("/seg/"))
        .collect();
    assert!(segments.len() >= 3, "{segments:?}");
    let quick = env.tl(&root, &["verify", "--remote", "s3"]);
    assert!(
        quick.status.success(),
        "{}",
        String::from_utf8_lossy(&quick.stderr)
    );
    env.ok(&root, &["verify", "--remote", "s3", "--deep"]);

    let (flipped, cut) = (&segments[0], &segments[2]);
    moto.flip_bit(BUCKET, &flipped.key, flipped.size as usize / 2);
    moto.truncate_object(BUCKET, &cut.key, cut.size as usize - 100);
    let name = |key: &str| key.rsplit('/').next().unwrap().to_string();

    // Quick verify sees the size; the flipped bit needs the deep one.
    let quick = env.tl(&root, &["verify", "--remote", "s3"]);
    assert_eq!(
        quick.status.code(),
        Some(3),
        "exit code as tl fsck for damage"
    );
    let text = String::from_utf8_lossy(&quick.stdout).to_string()
        + &String::from_utf8_lossy(&quick.stderr);
    assert!(
        text.contains(&name(&cut.key)),
        "names the truncated object: {text}"
    );

    let deep = env.tl(&root, &["verify", "--remote", "s3", "--deep"]);
    assert_eq!(deep.status.code(), Some(3));
    let text =
        String::from_utf8_lossy(&deep.stdout).to_string() + &String::from_utf8_lossy(&deep.stderr);
    for o in [flipped, cut] {
        assert!(
            text.contains(&name(&o.key)),
            "deep verify names {}: {text}",
            o.key
        );
    }
    assert!(
        !text.contains(&name(&segments[1].key)),
        "and not the intact one: {text}"
    );

    let clone = env.tl(
        d.path(),
        &["clone", &format!("s3://{BUCKET}/proj"), "clone"],
    );
    assert!(!clone.status.success(), "a clone refuses damaged data");
    let err = String::from_utf8_lossy(&clone.stderr);
    assert!(err.contains("damaged") || err.contains("checksum"), "{err}");
    assert!(
        !d.path().join("clone/.tl").exists(),
        "a refused clone leaves no store"
    );
    // The local store is what it was.
    assert_fsck_clean(&root);
}
