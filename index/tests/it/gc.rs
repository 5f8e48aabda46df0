//! GC (issue 12) on real stores: random histories captured with an injected
//! clock spanning weeks, random pins and policies. After `gc::run`, exactly the
//! states the policy's selection promises remain (none missing, none of the
//! dropped ones left), each with its id and its exact content; pins name the
//! same states; the chain verifies (`fsck --deep` is clean); GC again is a
//! no-op; and the store goes on capturing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use tl_index::catalog::CheckpointIndex;
use tl_index::gc;
use tl_index::record::CommitKind;
use tl_index::retention::{select, CatalogStates, Clock};
use tl_index::store::Store;

use crate::fixture_store::assert_fsck_deep_is_clean;
use crate::support::project;

const S: i64 = 1_000_000_000;
const HOUR: i64 = 3_600 * S;
const DAY: i64 = 24 * HOUR;
/// 2026-11-02 00:00:00 UTC.
const START: i64 = 1_793_577_600 * S;

/// Every state's content: path → (mode, bytes), by checkpoint id.
type States = BTreeMap<String, BTreeMap<Vec<u8>, (String, Vec<u8>)>>;

/// The content of every checkpoint of `store`.
fn states(store: &Store) -> States {
    let mut out = States::new();
    for (i, c) in store.checkpoints().iter().enumerate() {
        let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
        let files = tree
            .iter()
            .map(|(p, e)| {
                let bytes = store.blob_bytes(&e.hash).unwrap();
                (p.clone(), (format!("{:?}", e.mode), bytes))
            })
            .collect();
        out.insert(c.id.clone(), files);
    }
    out
}

/// One step of a history: wait, change some files, capture.
#[derive(Clone, Debug)]
struct Step {
    after_ns: i64,
    writes: Vec<(usize, u16)>,
    deletes: Vec<usize>,
    pin: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![1..60i64, 60..3_600i64, 3_600..(2 * 86_400i64)],
        prop::collection::vec((0..6usize, any::<u16>()), 0..3),
        prop::collection::vec(0..6usize, 0..2),
        prop::bool::weighted(0.08),
    )
        .prop_map(|(secs, writes, deletes, pin)| Step {
            after_ns: secs * S,
            writes,
            deletes,
            pin,
        })
}

fn span() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("0s"),
        Just("90s"),
        Just("1h"),
        Just("1d"),
        Just("7d"),
        Just("30d")
    ]
}

/// A `[retention]` section.
fn policy() -> impl Strategy<Value = String> {
    (span(), span(), span(), span(), span()).prop_map(|(all, sec, min, hour, day)| {
        format!(
            "[retention]\nkeep-all = \"{all}\"\nkeep-secondly = \"{sec}\"\nkeep-minutely = \
             \"{min}\"\nkeep-hourly = \"{hour}\"\nkeep-daily = \"{day}\"\n"
        )
    })
}

/// Captures `steps` in a new project with the clock at `START` plus each step's
/// wait; returns the project and the time of the last step.
fn history(steps: &[Step], retention: &str) -> (tempfile::TempDir, std::path::PathBuf, i64) {
    let (tmp, root, store) = project();
    drop(store);
    fs::write(root.join(".tl/config.toml"), retention).unwrap();
    let mut store = Store::open(&root).unwrap();
    let now = Arc::new(AtomicI64::new(START));
    let clock = now.clone();
    store.set_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    for (i, s) in steps.iter().enumerate() {
        now.fetch_add(s.after_ns, Ordering::SeqCst);
        for &(f, v) in &s.writes {
            let body = format!("file {f} version {v} step {i}\n").repeat(1 + (v % 50) as usize);
            fs::write(root.join(format!("f{f}.txt")), body).unwrap();
        }
        for &f in &s.deletes {
            let _ = fs::remove_file(root.join(format!("f{f}.txt")));
        }
        store.checkpoint(CommitKind::Auto, None).unwrap();
        if s.pin {
            let last = store.last_index().unwrap();
            store.pin(&format!("p{i}"), last).unwrap();
        }
    }
    let end = now.load(Ordering::SeqCst);
    (tmp, root, end)
}

/// Pins by name → the id of the checkpoint each names.
fn pins(store: &Store) -> BTreeMap<String, String> {
    let cat = store.catalog().unwrap();
    cat.pins()
        .iter()
        .map(|(name, pin)| {
            let idx = cat.checkpoint_at_lsn(pin.target_lsn).unwrap();
            (name.clone(), cat.checkpoints()[idx].id.clone())
        })
        .collect()
}

