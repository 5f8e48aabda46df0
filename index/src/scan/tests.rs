//! Goal: a scan of a real temporary directory captures exactly the files the rules
//! say (ignore files, `.tl`/`.git`, symlinks, modes, odd names, special files,
//! limits), reads only what the stat cache cannot vouch for, and hands over every
//! new content once, in parts that reassemble to the hashed bytes.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::read::stat_of;
use super::*;
use crate::repopath::RepoPath;
use crate::statcache::CachedStat;
use crate::types::{Entry, Mode};

/// A stand-in for the log: the parts handed over, and the blobs already stored.
#[derive(Default)]
struct Store {
    parts: Mutex<Vec<NewRecord>>,
    stored: Mutex<HashSet<BlobHash>>,
}

impl Store {
    /// Scans `root` with `previous`, then "commits" the new parts to the store.
    fn scan(&self, root: &Path, previous: &StatCache, options: &ScanOptions) -> ScanOutcome {
        self.parts.lock().unwrap().clear();
        let outcome = scan::<()>(
            root,
            previous,
            options,
            &|hash: &BlobHash| self.stored.lock().unwrap().contains(hash),
            &|part| {
                self.parts.lock().unwrap().push(part);
                Ok(())
            },
        )
        .unwrap();
        let mut stored = self.stored.lock().unwrap();
        for part in self.parts.lock().unwrap().iter() {
            stored.insert(part.hash());
        }
        outcome
    }

    /// The whole blobs handed over (small files, symlink targets, chunks).
    fn new_parts(&self) -> Vec<BlobPart> {
        self.new_records()
            .into_iter()
            .filter_map(|r| match r {
                NewRecord::Part(p) => Some(p),
                NewRecord::Chunks(_) => None,
            })
            .collect()
    }

    /// Every record handed over.
    fn new_records(&self) -> Vec<NewRecord> {
        self.parts.lock().unwrap().clone()
    }
}

/// Scans `root` once from an empty cache and store.
fn scan_fresh(root: &Path) -> ScanOutcome {
    Store::default().scan(root, &StatCache::new(), &ScanOptions::default())
}

