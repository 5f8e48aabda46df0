//! Retention: which states of the history a policy keeps, so that the GC can
//! thin the log without losing a state the user was promised.
//!
//! - [`policy`]: the `[retention]` settings of `.tl/config.toml` ([`Policy`]) and
//!   their parsing, with typed errors;
//! - [`size`]: byte sizes (`"10 GiB"`, `"500 MB"`) for `max-store-bytes`;
//! - [`select`](mod@select): the pure decision per state ([`select()`]);
//! - [`cap`]: the second stage that applies `max-store-bytes` ([`fit_to_cap`]);
//! - [`horizon`]: the policy as bands of history, for display ([`Policy::horizon`]).
//!
//! Nothing here reads the log or the clock: the caller passes the states' times,
//! the pins, now and the UTC offset, which is what makes the decision testable
//! with an injected clock.

pub mod cap;
pub mod horizon;
pub mod policy;
pub mod select;
pub mod size;

pub use cap::{fit_to_cap, CapOutcome, CapReport, FreedBytes, PerStateEstimate};
pub use horizon::{Band, Density, Horizon};
pub use policy::{BucketRule, ConfigError, Policy, Span, Unit, KNOWN_KEYS};
pub use select::{
    bucket, select, Clock, Decision, DropCause, Held, History, Pinned, Reason, SelectError,
    Selection,
};
pub use size::{parse_size, ByteSize, SizeError};

use crate::catalog::Catalog;

/// A catalog's states and pins in the form [`select()`] takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogStates {
    /// Each checkpoint's time, in the catalog's (the log's) order.
    pub times_ns: Vec<i64>,
    /// The pins, by checkpoint index; a pin whose checkpoint is gone names no
    /// state and is left out.
    pub pins: Vec<Pinned>,
}

impl CatalogStates {
    /// The checkpoints and pins of `catalog`.
    pub fn of(catalog: &Catalog) -> CatalogStates {
        CatalogStates {
            times_ns: catalog.checkpoints().iter().map(|c| c.time_ns).collect(),
            pins: catalog
                .pins()
                .iter()
                .filter_map(|(name, pin)| {
                    catalog.checkpoint_at_lsn(pin.target_lsn).map(|idx| Pinned {
                        state: idx.get(),
                        name: name.clone(),
                    })
                })
                .collect(),
        }
    }

    /// The history to select from, with `held` states kept besides the pins.
    pub fn history<'a>(&'a self, held: &'a [Held]) -> History<'a> {
        History {
            times_ns: &self.times_ns,
            pins: &self.pins,
            held,
        }
    }
}

#[cfg(test)]
mod tests;
