//! `export_git` against the real `git`: fsck-clean packs, every commit equal to its
//! checkpoint (content, modes, symlinks), incremental runs that only extend the ref,
//! a rebuilt mapping, `--every` windows, paths left out and untouched user refs.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use tl_index::catalog::CheckpointIndex;

use tl_index::export_git::{export, ExportError, ExportOptions, ExportReport};
use tl_index::record::CommitKind;
use tl_index::store::Store;
use tl_index::Mode;

use crate::support::git;

fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap()
}

fn far_future() -> i64 {
    i64::MAX / 2
}

fn run(store: &Store, opts: &ExportOptions) -> Result<ExportReport, ExportError> {
    export(store, opts, &|_| {})
}

/// Commits of `refname`, oldest first.
fn commits(gitdir: &Path, refname: &str) -> Vec<String> {
    text(git(gitdir, &["rev-list", "--reverse", refname]))
        .lines()
        .map(String::from)
        .collect()
}

/// Checks that `commit` holds exactly checkpoint `idx`'s tree: paths, modes, bytes.
fn assert_commit_is_checkpoint(gitdir: &Path, commit: &str, store: &Store, idx: usize) {
    let tree = store.tree_at(CheckpointIndex::new(idx)).unwrap();
    let listing = git(gitdir, &["ls-tree", "-r", "-z", commit]);
    let mut seen = 0;
    for row in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = row.iter().position(|&b| b == b'\t').unwrap();
        let (meta, path) = (std::str::from_utf8(&row[..tab]).unwrap(), &row[tab + 1..]);
        let f: Vec<&str> = meta.split(' ').collect();
        let entry = tree
            .get(path)
            .unwrap_or_else(|| panic!("{commit} has {path:?} that checkpoint {idx} lacks"));
        let mode = match entry.mode {
            Mode::File | Mode::PrivateFile | Mode::GroupFile => "100644",
            Mode::Exec | Mode::PrivateExec | Mode::GroupExec => "100755",
            Mode::Symlink => "120000",
        };
        assert_eq!(f[0], mode, "{}", String::from_utf8_lossy(path));
        let content = git(gitdir, &["cat-file", "blob", f[2]]);
        assert_eq!(content, store.blob_bytes(&entry.hash).unwrap());
        seen += 1;
    }
    assert_eq!(seen, tree.len(), "{commit} lacks paths of checkpoint {idx}");
}

fn opts_into(repo: &Path) -> ExportOptions {
    let mut o = ExportOptions::new(far_future());
    o.repo = Some(repo.to_path_buf());
    o
}

/// A project whose history has files, executables, symlinks, deletions, a file that
/// becomes a directory and back, names Git sorts differently, and an empty commit.
fn varied_history(root: &Path) -> Store {
    let mut s = Store::init(root).unwrap();
    fs::create_dir_all(root.join("src/deep/er")).unwrap();
    fs::write(root.join("src/deep/er/x.rs"), "x").unwrap();
    fs::write(root.join("src.rs"), "top").unwrap();
    fs::write(root.join("a-b"), "dash").unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("src.rs", root.join("link")).unwrap();
    symlink("../nowhere", root.join("dangling")).unwrap();
    fs::write(root.join("empty"), "").unwrap();
    s.checkpoint(CommitKind::Manual, Some("first\n\nbody line".into()))
        .unwrap();
    fs::remove_dir_all(root.join("src/deep")).unwrap();
    fs::write(root.join("src/deep"), "now a file").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::remove_file(root.join("link")).unwrap();
    fs::write(root.join("link"), "was a symlink").unwrap();
    s.checkpoint(CommitKind::Auto, None).unwrap();
    s.checkpoint(CommitKind::Manual, Some("nothing changed".into()))
        .unwrap();
    fs::remove_file(root.join("src/deep")).unwrap();
    fs::create_dir(root.join("src/deep")).unwrap();
    fs::write(root.join("src/deep/y"), vec![0u8; 70_000]).unwrap();
    fs::remove_file(root.join("empty")).unwrap();
    s.checkpoint(CommitKind::Manual, None).unwrap();
    s
}

