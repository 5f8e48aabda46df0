//! Goal: a targeted scan of the paths a watcher would report, patched into the
//! previous tree, gives exactly the tree a full scan gives, whatever the ignore
//! files say (nested `.gitignore`, `.tlignore` whitelists, `.git/info/exclude`,
//! ignore files inside new directories) and whatever happened to the paths
//! (written, deleted, directories created, removed, renamed, replaced by symlinks).
//!
//! Tried: 200 random trees × 1–4 batches of 1–4 operations (proptest), plus named
//! cases.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;

use proptest::prelude::*;

use super::*;

fn full(root: &Path) -> Tree {
    scan::<()>(
        root,
        &StatCache::new(),
        &ScanOptions::default(),
        &|_: &BlobHash| false,
        &|_| Ok(()),
    )
    .unwrap()
    .tree
}

/// `before` with every entry at or under a scope replaced by what a targeted scan
/// of `scopes` finds.
fn patched(root: &Path, before: &Tree, scopes: Vec<Vec<u8>>, cache: &StatCache) -> Tree {
    let mut rules = IgnoreRules::new(root);
    patched_with(root, before, scopes, cache, &mut rules)
}

fn patched_with(
    root: &Path,
    before: &Tree,
    scopes: Vec<Vec<u8>>,
    cache: &StatCache,
    rules: &mut IgnoreRules,
) -> Tree {
    let part = scan_paths::<()>(
        root,
        scopes,
        rules,
        cache,
        &ScanOptions::default(),
        &|_: &BlobHash| false,
        &|_| Ok(()),
    )
    .unwrap();
    let mut tree: Tree = before
        .iter()
        .filter(|(p, _)| !part.covers(p))
        .map(|(p, e)| (p.clone(), *e))
        .collect();
    tree.extend(part.tree);
    tree
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn names(tree: &Tree) -> Vec<String> {
    tree.keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

#[test]
fn targeted_scan_of_a_file_sees_its_new_content() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a/f", b"one");
    write(root, "b", b"two");
    let before = full(root);
    write(root, "a/f", b"three");
    let after = patched(root, &before, vec![b"a/f".to_vec()], &StatCache::new());
    assert_eq!(after, full(root));
    assert_ne!(after, before);
}

#[test]
fn targeted_scan_of_a_new_directory_honours_its_own_and_parent_ignore_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", b"*.o\n");
    write(root, "keep", b"k");
    let before = full(root);
    let mut rules = IgnoreRules::new(root);
    // Rules of "d" loaded while it does not exist yet: must not stick.
    assert!(!rules.ignored(b"d/x.txt", false));
    write(root, "d/.tlignore", b"*.txt\n!*.o\n");
    write(root, "d/x.txt", b"x");
    write(root, "d/y.o", b"y");
    write(root, "d/z.o.c", b"z");
    write(root, "d/sub/w.o", b"w");
    let after = patched_with(
        root,
        &before,
        vec![b"d".to_vec()],
        &StatCache::new(),
        &mut rules,
    );
    assert_eq!(names(&after), names(&full(root)));
    assert_eq!(after, full(root));
    assert!(
        after.contains_key(b"d/y.o".as_slice()),
        "whitelisted by .tlignore"
    );
    assert!(!after.contains_key(b"d/x.txt".as_slice()));
}

#[test]
fn targeted_scan_of_a_deleted_directory_removes_everything_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "d/a", b"1");
    write(root, "d/e/b", b"2");
    write(root, "d.x", b"3");
    let before = full(root);
    fs::remove_dir_all(root.join("d")).unwrap();
    let after = patched(root, &before, vec![b"d".to_vec()], &StatCache::new());
    assert_eq!(names(&after), vec!["d.x"]);
}

#[test]
fn targeted_scan_does_not_follow_a_directory_replaced_by_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "d/a", b"1");
    write(root, "elsewhere/a", b"2");
    let before = full(root);
    fs::remove_dir_all(root.join("d")).unwrap();
    symlink("elsewhere", root.join("d")).unwrap();
    // A stale event under the old directory, and one for the symlink itself.
    let after = patched(
        root,
        &before,
        vec![b"d/a".to_vec(), b"d".to_vec()],
        &StatCache::new(),
    );
    assert_eq!(after, full(root));
    let stale_only = patched(root, &before, vec![b"d/a".to_vec()], &StatCache::new());
    assert!(!stale_only.contains_key(b"d/a".as_slice()));
}