fn write(root: &Path, rel: &str, content: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// Sets the mtime of `rel` one hour back, out of the racily-clean window.
fn age(root: &Path, rel: &str) {
    let file = fs::File::options()
        .write(true)
        .open(root.join(rel))
        .unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

fn paths(tree: &Tree) -> Vec<String> {
    tree.keys()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn check_paths(root: &Path, expected: &[&str]) {
    let outcome = scan_fresh(root);
    assert_eq!(
        paths(&outcome.tree),
        expected,
        "warnings: {:?}",
        outcome.warnings
    );
}

/// Reassembles blob `hash` from the records handed over: its one part, or the
/// parts of the chunks its chunk lists name, checking offsets and lengths.
pub(super) fn reassemble(records: &[NewRecord], hash: BlobHash) -> Vec<u8> {
    let lists: Vec<&ChunkList> = records
        .iter()
        .filter_map(|r| match r {
            NewRecord::Chunks(c) if c.hash == hash => Some(c),
            _ => None,
        })
        .collect();
    if !lists.is_empty() {
        let mut content = Vec::new();
        for list in lists {
            assert_eq!(list.offset, content.len() as u64);
            for chunk in &list.chunks {
                let raw = reassemble(records, chunk.hash);
                assert_eq!(raw.len() as u64, u64::from(chunk.len));
                content.extend_from_slice(&raw);
            }
            assert!(content.len() as u64 <= list.raw_len);
        }
        return content;
    }
    let parts: Vec<&BlobPart> = records
        .iter()
        .filter_map(|r| match r {
            NewRecord::Part(p) if p.hash == hash => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(parts.len(), 1, "content is handed over once, whole");
    let part = parts[0];
    assert_eq!(part.offset, 0);
    let raw = if part.compressed {
        zstd::bulk::decompress(&part.data, PART_RAW_MAX).unwrap()
    } else {
        part.data.clone()
    };
    assert!(raw.len() <= PART_RAW_MAX);
    assert_eq!(part.raw_len, raw.len() as u64, "the part covers raw_len");
    raw
}

#[test]
fn ignore_files_are_honoured_and_tl_git_never_captured() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", b"*.log\nbuild/\n");
    write(root, ".tlignore", b"secret*\n");
    write(root, ".git/info/exclude", b"excluded.txt\n");
    write(root, ".git/HEAD", b"ref: refs/heads/main\n");
    write(root, ".tl/config.toml", b"");
    write(root, "a.log", b"log");
    write(root, "build/out", b"out");
    write(root, "secret.key", b"key");
    write(root, "excluded.txt", b"x");
    write(root, "keep.txt", b"keep");
    write(root, ".hidden", b"dotfile");
    write(root, "sub/.gitignore", b"local.txt\n");
    write(root, "sub/local.txt", b"local");
    write(root, "sub/other.txt", b"other");
    write(root, "sub/.tl/nested", b"never");
    write(root, "sub/.git", b"gitdir: ../.git/worktrees/sub\n");
    write(root, "sub/deeper/.tlignore", b"*.tmp\n");
    write(root, "sub/deeper/x.tmp", b"tmp");
    write(root, "sub/deeper/x.rs", b"rs");
    check_paths(
        root,
        &[
            ".gitignore",
            ".hidden",
            ".tlignore",
            "keep.txt",
            "sub/.gitignore",
            "sub/deeper/.tlignore",
            "sub/deeper/x.rs",
            "sub/other.txt",
        ],
    );
}

#[test]
fn gitignore_is_honoured_outside_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", b"target/\n");
    write(root, "target/debug/tl", b"binary");
    write(root, "src/main.rs", b"fn main() {}");
    check_paths(root, &[".gitignore", "src/main.rs"]);
}

#[test]
fn symlinks_are_stored_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "target.txt", b"the target");
    write(root, "sub/inner.txt", b"inner");
    symlink("target.txt", root.join("link")).unwrap();
    symlink("sub", root.join("dirlink")).unwrap();
    symlink("/nowhere/at/all", root.join("dangling")).unwrap();
    let store = Store::default();
    let outcome = store.scan(root, &StatCache::new(), &ScanOptions::default());
    assert_eq!(
        paths(&outcome.tree),
        ["dangling", "dirlink", "link", "sub/inner.txt", "target.txt"]
    );
    for (name, target) in [
        ("link", &b"target.txt"[..]),
        ("dirlink", b"sub"),
        ("dangling", b"/nowhere/at/all"),
    ] {
        let entry = outcome.tree[name.as_bytes()];
        assert_eq!(entry.mode, Mode::Symlink);
        assert_eq!(entry.hash, BlobHash::of(target));
        assert_eq!(entry.size, target.len() as u64);
        assert_eq!(reassemble(&store.new_records(), entry.hash), target);
    }
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
}

#[test]
fn exec_bit_gives_exec_mode() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "run.sh", b"#!/bin/sh\n");
    write(root, "plain.txt", b"text");
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let outcome = scan_fresh(root);
    assert_eq!(outcome.tree[&b"run.sh"[..]].mode, Mode::Exec);
    assert_eq!(outcome.tree[&b"plain.txt"[..]].mode, Mode::File);
}

#[test]
fn non_utf8_names_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let name = b"caf\xe9 \xff.txt";
    fs::create_dir(root.join(OsStr::from_bytes(b"d\xfe"))).unwrap();
    fs::write(root.join(OsStr::from_bytes(name)), b"latin-1").unwrap();
    fs::write(root.join(OsStr::from_bytes(b"d\xfe/x")), b"x").unwrap();
    let outcome = scan_fresh(root);
    let keys: Vec<&[u8]> = outcome.tree.keys().map(|k| k.as_slice()).collect();
    assert_eq!(keys, [&name[..], b"d\xfe/x"]);
    assert_eq!(outcome.tree[&name[..]].hash, BlobHash::of(b"latin-1"));
}

#[test]
fn empty_file_is_captured_and_empty_directory_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "empty", b"");
    fs::create_dir_all(root.join("hollow/deeper")).unwrap();
    let store = Store::default();
    let outcome = store.scan(root, &StatCache::new(), &ScanOptions::default());
    assert_eq!(paths(&outcome.tree), ["empty"]);
    let entry = outcome.tree[&b"empty"[..]];
    assert_eq!((entry.size, entry.hash), (0, BlobHash::of(b"")));
    let parts = store.new_parts();
    assert_eq!(parts.len(), 1, "an empty blob is one empty part");
    assert_eq!((parts[0].raw_len, parts[0].offset), (0, 0));
    assert_eq!(reassemble(&store.new_records(), entry.hash), b"");
}

#[test]
fn fifo_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "normal", b"n");
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let outcome = scan_fresh(root);
    assert_eq!(paths(&outcome.tree), ["normal"]);
    assert_eq!(outcome.warnings.len(), 1);
    assert_eq!(outcome.warnings[0].path, b"pipe");
    assert_eq!(outcome.warnings[0].kind, WarningKind::Special);
}

