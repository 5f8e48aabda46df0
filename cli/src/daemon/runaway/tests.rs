//! The runaway guard's accounting with a made-up clock: which directory is held,
//! when, and what the budget forgets.

use std::time::{Duration, Instant};

use super::*;

const BUDGET: Budget = Budget {
    files_per_minute: 100,
    bytes_per_minute: 1 << 20,
};

struct Clock {
    origin: Instant,
}

impl Clock {
    fn at(&self, secs: f64) -> Now {
        Now {
            at: self.origin + Duration::from_secs_f64(secs),
            ns: (secs * 1e9) as i64,
        }
    }
}

fn files(dir: &str, from: usize, n: usize, bytes: u64) -> Vec<Written> {
    (from..from + n)
        .map(|i| Written {
            path: format!("{dir}/f{i}").into_bytes(),
            bytes,
        })
        .collect()
}

fn held(r: &Runaway) -> Vec<String> {
    r.holds()
        .map(|h| String::from_utf8(h.dir.clone()).unwrap())
        .collect()
}

fn setup() -> (Runaway, Clock) {
    let origin = Instant::now();
    (Runaway::new(BUDGET, origin), Clock { origin })
}

#[test]
fn a_directory_under_budget_is_never_held() {
    let (mut r, c) = setup();
    // 100 files a minute, every minute, for ten minutes: at the budget, not over.
    for minute in 0..10 {
        for i in 0..10 {
            let t = c.at(f64::from(minute * 60 + i * 6));
            assert!(r
                .record(&files("src", i as usize * 10, 10, 10), t)
                .is_empty());
        }
    }
    assert!(r.is_empty());
}

#[test]
fn a_directory_over_the_file_budget_is_held_by_the_batch_that_crossed_it() {
    let (mut r, c) = setup();
    assert!(r.record(&files("gen", 0, 100, 1), c.at(0.0)).is_empty());
    let new = r.record(&files("gen", 100, 1, 1), c.at(1.0));
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].dir, b"gen");
    assert_eq!(
        new[0].rate,
        Rate {
            files: 101,
            bytes: 101
        }
    );
    assert_eq!(new[0].since_ns, 1_000_000_000);
    assert_eq!(r.held_dir_of(b"gen/f7"), Some(&b"gen"[..]));
    assert_eq!(r.held_dir_of(b"gen"), Some(&b"gen"[..]));
    assert_eq!(r.held_dir_of(b"generated/f7"), None);
    assert_eq!(r.held_dir_of(b"src/a"), None);
}

#[test]
fn a_directory_over_the_byte_budget_is_held() {
    let (mut r, c) = setup();
    let big = [Written {
        path: b"data/disk.img".to_vec(),
        bytes: (1 << 20) + 1,
    }];
    assert_eq!(held(&r), Vec::<String>::new());
    assert_eq!(r.record(&big, c.at(0.0)).len(), 1);
    assert_eq!(held(&r), ["data"]);
}

#[test]
fn the_deepest_directory_over_budget_is_held_not_its_parent() {
    let (mut r, c) = setup();
    let mut batch = files("gen/out", 0, 200, 1);
    batch.extend(files("gen", 0, 3, 1)); // hand-edited beside the generator
    r.record(&batch, c.at(0.0));
    assert_eq!(held(&r), ["gen/out"]);
    // The parent's counts lost gen/out's burst: its own edits go on.
    assert!(r.record(&files("gen", 3, 50, 1), c.at(1.0)).is_empty());
    assert_eq!(held(&r), ["gen/out"]);
}

#[test]
fn writes_spread_over_many_subdirectories_hold_their_common_parent() {
    let (mut r, c) = setup();
    let mut batch = Vec::new();
    for sub in 0..20 {
        batch.extend(files(&format!("gen/out/{sub}"), 0, 10, 1));
    }
    r.record(&batch, c.at(0.0));
    assert_eq!(held(&r), ["gen/out"]);
}

#[test]
fn two_runaway_directories_are_both_held() {
    let (mut r, c) = setup();
    let mut batch = files("a/x", 0, 150, 1);
    batch.extend(files("b", 0, 150, 1));
    let new = r.record(&batch, c.at(0.0));
    // Deepest first.
    assert_eq!(
        new.iter().map(|h| h.dir.clone()).collect::<Vec<_>>(),
        [b"a/x".to_vec(), b"b".to_vec()]
    );
    assert_eq!(held(&r), ["a/x", "b"]);
}

#[test]
fn files_in_the_root_itself_hold_nothing() {
    let (mut r, c) = setup();
    let batch: Vec<Written> = (0..1000)
        .map(|i| Written {
            path: format!("f{i}").into_bytes(),
            bytes: 1 << 20,
        })
        .collect();
    assert!(r.record(&batch, c.at(0.0)).is_empty());
    assert!(r.is_empty());
}

#[test]
fn counts_older_than_the_window_are_forgotten() {
    let (mut r, c) = setup();
    assert!(r.record(&files("gen", 0, 90, 1), c.at(0.0)).is_empty());
    // 61 s later the first 90 left the window: 90 more is still under budget.
    assert!(r.record(&files("gen", 90, 90, 1), c.at(61.0)).is_empty());
    // Within the same minute as the second burst, 11 more cross it.
    assert_eq!(r.record(&files("gen", 180, 11, 1), c.at(100.0)).len(), 1);
}

#[test]
fn a_held_directory_stays_held_when_it_goes_quiet() {
    let (mut r, c) = setup();
    r.record(&files("gen", 0, 101, 1), c.at(0.0));
    for t in 1..20 {
        r.record(&files("src", t, 1, 1), c.at(f64::from(t as u32) * 60.0));
    }
    assert_eq!(held(&r), ["gen"]);
}

#[test]
fn a_released_directory_starts_with_a_fresh_budget() {
    let (mut r, c) = setup();
    r.record(&files("gen", 0, 101, 1), c.at(0.0));
    r.note_held_events(b"gen", 7);
    let hold = r.release(b"gen").unwrap();
    assert_eq!(hold.events_held, 7);
    assert!(r.release(b"gen").is_none());
    // Same minute: the burst before the hold does not count again.
    assert!(r.record(&files("gen", 0, 100, 1), c.at(2.0)).is_empty());
    assert_eq!(r.record(&files("gen", 100, 1, 1), c.at(3.0)).len(), 1);
}

#[test]
fn the_rate_reads_as_files_and_bytes() {
    let text = rate_text(Rate {
        files: 12_345,
        bytes: 3 * 1024 * 1024 + 512 * 1024,
    });
    assert_eq!(text, "12,345 files and 3.5 MiB in the minute before");
    assert_eq!(
        rate_text(Rate {
            files: 7,
            bytes: 10
        }),
        "7 files and 10 bytes in the minute before"
    );
}
