//! A GC cut short (the daemon asked to stop mid-way) and a GC that found
//! nothing: the first leaves the log exactly as it was and nothing in
//! `.tl/gc/`; the second is not due again until the log grows on.

use std::fs;
use std::path::Path;

use tl_index::gc::{self, Cancel, GcError};
use tl_index::record::CommitKind;
use tl_index::retention::Clock;
use tl_index::store::Store;

use crate::fixture_store::assert_fsck_deep_is_clean;
use crate::support::project;

/// Keeps only the newest state and the pins.
const KEEP_NOTHING: &str = "[retention]\nkeep-all = \"0s\"\nkeep-secondly = \"0s\"\n\
                            keep-minutely = \"0s\"\nkeep-hourly = \"0s\"\nkeep-daily = \"0s\"\n";

fn now() -> Clock {
    Clock {
        now_ns: Store::now_ns(),
        utc_offset_secs: 0,
    }
}

/// Every file of the log directory with its bytes.
fn log_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(root.join(".tl/wal"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A store with `states` checkpoints of a changing file beside 50 fixed ones,
/// whose policy drops all but the newest.
fn store_with_states_to_drop(states: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, root, mut store) = project();
    for i in 0..50 {
        fs::write(
            root.join(format!("fixed{i}.txt")),
            format!("{i}\n").repeat(40),
        )
        .unwrap();
    }
    for i in 0..states {
        fs::write(root.join("changing.txt"), format!("version {i}\n")).unwrap();
        store.checkpoint(CommitKind::Auto, None).unwrap();
    }
    drop(store);
    fs::write(root.join(".tl/config.toml"), KEEP_NOTHING).unwrap();
    (tmp, root)
}

#[test]
fn a_cancelled_gc_leaves_the_log_as_it_was_and_nothing_in_tl_gc() {
    let (_tmp, root) = store_with_states_to_drop(8);
    let before = log_files(&root);
    let store = Store::open(&root).unwrap();
    assert_eq!(store.checkpoints().len(), 8);
    let cancel = Cancel::new();
    cancel.cancel();
    let err = gc::run_cancellable(store, now(), &cancel)
        .err()
        .expect("a GC with states to drop and its flag set is cut");
    assert!(matches!(err, GcError::Cancelled), "{err:?}");
    assert!(err.to_string().contains("the log is unchanged"), "{err}");
    assert!(!root.join(".tl/gc").exists(), "the new log was removed");
    assert_eq!(
        log_files(&root),
        before,
        "the old log is byte for byte as it was"
    );
    assert_fsck_deep_is_clean(&root);
    // The next GC, not cut, thins as it would have.
    let store = Store::open(&root).unwrap();
    assert_eq!(store.checkpoints().len(), 8);
    let (store, report) = gc::run_cancellable(store, now(), &Cancel::new()).unwrap();
    assert_eq!(report.plan.dropped(), 7);
    assert_eq!(store.checkpoints().len(), 1);
}

#[test]
fn a_gc_that_found_nothing_to_drop_is_due_again_only_once_the_log_grew_on() {
    let (_tmp, root, mut store) = project();
    fs::write(root.join(".tl/config.toml"), "gc_every_bytes = 4000\n").unwrap();
    drop(store);
    store = Store::open(&root).unwrap();
    // 6 KB of log: due by growth, but the default policy keeps every recent state.
    for i in 0..3 {
        fs::write(root.join(format!("f{i}.bin")), random_bytes(i, 2000)).unwrap();
    }
    store.checkpoint(CommitKind::Auto, None).unwrap();
    assert!(store.gc_due(Store::now_ns(), None));
    let (mut store, report) = gc::run(store, now()).unwrap();
    assert_eq!(report.plan.dropped(), 0);
    let checked = report
        .found_nothing()
        .expect("a GC that dropped nothing says where it looked");
    assert!(
        store.gc_due(Store::now_ns(), None),
        "without the mark the same GC is due again: it recorded nothing in the log"
    );
    assert!(
        !store.gc_due(Store::now_ns() + 2 * 86_400 * 1_000_000_000, Some(checked)),
        "nothing captured since the mark: not due, however late"
    );
    // A small capture after it: not due with the mark.
    fs::write(root.join("small.txt"), b"small").unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    assert!(!store.gc_due(Store::now_ns(), Some(checked)));
    // A day later it is due again.
    let day = 86_400 * 1_000_000_000;
    assert!(store.gc_due(Store::now_ns() + day, Some(checked)));
    // As it is once the log grew by gc_every_bytes since the mark.
    fs::write(root.join("big.bin"), random_bytes(9, 5000)).unwrap();
    store.checkpoint(CommitKind::Auto, None).unwrap();
    assert!(store.gc_due(Store::now_ns(), Some(checked)));
}

/// `len` bytes zstd cannot shrink, from `seed`.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