/// Root (as in this sandbox) reads any file whatever its permissions, so this test
/// can only prove anything when run as an ordinary user; as root it returns early.
/// It was run and passed as `nobody` (`setpriv --reuid=65534 --regid=65534
/// --clear-groups` on the test binary) when written.
#[test]
fn unreadable_file_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "secret", b"s");
    write(root, "public", b"p");
    write(root, "closed/inner", b"i");
    fs::set_permissions(root.join("secret"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(root.join("closed"), fs::Permissions::from_mode(0o000)).unwrap();
    if fs::File::open(root.join("secret")).is_ok() {
        fs::set_permissions(root.join("closed"), fs::Permissions::from_mode(0o755)).unwrap();
        eprintln!("skipped: running with privileges that bypass file permissions");
        return;
    }
    let outcome = scan_fresh(root);
    fs::set_permissions(root.join("closed"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(paths(&outcome.tree), ["public"]);
    let warned: Vec<(&[u8], WarningKind)> = outcome
        .warnings
        .iter()
        .map(|w| (w.path.as_bytes(), w.kind))
        .collect();
    assert_eq!(
        warned,
        [
            (&b"closed"[..], WarningKind::Unreadable),
            (b"secret", WarningKind::Unreadable)
        ]
    );
}

#[test]
fn file_over_the_size_limit_warns_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "big", &[7; 11]);
    write(root, "small", &[7; 10]);
    let options = ScanOptions {
        max_file_bytes: 10,
        ..ScanOptions::default()
    };
    let outcome = Store::default().scan(root, &StatCache::new(), &options);
    assert_eq!(paths(&outcome.tree), ["small"]);
    assert_eq!(outcome.warnings.len(), 1);
    let warning = &outcome.warnings[0];
    assert_eq!(
        (warning.path.as_bytes(), warning.kind),
        (&b"big"[..], WarningKind::TooLarge)
    );
    assert!(
        warning.message.contains("max_file_bytes"),
        "{}",
        warning.message
    );
    assert!(
        warning.message.contains(".tl/config.toml"),
        "{}",
        warning.message
    );
}

#[test]
fn root_unreadable_is_a_typed_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = scan::<()>(
        &missing,
        &StatCache::new(),
        &ScanOptions::default(),
        &|_: &BlobHash| false,
        &|_| Ok(()),
    )
    .unwrap_err();
    assert!(matches!(err, ScanError::RootUnreadable { .. }));
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn stat_cache_skips_unchanged_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for name in ["a", "b", "c"] {
        write(root, name, name.as_bytes());
        age(root, name);
    }
    let store = Store::default();
    let cache_file = dir.path().join(".tl/statcache");
    let first = store.scan(root, &StatCache::new(), &ScanOptions::default());
    assert_eq!((first.stats.files_seen, first.stats.files_read), (3, 3));
    fs::create_dir_all(cache_file.parent().unwrap()).unwrap();
    first.stat_cache.save(&cache_file).unwrap();

    let second = store.scan(root, &StatCache::load(&cache_file), &ScanOptions::default());
    assert_eq!((second.stats.files_read, second.stats.bytes_read), (0, 0));
    assert_eq!(second.tree, first.tree);
    assert!(store.new_parts().is_empty());

    write(root, "b", b"B2");
    age(root, "b");
    let third = store.scan(root, &second.stat_cache, &ScanOptions::default());
    assert_eq!(third.stats.files_read, 1);
    assert_eq!(third.tree[&b"b"[..]].hash, BlobHash::of(b"B2"));
    assert_eq!(
        diff_trees(&second.tree, &third.tree),
        [Change::Modified(
            RepoPath::from_bytes(b"b"),
            second.tree[&b"b"[..]],
            third.tree[&b"b"[..]]
        )]
    );

    // A cached hash the store does not have (say the batch was never written) is
    // not trusted: the file is read and its content handed over again.
    let forgetful = Store::default();
    let fourth = forgetful.scan(root, &third.stat_cache, &ScanOptions::default());
    assert_eq!(fourth.stats.files_read, 3);
    assert_eq!(fourth.stats.blobs_new, 3);
}

