//! T7: the k-th I/O operation fails, for every k, during a workload that rotates
//! segments (small `segment_bytes_max`, an explicit seal) and ends with a clean close;
//! and again for every k during recovery of a torn log. What must hold: the append
//! that meets the failure reports it, every later append returns `Poisoned` (never a
//! retry after a failed sync), and the log reopens (as left, and after a power cut
//! on top) holding a prefix of the batches with every acknowledged one, verifying
//! clean and accepting appends.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tl_wal::testing::MemStorage;
use tl_wal::{AppendError, Options, Wal};

use crate::common::*;

fn opts() -> Options {
    Options {
        segment_bytes_max: 1024,
        ..Options::default()
    }
}

fn workload() -> Vec<Batch> {
    let mut rng = StdRng::seed_from_u64(17);
    (0..40).map(|i| random_batch(&mut rng, i)).collect()
}

/// Runs the workload; returns how many batches were acknowledged and whether a
/// failure was met.
fn run(wal: &Wal, batches: &[Batch]) -> (usize, bool) {
    for (i, b) in batches.iter().enumerate() {
        if i == 20 {
            wal.seal();
        }
        match wal.append(&refs(b)) {
            Ok(_) => {}
            Err(AppendError::Io { .. }) => {
                for _ in 0..2 {
                    assert!(matches!(
                        wal.append(&refs(b)),
                        Err(AppendError::Poisoned { .. })
                    ));
                }
                assert!(wal.is_poisoned());
                return (i, true);
            }
            Err(e) => panic!("batch {i}: {e}"),
        }
    }
    (batches.len(), false)
}

/// The directory as the process left it (written bytes, synced or not).
fn as_left(s: &MemStorage) -> MemStorage {
    let out = MemStorage::new();
    for (name, bytes) in s.files() {
        out.put_file(&name, bytes);
    }
    out
}

fn check_reopens(storage: MemStorage, batches: &[Batch], acked: usize, ctx: &str) {
    let (wal, report) = Wal::open_storage(Arc::new(storage), opts())
        .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    assert!(report.corruption.is_empty(), "{ctx}: {report:?}");
    let got = wal_read(&wal);
    assert!(got.errors.is_empty(), "{ctx}: {:?}", got.errors);
    assert_prefix(&got.contents(), batches, acked, ctx);
    assert!(wal.verify().unwrap().damage.is_empty(), "{ctx}");
    wal.append(&[b"after recovery"]).unwrap();
    let got2 = wal_read(&wal).contents();
    assert_eq!(got2.len(), got.batches.len() + 1, "{ctx}");
}

#[test]
fn failing_the_kth_io_operation_poisons_the_writer_and_the_log_reopens_valid() {
    let batches = workload();
    // Count the operations of a fault-free run (open excluded, close included).
    let total = {
        let storage = MemStorage::new();
        let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts()).unwrap();
        let before = storage.ops();
        assert_eq!(run(&wal, &batches), (batches.len(), false));
        wal.close().unwrap();
        storage.ops() - before
    };
    let mut poisoned = 0;
    for k in 1..=total + 1 {
        for syncs_only in [false, true] {
            let ctx = format!("k={k} syncs_only={syncs_only}");
            let storage = MemStorage::new();
            let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts()).unwrap();
            if syncs_only {
                storage.fail_sync_at(k);
            } else {
                storage.fail_at(k);
            }
            let (acked, failed) = run(&wal, &batches);
            poisoned += failed as usize;
            let crashed = storage.crash(k);
            let close = wal.close();
            if failed {
                assert!(matches!(close, Err(AppendError::Poisoned { .. })), "{ctx}");
            }
            // As left by the process, and after a power cut on top.
            check_reopens(as_left(&storage), &batches, acked, &ctx);
            check_reopens(crashed, &batches, acked, &format!("{ctx} crashed"));
        }
    }
    eprintln!(
        "T7: {} fault points ({total} operations, each as any-op and as sync-only \
         failure), {poisoned} poisoned the writer mid-workload, all reopened valid",
        2 * (total + 1)
    );
    assert!(poisoned as u64 >= total);
}

#[test]
fn failing_the_kth_io_operation_during_recovery_leaves_a_log_that_recovers_later() {
    // Logs whose last batch was torn by a failed sync and a power cut (a torn tail),
    // or whose newest segment's creation was (a torn creation).
    let batches = workload();
    let (mut tail, mut creation) = (None, None);
    'search: for n in 5..30 {
        for seed in 0..20 {
            let storage = MemStorage::new();
            let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts()).unwrap();
            for b in &batches[..n] {
                wal.append(&refs(b)).unwrap();
            }
            storage.fail_sync_at(1);
            assert!(wal.append(&refs(&batches[n])).is_err());
            let crashed = storage.crash(seed);
            let (_, report) = Wal::open_storage(Arc::new(copy_of(&crashed)), opts()).unwrap();
            if report.torn_tail.is_some() && tail.is_none() {
                tail = Some((crashed, n));
            } else if report.torn_creation.is_some() && creation.is_none() {
                creation = Some((crashed, n));
            }
            if tail.is_some() && creation.is_some() {
                break 'search;
            }
        }
    }
    let (mut points, mut failed_opens) = (0, 0);
    for (source, acked) in [
        tail.expect("a torn tail"),
        creation.expect("a torn creation"),
    ] {
        let (k, f) = fault_every_recovery_step(&source, &batches, acked);
        points += k;
        failed_opens += f;
    }
    eprintln!(
        "T7 recovery: {points} fault points during recovery of a torn tail and a torn \
         segment creation ({failed_opens} failed opens), all recovered later"
    );
    assert!(failed_opens > 0);
}

fn fault_every_recovery_step(source: &MemStorage, batches: &[Batch], acked: usize) -> (u64, u64) {
    let mut k = 1;
    let mut failed_opens = 0;
    loop {
        let s = copy_of(source);
        s.fail_at(k);
        let ctx = format!("recovery fault k={k}");
        let outcome = Wal::open_storage(Arc::new(s.clone()), opts());
        let finished = match &outcome {
            Ok(_) => s.ops() < k,
            Err(_) => {
                failed_opens += 1;
                false
            }
        };
        let crashed = s.crash(k);
        drop(outcome);
        check_reopens(as_left(&s), batches, acked, &ctx);
        check_reopens(crashed, batches, acked, &format!("{ctx} crashed"));
        if finished {
            break;
        }
        k += 1;
    }
    (k, failed_opens)
}
