//! `tl publish` in a repository colocated with jj: after `jj git import` the
//! published branch is a jj bookmark on the same commit, holding the state, and
//! jj's own `.jj/` is not in it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{git, json, ok};

/// The jj binary: `$JJ`, else `jj` on PATH, else where `bash .ci/test` builds
/// it (/tmp/jjbuild/root/bin/jj). Fails naming how to install it.
fn jj_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("JJ") {
        return PathBuf::from(p);
    }
    let built = PathBuf::from("/tmp/jjbuild/root/bin/jj");
    if built.is_file() {
        return built;
    }
    if Command::new("jj").arg("--version").output().is_ok() {
        return PathBuf::from("jj");
    }
    panic!(
        "jj is missing: install it with `CARGO_TARGET_DIR=/tmp/jjbuild/target cargo install \
         --locked jj-cli@0.45.1 --root /tmp/jjbuild/root` (bash .ci/test does)"
    )
}

fn jj(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(jj_binary())
        .current_dir(dir)
        .args(args)
        .env("JJ_USER", "Ada")
        .env("JJ_EMAIL", "ada@example.org")
        .env("JJ_CONFIG", dir.join("no-jj-config.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jj {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_published_branch_is_a_jj_bookmark_after_jj_git_import() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    git(root, &["init", "-q"]);
    git(root, &["config", "user.name", "Ada"]);
    git(root, &["config", "user.email", "ada@example.org"]);
    std::fs::write(root.join("a.txt"), "one\n").unwrap();
    git(root, &["add", "a.txt"]);
    git(root, &["commit", "-q", "-m", "first"]);
    jj(root, &["git", "init", "--colocate"]);
    ok(root, &["init"]);
    std::fs::write(root.join("a.txt"), "two\n").unwrap();
    let r = json(root, &["publish", "--branch", "wip", "--json"]);
    let tip = r["tip"].as_str().unwrap().to_string();

    jj(root, &["git", "import"]);
    let bookmarks = jj(root, &["bookmark", "list"]);
    assert!(bookmarks.contains("wip"), "{bookmarks}");
    let at_wip = jj(root, &["log", "--no-graph", "-r", "wip", "-T", "commit_id"]);
    assert_eq!(at_wip.trim(), tip);
    let shown = jj(root, &["file", "show", "-r", "wip", "a.txt"]);
    assert_eq!(shown, "two\n");
    // jj's .jj directory is not in the published commit.
    let files = jj(root, &["file", "list", "-r", "wip"]);
    assert!(!files.contains(".jj"), "{files}");
}