#[test]
fn every_commit_equals_its_checkpoint_and_fsck_strict_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let store = varied_history(dir.path());
    let repo = tempfile::tempdir().unwrap();
    let r = run(&store, &opts_into(repo.path())).unwrap();
    assert!(r.created_repo);
    assert_eq!(r.commits_written, 4);
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    git(
        repo.path(),
        &["verify-pack", r.pack.unwrap().to_str().unwrap()],
    );
    let ids = commits(repo.path(), "refs/tl/main");
    assert_eq!(ids.len(), 4);
    for (i, c) in ids.iter().enumerate() {
        assert_commit_is_checkpoint(repo.path(), c, &store, i);
        let cp = &store.checkpoints()[i];
        let msg = text(git(repo.path(), &["log", "-1", "--format=%B%n%at", c]));
        assert!(msg.contains(&cp.id), "{msg}");
        assert!(
            msg.contains(&format!("{:?}", cp.kind).to_lowercase()),
            "{msg}"
        );
        assert!(
            msg.contains(&(cp.time_ns / 1_000_000_000).to_string()),
            "{msg}"
        );
    }
    let first = text(git(repo.path(), &["log", "-1", "--format=%B", &ids[0]]));
    assert!(first.starts_with(&format!(
        "tl checkpoint {} (manual): first\n\nbody line\n",
        store.checkpoints()[0].id
    )));
}

#[test]
fn incremental_exports_extend_the_ref_and_a_second_run_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = tempfile::tempdir().unwrap();
    fs::write(root.join("f"), "1").unwrap();
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let r1 = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!(r1.commits_written, 1);
    let again = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!((again.commits_written, again.objects_written), (0, 0));
    assert_eq!(again.tip, r1.tip);
    assert!(again.pack.is_none());

    for i in 2..5 {
        fs::write(root.join("f"), i.to_string()).unwrap();
        fs::write(root.join(format!("g{i}")), "g").unwrap();
        store.checkpoint(CommitKind::Auto, None).unwrap();
    }
    let before = commits(repo.path(), "refs/tl/main");
    let r2 = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!(r2.commits_written, 3);
    // Only the new objects: 3 versions of f, one blob for the identical g files,
    // 3 trees, 3 commits.
    assert_eq!(r2.objects_written, 10);
    let after = commits(repo.path(), "refs/tl/main");
    assert_eq!(&after[..before.len()], &before[..], "history was rewritten");
    assert_eq!(after.len(), 4);
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    for (i, c) in after.iter().enumerate() {
        assert_commit_is_checkpoint(repo.path(), c, &store, i);
    }

    // The mapping is only a cache: without it the history is recomputed, not rewritten.
    fs::remove_dir_all(root.join(".tl/index/git-map")).unwrap();
    let r3 = run(&store, &opts_into(repo.path())).unwrap();
    assert!(r3.rebuilt_map);
    assert_eq!(r3.commits_written, 0);
    fs::write(root.join("f"), "5").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    fs::remove_dir_all(root.join(".tl/index/git-map")).unwrap();
    let r4 = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!((r4.commits_written, r4.objects_written), (1, 3));
    assert_eq!(&commits(repo.path(), "refs/tl/main")[..4], &after[..]);
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);

    // Other options on the same ref are refused, not mixed in.
    let mut other = opts_into(repo.path());
    other.author = "Someone <s@example.org>".into();
    let err = run(&store, &other).unwrap_err().to_string();
    assert!(err.contains("other options"), "{err}");
    // A ref moved to a commit tl did not make is refused.
    git(repo.path(), &["update-ref", "refs/tl/main", &after[0]]);
    git(repo.path(), &["update-ref", "refs/tl/foreign", &after[1]]);
    let mut o = opts_into(repo.path());
    o.ref_name = "refs/tl/foreign".into();
    o.since_ns = Some(store.checkpoints()[2].time_ns + 1);
    let err = run(&store, &o).unwrap_err().to_string();
    assert!(err.contains("not tl's export"), "{err}");
    // Moving the ref back to an older tl commit continues from there.
    let r5 = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!(r5.commits_written, 4);
    assert_eq!(&commits(repo.path(), "refs/tl/main")[..4], &after[..]);
}

