//! The simulated backend through the watcher: whatever the perturbation, every
//! changed path is either in a batch or covered by a rescan the batch asks for.

use std::collections::BTreeSet;
use std::time::Duration;

use tl_watch::sim::{perturb, Perturbation, SimBackend};
use tl_watch::{Batch, DebounceConfig, Event, Filter, Next, Watcher};

fn drain(w: &mut Watcher<SimBackend>) -> Vec<Batch> {
    let mut out = Vec::new();
    for _ in 0..4 {
        match w.next(Duration::from_millis(5)).unwrap() {
            Next::Batch(b) => out.push(b),
            Next::Idle => {}
        }
    }
    out.extend(w.flush().unwrap());
    out
}

fn covered(batches: &[Batch], p: &[u8]) -> bool {
    batches.iter().any(|b| {
        b.paths.contains(p)
            || b.rescans.iter().any(|d| {
                d.is_empty() || p == d.as_slice() || (p.starts_with(d) && p[d.len()] == b'/')
            })
    })
}

#[test]
fn perturbed_streams_with_overflow_notice_are_always_covered() {
    let cfg = DebounceConfig {
        quiet: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    };
    let paths: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("d{}/f{}", i % 7, i).into_bytes())
        .collect();
    for seed in 1..40u64 {
        let events: Vec<Event> = paths.iter().cloned().map(Event::Changed).collect();
        let p = Perturbation {
            seed,
            drop_one_in: if seed % 3 == 0 { 0 } else { 17 },
            overflow_on_drop: true,
            reorder_window: (seed % 9) as usize,
            ignored_one_in: 5,
        };
        let (backend, handle) = SimBackend::new();
        handle.send(perturb(events, &p));
        let mut w = Watcher::new(backend, cfg);
        let batches = drain(&mut w);
        for path in &paths {
            assert!(covered(&batches, path), "seed {seed}: {path:?} lost");
        }
        let lossy = batches.iter().any(|b| !b.lost.is_empty());
        assert_eq!(
            lossy,
            p.drop_one_in != 0,
            "seed {seed}: loss is reported iff events were dropped"
        );
        // Events for ignored paths reach the caller only if the caller does not filter:
        // the filter says they are never captured.
        let f = Filter::none(std::path::Path::new("/nonexistent"));
        for b in &batches {
            for path in &b.paths {
                if path.starts_with(b".git") || path.starts_with(b".tl") {
                    assert!(f.ignored(path, false));
                }
            }
        }
    }
}

#[test]
fn silent_drops_are_only_repaired_by_a_rescan() {
    let (backend, handle) = SimBackend::new();
    let events: Vec<Event> = (0..100)
        .map(|i| Event::Changed(format!("f{i}").into_bytes()))
        .collect();
    let p = Perturbation {
        seed: 7,
        drop_one_in: 4,
        overflow_on_drop: false,
        reorder_window: 0,
        ignored_one_in: 0,
    };
    handle.send(perturb(events, &p));
    let mut w = Watcher::new(backend, DebounceConfig::default());
    let mut batches = drain(&mut w);
    let missed = (0..100)
        .filter(|i| !covered(&batches, format!("f{i}").as_bytes()))
        .count();
    assert!(missed > 0, "some events were dropped silently");
    w.request_rescan(Vec::new(), "start-up reconciliation", false);
    batches.extend(w.flush().unwrap());
    let all: BTreeSet<_> = (0..100).map(|i| format!("f{i}").into_bytes()).collect();
    assert!(all.iter().all(|p| covered(&batches, p)));
}

#[test]
fn a_watcher_is_idle_only_once_a_flush_has_taken_every_event_the_backend_had() {
    let (backend, handle) = SimBackend::new();
    let mut w = Watcher::new(backend, DebounceConfig::default());
    assert!(w.is_idle());
    // An event still in the backend's queue is not seen until a flush drains it.
    handle.send([Event::Changed(b"a.txt".to_vec())]);
    w.drain().unwrap();
    assert!(!w.is_idle(), "an event waits in the debouncer");
    assert!(w.flush().unwrap().is_some());
    assert!(w.is_idle());
    w.request_rescan(b"dir".to_vec(), "changed while being read", false);
    assert!(!w.is_idle(), "a queued rescan is pending work");
    assert!(w.flush().unwrap().is_some());
    assert!(w.is_idle());
}
