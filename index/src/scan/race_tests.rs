//! Goal: a scan racing a writer or an attacker stays coherent: a file that never
//! holds still is left out with a warning naming it and none of its content handed
//! over, and a directory swapped for a symlink never leads the scan out of the root.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::types::{Entry, Mode};

/// Runs `step` on a thread until the returned flag is set or `limit` passes.
fn race(
    limit: Duration,
    mut step: impl FnMut() + Send + 'static,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let end = Instant::now() + limit;
        let mut n = 0;
        while !flag.load(Ordering::Relaxed) && Instant::now() < end {
            step();
            n += 1;
        }
        n
    });
    (stop, handle)
}

/// Scans `root` from scratch; returns the outcome and the parts handed over.
fn scan_collect(root: &Path) -> (ScanOutcome, Vec<NewRecord>) {
    let parts = Mutex::new(Vec::new());
    let outcome = scan::<()>(
        root,
        &StatCache::new(),
        &ScanOptions::default(),
        &|_: &BlobHash| false,
        &|part| {
            parts.lock().unwrap().push(part);
            Ok(())
        },
    )
    .unwrap();
    (outcome, parts.into_inner().unwrap())
}

#[test]
fn a_file_written_while_read_is_left_out_and_no_entry_or_chunk_list_names_a_torn_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("quiet"), b"quiet").unwrap();
    let big = root.join("big.log");
    fs::write(&big, vec![b'x'; 3 * PART_RAW_MAX + 10]).unwrap();
    let (stop, handle) = race(Duration::from_secs(60), move || {
        let mut f = OpenOptions::new().append(true).open(&big).unwrap();
        f.write_all(b"more\n").unwrap();
        std::thread::sleep(Duration::from_micros(500));
    });
    let (outcome, parts) = scan_collect(root);
    stop.store(true, Ordering::Relaxed);
    assert!(handle.join().unwrap() > 0);
    let warning = outcome
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::ChangedWhileRead)
        .expect("the writer never overlapped a read");
    assert_eq!(warning.path, b"big.log");
    assert!(warning
        .to_string()
        .starts_with("big.log: skipped: changed while being read"));
    assert!(!outcome.tree.contains_key(b"big.log".as_slice()));
    // The big file's chunks read before it moved may have been handed over (a
    // streamed read cannot take them back; GC drops them), but no chunk list:
    // nothing names the content of a torn read.
    let referenced: HashSet<BlobHash> = outcome.tree.values().map(|e| e.hash).collect();
    for record in &parts {
        match record {
            NewRecord::Chunks(list) => panic!("a chunk list of a torn read: {:?}", list.hash),
            NewRecord::Part(p) if p.raw_len <= 5 => {
                assert!(referenced.contains(&p.hash), "the quiet file's content")
            }
            NewRecord::Part(p) => assert!(
                p.raw_len <= u64::from(crate::record::CHUNK_PARAMS_V1.max_size()),
                "only chunks may be left unreferenced"
            ),
        }
    }
}

#[test]
fn keep_skipped_keeps_the_previous_version_of_what_is_still_there() {
    let entry = |n: u8| Entry {
        hash: BlobHash::of(&[n]),
        mode: Mode::File,
        size: 1,
        mtime_ns: 0,
    };
    let previous: Tree = [
        (b"big".to_vec(), entry(1)),
        (b"dir/a".to_vec(), entry(2)),
        (b"dir/b".to_vec(), entry(3)),
        (b"dir2/c".to_vec(), entry(4)),
        (b"fifo".to_vec(), entry(5)),
    ]
    .into_iter()
    .collect();
    let mut tree: Tree = [(b"dir2/c".to_vec(), entry(9))].into_iter().collect();
    let warning = |path: &[u8], kind| ScanWarning {
        path: crate::repopath::RepoPath::from(path),
        kind,
        message: "skipped".into(),
    };
    let mut warnings = vec![
        warning(b"big", WarningKind::TooLarge),
        warning(b"dir", WarningKind::Unreadable),
        warning(b"fifo", WarningKind::Special),
        warning(b"new", WarningKind::ChangedWhileRead),
    ];
    keep_skipped(&previous, &mut tree, &mut warnings);
    let expected: Tree = [
        (b"big".to_vec(), entry(1)),
        (b"dir/a".to_vec(), entry(2)),
        (b"dir/b".to_vec(), entry(3)),
        (b"dir2/c".to_vec(), entry(9)),
    ]
    .into_iter()
    .collect();
    assert_eq!(tree, expected);
    assert!(warnings[0]
        .message
        .ends_with("the version of the last checkpoint is kept"));
    assert!(warnings[1]
        .message
        .ends_with("the version of the last checkpoint is kept"));
    assert_eq!(warnings[2].message, "skipped");
    assert!(warnings[3]
        .message
        .ends_with("not captured (no earlier version to keep)"));
}

/// `base/project/d/s` with 50 files, and `base/outside` with files of the same
/// names; returns the hashes of the outside contents.
fn swap_tree(base: &Path) -> HashSet<BlobHash> {
    let (root, outside) = (base.join("project"), base.join("outside"));
    fs::create_dir_all(root.join("d/s")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let mut secrets = HashSet::new();
    for i in 0..50 {
        fs::write(root.join(format!("d/s/f{i}")), format!("inside {i}")).unwrap();
        let content = format!("outside {i}");
        secrets.insert(BlobHash::of(content.as_bytes()));
        fs::write(outside.join(format!("f{i}")), content).unwrap();
    }
    secrets
}

fn swapping(base: &Path) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let d = base.join("project/d");
    let outside = base.join("outside");
    race(Duration::from_secs(60), move || {
        let (s, real) = (d.join("s"), d.join("s.real"));
        fs::rename(&s, &real).unwrap();
        std::os::unix::fs::symlink(&outside, &s).unwrap();
        std::thread::sleep(Duration::from_micros(300));
        fs::remove_file(&s).unwrap();
        fs::rename(&real, &s).unwrap();
    })
}

#[test]
fn full_and_targeted_scans_never_read_through_a_directory_swapped_for_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let secrets = swap_tree(base);
    let root = base.join("project");
    let (stop, handle) = swapping(base);
    let mut rules = IgnoreRules::new(&root);
    for _ in 0..40 {
        let (outcome, parts) = scan_collect(&root);
        for scope in [&b"d/s"[..], b"d/s/f1"] {
            let partial = scan_paths::<()>(
                &root,
                vec![scope.to_vec()],
                &mut rules,
                &StatCache::new(),
                &ScanOptions::default(),
                &|_: &BlobHash| false,
                &|part| {
                    assert!(
                        !secrets.contains(&part.hash()),
                        "outside content handed over"
                    );
                    Ok(())
                },
            )
            .unwrap();
            for e in partial.tree.values() {
                assert!(!secrets.contains(&e.hash), "an entry holds outside content");
            }
        }
        for e in outcome.tree.values() {
            assert!(!secrets.contains(&e.hash), "an entry holds outside content");
        }
        for part in parts {
            assert!(
                !secrets.contains(&part.hash()),
                "outside content handed over"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(handle.join().unwrap() > 0, "the swapping never ran");
}
