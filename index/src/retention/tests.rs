//! Unit tests of the selection, the cap and the horizon, one behaviour each.

use super::*;

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 3_600 * S;
const DAY: i64 = 86_400 * S;
/// 2024-10-04 00:00:00 UTC, a midnight.
const NOW: i64 = 20_000 * DAY;

fn off() -> Policy {
    Policy {
        keep_all: None,
        keep_secondly: None,
        keep_minutely: None,
        keep_hourly: None,
        keep_daily: None,
        max_store_bytes: None,
    }
}

fn span(ns: i64) -> Option<Span> {
    Span::from_ns(ns)
}

fn utc() -> Clock {
    Clock {
        now_ns: NOW,
        utc_offset_secs: 0,
    }
}

fn run(policy: &Policy, times: &[i64], pins: &[Pinned], held: &[Held], clock: Clock) -> Selection {
    let history = History {
        times_ns: times,
        pins,
        held,
    };
    select(policy, &history, clock).unwrap()
}

fn kept(policy: &Policy, times: &[i64]) -> Vec<usize> {
    run(policy, times, &[], &[], utc()).kept()
}

fn reasons(sel: &Selection, i: usize) -> Vec<Reason> {
    match &sel.decisions[i] {
        Decision::Kept { reasons } => reasons.clone(),
        d => panic!("state {i} is {d:?}"),
    }
}

#[test]
fn an_empty_history_selects_nothing() {
    let sel = run(&Policy::default(), &[], &[], &[], utc());
    assert!(sel.decisions.is_empty());
}

#[test]
fn the_newest_state_is_kept_when_every_rule_is_off() {
    let times = [NOW - 3 * DAY, NOW - 2 * DAY, NOW - DAY];
    let sel = run(&off(), &times, &[], &[], utc());
    assert_eq!(sel.kept(), [2]);
    assert_eq!(reasons(&sel, 2), [Reason::Newest]);
    assert_eq!(
        sel.decisions[0],
        Decision::Dropped {
            cause: DropCause::NotPromised
        }
    );
}

#[test]
fn the_newest_is_the_last_in_the_log_not_the_latest_time() {
    let times = [NOW - MIN, NOW - 2 * DAY];
    let sel = run(&off(), &times, &[], &[], utc());
    assert_eq!(sel.kept(), [1]);
}

#[test]
fn keep_all_keeps_every_state_younger_than_its_span() {
    let policy = Policy {
        keep_all: span(HOUR),
        ..off()
    };
    // Exactly one hour old is outside the span; a nanosecond younger is inside.
    let times = [
        NOW - 2 * HOUR,
        NOW - HOUR,
        NOW - HOUR + 1,
        NOW - MIN,
        NOW - S,
        NOW,
    ];
    assert_eq!(kept(&policy, &times), [2, 3, 4, 5]);
    let sel = run(&policy, &times, &[], &[], utc());
    assert_eq!(reasons(&sel, 3), [Reason::KeepAll]);
}

#[test]
fn with_only_keep_all_on_a_burst_is_kept_whole_and_older_states_go() {
    let policy = Policy {
        keep_all: span(10 * S),
        ..off()
    };
    let mut times: Vec<i64> = (0..50).map(|i| NOW - 60 * S + i * S / 10).collect();
    times.extend((0..20).map(|i| NOW - 9 * S + i * S / 4));
    let k = kept(&policy, &times);
    assert_eq!(k, (50..70).collect::<Vec<_>>());
}

#[test]
fn keep_secondly_keeps_the_latest_state_of_each_second() {
    let policy = Policy {
        keep_secondly: span(MIN),
        ..off()
    };
    let base = NOW - 30 * S;
    let times = [base, base + S / 2, base + S - 1, base + S, base + 3 * S + 7];
    // Second `base`: 0, 1, 2 -> 2; second base+1: 3; second base+3: 4.
    assert_eq!(kept(&policy, &times), [2, 3, 4]);
}

#[test]
fn keep_minutely_buckets_on_minute_boundaries() {
    let policy = Policy {
        keep_minutely: span(DAY),
        ..off()
    };
    let m = NOW - 10 * HOUR; // a whole minute
    let times = [
        m + 5 * S,
        m + 50 * S,
        m + MIN,
        m + MIN + 59 * S,
        m + 3 * MIN,
        NOW - S,
    ];
    let sel = run(&policy, &times, &[], &[], utc());
    assert_eq!(sel.kept(), [1, 3, 4, 5]);
    assert_eq!(reasons(&sel, 1), [Reason::Bucket(Unit::Minute)]);
    assert_eq!(
        reasons(&sel, 5),
        [Reason::Newest, Reason::Bucket(Unit::Minute)]
    );
}

