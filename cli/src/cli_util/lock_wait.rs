//! Waiting for the log's writer lock: two writers at once (an editor hook beside a
//! script) take turns instead of the second failing. The wait is bounded
//! (`TL_LOCK_TIMEOUT` seconds, default 30) and says for whom it waits, as jj does
//! for its working-copy lock.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for the lock before giving up.
pub fn timeout() -> Duration {
    std::env::var("TL_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(30))
}

/// After this long the wait is announced on stderr.
pub const ANNOUNCE_AFTER: Duration = Duration::from_millis(500);
/// Between two attempts to take the lock.
pub const RETRY_EVERY: Duration = Duration::from_millis(50);

/// The lock was still held when the wait ran out. Exit code 4.
#[derive(Debug)]
pub struct StillLocked {
    /// The lock file.
    pub lock: PathBuf,
    /// Its holder, as [`holder`] describes it.
    pub holder: String,
    /// How long this command waited.
    pub waited: Duration,
}

impl std::fmt::Display for StillLocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is still held by {} after {:.0} s; stop that command or retry when it is \
             done (TL_LOCK_TIMEOUT sets the wait in seconds)",
            self.lock.display(),
            self.holder,
            self.waited.as_secs_f64()
        )
    }
}

impl std::error::Error for StillLocked {}

/// "pid 123 (tl checkpoint)": the pid and what it runs, as far as /proc tells;
/// "another tl writer" when the pid is unknown.
pub fn holder(pid: Option<u32>) -> String {
    let Some(pid) = pid else {
        return "another tl writer".to_string();
    };
    match command_of(pid) {
        Some(cmd) => format!("pid {pid} ({cmd})"),
        None => format!("pid {pid}"),
    }
}

/// The program's name and its first word that is not an option (skipping `-C
/// DIR`): "tl checkpoint".
fn command_of(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = raw
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let prog = args.next()?;
    let prog = Path::new(&prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(prog);
    let mut sub = None;
    while let Some(a) = args.next() {
        if a == "-C" {
            args.next();
        } else if !a.starts_with('-') && !a.is_empty() {
            sub = Some(a);
            break;
        }
    }
    Some(match sub {
        Some(s) => format!("{prog} {s}"),
        None => prog,
    })
}
