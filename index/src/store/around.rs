//! Captures that leave some directories alone: the daemon's runaway guard holds a
//! directory (issue 13), and every capture it makes meanwhile, a whole-tree
//! rescan included, keeps what the last checkpoint recorded at and under it.
//!
//! Nothing under a held directory is read: a scope that contains one is split
//! into its children (the names on disk and the names the head tree records, so
//! a deletion beside the held directory is still seen), down to the held
//! directory's siblings.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;

use super::{CheckpointOutcome, Result, Store};
use crate::pathsafe::is_under;
use crate::record::{CommitKind, Hold, Record};
use crate::scan::IgnoreRules;

impl Store {
    /// Records that `hold.dir` was held from `hold.from_ns` to `hold.to_ns` (a
    /// Hold record, a batch of its own): `tl log` lists the interval like a gap
    /// (`hold.ended` is cut to what the record holds). The capture that follows
    /// the hold's end brings the directory up to date.
    pub fn record_hold(&mut self, mut hold: Hold) -> Result<()> {
        assert!(!hold.dir.is_empty(), "the root is never held");
        let max = crate::record::GAP_REASON_MAX_BYTES;
        if hold.ended.len() > max {
            let mut cut = max;
            while !hold.ended.is_char_boundary(cut) {
                cut -= 1;
            }
            hold.ended.truncate(cut);
        }
        hold.from_ns = hold.from_ns.min(hold.to_ns);
        let rec = Record::Hold(hold).encode();
        self.wal()?.append(&[&rec])?;
        self.fold_to_end()?;
        if !self.is_lean() {
            self.save_catalog();
        }
        Ok(())
    }

    /// Like [`Store::capture_paths`], but every directory of `held` (relative to
    /// the root, never the root itself) keeps, with everything under it, what the
    /// last checkpoint recorded there: paths under it are dropped, and a path
    /// above it (the root, after an overflow or an ignore-rule change) is
    /// captured around it. With nothing held it is `capture_paths`.
    pub fn capture_paths_around(
        &mut self,
        kind: CommitKind,
        paths: Vec<Vec<u8>>,
        held: &[Vec<u8>],
    ) -> Result<Option<CheckpointOutcome>> {
        if held.is_empty() {
            return self.capture_paths(kind, paths);
        }
        assert!(held.iter().all(|h| !h.is_empty()), "the root is never held");
        let whole_tree = paths
            .iter()
            .any(|p| p.is_empty() || IgnoreRules::is_rule_path(p));
        let paths = if whole_tree {
            if let Some(live) = self.live.as_mut() {
                live.rules.forget();
            }
            vec![Vec::new()]
        } else {
            paths
        };
        let mut scopes = Vec::new();
        for p in paths {
            self.scopes_around(p, held, &mut scopes);
        }
        if scopes.is_empty() {
            return Ok(None);
        }
        self.capture_scopes(kind, None, scopes)
    }

    /// Pushes onto `out` what capturing `path` around `held` scans.
    fn scopes_around(&self, path: Vec<u8>, held: &[Vec<u8>], out: &mut Vec<Vec<u8>>) {
        if held.iter().any(|h| is_under(&path, h)) {
            return;
        }
        if !held.iter().any(|h| is_under(h, &path)) {
            out.push(path);
            return;
        }
        for child in self.children(&path) {
            self.scopes_around(child, held, out);
        }
    }

    /// The paths directly under `dir`: its names on disk and in the head tree.
    fn children(&self, dir: &[u8]) -> BTreeSet<Vec<u8>> {
        let join = |name: &[u8]| -> Vec<u8> {
            if dir.is_empty() {
                name.to_vec()
            } else {
                [dir, b"/", name].concat()
            }
        };
        let mut names = BTreeSet::new();
        let abs = self.layout.root().join(OsStr::from_bytes(dir));
        // Only names are listed here: the scan opens each through directory
        // handles, never following a symlink.
        if let Ok(rd) = std::fs::read_dir(&abs) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.as_bytes();
                if dir.is_empty() && (name == b".tl" || name == b".git") {
                    continue;
                }
                names.insert(join(name));
            }
        }
        let prefix = if dir.is_empty() {
            Vec::new()
        } else {
            [dir, b"/"].concat()
        };
        let recorded = self
            .catalog
            .head()
            .range::<[u8], _>((Bound::Included(&prefix[..]), Bound::Unbounded))
            .map(|(path, _)| path)
            .take_while(|path| path.starts_with(&prefix));
        for path in recorded {
            let rest = &path[prefix.len()..];
            let name = rest.split(|&b| b == b'/').next().unwrap_or(rest);
            names.insert(join(name));
        }
        names
    }
}
