//! Goal: every accepted form parses to the instant a user means, with a fixed `now`
//! and a fixed zone so the tests do not depend on the machine's clock or zone, and
//! everything else is either a name or an error that lists the accepted forms.

use super::*;
use proptest::prelude::*;

/// Paris rules as a POSIX TZ string: deterministic, and needs no tzdb on the machine.
fn paris() -> TimeZone {
    TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap()
}

fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Zoned {
    jiff::civil::date(y, mo, d)
        .at(h, mi, 0, 0)
        .to_zoned(paris())
        .unwrap()
}

/// Sunday 2026-11-22 15:30:00 +01:00 (14:30:00Z).
fn now() -> Zoned {
    at(2026, 11, 22, 15, 30)
}

/// Parses `expr` at `now` and checks the instant, shown in Paris time.
fn check_at(now: &Zoned, expr: &str, expected_local: &str) {
    match parse(expr, now) {
        Ok(TimeExpr::Instant(ns) | TimeExpr::Window(Window { start: ns, .. })) => {
            assert_eq!(format_in(ns, &paris()), expected_local, "{expr:?}")
        }
        other => panic!("{expr:?}: {other:?}"),
    }
}

fn check(expr: &str, expected_local: &str) {
    check_at(&now(), expr, expected_local);
}

fn check_unrecognized(expr: &str) {
    match parse(expr, &now()) {
        Err(e @ TimeError::Unrecognized { .. }) => {
            assert!(
                e.to_string().contains("RFC 3339"),
                "error lists the forms: {e}"
            )
        }
        other => panic!("{expr:?}: {other:?}"),
    }
}

fn check_invalid(expr: &str) {
    match parse(expr, &now()) {
        Err(TimeError::Invalid { .. }) => {}
        other => panic!("{expr:?}: {other:?}"),
    }
}

const NOW_NS: i64 = 1_795_357_800_000_000_000;

#[test]
fn lsn() {
    assert_eq!(parse("@1234", &now()), Ok(TimeExpr::Lsn(Lsn::new(1234))));
    assert_eq!(parse(" @0 ", &now()), Ok(TimeExpr::Lsn(Lsn::new(0))));
    check_invalid("@");
    check_invalid("@12a");
    check_invalid("@-1");
    check_invalid("@99999999999999999999");
}

#[test]
fn rfc3339_with_z_or_offset() {
    let start = 1_795_341_600_000_000_000;
    let expected = Ok(TimeExpr::Window(Window {
        start,
        end: start + 1_000_000_000,
    }));
    assert_eq!(parse("2026-11-22T10:00:00Z", &now()), expected);
    assert_eq!(parse("2026-11-22T11:00:00+01:00", &now()), expected);
    assert_eq!(parse("2026-11-22T05:00:00-05:00", &now()), expected);
    check("2026-11-22T10:00:00.5Z", "2026-11-22 11:00:00 +01:00");
}

#[test]
fn local_date_and_time() {
    check("2026-11-22 14:05", "2026-11-22 14:05:00 +01:00");
    check("2026-11-22 14:05:33", "2026-11-22 14:05:33 +01:00");
    check("2026-11-22T14:05", "2026-11-22 14:05:00 +01:00");
    check("2026-11-22", "2026-11-22 00:00:00 +01:00");
    // Summer time applies to summer dates.
    check("2026-07-01 12:00", "2026-07-01 12:00:00 +02:00");
}

#[test]
fn local_time_skipped_by_daylight_saving_resolves_to_the_later_instant() {
    // 2026-03-29 02:00 CET jumps to 03:00 CEST.
    check("2026-03-29 02:30", "2026-03-29 03:30:00 +02:00");
}

#[test]
fn time_of_day_is_today() {
    check("17:00", "2026-11-22 17:00:00 +01:00");
    check("9:30", "2026-11-22 09:30:00 +01:00");
    check("09:30:15", "2026-11-22 09:30:15 +01:00");
}

#[test]
fn today_and_yesterday() {
    check("today", "2026-11-22 00:00:00 +01:00");
    check("yesterday", "2026-11-21 00:00:00 +01:00");
    check("yesterday 17:00", "2026-11-21 17:00:00 +01:00");
    check("Yesterday  17:00", "2026-11-21 17:00:00 +01:00");
    check("today 9:30", "2026-11-22 09:30:00 +01:00");
}

