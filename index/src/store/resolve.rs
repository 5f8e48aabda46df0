//! Time expressions, pins and checkpoint id prefixes to a checkpoint.

use super::{now_ns, Result, Store, StoreError};
use crate::timespec::{self, TimeExpr};

impl Store {
    /// Resolves a time expression to a checkpoint index: the last checkpoint at or
    /// before an instant, the last one before the end of a time stated to the
    /// second ([`timespec::Window`]), the checkpoint containing an LSN, a pin, or a
    /// checkpoint id prefix ([`ID_PREFIX_MIN`] to 12 hex digits; shorter ones are
    /// refused whatever they match).
    pub fn resolve(&self, expr: &str) -> Result<usize> {
        let cps = &self.catalog.checkpoints;
        if cps.is_empty() {
            return Err(StoreError::Time(
                "there are no checkpoints yet; run `tl checkpoint` first".into(),
            ));
        }
        let now = now_ns();
        let parsed = timespec::parse(expr, &jiff::Zoned::now())
            .map_err(|e| StoreError::Time(e.to_string()))?;
        let at_or_before = |start: i64, end_excl: i128| {
            if start > now + 1_000_000_000 {
                return Err(StoreError::Time(format!(
                    "\"{expr}\" ({}) is in the future",
                    timespec::format_local(start)
                )));
            }
            cps.iter()
                .rposition(|c| i128::from(c.time_ns) < end_excl)
                .ok_or_else(|| StoreError::BeforeFirst {
                    message: format!(
                        "\"{expr}\" ({}) is before the first checkpoint ({})",
                        timespec::format_local(start),
                        timespec::format_local(cps[0].time_ns)
                    ),
                })
        };
        match parsed {
            TimeExpr::Lsn(lsn) => {
                let idx = cps.iter().rposition(|c| c.lsn <= lsn).ok_or_else(|| {
                    StoreError::Time(format!(
                        "@{lsn} is before the first checkpoint (LSN {})",
                        cps[0].lsn
                    ))
                })?;
                Ok(idx)
            }
            TimeExpr::Instant(t) => at_or_before(t, i128::from(t) + 1),
            TimeExpr::Window(w) => at_or_before(w.start, i128::from(w.end)),
            TimeExpr::Name(name) => {
                if let Some(pin) = self.catalog.pins.get(&name) {
                    return self
                        .catalog
                        .checkpoint_at_lsn(pin.target_lsn)
                        .ok_or_else(|| {
                            StoreError::Time(format!("pin {name} names a checkpoint that is gone"))
                        });
                }
                self.resolve_id(&name)
            }
        }
    }

    /// A checkpoint id prefix (see [`Store::resolve`]).
    pub(super) fn resolve_id(&self, name: &str) -> Result<usize> {
        let cps = &self.catalog.checkpoints;
        let lower = name.to_ascii_lowercase();
        let not_found = || {
            StoreError::Time(format!(
                "\"{name}\" is not a checkpoint id, a pin or a time; `tl log` lists checkpoint \
                 ids, `tl pins` the pins"
            ))
        };
        if !is_hex(&lower) {
            return Err(not_found());
        }
        if lower.len() < ID_PREFIX_MIN {
            return Err(StoreError::Time(format!(
                "checkpoint id prefix \"{name}\" is too short: give at least {ID_PREFIX_MIN} of \
                 its 12 hex digits"
            )));
        }
        let hits: Vec<usize> = (0..cps.len())
            .filter(|&i| cps[i].id.starts_with(&lower))
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(not_found()),
            many => Err(StoreError::Time(format!(
                "\"{name}\" is the start of {} checkpoint ids ({}); give more of its digits",
                many.len(),
                many.iter()
                    .take(4)
                    .map(|&i| cps[i].id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// The fewest hex digits of a checkpoint id taken as an id prefix.
pub const ID_PREFIX_MIN: usize = 4;

pub(super) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}
