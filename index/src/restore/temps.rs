//! Restore's temporaries: `.tl-tmp-PID-N`, created `O_CREAT|O_EXCL|O_NOFOLLOW` in the
//! directory of the file they become, then renamed over it. A restore killed
//! mid-write leaves one behind (which a capture would then record as a file): the
//! next restore that writes into that directory removes every temporary whose
//! process is gone.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::os;

const PREFIX: &[u8] = b".tl-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary name for this process.
pub(super) fn name() -> Vec<u8> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".tl-tmp-{}-{n}", std::process::id()).into_bytes()
}

/// The process id in a temporary's name, if `name` is one.
fn pid_of(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    let (pid, n) = (&rest[..dash], &rest[dash + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit);
    if !digits(pid) || !digits(n) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// True if no process `pid` runs (a process we may not signal still runs).
fn is_gone(pid: u32) -> bool {
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
        assert_eq!(pid_of(b".tl-tmp-12-0"), Some(12));
        for other in [
            &b".tl-tmp-"[..],
            b".tl-tmp-12",
            b".tl-tmp-12-",
            b".tl-tmp--1",
            b".tl-tmp-1a-2",
            b"x.tl-tmp-1-2",
            b".tl-tmp-1-2.bak",
        ] {
            assert_eq!(pid_of(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
