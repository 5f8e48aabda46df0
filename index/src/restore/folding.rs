//! Names the restore's file system treats as one. Linux keeps `README` and
//! `readme`, or `é` composed (NFC, U+00E9) and decomposed (NFD, `e` U+0301), as
//! different names, and capture keeps them apart; a case-insensitive file system
//! (vfat, exFAT, NTFS, APFS and HFS+ as they come, an ext4 or f2fs `casefold`
//! directory) makes each pair one file, and a normalizing one (APFS, HFS+, ext4
//! casefold) makes the two `é` one. Written there, the second of a pair would
//! overwrite the first. So before anything is written, the restore learns how its
//! directory compares names ([`probe`]: a temporary is created and its
//! case-swapped or decomposed twin looked up) and refuses a tree holding two paths
//! that fold to one ([`RestoreError::NameCollision`], naming both). The tests
//! force the answer with [`Folding::Assume`] (no such file system is mounted
//! where they run).
//!
//! Only the restore's directory is probed: casefold set on a subdirectory alone
//! goes unseen. Case is compared by Unicode lower case (`str::to_lowercase`, a
//! close stand-in for the file systems' own tables), normalization in NFC
//! (`unicode-normalization`); a name that is not UTF-8 is compared by its bytes,
//! with ASCII case folded.

use std::collections::HashMap;
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, Mode as FsMode, OFlags};
use unicode_normalization::UnicodeNormalization;

use super::{lossy, os, temps, RestoreError};

/// How a file system compares names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameRules {
    /// `README` and `readme` name one file.
    pub folds_case: bool,
    /// A composed and a decomposed `é` name one file.
    pub normalizes_unicode: bool,
}

impl NameRules {
    /// Names compared byte for byte (Linux's ext4, xfs, btrfs, tmpfs).
    pub const EXACT: NameRules = NameRules {
        folds_case: false,
        normalizes_unicode: false,
    };

    fn describe(self) -> &'static str {
        match (self.folds_case, self.normalizes_unicode) {
            (true, true) => "it ignores case and Unicode normalization",
            (true, false) => "it ignores case",
            (false, true) => "it ignores Unicode normalization (composed and decomposed accents)",
            (false, false) => "it compares names byte for byte",
        }
    }

    /// The name `path` is on such a file system.
    fn fold(self, path: &[u8]) -> Vec<u8> {
        match std::str::from_utf8(path) {
            Ok(s) => {
                let s: String = if self.normalizes_unicode {
                    s.nfc().collect()
                } else {
                    s.to_owned()
                };
                let s = if self.folds_case { s.to_lowercase() } else { s };
                s.into_bytes()
            }
            Err(_) if self.folds_case => path.to_ascii_lowercase(),
            Err(_) => path.to_vec(),
        }
    }
}

/// Where a restore gets the rules of its directory's file system
/// ([`super::MaterializeOptions::folding`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Folding {
    /// Ask the file system ([`probe`]).
    #[default]
    Probe,
    /// Take these rules as the file system's (tests).
    Assume(NameRules),
}

/// How the directory `dir` compares names: a temporary `.tl-tmp-PID-N` is
/// created there and `.TL-TMP-PID-N` looked up, then one ending in a composed
/// `é` and its decomposed twin; both removed at once. A directory where nothing
/// can be created is taken to compare exactly (writing there fails anyway).
pub(super) fn probe(dir: BorrowedFd<'_>) -> NameRules {
    let case = temps::name();
    let upper = case.to_ascii_uppercase();
    let composed = temps::probe_name();
    let decomposed: Vec<u8> = String::from_utf8(composed.clone())
        .expect("a probe name is UTF-8")
        .nfd()
        .collect::<String>()
        .into_bytes();
    NameRules {
        folds_case: twin_is_one(dir, &case, &upper),
        normalizes_unicode: twin_is_one(dir, &composed, &decomposed),
    }
}

/// True when `twin` names the file created as `name` in `dir`.
fn twin_is_one(dir: BorrowedFd<'_>, name: &[u8], twin: &[u8]) -> bool {
    let Ok(fd) = rustix::fs::openat(
        dir,
        os(name),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        FsMode::from_raw_mode(0o600),
    ) else {
        return false;
    };
    let one = match (
        rustix::fs::fstat(&fd),
        rustix::fs::statat(dir, os(twin), AtFlags::SYMLINK_NOFOLLOW),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    };
    drop(fd);
    let _ = rustix::fs::unlinkat(dir, os(name), AtFlags::empty());
    one
}

/// Refuses `paths` (a tree's, sorted) when two of them, or a path and a directory
/// of another, are one name under `rules`.
pub(super) fn check<'a>(
    rules: NameRules,
    paths: impl Iterator<Item = &'a [u8]>,
) -> Result<(), RestoreError> {
    if rules == NameRules::EXACT {
        return Ok(());
    }
    // Folded name -> the first spelling met (paths and their directories).
    let mut seen: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
    for path in paths {
        let ends = path
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(|(i, _)| i)
            .chain([path.len()]);
        for end in ends {
            let spelled = &path[..end];
            let folded = rules.fold(spelled);
            match seen.get(&folded) {
                Some(first) if first.as_slice() != spelled => {
                    return Err(RestoreError::NameCollision {
                        first: lossy(first),
                        second: lossy(spelled),
                        why: rules.describe(),
                    })
                }
                Some(_) => {}
                None => {
                    seen.insert(folded, spelled.to_vec());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: NameRules = NameRules {
        folds_case: true,
        normalizes_unicode: false,
    };
    const NFC: NameRules = NameRules {
        folds_case: false,
        normalizes_unicode: true,
    };

    fn collide(rules: NameRules, paths: &[&str]) -> Option<(String, String)> {
        match check(rules, paths.iter().map(|p| p.as_bytes())) {
            Ok(()) => None,
            Err(RestoreError::NameCollision { first, second, .. }) => Some((first, second)),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn paths_folding_to_one_name_collide_and_others_do_not() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(
            collide(CASE, &["README", "readme"]),
            pair("README", "readme")
        );
        assert_eq!(collide(CASE, &["Docs/a", "docs/b"]), pair("Docs", "docs"));
        assert_eq!(collide(CASE, &["a/X", "a/x"]), pair("a/X", "a/x"));
        // A file and a directory of another path.
        assert_eq!(collide(CASE, &["Lib", "lib/x"]), pair("Lib", "lib"));
        assert!(collide(CASE, &["\u{c9}t\u{e9}", "\u{e9}t\u{e9}"]).is_some());
        assert_eq!(collide(CASE, &["e\u{301}", "\u{e9}"]), None);
        assert_eq!(
            collide(NFC, &["e\u{301}", "\u{e9}"]),
            pair("e\u{301}", "\u{e9}")
        );
        assert_eq!(collide(NFC, &["README", "readme"]), None);
        assert_eq!(collide(NameRules::EXACT, &["README", "readme"]), None);
        assert_eq!(collide(CASE, &["a/b", "a/c", "b"]), None);
        // Not UTF-8: bytes, ASCII case folded.
        assert!(check(CASE, [&b"A\xff"[..], b"a\xff"].into_iter()).is_err());
        assert!(check(NFC, [&b"A\xff"[..], b"a\xff"].into_iter()).is_ok());
    }

    #[test]
    fn an_exact_file_system_is_probed_as_exact_and_the_probes_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let fd = rustix::fs::open(
            dir.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            FsMode::empty(),
        )
        .unwrap();
        assert_eq!(probe(rustix::fd::AsFd::as_fd(&fd)), NameRules::EXACT);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
