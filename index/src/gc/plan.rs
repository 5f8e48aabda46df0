//! What a GC would do: the retention policy applied to the store's history
//! (`retention::select`, then `fit_to_cap` for `max-store-bytes`), with what it
//! is expected to free. Planning changes nothing; `tl gc --dry-run` shows it.

use crate::catalog::Catalog;
use crate::retention::{
    fit_to_cap, select, CapReport, CatalogStates, Clock, Decision, PerStateEstimate, Policy,
    SelectError, Selection,
};

/// The decision for every checkpoint of a store, and its context.
#[derive(Clone, Debug)]
pub struct GcPlan {
    /// One decision per checkpoint, in log order.
    pub selection: Selection,
    /// What `max-store-bytes` did, when set.
    pub cap: Option<CapReport>,
    /// The policy, as it reads in `.tl/config.toml` (kept in the Thinned record).
    pub policy_text: String,
    /// When the plan was made, and how days were counted.
    pub clock: Clock,
    /// Bytes of log before the GC.
    pub log_bytes: u64,
    /// Content stored since the last GC (or ever, before the first), not yet
    /// packed into solid blocks: the `bytes_new` of the checkpoints after the
    /// last Thinned record.
    pub unpacked_bytes: u64,
}

/// Unpacked content below this is not worth rewriting the log for when no state
/// is dropped.
pub const REPACK_MIN_BYTES: u64 = 1 << 20;

impl GcPlan {
    /// Checkpoints before the GC.
    pub fn states_before(&self) -> u64 {
        self.selection.decisions.len() as u64
    }

    /// Checkpoints kept.
    pub fn kept(&self) -> u64 {
        self.selection
            .decisions
            .iter()
            .filter(|d| d.is_kept())
            .count() as u64
    }

    /// Checkpoints dropped.
    pub fn dropped(&self) -> u64 {
        self.states_before() - self.kept()
    }

    /// True when a GC would change nothing: the policy keeps every checkpoint
    /// and less than [`REPACK_MIN_BYTES`] of content is waiting to be packed.
    pub fn is_noop(&self) -> bool {
        self.dropped() == 0 && self.unpacked_bytes < REPACK_MIN_BYTES
    }

    /// True when checkpoint `i` stays.
    pub fn keeps(&self, i: usize) -> bool {
        matches!(self.selection.decisions.get(i), Some(Decision::Kept { .. }))
    }
}

/// The states every timeline needs whatever the policy: each live timeline's
/// newest state (a shelf when it is not the current one) and the state it
/// started from, so a switch to it and its line of states stay whole.
fn timeline_states(catalog: &Catalog) -> Vec<crate::retention::Held> {
    let mut held = Vec::new();
    for t in catalog.timelines().live() {
        if let Some(idx) = catalog.timeline_head(t.id) {
            held.push(crate::retention::Held {
                state: idx.get(),
                reason: format!("newest state of timeline {}", t.name),
            });
        }
        if let Some(idx) = t.base_lsn.and_then(|lsn| catalog.checkpoint_at_lsn(lsn)) {
            held.push(crate::retention::Held {
                state: idx.get(),
                reason: format!("start of timeline {}", t.name),
            });
        }
    }
    held
}

/// Applies `policy` to the checkpoints of `catalog` at `clock`. `log_bytes` is
/// the size of the log, which `max-store-bytes` is compared with; what dropping
/// a checkpoint frees is estimated as the content it brought (its `bytes_new`).
pub fn plan(
    catalog: &Catalog,
    policy: &Policy,
    clock: Clock,
    log_bytes: u64,
) -> Result<GcPlan, SelectError> {
    let states = CatalogStates::of(catalog);
    let held = timeline_states(catalog);
    let mut selection = select(policy, &states.history(&held), clock)?;
    let cap = policy.max_store_bytes.map(|cap| {
        let bytes: Vec<u64> = catalog
            .checkpoints()
            .iter()
            .map(|c| c.stats.bytes_new)
            .collect();
        let mut freed = PerStateEstimate { bytes: &bytes };
        fit_to_cap(&mut selection, cap, log_bytes, &mut freed)
    });
    let since = catalog.thinnings().last().map(|t| t.lsn);
    let unpacked_bytes = catalog
        .checkpoints()
        .iter()
        .filter(|c| since.is_none_or(|t| c.lsn > t))
        .map(|c| c.stats.bytes_new)
        .sum();
    Ok(GcPlan {
        selection,
        cap,
        policy_text: policy_text(policy),
        clock,
        log_bytes,
        unpacked_bytes,
    })
}

/// The policy as `[retention]` keys, one line each, only those set.
pub fn policy_text(policy: &Policy) -> String {
    let mut out = String::new();
    let spans = [
        ("keep-all", policy.keep_all),
        ("keep-secondly", policy.keep_secondly),
        ("keep-minutely", policy.keep_minutely),
        ("keep-hourly", policy.keep_hourly),
        ("keep-daily", policy.keep_daily),
    ];
    for (key, span) in spans {
        if let Some(s) = span {
            out.push_str(&format!("{key} = \"{}s\"\n", s.ns() / 1_000_000_000));
        }
    }
    if let Some(cap) = policy.max_store_bytes {
        out.push_str(&format!("max-store-bytes = \"{cap}\"\n"));
    }
    out
}
