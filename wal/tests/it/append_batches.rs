//! `Wal::append_batches`: many batches made durable by one flush. What must hold:
//! the LSNs are those the same batches appended one by one get, the batches read
//! back identical and whole (also across rotations), one write and one sync per
//! segment touched, a refused batch refuses the call before anything is encoded,
//! and a power cut at any step of the call leaves exactly a prefix of whole batches
//! holding everything acknowledged before it.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_wal::format::{FrameKind, FLAG_BATCH_END, RECORD_MAX};
use tl_wal::testing::MemStorage;
use tl_wal::{AppendError, Appended, Options, Wal};

use crate::common::*;

fn workload(seed: u64, n: u64) -> Vec<Batch> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|i| random_batch(&mut rng, i)).collect()
}

fn all_refs(batches: &[Batch]) -> Vec<Vec<&[u8]>> {
    batches.iter().map(refs).collect()
}

/// Appends `batches` with one `append_batches` call.
fn append_all(wal: &Wal, batches: &[Batch]) -> Result<Vec<Appended>, AppendError> {
    let r = all_refs(batches);
    let slices: Vec<&[&[u8]]> = r.iter().map(|b| b.as_slice()).collect();
    wal.append_batches(&slices)
}

/// What the same batches get when appended one by one, on a log of its own.
fn one_by_one(opts: &Options, batches: &[Batch]) -> Vec<Appended> {
    let (wal, _) = Wal::open_storage(Arc::new(MemStorage::new()), opts.clone()).unwrap();
    batches
        .iter()
        .map(|b| wal.append(&refs(b)).unwrap())
        .collect()
}

fn check_same_as_one_by_one(opts: Options, batches: &[Batch]) -> MemStorage {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts.clone()).unwrap();
    let done = append_all(&wal, batches).unwrap();
    assert_eq!(done, one_by_one(&opts, batches));
    for pair in done.windows(2) {
        assert_eq!(pair[0].end_lsn, pair[1].lsn, "contiguous");
    }
    assert_eq!(wal.durable_lsn(), done.last().unwrap().end_lsn);
    let got = wal_read(&wal);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(got.contents(), batches);
    let lsns: Vec<_> = got.batches.iter().map(|(l, _)| *l).collect();
    assert_eq!(lsns, done.iter().map(|a| a.lsn).collect::<Vec<_>>());
    assert!(wal.verify().unwrap().damage.is_empty());
    wal.close().unwrap();
    let (wal, report) = Wal::open_storage(Arc::new(storage.clone()), opts).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(wal_read(&wal).contents(), batches);
    storage
}

#[test]
fn append_batches_gives_the_lsns_of_as_many_single_appends_and_reads_back_identical() {
    let storage = check_same_as_one_by_one(Options::default(), &workload(1, 50));
    assert_eq!(storage.files().len(), 1);
}

#[test]
fn append_batches_rotates_between_batches_and_no_batch_spans_two_segments() {
    let opts = Options {
        segment_bytes_max: 700,
        ..Options::default()
    };
    let storage = check_same_as_one_by_one(opts, &workload(2, 60));
    let files = storage.files();
    assert!(files.len() > 3, "{} segments", files.len());
    for (name, bytes) in &files {
        let fr = frames(bytes);
        let data: Vec<_> = fr.iter().filter(|f| f.kind != FrameKind::Mark).collect();
        assert!(data[0].starts_batch(), "{name} starts inside a batch");
        let last = data.last().unwrap();
        assert!(
            last.flags & FLAG_BATCH_END != 0,
            "{name} ends inside a batch"
        );
    }
}

#[test]
fn append_batches_writes_and_syncs_once_per_segment_touched() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let before = storage.ops();
    append_all(&wal, &workload(3, 40)).unwrap();
    assert_eq!(storage.ops() - before, 2, "one write and one sync");
    // Across one rotation: the old segment's write and sync, the new segment's
    // creation (create, header write, sync, directory sync), its write and sync.
    let small = MemStorage::new();
    let opts = Options {
        segment_bytes_max: 64 + 4 * 64,
        ..Options::default()
    };
    let (wal, _) = Wal::open_storage(Arc::new(small.clone()), opts).unwrap();
    let before = small.ops();
    let batches: Vec<Batch> = (0..6).map(|i| vec![stamped(i, 32)]).collect();
    append_all(&wal, &batches).unwrap();
    assert_eq!(small.files().len(), 2);
    assert_eq!(small.ops() - before, 2 + 4 + 2);
}

