//! The wall clock jumps (issue 19): NTP steps it back, a laptop resumes after a
//! day. The rule (ARCHITECTURE.md, "Time"): a new record is stamped with the
//! clock, but never at or before the last checkpoint (1 µs after it at least),
//! so times in the log only go forward and "the state at T" keeps one meaning;
//! a step forward is time that passed. Driven by an injected clock.

use std::fs;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tl_index::record::CommitKind;
use tl_index::store::Store;

use crate::support::project;

const MIN: i64 = 60_000_000_000;
/// 2026-06-01T10:00:00Z.
const T0: i64 = 1_780_308_000_000_000_000;

fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .unwrap()
        .to_string()
}

#[test]
fn times_only_go_forward_when_the_clock_steps_back_and_a_jump_forward_is_kept() {
    let (_tmp, root, mut store) = project();
    let now = Arc::new(AtomicI64::new(T0));
    let clock = now.clone();
    store.set_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    let mut step = |at: i64, text: &str| {
        now.store(at, Ordering::SeqCst);
        fs::write(root.join("a.txt"), text).unwrap();
        store.checkpoint(CommitKind::Auto, None).unwrap();
    };
    step(T0, "a");
    step(T0 + 30 * MIN, "b");
    // NTP steps the clock back an hour: the next two are stamped just after b.
    step(T0 - 30 * MIN, "c");
    step(T0 - 29 * MIN, "d");
    // A laptop resumed a day later: that time passed.
    step(T0 + 24 * 60 * MIN, "e");
    drop(store);

    let store = Store::open_read_only(&root).unwrap();
    let times: Vec<i64> = store.checkpoints().iter().map(|c| c.time_ns).collect();
    assert_eq!(
        times,
        vec![
            T0,
            T0 + 30 * MIN,
            T0 + 30 * MIN + 1_000,
            T0 + 30 * MIN + 2_000,
            T0 + 24 * 60 * MIN
        ]
    );
    let content = |expr: &str| {
        let idx = store.resolve(expr).unwrap();
        let tree = store.tree_at(idx).unwrap();
        store.blob_bytes(&tree[b"a.txt".as_slice()].hash).unwrap()
    };
    assert_eq!(content(&rfc3339(T0 + 15 * MIN)), b"a");
    // Before the step back the newest state was b; the two made after it sit
    // just after b, so a time between b and the jump forward means d.
    assert_eq!(content(&rfc3339(T0 + 31 * MIN)), b"d");
    assert_eq!(content(&rfc3339(T0 + 23 * 60 * MIN)), b"d");
    assert_eq!(content(&rfc3339(T0 + 24 * 60 * MIN)), b"e");
}

#[test]
fn a_pin_made_after_the_clock_stepped_back_is_not_stamped_before_the_last_state() {
    let (_tmp, root, mut store) = project();
    let now = Arc::new(AtomicI64::new(T0));
    let clock = now.clone();
    store.set_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    fs::write(root.join("a.txt"), "a").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    now.store(T0 - 60 * MIN, Ordering::SeqCst);
    fs::write(root.join("a.txt"), "b").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let last = store.last_index().unwrap();
    store.pin("after-step", last).unwrap();
    let cps = store.checkpoints();
    assert!(
        cps[1].time_ns > cps[0].time_ns,
        "{:?}",
        cps[1].time_ns - cps[0].time_ns
    );
    let pin = &store.catalog().unwrap().pins()["after-step"];
    assert!(pin.time_ns > cps[0].time_ns, "pin stamped {}", pin.time_ns);
}
