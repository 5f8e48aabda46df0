//! A rewrite no GC recorded: checkpoints carrying the ids of an earlier log
//! (Origin records) after the last Thinned record.

use super::fold::{Location, Segments};
use super::{Problem, ProblemKind};
use crate::catalog::Catalog;

/// The problem, if the log holds such checkpoints (named by the first).
pub(super) fn unrecorded_rewrite(catalog: &Catalog, segments: &Segments) -> Option<Problem> {
    let cps = catalog.checkpoints();
    // A GC writes its Thinned record after every checkpoint it rewrote: an
    // Origin after the last one is a rewrite no GC recorded.
    let recorded_until = catalog.thinnings().last().map(|t| t.lsn);
    if let Some(c) = cps
        .iter()
        .find(|c| c.origin.is_some() && recorded_until.is_none_or(|t| c.lsn > t))
    {
        let Location { file, offset } = segments.locate(c.lsn);
        let mut p = Problem::new(
            ProblemKind::RewrittenWithoutRecord,
            format!(
                "checkpoint {} (#{}) and later ones carry the ids of an earlier log, but no \
                 GC recorded a rewrite after them: the log was rewritten by something other \
                 than tl gc",
                c.id, c.seq
            ),
            "compare the history with a copy you trust (a replica, a Git export) before \
             relying on it",
        );
        p.file = file;
        p.offset = offset;
        p.lsn = Some(c.lsn);
        return Some(p);
    }
    None
}
