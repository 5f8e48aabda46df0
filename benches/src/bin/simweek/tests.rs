//! The week's schedule is what BENCHMARKS.md says it is, and the same every time.

use super::sampled;
use super::week::{schedule, Action, Interval, NS, START_NS};

const DEFAULT: Interval = Interval {
    lo_secs: 5,
    hi_secs: 30,
};

#[test]
fn steps_fall_in_working_hours_of_working_days_only() {
    for step in schedule(12, DEFAULT) {
        let secs = (step.time_ns - START_NS) / NS;
        let (day, in_day) = (secs / 86_400, secs % 86_400);
        assert!(
            day < 7 && day != 3 && day != 4,
            "day {day} is not a working day"
        );
        assert!(
            (9 * 3_600..18 * 3_600).contains(&in_day),
            "{in_day} s is outside 09-18"
        );
    }
}

#[test]
fn each_working_day_switches_branch_once_and_back() {
    let steps = schedule(12, DEFAULT);
    for day in [0, 1, 2, 5, 6] {
        let of_day: Vec<Action> = steps
            .iter()
            .filter(|s| s.day == day)
            .map(|s| s.action)
            .filter(|a| matches!(a, Action::SwitchAway | Action::SwitchBack))
            .collect();
        assert_eq!(
            of_day,
            [Action::SwitchAway, Action::SwitchBack],
            "day {day}"
        );
    }
}

#[test]
fn steps_are_in_time_order_and_their_gaps_within_the_interval() {
    let steps = schedule(12, DEFAULT);
    assert!(
        steps.len() > 4_000,
        "several thousand steps: {}",
        steps.len()
    );
    for pair in steps.windows(2) {
        let gap = (pair[1].time_ns - pair[0].time_ns) / NS;
        if pair[0].day == pair[1].day {
            assert!((5..=30).contains(&gap), "gap {gap} s");
        } else {
            assert!(gap > 30, "a night between days");
        }
    }
}

#[test]
fn the_schedule_depends_only_on_its_seed() {
    let times = |seed| -> Vec<i64> { schedule(seed, DEFAULT).iter().map(|s| s.time_ns).collect() };
    assert_eq!(times(12), times(12));
    assert_ne!(times(12), times(13));
}

#[test]
fn the_subsample_always_holds_the_first_and_last_step() {
    let picked: Vec<usize> = (0..11).filter(|&i| sampled(i, 11, 4)).collect();
    assert_eq!(picked, [0, 4, 8, 10]);
}
