//! Time expressions: what a user may type after `--to`/`--at`, parsed into a point
//! in history ([`TimeExpr`]) relative to a given "now" in a given time zone.
//!
//! Accepted forms (case-insensitive keywords, surrounding spaces ignored):
//!
//! | form | example | meaning |
//! | --- | --- | --- |
//! | `@LSN` | `@1234` | that log position |
//! | RFC 3339 | `2026-11-22T10:00:00Z`, `2026-11-22T11:00:00+01:00` | that instant |
//! | local date-time | `2026-11-22 14:05`, `2026-11-22 14:05:33`, `2026-11-22T14:05` | in `now`'s zone |
//! | local date | `2026-11-22` | its midnight in `now`'s zone |
//! | time of day | `17:00`, `17:00:30` | today at that time (may be later than now) |
//! | day words | `today`, `yesterday`, `yesterday 17:00`, `today 9:30` | midnight, or that time |
//! | relative | `10m`, `90s`, `1h30m`, `2 hours ago`, `3 days ago`, `1 week ago` | before now |
//! | `now` | `now` | `now` |
//! | name | `release-1.0`, `3fa9c2` | a pin or checkpoint id prefix, resolved by the store |
//!
//! `tl log` prints times as `2026-11-22 14:05:33 +01:00` (a local date-time followed by
//! its offset), and that form is accepted too. A time stated to the second (or to a
//! fraction of one) means that whole second (or fraction): it parses to a
//! [`Window`], so a time printed without its fractions still selects the checkpoint
//! it was printed for (`--to` and `--at` take the last checkpoint before the window
//! ends, `--since`/`--until` take the window's start and end). Coarser forms (`14:05`,
//! `2026-11-22`, `yesterday`) and relative times are instants.
//!
//! Relative amounts count back from now: seconds, minutes and hours as elapsed time,
//! days, weeks, months and years on the calendar of `now`'s zone (so `1 day ago` is
//! yesterday at the same wall-clock time even across a daylight-saving change). `ago`
//! is optional. Units: `s sec secs second seconds`, `m min mins minute minutes`,
//! `h hr hrs hour hours`, `d day days`, `w wk wks week weeks`, `mo month months`,
//! `y yr yrs year years`.
//!
//! Ambiguity, stated: an expression that parses as a time is a time, so a checkpoint
//! id prefix that reads as one (`1d`, `20m`) needs more digits to be taken as a name.
//! A local time that a daylight-saving change skips or repeats resolves as jiff's
//! "compatible" rule does (the later instant for a skipped time, the earlier for a
//! repeated one).
//!
//! The time zone arithmetic is jiff's, which reads the system zone and tzdb the way
//! the platform does, so `format_local` and local parsing agree with `date`.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use tl_wal::Lsn;

use crate::record::is_valid_name;

/// A parsed time expression: a point in history, or a name the store resolves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeExpr {
    /// `@1234`: a log sequence number.
    Lsn(Lsn),
    /// An instant, nanoseconds since the Unix epoch.
    Instant(i64),
    /// A time stated to the second or a fraction of one: the whole of it.
    Window(Window),
    /// A pin name or a checkpoint id prefix, resolved later by the store.
    Name(String),
}

/// The interval a time stated to the second (or to a fraction of one) covers:
/// nanoseconds since the Unix epoch, `start` included, `end` excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first instant of the window.
    pub start: i64,
    /// The first instant after it.
    pub end: i64,
}

impl TimeExpr {
    /// The instant an `--since`-like bound starts at: an instant, or a window's
    /// start. None for LSNs and names (the store resolves those).
    pub fn start(&self) -> Option<i64> {
        match self {
            TimeExpr::Instant(ns) => Some(*ns),
            TimeExpr::Window(w) => Some(w.start),
            TimeExpr::Lsn(_) | TimeExpr::Name(_) => None,
        }
    }
}

/// The forms [`parse`] accepts, as shown in errors.
pub const ACCEPTED_FORMS: &str = "@LSN (@1234), RFC 3339 (2026-11-22T10:00:00Z, \
2026-11-22T11:00:00+01:00), local date and time (2026-11-22 14:05[:33], 2026-11-22, \
2026-11-22 14:05:33 +01:00 as `tl log` prints it), \
time of day today (17:00), today, yesterday, yesterday 17:00, relative (10m, 90s, 1h30m, \
2 hours ago, 3 days ago, 1 week ago), now, or a pin name or checkpoint id \
([A-Za-z0-9._-]+, not starting with '-')";

