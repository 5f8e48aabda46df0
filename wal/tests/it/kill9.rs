//! T8: a real `kill -9` of a writing process. The test binary re-executes itself as
//! the writer (env `TL_WAL_CHILD` = log directory): three threads append
//! self-checking batches to a real log directory, printing each acknowledged
//! (thread, seq, LSN) to stdout. The parent SIGKILLs it at a random moment, reopens
//! the log (recovery on real files) and checks, incrementally, what the run added:
//! the log read from the end verified after the previous kill holds every batch this
//! run acknowledged, intact and at its LSN, each thread's batches continue its
//! gap-free sequence, and nothing fails its own checksum. Every 100 kills and after
//! the last, the whole log is read again and must be exactly the verified history
//! (so recovery never cut what an earlier kill left). The next child continues the
//! same log from the sequence numbers the parent passes it, so recovery of real torn
//! tails and resumption in a new segment are exercised run after run, and no run
//! re-reads the whole log (45.5 min for 1,000 kills when every run did).
//! `TL_KILL_RUNS` sets the number of kills (default 50; the reported run is 1,000).

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
/// The next sequence number of each thread, `a,b,c`, passed to the child.
const NEXT_ENV: &str = "TL_WAL_CHILD_NEXT";
/// A whole-log check every this many kills.
const FULL_EVERY: usize = 100;

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
    let next: Vec<u64> = std::env::var(NEXT_ENV)
        .expect("the parent passes the next sequence numbers")
        .split(',')
        .map(|x| x.parse().expect("a sequence number"))
        .collect();
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
    // Every batch verified in the log, in log order: (thread, seq, LSN).
    let mut history: Vec<(u64, u64, Lsn)> = Vec::new();
    let mut acked: HashSet<(u64, u64)> = HashSet::new();
    // The next sequence number of each thread, and where the verified log ends.
    let mut next = [0u64; 3];
    let mut verified_end = Lsn::ZERO;
    let (mut torn_tails, mut total_acks, mut full_checks) = (0, 0, 0);
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
            .env(NEXT_ENV, format!("{},{},{}", next[0], next[1], next[2]))
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
        // What this run acknowledged: (thread, seq) -> LSN.
        let mut acked_now: HashMap<(u64, u64), Lsn> = HashMap::new();
        for (t, s, lsn) in std::iter::once(first).chain(rx.try_iter()) {
            acked_now.insert((t, s), lsn);
            total_acks += 1;
        }
        let (wal, report) = Wal::open(&dir, dir.with_file_name("quarantine"), opts()).unwrap();
        assert!(report.corruption.is_empty(), "run {run}: {report:?}");
        torn_tails += report.torn_tail.is_some() as usize;
        assert!(
            report.end_lsn >= verified_end,
            "run {run}: recovery cut the log to {} below the verified end {verified_end}",
            report.end_lsn
        );
        // Only what this run added: from the verified end.
        let got = read_back(wal.iter_from(verified_end).unwrap_or_else(|e| {
            panic!("run {run}: the log cannot be read from the verified end {verified_end}: {e}")
        }));
        assert!(got.errors.is_empty(), "run {run}: {:?}", got.errors);
        let mut seen_now = 0;
        for (lsn, b) in &got.batches {
            let (t, s) = decode(b);
            assert_eq!(
                s, next[t as usize],
                "run {run}: thread {t} has a hole before {s}"
            );
            next[t as usize] += 1;
            if let Some(&want) = acked_now.get(&(t, s)) {
                assert_eq!(want, *lsn, "run {run}: batch {t}/{s} moved");
                seen_now += 1;
            }
            history.push((t, s, *lsn));
        }
        if seen_now != acked_now.len() {
            let lost: Vec<_> = acked_now
                .keys()
                .filter(|&&(t, s)| s >= next[t as usize])
                .collect();
            panic!("run {run}: acknowledged batches {lost:?} lost");
        }
        acked.extend(acked_now.keys());
        verified_end = report.end_lsn;
        drop(wal);
        if run % FULL_EVERY == FULL_EVERY - 1 || run + 1 == runs {
            check_whole_log(&dir, &history, run);
            full_checks += 1;
        }
    }
    eprintln!(
        "T8: {runs} kill -9 runs in {:.1}s, {total_acks} acknowledgements, {} distinct \
         acknowledged batches all present and intact, {torn_tails} torn tails recovered, \
         {} batches in the log, {full_checks} whole-log checks equal to the history",
        started.elapsed().as_secs_f64(),
        acked.len(),
        history.len()
    );
}

/// The whole log, read again from its start, is exactly the verified history: each
/// batch intact, at its LSN, in order.
fn check_whole_log(dir: &std::path::Path, history: &[(u64, u64, Lsn)], run: usize) {
    let (wal, report) = Wal::open(dir, dir.with_file_name("quarantine"), opts()).unwrap();
    assert!(report.corruption.is_empty(), "run {run}: {report:?}");
    let got = wal_read(&wal);
    assert!(got.errors.is_empty(), "run {run}: {:?}", got.errors);
    let read: Vec<(u64, u64, Lsn)> = got
        .batches
        .iter()
        .map(|(lsn, b)| {
            let (t, s) = decode(b);
            (t, s, *lsn)
        })
        .collect();
    assert!(
        read == history,
        "run {run}: the whole log ({} batches) differs from the verified history ({})",
        read.len(),
        history.len()
    );
}
