//! The pure decision of which states a policy keeps.
//!
//! Semantics (those of restic's `--keep-within-*` and borg's `prune`, counted back
//! from `now` rather than from the newest state):
//!
//! - A state's *age* is `now - time`. A state is within a rule's span when its age
//!   is less than the span (`time > now - span`); a state from the future (a clock
//!   that was ahead) has a negative age and is within every span.
//! - `keep-all` keeps every state within its span.
//! - A bucket rule (`keep-secondly`, `-minutely`, `-hourly`, `-daily`) puts each
//!   state within its span into the bucket of its unit that holds its time, and keeps
//!   the newest state of each bucket. Buckets are aligned to the Unix epoch shifted
//!   by the caller's UTC offset, so with the local offset a "day" runs from local
//!   midnight to local midnight (and hours follow local hours in zones offset by
//!   half an hour). One fixed offset is used for all of history: across a
//!   daylight-saving change, days on the other side of it are shifted by the
//!   change (their buckets run from 01:00 to 01:00, or 23:00 to 23:00).
//! - A bucket's newest state is the one latest in the log. The log's order is the
//!   order in which states were made; a clock can be wrong. States are placed in
//!   spans and buckets by their own recorded time, so when the clock went
//!   backwards, a later state may land in an earlier bucket; it then competes in
//!   that bucket and, being later in the log, is the one kept there. Nothing is
//!   sorted by time, and times out of order never fail the selection.
//! - The union of all rules is kept. Always kept, whatever the rules say: the
//!   newest state (the last in the log), every pinned state, and every state the
//!   caller holds for another reason ([`Held`]: timeline heads, shelves).
//!
//! Applying the selection again to the states it kept, with the same `now`, keeps
//! all of them: a state kept by a rule stays within that rule's span and stays
//! the latest of its bucket among fewer states.

use std::collections::HashMap;

use super::policy::{Policy, Unit};

/// The states of a history and what holds them, in the log's order.
#[derive(Clone, Copy, Debug)]
pub struct History<'a> {
    /// Each state's recorded time (nanoseconds since the Unix epoch), in log
    /// order; a state is named by its index here.
    pub times_ns: &'a [i64],
    /// States with a pin.
    pub pins: &'a [Pinned],
    /// States held for another reason.
    pub held: &'a [Held],
}

/// A pinned state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// The state's index in [`History::times_ns`].
    pub state: usize,
    /// The pin's name.
    pub name: String,
}

/// A state the caller keeps for a reason of its own (a timeline head, a shelf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The state's index in [`History::times_ns`].
    pub state: usize,
    /// Why, in a few words, as reports should show it.
    pub reason: String,
}

/// When the selection is made and how days are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Now, nanoseconds since the Unix epoch.
    pub now_ns: i64,
    /// The UTC offset (seconds east of UTC) that bucket boundaries follow; the
    /// CLI passes the local offset now.
    pub utc_offset_secs: i32,
}

/// Why a state is kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// It is the newest state.
    Newest,
    /// A pin of this name holds it.
    Pin(String),
    /// The caller holds it ([`Held::reason`]).
    Held(String),
    /// It is within `keep-all`.
    KeepAll,
    /// It is the newest state of its bucket of this unit.
    Bucket(Unit),
}

impl Reason {
    /// True for the reasons that keep a state whatever the policy and the store
    /// cap say: newest, pinned, held.
    pub fn is_always(&self) -> bool {
        matches!(self, Reason::Newest | Reason::Pin(_) | Reason::Held(_))
    }
}

/// Why a state goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// No rule promises it.
    NotPromised,
    /// A rule promised it, but the store was over `max-store-bytes` and it was
    /// among the oldest (see [`super::fit_to_cap`]).
    OverStoreCap,
}

/// What happens to one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The state stays, for these reasons (sorted, never empty).
    Kept {
        /// Every reason that holds it.
        reasons: Vec<Reason>,
    },
    /// The state goes.
    Dropped {
        /// Why.
        cause: DropCause,
    },
}

impl Decision {
    /// True when the state stays.
    pub fn is_kept(&self) -> bool {
        matches!(self, Decision::Kept { .. })
    }
}

/// The decision for every state of a history, in its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// One decision per state, indexed like [`History::times_ns`].
    pub decisions: Vec<Decision>,
}

impl Selection {
    /// The indices of the states kept, ascending.
    pub fn kept(&self) -> Vec<usize> {
        self.indices(Decision::is_kept)
    }

    /// The indices of the states dropped, ascending.
    pub fn dropped(&self) -> Vec<usize> {
        self.indices(|d| !d.is_kept())
    }

    fn indices(&self, pick: impl Fn(&Decision) -> bool) -> Vec<usize> {
        (0..self.decisions.len())
            .filter(|&i| pick(&self.decisions[i]))
            .collect()
    }
}

/// A pin or held state that names no state of the history.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The index is past the end of the history.
    #[error("{what} names state {state}, but the history has {len} states")]
    NoSuchState {
        /// `pin NAME` or the held reason.
        what: String,
        /// The index given.
        state: usize,
        /// How many states there are.
        len: usize,
    },
}

/// Decides, for every state of `history`, whether `policy`'s time rules keep it
/// and why (the module's documentation gives the semantics). `max-store-bytes` is
/// not applied here; [`super::fit_to_cap`] applies it to the result.
pub fn select(policy: &Policy, history: &History, clock: Clock) -> Result<Selection, SelectError> {
    let len = history.times_ns.len();
    let check = |state: usize, what: String| {
        if state < len {
            Ok(())
        } else {
            Err(SelectError::NoSuchState { what, state, len })
        }
    };
    for p in history.pins {
        check(p.state, format!("pin {}", p.name))?;
    }
    for h in history.held {
        check(h.state, h.reason.clone())?;
    }
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); len];
    if let Some(last) = reasons.last_mut() {
        last.push(Reason::Newest);
    }
    for p in history.pins {
        reasons[p.state].push(Reason::Pin(p.name.clone()));
    }
    for h in history.held {
        reasons[h.state].push(Reason::Held(h.reason.clone()));
    }
    let age = |t: i64| clock.now_ns as i128 - t as i128;
    if let Some(span) = policy.keep_all {
        for (i, &t) in history.times_ns.iter().enumerate() {
            if age(t) < span.ns() as i128 {
                reasons[i].push(Reason::KeepAll);
            }
        }
    }
    for rule in policy.bucket_rules() {
        // Bucket -> the latest state in it; later states overwrite earlier ones.
        let mut latest: HashMap<i128, usize> = HashMap::new();
        for (i, &t) in history.times_ns.iter().enumerate() {
            if age(t) < rule.span.ns() as i128 {
                latest.insert(bucket(t, rule.unit, clock.utc_offset_secs), i);
            }
        }
        for i in latest.into_values() {
            reasons[i].push(Reason::Bucket(rule.unit));
        }
    }
    let decisions = reasons
        .into_iter()
        .map(|mut reasons| {
            if reasons.is_empty() {
                Decision::Dropped {
                    cause: DropCause::NotPromised,
                }
            } else {
                reasons.sort();
                reasons.dedup();
                Decision::Kept { reasons }
            }
        })
        .collect();
    Ok(Selection { decisions })
}

/// The bucket of `unit` holding `time_ns`, counted from the epoch shifted by
/// the offset (so bucket 0 of days starts at local midnight, 1970-01-01).
pub fn bucket(time_ns: i64, unit: Unit, utc_offset_secs: i32) -> i128 {
    let local = time_ns as i128 + utc_offset_secs as i128 * 1_000_000_000;
    local.div_euclid(unit.ns() as i128)
}