#[test]
fn keep_hourly_keeps_the_latest_state_of_each_hour() {
    let policy = Policy {
        keep_hourly: span(7 * DAY),
        ..off()
    };
    let h = NOW - 3 * DAY;
    let times = [
        h,
        h + 59 * MIN,
        h + HOUR,
        h + 5 * HOUR + 1,
        h + 5 * HOUR + 2,
        NOW - S,
    ];
    assert_eq!(kept(&policy, &times), [1, 2, 4, 5]);
}

#[test]
fn keep_daily_keeps_the_latest_state_of_each_utc_day_at_offset_zero() {
    let policy = Policy {
        keep_daily: span(90 * DAY),
        ..off()
    };
    let d = NOW - 10 * DAY; // a UTC midnight
    let times = [d - HOUR, d - 1, d, d + 23 * HOUR, d + DAY + 1, NOW - S];
    assert_eq!(kept(&policy, &times), [1, 3, 4, 5]);
}

#[test]
fn keep_daily_follows_the_local_days_of_the_utc_offset() {
    let policy = Policy {
        keep_daily: span(90 * DAY),
        ..off()
    };
    let d = NOW - 10 * DAY;
    // 22:30 and 23:30 UTC the day before `d`, 00:30 UTC on `d`.
    let times = [d - 90 * MIN, d - 30 * MIN, d + 30 * MIN, NOW - S];
    // UTC: days d-1 (0, 1) and d (2).
    assert_eq!(kept(&policy, &times), [1, 2, 3]);
    // UTC+02:00: 00:30, 01:30, 02:30 on local day d: one day.
    let east = Clock {
        utc_offset_secs: 2 * 3_600,
        ..utc()
    };
    assert_eq!(run(&policy, &times, &[], &[], east).kept(), [2, 3]);
    // UTC-01:00: 21:30, 22:30, 23:30 on local day d-1: one day.
    let west = Clock {
        utc_offset_secs: -3_600,
        ..utc()
    };
    assert_eq!(run(&policy, &times, &[], &[], west).kept(), [2, 3]);
}

#[test]
fn half_hour_offsets_shift_hourly_buckets_to_local_hours() {
    let policy = Policy {
        keep_hourly: span(DAY),
        ..off()
    };
    let h = NOW - 5 * HOUR; // a UTC hour
    let times = [h + 10 * MIN, h + 40 * MIN, NOW - S];
    assert_eq!(kept(&policy, &times), [1, 2]);
    let india = Clock {
        utc_offset_secs: 5 * 3_600 + 1_800,
        ..utc()
    };
    // At +05:30 the UTC hour's :10 and :40 are local :40 and :10 of the next
    // hour: two local hours.
    assert_eq!(run(&policy, &times, &[], &[], india).kept(), [0, 1, 2]);
    let times = [h + 35 * MIN, h + 80 * MIN, NOW - S];
    assert_eq!(kept(&policy, &times), [0, 1, 2]);
    assert_eq!(run(&policy, &times, &[], &[], india).kept(), [1, 2]);
}

#[test]
fn a_bucket_rule_reaches_only_within_its_span() {
    let policy = Policy {
        keep_daily: span(3 * DAY),
        ..off()
    };
    let times = [
        NOW - 5 * DAY,
        NOW - 3 * DAY,
        NOW - 3 * DAY + 1,
        NOW - 2 * DAY,
        NOW - S,
    ];
    // 5d and exactly 3d are outside; 3d less a nanosecond is alone in its day.
    assert_eq!(kept(&policy, &times), [2, 3, 4]);
}

#[test]
fn a_bucket_straddling_the_span_keeps_the_latest_state_inside_it() {
    let policy = Policy {
        keep_hourly: span(2 * HOUR + 30 * MIN),
        ..off()
    };
    let h = NOW - 3 * HOUR;
    // Hour h: 10 and 20 minutes in are outside the span, 40 inside.
    let times = [h + 10 * MIN, h + 20 * MIN, h + 40 * MIN, NOW - S];
    assert_eq!(kept(&policy, &times), [2, 3]);
    let times = [h + 10 * MIN, h + 20 * MIN, NOW - S];
    assert_eq!(kept(&policy, &times), [2]);
}

