//! Switching timelines under a running daemon: the switch borrows the log,
//! the files it writes are no edit on either timeline, and what the user does
//! after it lands on the timeline switched to.

use std::fs;
use std::time::{Duration, Instant};

use tl_index::record::{CommitKind, TimelineId};
use tl_index::store::Store;

use crate::daemon::{daemon_status, wait_sync, write, Daemon};
use crate::util::ok;

/// Waits until the daemon has the log back and the log holds the files.
fn settle(root: &std::path::Path) {
    let end = Instant::now() + Duration::from_secs(20);
    while daemon_status(root)["paused"] != false {
        assert!(Instant::now() < end, "the daemon stayed paused");
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_sync(root, Duration::from_secs(20));
}

#[test]
fn a_switch_under_the_daemon_records_no_edits_and_later_edits_land_on_the_new_timeline() {
    let d = Daemon::start(20);
    let root = d.root();
    write(&root, "a.txt", "main\n");
    write(&root, "src/lib.rs", "fn main() {}\n");
    wait_sync(&root, Duration::from_secs(20));
    ok(&root, &["timeline", "create", "exp"]);
    settle(&root);
    write(&root, "a.txt", "exp\n");
    write(&root, "exp-only.txt", "x\n");
    wait_sync(&root, Duration::from_secs(20));

    ok(&root, &["timeline", "switch", "main"]);
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "main\n");
    assert!(!root.join("exp-only.txt").exists());
    settle(&root);
    // Give the watcher time to see the switch's own writes: they add nothing.
    std::thread::sleep(Duration::from_millis(500));
    let store = Store::open_read_only(&root).unwrap();
    let last = store.checkpoints().last().unwrap().clone();
    assert_eq!(last.kind, CommitKind::Switch, "{last:?}");
    assert_eq!(last.timeline, TimelineId::MAIN);
    let exp = store.timeline_named("exp").unwrap().id;
    let exp_head = store.catalog().unwrap().timeline_head(exp).unwrap();
    let exp_tree = store.tree_at(exp_head).unwrap();
    assert_eq!(
        store
            .blob_bytes(&exp_tree[b"a.txt".as_slice()].hash)
            .unwrap(),
        b"exp\n"
    );
    assert!(exp_tree.contains_key(b"exp-only.txt".as_slice()));
    drop(store);

    // An edit now is main's.
    write(&root, "after.txt", "after the switch\n");
    wait_sync(&root, Duration::from_secs(20));
    let store = Store::open_read_only(&root).unwrap();
    let last = store.checkpoints().last().unwrap();
    assert_eq!(last.kind, CommitKind::Auto);
    assert_eq!(last.timeline, TimelineId::MAIN);
    let exp_tree = store
        .tree_at(store.catalog().unwrap().timeline_head(exp).unwrap())
        .unwrap();
    assert!(
        !exp_tree.contains_key(b"after.txt".as_slice()),
        "exp is unchanged"
    );
    drop(store);

    // And back to exp, under the same daemon.
    ok(&root, &["timeline", "switch", "exp"]);
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "exp\n");
    assert!(!root.join("after.txt").exists());
    settle(&root);
    write(&root, "on-exp-again.txt", "y\n");
    wait_sync(&root, Duration::from_secs(20));
    let store = Store::open_read_only(&root).unwrap();
    assert_eq!(store.checkpoints().last().unwrap().timeline, exp);
}
