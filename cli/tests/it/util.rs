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
