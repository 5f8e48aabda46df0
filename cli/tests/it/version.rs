//! `tl --version` (issue 18): the crate's version and the commit the binary was
//! built from, as git names it (cli/build.rs).

use std::path::Path;
use std::process::Command;

use crate::util::ok;

/// HEAD of the checkout the tests were built from and its commit date, or None
/// outside a git checkout.
fn built_from() -> Option<String> {
    let out = Command::new("git")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["show", "-s", "--format=%H %cs", "HEAD"])
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    let (hash, date) = line.trim().split_once(' ')?;
    out.status
        .success()
        .then(|| format!("commit {} {date}", &hash[..12]))
}

#[test]
fn version_names_the_crate_version_and_the_commit_it_was_built_from() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["--version"]);
    let expected = match built_from() {
        Some(commit) => commit,
        None => "unknown commit".to_string(),
    };
    assert_eq!(
        out,
        format!("tl {} ({expected})\n", env!("CARGO_PKG_VERSION")),
        "built from {expected}"
    );
    assert_ne!(env!("CARGO_PKG_VERSION"), "0.0.0", "a real version");
    assert_eq!(ok(d.path(), &["-V"]), out);
}