fn gc_and_check(root: &Path, clock: Clock) {
    let store = Store::open(root).unwrap();
    let before = states(&store);
    let pins_before = pins(&store);
    let cat = store.catalog().unwrap();
    let selection = select(
        &store.config().retention,
        &CatalogStates::of(cat).history(&[]),
        clock,
    )
    .unwrap();
    let promised: BTreeSet<String> = selection
        .kept()
        .into_iter()
        .map(|i| cat.checkpoints()[i].id.clone())
        .collect();

    let (store, report) = gc::run(store, clock).unwrap();
    assert_eq!(report.plan.kept() as usize, promised.len());
    drop(store);

    // A fresh open folds the new log from nothing (GC deleted the caches).
    let store = Store::open(root).unwrap();
    let after = states(&store);
    let kept: BTreeSet<String> = after.keys().cloned().collect();
    assert_eq!(kept, promised, "exactly the promised states remain");
    for (id, content) in &after {
        assert_eq!(content, &before[id], "state {id} replays identical");
    }
    assert_eq!(pins(&store), pins_before, "every pin names its state");
    for id in before.keys().filter(|id| !promised.contains(*id)) {
        assert!(store.resolve(id).is_err(), "dropped state {id} is gone");
    }
    drop(store);
    assert_fsck_deep_is_clean(root);

    // GC again with the same clock: nothing to drop, the log is untouched.
    let store = Store::open(root).unwrap();
    let bytes = gc::dir_bytes(&store.layout().log_dir()).unwrap();
    let (mut store, again) = gc::run(store, clock).unwrap();
    assert!(again.plan.is_noop(), "GC twice is a no-op");
    assert_eq!(again.log_bytes_after, bytes);

    // And the store goes on: a capture after the GC chains on.
    fs::write(root.join("after-gc.txt"), b"new").unwrap();
    let out = store.checkpoint(CommitKind::Manual, None).unwrap();
    assert_eq!(out.checkpoint.changes.len(), 1);
    drop(store);
    assert_fsck_deep_is_clean(root);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn gc_keeps_exactly_the_promised_states_each_identical_with_its_id(
        steps in prop::collection::vec(step(), 2..30),
        retention in policy(),
        later in 0..(3 * DAY),
        offset in prop_oneof![Just(0), Just(3_600), Just(-18_000), Just(19_800)],
    ) {
        let (_tmp, root, end) = history(&steps, &retention);
        gc_and_check(&root, Clock { now_ns: end + later, utc_offset_secs: offset });
    }
}

#[test]
fn gc_of_a_policy_that_keeps_only_the_newest_leaves_it_and_the_pins() {
    let steps: Vec<Step> = (0..12)
        .map(|i| Step {
            after_ns: HOUR,
            writes: vec![(i % 6, i as u16)],
            deletes: vec![],
            pin: i == 3,
        })
        .collect();
    let none = "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\nkeep-minutely = \
                \"0s\"\nkeep-hourly = \"0s\"\nkeep-daily = \"0s\"\n";
    let (_tmp, root, end) = history(&steps, none);
    let clock = Clock {
        now_ns: end,
        utc_offset_secs: 0,
    };
    gc_and_check(&root, clock);
    let store = Store::open(&root).unwrap();
    // The newest, the pinned one, and the checkpoint made after the GC.
    assert_eq!(store.checkpoints().len(), 3);
    assert_eq!(store.catalog().unwrap().thinnings().len(), 1);
    let t = &store.catalog().unwrap().thinnings()[0].thinned;
    assert_eq!((t.states_before, t.kept, t.dropped), (12, 2, 10));
}

#[test]
fn gc_carries_a_big_files_chunks_and_its_chunk_list() {
    let (_tmp, root, store) = project();
    drop(store);
    let none = "[retention]\nkeep-all = \"0s\"\nkeep-minutely = \"0s\"\nkeep-hourly = \
                \"0s\"\nkeep-daily = \"0s\"\n";
    fs::write(root.join(".tl/config.toml"), none).unwrap();
    let mut store = Store::open(&root).unwrap();
    // Over CHUNK_MIN_FILE: stored as chunks and a chunk list (content of several
    // Blob parts, from stores before chunks, is carried by v3_store's test).
    let big: Vec<u8> = (0..9_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("big.bin"), &big).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    fs::write(root.join("small.txt"), b"x").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    drop(store);
    gc_and_check(
        &root,
        Clock {
            now_ns: Store::now_ns() + DAY,
            utc_offset_secs: 0,
        },
    );
}

#[test]
fn fsck_tells_a_rewrite_no_gc_recorded_from_a_gc() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join("a.txt"), b"a").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    let (chain, seq) = (store.catalog().unwrap().chain(), store.seq());
    drop(store);
    // A batch carrying an earlier log's id (an Origin), chained correctly, and
    // no Thinned record after it: what a rewrite by hand would leave.
    let (wal, _) = tl_wal::Wal::open(
        root.join(".tl/wal"),
        root.join(".tl/quarantine"),
        tl_wal::Options::default(),
    )
    .unwrap();
    let origin = tl_index::record::Record::Origin { chain: [0xab; 32] }.encode();
    let new_chain = tl_index::record::chain_hash(&chain, [origin.as_slice()].into_iter());
    let commit = tl_index::record::Record::Commit {
        time_ns: Store::now_ns(),
        seq: seq + 1,
        kind: CommitKind::Auto,
        message: None,
        timeline: 0,
        acked_lsn: wal.durable_lsn(),
        chain: new_chain,
        stats: Default::default(),
    }
    .encode();
    wal.append(&[&origin, &commit]).unwrap();
    drop(wal);
    let report = tl_index::fsck::fsck(
        &root,
        &tl_index::fsck::FsckOptions {
            deep: false,
            check_tail: true,
        },
    )
    .unwrap();
    let kinds: Vec<_> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [tl_index::fsck::ProblemKind::RewrittenWithoutRecord],
        "{:?}",
        report.problems
    );
    // A real GC records its rewrite: fsck is clean and lists it.
    let store = Store::open(&root).unwrap();
    let clock = Clock {
        now_ns: Store::now_ns(),
        utc_offset_secs: 0,
    };
    let none = "[retention]\nkeep-all = \"0s\"\nkeep-minutely = \"0s\"\nkeep-hourly = \
                \"0s\"\nkeep-daily = \"0s\"\n";
    drop(store);
    fs::write(root.join(".tl/config.toml"), none).unwrap();
    let store = Store::open(&root).unwrap();
    let (store, _) = gc::run(store, clock).unwrap();
    drop(store);
    let report = tl_index::fsck::fsck(
        &root,
        &tl_index::fsck::FsckOptions {
            deep: true,
            check_tail: true,
        },
    )
    .unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.catalog.thinnings().len(), 1);
}