#[test]
fn append_batches_of_no_batch_appends_nothing() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let before = storage.ops();
    assert_eq!(wal.append_batches(&[]).unwrap(), Vec::new());
    assert_eq!(storage.ops(), before);
    assert_eq!(wal.durable_lsn(), wal.start_lsn());
}

#[test]
fn a_refused_batch_among_many_refuses_the_call_before_anything_is_written() {
    let storage = MemStorage::new();
    let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), Options::default()).unwrap();
    let before = storage.ops();
    let ok: &[&[u8]] = &[b"fine"];
    let empty: &[&[u8]] = &[];
    assert!(matches!(
        wal.append_batches(&[ok, empty]),
        Err(AppendError::EmptyBatch)
    ));
    let big = vec![0u8; RECORD_MAX + 1];
    let too_large: &[&[u8]] = &[&big];
    assert!(matches!(
        wal.append_batches(&[ok, too_large, ok]),
        Err(AppendError::RecordTooLarge { .. })
    ));
    assert_eq!(storage.ops(), before);
    assert_eq!(wal.durable_lsn(), wal.start_lsn());
    // And the writer is not poisoned by a refusal.
    wal.append_batches(&[ok]).unwrap();
    assert_eq!(wal_read(&wal).contents(), vec![vec![b"fine".to_vec()]]);
}

/// The directory as the process left it (written bytes, synced or not).
fn as_left(s: &MemStorage) -> MemStorage {
    let out = MemStorage::new();
    for (name, bytes) in s.files() {
        out.put_file(&name, bytes);
    }
    out
}

/// A power cut at every step of one `append_batches` call (the k-th I/O operation
/// fails, then the directory is replaced by what a power cut at that instant could
/// leave, for several seeds), on a log that already holds acknowledged batches and
/// whose segments are small enough that the call rotates several times.
#[test]
fn a_power_cut_at_every_step_of_append_batches_leaves_a_prefix_of_whole_batches() {
    let opts = Options {
        segment_bytes_max: 900,
        ..Options::default()
    };
    let mut rng = StdRng::seed_from_u64(12);
    let acked = workload(4, 6);
    let fresh: Vec<Batch> = (100..125).map(|t| random_batch(&mut rng, t)).collect();
    let base = MemStorage::new();
    {
        let (wal, _) = Wal::open_storage(Arc::new(base.clone()), opts.clone()).unwrap();
        for b in &acked {
            wal.append(&refs(b)).unwrap();
        }
        // No clean close: the next writer starts from an unmarked tail.
        std::mem::forget(wal);
    }
    let mut all = acked.clone();
    all.extend(fresh.iter().cloned());

    // The operations of a fault-free call.
    let probe = as_left(&base);
    let (wal, _) = Wal::open_storage(Arc::new(probe.clone()), opts.clone()).unwrap();
    let before = probe.ops();
    append_all(&wal, &fresh).unwrap();
    let steps = probe.ops() - before;
    assert!(
        steps > 10,
        "the call rotates several times: {steps} operations"
    );
    drop(wal);

    let mut cut_counts = std::collections::BTreeSet::new();
    for k in 1..=steps + 1 {
        let storage = as_left(&base);
        let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts.clone()).unwrap();
        storage.fail_at(k);
        let r = append_all(&wal, &fresh);
        let done = match r {
            Ok(_) => all.len(),
            Err(AppendError::Io { .. }) => acked.len(),
            Err(e) => panic!("step {k}: {e}"),
        };
        assert_eq!(r.is_ok(), k > steps, "step {k}");
        for seed in 0..20 {
            let ctx = format!("step {k} seed {seed}");
            let crashed = storage.crash(rng.gen());
            let (wal2, report) = Wal::open_storage(Arc::new(crashed), opts.clone())
                .unwrap_or_else(|e| panic!("{ctx}: recovery failed: {e}"));
            assert!(report.corruption.is_empty(), "{ctx}: {report:?}");
            // `read_back` panics on a batch cut short without an error.
            let got = wal_read(&wal2);
            assert!(got.errors.is_empty(), "{ctx}: {:?}", got.errors);
            assert_prefix(&got.contents(), &all, done, &ctx);
            assert!(wal2.verify().unwrap().damage.is_empty(), "{ctx}");
            cut_counts.insert(got.batches.len());
        }
        drop(wal);
    }
    // The cuts fall at many batch boundaries, not only at the two ends.
    assert!(cut_counts.len() > 5, "{cut_counts:?}");
}