#[test]
fn targeted_scan_never_enters_tl_or_git() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".git/config", b"x");
    write(root, "sub/.tl/wal", b"x");
    write(root, "sub/f", b"x");
    let after = patched(
        root,
        &Tree::new(),
        vec![b".git".to_vec(), b"sub".to_vec(), b"sub/.tl/wal".to_vec()],
        &StatCache::new(),
    );
    assert_eq!(names(&after), vec!["sub/f"]);
}

#[test]
fn a_root_scope_equals_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", b"/build\n");
    write(root, "build/x", b"1");
    write(root, "src/build/y", b"2");
    let after = patched(root, &Tree::new(), vec![Vec::new()], &StatCache::new());
    assert_eq!(after, full(root));
    assert_eq!(names(&after), vec![".gitignore", "src/build/y"]);
}

#[test]
fn rule_paths_are_recognised() {
    assert!(IgnoreRules::is_rule_path(b".gitignore"));
    assert!(IgnoreRules::is_rule_path(b"a/b/.tlignore"));
    assert!(IgnoreRules::is_rule_path(b".git/info/exclude"));
    assert!(!IgnoreRules::is_rule_path(b"a/gitignore"));
    assert!(!IgnoreRules::is_rule_path(b"a/.gitignore.bak"));
}

// ---- random trees -----------------------------------------------------------

const DIRS: [&str; 6] = ["", "a", "b", "a/c", "build", "a/build"];
const FILES: [&str; 7] = ["f", "g.o", "h.txt", "keep.o", ".hid", "x y", "a.o"];
const GIT_RULES: [&str; 8] = [
    "*.o", "build/", "!keep.o", "/a/f", "c", "*.txt", "!h.txt", "a/**/g.o",
];
const TL_RULES: [&str; 5] = ["!*.o", "f", "*.txt", "!build/", "x*"];

#[derive(Clone, Debug)]
enum Op {
    Write(usize, usize, u8),
    Delete(usize, usize),
    RemoveDir(usize),
    RenameDir(usize, usize),
    NewDirWithRules(usize, Vec<usize>, Vec<usize>),
    Symlink(usize, usize),
}

fn rules() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..8, 0..3)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..DIRS.len(), 0..FILES.len(), any::<u8>()).prop_map(|(d, f, b)| Op::Write(d, f, b)),
        2 => (0..DIRS.len(), 0..FILES.len()).prop_map(|(d, f)| Op::Delete(d, f)),
        1 => (1..DIRS.len()).prop_map(Op::RemoveDir),
        1 => (1..DIRS.len(), 1..DIRS.len()).prop_map(|(a, b)| Op::RenameDir(a, b)),
        1 => (1..DIRS.len(), rules(), prop::collection::vec(0usize..5, 0..3))
            .prop_map(|(d, g, t)| Op::NewDirWithRules(d, g, t)),
        1 => (0..DIRS.len(), 0..FILES.len()).prop_map(|(d, f)| Op::Symlink(d, f)),
    ]
}

fn rel(d: usize, f: usize) -> String {
    if DIRS[d].is_empty() {
        FILES[f].to_string()
    } else {
        format!("{}/{}", DIRS[d], FILES[f])
    }
}

fn rule_text(idx: &[usize], set: &[&str]) -> Vec<u8> {
    idx.iter()
        .map(|&i| format!("{}\n", set[i % set.len()]))
        .collect::<String>()
        .into_bytes()
}

/// The topmost missing directory of `dir` (a watcher reports a new directory
/// itself; what is inside is found by scanning it), or nothing.
fn new_parent(root: &Path, dir: &str) -> Vec<Vec<u8>> {
    let mut prefix = String::new();
    for c in dir.split('/').filter(|c| !c.is_empty()) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(c);
        if fs::symlink_metadata(root.join(&prefix)).is_err() {
            return vec![prefix.into_bytes()];
        }
    }
    vec![]
}

