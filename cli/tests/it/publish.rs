//! `tl publish` through the binary, checked with real git: the branch holds the
//! published state byte for byte, HEAD, the index and the work tree are left as
//! they were, a branch that moved is refused unless --force (which keeps its
//! commits), a series makes one commit per state, and the repository stays
//! clean for `git fsck --strict`.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{fails, git, git_text, json, ok};

/// A project with a Git repository whose HEAD has one commit, and tl on it.
fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    git(root, &["init", "-q"]);
    git(root, &["config", "user.name", "Ada"]);
    git(root, &["config", "user.email", "ada@example.org"]);
    fs::write(root.join("a.txt"), "one\n").unwrap();
    fs::create_dir(root.join("src")).unwrap();
    fs::write(root.join("src/lib.rs"), "fn main() {}\n").unwrap();
    git(root, &["add", "a.txt", "src"]);
    git(root, &["commit", "-q", "-m", "first"]);
    ok(root, &["init"]);
    d
}

/// What git would check out for `rev`: every path and its bytes.
fn tree_of(root: &Path, rev: &str) -> Vec<(String, Vec<u8>)> {
    let names = git_text(root, &["ls-tree", "-r", "--name-only", rev]);
    names
        .lines()
        .map(|n| (n.to_string(), git(root, &["show", &format!("{rev}:{n}")])))
        .collect()
}