#[test]
fn every_window_keeps_its_last_state_and_holds_back_the_open_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut store = Store::init(root).unwrap();
    for i in 0..6 {
        fs::write(root.join("f"), i.to_string()).unwrap();
        store.checkpoint(CommitKind::Auto, None).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    let every = 300_000_000i64;
    let cps = store.checkpoints().to_vec();
    // The expected picks: the last checkpoint of each window.
    let mut expected: Vec<usize> = Vec::new();
    for i in 0..cps.len() {
        let w = cps[i].time_ns.div_euclid(every);
        if i + 1 == cps.len() || cps[i + 1].time_ns.div_euclid(every) != w {
            expected.push(i);
        }
    }
    let repo = tempfile::tempdir().unwrap();
    let mut o = opts_into(repo.path());
    o.every_ns = Some(every);
    // "Now" inside the last window: that window is held back.
    o.now_ns = cps.last().unwrap().time_ns;
    let r = run(&store, &o).unwrap();
    let last_window = cps
        .iter()
        .filter(|c| c.time_ns.div_euclid(every) == cps[5].time_ns.div_euclid(every))
        .count();
    assert_eq!(r.held_back, last_window);
    assert_eq!(r.commits_written, expected.len() - 1);
    o.now_ns = far_future();
    let r = run(&store, &o).unwrap();
    assert_eq!(r.commits_written, 1);
    let ids = commits(repo.path(), "refs/tl/main");
    assert_eq!(ids.len(), expected.len());
    for (c, &i) in ids.iter().zip(&expected) {
        assert_commit_is_checkpoint(repo.path(), c, &store, i);
    }
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn export_into_the_projects_git_touches_nothing_but_its_ref() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("tracked"), "v1").unwrap();
    git(root, &["init", "-q", "-b", "trunk"]);
    git(root, &["add", "tracked"]);
    git(root, &["commit", "-q", "-m", "user commit"]);
    git(root, &["tag", "v1"]);
    fs::write(root.join("tracked"), "v2 uncommitted").unwrap();
    fs::write(root.join("untracked"), "u").unwrap();
    let snapshot = |root: &Path| {
        (
            git(root, &["for-each-ref"]),
            fs::read(root.join(".git/HEAD")).unwrap(),
            fs::read(root.join(".git/index")).unwrap(),
            git(root, &["status", "--porcelain"]),
        )
    };
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    let before = snapshot(root);
    let r = run(&store, &ExportOptions::new(far_future())).unwrap();
    assert_eq!(r.repo, fs::canonicalize(root.join(".git")).unwrap());
    let after = snapshot(root);
    let refs = text(after.0.clone());
    assert_eq!(refs.lines().count(), 3, "{refs}");
    assert!(refs.contains("refs/tl/main"));
    let without_tl: Vec<&str> = refs.lines().filter(|l| !l.contains("refs/tl/")).collect();
    assert_eq!(without_tl.join("\n") + "\n", text(before.0.clone()));
    assert_eq!(
        (&after.1, &after.2, &after.3),
        (&before.1, &before.2, &before.3)
    );
    git(root, &["fsck", "--strict", "--no-dangling"]);
    let files = text(git(root, &["ls-tree", "-r", "--name-only", "refs/tl/main"]));
    assert_eq!(
        files, "tracked\nuntracked\n",
        "no .git or .tl in the export"
    );
    // A packed ref is read as well as a loose one.
    git(root, &["pack-refs", "--all"]);
    let again = run(&store, &ExportOptions::new(far_future())).unwrap();
    assert_eq!(again.commits_written, 0);
    let mut bad = ExportOptions::new(far_future());
    bad.ref_name = "refs/heads/trunk".into();
    let err = run(&store, &bad).unwrap_err().to_string();
    assert!(err.contains("refs/tl/"), "{err}");
}

#[test]
fn a_symlinked_gitignore_is_left_out_naming_path_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("ok"), "1").unwrap();
    let mut store = Store::init(root).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    symlink("/etc/passwd", root.join("sub/.GitIgnore")).unwrap();
    fs::write(root.join("sub/x"), "2").unwrap();
    let bad = store.checkpoint(CommitKind::Manual, None).unwrap();
    let repo = tempfile::tempdir().unwrap();
    let r = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!(r.commits_written, 2);
    assert_eq!(r.left_out.len(), 1);
    let w = r.left_out[0].to_string();
    assert!(w.contains("sub/.GitIgnore"), "{w}");
    assert!(w.contains(&bad.checkpoint.id), "{w}");
    assert!(w.contains("symlink"), "{w}");
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    let files = text(git(
        repo.path(),
        &["ls-tree", "-r", "--name-only", "refs/tl/main"],
    ));
    assert_eq!(files, "ok\nsub/x\n");
}

