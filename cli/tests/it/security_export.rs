//! Names Git refuses, through the binary (issue 20, item 5): `tl export-git` leaves a
//! bad `.gitmodules` or a captured `.GIT/hooks/post-checkout` out of its commit with
//! a warning naming commit, checkpoint and file, `git fsck --strict` stays clean, and
//! `tl replay` restores the rest of the tree with a warning; once the file is
//! deleted, later exports keep working.

use std::fs;
use std::path::Path;

use crate::util::{git_text, ok, tl};
use serde_json::Value;

/// Runs `tl ARGS`, asserts success, returns (stdout, stderr).
fn ok_warned(dir: &Path, args: &[&str]) -> (String, String) {
    let out = tl(dir, args);
    let (o, e) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "tl {args:?} failed: {o}{e}");
    (o, e)
}

/// Id of the newest checkpoint.
fn last_id(root: &Path) -> String {
    let log: Value = serde_json::from_str(&ok(root, &["log", "--json"])).unwrap();
    log[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn export_git_leaves_out_gitmodules_git_refuses_with_a_warning_and_fsck_strict_is_clean() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("keep.txt"), "kept\n").unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint"]);
    let bad = [
        // CVE-2018-11235: a name climbing out of .git/modules.
        "[submodule \"../../modules/evil\"]\n\tpath = evil\n\turl = ./evil\n",
        // CVE-2017-1000117: a URL that is an option to ssh.
        "[submodule \"x\"]\n\tpath = x\n\turl = -oProxyCommand=touch /tmp/pwned\n",
    ];
    let mut expected = Vec::new();
    for (i, content) in bad.iter().enumerate() {
        fs::write(root.join(".gitmodules"), content).unwrap();
        fs::write(root.join("keep.txt"), format!("kept {i}\n")).unwrap();
        ok(root, &["checkpoint"]);
        expected.push(last_id(root));
    }
    let repo = tempfile::tempdir().unwrap();
    let repo_arg = repo.path().to_str().unwrap();
    let (out, err) = ok_warned(root, &["export-git", "--repo", repo_arg]);
    assert!(out.contains("Exported 3 commit(s)"), "{out}");
    git_text(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    let commits = git_text(repo.path(), &["rev-list", "--reverse", "refs/tl/main"]);
    let commits: Vec<&str> = commits.lines().collect();
    for (i, (w, word)) in warnings
        .iter()
        .zip(["gitmodulesName", "gitmodulesUrl"])
        .enumerate()
    {
        assert!(w.contains(&expected[i]), "{w}");
        assert!(w.contains(&commits[i + 1][..12]), "{w}");
        assert!(w.contains(".gitmodules") && w.contains(word), "{w}");
        let files = git_text(
            repo.path(),
            &["ls-tree", "-r", "--name-only", commits[i + 1]],
        );
        assert_eq!(files, "keep.txt\n");
    }
    let (out, err) = ok_warned(root, &["export-git", "--repo", repo_arg]);
    assert!(out.starts_with("Nothing new to export"), "{out}");
    assert!(err.is_empty(), "nothing new, nothing to warn about: {err}");

    // --json names them too.
    let repo2 = tempfile::tempdir().unwrap();
    let out = tl(
        root,
        &[
            "export-git",
            "--repo",
            repo2.path().to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let left = v["left_out"].as_array().unwrap();
    assert_eq!(left.len(), 2, "{v}");
    assert_eq!(left[1]["checkpoint"], expected[1].as_str());
    assert_eq!(left[1]["path"], ".gitmodules");
    assert_eq!(left[1]["commit"].as_str().unwrap(), commits[2]);
    assert!(
        left[1]["reason"]
            .as_str()
            .unwrap()
            .contains("gitmodulesUrl"),
        "{v}"
    );
}

#[test]
fn a_captured_dot_git_in_capitals_exports_and_replays_with_a_warning_and_later_exports_work() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a.txt"), "one\n").unwrap();
    fs::create_dir_all(root.join(".GIT/hooks")).unwrap();
    // A legal name on Linux, captured like any other.
    fs::write(
        root.join(".GIT/hooks/post-checkout"),
        "#!/bin/sh\necho pwned\n",
    )
    .unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint"]);
    let first = last_id(root);
    fs::write(root.join("a.txt"), "two\n").unwrap();
    ok(root, &["checkpoint"]);

    let repo = tempfile::tempdir().unwrap();
    let repo_arg = repo.path().to_str().unwrap();
    let (out, err) = ok_warned(root, &["export-git", "--repo", repo_arg]);
    assert!(out.contains("Exported 2 commit(s)"), "{out}");
    assert!(err.contains(".GIT/hooks/post-checkout"), "{err}");
    assert!(err.contains(&first), "{err}");
    git_text(repo.path(), &["fsck", "--strict", "--no-dangling"]);

    // Replay in place restores the rest, warns, and leaves the file alone.
    let (out, err) = ok_warned(root, &["replay", "--to", &first]);
    assert!(out.contains("Replayed"), "{out}");
    assert!(
        err.contains(".GIT/hooks/post-checkout") && err.contains("warning"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "one\n");
    // And into another directory: never written there.
    let into_dir = tempfile::tempdir().unwrap();
    let into_arg = into_dir.path().join("copy");
    let (_, err) = ok_warned(
        root,
        &[
            "replay",
            "--to",
            &first,
            "--into",
            into_arg.to_str().unwrap(),
        ],
    );
    assert!(err.contains(".GIT/hooks/post-checkout"), "{err}");
    assert_eq!(fs::read_to_string(into_arg.join("a.txt")).unwrap(), "one\n");
    assert!(!into_arg.join(".GIT").exists());

    // Deleted: later exports keep working.
    fs::remove_dir_all(root.join(".GIT")).unwrap();
    fs::write(root.join("a.txt"), "three\n").unwrap();
    ok(root, &["checkpoint"]);
    let (out, err) = ok_warned(root, &["export-git", "--repo", repo_arg]);
    assert!(out.contains("Exported"), "{out}");
    assert!(err.is_empty(), "{err}");
    git_text(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    let (out, _) = ok_warned(root, &["export-git", "--repo", repo_arg]);
    assert!(out.starts_with("Nothing new to export"), "{out}");
}

#[test]
fn export_git_leaves_out_symlinks_pointing_into_dot_git_and_keeps_the_others() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::write(root.join("a.txt"), "one\n").unwrap();
    std::os::unix::fs::symlink(".git/hooks", root.join("hooks")).unwrap();
    std::os::unix::fs::symlink("../../.GIT/config", root.join("cfg")).unwrap();
    std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap();
    ok(root, &["init"]);
    ok(root, &["checkpoint"]);
    let id = last_id(root);
    let repo = tempfile::tempdir().unwrap();
    let repo_arg = repo.path().to_str().unwrap();
    let (out, err) = ok_warned(root, &["export-git", "--repo", repo_arg]);
    assert!(out.contains("Exported 1 commit(s)"), "{out}");
    for name in ["hooks", "cfg"] {
        assert!(
            err.lines()
                .any(|l| l.contains(name) && l.contains("points into .git")),
            "{name}: {err}"
        );
    }
    assert!(err.contains(&id), "{err}");
    let tree = git_text(repo.path(), &["ls-tree", "--name-only", "refs/tl/main"]);
    let names: Vec<&str> = tree.lines().collect();
    assert_eq!(names, ["a.txt", "link"], "{tree}");
    git_text(repo.path(), &["fsck", "--strict", "--no-dangling"]);
}
