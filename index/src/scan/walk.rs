//! The walk: which names a scan looks at. The `ignore` crate enumerates the tree
//! and evaluates the ignore rules; nothing here opens a file.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{defaults, IgnoreRules, ScanWarning, WarningKind, IGNORE_FILE_NAME, NEVER_CAPTURED};
use crate::repopath::RepoPath;

/// A file or symlink the walk found.
pub(super) struct Found {
    /// Absolute (root-joined) path.
    pub(super) abs: PathBuf,
    /// Path relative to the root, `/`-separated bytes.
    pub(super) rel: Vec<u8>,
}

/// What a walk found.
pub(super) struct Walked {
    /// The files and symlinks, sorted by path.
    pub(super) found: Vec<Found>,
    /// What was left out, and why.
    pub(super) warnings: Vec<ScanWarning>,
    /// Files left out as likely secrets (`defaults::SECRET_FILES`), sorted.
    pub(super) secrets: Vec<RepoPath>,
}

/// Walks `root` in parallel, honouring the ignore rules; returns the files and
/// symlinks found (sorted by path) and the warnings about what was left out.
pub(super) fn walk(root: &Path, threads: usize) -> Walked {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .same_file_system(false)
        .threads(threads)
        .add_custom_ignore_filename(IGNORE_FILE_NAME)
        .filter_entry(|entry| {
            let name = entry.file_name();
            !NEVER_CAPTURED.iter().any(|never| name == *never)
        });
    let found = Mutex::new(Vec::new());
    let warnings = Mutex::new(Vec::new());
    let secrets = Mutex::new(Vec::new());
    // Consulted only for the rare names a default rule leaves out (editor
    // temporaries, likely secrets): is an explicit rule keeping them (the walk
    // has already applied every other rule)?
    let rules = Mutex::new(IgnoreRules::new(root));
    builder.build_parallel().run(|| {
        Box::new(|result| {
            match result {
                Ok(entry) => {
                    if entry.depth() == 0 {
                        return ignore::WalkState::Continue;
                    }
                    let rel = relative(root, entry.path());
                    match entry.file_type() {
                        Some(t) if t.is_dir() => {}
                        Some(t) if t.is_file() || t.is_symlink() => {
                            let name = entry.file_name().as_bytes();
                            // A restore's temporary (one a killed restore left).
                            if crate::restore::is_temporary(name) {
                                return ignore::WalkState::Continue;
                            }
                            if let Some(rule) = defaults::default_rule(name) {
                                if !rules.lock().unwrap().explicitly_kept(&rel) {
                                    if rule == defaults::DefaultRule::Secret {
                                        secrets.lock().unwrap().push(RepoPath::from(rel));
                                    }
                                    return ignore::WalkState::Continue;
                                }
                            }
                            found.lock().unwrap().push(Found {
                                abs: entry.path().to_path_buf(),
                                rel,
                            });
                        }
                        _ => warnings.lock().unwrap().push(ScanWarning {
                            path: RepoPath::from(rel),
                            kind: WarningKind::Special,
                            message: "skipped: not a regular file, directory or symlink \
                                      (FIFO, socket or device)"
                                .to_string(),
                        }),
                    }
                }
                Err(err) => warnings.lock().unwrap().push(walk_warning(root, &err)),
            }
            ignore::WalkState::Continue
        })
    });
    let mut found = found.into_inner().unwrap();
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    let mut secrets = secrets.into_inner().unwrap();
    secrets.sort();
    Walked {
        found,
        warnings: warnings.into_inner().unwrap(),
        secrets,
    }
}

/// Turns a walker error into a warning about the path it concerns.
fn walk_warning(root: &Path, err: &ignore::Error) -> ScanWarning {
    fn path_of(err: &ignore::Error) -> Option<&Path> {
        match err {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                path_of(err)
            }
            _ => None,
        }
    }
    let kind = match err.io_error() {
        Some(_) => WarningKind::Unreadable,
        None => WarningKind::Walk,
    };
    ScanWarning {
        path: path_of(err)
            .map(|p| RepoPath::from(relative(root, p)))
            .unwrap_or_else(RepoPath::root),
        kind,
        message: format!("skipped: {err}"),
    }
}

/// `path` relative to `root`, as bytes.
pub(super) fn relative(root: &Path, path: &Path) -> Vec<u8> {
    path.strip_prefix(root)
        .unwrap_or(path)
        .as_os_str()
        .as_bytes()
        .to_vec()
}