#[test]
fn the_rules_are_a_union_and_each_kept_state_lists_every_reason() {
    let policy = Policy {
        keep_all: span(HOUR),
        keep_minutely: span(DAY),
        keep_hourly: span(7 * DAY),
        ..off()
    };
    let times = [
        NOW - 3 * DAY,
        NOW - 2 * HOUR,
        NOW - 2 * HOUR + S,
        NOW - 30 * MIN,
        NOW - 30 * MIN + S,
    ];
    let sel = run(&policy, &times, &[], &[], utc());
    assert_eq!(sel.kept(), [0, 2, 3, 4]);
    assert_eq!(reasons(&sel, 0), [Reason::Bucket(Unit::Hour)]);
    assert_eq!(
        reasons(&sel, 2),
        [Reason::Bucket(Unit::Minute), Reason::Bucket(Unit::Hour)]
    );
    assert_eq!(reasons(&sel, 3), [Reason::KeepAll]);
    assert_eq!(
        reasons(&sel, 4),
        [
            Reason::Newest,
            Reason::KeepAll,
            Reason::Bucket(Unit::Minute),
            Reason::Bucket(Unit::Hour)
        ]
    );
}

#[test]
fn pinned_states_are_kept_with_the_names_of_their_pins() {
    let times = [NOW - 300 * DAY, NOW - 200 * DAY, NOW - S];
    let pins = [
        Pinned {
            state: 0,
            name: "release-1.0".into(),
        },
        Pinned {
            state: 0,
            name: "alpha".into(),
        },
    ];
    let sel = run(&Policy::default(), &times, &pins, &[], utc());
    assert_eq!(sel.kept(), [0, 2]);
    assert_eq!(
        reasons(&sel, 0),
        [
            Reason::Pin("alpha".into()),
            Reason::Pin("release-1.0".into())
        ]
    );
}

#[test]
fn held_states_are_kept_with_their_reason() {
    let times = [NOW - 300 * DAY, NOW - 200 * DAY, NOW - S];
    let held = [Held {
        state: 1,
        reason: "timeline experiment".into(),
    }];
    let sel = run(&Policy::default(), &times, &[], &held, utc());
    assert_eq!(sel.kept(), [1, 2]);
    assert_eq!(
        reasons(&sel, 1),
        [Reason::Held("timeline experiment".into())]
    );
}

#[test]
fn a_pin_or_hold_naming_no_state_is_refused() {
    let times = [NOW];
    let pins = [Pinned {
        state: 1,
        name: "gone".into(),
    }];
    let history = History {
        times_ns: &times,
        pins: &pins,
        held: &[],
    };
    let err = select(&Policy::default(), &history, utc()).unwrap_err();
    assert_eq!(
        err,
        SelectError::NoSuchState {
            what: "pin gone".into(),
            state: 1,
            len: 1
        }
    );
    let held = [Held {
        state: 9,
        reason: "shelf".into(),
    }];
    let history = History {
        times_ns: &times,
        pins: &[],
        held: &held,
    };
    assert!(select(&Policy::default(), &history, utc()).is_err());
}

#[test]
fn states_whose_clock_went_backwards_are_bucketed_by_their_own_time() {
    let policy = Policy {
        keep_minutely: span(DAY),
        ..off()
    };
    let m = NOW - HOUR;
    // The clock is set back 50s between states 1 and 2.
    let times = [m + 50 * S, m + MIN + 10 * S, m + 20 * S, m + MIN + 30 * S];
    // Minute m holds 0 and 2: 2 is later in the log and is kept. Minute m+1
    // holds 1 and 3: 3.
    assert_eq!(kept(&policy, &times), [2, 3]);
    // Set back by a day: state 2 falls out of keep-all, into an old day.
    let policy = Policy {
        keep_all: span(HOUR),
        keep_daily: span(90 * DAY),
        ..off()
    };
    let times = [
        NOW - 30 * MIN,
        NOW - 20 * MIN,
        NOW - DAY - 20 * MIN,
        NOW - 10 * MIN,
    ];
    let sel = run(&policy, &times, &[], &[], utc());
    assert_eq!(sel.kept(), [0, 1, 2, 3]);
    assert_eq!(reasons(&sel, 2), [Reason::Bucket(Unit::Day)]);
}

#[test]
fn states_from_the_future_are_within_every_span() {
    let policy = Policy {
        keep_all: span(HOUR),
        ..off()
    };
    let times = [NOW + DAY, NOW + HOUR, NOW - 2 * HOUR];
    assert_eq!(kept(&policy, &times), [0, 1, 2]);
}

