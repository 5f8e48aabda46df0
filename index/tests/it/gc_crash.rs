//! RELIABILITY.md T6 applied to GC (issue 12): a GC stopped at each of its
//! file-system steps (the swap's renames, syncs, removals and READY, through the
//! `GcFs` trait), on random small stores, then the store opened again, which
//! finishes or undoes the GC. At every crash point the store holds either every
//! state it held before, or exactly the states the policy keeps, each with its
//! id and its exact content, and `fsck --deep` is clean. Nothing between.
//!
//! `TL_GC_CRASH_STORES` sets how many random stores are crashed at every step
//! (default 64, which is over 1,000 crash points).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tl_index::catalog::CheckpointIndex;
use tl_index::gc::{self, GcFs, RealFs};
use tl_index::record::CommitKind;
use tl_index::retention::Clock;
use tl_index::store::Store;

use crate::fixture_store::assert_fsck_deep_is_clean;
use crate::support::project;

const S: i64 = 1_000_000_000;
/// 2026-11-02 00:00:00 UTC.
const START: i64 = 1_793_577_600 * S;

/// The real file system, stopping (an error, as the process would die) at
/// step `at` and every step after it.
struct CrashAt {
    at: usize,
    seen: Cell<usize>,
}

impl CrashAt {
    fn step(&self) -> io::Result<()> {
        let n = self.seen.get();
        self.seen.set(n + 1);
        if n >= self.at {
            Err(io::Error::other(format!("simulated crash at step {n}")))
        } else {
            Ok(())
        }
    }
}

impl GcFs for CrashAt {
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.step()?;
        RealFs.exists(path)
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.step()?;
        RealFs.write_synced(path, bytes)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step()?;
        RealFs.rename(from, to)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.step()?;
        RealFs.remove_dir_all(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.step()?;
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.step()?;
        RealFs.sync_dir(path)
    }
}

/// A directory change not yet made durable by a sync of its parent(s).
enum Unsynced {
    /// `from` was renamed to `to`; `unsynced` are its directories not synced
    /// since (it is durable once both are).
    Rename {
        from: PathBuf,
        to: PathBuf,
        unsynced: Vec<PathBuf>,
    },
    /// The file was written (READY).
    Wrote(PathBuf),
}

/// [`CrashAt`] that also models a power cut at the crash: every directory
/// change (a rename, READY's creation) whose parent directories were not synced
/// since is undone, newest first, as a file system that loses unsynced
/// directory entries would leave it. Removals are not undone: they only remove
/// derived files and, last, `.tl/gc/`, whose contents are gone either way.
struct PowerCutAt {
    crash: CrashAt,
    pending: RefCell<Vec<Unsynced>>,
}

impl PowerCutAt {
    fn new(at: usize) -> PowerCutAt {
        PowerCutAt {
            crash: CrashAt {
                at,
                seen: Cell::new(0),
            },
            pending: RefCell::new(Vec::new()),
        }
    }

    /// The power cut: undoes what was not synced.
    fn cut(&self) -> usize {
        let mut undone = 0;
        while let Some(op) = self.pending.borrow_mut().pop() {
            match op {
                Unsynced::Rename { from, to, .. } => {
                    if to.exists() && !from.exists() {
                        fs::rename(&to, &from).unwrap();
                        undone += 1;
                    }
                }
                Unsynced::Wrote(path) => {
                    if path.exists() {
                        fs::remove_file(&path).unwrap();
                        undone += 1;
                    }
                }
            }
        }
        undone
    }
}

impl GcFs for PowerCutAt {
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.crash.exists(path)
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.crash.write_synced(path, bytes)?;
        self.pending
            .borrow_mut()
            .push(Unsynced::Wrote(path.to_path_buf()));
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.crash.rename(from, to)?;
        let mut unsynced: Vec<PathBuf> = [from.parent(), to.parent()]
            .into_iter()
            .flatten()
            .map(Path::to_path_buf)
            .collect();
        unsynced.dedup();
        self.pending.borrow_mut().push(Unsynced::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            unsynced,
        });
        Ok(())
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.crash.remove_dir_all(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.crash.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.crash.sync_dir(path)?;
        // Durable now: the entries of this directory (a rename once both of
        // its directories are synced).
        self.pending.borrow_mut().retain_mut(|op| match op {
            Unsynced::Rename { unsynced, .. } => {
                unsynced.retain(|d| d != path);
                !unsynced.is_empty()
            }
            Unsynced::Wrote(p) => p.parent() != Some(path),
        });
        Ok(())
    }
}

type Content = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

fn content(store: &Store) -> Content {
    let mut out = Content::new();
    for (i, c) in store.checkpoints().iter().enumerate() {
        let tree = store.tree_at(CheckpointIndex::new(i)).unwrap();
        let files = tree
            .iter()
            .map(|(p, e)| (p.clone(), store.blob_bytes(&e.hash).unwrap()))
            .collect();
        out.insert(c.id.clone(), files);
    }
    out
}