/// Why a time expression was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The expression has none of the accepted forms.
    #[error("unrecognized time {expr:?}; accepted: {ACCEPTED_FORMS}")]
    Unrecognized {
        /// The expression as given.
        expr: String,
    },
    /// The expression has one of the forms but does not name a valid time (month 13,
    /// 25:00, an LSN with letters, a relative time before year -9999...).
    #[error("invalid time {expr:?}: {reason}")]
    Invalid {
        /// The expression as given.
        expr: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Parses `expr` relative to `now`; local forms use `now`'s time zone. The CLI passes
/// `Zoned::now()` (the system zone); tests pass a fixed instant and zone.
pub fn parse(expr: &str, now: &Zoned) -> Result<TimeExpr, TimeError> {
    let trimmed = expr.trim();
    let invalid = |reason: String| TimeError::Invalid {
        expr: expr.to_owned(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(TimeError::Unrecognized {
            expr: expr.to_owned(),
        });
    }
    if let Some(digits) = trimmed.strip_prefix('@') {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("an LSN is '@' followed by decimal digits".into()));
        }
        return digits
            .parse::<u64>()
            .map(|n| TimeExpr::Lsn(Lsn::new(n)))
            .map_err(|_| invalid("the LSN does not fit in 64 bits".into()));
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower == "now" {
        return instant(now, expr);
    }
    let precision = stated_precision(&lower);
    let within = |zoned: &Zoned| -> Result<TimeExpr, TimeError> {
        let at = instant(zoned, expr)?;
        match (at, precision) {
            (TimeExpr::Instant(start), Some(len)) => Ok(TimeExpr::Window(Window {
                start,
                end: start.saturating_add(len),
            })),
            (at, _) => Ok(at),
        }
    };
    if let Some(zoned) = parse_day_word(&lower, now).map_err(invalid)? {
        return within(&zoned);
    }
    if let Some(time) = parse_time_of_day(&lower).map_err(invalid)? {
        let zoned = local(now.date().to_datetime(time), now).map_err(invalid)?;
        return within(&zoned);
    }
    if let Ok(timestamp) = joined_offset(trimmed).parse::<Timestamp>() {
        return within(&timestamp.to_zoned(TimeZone::UTC));
    }
    if let Some(datetime) = parse_local_datetime(&lower).map_err(invalid)? {
        let zoned = local(datetime, now).map_err(invalid)?;
        return within(&zoned);
    }
    if let Some(span) = parse_relative(&lower).map_err(invalid)? {
        let zoned = now
            .checked_sub(span)
            .map_err(|e| invalid(format!("too far back: {e}")))?;
        return instant(&zoned, expr);
    }
    if is_valid_name(trimmed) {
        return Ok(TimeExpr::Name(trimmed.to_owned()));
    }
    Err(TimeError::Unrecognized {
        expr: expr.to_owned(),
    })
}

/// The system time zone's offset from UTC at the instant `ns`, in seconds east:
/// what retention's day and hour buckets follow ([`crate::retention::Clock`]).
pub fn local_utc_offset_secs(ns: i64) -> i32 {
    Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| TimeZone::system().to_offset(t).seconds())
        .unwrap_or(0)
}

/// Formats an instant in the system's local time zone, as `2026-11-22 14:05:33 +01:00`.
pub fn format_local(ns: i64) -> String {
    format_in(ns, &TimeZone::system())
}

/// Formats an instant as RFC 3339 in UTC with every nonzero fractional digit, as
/// `2026-11-22T13:05:33.123456789Z`: the form of `--json` output, independent of
/// the time zone, and parsed back to exactly that instant.
pub fn format_rfc3339(ns: i64) -> String {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(timestamp) => timestamp.to_string(),
        Err(_) => format!("{ns} ns since the epoch"),
    }
}

