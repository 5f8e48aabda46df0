//! A full disk under the daemon (issue 19), on a real tmpfs of a few MiB: the
//! daemon keeps running, `tl daemon status` says it is stalled and why, and
//! when space returns it resumes by itself, records a gap and captures what
//! changed meanwhile; every earlier checkpoint is kept and fsck is clean.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tl_index::store::Store;

use crate::util::{ok, tl};

/// A tmpfs mounted at a temp directory for the test's life (the test runs as
/// root, as CI does); unmounted on drop.
struct Tmpfs {
    _dir: tempfile::TempDir,
    at: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("mnt");
        fs::create_dir(&at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .output()
            .expect("mount (util-linux) runs");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root (CAP_SYS_ADMIN), as CI has: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { _dir: dir, at }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Stops the daemon of a directory on drop (before its tmpfs goes).
struct StopDaemon(PathBuf);

impl Drop for StopDaemon {
    fn drop(&mut self) {
        let _ = tl(&self.0, &["daemon", "stop"]);
    }
}

/// Fills the file system of `path` with a file until it refuses more.
fn fill(path: &Path) {
    let mut f = fs::File::create(path).unwrap();
    let chunk = vec![0x5Au8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

fn status(root: &Path) -> Value {
    serde_json::from_str(&ok(root, &["daemon", "status", "--json"])).unwrap()
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {within:?} waiting for {what}");
}

/// Random bytes (zstd cannot shrink them below a page).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn on_a_full_disk_the_daemon_stalls_says_so_and_resumes_by_itself_with_a_gap() {
    let fs_ = Tmpfs::mount("6m");
    let root = fs_.at.join("p");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a.txt"), "one\n").unwrap();
    ok(&root, &["init"]);
    ok(&root, &["daemon", "start", "--debounce-ms", "1500"]);
    let _stop = StopDaemon(root.clone());
    crate::daemon::wait_sync(&root, Duration::from_secs(30));
    let before = Store::open_read_only(&root).unwrap().checkpoints().len();

    // Inside the debounce: the edits, then the disk fills before the capture.
    fs::write(root.join("b.bin"), noise(256 * 1024, 7)).unwrap();
    fs::write(root.join("a.txt"), "two\n").unwrap();
    let filler = fs_.at.join("filler");
    fill(&filler);

    wait_for(
        "the daemon to say it is stalled",
        Duration::from_secs(30),
        || !status(&root)["stalled"].is_null(),
    );
    let st = status(&root);
    assert_eq!(st["running"], true, "{st}");
    let reason = st["stalled"]["reason"].as_str().unwrap();
    assert!(reason.contains("No space left on device"), "{st}");
    let text = ok(&root, &["daemon", "status"]);
    assert!(
        text.contains("STALLED") && text.contains("the disk is full"),
        "{text}"
    );
    assert!(text.contains("resumes by itself"), "{text}");
    // A checkpoint asked of the daemon meanwhile fails and says what to do.
    let out = tl(&root, &["checkpoint"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("disk") && err.contains("free some space"),
        "{err}"
    );
    // Nothing acknowledged was lost: what was captured before still reads.
    assert_eq!(
        Store::open_read_only(&root).unwrap().checkpoints().len(),
        before
    );

    // Space returns: the daemon resumes by itself (its retries are at most 30 s apart).
    fs::remove_file(&filler).unwrap();
    crate::daemon::wait_sync(&root, Duration::from_secs(60));
    wait_for("the stall to end", Duration::from_secs(10), || {
        status(&root)["stalled"].is_null()
    });
    let store = Store::open_read_only(&root).unwrap();
    assert!(store.checkpoints().len() > before);
    let gap = store
        .gaps()
        .iter()
        .find(|g| g.reason.contains("disk was full"))
        .unwrap_or_else(|| panic!("no disk-full gap in {:?}", store.gaps()));
    assert!(gap.from_ns <= gap.to_ns);
    let st = status(&root);
    assert!(st["gaps"].as_u64().unwrap() >= 1, "{st}");
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(log.contains("the disk was full since"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    ok(&root, &["daemon", "stop"]);
    ok(&root, &["fsck"]);
    let replayed = fs_.at.join("replayed");
    ok(
        &root,
        &[
            "replay",
            "--to",
            "now",
            "--into",
            replayed.to_str().unwrap(),
        ],
    );
    assert_eq!(fs::read(replayed.join("a.txt")).unwrap(), b"two\n");
    assert_eq!(
        fs::read(replayed.join("b.bin")).unwrap(),
        noise(256 * 1024, 7)
    );
}
