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
    /// `NAME@T` where T names no state of timeline NAME at or before it.
    #[error("timeline {timeline} has no state at or before \"{expr}\"")]
    NotOnTimeline {
        /// The timeline.
        timeline: String,
        /// The time as given.
        expr: String,
    },
    /// A timeline with no state yet (made before the log had one).
    #[error("timeline {name} has no state yet")]
    TimelineEmpty {
        /// The timeline.
        name: String,
    },
    /// Neither an id, a pin, a timeline nor a time.
    #[error("\"{name}\" is not a checkpoint id, a pin, a timeline or a time")]
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
    /// refused whatever they match), a timeline's name (its newest state), or
    /// `NAME@T`: the last state of timeline NAME's line (inherited states
    /// included) at or before T.
    pub fn resolve(&self, expr: &str) -> Result<CheckpointIndex> {
        Ok(resolve_checkpoint(self.catalog()?, expr)?)
    }
}

fn resolve_checkpoint(catalog: &Catalog, expr: &str) -> Result<CheckpointIndex, ResolveError> {
    if catalog.checkpoints().is_empty() {
        return Err(ResolveError::NoCheckpoints);
    }
    let trimmed = expr.trim();
    if let Some((name, rest)) = trimmed.split_once('@') {
        if let Some(t) = catalog.timelines().by_name(name) {
            let line = catalog.lineage(t.id);
            return resolve_in(catalog, rest, Some(&line)).map_err(|e| match e {
                ResolveError::BeforeFirst { .. } | ResolveError::LsnBeforeFirst { .. } => {
                    ResolveError::NotOnTimeline {
                        timeline: name.to_string(),
                        expr: rest.to_string(),
                    }
                }
                other => other,
            });
        }
    }
    resolve_in(catalog, expr, None)
}

/// Resolves `expr` among the states `scope` lists (None: all of them).
fn resolve_in(
    catalog: &Catalog,
    expr: &str,
    scope: Option<&[CheckpointIndex]>,
) -> Result<CheckpointIndex, ResolveError> {
    let cps = catalog.checkpoints();
    let all: Vec<CheckpointIndex>;
    let scope = match scope {
        Some(s) => s,
        None => {
            all = (0..cps.len()).map(CheckpointIndex::new).collect();
            &all
        }
    };
    let Some(&first_in_scope) = scope.first() else {
        return Err(ResolveError::NoCheckpoints);
    };
    // A whole id, as `tl log` prints it, is an id even when it also reads as a
    // time: "35282700004d" is 35,282,700,004 days to the time parser.
    let trimmed = expr.trim();
    if trimmed.len() == 12 && is_hex(&trimmed.to_ascii_lowercase()) {
        if let Ok(idx) = resolve_id(cps, trimmed) {
            return Ok(idx);
        }
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
        scope
            .iter()
            .rev()
            .find(|&&i| i128::from(cps[i].time_ns) < end_excl)
            .copied()
            .ok_or_else(|| ResolveError::BeforeFirst {
                expr: expr.to_string(),
                at: timespec::format_local(start),
                first: timespec::format_local(cps[first_in_scope].time_ns),
            })
    };
    match parsed {
        TimeExpr::Lsn(lsn) => scope
            .iter()
            .rev()
            .find(|&&i| cps[i].lsn <= lsn)
            .copied()
            .ok_or(ResolveError::LsnBeforeFirst {
                lsn,
                first: cps[first_in_scope].lsn,
            }),
        TimeExpr::Instant(t) => at_or_before(t, i128::from(t) + 1),
        TimeExpr::Window(w) => at_or_before(w.start, i128::from(w.end)),
        TimeExpr::Name(name) => match catalog.pins().get(&name) {
            Some(pin) => catalog
                .checkpoint_at_lsn(pin.target_lsn)
                .ok_or(ResolveError::PinTargetGone { name }),
            None => match catalog.timelines().by_name(&name) {
                Some(t) => catalog
                    .timeline_head(t.id)
                    .ok_or(ResolveError::TimelineEmpty { name }),
                None => resolve_id(cps, &name),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{chain_hash, CommitKind, CommitStats, Record};
    use tl_wal::Lsn;

    /// A catalog of one checkpoint whose id is `id_bytes` in hex (given by an
    /// Origin record, as after a GC).
    fn catalog_with_id(id_bytes: [u8; 6]) -> Catalog {
        let mut cat = Catalog::new([1; 16], Lsn::ZERO);
        let mut origin = [0u8; 32];
        origin[..6].copy_from_slice(&id_bytes);
        let o = Record::Origin { chain: origin }.encode();
        let chain = chain_hash(&[0; 32], [o.as_slice()].into_iter());
        let commit = Record::Commit {
            time_ns: now_ns(),
            seq: 1,
            kind: CommitKind::Manual,
            message: None,
            timeline: 0,
            acked_lsn: Lsn::ZERO,
            chain,
            stats: CommitStats::default(),
        };
        cat.fold_record(Lsn::ZERO, true, &o, Record::Origin { chain: origin });
        cat.fold_record(Lsn::new(64), false, &commit.encode(), commit);
        cat.fold_batch_end(Lsn::new(200));
        cat
    }

    #[test]
    fn a_whole_id_that_also_reads_as_a_relative_time_names_its_checkpoint() {
        let cat = catalog_with_id([0x35, 0x28, 0x27, 0x00, 0x00, 0x4d]);
        assert_eq!(cat.checkpoints()[0].id, "35282700004d");
        assert_eq!(resolve_checkpoint(&cat, "35282700004d").unwrap().get(), 0);
        // A time stays a time.
        assert!(resolve_checkpoint(&cat, "10d").is_err());
    }
}
