//! The second stage of a selection: `max-store-bytes`.
//!
//! After [`super::select`] has applied the time rules, the store's projected size
//! is its present size less what the dropped states free. While that is over the
//! cap, the oldest state (first in the log) that only a time rule keeps is dropped
//! too, with [`DropCause::OverStoreCap`]. The newest state, pinned states and held
//! states are never dropped for the cap; when only they are left and the store is
//! still over, the outcome says so ([`CapOutcome::StillOver`]).
//!
//! What a dropped state frees depends on what else goes (content shared by two
//! states is freed only when both go), so the bytes come from the caller through
//! [`FreedBytes`], which is told each drop in turn and can keep the reference
//! counts it needs; [`PerStateEstimate`] is the simple additive estimate.

use super::select::{Decision, DropCause, Selection};
use super::size::ByteSize;

/// What dropping states frees, as the caller (the GC) estimates it.
pub trait FreedBytes {
    /// The bytes that dropping `state` frees, given that every state passed to
    /// earlier calls is dropped too. Called once for each state the time rules
    /// dropped (in log order), then once for each state the cap drops.
    fn drop_state(&mut self, state: usize) -> u64;
}

/// A fixed estimate per state, summed: `bytes[i]` is what dropping state `i`
/// frees, whatever else goes.
#[derive(Clone, Copy, Debug)]
pub struct PerStateEstimate<'a> {
    /// Indexed like the history's states.
    pub bytes: &'a [u64],
}

impl FreedBytes for PerStateEstimate<'_> {
    fn drop_state(&mut self, state: usize) -> u64 {
        self.bytes.get(state).copied().unwrap_or(0)
    }
}

/// How the cap was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapOutcome {
    /// The time rules alone bring the store under the cap; nothing more went.
    AlreadyFits,
    /// States the time rules keep were dropped, oldest first, until it fits.
    ThinnedToFit,
    /// Every state a rule alone keeps was dropped and the store is still over the
    /// cap: what is left is the newest, pinned and held states.
    StillOver,
}

/// What applying the cap did, for the report ("thinned N more states to stay
/// under 10 GiB").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapReport {
    /// The cap.
    pub cap: ByteSize,
    /// The store's size before the selection, as the caller gave it.
    pub store_bytes: u64,
    /// The projected size after every drop (time rules and cap).
    pub projected_bytes: u64,
    /// The states dropped for the cap, in the order dropped (oldest first).
    pub dropped_for_cap: Vec<usize>,
    /// How it ended.
    pub outcome: CapOutcome,
}

/// Applies `cap` to `selection` (the result of [`super::select`]) for a store of
/// `store_bytes` bytes, turning the oldest rule-only kept states into
/// [`DropCause::OverStoreCap`] drops until the projected size fits.
pub fn fit_to_cap(
    selection: &mut Selection,
    cap: ByteSize,
    store_bytes: u64,
    freed: &mut dyn FreedBytes,
) -> CapReport {
    let mut projected = store_bytes;
    for state in selection.dropped() {
        projected = projected.saturating_sub(freed.drop_state(state));
    }
    let fits = |bytes: u64| bytes <= cap.bytes();
    let mut dropped_for_cap = Vec::new();
    for (state, decision) in selection.decisions.iter_mut().enumerate() {
        if fits(projected) {
            break;
        }
        let Decision::Kept { reasons } = decision else {
            continue;
        };
        if reasons.iter().any(|r| r.is_always()) {
            continue;
        }
        *decision = Decision::Dropped {
            cause: DropCause::OverStoreCap,
        };
        projected = projected.saturating_sub(freed.drop_state(state));
        dropped_for_cap.push(state);
    }
    let outcome = match (fits(projected), dropped_for_cap.is_empty()) {
        (false, _) => CapOutcome::StillOver,
        (true, true) => CapOutcome::AlreadyFits,
        (true, false) => CapOutcome::ThinnedToFit,
    };
    CapReport {
        cap,
        store_bytes,
        projected_bytes: projected,
        dropped_for_cap,
        outcome,
    }
}
