//! Entries Git refuses (issue 20, item 5): a `.gitmodules` Git's fsck rejects
//! (CVE-2018-11235, CVE-2017-1000117 and friends) or a captured `.GIT/...` is left
//! out of its commit with a warning naming commit, checkpoint and path; the rest is
//! exported, `git fsck --strict` is clean, and later exports keep working.

use std::fs;
use std::path::Path;

use tl_index::export_git::{export, ExportOptions, ExportReport};
use tl_index::record::CommitKind;
use tl_index::store::Store;

use crate::support::try_git;

fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(crate::support::git(dir, args)).unwrap()
}

fn export_into(store: &Store, repo: &Path) -> ExportReport {
    let mut o = ExportOptions::new(i64::MAX / 2);
    o.repo = Some(repo.to_path_buf());
    export(store, &o, &|_| {}).unwrap()
}

/// True if `git fsck --strict` rejects a commit whose tree holds `content` as
/// `.gitmodules`: asks Git itself, so the variants below are known to matter.
fn git_rejects_gitmodules(content: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "--bare"]);
    let blob =
        String::from_utf8(try_git(d, &["hash-object", "-w", "--stdin"], content).unwrap()).unwrap();
    let row = format!("100644 blob {}\t.gitmodules\n", blob.trim());
    let tree = String::from_utf8(try_git(d, &["mktree"], row.as_bytes()).unwrap()).unwrap();
    let commit =
        String::from_utf8(try_git(d, &["commit-tree", tree.trim(), "-m", "x"], b"").unwrap())
            .unwrap();
    git(d, &["update-ref", "refs/heads/x", commit.trim()]);
    try_git(d, &["fsck", "--strict", "--no-dangling"], b"").is_err()
}

const GOOD: &str = "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n";

/// `.gitmodules` contents Git's fsck rejects, one per check.
const BAD: [&str; 7] = [
    // CVE-2018-11235: a name climbing out of .git/modules.
    "[submodule \"../../modules/evil\"]\n\tpath = x\n\turl = ./x\n",
    "[submodule \"a\\\\..\\\\..\\\\evil\"]\n\tpath = x\n",
    // CVE-2017-1000117: a URL that is an option to ssh.
    "[submodule \"x\"]\n\tpath = x\n\turl = -oProxyCommand=touch /tmp/pwned\n",
    // CVE-2020-11008: a relative URL climbing out of the host.
    "[submodule \"x\"]\n\tpath = x\n\turl = ../:x\n",
    "[submodule \"x\"]\n\tpath = x\n\turl = ./%0ahost=example.com\n",
    "[submodule \"x\"]\n\tpath = -x\n",
    "[submodule \"x\"]\n\tpath = x\n\tupdate = !touch /tmp/pwned\n",
];

#[test]
fn the_gitmodules_variants_tested_are_ones_git_fsck_rejects() {
    assert!(!git_rejects_gitmodules(GOOD.as_bytes()));
    for bad in BAD {
        assert!(git_rejects_gitmodules(bad.as_bytes()), "{bad}");
    }
}

#[test]
fn a_gitmodules_git_rejects_is_left_out_of_its_commit_with_a_warning_and_fsck_strict_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut store = Store::init(root).unwrap();
    fs::write(root.join("keep.txt"), "kept").unwrap();
    fs::write(root.join(".gitmodules"), GOOD).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let mut bad_ids = Vec::new();
    for (i, bad) in BAD.iter().enumerate() {
        // The root's and a nested one (Git checks `.gitmodules` in every tree).
        let path = if i % 2 == 0 {
            ".gitmodules"
        } else {
            "sub/.GitModules"
        };
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join(path), bad).unwrap();
        fs::write(root.join("keep.txt"), format!("kept {i}")).unwrap();
        let cp = store
            .checkpoint(CommitKind::Manual, None)
            .unwrap()
            .checkpoint;
        bad_ids.push((cp.id, path));
        fs::remove_file(root.join(path)).unwrap();
    }
    fs::write(root.join(".gitmodules"), GOOD).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();

    let repo = tempfile::tempdir().unwrap();
    let r = export_into(&store, repo.path());
    assert_eq!(r.commits_written, store.checkpoints().len());
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(r.left_out.len(), BAD.len(), "{:?}", r.left_out);
    for ((id, path), w) in bad_ids.iter().zip(&r.left_out) {
        assert_eq!(&w.checkpoint, id);
        assert_eq!(w.path, path.as_bytes());
        let shown = w.to_string();
        assert!(
            shown.contains(&w.commit[..12]) && shown.contains(path),
            "{shown}"
        );
        // That commit has the rest of the tree, not the refused file.
        let files = git(repo.path(), &["ls-tree", "-r", "--name-only", &w.commit]);
        assert!(files.contains("keep.txt"), "{files}");
        assert!(!files.contains(path), "{files}");
    }
    // The good one at the end is exported.
    let files = git(
        repo.path(),
        &["ls-tree", "-r", "--name-only", "refs/tl/main"],
    );
    assert!(files.lines().any(|l| l == ".gitmodules"), "{files}");
}

