//! Property tests. (1) Arbitrary batches — empty records, records just under, at and
//! over the 1 MiB frame payload (split across frames), many small records — read
//! back exactly, before and after a reopen, across segment rotations. (2) A model
//! test: random sequences of append / seal / clean reopen / power cut + reopen /
//! injected I/O failure, checked against a plain `Vec` of batches: after every
//! reopen the log holds exactly a prefix of the appended batches that includes every
//! acknowledged one.

use std::sync::Arc;

use proptest::prelude::*;
use tl_wal::format::FRAME_PAYLOAD_MAX;
use tl_wal::testing::MemStorage;
use tl_wal::{AppendError, Options, Wal};

use crate::common::*;

fn record() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        20 => proptest::collection::vec(any::<u8>(), 0..200),
        2 => Just(Vec::new()),
        1 => (0u64..1000, FRAME_PAYLOAD_MAX - 16..FRAME_PAYLOAD_MAX + 40)
            .prop_map(|(seed, len)| noise(seed, len)),
    ]
}

fn batch() -> impl Strategy<Value = Batch> {
    proptest::collection::vec(record(), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_batches_round_trip_before_and_after_reopen(
        batches in proptest::collection::vec(batch(), 1..20),
        seg_max in prop_oneof![Just(64u64 << 20), 512u64..8192],
    ) {
        let storage = MemStorage::new();
        let opts = Options { segment_bytes_max: seg_max, ..Options::default() };
        let (wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts.clone()).unwrap();
        let mut lsns = Vec::new();
        for b in &batches {
            let a = wal.append(&refs(b)).unwrap();
            prop_assert_eq!(a.end_lsn, wal.durable_lsn());
            lsns.push(a.lsn);
        }
        let got = wal_read(&wal);
        prop_assert!(got.errors.is_empty());
        prop_assert_eq!(got.batches.iter().map(|b| b.0).collect::<Vec<_>>(), lsns);
        prop_assert_eq!(&got.contents(), &batches);
        drop(wal);
        let (wal, report) = Wal::open_storage(Arc::new(storage), opts).unwrap();
        prop_assert!(report.is_clean());
        prop_assert_eq!(&wal_read(&wal).contents(), &batches);
        prop_assert!(wal.verify().unwrap().damage.is_empty());
    }
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8, u16),
    Seal,
    Reopen,
    Crash(u64),
    FailAt(u8),
    FailSyncAt(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (1u8..4, 0u16..600).prop_map(|(n, len)| Op::Append(n, len)),
        1 => Just(Op::Seal),
        2 => Just(Op::Reopen),
        3 => any::<u64>().prop_map(Op::Crash),
        1 => (1u8..10).prop_map(Op::FailAt),
        1 => (1u8..5).prop_map(Op::FailSyncAt),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_log_is_always_a_prefix_of_the_appended_batches_holding_every_acknowledged_one(
        ops in proptest::collection::vec(op(), 1..60),
        seg_max in 256u64..4096,
    ) {
        let opts = Options { segment_bytes_max: seg_max, ..Options::default() };
        let mut storage = MemStorage::new();
        let (mut wal, _) = Wal::open_storage(Arc::new(storage.clone()), opts.clone()).unwrap();
        // The model: batches in the log, and the unacknowledged one that may be.
        let mut model: Vec<Batch> = Vec::new();
        let mut maybe: Option<Batch> = None;
        let mut tag = 0u64;
        for op in ops {
            let reopen = match op {
                Op::Append(n, len) => {
                    let b: Batch = (0..n as u64)
                        .map(|i| if len == 0 { Vec::new() } else { stamped(tag * 4 + i, len as usize) })
                        .collect();
                    tag += 1;
                    match wal.append(&refs(&b)) {
                        Ok(_) => {
                            prop_assert!(maybe.is_none());
                            model.push(b);
                        }
                        Err(AppendError::Io { .. }) => maybe = Some(b),
                        Err(AppendError::Poisoned { .. }) => prop_assert!(wal.is_poisoned()),
                        Err(e) => panic!("{e}"),
                    }
                    None
                }
                Op::Seal => { wal.seal(); None }
                Op::FailAt(k) => { storage.fail_at(k as u64); None }
                Op::FailSyncAt(k) => { storage.fail_sync_at(k as u64); None }
                Op::Reopen => Some(None),
                Op::Crash(seed) => Some(Some(seed)),
            };
            if let Some(crash) = reopen {
                let next = match crash {
                    Some(seed) => storage.crash(seed),
                    None => storage.clone(),
                };
                drop(wal);
                storage = next;
                // A fault armed but not yet hit must not fire inside recovery here.
                let fresh = MemStorage::new();
                for (name, bytes) in storage.files() {
                    fresh.put_file(&name, bytes);
                }
                if crash.is_none() {
                    storage = fresh;
                }
                let (w, report) = Wal::open_storage(Arc::new(storage.clone()), opts.clone()).unwrap();
                prop_assert!(report.corruption.is_empty(), "{:?}", report);
                let got = wal_read(&w);
                prop_assert!(got.errors.is_empty());
                let got = got.contents();
                let mut allowed = model.clone();
                allowed.extend(maybe.take());
                assert_prefix(&got, &allowed, model.len(), "model");
                model = got;
                wal = w;
            }
        }
    }
}
