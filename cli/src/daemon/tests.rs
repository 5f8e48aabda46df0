//! The live loop with the simulated backend: whatever the stream of events
//! (dropped, reordered, for ignored paths, with or without an overflow notice),
//! the captured state converges to the disk after the rescan, and a gap is
//! recorded exactly when events were reported lost.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tl_index::store::Store;
use tl_watch::sim::{perturb, Perturbation, SimBackend, SimHandle};
use tl_watch::{DebounceConfig, Event};

use super::Live;

fn live(root: &Path) -> (Live<SimBackend>, SimHandle) {
    let store = Store::init(root).unwrap();
    let (backend, handle) = SimBackend::new();
    let cfg = DebounceConfig {
        quiet: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    };
    let l = Live::new(store, backend, cfg, None, Arc::new(AtomicBool::new(false)));
    (l, handle)
}

/// Applies a deterministic mix of writes, deletes and renames; returns the events
/// a perfect watcher would report.
fn churn(root: &Path, seed: u64, n: usize) -> Vec<Event> {
    let mut x = seed.max(1);
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut events = Vec::new();
    for i in 0..n {
        let dir = format!("d{}", rnd() % 4);
        let name = format!("{dir}/f{}", rnd() % 12);
        let p = root.join(&name);
        match rnd() % 5 {
            0 if p.exists() => {
                fs::remove_file(&p).unwrap();
            }
            1 if p.exists() => {
                let to = format!("d{}/r{}", rnd() % 4, rnd() % 12);
                fs::create_dir_all(root.join(&to).parent().unwrap()).unwrap();
                fs::rename(&p, root.join(&to)).unwrap();
                events.push(Event::Changed(to.into_bytes()));
            }
            _ => {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(&p, format!("{seed} {i}")).unwrap();
                events.push(Event::Changed(dir.clone().into_bytes()));
            }
        }
        events.push(Event::Changed(name.into_bytes()));
    }
    events
}

fn converged(l: &Live<SimBackend>) -> bool {
    l.store().head() == &l.store().scan_worktree().unwrap()
}

#[test]
fn converges_after_rescan_whatever_the_perturbation() {
    for seed in 1..9u64 {
        let d = tempfile::tempdir().unwrap();
        let (mut l, h) = live(d.path());
        l.catch_up(None).unwrap();
        let overflow = seed % 2 == 0;
        let p = Perturbation {
            seed,
            drop_one_in: 3,
            overflow_on_drop: overflow,
            reorder_window: 8,
            ignored_one_in: 4,
        };
        let events = churn(d.path(), seed, 60);
        h.send(perturb(events, &p));
        l.flush().unwrap();
        let gaps = l.store().catalog().gaps.len();
        assert_eq!(
            gaps,
            usize::from(overflow),
            "seed {seed}: a gap iff loss was reported"
        );
        if !overflow {
            // Silent drops: only a rescan (as at start-up) repairs them.
            l.watcher_mut()
                .request_rescan(Vec::new(), "reconciliation", false);
            l.flush().unwrap();
        }
        assert!(
            converged(&l),
            "seed {seed}: captured state differs from disk"
        );
    }
}

#[test]
fn events_for_ignored_or_unchanged_paths_commit_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (mut l, h) = live(d.path());
    fs::write(d.path().join("a"), "1").unwrap();
    l.catch_up(None).unwrap();
    let n = l.store().checkpoints().len();
    h.send([
        Event::Changed(b".git/index".to_vec()),
        Event::Changed(b"a".to_vec()),
    ]);
    l.flush().unwrap();
    assert_eq!(l.store().checkpoints().len(), n);
    fs::write(d.path().join("a"), "2").unwrap();
    h.send([Event::Changed(b"a".to_vec())]);
    l.flush().unwrap();
    assert_eq!(l.store().checkpoints().len(), n + 1);
    assert!(converged(&l));
}