/// A small random store: `n` checkpoints an hour apart, the policy keeping one
/// per day, a pin on the second.
fn random_store(seed: u64, n: usize) -> (tempfile::TempDir, std::path::PathBuf, i64) {
    let (tmp, root, store) = project();
    drop(store);
    fs::write(
        root.join(".tl/config.toml"),
        "snapshot_every = 3\n[retention]\nkeep-all = \"0s\"\nkeep-minutely = \"0s\"\n\
         keep-hourly = \"0s\"\nkeep-daily = \"30d\"\n",
    )
    .unwrap();
    let mut store = Store::open(&root).unwrap();
    let now = Arc::new(AtomicI64::new(START));
    let c = now.clone();
    store.set_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    let mut x = seed | 1;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        now.fetch_add(3_600 * S + (x % 600) as i64 * S, Ordering::SeqCst);
        fs::write(
            root.join(format!("f{}.txt", x % 4)),
            format!("{x}\n").repeat(20),
        )
        .unwrap();
        store.checkpoint(CommitKind::Auto, None).unwrap();
        if i == 1 {
            let last = store.last_index().unwrap();
            store.pin("second", last).unwrap();
        }
    }
    let end = now.load(Ordering::SeqCst);
    (tmp, root, end)
}

/// What a crash campaign found.
#[derive(Default)]
struct Tally {
    points: usize,
    old_kept: usize,
    new_kept: usize,
    undone: usize,
}

/// For `stores` random stores (seeded by `seed_mul`): a whole GC as the
/// reference, then a GC through `crash(at)` stopped at every step `at`, each on
/// a fresh copy, `after_crash` run on the stopped fs (a power cut's undo; it
/// returns how many changes it undid), the store reopened, and the old or the
/// new content required, `.tl/gc/` gone, fsck clean.
fn crash_every_step<F: GcFs>(
    stores: u64,
    seed_mul: u64,
    crash: impl Fn(usize) -> F,
    after_crash: impl Fn(&F) -> usize,
) -> Tally {
    let mut t = Tally::default();
    for seed in 0..stores {
        let n = 30 + (seed % 20) as usize;
        let (_tmp, root, end) = random_store(seed.wrapping_mul(seed_mul) | 1, n);
        let clock = Clock {
            now_ns: end,
            utc_offset_secs: 0,
        };
        // The template: what the store holds before, and after a whole GC.
        let store = Store::open(&root).unwrap();
        let before = content(&store);
        let pristine = tempfile::tempdir().unwrap();
        copy_dir(&root, pristine.path());
        let (store, _) = gc::run(store, clock).unwrap();
        let after = content(&store);
        drop(store);
        assert!(after.len() < before.len());
        for (id, files) in &after {
            assert_eq!(files, &before[id], "state {id} after a whole GC");
        }
        for at in 0.. {
            let _ = fs::remove_dir_all(&root);
            copy_dir(pristine.path(), &root);
            let stopped = crash(at);
            let store = Store::open(&root).unwrap();
            if gc::run_on(store, clock, &stopped).is_ok() {
                assert!(at > 0, "a GC of no step");
                break;
            }
            t.undone += after_crash(&stopped);
            t.points += 1;
            let store = Store::open(&root)
                .unwrap_or_else(|e| panic!("seed {seed}, crash at step {at}: reopen: {e:?}"));
            let now = content(&store);
            drop(store);
            if now == before {
                t.old_kept += 1;
            } else {
                assert_eq!(now, after, "seed {seed}, crash at step {at}: neither log");
                t.new_kept += 1;
            }
            assert!(!root.join(".tl/gc").exists(), "seed {seed} step {at}");
            assert_fsck_deep_is_clean(&root);
        }
    }
    t
}

fn crash_stores() -> u64 {
    std::env::var("TL_GC_CRASH_STORES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

#[test]
fn gc_stopped_at_any_step_leaves_the_old_log_or_the_new_one() {
    let stores = crash_stores();
    let t = crash_every_step(
        stores,
        0x9e37_79b9_7f4a_7c15,
        |at| CrashAt {
            at,
            seen: Cell::new(0),
        },
        |_| 0,
    );
    eprintln!(
        "GC crash points: {} on {stores} stores ({} left the old log, {} the new one), every \
         one whole",
        t.points, t.old_kept, t.new_kept
    );
    assert!(
        stores < 64 || t.points >= 1_000,
        "only {} crash points",
        t.points
    );
}

#[test]
fn gc_cut_by_a_power_loss_at_any_step_leaves_the_old_log_or_the_new_one() {
    let stores = crash_stores() / 2;
    let t = crash_every_step(
        stores,
        0x2545_f491_4f6c_dd1d,
        PowerCutAt::new,
        PowerCutAt::cut,
    );
    eprintln!(
        "GC power cuts: {} on {stores} stores ({} unsynced directory changes undone; {} left \
         the old log, {} the new one), every one whole",
        t.points, t.undone, t.old_kept, t.new_kept
    );
    assert!(
        t.undone > 0,
        "no power cut undid anything: the model is not exercised"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}