#[test]
fn a_gitmodules_made_bad_later_leaves_no_older_version_in_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut store = Store::init(root).unwrap();
    fs::write(root.join(".gitmodules"), GOOD).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let repo = tempfile::tempdir().unwrap();
    assert!(export_into(&store, repo.path()).left_out.is_empty());
    // Exported incrementally from the previous commit's tree.
    fs::write(root.join(".gitmodules"), BAD[0]).unwrap();
    let bad = store
        .checkpoint(CommitKind::Manual, None)
        .unwrap()
        .checkpoint;
    let r = export_into(&store, repo.path());
    assert_eq!(r.commits_written, 1);
    assert_eq!(r.left_out.len(), 1);
    assert_eq!(r.left_out[0].checkpoint, bad.id);
    let files = git(
        repo.path(),
        &["ls-tree", "-r", "--name-only", "refs/tl/main"],
    );
    assert!(!files.contains(".gitmodules"), "{files}");
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_captured_dot_git_in_capitals_is_left_out_and_later_exports_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut store = Store::init(root).unwrap();
    fs::write(root.join("a.txt"), "a").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    // A legal name on Linux, and capture keeps it.
    fs::create_dir_all(root.join(".GIT/hooks")).unwrap();
    fs::write(
        root.join(".GIT/hooks/post-checkout"),
        "#!/bin/sh\necho pwned\n",
    )
    .unwrap();
    fs::write(root.join("a.txt"), "a2").unwrap();
    let with = store
        .checkpoint(CommitKind::Manual, None)
        .unwrap()
        .checkpoint;
    assert!(store.head().contains_key(&b".GIT/hooks/post-checkout"[..]));

    let repo = tempfile::tempdir().unwrap();
    let r = export_into(&store, repo.path());
    assert_eq!(r.commits_written, 2);
    assert_eq!(r.left_out.len(), 1, "{:?}", r.left_out);
    assert_eq!(r.left_out[0].path, b".GIT/hooks/post-checkout");
    assert_eq!(r.left_out[0].checkpoint, with.id);
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    let files = git(
        repo.path(),
        &["ls-tree", "-r", "--name-only", "refs/tl/main"],
    );
    assert_eq!(files, "a.txt\n");

    // Still there: the next export continues, reporting nothing again.
    fs::write(root.join("b.txt"), "b").unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let r = export_into(&store, repo.path());
    assert_eq!((r.commits_written, r.left_out.len()), (1, 0));
    // Deleted: later exports keep working.
    fs::remove_dir_all(root.join(".GIT")).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let r = export_into(&store, repo.path());
    assert_eq!((r.commits_written, r.left_out.len()), (1, 0));
    assert!(!r.rebuilt_map);
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    // A recomputation of the history (the mapping lost) meets the same commits.
    let tip = r.tip.clone().unwrap();
    let map = root.join(".tl/index/git-map");
    fs::remove_dir_all(&map).unwrap();
    let r = export_into(&store, repo.path());
    assert!(r.rebuilt_map);
    assert_eq!((r.commits_written, r.tip), (0, Some(tip)));
}
