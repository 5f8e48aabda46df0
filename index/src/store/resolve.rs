//! Time expressions, pins and checkpoint id prefixes to a checkpoint.

use tl_wal::Lsn;

use super::{now_ns, Result, Store};
use crate::catalog::{Catalog, Checkpoint, CheckpointIndex};
use crate::timespec::{self, TimeError, TimeExpr};

/// Why a time expression, pin name or checkpoint id names no checkpoint. What went
/// wrong only: the CLI says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The log holds no checkpoint yet.
    #[error("there are no checkpoints yet")]
    NoCheckpoints,
    /// The expression does not parse.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// A time later than now.
    #[error("\"{expr}\" ({at}) is in the future")]
    InFuture {
        /// As given.
        expr: String,
        /// The instant it means, in local time.
        at: String,
    },
    /// A time before the first checkpoint.
    #[error("\"{expr}\" ({at}) is before the first checkpoint ({first})")]
    BeforeFirst {
        /// As given.
        expr: String,
        /// The instant it means, in local time.
        at: String,
        /// When the first checkpoint was made, in local time.
        first: String,
    },
    /// `@LSN` before the first checkpoint's batch.
    #[error("@{lsn} is before the first checkpoint (LSN {first})")]
    LsnBeforeFirst {
        /// As given.
        lsn: Lsn,
        /// Where the first checkpoint's batch starts.
        first: Lsn,
    },
    /// A pin whose target is not a checkpoint's batch (the log lost it).
    #[error("pin {name} names a checkpoint that is gone")]
    PinTargetGone {
        /// The pin.
        name: String,
    },
    /// Neither an id, a pin nor a time.
    #[error("\"{name}\" is not a checkpoint id, a pin or a time")]
    Unknown {
        /// As given.
        name: String,
    },
    /// A hex prefix shorter than [`ID_PREFIX_MIN`].
    #[error("checkpoint id prefix \"{prefix}\" is too short ({ID_PREFIX_MIN} of an id's 12 hex digits at least)")]
    PrefixTooShort {
        /// As given.
        prefix: String,
    },
    /// A hex prefix of several ids.
    #[error("\"{prefix}\" is the start of {count} checkpoint ids ({})", .examples.join(", "))]
    Ambiguous {
        /// As given.
        prefix: String,
        /// How many ids start with it.
        count: usize,
        /// The first few of them.
        examples: Vec<String>,
    },
}

impl Store {
    /// Resolves a time expression to a checkpoint index: the last checkpoint at or
    /// before an instant, the last one before the end of a time stated to the
    /// second ([`timespec::Window`]), the checkpoint containing an LSN, a pin, or a
    /// checkpoint id prefix ([`ID_PREFIX_MIN`] to 12 hex digits; shorter ones are
    /// refused whatever they match).
    pub fn resolve(&self, expr: &str) -> Result<CheckpointIndex> {
        Ok(resolve_checkpoint(self.catalog()?, expr)?)
    }
}

fn resolve_checkpoint(catalog: &Catalog, expr: &str) -> Result<CheckpointIndex, ResolveError> {
    let cps = catalog.checkpoints();
    if cps.is_empty() {
        return Err(ResolveError::NoCheckpoints);
    }
    let now = now_ns();
    let parsed = timespec::parse(expr, &jiff::Zoned::now())?;
    let at_or_before = |start: i64, end_excl: i128| {
        if start > now + 1_000_000_000 {
            return Err(ResolveError::InFuture {
                expr: expr.to_string(),
                at: timespec::format_local(start),
            });
        }
        cps.iter()
            .rposition(|c| i128::from(c.time_ns) < end_excl)
            .map(CheckpointIndex::new)
            .ok_or_else(|| ResolveError::BeforeFirst {
                expr: expr.to_string(),
                at: timespec::format_local(start),
                first: timespec::format_local(cps[0].time_ns),
            })
    };
    match parsed {
        TimeExpr::Lsn(lsn) => cps
            .iter()
            .rposition(|c| c.lsn <= lsn)
            .map(CheckpointIndex::new)
            .ok_or(ResolveError::LsnBeforeFirst {
                lsn,
                first: cps[0].lsn,
            }),
        TimeExpr::Instant(t) => at_or_before(t, i128::from(t) + 1),
        TimeExpr::Window(w) => at_or_before(w.start, i128::from(w.end)),
        TimeExpr::Name(name) => match catalog.pins().get(&name) {
            Some(pin) => catalog
                .checkpoint_at_lsn(pin.target_lsn)
                .ok_or(ResolveError::PinTargetGone { name }),
            None => resolve_id(cps, &name),
        },
    }
}

/// A checkpoint id prefix (see [`Store::resolve`]).
fn resolve_id(cps: &[Checkpoint], name: &str) -> Result<CheckpointIndex, ResolveError> {
    let lower = name.to_ascii_lowercase();
    let not_found = || ResolveError::Unknown {
        name: name.to_string(),
    };
    if !is_hex(&lower) {
        return Err(not_found());
    }
    if lower.len() < ID_PREFIX_MIN {
        return Err(ResolveError::PrefixTooShort {
            prefix: name.to_string(),
        });
    }
    let hits: Vec<usize> = (0..cps.len())
        .filter(|&i| cps[i].id.starts_with(&lower))
        .collect();
    match hits.as_slice() {
        [one] => Ok(CheckpointIndex::new(*one)),
        [] => Err(not_found()),
        many => Err(ResolveError::Ambiguous {
            prefix: name.to_string(),
            count: many.len(),
            examples: many.iter().take(4).map(|&i| cps[i].id.clone()).collect(),
        }),
    }
}

/// The fewest hex digits of a checkpoint id taken as an id prefix.
pub const ID_PREFIX_MIN: usize = 4;

pub(super) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}
