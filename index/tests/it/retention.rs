//! The retention model test (issue 12): random histories with an injected clock
//! spanning weeks (irregular spacing, bursts, a clock set back now and then),
//! random pins, held states and policies. The selection must keep exactly what
//! an independently written oracle says the policy promises plus the always-kept
//! states, and selecting again from what it kept must keep all of it (GC twice is
//! a no-op). The cap stage must only ever drop the oldest rule-only states.
//!
//! The oracle is written differently from the implementation: buckets are the
//! civil date and time truncated to the unit in the offset's zone (jiff's
//! calendar, not epoch arithmetic), and "newest in its bucket" is a brute-force
//! look at every later state.

use std::collections::{BTreeMap, BTreeSet};
use tl_index::catalog::CheckpointIndex;

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use proptest::prelude::*;
use tl_index::record::CommitKind;
use tl_index::retention::{
    fit_to_cap, select, ByteSize, CapOutcome, CatalogStates, Clock, Decision, Held, History,
    PerStateEstimate, Pinned, Policy, Reason, Selection, Span, Unit,
};

use crate::support::project;

const S: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * S;
/// 2026-12-02 00:00:00 UTC.
const NOW: i64 = 1_796_169_600 * S;

/// The civil fields of `t` in the zone of `offset`, truncated to `unit`.
fn civil_bucket(t: i64, unit: Unit, offset_secs: i32) -> (i16, i8, i8, i8, i8, i8) {
    let zone = TimeZone::fixed(Offset::from_seconds(offset_secs).unwrap());
    let dt = Timestamp::from_nanosecond(t as i128)
        .unwrap()
        .to_zoned(zone)
        .datetime();
    let (h, m, s) = match unit {
        Unit::Day => (0, 0, 0),
        Unit::Hour => (dt.hour(), 0, 0),
        Unit::Minute => (dt.hour(), dt.minute(), 0),
        Unit::Second => (dt.hour(), dt.minute(), dt.second()),
    };
    (dt.year(), dt.month(), dt.day(), h, m, s)
}

/// What the policy promises state `i`, and what always keeps it, by brute force.
fn oracle_reasons(
    policy: &Policy,
    times: &[i64],
    pins: &[Pinned],
    held: &[Held],
    clock: Clock,
    i: usize,
) -> BTreeSet<Reason> {
    let mut out = BTreeSet::new();
    if i + 1 == times.len() {
        out.insert(Reason::Newest);
    }
    for p in pins.iter().filter(|p| p.state == i) {
        out.insert(Reason::Pin(p.name.clone()));
    }
    for h in held.iter().filter(|h| h.state == i) {
        out.insert(Reason::Held(h.reason.clone()));
    }
    // Within a span: the state is less than `span` old.
    let within = |t: i64, span: Option<Span>| span.is_some_and(|s| t > clock.now_ns - s.ns());
    if within(times[i], policy.keep_all) {
        out.insert(Reason::KeepAll);
    }
    let rules = [
        (Unit::Second, policy.keep_secondly),
        (Unit::Minute, policy.keep_minutely),
        (Unit::Hour, policy.keep_hourly),
        (Unit::Day, policy.keep_daily),
    ];
    for (unit, span) in rules {
        if !within(times[i], span) {
            continue;
        }
        let mine = civil_bucket(times[i], unit, clock.utc_offset_secs);
        let superseded = times[i + 1..].iter().any(|&later| {
            within(later, span) && civil_bucket(later, unit, clock.utc_offset_secs) == mine
        });
        if !superseded {
            out.insert(Reason::Bucket(unit));
        }
    }
    out
}

/// A history: gaps between states, mostly seconds to minutes, with bursts, long
/// pauses and the occasional clock set back.
fn history() -> impl Strategy<Value = Vec<i64>> {
    let gap = prop_oneof![
        4 => 0i64..2 * S,                 // a burst
        6 => S..600 * S,                  // editing
        2 => 3_600 * S..3 * DAY,          // away
        1 => -DAY..0,                     // the clock set back
    ];
    (0i64..28 * DAY, prop::collection::vec(gap, 0..160)).prop_map(|(back, gaps)| {
        let mut t = NOW - back;
        let mut times = Vec::with_capacity(gaps.len());
        for g in gaps {
            t += g;
            times.push(t);
        }
        times
    })
}

/// How a rule's span is drawn: off, any length, or the age of one of the
/// history's states give or take a nanosecond (so that span boundaries are hit).
#[derive(Clone, Copy, Debug)]
enum SpanChoice {
    Off,
    Ns(i64),
    AgeOf { state: usize, delta: i64 },
}

