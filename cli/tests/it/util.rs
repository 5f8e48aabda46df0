//! Helpers shared by the end-to-end tests: run the real `tl` binary in a directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `tl ARGS` in `dir`.
pub fn tl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Runs `tl ARGS`, asserts success, returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tl(dir, args);
    assert!(
        out.status.success(),
        "tl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `tl ARGS`, asserts failure with a one-line reason, returns stderr.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = tl(dir, args);
    assert!(!out.status.success(), "tl {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line reason expected: {err}"
    );
    err
}

/// Runs `tl ARGS`, asserts success, parses stdout as JSON.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

/// Runs git in `dir` with no user or system configuration (an identity and the
/// default branch `master` given on the command line); asserts success, returns
/// stdout. Fails naming how to install git when it is missing.
pub fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(["-c", "init.defaultBranch=master"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "git is missing ({e}): install it with `apt-get install git` (bash .ci/test does)"
            )
        });
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`git`], its output as text.
pub fn git_text(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git(dir, args)).unwrap()
}

/// Sets `key = value` (a TOML value, as written) in the project's
/// `.tl/config.toml`, replacing the key's line or adding one before any section.
pub fn set_config(root: &Path, key: &str, value: &str) {
    let path = root.join(".tl/config.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let line = format!("{key} = {value}");
    let mut found = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.split('=').next().is_some_and(|k| k.trim() == key) {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        lines.insert(0, line);
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}
