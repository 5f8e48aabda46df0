//! `tl verify --remote`: quick, every object the newest manifest names is there
//! with the size it records (one HEAD each); deep, every object downloaded,
//! decrypted and checked against the manifest, then the log they make checked as
//! `tl fsck --deep` checks a store (every frame's crc, the commit chain, every
//! blob re-hashed) in a scratch directory the caller provides.

use std::path::Path;

use super::backend::Backend;
use super::crypt::Identities;
use super::error::io;
use super::manifest::{Manifest, SegmentEntry};
use super::{pull, RemoteError, Result};
use crate::fsck::{fsck, FsckOptions};
use crate::store::Store;

/// How much to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Presence and sizes.
    Quick,
    /// Download and check every byte.
    Deep,
}

/// One damaged or missing object, or a problem of the log they make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectProblem {
    /// The object (or `log` for what fsck found).
    pub object: String,
    /// What is wrong.
    pub why: String,
}

/// What a verify found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The manifest's generation.
    pub generation: u64,
    /// Segments it names.
    pub segments: usize,
    /// Their bytes as stored.
    pub bytes: u64,
    /// Checkpoints in the log (deep, when it could be checked).
    pub checkpoints: Option<usize>,
    /// Every problem.
    pub problems: Vec<ObjectProblem>,
}

/// Verifies `manifest`'s objects on `backend`.
pub fn verify(
    backend: &Backend,
    manifest: &Manifest,
    depth: Depth,
    identities: Option<&Identities>,
    scratch: &Path,
) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        generation: manifest.generation,
        segments: manifest.segments.len(),
        bytes: manifest.segments.iter().map(|e| e.stored_size).sum(),
        ..Default::default()
    };
    match depth {
        Depth::Quick => {
            for e in &manifest.segments {
                match backend.head(&e.object())? {
                    None => report.problems.push(problem(e, "missing".into())),
                    Some(n) if n != e.stored_size => report.problems.push(problem(
                        e,
                        format!("{n} bytes, the manifest says {}", e.stored_size),
                    )),
                    Some(_) => {}
                }
            }
        }
        Depth::Deep => deep(backend, manifest, identities, scratch, &mut report)?,
    }
    Ok(report)
}

fn problem(e: &SegmentEntry, why: String) -> ObjectProblem {
    ObjectProblem {
        object: e.object(),
        why,
    }
}

fn deep(
    backend: &Backend,
    manifest: &Manifest,
    identities: Option<&Identities>,
    scratch: &Path,
    report: &mut VerifyReport,
) -> Result<()> {
    let root = Store::create_empty(scratch)?;
    let layout = crate::layout::Layout::new(&root);
    let dir = layout.log_dir();
    let names: Vec<(String, u64)> = manifest
        .segments
        .iter()
        // A damaged object may be longer than recorded: read a little more to say so.
        .map(|e| (e.object(), e.stored_size + (1 << 20)))
        .collect();
    let mut problems = Vec::new();
    backend.get_each(&names, pull::PARALLEL, &mut |i, got| {
        let e = &manifest.segments[i];
        let checked = got.and_then(|b| pull::check_segment(e, manifest.repo_id, b, identities));
        match checked {
            Ok(plain) => {
                let path = dir.join(e.file_name());
                let mut f = tl_wal::private_fs::create_new(&path).map_err(io(&path))?;
                std::io::Write::write_all(&mut f, &plain).map_err(io(&path))?;
            }
            // Not damage: the check itself could not be made.
            Err(
                err @ (RemoteError::IdentityNeeded
                | RemoteError::Timeout { .. }
                | RemoteError::Store { .. }),
            ) => return Err(err),
            Err(err) => problems.push(problem(e, err.to_string())),
        }
        Ok(())
    })?;
    report.problems.extend(problems);
    if !report.problems.is_empty() {
        // The log has holes: fsck would only repeat them as missing segments.
        return Ok(());
    }
    let opts = FsckOptions {
        deep: true,
        check_tail: true,
    };
    let checked = fsck(&root, &opts).map_err(io(&root))?;
    report.checkpoints = Some(checked.checkpoints);
    for p in checked.problems {
        let object = match &p.file {
            Some(f) => f
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(tl_wal::parse_segment_name)
                .and_then(|base| manifest.segments.iter().find(|e| e.base == base))
                .map_or_else(|| "log".to_string(), |e| e.object()),
            None => "log".to_string(),
        };
        report.problems.push(ObjectProblem {
            object,
            why: p.what,
        });
    }
    Ok(())
}