#[test]
fn racily_clean_file_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "racy", b"one");
    let store = Store::default();
    let first = store.scan(root, &StatCache::new(), &ScanOptions::default());
    assert_eq!(first.stats.files_read, 1);

    // Rewrite with the same size and put the mtime back to what it was: the stat
    // matches the cache, only the racily-clean rule can notice.
    let mtime = fs::metadata(root.join("racy")).unwrap().modified().unwrap();
    write(root, "racy", b"two");
    let file = fs::File::options()
        .write(true)
        .open(root.join("racy"))
        .unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let mut stat = stat_of(
        &fs::metadata(root.join("racy")).unwrap(),
        BlobHash::default(),
    );
    let cached = *first.stat_cache.get(b"racy").unwrap();
    // ctime moves on a rewrite; pretend the filesystem did not show it either.
    stat.ctime_ns = cached.ctime_ns;
    let mut forged = first.stat_cache.clone();
    forged.insert(
        b"racy".to_vec(),
        CachedStat {
            hash: cached.hash,
            ..stat
        },
    );
    assert!(forged.is_racy(forged.get(b"racy").unwrap()));

    let second = store.scan(root, &forged, &ScanOptions::default());
    assert_eq!(second.stats.files_read, 1);
    assert_eq!(second.tree[&b"racy"[..]].hash, BlobHash::of(b"two"));

    // Once its mtime is old, the entry is trusted and the file no longer read.
    age(root, "racy");
    let third = store.scan(root, &second.stat_cache, &ScanOptions::default());
    assert_eq!(third.stats.files_read, 1);
    let fourth = store.scan(root, &third.stat_cache, &ScanOptions::default());
    assert_eq!(fourth.stats.files_read, 0);
}

/// Deterministic, poorly compressible bytes.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn a_ten_mib_file_is_handed_over_as_chunks_and_one_chunk_list_in_one_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut content = noise(10 * 1024 * 1024, 0x9e37_79b9_7f4a_7c15);
    content[5_000_000..6_000_000].fill(b'z'); // some compressible stretch
    write(root, "big.bin", &content);
    let store = Store::default();
    let outcome = store.scan(root, &StatCache::new(), &ScanOptions::default());
    let entry = outcome.tree[&b"big.bin"[..]];
    assert_eq!(entry.hash, BlobHash::of(&content));
    assert_eq!(entry.size, content.len() as u64);
    let records = store.new_records();
    let NewRecord::Chunks(list) = records.last().unwrap() else {
        panic!("the chunk list comes after its chunks: {records:?}")
    };
    assert_eq!(
        (list.hash, list.raw_len, list.offset),
        (entry.hash, entry.size, 0)
    );
    let parts = store.new_parts();
    assert_eq!(
        parts.len(),
        list.chunks.len(),
        "each chunk once, no other part"
    );
    assert!(parts.len() >= 3, "{} chunks", parts.len());
    for (part, chunk) in parts.iter().zip(&list.chunks) {
        assert_eq!(
            (part.hash, part.raw_len),
            (chunk.hash, u64::from(chunk.len))
        );
    }
    assert!(
        parts.iter().any(|p| p.compressed),
        "the chunk with the compressible stretch is compressed"
    );
    assert_eq!(reassemble(&records, entry.hash), content);
    assert_eq!(outcome.stats.bytes_new_raw, content.len() as u64);
    assert_eq!(
        outcome.stats.bytes_new_stored,
        parts.iter().map(|p| p.data.len() as u64).sum::<u64>()
    );
    // One pass: the file is read once.
    assert_eq!(outcome.stats.bytes_read, content.len() as u64);
}

#[test]
fn a_big_file_of_one_chunk_is_one_blob_with_no_chunk_list() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Zeros never meet the gear hash's mask: one cut, at the 4 MiB maximum.
    let content = vec![0u8; 3 * 1024 * 1024];
    write(root, "zeros.img", &content);
    let store = Store::default();
    let outcome = store.scan(root, &StatCache::new(), &ScanOptions::default());
    let records = store.new_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(matches!(&records[0], NewRecord::Part(p) if p.hash == BlobHash::of(&content)));
    assert_eq!(outcome.tree[&b"zeros.img"[..]].hash, BlobHash::of(&content));
}

#[test]
fn equal_contents_are_handed_over_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "one", b"same bytes");
    write(root, "two", b"same bytes");
    write(root, "dir/three", b"same bytes");
    write(root, "stored", b"already in the log");
    let store = Store::default();
    store
        .stored
        .lock()
        .unwrap()
        .insert(BlobHash::of(b"already in the log"));
    let outcome = store.scan(root, &StatCache::new(), &ScanOptions::default());
    assert_eq!(outcome.tree.len(), 4);
    let parts = store.new_parts();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].hash, BlobHash::of(b"same bytes"));
    assert_eq!(outcome.stats.blobs_new, 1);
}

