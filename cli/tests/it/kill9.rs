//! T8: `kill -9` of a real `tl checkpoint` while it captures a tree of a few
//! thousand files, at random moments. Never a panic; every acknowledged checkpoint
//! (the process printed its id) survives after each kill; every 10 runs `tl recover`
//! then `tl fsck` are clean (the next `tl checkpoint` recovers the log in between).
//!
//! `TL_KILL9_RUNS` sets the number of runs (default 50).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::ok;
use serde_json::Value;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn write_file(root: &Path, i: usize, version: u64, rng: &mut Rng) {
    let dir = root.join(format!("d{:02}", i % 40));
    fs::create_dir_all(&dir).unwrap();
    let len = 200 + (rng.next() % 3000) as usize;
    let mut body = format!("file {i} version {version}\n").into_bytes();
    while body.len() < len {
        body.extend_from_slice(&rng.next().to_le_bytes());
    }
    fs::write(dir.join(format!("f{i}.txt")), body).unwrap();
}

#[test]
fn kill_9_during_capture_never_loses_an_acknowledged_checkpoint() {
    let runs: usize = std::env::var("TL_KILL9_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    const FILES: usize = 3000;
    for i in 0..FILES {
        write_file(root, i, 0, &mut rng);
    }
    ok(root, &["init"]);
    // One capture of the whole tree, timed, to aim the kills.
    let t = Instant::now();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let first = ok(root, &["checkpoint"]);
    acked.insert(first.split_whitespace().next().unwrap().to_string());
    let full = t.elapsed();
    let started = Instant::now();
    let (mut killed_before_ack, mut completed) = (0, 0);
    for run in 0..runs {
        // Change a few hundred files (new content to store) and delete/add some.
        for _ in 0..100 {
            let i = (rng.next() % FILES as u64) as usize;
            write_file(root, i, run as u64 + 1, &mut rng);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_tl"))
            .current_dir(root)
            .arg("checkpoint")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let window = full.as_micros().max(20_000) as u64;
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
        match stdout.split_whitespace().next() {
            Some(id) if out.status.success() => {
                acked.insert(id.to_string());
                completed += 1;
            }
            _ => killed_before_ack += 1,
        }
        // Every acknowledged checkpoint is there, read by a plain reader first.
        let log: Value = serde_json::from_str(&ok(root, &["log", "--json"])).unwrap();
        let ids: BTreeSet<String> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        let lost: Vec<_> = acked.difference(&ids).collect();
        assert!(lost.is_empty(), "run {run}: acknowledged {lost:?} lost");
        if run % 10 == 9 || run + 1 == runs {
            ok(root, &["recover"]);
            let report = ok(root, &["fsck"]);
            assert!(report.contains("OK"), "run {run}: {report}");
        }
    }
    eprintln!(
        "T8: {runs} kill -9 runs in {:?} ({killed_before_ack} killed before the ack, {completed} completed), {} acknowledged checkpoints all kept; full capture of {FILES} files took {full:?}",
        started.elapsed(),
        acked.len()
    );
}
