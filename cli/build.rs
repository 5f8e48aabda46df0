//! Build script: the commit `tl --version` names (`TL_COMMIT`), asked of git
//! (`git rev-parse HEAD`, its commit date beside it). A build outside a git
//! checkout (a source tarball, git missing) says "unknown commit" instead of
//! failing. Cargo reruns this when HEAD or the branch it names moves.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-env-changed=GIT_DIR");
    let commit = match git(&dir, &["show", "-s", "--format=%H %cs", "HEAD"]) {
        Some(line) => match line.split_once(' ') {
            Some((hash, date)) if hash.len() >= 12 => format!("commit {} {date}", &hash[..12]),
            _ => "unknown commit".to_string(),
        },
        None => "unknown commit".to_string(),
    };
    println!("cargo:rustc-env=TL_COMMIT={commit}");
    watch_head(&dir);
}

/// Asks cargo to rerun this script when HEAD, the branch HEAD names or the
/// packed refs change (a worktree's HEAD lives in its own git dir, its
/// branches in the common one).
fn watch_head(dir: &Path) {
    let (Some(git_dir), Some(common)) = (
        git(dir, &["rev-parse", "--absolute-git-dir"]),
        git(dir, &["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let git_dir = PathBuf::from(git_dir);
    let common = dir.join(common);
    let head = git_dir.join("HEAD");
    println!("cargo:rerun-if-changed={}", head.display());
    println!(
        "cargo:rerun-if-changed={}",
        common.join("packed-refs").display()
    );
    if let Ok(text) = std::fs::read_to_string(&head) {
        if let Some(reference) = text.trim().strip_prefix("ref: ") {
            println!(
                "cargo:rerun-if-changed={}",
                common.join(reference).display()
            );
        }
    }
}

/// `git ARGS` in `dir`, its stdout trimmed, or None when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string())
}
