//! T6 for the whole store: power loss at every write and sync of the log.
//!
//! The live store's log goes through a tap over `MemStorage` (which keeps written
//! and synced bytes apart). After every mutating operation the tap takes several
//! crash images (`MemStorage::crash(seed)`: what was synced, plus any subset of the
//! later writes, whole, torn or lost) together with the number of checkpoints
//! acknowledged (their `checkpoint()` returned) and attempted at that instant, and
//! the catalog cache as it was on disk. Each image is then opened as a store: it
//! must open cleanly, hold exactly a prefix of the attempted checkpoints containing
//! every acknowledged one, give the same tree at each and the same content, and
//! `fsck` must find nothing wrong.
//!
//! `TL_STORE_CRASH_IMAGES` sets how many crash images at least (default 1,000: two
//! 14-checkpoint histories; the reported run is 10^4), more histories making more.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tl_index::catalog::CheckpointIndex;

use tl_index::fsck::{fsck_storage, FsckOptions};
use tl_index::record::CommitKind;
use tl_index::store::Store;
use tl_index::types::{BlobHash, Tree};
use tl_wal::testing::MemStorage;
use tl_wal::{SegmentFile, Storage};

/// Crash images taken after each mutating operation of the log.
const SEEDS_PER_OP: u64 = 12;

struct Image {
    storage: MemStorage,
    acked: usize,
    attempted: usize,
    catalog: Option<Vec<u8>>,
}

struct TapState {
    inner: MemStorage,
    acked: AtomicUsize,
    attempted: AtomicUsize,
    seed: AtomicU64,
    catalog_path: PathBuf,
    images: Mutex<Vec<Image>>,
}

impl TapState {
    fn after_op(&self) {
        // Read the counters first: an image may only show more than they say.
        let acked = self.acked.load(Ordering::SeqCst);
        let attempted = self.attempted.load(Ordering::SeqCst);
        let catalog = fs::read(&self.catalog_path).ok();
        let mut images = self.images.lock().unwrap();
        for _ in 0..SEEDS_PER_OP {
            let seed = self.seed.fetch_add(1, Ordering::SeqCst);
            images.push(Image {
                storage: self.inner.crash(seed),
                acked,
                attempted,
                catalog: catalog.clone(),
            });
        }
    }
}

#[derive(Clone)]
struct Tap(Arc<TapState>);

struct TapFile {
    inner: Box<dyn SegmentFile>,
    tap: Arc<TapState>,
}

impl SegmentFile for TapFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let r = self.inner.write_all_at(buf, offset);
        self.tap.after_op();
        r
    }
    fn sync_data(&self) -> io::Result<()> {
        let r = self.inner.sync_data();
        self.tap.after_op();
        r
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let r = self.inner.set_len(len);
        self.tap.after_op();
        r
    }
}

impl Storage for Tap {
    fn list(&self) -> io::Result<Vec<String>> {
        self.0.inner.list()
    }
    fn open(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        Ok(Box::new(TapFile {
            inner: self.0.inner.open(name)?,
            tap: self.0.clone(),
        }))
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        let f = self.0.inner.create(name)?;
        self.0.after_op();
        Ok(Box::new(TapFile {
            inner: f,
            tap: self.0.clone(),
        }))
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        let r = self.0.inner.remove(name);
        self.0.after_op();
        r
    }
    fn sync_dir(&self) -> io::Result<()> {
        let r = self.0.inner.sync_dir();
        self.0.after_op();
        r
    }
    fn quarantine(
        &self,
        name: &str,
        offset: u64,
        src: &dyn SegmentFile,
        len: u64,
    ) -> io::Result<String> {
        self.0.inner.quarantine(name, offset, src, len)
    }
    fn describe(&self, name: &str) -> PathBuf {
        self.0.inner.describe(name)
    }
    fn lock(&self) -> io::Result<Box<dyn Send + Sync>> {
        self.0.inner.lock()
    }
}

/// A small deterministic generator (no extra dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A project root holding `.tl/` (config, no log: the log is in memory).
fn project(dir: &Path, snapshot_every: u64) {
    fs::create_dir_all(dir).unwrap();
    drop(Store::init(dir).unwrap());
    fs::remove_dir_all(dir.join(".tl/wal")).unwrap();
    fs::write(
        dir.join(".tl/config.toml"),
        format!("snapshot_every = {snapshot_every}\nsegment_bytes_max = 65536\n"),
    )
    .unwrap();
}

struct History {
    ids: Vec<String>,
    trees: Vec<Tree>,
    content: HashMap<BlobHash, Vec<u8>>,
    images: Vec<Image>,
}

