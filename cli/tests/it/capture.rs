//! Capture under races and limits, end to end: a file written while it is read, a
//! file over `max_file_bytes`, a directory swapped for a symlink to the outside
//! (`RELIABILITY.md` T16), with `tl checkpoint` and under the daemon.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tl_index::store::Store;
use tl_index::types::BlobHash;

use crate::util::{ok, tl};

/// A thread repeating `step` until stopped (on drop too) or `limit` has passed,
/// whichever comes first: a race partner that always ends by itself.
struct Racer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl Racer {
    fn start(limit: Duration, mut step: impl FnMut() + Send + 'static) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let end = Instant::now() + limit;
            let mut rounds = 0;
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                step();
                rounds += 1;
            }
            rounds
        });
        Racer {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread and returns how many steps it made.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Deterministic incompressible-looking bytes.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.extend_from_slice(&seed.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn checkpoint(dir: &Path) -> (String, String) {
    let out = tl(dir, &["checkpoint"]);
    assert!(
        out.status.success(),
        "tl checkpoint failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn last_id(dir: &Path) -> String {
    let log = crate::util::json(dir, &["log", "--json"]);
    log[0]["id"].as_str().unwrap().to_string()
}

/// Every tree of the log, oldest first.
fn all_trees(root: &Path) -> Vec<tl_index::Tree> {
    let store = Store::open_read_only(root).unwrap();
    (0..store.checkpoints().len())
        .map(|i| {
            store
                .tree_at(tl_index::catalog::CheckpointIndex::new(i))
                .unwrap()
        })
        .collect()
}

/// The content the log stores that no state refers to.
fn unreferenced_content(root: &Path) -> Vec<(BlobHash, tl_index::catalog::StoredBlob)> {
    let store = Store::open_read_only(root).unwrap();
    let referenced: HashSet<BlobHash> = all_trees(root)
        .iter()
        .flat_map(|t| t.values().map(|e| e.hash).collect::<Vec<_>>())
        .collect();
    let cat = store.catalog().unwrap();
    let chunks: HashSet<BlobHash> = cat
        .blobs()
        .values()
        .flat_map(|b| b.chunks().map(|c| c.hash))
        .collect();
    cat.blobs()
        .iter()
        .filter(|(h, _)| !referenced.contains(*h) && !chunks.contains(*h))
        .map(|(h, b)| (*h, b.clone()))
        .collect()
}

/// No state refers to a torn read: whatever content the log stores that no
/// state refers to is a chunk a streamed read of a moving file handed over (at
/// most one maximal chunk, no chunk list), and `tl gc` drops every one of them.
fn assert_only_orphan_chunks_then_gc_drops_them(root: &Path) {
    for (hash, blob) in unreferenced_content(root) {
        assert!(
            blob.runs.is_empty() && blob.raw_len <= 4 << 20,
            "the log stores content {} ({} bytes) that no state refers to",
            hash.to_hex(),
            blob.raw_len
        );
    }
    ok(root, &["gc"]);
    let left = unreferenced_content(root);
    assert!(
        left.is_empty(),
        "tl gc left {} unreferenced chunks",
        left.len()
    );
}

/// A project whose `big.log` (15 MB, several chunks) is captured.
fn project_with_big_file() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    ok(&root, &["init"]);
    fs::write(root.join("small"), b"small").unwrap();
    fs::write(root.join("big.log"), noise(15 << 20, 7)).unwrap();
    checkpoint(&root);
    (tmp, root)
}

/// Appends a line to `path` about every 100 µs.
fn appender(path: PathBuf, limit: Duration) -> Racer {
    // Every 100 µs: a big file is read once now (chunks, no second pass), in
    // about 15 ms, and under load a slower writer could leave a read untouched.
    Racer::start(limit, move || {
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"x\n").unwrap();
        std::thread::sleep(Duration::from_micros(100));
    })
}

#[test]
fn a_file_written_while_read_keeps_its_previous_version() {
    let (_tmp, root) = project_with_big_file();
    let before = Store::open_read_only(&root).unwrap().head().clone();
    let racer = appender(root.join("big.log"), Duration::from_secs(60));
    wait_growth(&root.join("big.log"), 15 << 20);
    let (stdout, stderr) = checkpoint(&root);
    racer.stop();
    assert!(
        stderr.contains("big.log: skipped: changed while being read"),
        "the warning names the file: {stderr}"
    );
    assert!(
        stderr.contains("the version of the last checkpoint is kept"),
        "{stderr}"
    );
    assert!(
        !stdout.contains(" -1 "),
        "nothing is recorded as deleted: {stdout}"
    );
    let head = Store::open_read_only(&root).unwrap().head().clone();
    assert_eq!(head, before, "the file keeps its previous version");
    assert_only_orphan_chunks_then_gc_drops_them(&root);

    // A replay to that checkpoint brings back the version it kept; it never
    // deletes the file.
    let id = last_id(&root);
    let out = ok(&root, &["replay", "--to", &id]);
    assert!(!out.contains("D big.log"), "{out}");
    assert_eq!(fs::read(root.join("big.log")).unwrap(), noise(15 << 20, 7));
}

/// Waits until `path` is longer than `len` (the racing writer has started).
fn wait_growth(path: &Path, len: u64) {
    let end = Instant::now() + Duration::from_secs(30);
    while fs::metadata(path).unwrap().len() <= len {
        assert!(Instant::now() < end, "the writer never started");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_file_written_while_read_under_the_daemon_is_never_recorded_deleted() {
    let (_tmp, root) = project_with_big_file();
    ok(&root, &["daemon", "start", "--debounce-ms", "50"]);
    let racer = appender(root.join("big.log"), Duration::from_secs(3));
    wait_growth(&root.join("big.log"), 15 << 20);
    std::thread::sleep(Duration::from_secs(3));
    racer.stop();
    // Once it settles, the last version is captured (retried after the debounce).
    let want = BlobHash::of(&fs::read(root.join("big.log")).unwrap());
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let store = Store::open_read_only(&root).unwrap();
        if store.head().get(b"big.log".as_slice()).map(|e| e.hash) == Some(want) {
            break;
        }
        assert!(Instant::now() < end, "the settled file was never captured");
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(&root, &["daemon", "stop"]);
    for (i, tree) in all_trees(&root).iter().enumerate() {
        assert!(
            tree.contains_key(b"big.log".as_slice()),
            "checkpoint {i} records big.log as deleted"
        );
    }
    assert_only_orphan_chunks_then_gc_drops_them(&root);
}

/// Sets `max_file_bytes` in the project's config.
fn set_max_file_bytes(root: &Path, max: u64) {
    let path = root.join(".tl/config.toml");
    let text = fs::read_to_string(&path).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("max_file_bytes") {
                format!("max_file_bytes = {max}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(path, text).unwrap();
}

#[test]
fn a_file_over_max_file_bytes_keeps_its_previous_version_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    ok(&root, &["init"]);
    fs::write(root.join("a"), b"a").unwrap();
    fs::write(root.join("grows"), b"small at first").unwrap();
    checkpoint(&root);
    let first = Store::open_read_only(&root).unwrap().head().clone();
    set_max_file_bytes(&root, 100);
    fs::write(root.join("grows"), vec![b'g'; 1000]).unwrap();
    let (stdout, stderr) = checkpoint(&root);
    assert!(
        stderr.contains("grows: skipped: 1000 bytes is more than max_file_bytes = 100"),
        "{stderr}"
    );
    assert!(!stdout.contains(" -1 "), "{stdout}");
    let skipped_at = last_id(&root);
    assert_eq!(Store::open_read_only(&root).unwrap().head(), &first);

    // Once capturable again, a replay to the checkpoint that skipped it must not
    // delete it: that checkpoint has its previous version.
    set_max_file_bytes(&root, 1 << 20);
    checkpoint(&root);
    let out = ok(&root, &["replay", "--to", &skipped_at]);
    assert!(!out.contains("D grows"), "{out}");
    assert!(root.join("grows").exists());
}

#[test]
fn a_replay_leaves_alone_a_file_the_capture_before_it_could_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    ok(&root, &["init"]);
    fs::write(root.join("a"), b"a").unwrap();
    checkpoint(&root);
    let without = last_id(&root);
    fs::write(root.join("grows"), b"small at first").unwrap();
    checkpoint(&root);
    set_max_file_bytes(&root, 100);
    fs::write(root.join("grows"), vec![b'g'; 1000]).unwrap();
    // The capture before the replay keeps the old version of `grows`, whose
    // content on disk is not in the log: the replay leaves the file alone
    // instead of removing it (or refusing).
    let out = tl(&root, &["replay", "--to", &without]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("grows: left as it is on disk"), "{stderr}");
    assert_eq!(fs::read(root.join("grows")).unwrap(), vec![b'g'; 1000]);
}

#[test]
fn a_tracked_file_that_becomes_ignored_is_not_deleted_by_a_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    ok(&root, &["init"]);
    fs::write(root.join("a"), b"a").unwrap();
    checkpoint(&root);
    let without = last_id(&root);
    fs::write(root.join("build.out"), b"output").unwrap();
    checkpoint(&root);
    fs::write(root.join(".tlignore"), b"build.out\n").unwrap();
    checkpoint(&root);
    ok(&root, &["replay", "--to", &without]);
    assert_eq!(fs::read(root.join("build.out")).unwrap(), b"output");
}

/// The directory `d/s` of `root` (200 files) swapped again and again for a
/// symlink to `outside` (200 files of the same names), as an attacker owning
/// `d` would.
fn swapper(root: &Path, outside: &Path, limit: Duration) -> Racer {
    let d = root.join("d");
    let outside = outside.to_path_buf();
    Racer::start(limit, move || {
        let (s, real) = (d.join("s"), d.join("s.real"));
        if fs::rename(&s, &real).is_ok() {
            if std::os::unix::fs::symlink(&outside, &s).is_ok() {
                std::thread::sleep(Duration::from_millis(2));
                let _ = fs::remove_file(&s);
            }
            fs::rename(&real, &s).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// A project with `d/s/secret*` inside and files of the same names outside,
/// whose contents (hashes returned) must never reach the log.
fn swap_setup() -> (tempfile::TempDir, PathBuf, PathBuf, HashSet<BlobHash>) {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let (root, outside) = (base.join("project"), base.join("outside"));
    fs::create_dir_all(root.join("d/s")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let mut secrets = HashSet::new();
    for i in 0..200 {
        fs::write(root.join(format!("d/s/secret{i}")), format!("inside {i}")).unwrap();
        let content = format!("OUTSIDE SECRET {i}");
        secrets.insert(BlobHash::of(content.as_bytes()));
        fs::write(outside.join(format!("secret{i}")), content).unwrap();
    }
    ok(&root, &["init"]);
    (tmp, root, outside, secrets)
}

/// No state of the log, and no content it stores, is from outside the root.
fn assert_nothing_from_outside(root: &Path, secrets: &HashSet<BlobHash>) {
    let store = Store::open_read_only(root).unwrap();
    for hash in store.catalog().unwrap().blobs().keys() {
        assert!(
            !secrets.contains(hash),
            "the log stores the content of a file outside the root"
        );
    }
    for (i, tree) in all_trees(root).iter().enumerate() {
        for (path, e) in tree {
            assert!(
                !secrets.contains(&e.hash),
                "checkpoint {i}: {} holds content from outside the root",
                String::from_utf8_lossy(path)
            );
        }
    }
}

#[test]
fn capture_never_stores_files_from_outside_through_a_directory_swapped_for_a_symlink() {
    let (_tmp, root, outside, secrets) = swap_setup();
    let racer = swapper(&root, &outside, Duration::from_secs(120));
    for _ in 0..30 {
        // A scan may see `d/s` as the symlink it is for a moment: that is a
        // state of the tree; content from outside never is.
        let out = tl(&root, &["checkpoint"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(racer.stop() > 0, "the swapping loop never ran");
    assert_nothing_from_outside(&root, &secrets);
}

#[test]
fn live_capture_never_stores_files_from_outside_through_a_directory_swapped_for_a_symlink() {
    let (_tmp, root, outside, secrets) = swap_setup();
    ok(&root, &["daemon", "start", "--debounce-ms", "20"]);
    let racer = swapper(&root, &outside, Duration::from_secs(5));
    // Every swap is an event naming `d/s`: the daemon captures that scope again
    // and again while the swapping runs.
    std::thread::sleep(Duration::from_secs(5));
    let swaps = racer.stop();
    ok(&root, &["daemon", "stop"]);
    assert!(swaps > 0, "the swapping loop never ran");
    assert!(
        Store::open_read_only(&root).unwrap().checkpoints().len() > 1,
        "the daemon captured nothing"
    );
    assert_nothing_from_outside(&root, &secrets);
}

/// The paths `tl ls` lists for the last checkpoint.
fn listed(dir: &Path) -> HashSet<String> {
    ok(dir, &["ls"])
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn editor_swap_and_backup_files_are_ignored_by_default_and_tlignore_can_keep_them() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["init"]);
    let temporaries = [
        ".main.rs.swp",
        ".main.rs.swo",
        "main.rs~",
        ".#main.rs",
        "#main.rs#",
        "4913",
    ];
    fs::write(d.path().join("main.rs"), "fn main() {}\n").unwrap();
    for t in temporaries {
        fs::write(d.path().join(t), "scratch\n").unwrap();
    }
    ok(d.path(), &["checkpoint"]);
    let seen = listed(d.path());
    assert!(seen.contains("main.rs"), "{seen:?}");
    for t in temporaries {
        assert!(!seen.contains(t), "{t} captured by default: {seen:?}");
    }
    // A `!` rule in .tlignore is the last word: backup files are captured again.
    fs::write(d.path().join(".tlignore"), "!*~\n").unwrap();
    ok(d.path(), &["checkpoint"]);
    let seen = listed(d.path());
    assert!(seen.contains("main.rs~"), "{seen:?}");
    assert!(!seen.contains(".main.rs.swp"), "{seen:?}");
}