#[test]
fn relative() {
    check("10m", "2026-11-22 15:20:00 +01:00");
    check("10 minutes ago", "2026-11-22 15:20:00 +01:00");
    check("10m ago", "2026-11-22 15:20:00 +01:00");
    check("2 hours ago", "2026-11-22 13:30:00 +01:00");
    check("90s", "2026-11-22 15:28:30 +01:00");
    check("1h30m", "2026-11-22 14:00:00 +01:00");
    check("1h 30m ago", "2026-11-22 14:00:00 +01:00");
    check("3 days ago", "2026-11-19 15:30:00 +01:00");
    check("1 week ago", "2026-11-15 15:30:00 +01:00");
    check("1 month ago", "2026-10-22 15:30:00 +02:00");
    check("1 YEAR AGO", "2025-11-22 15:30:00 +01:00");
    check("0s", "2026-11-22 15:30:00 +01:00");
}

#[test]
fn relative_days_follow_the_calendar_across_daylight_saving() {
    // Two days before 2026-03-30 12:00 CEST is 12:00 CET on the calendar, but 48
    // elapsed hours is 11:00 CET, because 2026-03-29 had 23 hours.
    let now = at(2026, 3, 30, 12, 0);
    check_at(&now, "2 days ago", "2026-03-28 12:00:00 +01:00");
    check_at(&now, "48 hours ago", "2026-03-28 11:00:00 +01:00");
}

#[test]
fn now_is_now() {
    assert_eq!(parse("now", &now()), Ok(TimeExpr::Instant(NOW_NS)));
    assert_eq!(parse(" NOW ", &now()), Ok(TimeExpr::Instant(NOW_NS)));
}

#[test]
fn plausible_names_are_names() {
    for name in [
        "release-1.0",
        "3fa9c2",
        "v1_2",
        "before-refactor",
        "2026-11-22-backup",
        "ago",
        "todayish",
    ] {
        assert_eq!(
            parse(name, &now()),
            Ok(TimeExpr::Name(name.into())),
            "{name}"
        );
    }
}

#[test]
fn garbage_is_unrecognized_and_lists_the_accepted_forms() {
    for expr in [
        "",
        "   ",
        "next tuesday",
        "-rf",
        "10 parsecs ago",
        "a b",
        "in 10 minutes",
        "12:3",
        "é",
    ] {
        check_unrecognized(expr);
    }
}

#[test]
fn well_shaped_but_impossible_times_are_invalid() {
    for expr in [
        "2026-13-01",
        "2026-02-30",
        "2026-11-22 25:00",
        "2026-11-22 14:5",
        "25:00",
        "12:60",
        "yesterday noon",
        "today 24:00",
        "99999999999999999999s",
        "999999999999 years ago",
        // Representable by jiff, but not as i64 nanoseconds.
        "2300-01-01",
        "1600-01-01",
    ] {
        check_invalid(expr);
    }
}

#[test]
fn format_shows_local_time_with_offset() {
    assert_eq!(format_in(NOW_NS, &paris()), "2026-11-22 15:30:00 +01:00");
    assert_eq!(
        format_in(NOW_NS, &TimeZone::UTC),
        "2026-11-22 14:30:00 +00:00"
    );
    assert_eq!(format_in(0, &TimeZone::UTC), "1970-01-01 00:00:00 +00:00");
    assert_eq!(
        format_in(i64::MIN, &TimeZone::UTC),
        "1677-09-21 00:12:43 +00:00"
    );
    // The system zone varies by machine; only the shape is fixed.
    let shown = format_local(NOW_NS);
    assert_eq!(shown.len(), "2026-11-22 15:30:00 +01:00".len(), "{shown}");
}

#[test]
fn formatted_times_parse_back() {
    let shown = format_in(NOW_NS, &paris());
    // "2026-11-22 15:30:00 +01:00" without the space before the offset is RFC 3339.
    let rfc3339 = shown.replacen(' ', "T", 1).replace(" +", "+");
    assert_eq!(parse(&rfc3339, &now()).map(|t| t.start()), Ok(Some(NOW_NS)));
}

#[test]
fn the_form_tl_log_prints_parses_back_to_its_whole_second() {
    let shown = format_in(NOW_NS + 123_456_789, &paris());
    assert_eq!(shown, "2026-11-22 15:30:00 +01:00");
    assert_eq!(
        parse(&shown, &now()),
        Ok(TimeExpr::Window(Window {
            start: NOW_NS,
            end: NOW_NS + 1_000_000_000
        }))
    );
    assert_eq!(
        parse("2026-11-22 09:30:00 -05:00", &now()).map(|t| t.start()),
        Ok(Some(NOW_NS))
    );
}