/// `2026-11-22 14:05:33 +01:00` (as [`format_in`] prints) made RFC 3339-like by
/// dropping the space before a trailing numeric offset.
fn joined_offset(s: &str) -> String {
    let b = s.as_bytes();
    let n = b.len();
    let offset = n >= 7
        && b[n - 7] == b' '
        && (b[n - 6] == b'+' || b[n - 6] == b'-')
        && b[n - 5..n - 3].iter().all(u8::is_ascii_digit)
        && b[n - 3] == b':'
        && b[n - 2..].iter().all(u8::is_ascii_digit);
    if offset {
        let head = &s[..n - 7];
        // `2026-11-22 14:05:33`: the date and time joined by `T`, as RFC 3339 has it.
        let head = match head.as_bytes().get(10) {
            Some(b' ') => format!("{}T{}", &head[..10], &head[11..]),
            _ => head.to_owned(),
        };
        format!("{head}{}", &s[n - 6..])
    } else {
        s.to_owned()
    }
}

/// How long the time an expression states lasts, in nanoseconds: a second when it
/// states seconds (`14:05:33`), a tenth of one for one fractional digit, and so on;
/// None when it states no seconds (`14:05`, `2026-11-22`, `10m`).
fn stated_precision(lower: &str) -> Option<i64> {
    // The time of day is the last word holding two ':' (`…T14:05:33.5+01:00`).
    let word = lower
        .split([' ', 't'])
        .rev()
        .find(|w| w.bytes().filter(|&b| b == b':').count() >= 2)?;
    let seconds = word.splitn(3, ':').nth(2)?;
    if !seconds.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let fraction = seconds
        .find(['.', ','])
        .map(|i| {
            seconds[i + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count()
        })
        .unwrap_or(0);
    Some(10i64.pow(9u32.saturating_sub(fraction.min(9) as u32)))
}

/// Formats an instant in `tz`, as `2026-11-22 14:05:33 +01:00`.
pub fn format_in(ns: i64, tz: &TimeZone) -> String {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(timestamp) => timestamp
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        // jiff covers years -9999..=9999, wider than i64 nanoseconds (1677..2262), so
        // this is unreachable; show the raw value rather than panic in a display path.
        Err(_) => format!("{ns} ns since the epoch"),
    }
}

fn instant(zoned: &Zoned, expr: &str) -> Result<TimeExpr, TimeError> {
    i64::try_from(zoned.timestamp().as_nanosecond())
        .map(TimeExpr::Instant)
        .map_err(|_| TimeError::Invalid {
            expr: expr.to_owned(),
            reason: "outside the years 1677..2262 that tl can store".into(),
        })
}

fn local(datetime: DateTime, now: &Zoned) -> Result<Zoned, String> {
    datetime
        .to_zoned(now.time_zone().clone())
        .map_err(|e| e.to_string())
}

/// `today`, `yesterday`, optionally followed by a time of day. `Ok(None)` if the
/// expression does not start with one of the words.
fn parse_day_word(lower: &str, now: &Zoned) -> Result<Option<Zoned>, String> {
    let (day, rest) = if let Some(rest) = lower.strip_prefix("yesterday") {
        let day = now.date().yesterday().map_err(|e| e.to_string())?;
        (day, rest)
    } else if let Some(rest) = lower.strip_prefix("today") {
        (now.date(), rest)
    } else {
        return Ok(None);
    };
    let time = if rest.is_empty() {
        Time::midnight()
    } else if rest.starts_with(char::is_whitespace) {
        match parse_time_of_day(rest.trim_start())? {
            Some(time) => time,
            None => return Err("expected a time of day like 17:00 after the day".into()),
        }
    } else {
        // `todayish`: not this form; may still be a name.
        return Ok(None);
    };
    local(day.to_datetime(time), now).map(Some)
}