fn span_choice() -> impl Strategy<Value = SpanChoice> {
    prop_oneof![
        1 => Just(SpanChoice::Off),
        2 => (1i64..120 * S).prop_map(SpanChoice::Ns),
        2 => (1i64..40 * DAY).prop_map(SpanChoice::Ns),
        2 => (any::<usize>(), -1i64..=1).prop_map(|(state, delta)| SpanChoice::AgeOf { state, delta }),
    ]
}

fn resolve(choice: SpanChoice, times: &[i64], now: i64) -> Option<Span> {
    match choice {
        SpanChoice::Off => None,
        SpanChoice::Ns(ns) => Span::from_ns(ns),
        SpanChoice::AgeOf { state, delta } if !times.is_empty() => {
            Span::from_ns(now - times[state % times.len()] + delta)
        }
        SpanChoice::AgeOf { .. } => None,
    }
}

/// A random policy (no cap), as span choices for keep-all, -secondly,
/// -minutely, -hourly, -daily.
fn policy() -> impl Strategy<Value = [SpanChoice; 5]> {
    [
        span_choice(),
        span_choice(),
        span_choice(),
        span_choice(),
        span_choice(),
    ]
}

fn resolve_policy(choices: [SpanChoice; 5], times: &[i64], now: i64) -> Policy {
    let [all, s, m, h, d] = choices.map(|c| resolve(c, times, now));
    Policy {
        keep_all: all,
        keep_secondly: s,
        keep_minutely: m,
        keep_hourly: h,
        keep_daily: d,
        max_store_bytes: None,
    }
}

/// Offsets from UTC-12 to UTC+14, in quarter hours (every real zone's offset is
/// one), plus any second.
fn offset() -> impl Strategy<Value = i32> {
    prop_oneof![(-48i32..=56).prop_map(|q| q * 900), -50_400i32..=50_400,]
}

/// Pins and held states on random indices (taken modulo the history's length).
fn holds() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        prop::collection::vec(any::<usize>(), 0..6),
        prop::collection::vec(any::<usize>(), 0..3),
    )
}

struct Case {
    times: Vec<i64>,
    pins: Vec<Pinned>,
    held: Vec<Held>,
}

fn case(times: Vec<i64>, pins: Vec<usize>, held: Vec<usize>) -> Case {
    let n = times.len().max(1);
    Case {
        pins: pins
            .iter()
            .enumerate()
            .filter(|_| !times.is_empty())
            .map(|(k, i)| Pinned {
                state: i % n,
                name: format!("pin-{k}"),
            })
            .collect(),
        held: held
            .iter()
            .filter(|_| !times.is_empty())
            .map(|i| Held {
                state: i % n,
                reason: "shelf".into(),
            })
            .collect(),
        times,
    }
}

fn run(policy: &Policy, c: &Case, clock: Clock) -> Selection {
    let history = History {
        times_ns: &c.times,
        pins: &c.pins,
        held: &c.held,
    };
    select(policy, &history, clock).unwrap()
}

fn reasons_of(d: &Decision) -> BTreeSet<Reason> {
    match d {
        Decision::Kept { reasons } => reasons.iter().cloned().collect(),
        Decision::Dropped { .. } => BTreeSet::new(),
    }
}

/// The kept states as a history of their own, pins and holds renumbered.
fn kept_only(c: &Case, kept: &[usize]) -> Case {
    let new_index: BTreeMap<usize, usize> = kept.iter().enumerate().map(|(n, &i)| (i, n)).collect();
    Case {
        times: kept.iter().map(|&i| c.times[i]).collect(),
        pins: c
            .pins
            .iter()
            .map(|p| Pinned {
                state: new_index[&p.state],
                name: p.name.clone(),
            })
            .collect(),
        held: c
            .held
            .iter()
            .map(|h| Held {
                state: new_index[&h.state],
                reason: h.reason.clone(),
            })
            .collect(),
    }
}

