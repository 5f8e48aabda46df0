//! Helpers shared by the integration tests: a fresh project with a store, and git
//! with no user or system configuration.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tl_index::record::{chain_hash, CommitKind, CommitStats, Record};
use tl_index::store::Store;
use tl_wal::{Appended, Wal};

/// A temporary directory holding `project/`, with a store initialized in it.
pub fn project() -> (tempfile::TempDir, PathBuf, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    fs::create_dir(&root).unwrap();
    let store = Store::init(&root).unwrap();
    (tmp, root, store)
}

/// Runs git in `dir` with `stdin`, no user or system configuration and a fixed
/// identity; `Err(stderr)` on failure. Fails naming how to install git when it is
/// missing.
pub fn try_git(dir: &Path, args: &[&str], stdin: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "u")
        .env("GIT_AUTHOR_EMAIL", "u@x")
        .env("GIT_COMMITTER_NAME", "u")
        .env("GIT_COMMITTER_EMAIL", "u@x")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "git is missing ({e}): install it with `apt-get install git` (bash .ci/test does)"
            )
        });
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// [`try_git`] with no input; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    try_git(dir, args, b"").unwrap_or_else(|e| panic!("git {args:?} failed: {e}"))
}

/// Pseudo-random bytes (xorshift): incompressible, cut where content decides.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 29) as u8
        })
        .collect()
}

/// A batch [`commit_batch`] appended: where the log put it, and its records
/// (the Commit last).
pub struct CommittedBatch {
    pub at: Appended,
    pub records: Vec<Vec<u8>>,
}

/// Appends `records` as one batch to `wal`, chaining a Commit (number `seq`)
/// after them from `prev_chain`.
pub fn commit_batch(
    wal: &Wal,
    prev_chain: &[u8; 32],
    seq: u64,
    mut records: Vec<Vec<u8>>,
) -> CommittedBatch {
    let chain = chain_hash(prev_chain, records.iter().map(|r| r.as_slice()));
    records.push(
        Record::Commit {
            time_ns: 1_700_000_000_000_000_000 + seq as i64,
            seq,
            kind: CommitKind::Manual,
            message: None,
            timeline: 0,
            acked_lsn: wal.durable_lsn(),
            chain,
            stats: CommitStats::default(),
        }
        .encode(),
    );
    let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
    let at = wal.append(&refs).unwrap();
    CommittedBatch { at, records }
}