#[test]
fn extreme_times_do_not_overflow() {
    let times = [i64::MIN, -1, 0, i64::MAX];
    let policy = Policy {
        keep_all: span(i64::MAX),
        keep_secondly: span(i64::MAX),
        keep_daily: span(i64::MAX),
        ..off()
    };
    let clock = Clock {
        now_ns: i64::MAX,
        utc_offset_secs: -86_399,
    };
    // Ages of 2^64 - 1 and 2^63 are past an i64::MAX span (wrapping would
    // put them inside it); only the newest is kept.
    let sel = run(&policy, &times, &[], &[], clock);
    assert_eq!(sel.kept(), [3]);
    let clock = Clock {
        now_ns: i64::MIN,
        utc_offset_secs: 86_399,
    };
    assert_eq!(run(&policy, &times, &[], &[], clock).kept(), [0, 1, 2, 3]);
}

#[test]
fn buckets_before_the_epoch_round_down() {
    assert_eq!(bucket(-1, Unit::Second, 0), -1);
    assert_eq!(bucket(0, Unit::Second, 0), 0);
    assert_eq!(bucket(-DAY, Unit::Day, 0), -1);
    assert_eq!(bucket(-DAY - 1, Unit::Day, 0), -2);
    assert_eq!(bucket(-1, Unit::Day, 1), 0);
}

#[test]
fn the_default_policy_thins_a_quarter_of_history_as_promised() {
    // A state every ten minutes for 120 days.
    let times: Vec<i64> = (0..120 * 144).rev().map(|i| NOW - i * 10 * MIN).collect();
    let sel = run(&Policy::default(), &times, &[], &[], utc());
    let kept = sel.kept();
    let ages: Vec<i64> = kept.iter().map(|&i| NOW - times[i]).collect();
    // Beyond 90 days nothing; 7..90 days one per day; 1..7 days one per hour;
    // the last day one per ten-minute state (each its own minute).
    assert!(ages.iter().all(|&a| a < 90 * DAY));
    let in_band = |lo: i64, hi: i64| ages.iter().filter(|&&a| a >= lo && a < hi).count();
    assert_eq!(in_band(0, DAY), 144);
    assert_eq!(in_band(DAY, 7 * DAY), 6 * 24);
    assert_eq!(in_band(7 * DAY, 90 * DAY), 83);
}

#[test]
fn selecting_again_from_the_kept_states_keeps_them_all() {
    let times: Vec<i64> = (0..2_000)
        .map(|i| NOW - 40 * DAY + i * i * (S / 100 * 86))
        .collect();
    let pins = [Pinned {
        state: 3,
        name: "p".into(),
    }];
    let first = run(&Policy::default(), &times, &pins, &[], utc());
    let kept = first.kept();
    let again: Vec<i64> = kept.iter().map(|&i| times[i]).collect();
    let pins = [Pinned {
        state: kept.iter().position(|&i| i == 3).unwrap(),
        name: "p".into(),
    }];
    let second = run(&Policy::default(), &again, &pins, &[], utc());
    assert_eq!(second.kept().len(), again.len());
    assert!(kept.len() < times.len());
}

fn rule_kept(times: &[i64]) -> Selection {
    let policy = Policy {
        keep_all: span(HOUR),
        ..off()
    };
    let pins = [Pinned {
        state: 1,
        name: "pin".into(),
    }];
    let held = [Held {
        state: 2,
        reason: "shelf".into(),
    }];
    run(&policy, times, &pins, &held, utc())
}

/// Seven states in the last hour; 1 is pinned, 2 held, 6 the newest.
fn seven() -> Vec<i64> {
    (0..7).map(|i| NOW - 50 * MIN + i * MIN).collect()
}

#[test]
fn a_cap_already_met_drops_nothing_more() {
    let mut sel = rule_kept(&seven());
    let before = sel.clone();
    let cap = ByteSize::new(1_000).unwrap();
    let report = fit_to_cap(
        &mut sel,
        cap,
        1_000,
        &mut PerStateEstimate { bytes: &[100; 7] },
    );
    assert_eq!(report.outcome, CapOutcome::AlreadyFits);
    assert!(report.dropped_for_cap.is_empty());
    assert_eq!(report.projected_bytes, 1_000);
    assert_eq!(sel, before);
}

#[test]
fn the_cap_drops_the_oldest_states_a_rule_alone_keeps_first() {
    let mut sel = rule_kept(&seven());
    let cap = ByteSize::new(800).unwrap();
    let report = fit_to_cap(
        &mut sel,
        cap,
        1_000,
        &mut PerStateEstimate { bytes: &[100; 7] },
    );
    // 0 is the oldest; 1 and 2 are held; 3 next.
    assert_eq!(report.dropped_for_cap, [0, 3]);
    assert_eq!(report.outcome, CapOutcome::ThinnedToFit);
    assert_eq!(report.projected_bytes, 800);
    assert_eq!(sel.kept(), [1, 2, 4, 5, 6]);
    assert_eq!(
        sel.decisions[3],
        Decision::Dropped {
            cause: DropCause::OverStoreCap
        }
    );
}