/// Runs `n` checkpoints of random edits over a log tapped for crash images.
fn run_history(work: &Path, seed: u64, n: usize) -> History {
    let root = work.join("live");
    project(&root, 3);
    let mem = MemStorage::new();
    let state = Arc::new(TapState {
        inner: mem,
        acked: AtomicUsize::new(0),
        attempted: AtomicUsize::new(0),
        seed: AtomicU64::new(seed << 32),
        catalog_path: root.join(".tl/index/catalog"),
        images: Mutex::new(Vec::new()),
    });
    let mut store = Store::open_with_storage(&root, Arc::new(Tap(state.clone()))).unwrap();
    let mut rng = Rng(seed | 1);
    let mut history = History {
        ids: Vec::new(),
        trees: Vec::new(),
        content: HashMap::new(),
        images: Vec::new(),
    };
    for _ in 0..n {
        for _ in 0..1 + rng.below(4) {
            let name = format!("f{}", rng.below(8));
            let path = root.join(&name);
            match rng.below(5) {
                0 if path.exists() => fs::remove_file(&path).unwrap(),
                _ => {
                    // Incompressible, so the log rotates every few checkpoints.
                    let len = rng.below(12_000) as usize;
                    let data = rng.bytes(len);
                    history.content.insert(BlobHash::of(&data), data.clone());
                    fs::write(&path, data).unwrap();
                }
            }
        }
        // Make every change visible to the stat cache.
        std::thread::sleep(std::time::Duration::from_millis(2));
        state.attempted.fetch_add(1, Ordering::SeqCst);
        let out = store.checkpoint(CommitKind::Auto, None).unwrap();
        history.ids.push(out.checkpoint.id.clone());
        history.trees.push(store.head().clone());
        state.acked.fetch_add(1, Ordering::SeqCst);
    }
    drop(store);
    history.images = std::mem::take(&mut *state.images.lock().unwrap());
    history
}

fn check_image(check_root: &Path, h: &History, img: &Image, k: usize) -> usize {
    let tl = check_root.join(".tl");
    for sub in ["index", "snapshots"] {
        let _ = fs::remove_dir_all(tl.join(sub));
        fs::create_dir_all(tl.join(sub)).unwrap();
    }
    if let Some(bytes) = &img.catalog {
        fs::write(tl.join("index/catalog"), bytes).unwrap();
    }
    let storage = Arc::new(img.storage.clone());
    let store = Store::open_with_storage(check_root, storage.clone())
        .unwrap_or_else(|e| panic!("image {k}: the store does not open after a crash: {e}"));
    let cps = store.checkpoints();
    let n = cps.len();
    assert!(
        img.acked <= n && n <= img.attempted,
        "image {k}: {n} checkpoints survive; {} were acknowledged, {} attempted",
        img.acked,
        img.attempted
    );
    for (i, c) in cps.iter().enumerate() {
        assert_eq!(c.id, h.ids[i], "image {k}: checkpoint {i} differs");
    }
    assert!(store.damage().is_empty(), "image {k}: {:?}", store.damage());
    let r = store.recovery().unwrap();
    assert!(r.corruption.is_empty(), "image {k}: {:?}", r.corruption);
    if n > 0 {
        // The last and one other checkpoint: same tree, same content.
        for i in [n - 1, k % n] {
            let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
            assert_eq!(tree, h.trees[i], "image {k}: tree at {i} differs");
        }
        for e in h.trees[n - 1].values() {
            assert_eq!(
                &store.blob_bytes(&e.hash).unwrap(),
                &h.content[&e.hash],
                "image {k}: content differs"
            );
        }
    }
    drop(store);
    let report = fsck_storage(
        &tl_index::layout::Layout::new(check_root),
        storage,
        &FsckOptions {
            deep: k.is_multiple_of(16),
            check_tail: true,
        },
    );
    assert!(
        report.is_clean(),
        "image {k}: fsck after recovery: {:?}",
        report.problems
    );
    assert_eq!(report.checkpoints, n);
    n
}

#[test]
fn power_loss_at_every_log_write_keeps_a_prefix_with_every_acknowledged_checkpoint() {
    let work = tempfile::tempdir().unwrap();
    let check_root = work.path().join("check");
    project(&check_root, 3);
    let want: usize = std::env::var("TL_STORE_CRASH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut points = 0;
    let mut histories = 0;
    let mut by_state: HashMap<(usize, usize, usize), usize> = HashMap::new();
    // Two fixed histories, then more of other seeds until `want` images are checked.
    let seeds = [0x7e57_u64, 0xc0ffee]
        .into_iter()
        .chain((1..).map(|i| 0x7e57_u64 + (i << 20)));
    for seed in seeds {
        if points >= want {
            break;
        }
        let run = work.path().join(format!("run{seed}"));
        let h = run_history(&run, seed, 14);
        for (k, img) in h.images.iter().enumerate() {
            let n = check_image(&check_root, &h, img, k);
            *by_state.entry((img.acked, img.attempted, n)).or_default() += 1;
            points += 1;
        }
        histories += 1;
        let _ = fs::remove_dir_all(&run);
    }
    // Both outcomes of an in-flight checkpoint must have been seen.
    let lost_in_flight = by_state.keys().filter(|(a, t, n)| a < t && n == a).count();
    let kept_in_flight = by_state.keys().filter(|(a, t, n)| a < t && n == t).count();
    eprintln!(
        "T6 store: {points} crash images of {histories} histories, {lost_in_flight} states losing / {kept_in_flight} keeping the unacknowledged checkpoint"
    );
    assert!(points >= 1000, "only {points} crash points");
    assert!(lost_in_flight > 0 && kept_in_flight > 0);
}
