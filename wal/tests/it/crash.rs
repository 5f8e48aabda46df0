//! T6: simulated power loss. Random workloads run on `MemStorage`, which keeps what
//! was synced apart from what was only written; at a random point the directory is
//! replaced by what a power cut could leave (unsynced writes dropped, torn or
//! reordered, unsynced directory entries lost), sometimes with an I/O failure
//! injected mid-flush first, and the log is reopened, appended to and crashed again.
//! What must hold, for every seed: recovery succeeds, the log holds exactly a prefix
//! of the appended batches with no hole, including every acknowledged batch; the
//! recovered log verifies clean and accepts appends. A concurrent variant crashes
//! while several threads append (a crash in the middle of a group commit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_wal::testing::MemStorage;
use tl_wal::{AppendError, Lsn, Options, Wal};

use crate::common::*;

/// One seed: up to 3 crash/reopen rounds. Returns (acknowledged, recovered) counts.
fn crash_run(seed: u64) -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let opts = Options {
        segment_bytes_max: rng.gen_range(300..3000),
        ..Options::default()
    };
    let mut storage = MemStorage::new();
    let mut log: Vec<Batch> = Vec::new(); // known to be in the log
    let mut tag = 0u64;
    let mut acked_total = 0;
    for round in 0..rng.gen_range(1..=3) {
        let ctx = format!("seed {seed} round {round}");
        let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts.clone())
            .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
        let mut in_flight: Option<Batch> = None;
        match rng.gen_range(0..10) {
            0 => storage.fail_at(rng.gen_range(1..12)),
            1 | 2 => storage.fail_sync_at(rng.gen_range(1..8)),
            _ => {}
        }
        for _ in 0..rng.gen_range(0..12) {
            let b = random_batch(&mut rng, tag);
            tag += 1;
            if rng.gen_range(0..8) == 0 {
                wal.seal();
            }
            match wal.append(&refs(&b)) {
                Ok(_) => {
                    log.push(b);
                    acked_total += 1;
                }
                Err(AppendError::Io { .. }) => {
                    in_flight = Some(b);
                    assert!(matches!(
                        wal.append(&[b"x"]),
                        Err(AppendError::Poisoned { .. })
                    ));
                    break;
                }
                Err(e) => panic!("{ctx}: {e}"),
            }
        }
        // Power cut now (before the handle is dropped: no closing mark).
        let crashed = storage.crash(rng.gen());
        drop(wal);
        storage = crashed;
        let (wal, report) = Wal::open_storage(Arc::new(storage.clone()), opts.clone())
            .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
        assert!(report.corruption.is_empty(), "{ctx}: {report:?}");
        let got = wal_read(&wal);
        assert!(got.errors.is_empty(), "{ctx}: {:?}", got.errors);
        let got = got.contents();
        let mut allowed = log.clone();
        allowed.extend(in_flight);
        assert_prefix(&got, &allowed, log.len(), &ctx);
        let v = wal.verify().unwrap();
        assert!(v.damage.is_empty(), "{ctx}: {v:?}");
        log = got;
        drop(wal);
    }
    (acked_total, log.len())
}

#[test]
fn ten_thousand_simulated_power_cuts_lose_no_acknowledged_batch() {
    let seeds: u64 = std::env::var("TL_CRASH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let next = AtomicUsize::new(0);
    let totals = Mutex::new((0usize, 0usize));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                if i >= seeds {
                    break;
                }
                let (a, r) = crash_run(i);
                let mut t = totals.lock().unwrap();
                t.0 += a;
                t.1 += r;
            });
        }
    });
    let (acked, recovered) = *totals.lock().unwrap();
    eprintln!(
        "T6: {seeds} seeds, {acked} batches acknowledged, all recovered ({recovered} in the \
         final logs), 0 lost, no holes"
    );
}

/// Crash while 3 threads append concurrently: every batch acknowledged before the
/// crash is in the recovered log, and the log is a gap-free prefix of what was
/// written (each record is where the writer put it, each thread's batches in order).
#[test]
fn power_cuts_during_concurrent_group_commits_lose_no_acknowledged_batch() {
    let mut rng = StdRng::seed_from_u64(3);
    let runs = 300;
    for run in 0..runs {
        let storage = MemStorage::new();
        let opts = Options {
            segment_bytes_max: 2048,
            ..Options::default()
        };
        let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts.clone()).unwrap();
        let wal = Arc::new(wal);
        // (thread, seq) -> (lsn, batch), for batches whose append returned.
        let acked = Arc::new(Mutex::new(Vec::<(u64, u64, Lsn, Batch)>::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let (wal, acked, stop) = (wal.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(run * 10 + t);
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let b = random_batch(&mut rng, (t << 32) | seq);
                        let a = wal.append(&refs(&b)).unwrap();
                        acked.lock().unwrap().push((t, seq, a.lsn, b));
                        seq += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_micros(rng.gen_range(0..3000)));
        let before: Vec<_> = acked.lock().unwrap().clone();
        let crashed = storage.crash(rng.gen());
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().unwrap();
        }
        let all: Vec<_> = acked.lock().unwrap().clone();
        let (wal2, report) = Wal::open_storage(Arc::new(crashed), opts).unwrap();
        assert!(report.corruption.is_empty(), "run {run}: {report:?}");
        let got = wal_read(&wal2);
        assert!(got.errors.is_empty(), "run {run}");
        let by_lsn: std::collections::HashMap<Lsn, &Batch> =
            all.iter().map(|(_, _, l, b)| (*l, b)).collect();
        // Every recovered batch is exactly what was acknowledged at that LSN, or an
        // unacknowledged batch (only possible at the tail).
        let mut unknown = 0;
        for (lsn, b) in &got.batches {
            match by_lsn.get(lsn) {
                Some(want) => {
                    assert_eq!(unknown, 0, "run {run}: hole before LSN {lsn}");
                    assert!(*want == b, "run {run}: batch at LSN {lsn} differs")
                }
                None => unknown += 1,
            }
        }
        let have: std::collections::HashSet<Lsn> = got.batches.iter().map(|(l, _)| *l).collect();
        for (t, s, lsn, _) in &before {
            assert!(
                have.contains(lsn),
                "run {run}: acked batch {t}/{s} at LSN {lsn} lost"
            );
        }
        drop(wal);
    }
    eprintln!("T6 concurrent: {runs} power cuts during 3-thread group commits, 0 acked lost");
}
