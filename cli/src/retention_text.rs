//! The retention policy and the GCs done, in words: the horizon line of
//! `tl log` and the store line of `tl status`.

use tl_index::catalog::ThinnedAt;
use tl_index::retention::{Density, Policy, Span, Unit};
use tl_index::timespec::format_local;

/// "States are kept by the retention policy: every state of the last 1h; one
/// per minute to 1d ago; one per hour to 7d ago; one per day to 90d ago; older
/// states go at the next `tl gc`. Pins and the newest state are always kept."
pub fn horizon(policy: &Policy) -> String {
    let h = policy.horizon();
    let mut parts = Vec::new();
    for (i, band) in h.bands.iter().enumerate() {
        let span = span(band.until);
        parts.push(match (band.density, i) {
            (Density::Every, 0) => format!("every state of the last {span}"),
            (Density::Every, _) => format!("every state to {span} ago"),
            (Density::OnePer(unit), _) => format!("one per {} to {span} ago", unit_word(unit)),
        });
    }
    let kept = if parts.is_empty() {
        "no rule keeps past states".to_string()
    } else {
        parts.join("; ")
    };
    let cap = h
        .cap
        .map(|c| format!(" The oldest go further while the store is over {c}."))
        .unwrap_or_default();
    format!(
        "Retention ([retention] in .tl/config.toml): {kept}; older states go at the next \
         `tl gc`.{cap} Pins and the newest state are always kept."
    )
}

/// "last GC 2026-12-02 09:44:10 +00:00: kept 12 of 40 states", or "no GC yet".
pub fn last_gc(last: Option<&ThinnedAt>) -> String {
    match last {
        None => "no GC yet".to_string(),
        Some(t) => format!(
            "last GC {}: kept {} of {} states",
            format_local(t.thinned.time_ns),
            t.thinned.kept,
            t.thinned.states_before
        ),
    }
}

/// A span as the config writes it: `90s`, `10m`, `1h`, `7d`.
fn span(s: Span) -> String {
    let secs = s.ns() / 1_000_000_000;
    for (unit, word) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
        if secs >= unit && secs % unit == 0 {
            return format!("{}{word}", secs / unit);
        }
    }
    format!("{secs}s")
}

fn unit_word(u: Unit) -> &'static str {
    match u {
        Unit::Second => "second",
        Unit::Minute => "minute",
        Unit::Hour => "hour",
        Unit::Day => "day",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_reads_as_its_bands() {
        assert_eq!(
            horizon(&Policy::default()),
            "Retention ([retention] in .tl/config.toml): every state of the last 1h; one per \
             minute to 1d ago; one per hour to 7d ago; one per day to 90d ago; older states \
             go at the next `tl gc`. Pins and the newest state are always kept."
        );
    }

    #[test]
    fn spans_read_in_their_largest_whole_unit() {
        let s = |secs| span(Span::from_secs(secs).unwrap());
        assert_eq!(s(90), "90s");
        assert_eq!(s(600), "10m");
        assert_eq!(s(5_400), "90m");
        assert_eq!(s(86_400 * 7), "7d");
    }
}
