//! The policy described as bands of history, for display (`tl log`'s retention
//! horizon, `tl gc`'s report): "every state of the last 1h; one per minute to 1d
//! ago; one per hour to 7d; one per day to 90d; older states are dropped, pins are
//! kept". The words are the CLI's; this is the structure.

use super::policy::{Policy, Span, Unit};
use super::size::ByteSize;

/// How densely a band of history is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Density {
    /// Every state.
    Every,
    /// The newest state of each bucket of this unit.
    OnePer(Unit),
}

/// A band of history: from the end of the previous band (now, for the first)
/// back to `until` ago, states are kept with `density`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band {
    /// How far back from now the band reaches.
    pub until: Span,
    /// What it keeps.
    pub density: Density,
}

/// The policy as bands, newest first. States older than the last band are
/// dropped unless always kept (the newest state, pins, held states).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// The bands, from now back; adjacent bands differ in density. Empty when
    /// every rule is off.
    pub bands: Vec<Band>,
    /// `max-store-bytes`, which may thin the oldest bands further.
    pub cap: Option<ByteSize>,
}

impl Policy {
    /// The bands this policy keeps. Where several rules reach, the finest wins
    /// (the newest state of each minute includes the newest of each hour).
    pub fn horizon(&self) -> Horizon {
        let mut ends: Vec<Span> = std::iter::once(self.keep_all)
            .chain(Unit::ALL.into_iter().map(|u| self.bucket_span(u)))
            .flatten()
            .collect();
        ends.sort();
        ends.dedup();
        let mut bands: Vec<Band> = Vec::new();
        for until in ends {
            // A rule reaches the whole band when its span reaches its end (every
            // span is one of the ends).
            let reaches = |span: Option<Span>| span.is_some_and(|s| s >= until);
            let density = if reaches(self.keep_all) {
                Density::Every
            } else {
                let unit = Unit::ALL
                    .into_iter()
                    .find(|&u| reaches(self.bucket_span(u)))
                    .expect("every end is some rule's span");
                Density::OnePer(unit)
            };
            match bands.last_mut() {
                Some(last) if last.density == density => last.until = until,
                _ => bands.push(Band { until, density }),
            }
        }
        Horizon {
            bands,
            cap: self.max_store_bytes,
        }
    }
}