#[test]
fn the_cap_counts_what_the_time_rules_already_free() {
    let mut times = seven();
    times.insert(0, NOW - 10 * DAY); // dropped by the rules: frees 300
    let mut sel = rule_kept(&times);
    // Indices moved by one: the pin is now on 1 = the old 0.
    let cap = ByteSize::new(650).unwrap();
    let bytes = [300, 100, 100, 100, 100, 100, 100, 100];
    let report = fit_to_cap(
        &mut sel,
        cap,
        1_000,
        &mut PerStateEstimate { bytes: &bytes },
    );
    assert_eq!(report.dropped_for_cap, [3]);
    assert_eq!(report.projected_bytes, 600);
    assert_eq!(
        sel.decisions[0],
        Decision::Dropped {
            cause: DropCause::NotPromised
        }
    );
}

#[test]
fn the_cap_never_drops_the_newest_a_pin_or_a_held_state() {
    let mut sel = rule_kept(&seven());
    let cap = ByteSize::new(1).unwrap();
    let report = fit_to_cap(
        &mut sel,
        cap,
        1_000,
        &mut PerStateEstimate { bytes: &[100; 7] },
    );
    assert_eq!(report.outcome, CapOutcome::StillOver);
    assert_eq!(report.dropped_for_cap, [0, 3, 4, 5]);
    assert_eq!(report.projected_bytes, 600);
    assert_eq!(sel.kept(), [1, 2, 6]);
}

#[test]
fn freed_bytes_is_told_every_drop_in_order() {
    struct Recorder(Vec<usize>);
    impl FreedBytes for Recorder {
        fn drop_state(&mut self, state: usize) -> u64 {
            self.0.push(state);
            // Shared content: the first drops free nothing, the rest 400 each.
            if self.0.len() < 3 {
                0
            } else {
                400
            }
        }
    }
    let mut times = seven();
    times.insert(0, NOW - 10 * DAY);
    times.insert(0, NOW - 11 * DAY);
    let mut sel = rule_kept(&times);
    let mut rec = Recorder(Vec::new());
    let report = fit_to_cap(&mut sel, ByteSize::new(500).unwrap(), 1_000, &mut rec);
    // 0 goes by the rules; 1 is pinned, 2 held; then 3, 4, 5 for the cap.
    assert_eq!(rec.0, [0, 3, 4, 5]);
    assert_eq!(report.dropped_for_cap, [3, 4, 5]);
    assert_eq!(report.projected_bytes, 200);
}

#[test]
fn the_default_horizon_reads_as_the_issue_describes() {
    let h = Policy::default().horizon();
    let band = |secs, density| Band {
        until: Span::from_secs(secs).unwrap(),
        density,
    };
    assert_eq!(
        h.bands,
        [
            band(3_600, Density::Every),
            band(86_400, Density::OnePer(Unit::Minute)),
            band(7 * 86_400, Density::OnePer(Unit::Hour)),
            band(90 * 86_400, Density::OnePer(Unit::Day)),
        ]
    );
    assert_eq!(h.cap, None);
}

#[test]
fn the_horizon_takes_the_finest_rule_where_spans_overlap() {
    let policy = Policy {
        keep_all: span(MIN),
        keep_minutely: span(HOUR),
        keep_hourly: span(7 * DAY),
        keep_daily: span(3 * DAY),
        max_store_bytes: ByteSize::new(1 << 30),
        ..off()
    };
    let h = policy.horizon();
    assert_eq!(
        h.bands,
        [
            Band {
                until: Span::from_ns(MIN).unwrap(),
                density: Density::Every
            },
            Band {
                until: Span::from_ns(HOUR).unwrap(),
                density: Density::OnePer(Unit::Minute)
            },
            Band {
                until: Span::from_ns(7 * DAY).unwrap(),
                density: Density::OnePer(Unit::Hour)
            },
        ]
    );
    assert_eq!(h.cap, ByteSize::new(1 << 30));
    // keep-all longer than every bucket rule covers them all.
    let wide = Policy {
        keep_all: span(30 * DAY),
        ..Policy::default()
    };
    assert_eq!(
        wide.horizon().bands,
        [
            Band {
                until: Span::from_ns(30 * DAY).unwrap(),
                density: Density::Every
            },
            Band {
                until: Span::from_ns(90 * DAY).unwrap(),
                density: Density::OnePer(Unit::Day)
            },
        ]
    );
}

#[test]
fn with_every_rule_off_the_horizon_is_empty() {
    assert!(off().horizon().bands.is_empty());
}