/// Every tracked-by-tl file of the work tree (outside .git and .tl).
fn files_of(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".git" || rel == ".tl" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn rev(root: &Path, r: &str) -> String {
    git_text(root, &["rev-parse", r]).trim().to_string()
}

#[test]
fn publish_writes_the_present_on_a_new_branch_from_head_and_touches_nothing_else() {
    let d = project();
    let root = d.path();
    fs::write(root.join("a.txt"), "two\n").unwrap();
    fs::write(root.join("new.txt"), "new\n").unwrap();
    let head = rev(root, "HEAD");
    let status = git_text(root, &["status", "--porcelain"]);
    let index = fs::read(root.join(".git/index")).unwrap();

    let r = json(root, &["publish", "--branch", "wip", "--json"]);
    assert_eq!(r["branch"], "refs/heads/wip");
    assert_eq!(r["old_tip"], Value::Null);
    assert_eq!(r["base"], head.as_str(), "a new branch starts on HEAD");
    assert_eq!(r["commits"].as_array().unwrap().len(), 1);
    assert_eq!(r["tip"], rev(root, "wip").as_str());
    assert_eq!(rev(root, "wip^"), head);
    assert_eq!(
        tree_of(root, "wip"),
        files_of(root),
        "the branch holds the present"
    );

    assert_eq!(rev(root, "HEAD"), head, "HEAD did not move");
    assert_eq!(
        git_text(root, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/master"
    );
    assert_eq!(
        fs::read(root.join(".git/index")).unwrap(),
        index,
        "index untouched"
    );
    assert_eq!(git_text(root, &["status", "--porcelain"]), status);
    let author = git_text(root, &["log", "-1", "--format=%an <%ae>", "wip"]);
    assert_eq!(
        author.trim(),
        "Ada <ada@example.org>",
        "git config's identity"
    );
    let reflog = git_text(root, &["reflog", "show", "--format=%gs", "wip"]);
    assert!(reflog.contains("tl publish"), "{reflog}");
    git(root, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn publishing_again_goes_on_from_the_tip_and_the_same_state_makes_no_commit() {
    let d = project();
    let root = d.path();
    fs::write(root.join("a.txt"), "two\n").unwrap();
    ok(root, &["publish", "--branch", "wip"]);
    let first = rev(root, "wip");
    let again = json(root, &["publish", "--branch", "wip", "--json"]);
    assert_eq!(again["up_to_date"], true, "{again}");
    assert_eq!(rev(root, "wip"), first);
    let said = ok(root, &["publish", "--branch", "wip"]);
    assert!(said.contains("already holds that state"), "{said}");

    fs::write(root.join("a.txt"), "three\n").unwrap();
    let r = json(root, &["publish", "--branch", "wip", "--json"]);
    assert_eq!(r["old_tip"], first.as_str());
    assert_eq!(rev(root, "wip^"), first, "goes on from where tl left it");
    assert_eq!(git(root, &["show", "wip:a.txt"]), b"three\n");
    git(root, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_branch_that_moved_is_refused_and_force_commits_on_top_keeping_its_commits() {
    let d = project();
    let root = d.path();
    fs::write(root.join("a.txt"), "two\n").unwrap();
    ok(root, &["publish", "--branch", "wip"]);
    let ours = rev(root, "wip");
    // Someone commits on wip (with plumbing, so the work tree stays as it is).
    let tree = rev(root, "wip^{tree}");
    let theirs = git_text(root, &["commit-tree", &tree, "-p", &ours, "-m", "mine"]);
    let theirs = theirs.trim();
    git(root, &["update-ref", "refs/heads/wip", theirs]);
    fs::write(root.join("a.txt"), "three\n").unwrap();

    let err = fails(root, &["publish", "--branch", "wip"]);
    assert!(err.contains("not where tl left it"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(rev(root, "wip"), theirs, "a refusal writes nothing");

    let r = json(root, &["publish", "--branch", "wip", "--force", "--json"]);
    assert_eq!(r["old_tip"], theirs);
    assert_eq!(
        rev(root, "wip^"),
        theirs,
        "their commit stays in the history"
    );
    assert_eq!(git(root, &["show", "wip:a.txt"]), b"three\n");

    // A branch tl never wrote is refused the same way.
    git(root, &["branch", "other", "HEAD"]);
    let err = fails(root, &["publish", "--branch", "other"]);
    assert!(err.contains("tl never published to it"), "{err}");
}

#[test]
fn since_makes_one_commit_per_state_and_squash_makes_one() {
    let d = project();
    let root = d.path();
    let mut states = Vec::new();
    for (i, text) in ["s1\n", "s2\n", "s3\n"].iter().enumerate() {
        fs::write(root.join("a.txt"), text).unwrap();
        let c = json(root, &["checkpoint", "-m", &format!("step {i}"), "--json"]);
        states.push(c["id"].as_str().unwrap().to_string());
    }
    let r = json(
        root,
        &[
            "publish", &states[2], "--branch", "series", "--since", &states[0], "--json",
        ],
    );
    let commits = r["commits"].as_array().unwrap();
    let published: Vec<&str> = commits
        .iter()
        .map(|c| c["checkpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        published,
        states.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for (k, c) in commits.iter().enumerate() {
        let id = c["commit"].as_str().unwrap();
        let want = format!("s{}\n", k + 1);
        assert_eq!(
            git(root, &["show", &format!("{id}:a.txt")]),
            want.as_bytes()
        );
        let msg = git_text(root, &["log", "-1", "--format=%B", id]);
        assert!(msg.contains(&format!("step {k}")), "{msg}");
    }
    assert_eq!(
        git_text(root, &["rev-list", "--count", "HEAD..series"]).trim(),
        "3"
    );

    let r = json(
        root,
        &[
            "publish",
            &states[2],
            "--branch",
            "squashed",
            "--since",
            &states[0],
            "--squash",
            "-m",
            "the whole session",
            "--json",
        ],
    );
    assert_eq!(r["commits"].as_array().unwrap().len(), 1);
    let msg = git_text(root, &["log", "-1", "--format=%B", "squashed"]);
    assert!(msg.starts_with("the whole session\n"), "{msg}");
    assert!(msg.contains("Tl-Squashed: 3"), "{msg}");
    assert_eq!(git(root, &["show", "squashed:a.txt"]), b"s3\n");
    git(root, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn publishing_a_past_state_leaves_the_work_tree_as_it_is() {
    let d = project();
    let root = d.path();
    fs::write(root.join("a.txt"), "past\n").unwrap();
    let past = json(root, &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(root.join("a.txt"), "present\n").unwrap();
    ok(root, &["checkpoint"]);
    ok(root, &["publish", &past, "--branch", "past"]);
    assert_eq!(git(root, &["show", "past:a.txt"]), b"past\n");
    assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"present\n");
}

#[test]
fn checkout_switches_to_the_published_branch() {
    let d = project();
    let root = d.path();
    fs::write(root.join("a.txt"), "two\n").unwrap();
    let before = files_of(root);
    let r = json(
        root,
        &["publish", "--branch", "wip", "--checkout", "--json"],
    );
    assert_eq!(r["checked_out"], true);
    assert_eq!(
        git_text(root, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/wip"
    );
    assert_eq!(files_of(root), before, "the files are what was published");
    assert_eq!(
        git_text(root, &["status", "--porcelain"]),
        "",
        "index matches"
    );

    // A past state goes through `git checkout`, which refuses to overwrite.
    fs::write(root.join("a.txt"), "three\n").unwrap();
    let old = json(root, &["checkpoint", "--json"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(root.join("a.txt"), "four\n").unwrap();
    let err = crate::util::tl(root, &["publish", &old, "--branch", "old", "--checkout"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("refused"));
    assert_eq!(
        fs::read(root.join("a.txt")).unwrap(),
        b"four\n",
        "nothing overwritten"
    );
    assert_eq!(
        git(root, &["show", "old:a.txt"]),
        b"three\n",
        "the branch is written"
    );
}

#[test]
fn checkout_of_the_present_is_refused_with_staged_changes() {
    let d = project();
    let root = d.path();
    fs::write(root.join("a.txt"), "staged\n").unwrap();
    git(root, &["add", "a.txt"]);
    fs::write(root.join("a.txt"), "later\n").unwrap();
    let err = crate::util::tl(root, &["publish", "--branch", "wip", "--checkout"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("staged changes"));
    assert_eq!(
        git_text(root, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/master"
    );
    assert_eq!(
        git(root, &["show", ":a.txt"]),
        b"staged\n",
        "the index keeps what was staged"
    );
}

#[test]
fn objects_the_repository_has_are_not_written_again() {
    let d = project();
    let root = d.path();
    for i in 0..50 {
        fs::write(root.join(format!("src/f{i}.rs")), format!("// {i}\n")).unwrap();
    }
    git(root, &["add", "-A", "src"]);
    git(root, &["commit", "-q", "-m", "many"]);
    git(root, &["gc", "-q"]);
    fs::write(root.join("a.txt"), "changed\n").unwrap();
    let r = json(root, &["publish", "--branch", "wip", "--json"]);
    // The changed blob, the root tree and the commit: src/ is unchanged.
    assert_eq!(r["objects_written"], 3, "{r}");
    git(root, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn refusals_say_what_to_do() {
    let d = project();
    let root = d.path();
    let err = fails(root, &["publish", "--branch", "master"]);
    assert!(err.contains("checked out here"), "{err}");
    let err = fails(root, &["publish", "--branch", "bad..name"]);
    assert!(err.contains("not a valid branch name"), "{err}");
    let out = crate::util::tl(root, &["publish", "--branch", "x", "--squash"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));

    let plain = tempfile::tempdir().unwrap();
    fs::write(plain.path().join("f"), "x").unwrap();
    ok(plain.path(), &["init"]);
    let err = fails(plain.path(), &["publish", "--branch", "wip"]);
    assert!(err.contains("git init"), "{err}");
}

#[test]
fn under_the_daemon_publish_holds_the_edit_just_made() {
    let d = crate::daemon::Daemon::start(2_000);
    let root = d.root();
    git(&root, &["init", "-q"]);
    git(&root, &["config", "user.name", "Ada"]);
    git(&root, &["config", "user.email", "ada@example.org"]);
    crate::daemon::write(&root, "a.txt", "first\n");
    crate::daemon::wait_sync(&root, std::time::Duration::from_secs(20));
    // Written and published at once, well inside the daemon's 2 s debounce:
    // publish asks the daemon for a checkpoint of what it has not captured yet.
    crate::daemon::write(&root, "a.txt", "just now\n");
    let r = json(&root, &["publish", "--branch", "wip", "--json"]);
    assert_eq!(r["base"], Value::Null, "an unborn HEAD: no parent");
    assert_eq!(git(&root, &["show", "wip:a.txt"]), b"just now\n");
    git(&root, &["fsck", "--strict", "--no-dangling"]);
}