#[test]
fn a_stores_checkpoints_and_pins_become_the_selections_input() {
    let (_tmp, root, mut store) = project();
    for i in 0..3 {
        std::fs::write(root.join("f"), format!("{i}")).unwrap();
        store.checkpoint(CommitKind::Manual, None).unwrap();
    }
    store.pin("first", CheckpointIndex::new(0)).unwrap();
    store.pin("gone-later", CheckpointIndex::new(1)).unwrap();
    store.pin("also-first", CheckpointIndex::new(0)).unwrap();
    store.unpin("gone-later").unwrap();
    let states = CatalogStates::of(store.catalog().unwrap());
    let times: Vec<i64> = store
        .catalog()
        .unwrap()
        .checkpoints()
        .iter()
        .map(|c| c.time_ns)
        .collect();
    assert_eq!(states.times_ns, times);
    let mut pins = states.pins.clone();
    pins.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        pins,
        [
            Pinned {
                state: 0,
                name: "also-first".into()
            },
            Pinned {
                state: 0,
                name: "first".into()
            },
        ]
    );
    let held = [Held {
        state: 1,
        reason: "shelf".into(),
    }];
    let policy = Policy {
        keep_all: None,
        keep_minutely: None,
        ..Policy::default()
    };
    // Long after: no rule reaches; the pins, the hold and the newest stay.
    let clock = Clock {
        now_ns: times[2] + 1_000 * DAY,
        utc_offset_secs: 0,
    };
    let sel = select(&policy, &states.history(&held), clock).unwrap();
    assert_eq!(sel.kept(), [0, 1, 2]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Exactly the promised states and the always-kept ones are kept, each with
    /// exactly the promised reasons; selecting again keeps them all.
    #[test]
    fn the_selection_keeps_exactly_what_the_policy_promises_and_is_idempotent(
        times in history(),
        policy in policy(),
        utc_offset_secs in offset(),
        (pins, held) in holds(),
        now_jitter in 0i64..DAY,
    ) {
        let c = case(times, pins, held);
        let clock = Clock { now_ns: NOW + now_jitter, utc_offset_secs };
        let policy = resolve_policy(policy, &c.times, clock.now_ns);
        let sel = run(&policy, &c, clock);
        prop_assert_eq!(sel.decisions.len(), c.times.len());
        for (i, d) in sel.decisions.iter().enumerate() {
            let promised = oracle_reasons(&policy, &c.times, &c.pins, &c.held, clock, i);
            prop_assert_eq!(&reasons_of(d), &promised, "state {} at {}", i, c.times[i]);
        }
        let kept = sel.kept();
        let again = kept_only(&c, &kept);
        let second = run(&policy, &again, clock);
        prop_assert_eq!(second.kept(), (0..again.times.len()).collect::<Vec<_>>());
    }

    /// The cap drops only states a time rule alone keeps, oldest first, and stops
    /// as soon as the estimate fits; the newest, pins and held states stay.
    #[test]
    fn the_cap_drops_the_oldest_rule_only_states_until_it_fits(
        times in history(),
        policy in policy(),
        (pins, held) in holds(),
        sizes in prop::collection::vec(0u64..1_000, 160),
        cap in 1u64..100_000,
    ) {
        let c = case(times, pins, held);
        let clock = Clock { now_ns: NOW, utc_offset_secs: 0 };
        let policy = resolve_policy(policy, &c.times, clock.now_ns);
        let before = run(&policy, &c, clock);
        let mut after = before.clone();
        let store_bytes: u64 = sizes.iter().take(c.times.len()).sum::<u64>() + 5_000;
        let cap = ByteSize::new(cap).unwrap();
        let report = fit_to_cap(&mut after, cap, store_bytes, &mut PerStateEstimate { bytes: &sizes });
        let rule_only = |d: &Decision| match d {
            Decision::Kept { reasons } => !reasons.iter().any(Reason::is_always),
            Decision::Dropped { .. } => false,
        };
        let candidates: Vec<usize> = (0..c.times.len()).filter(|&i| rule_only(&before.decisions[i])).collect();
        // The dropped ones are a prefix of the candidates, in order.
        prop_assert_eq!(&report.dropped_for_cap[..], &candidates[..report.dropped_for_cap.len()]);
        let freed: u64 = after.dropped().iter().map(|&i| sizes[i]).sum();
        prop_assert_eq!(report.projected_bytes, store_bytes.saturating_sub(freed));
        match report.outcome {
            CapOutcome::StillOver => {
                prop_assert!(report.projected_bytes > cap.bytes());
                prop_assert_eq!(report.dropped_for_cap.len(), candidates.len());
            }
            CapOutcome::AlreadyFits | CapOutcome::ThinnedToFit => {
                prop_assert!(report.projected_bytes <= cap.bytes());
                prop_assert_eq!(report.outcome == CapOutcome::AlreadyFits, report.dropped_for_cap.is_empty());
                // It stopped at the first drop that fit: without the last one it did not.
                if let Some(&last) = report.dropped_for_cap.last() {
                    prop_assert!(report.projected_bytes + sizes[last] > cap.bytes());
                }
            }
        }
        for i in 0..c.times.len() {
            let always = reasons_of(&before.decisions[i]).iter().any(Reason::is_always);
            if always {
                prop_assert_eq!(&after.decisions[i], &before.decisions[i]);
            }
        }
    }
}
