//! `kill -9` of a real `tl timeline switch` while it writes a tree of a few
//! thousand files, at moments spread over its run, then `tl recover` and the
//! same switch again: the tree is then exactly one timeline's state, both
//! timelines' newest states are intact (the half-written tree was never
//! recorded as a shelf), and fsck is clean.
//!
//! `TL_SWITCH_KILL9_RUNS` sets the number of kills (default 8).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::{ok, tl};

const FILES: usize = 3000;

fn body(i: usize, version: u32) -> String {
    format!("file {i} version {version}\n").repeat(40)
}

fn write_all(root: &Path, version: u32) {
    for i in 0..FILES {
        let dir = root.join(format!("d{:02}", i % 40));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}.txt")), body(i, version)).unwrap();
    }
}

/// Which version every file holds; panics on a mix.
fn tree_version(root: &Path) -> u32 {
    let mut seen = None;
    for i in 0..FILES {
        let p = root.join(format!("d{:02}/f{i}.txt", i % 40));
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let v = if text == body(i, 0) {
            0
        } else if text == body(i, 1) {
            1
        } else {
            panic!("{} holds neither version", p.display())
        };
        match seen {
            None => seen = Some(v),
            Some(s) => assert_eq!(s, v, "{} is of the other timeline", p.display()),
        }
    }
    seen.unwrap()
}

#[test]
fn kill_9_during_a_switch_then_recover_and_the_same_switch_leaves_one_timelines_state() {
    let runs: usize = std::env::var("TL_SWITCH_KILL9_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    write_all(root, 0);
    ok(root, &["init"]);
    ok(root, &["checkpoint", "-m", "main"]);
    ok(root, &["timeline", "create", "exp"]);
    write_all(root, 1);
    ok(root, &["checkpoint", "-m", "exp"]);
    // One switch each way, timed, to aim the kills.
    let t = Instant::now();
    ok(root, &["timeline", "switch", "main"]);
    let full = t.elapsed();
    ok(root, &["timeline", "switch", "exp"]);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut interrupted, mut finished) = (0, 0);
    for run in 0..runs {
        let (target, version) = if run % 2 == 0 {
            ("main", 0)
        } else {
            ("exp", 1)
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_tl"))
            .current_dir(root)
            .args(["timeline", "switch", target])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // From a tenth to the whole of a switch's time.
        let wait = full.mul_f64(0.1 + (x % 900) as f64 / 1000.0);
        std::thread::sleep(wait);
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1;
        } else {
            interrupted += 1;
        }
        ok(root, &["recover"]);
        let again = tl(root, &["timeline", "switch", target]);
        let said = String::from_utf8_lossy(&again.stderr);
        assert!(
            again.status.success() || said.contains("already on timeline"),
            "run {run}: the switch again failed: {said}"
        );
        assert_eq!(tree_version(root), version, "run {run}");
        // Both newest states are intact.
        assert_eq!(
            ok(root, &["show", "--at", "main", "d00/f0.txt"]),
            body(0, 0),
            "run {run}"
        );
        assert_eq!(
            ok(root, &["show", "--at", "exp", "d00/f0.txt"]),
            body(0, 1),
            "run {run}"
        );
        assert!(
            !root.join(".tl/switching").exists(),
            "run {run}: marker left"
        );
    }
    assert!(
        interrupted > 0,
        "no kill landed during a switch ({finished} finished)"
    );
    let fsck = ok(root, &["fsck"]);
    assert!(fsck.contains("OK"), "{fsck}");
    eprintln!(
        "{interrupted} switches killed, {finished} finished before the kill, in {full:?} each"
    );
}
