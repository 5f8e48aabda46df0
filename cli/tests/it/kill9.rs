//! T8: `kill -9` of a real `tl checkpoint` while it captures a tree of a few
//! thousand files, at random moments. Never a panic; after each kill the log is
//! checked incrementally: only its two newest checkpoints are read (`tl log --json
//! -n 2`), and they must continue the history verified so far (a run adds at most
//! one checkpoint), with the run's acknowledged checkpoint (the process printed its
//! id) as the newest. A checkpoint once seen in the log must stay, acknowledged or
//! not (a kill loses no page cache). Every 10 runs, and after the last, the whole
//! log must list exactly the verified history, and `tl recover` then `tl fsck` are
//! clean (the next `tl checkpoint` recovers the log in between).
//!
//! `TL_KILL9_RUNS` sets the number of runs (default 50; the reported run is 1,000).

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
    let first = first.split_whitespace().next().unwrap().to_string();
    acked.insert(first.clone());
    let full = t.elapsed();
    // Every checkpoint seen in the log, oldest first.
    let mut history = vec![first];
    let started = Instant::now();
    let (mut killed_before_ack, mut completed, mut unacked_kept, mut full_checks) = (0, 0, 0, 0);
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
        let acked_now = match stdout.split_whitespace().next() {
            Some(id) if out.status.success() => {
                acked.insert(id.to_string());
                completed += 1;
                Some(id.to_string())
            }
            _ => {
                killed_before_ack += 1;
                None
            }
        };
        // The log continues the verified history: read by a plain reader, only its
        // newest two checkpoints.
        let newest = log_ids(root, &["log", "--json", "-n", "2"]);
        let tip = history.last().unwrap();
        let new_tip = match newest.as_slice() {
            [a, b] if b == tip => Some(a),
            [a, ..] if a == tip => None,
            other => panic!("run {run}: the log's newest {other:?} do not continue {tip}"),
        };
        if let Some(id) = &acked_now {
            assert_eq!(
                new_tip,
                Some(id),
                "run {run}: acknowledged {id} is not the newest checkpoint"
            );
        }
        if let Some(id) = new_tip {
            unacked_kept += acked_now.is_none() as usize;
            history.push(id.clone());
        }
        if run % 10 == 9 || run + 1 == runs {
            let all = log_ids(root, &["log", "--json"]);
            let mut want = history.clone();
            want.reverse(); // newest first
            assert_eq!(
                all, want,
                "run {run}: the whole log differs from the history"
            );
            ok(root, &["recover"]);
            let report = ok(root, &["fsck"]);
            assert!(report.contains("OK"), "run {run}: {report}");
            full_checks += 1;
        }
    }
    assert!(acked.iter().all(|id| history.contains(id)));
    eprintln!(
        "T8: {runs} kill -9 runs in {:?} ({killed_before_ack} killed before the ack, {completed} completed), {} acknowledged checkpoints all kept, {unacked_kept} unacknowledged ones kept too, {} in the log; {full_checks} whole-log checks with recover + fsck clean; full capture of {FILES} files took {full:?}",
        started.elapsed(),
        acked.len(),
        history.len()
    );
}

/// The checkpoint ids `tl ARGS` (a `log --json`) lists, newest first.
fn log_ids(root: &Path, args: &[&str]) -> Vec<String> {
    let log: Value = serde_json::from_str(&ok(root, args)).unwrap();
    log.as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}
