//! Restore's temporaries: `.tl-tmp-PID-N`, created `O_CREAT|O_EXCL|O_NOFOLLOW` in the
//! directory of the file they become, then renamed over it (and the probes of
//! `restore/folding`, `.tl-tmp-PID-N-é`, removed at once). A restore killed
//! mid-write leaves one behind: no capture ever records one ([`is_temporary`],
//! honoured by both scans whatever the ignore files say), the next open of the
//! store for writing removes those of a restore that did not finish
//! (`restore/leftovers`), and the next restore that writes into a directory
//! removes every temporary there whose process is gone.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::os;

const PREFIX: &[u8] = b".tl-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// What ends a normalization probe's name: `-é`, composed (NFC) as it is
/// created, or decomposed (NFD) as a normalizing file system may list it.
const PROBE_SUFFIXES: [&[u8]; 2] = ["-\u{e9}".as_bytes(), "-e\u{301}".as_bytes()];

/// A fresh temporary name for this process.
pub(super) fn name() -> Vec<u8> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".tl-tmp-{}-{n}", std::process::id()).into_bytes()
}

/// A fresh name for the probe of Unicode normalization: a temporary's name
/// ending in a composed `é` (see [`PROBE_SUFFIXES`]).
pub(super) fn probe_name() -> Vec<u8> {
    let mut name = name();
    name.extend_from_slice(PROBE_SUFFIXES[0]);
    name
}

/// True when `name` is one of restore's temporaries (or probes): never captured.
/// Only these exact shapes: `.tl-tmp-` then digits, `-`, digits (and the probe's
/// `-é`); `.tl-tmp-notes` is a name like any other.
pub fn is_temporary(name: &[u8]) -> bool {
    pid_of(name).is_some()
}

/// The process id in a temporary's name, if `name` is one.
pub(super) fn pid_of(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let rest = PROBE_SUFFIXES
        .iter()
        .find_map(|s| rest.strip_suffix(*s))
        .unwrap_or(rest);
    let dash = rest.iter().position(|&b| b == b'-')?;
    let (pid, n) = (&rest[..dash], &rest[dash + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit);
    if !digits(pid) || !digits(n) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// True if no process `pid` runs (a process we may not signal still runs).
pub(super) fn is_gone(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

/// Removes the temporaries in `dir` that a process now gone left behind (files and
/// symlinks only, never followed); returns their names.
pub(super) fn remove_stale(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let me = std::process::id();
    let mut removed = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        let Some(pid) = pid_of(name) else { continue };
        if pid == me || !is_gone(pid) {
            continue;
        }
        let st = match rustix::fs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        if !matches!(
            FileType::from_raw_mode(st.st_mode),
            FileType::RegularFile | FileType::Symlink
        ) {
            continue;
        }
        match rustix::fs::unlinkat(dir, os(name), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => removed.push(name.to_vec()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        let n = name();
        assert_eq!(pid_of(&n), Some(std::process::id()));
        assert_eq!(pid_of(&probe_name()), Some(std::process::id()));
        assert_eq!(pid_of(b".tl-tmp-12-0"), Some(12));
        assert_eq!(pid_of(".tl-tmp-12-0-e\u{301}".as_bytes()), Some(12));
        for other in [
            &b".tl-tmp-"[..],
            b".tl-tmp-12",
            b".tl-tmp-12-",
            b".tl-tmp--1",
            b".tl-tmp-1a-2",
            b"x.tl-tmp-1-2",
            b".tl-tmp-1-2.bak",
            ".tl-tmp-1-\u{e9}".as_bytes(),
            ".tl-tmp-1-2-\u{e9}\u{e9}".as_bytes(),
        ] {
            assert_eq!(pid_of(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
