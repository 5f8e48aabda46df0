//! T8: a real `kill -9` of a writing process. The test binary re-executes itself as
//! the writer (env `TL_WAL_CHILD` = log directory): three threads append
//! self-checking batches to a real log directory, printing each acknowledged
//! (thread, seq, LSN) to stdout. The parent SIGKILLs it at a random moment, reopens
//! the log (recovery on real files) and checks every acknowledged batch is present
//! and intact, each thread's batches form a gap-free sequence, and nothing in the
//! log fails its own checksum. The next child continues the same log, so recovery of
//! real torn tails and resumption in a new segment are exercised run after run.
//! `TL_KILL_RUNS` sets the number of kills (default 50).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_wal::{Lsn, Options, Wal};

use crate::common::*;

const CHILD_ENV: &str = "TL_WAL_CHILD";

fn opts() -> Options {
    Options {
        segment_bytes_max: 256 << 10,
        ..Options::default()
    }
}

/// A batch of thread `t`, sequence `seq`: 1–3 stamped records.
fn batch(t: u64, seq: u64) -> Batch {
    let mut rng = StdRng::seed_from_u64((t << 40) ^ seq);
    (0..rng.gen_range(1..=3u64))
        .map(|i| stamped((t << 48) | (seq << 2) | i, rng.gen_range(12..4000)))
        .collect()
}

fn decode(b: &Batch) -> (u64, u64) {
    let tag = check_stamped(&b[0]).expect("record fails its own checksum");
    for (i, r) in b.iter().enumerate() {
        let t = check_stamped(r).expect("record fails its own checksum");
        assert_eq!(t & 3, i as u64);
        assert_eq!(t >> 2, tag >> 2);
    }
    (tag >> 48, (tag >> 2) & ((1 << 46) - 1))
}

/// The child: runs only when re-executed with TL_WAL_CHILD set; a no-op test otherwise.
#[test]
fn kill9_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV).map(std::path::PathBuf::from) else {
        return;
    };
    let (wal, _) = Wal::open(&dir, dir.with_file_name("quarantine"), opts()).expect("child open");
    let got = wal_read(&wal);
    let mut next = [0u64; 3];
    for (_, b) in &got.batches {
        let (t, s) = decode(b);
        next[t as usize] = next[t as usize].max(s + 1);
    }
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..3u64)
        .map(|t| {
            let wal = wal.clone();
            let mut seq = next[t as usize];
            std::thread::spawn(move || loop {
                let b = batch(t, seq);
                let a = wal.append(&refs(&b)).expect("append");
                println!("ACK {t} {seq} {}", a.lsn);
                seq += 1;
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

#[test]
fn kill_9_of_a_writing_process_loses_no_acknowledged_batch() {
    let runs: usize = std::env::var("TL_KILL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let exe = std::env::current_exe().unwrap();
    let mut rng = StdRng::seed_from_u64(8);
    // Every acknowledged (thread, seq) -> LSN, over all runs.
    let mut acked: HashMap<(u64, u64), Lsn> = HashMap::new();
    let (mut torn_tails, mut total_acks) = (0, 0);
    let started = Instant::now();
    for run in 0..runs {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill9::kill9_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ACK ") {
                    let v: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                    let _ = tx.send((v[0], v[1], Lsn::new(v[2])));
                }
            }
        });
        // Wait for the first acknowledgement, then kill at a random later moment.
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("child acknowledges");
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..40_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for (t, s, lsn) in std::iter::once(first).chain(rx.try_iter()) {
            acked.insert((t, s), lsn);
            total_acks += 1;
        }
        let (wal, report) = Wal::open(&dir, dir.with_file_name("quarantine"), opts()).unwrap();
        assert!(report.corruption.is_empty(), "run {run}: {report:?}");
        torn_tails += report.torn_tail.is_some() as usize;
        let got = wal_read(&wal);
        assert!(got.errors.is_empty(), "run {run}: {:?}", got.errors);
        let mut present: HashSet<(u64, u64)> = HashSet::new();
        let mut next = [0u64; 3];
        for (lsn, b) in &got.batches {
            let (t, s) = decode(b);
            assert_eq!(
                s, next[t as usize],
                "run {run}: thread {t} has a hole before {s}"
            );
            next[t as usize] += 1;
            if let Some(&want) = acked.get(&(t, s)) {
                assert_eq!(want, *lsn, "run {run}: batch {t}/{s} moved");
            }
            present.insert((t, s));
        }
        for k in acked.keys() {
            assert!(
                present.contains(k),
                "run {run}: acknowledged batch {k:?} lost"
            );
        }
        drop(wal);
    }
    eprintln!(
        "T8: {runs} kill -9 runs in {:.1}s, {total_acks} acknowledgements, {} distinct \
         acknowledged batches all present and intact, {torn_tails} torn tails recovered",
        started.elapsed().as_secs_f64(),
        acked.len()
    );
}