/// Applies `op` as a user would; returns the paths a watcher reports for it.
fn apply(root: &Path, op: &Op) -> Vec<Vec<u8>> {
    let p = |s: &str| root.join(OsStr::from_bytes(s.as_bytes()));
    match op {
        Op::Write(d, f, b) => {
            let r = rel(*d, *f);
            let mut out = new_parent(root, DIRS[*d]);
            if fs::create_dir_all(p(DIRS[*d])).is_err() {
                return vec![];
            }
            let _ = fs::remove_file(p(&r));
            let _ = fs::write(p(&r), vec![*b; (*b as usize) % 7]);
            out.push(r.into_bytes());
            out
        }
        Op::Delete(d, f) => {
            let r = rel(*d, *f);
            let _ = fs::remove_file(p(&r));
            vec![r.into_bytes()]
        }
        Op::RemoveDir(d) => {
            let _ = fs::remove_dir_all(p(DIRS[*d]));
            vec![DIRS[*d].as_bytes().to_vec()]
        }
        Op::RenameDir(a, b) => {
            if a == b || DIRS[*b].starts_with(DIRS[*a]) {
                return vec![];
            }
            let _ = fs::remove_dir_all(p(DIRS[*b]));
            let _ = fs::rename(p(DIRS[*a]), p(DIRS[*b]));
            vec![DIRS[*a].as_bytes().to_vec(), DIRS[*b].as_bytes().to_vec()]
        }
        Op::NewDirWithRules(d, g, t) => {
            let _ = fs::remove_dir_all(p(DIRS[*d]));
            if fs::create_dir_all(p(DIRS[*d])).is_err() {
                return vec![];
            }
            let _ = fs::write(p(DIRS[*d]).join(".gitignore"), rule_text(g, &GIT_RULES));
            let _ = fs::write(p(DIRS[*d]).join(".tlignore"), rule_text(t, &TL_RULES));
            for (f, name) in FILES.iter().enumerate() {
                let _ = fs::write(p(&rel(*d, f)), name);
            }
            vec![DIRS[*d].as_bytes().to_vec()]
        }
        Op::Symlink(d, f) => {
            let r = rel(*d, *f);
            let mut out = new_parent(root, DIRS[*d]);
            if fs::create_dir_all(p(DIRS[*d])).is_err() {
                return vec![];
            }
            let _ = fs::remove_file(p(&r));
            let _ = fs::remove_dir_all(p(&r));
            let _ = symlink("some/target", p(&r));
            out.push(r.into_bytes());
            out
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn targeted_scan_equals_full_scan(
        root_git in rules(),
        root_tl in prop::collection::vec(0usize..5, 0..2),
        exclude in rules(),
        a_git in rules(),
        start in prop::collection::vec((0..DIRS.len(), 0..FILES.len()), 0..14),
        batches in prop::collection::vec(prop::collection::vec(op(), 1..5), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", &rule_text(&root_git, &GIT_RULES));
        write(root, ".tlignore", &rule_text(&root_tl, &TL_RULES));
        write(root, ".git/info/exclude", &rule_text(&exclude, &GIT_RULES));
        write(root, "a/.gitignore", &rule_text(&a_git, &GIT_RULES));
        for (d, f) in &start {
            write(root, &rel(*d, *f), b"start");
        }
        let mut tree = full(root);
        let mut rules = IgnoreRules::new(root);
        // Warm the rule cache as a long-running watcher would.
        for d in DIRS {
            rules.ignored(format!("{d}/probe").trim_start_matches('/').as_bytes(), false);
        }
        for ops in &batches {
            let scopes = ops.iter().flat_map(|op| apply(root, op)).collect();
            tree = patched_with(root, &tree, scopes, &StatCache::new(), &mut rules);
            let expected = full(root);
            prop_assert_eq!(names(&tree), names(&expected), "after {:?}", ops);
            prop_assert_eq!(&tree, &expected);
        }
    }
}

#[test]
fn scopes_inside_other_scopes_are_dropped_and_siblings_that_sort_between_kept() {
    let dir = tempfile::tempdir().unwrap();
    let part = scan_paths::<()>(
        dir.path(),
        vec![
            b"a/c/d".to_vec(),
            b"a.b".to_vec(),
            b"a".to_vec(),
            b"a/c".to_vec(),
            b"ab".to_vec(),
        ],
        &mut IgnoreRules::new(dir.path()),
        &StatCache::new(),
        &ScanOptions::default(),
        &|_: &BlobHash| false,
        &|_| Ok(()),
    )
    .unwrap();
    assert_eq!(
        part.scopes,
        vec![b"a".to_vec(), b"a.b".to_vec(), b"ab".to_vec()]
    );
    assert!(part.covers(b"a/x/y"));
    assert!(part.covers(b"a.b"));
    assert!(!part.covers(b"a.c"));
    assert!(!part.covers(b"abc"));
}

#[test]
fn scopes_that_lead_out_of_the_root_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    write(dir.path(), "outside", b"secret");
    write(&root, "in", b"x");
    let part = scan_paths::<()>(
        &root,
        vec![
            b"../outside".to_vec(),
            b"/etc/passwd".to_vec(),
            b"./in".to_vec(),
            b"a//b".to_vec(),
            b"in".to_vec(),
        ],
        &mut IgnoreRules::new(&root),
        &StatCache::new(),
        &ScanOptions::default(),
        &|_: &BlobHash| false,
        &|_| Ok(()),
    )
    .unwrap();
    assert_eq!(part.scopes, vec![b"in".to_vec()]);
    assert_eq!(names(&part.tree), vec!["in"]);
}