#[test]
fn diff_trees_reports_added_modified_deleted_in_path_order() {
    let entry = |byte: u8, mode: Mode| Entry {
        hash: BlobHash([byte; 32]),
        mode,
        size: 1,
        mtime_ns: 0,
    };
    let old: Tree = [
        (b"a".to_vec(), entry(1, Mode::File)),
        (b"b".to_vec(), entry(2, Mode::File)),
        (b"c".to_vec(), entry(3, Mode::File)),
        (b"d".to_vec(), entry(4, Mode::File)),
    ]
    .into();
    let mut touched = entry(4, Mode::File);
    touched.mtime_ns = 99;
    let new: Tree = [
        (b"b".to_vec(), entry(2, Mode::Exec)),
        (b"bb".to_vec(), entry(9, Mode::File)),
        (b"c".to_vec(), entry(33, Mode::File)),
        (b"d".to_vec(), touched),
    ]
    .into();
    assert_eq!(
        diff_trees(&old, &new),
        [
            Change::Deleted(RepoPath::from_bytes(b"a"), entry(1, Mode::File)),
            Change::Modified(
                RepoPath::from_bytes(b"b"),
                entry(2, Mode::File),
                entry(2, Mode::Exec)
            ),
            Change::Added(RepoPath::from_bytes(b"bb"), entry(9, Mode::File)),
            Change::Modified(
                RepoPath::from_bytes(b"c"),
                entry(3, Mode::File),
                entry(33, Mode::File)
            ),
        ]
    );
    assert!(diff_trees(&new, &new).is_empty());
}

/// A model tree: path components → (content, executable).
type Model = BTreeMap<Vec<Vec<u8>>, (Vec<u8>, bool)>;

fn component() -> impl Strategy<Value = Vec<u8>> {
    // Includes dotfiles and non-UTF-8 bytes; never "/", NUL, "." or "..".
    proptest::collection::vec(
        prop_oneof![
            Just(b'a'),
            Just(b'b'),
            Just(b'.'),
            Just(b'_'),
            Just(0xe9u8),
            Just(0xffu8)
        ],
        1..4,
    )
    .prop_filter("not a special name", |c| {
        ![&b"."[..], b"..", b".tl", b".git"].contains(&c.as_slice())
            && !c.starts_with(b".gitignore")
            && !c.starts_with(b".tlignore")
    })
}

fn model() -> impl Strategy<Value = Model> {
    proptest::collection::btree_map(
        proptest::collection::vec(component(), 1..4),
        (proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()),
        0..12,
    )
    // A path cannot be both a file and a directory.
    .prop_filter("no file is a prefix of another path", |m| {
        m.keys()
            .all(|a| m.keys().all(|b| a == b || !b.starts_with(a)))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn scanned_tree_matches_the_files_on_disk(model in model()) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut expected = BTreeMap::new();
        for (components, (content, exec)) in &model {
            let rel = components.join(&b'/');
            let path = root.join(OsStr::from_bytes(&rel));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, content).unwrap();
            if *exec {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
            let mode = if *exec { Mode::Exec } else { Mode::File };
            expected.insert(rel, (BlobHash::of(content), mode, content.len() as u64));
        }
        let store = Store::default();
        let outcome = store.scan(root, &StatCache::new(), &ScanOptions::default());
        let actual: BTreeMap<Vec<u8>, (BlobHash, Mode, u64)> = outcome
            .tree
            .iter()
            .map(|(p, e)| (p.clone(), (e.hash, e.mode, e.size)))
            .collect();
        prop_assert_eq!(&actual, &expected);
        prop_assert!(outcome.warnings.is_empty());
        // Every content is handed over exactly once and reassembles to its hash.
        let records = store.new_records();
        let hashes: HashSet<BlobHash> = expected.values().map(|v| v.0).collect();
        prop_assert_eq!(records.len(), hashes.len());
        for hash in hashes {
            prop_assert_eq!(BlobHash::of(&reassemble(&records, hash)), hash);
        }
    }
}

#[test]
fn sink_error_stops_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..20 {
        write(root, &format!("f{i}"), format!("content {i}").as_bytes());
    }
    let options = ScanOptions {
        threads: 1,
        ..ScanOptions::default()
    };
    let result = scan(
        root,
        &StatCache::new(),
        &options,
        &|_: &BlobHash| false,
        &|_| Err("disk full"),
    );
    assert!(matches!(result, Err(ScanError::Sink("disk full"))));
}