/// `H:MM`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` (up to 9 fractional digits).
/// `Ok(None)` if the shape does not match.
fn parse_time_of_day(s: &str) -> Result<Option<Time>, String> {
    let (s, nanos) = match s.split_once(['.', ',']) {
        Some((whole, frac))
            if (1..=9).contains(&frac.len()) && frac.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let padded = format!("{frac:0<9}");
            (whole, padded.parse::<i32>().unwrap_or(0))
        }
        Some(_) => return Ok(None),
        None => (s, 0),
    };
    let parts: Vec<&str> = s.split(':').collect();
    let digits =
        |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    let shape_ok = (parts.len() == 2 || parts.len() == 3)
        && digits(parts[0], &[1, 2])
        && parts[1..].iter().all(|p| digits(p, &[2]))
        && (nanos == 0 || parts.len() == 3);
    if !shape_ok {
        return Ok(None);
    }
    // The shape guarantees 1-2 ASCII digits per part, so these parses cannot fail.
    let number = |p: &str| p.parse::<i8>().unwrap_or(i8::MAX);
    let second = parts.get(2).map_or(0, |p| number(p));
    Time::new(number(parts[0]), number(parts[1]), second, nanos)
        .map(Some)
        .map_err(|e| format!("not a time of day: {e}"))
}

/// `YYYY-MM-DD`, optionally followed by a space or `T` and a time of day. `Ok(None)`
/// if it does not start like a date.
fn parse_local_datetime(lower: &str) -> Result<Option<DateTime>, String> {
    let bytes = lower.as_bytes();
    let starts_like_date =
        bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-';
    if !starts_like_date {
        return Ok(None);
    }
    const HINT: &str = "expected YYYY-MM-DD, optionally followed by HH:MM[:SS], or RFC 3339 \
                        with Z or an offset";
    let (date_part, time_part) = match lower.find([' ', 't']) {
        Some(i) => (&lower[..i], Some(lower[i + 1..].trim_start())),
        None => (lower, None),
    };
    let fields: Vec<&str> = date_part.split('-').collect();
    let shape_ok = fields.len() == 3
        && [4, 2, 2]
            .iter()
            .zip(&fields)
            .all(|(&len, f)| f.len() == len && f.bytes().all(|b| b.is_ascii_digit()));
    if !shape_ok {
        // Not a date after all (`2026-11-22-backup`): may be a name.
        return Ok(None);
    }
    // Shape-checked ASCII digits: the parses cannot fail.
    let year = fields[0].parse::<i16>().unwrap_or(i16::MAX);
    let month = fields[1].parse::<i8>().unwrap_or(i8::MAX);
    let day = fields[2].parse::<i8>().unwrap_or(i8::MAX);
    let date = Date::new(year, month, day).map_err(|e| format!("not a date: {e}"))?;
    let time = match time_part {
        None => Time::midnight(),
        Some(t) => match parse_time_of_day(t)? {
            Some(time) => time,
            None => return Err(HINT.into()),
        },
    };
    Ok(Some(date.to_datetime(time)))
}

/// Amounts of each unit in a relative expression or a duration.
#[derive(Default)]
struct Amounts {
    years: i64,
    months: i64,
    weeks: i64,
    days: i64,
    hours: i64,
    minutes: i64,
    seconds: i64,
}

/// The one unit table of relative times and durations.
fn unit_slot<'a>(amounts: &'a mut Amounts, word: &str) -> Option<&'a mut i64> {
    Some(match word {
        "s" | "sec" | "secs" | "second" | "seconds" => &mut amounts.seconds,
        "m" | "min" | "mins" | "minute" | "minutes" => &mut amounts.minutes,
        "h" | "hr" | "hrs" | "hour" | "hours" => &mut amounts.hours,
        "d" | "day" | "days" => &mut amounts.days,
        "w" | "wk" | "wks" | "week" | "weeks" => &mut amounts.weeks,
        "mo" | "month" | "months" => &mut amounts.months,
        "y" | "yr" | "yrs" | "year" | "years" => &mut amounts.years,
        _ => return None,
    })
}

