//! The per-capture total (issue 13): a capture that would add more than
//! `max_batch_bytes` (a first capture of a tree holding a dataset, a directory of
//! many small files copied in: jj #5278) is put to a [`BatchPolicy`] before any
//! content is read. The estimate is the walk's stat sizes
//! ([`BatchEstimate`](crate::scan::BatchEstimate)). `tl checkpoint` asks on a
//! terminal and refuses elsewhere without `--yes`; the daemon proceeds and logs
//! the outcome's [`OverLimit`].

use crate::scan::BatchEstimate;

use super::{Result, Store, StoreError};

/// A capture's estimate over the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverLimit {
    /// What the capture is about to add.
    pub estimate: BatchEstimate,
    /// `max_batch_bytes`.
    pub limit: u64,
}

/// "about 3.2 GB in 4100 files, more than max_batch_bytes = 2147483648; most of
/// it in data/raw/ (3.0 GB in 12 files), …"
impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.estimate;
        write!(
            f,
            "about {} in {}, more than max_batch_bytes = {}",
            size(e.bytes),
            files(e.files),
            self.limit
        )?;
        for (i, d) in e.largest_dirs.iter().enumerate() {
            let dir = if d.dir.is_root() {
                "the top directory's own files".to_string()
            } else {
                format!("{}/", d.dir)
            };
            let sep = if i == 0 { "; most of it in " } else { ", " };
            write!(f, "{sep}{dir} ({} in {})", size(d.bytes), files(d.files))?;
        }
        Ok(())
    }
}

/// Decimal units, as `tl status` gives the log's size.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

fn files(n: u64) -> String {
    match n {
        1 => "1 file".to_string(),
        n => format!("{n} files"),
    }
}

/// What to do with a capture over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchDecision {
    /// Capture it (the outcome carries the [`OverLimit`]).
    Proceed,
    /// Capture nothing: the capture fails with [`StoreError::BatchOverLimit`].
    Refuse,
}

/// Decides about a capture over `max_batch_bytes`, before it reads anything.
pub trait BatchPolicy {
    /// Called once per capture over the limit, on the capturing thread.
    fn over_limit(&self, over: &OverLimit) -> BatchDecision;
}

/// Always captures: what every capture but a guarded checkpoint does (the
/// outcome carries the [`OverLimit`] for the caller to report).
pub struct Proceed;

impl BatchPolicy for Proceed {
    fn over_limit(&self, _: &OverLimit) -> BatchDecision {
        BatchDecision::Proceed
    }
}

impl Store {
    /// Puts `estimate` to `policy` when it is over `max_batch_bytes`: Ok(None)
    /// under the limit, Ok(Some) over it and let through, or the refusal.
    pub(super) fn check_batch(
        &self,
        estimate: BatchEstimate,
        policy: &dyn BatchPolicy,
    ) -> Result<Option<OverLimit>> {
        let limit = self.config.max_batch_bytes;
        if estimate.bytes <= limit {
            return Ok(None);
        }
        let over = OverLimit { estimate, limit };
        match policy.over_limit(&over) {
            BatchDecision::Proceed => Ok(Some(over)),
            BatchDecision::Refuse => Err(StoreError::BatchOverLimit(Box::new(over))),
        }
    }
}
