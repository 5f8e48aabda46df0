//! Helpers shared by the integration tests: a fresh project with a store, and git
//! with no user or system configuration.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tl_index::store::Store;

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