/// `10m`, `1h30m`, `2 hours 5 min`... as amounts per unit: `Ok(None)` if `body` is not
/// a sequence of number-unit pairs, `Err` if it is but a number is out of range.
fn parse_amounts(body: &str) -> Result<Option<Amounts>, String> {
    let bytes = body.as_bytes();
    let mut amounts = Amounts::default();
    let mut i = 0;
    let mut n_pairs = 0;
    while i < bytes.len() {
        let number_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == number_start {
            return Ok(None);
        }
        let number = &body[number_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let Some(slot) = unit_slot(&mut amounts, &body[unit_start..i]) else {
            return Ok(None);
        };
        let too_big = || format!("{number} is too large");
        let value: i64 = number.parse().map_err(|_| too_big())?;
        *slot = slot.checked_add(value).ok_or_else(too_big)?;
        n_pairs += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    Ok((n_pairs > 0).then_some(amounts))
}

/// `10m`, `1h30m`, `2 hours ago`... `Ok(None)` if it is not of this form, `Err` if it
/// is but the amounts are out of range.
fn parse_relative(lower: &str) -> Result<Option<Span>, String> {
    let body = match lower.strip_suffix("ago") {
        Some(rest) if rest.ends_with(|c: char| c.is_ascii_digit() || c.is_whitespace()) => rest,
        Some(_) => return Ok(None),
        None => lower,
    };
    let Some(amounts) = parse_amounts(body.trim())? else {
        return Ok(None);
    };
    let out_of_range = |e: jiff::Error| format!("too far back: {e}");
    let span = Span::new()
        .try_years(amounts.years)
        .and_then(|s| s.try_months(amounts.months))
        .and_then(|s| s.try_weeks(amounts.weeks))
        .and_then(|s| s.try_days(amounts.days))
        .and_then(|s| s.try_hours(amounts.hours))
        .and_then(|s| s.try_minutes(amounts.minutes))
        .and_then(|s| s.try_seconds(amounts.seconds))
        .map_err(out_of_range)?;
    Ok(Some(span))
}

/// The forms [`parse_duration`] accepts, as shown in errors.
pub const DURATION_FORMS: &str = "a number and a unit, or several: 30s, 10m, 1h30m, 2 hours, 1d, 1w (units s sec second, m min minute, h hr hour, d day, w wk week, and their plurals)";

/// Why a duration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a sequence of number-unit pairs.
    #[error("{expr:?} is not a duration; accepted: {DURATION_FORMS}")]
    Unrecognized {
        /// The text as given.
        expr: String,
    },
    /// Months and years are calendar lengths, not fixed ones.
    #[error("{expr:?}: months and years have no fixed length; use days or weeks")]
    CalendarUnit {
        /// The text as given.
        expr: String,
    },
    /// Zero.
    #[error("{expr:?}: a duration must be longer than zero")]
    NotPositive {
        /// The text as given.
        expr: String,
    },
    /// More nanoseconds than an i64 holds (about 292 years).
    #[error("{expr:?} is too long (at most about 292 years)")]
    TooLong {
        /// The text as given.
        expr: String,
    },
}

/// Parses a fixed-length duration (`30s`, `10m`, `1h30m`, `2 hours`, `1d`, `1w`) into
/// nanoseconds, with the unit table of relative times; a day is 24 hours here.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    let lower = s.trim().to_ascii_lowercase();
    let expr = || s.to_owned();
    let amounts = match parse_amounts(&lower) {
        Ok(Some(a)) => a,
        Ok(None) => return Err(DurationError::Unrecognized { expr: expr() }),
        Err(_) => return Err(DurationError::TooLong { expr: expr() }),
    };
    if amounts.years != 0 || amounts.months != 0 {
        return Err(DurationError::CalendarUnit { expr: expr() });
    }
    let seconds = [
        (amounts.weeks, 7 * 86_400),
        (amounts.days, 86_400),
        (amounts.hours, 3_600),
        (amounts.minutes, 60),
        (amounts.seconds, 1),
    ]
    .into_iter()
    .try_fold(0i64, |sum, (n, unit)| {
        n.checked_mul(unit).and_then(|x| sum.checked_add(x))
    });
    let ns = seconds.and_then(|s| s.checked_mul(1_000_000_000));
    match ns {
        None => Err(DurationError::TooLong { expr: expr() }),
        Some(0) => Err(DurationError::NotPositive { expr: expr() }),
        Some(ns) => Ok(ns),
    }
}

impl fmt::Display for TimeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeExpr::Lsn(lsn) => write!(f, "@{lsn}"),
            TimeExpr::Instant(ns) => f.write_str(&format_local(*ns)),
            TimeExpr::Window(w) => f.write_str(&format_local(w.start)),
            TimeExpr::Name(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests;