#[test]
fn times_stated_to_the_second_or_a_fraction_are_windows_and_coarser_ones_instants() {
    let window = |expr: &str| match parse(expr, &now()) {
        Ok(TimeExpr::Window(w)) => w.end - w.start,
        other => panic!("{expr:?}: {other:?}"),
    };
    assert_eq!(window("15:30:00"), 1_000_000_000);
    assert_eq!(window("2026-11-22 15:30:00"), 1_000_000_000);
    assert_eq!(window("yesterday 17:00:05"), 1_000_000_000);
    assert_eq!(window("2026-11-22T14:30:00.5Z"), 100_000_000);
    assert_eq!(window("15:30:00.250"), 1_000_000);
    assert_eq!(window("2026-11-22T14:30:00.123456789Z"), 1);
    for instant in [
        "15:30",
        "2026-11-22 15:30",
        "2026-11-22",
        "10m",
        "yesterday",
        "now",
    ] {
        assert!(
            matches!(parse(instant, &now()), Ok(TimeExpr::Instant(_))),
            "{instant}"
        );
    }
}

#[test]
fn rfc3339_output_is_utc_with_fractions_and_parses_back_exactly() {
    let ns = NOW_NS + 123_456_789;
    let shown = format_rfc3339(ns);
    assert_eq!(shown, "2026-11-22T14:30:00.123456789Z");
    assert_eq!(
        parse(&shown, &now()),
        Ok(TimeExpr::Window(Window {
            start: ns,
            end: ns + 1
        }))
    );
    assert_eq!(format_rfc3339(NOW_NS), "2026-11-22T14:30:00Z");
}

proptest! {
    #[test]
    fn parse_never_panics(expr in ".{0,40}") {
        let _ = parse(&expr, &now());
    }

    #[test]
    fn parse_never_panics_on_time_like_input(expr in "[0-9:@ a-z-]{0,24}") {
        let _ = parse(&expr, &now());
    }

    #[test]
    fn relative_minutes_are_exact(n in 0i64..10_000_000) {
        prop_assert_eq!(
            parse(&format!("{n} minutes ago"), &now()),
            Ok(TimeExpr::Instant(NOW_NS - n * 60_000_000_000))
        );
    }
}

#[test]
fn durations_take_the_units_of_relative_times() {
    assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
    assert_eq!(parse_duration("10m"), Ok(600_000_000_000));
    assert_eq!(parse_duration("2 hours"), Ok(7_200_000_000_000));
    assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
    assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(parse_duration(" 1 hr 30 min "), Ok(5_400_000_000_000));
    assert_eq!(parse_duration("2wk"), Ok(14 * 86_400_000_000_000));
    assert!(matches!(
        parse_duration("0s"),
        Err(DurationError::NotPositive { .. })
    ));
    assert!(matches!(
        parse_duration("ten"),
        Err(DurationError::Unrecognized { .. })
    ));
    assert!(matches!(
        parse_duration("-5m"),
        Err(DurationError::Unrecognized { .. })
    ));
    assert!(matches!(
        parse_duration("5y"),
        Err(DurationError::CalendarUnit { .. })
    ));
    assert!(matches!(
        parse_duration("1mo"),
        Err(DurationError::CalendarUnit { .. })
    ));
    assert!(matches!(
        parse_duration("99999999999999999999s"),
        Err(DurationError::TooLong { .. })
    ));
    assert!(matches!(
        parse_duration("400000w"),
        Err(DurationError::TooLong { .. })
    ));
}

proptest! {
    /// Every amount a relative time takes in seconds, minutes and hours is the same
    /// length as a duration.
    #[test]
    fn a_duration_is_as_long_as_the_relative_time_it_spells(h in 0i64..1000, m in 0i64..1000, s in 1i64..1000) {
        let text = format!("{h}h{m}m{s}s");
        let ns = parse_duration(&text).unwrap();
        prop_assert_eq!(ns, ((h * 60 + m) * 60 + s) * 1_000_000_000);
        prop_assert_eq!(parse(&format!("{text} ago"), &now()), Ok(TimeExpr::Instant(NOW_NS - ns)));
    }
}