/// Deterministic bytes, text-like (lines of words) or binary.
fn lines(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::new();
    for i in 0..n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.extend_from_slice(format!("line {i}: value {} of {seed}\n", x >> 8).as_bytes());
    }
    out
}

fn binary(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// `git verify-pack -v` of `pack`: (objects stored as deltas, longest chain).
fn delta_stats(repo: &Path, pack: &Path) -> (usize, usize) {
    let out = text(git(repo, &["verify-pack", "-v", pack.to_str().unwrap()]));
    let deltas = out
        .lines()
        .filter(|l| l.split_whitespace().count() == 7 && l.len() > 40)
        .count();
    let longest = out
        .lines()
        .filter_map(|l| l.strip_prefix("chain length = "))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .max()
        .unwrap_or(0);
    (deltas, longest)
}

#[test]
fn versions_are_written_as_deltas_that_git_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut store = Store::init(root).unwrap();
    let text_v0 = lines(3000, 1);
    let bin_v0 = binary(200_000, 2);
    fs::create_dir_all(root.join("src/sub")).unwrap();
    fs::write(root.join("src/sub/text.txt"), &text_v0).unwrap();
    fs::write(root.join("bin.dat"), &bin_v0).unwrap();
    fs::write(root.join("grows"), "").unwrap();
    fs::write(root.join("gone"), lines(500, 3)).unwrap();
    // A near copy under another name: a delta of its relative (the window).
    let mut copy = text_v0.clone();
    copy.extend_from_slice(b"the copy differs at the end\n");
    fs::write(root.join("copy.txt"), &copy).unwrap();
    store.checkpoint(CommitKind::Manual, None).unwrap();
    for v in 1..=60u32 {
        let mut t = text_v0.clone();
        t.extend_from_slice(&lines(v as usize, 100 + v));
        fs::write(root.join("src/sub/text.txt"), &t).unwrap();
        let mut b = bin_v0.clone();
        b[(v as usize * 3001) % 200_000] ^= 0xff;
        fs::write(root.join("bin.dat"), &b).unwrap();
        match v {
            // Empty to large, then back to an identical earlier version.
            2 => fs::write(root.join("grows"), lines(4000, 4)).unwrap(),
            3 => fs::write(root.join("grows"), "").unwrap(),
            4 => fs::remove_file(root.join("gone")).unwrap(),
            // Deleted and added again, changed.
            5 => fs::write(root.join("gone"), lines(501, 3)).unwrap(),
            _ => {}
        }
        store.checkpoint(CommitKind::Auto, None).unwrap();
    }
    let repo = tempfile::tempdir().unwrap();
    let r = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!(r.commits_written, 61);
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    let pack = r.pack.clone().unwrap();
    let (deltas, longest) = delta_stats(repo.path(), &pack);
    // Every later version of both files but the one where each chain reaches the
    // depth limit and starts again whole (small trees may stay whole too).
    assert!(deltas >= 59 * 2, "{deltas} deltas");
    assert!(longest <= 50, "chain of {longest}");
    let raw: u64 = (0..61)
        .map(|v| 200_000 + text_v0.len() as u64 + v * 40)
        .sum();
    assert!(r.pack_bytes * 20 < raw, "pack of {} bytes", r.pack_bytes);
    let ids = commits(repo.path(), "refs/tl/main");
    for i in [0, 1, 2, 3, 4, 5, 30, 60] {
        assert_commit_is_checkpoint(repo.path(), &ids[i], &store, i);
    }

    // A second run continues the ref in a pack of its own, never thin: it holds
    // its first version of each path whole, and git verifies it alone.
    for v in 61..=70u32 {
        let mut t = text_v0.clone();
        t.extend_from_slice(&lines(v as usize, 100 + v));
        fs::write(root.join("src/sub/text.txt"), &t).unwrap();
        store.checkpoint(CommitKind::Auto, None).unwrap();
    }
    let r2 = run(&store, &opts_into(repo.path())).unwrap();
    assert_eq!(r2.commits_written, 10);
    let pack2 = r2.pack.unwrap();
    assert_ne!(pack2, pack);
    let (deltas2, _) = delta_stats(repo.path(), &pack2);
    assert!(deltas2 >= 9 * 2, "{deltas2} deltas in the second pack");
    git(repo.path(), &["fsck", "--strict", "--no-dangling"]);
    let ids = commits(repo.path(), "refs/tl/main");
    assert_commit_is_checkpoint(repo.path(), &ids[70], &store, 70);
}
