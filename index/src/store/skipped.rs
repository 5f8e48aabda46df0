//! The paths a long-lived writer's captures currently skip (issue 13: a skipped
//! file is reported, never silently dropped).
//!
//! Every capture leaves a [`SkipReport`]: what it looked at (the whole tree, or
//! some scopes) and which of those paths it skipped although they are there (too
//! large, unreadable, never held still, a FIFO or socket). The daemon folds the
//! reports into its [`SkippedPaths`]: a path enters when a capture skips it and
//! leaves when a capture that looks at it again captures it or finds it gone; a
//! path no capture looked at keeps its place. `tl daemon status` lists the set,
//! and the daemon logs each path once, when it enters.

use std::collections::BTreeMap;

use super::Store;
use crate::pathsafe::is_under;
use crate::repopath::RepoPath;
use crate::scan::{ScanWarning, WarningKind};

/// What one capture looked at, and which of those paths it skipped.
#[derive(Clone, Debug)]
pub struct SkipReport {
    covered: Covered,
    skipped: Vec<ScanWarning>,
}

/// What a capture looked at.
#[derive(Clone, Debug)]
enum Covered {
    /// The whole tree.
    Tree,
    /// These scopes and everything under them.
    Scopes(Vec<Vec<u8>>),
}

impl SkipReport {
    /// The report of a capture of the whole tree with these warnings.
    pub(crate) fn of_tree(warnings: &[ScanWarning]) -> SkipReport {
        SkipReport {
            covered: Covered::Tree,
            skipped: skips(warnings),
        }
    }

    /// The report of a capture of `scopes` with these warnings.
    pub(crate) fn of_scopes(scopes: &[Vec<u8>], warnings: &[ScanWarning]) -> SkipReport {
        SkipReport {
            covered: Covered::Scopes(scopes.to_vec()),
            skipped: skips(warnings),
        }
    }

    fn covers(&self, path: &[u8]) -> bool {
        match &self.covered {
            Covered::Tree => true,
            Covered::Scopes(scopes) => scopes.iter().any(|s| is_under(path, s)),
        }
    }
}

/// True when `warning` says a path was skipped although it is there (as opposed
/// to a problem of the walk, such as an ignore file that does not parse).
pub fn is_skipped_path(warning: &ScanWarning) -> bool {
    !warning.path.is_root() && warning.kind != WarningKind::Walk
}

fn skips(warnings: &[ScanWarning]) -> Vec<ScanWarning> {
    warnings
        .iter()
        .filter(|w| is_skipped_path(w))
        .cloned()
        .collect()
}

/// The paths currently skipped, by path (each once), with the warning of the
/// latest capture that skipped it.
#[derive(Clone, Debug, Default)]
pub struct SkippedPaths {
    by_path: BTreeMap<RepoPath, ScanWarning>,
}

impl SkippedPaths {
    /// No path skipped.
    pub fn new() -> SkippedPaths {
        SkippedPaths::default()
    }

    /// Folds one capture's report in: paths it looked at and did not skip leave,
    /// paths it skipped enter (or stay, with its newer warning). Returns the
    /// warnings of the paths that entered or are skipped for another reason than
    /// before, in path order: what is new to report.
    pub fn apply(&mut self, report: SkipReport) -> Vec<ScanWarning> {
        let before: BTreeMap<RepoPath, WarningKind> = self
            .by_path
            .iter()
            .map(|(p, w)| (p.clone(), w.kind))
            .collect();
        self.by_path
            .retain(|path, _| !report.covers(path.as_bytes()));
        let mut new = Vec::new();
        for w in report.skipped {
            if before.get(&w.path) != Some(&w.kind) {
                new.push(w.clone());
            }
            self.by_path.insert(w.path.clone(), w);
        }
        new
    }

    /// The skipped paths' warnings, in path order.
    pub fn iter(&self) -> impl Iterator<Item = &ScanWarning> {
        self.by_path.values()
    }

    /// How many paths are skipped.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// True when no path is skipped.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

impl Store {
    /// What the last capture looked at and skipped, once (a long-lived writer
    /// folds it into its [`SkippedPaths`]); None when no capture ran since.
    pub fn take_skip_report(&mut self) -> Option<SkipReport> {
        self.live.as_mut().and_then(|l| l.skips.take())
    }

    /// Keeps `report` for [`Store::take_skip_report`].
    pub(crate) fn note_skips(&mut self, report: SkipReport) {
        let root = self.layout.root().to_path_buf();
        self.live
            .get_or_insert_with(|| super::live::LiveState::new(&root))
            .skips = Some(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(path: &str, kind: WarningKind) -> ScanWarning {
        ScanWarning {
            path: RepoPath::from_bytes(path.as_bytes()),
            kind,
            message: format!("{kind:?}"),
        }
    }

    fn paths(set: &SkippedPaths) -> Vec<String> {
        set.iter().map(|w| w.path.to_string()).collect()
    }

    #[test]
    fn a_path_enters_once_and_leaves_when_a_capture_that_covers_it_does_not_skip_it() {
        let mut set = SkippedPaths::new();
        let big = warning("data/big.bin", WarningKind::TooLarge);
        let fifo = warning("run/pipe", WarningKind::Special);
        let walk = warning("", WarningKind::Walk);
        let new = set.apply(SkipReport::of_tree(&[big.clone(), fifo.clone(), walk]));
        assert_eq!(
            new,
            [big.clone(), fifo.clone()],
            "the walk's warning is no path"
        );
        // Skipped again: nothing new to report.
        assert!(set
            .apply(SkipReport::of_scopes(
                &[b"data".to_vec()],
                std::slice::from_ref(&big)
            ))
            .is_empty());
        // A capture of other paths leaves both in place.
        assert!(set
            .apply(SkipReport::of_scopes(&[b"src".to_vec()], &[]))
            .is_empty());
        assert_eq!(paths(&set), ["data/big.bin", "run/pipe"]);
        // Captured (or gone) at last: it leaves; the other stays.
        set.apply(SkipReport::of_scopes(&[b"data/big.bin".to_vec()], &[]));
        assert_eq!(paths(&set), ["run/pipe"]);
        // Another reason is reported again.
        let unreadable = warning("run/pipe", WarningKind::Unreadable);
        assert_eq!(
            set.apply(SkipReport::of_scopes(
                &[b"run".to_vec()],
                std::slice::from_ref(&unreadable)
            )),
            [unreadable]
        );
        // A whole-tree capture that skips nothing empties it.
        set.apply(SkipReport::of_tree(&[]));
        assert!(set.is_empty());
    }
}
