//! A skipped file is reported, never silently (issue 13): `tl status` lists every
//! path its scan skips, once, with the reason and the way out; the daemon keeps
//! the set of paths its captures currently skip, logs each once when it enters,
//! and `tl daemon status` lists them until they are captured or gone. The
//! default `max_file_bytes` is 1 GiB.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tl_index::store::Store;
use tl_index::types::BlobHash;

use crate::util::{json, ok, set_config, tl};

fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    ok(&root, &["init"]);
    fs::write(root.join("a.txt"), "a").unwrap();
    (tmp, root)
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn tl_status_lists_each_skipped_path_once_with_its_reason_and_way_out() {
    let (_tmp, root) = project();
    set_config(&root, "max_file_bytes", "100");
    fs::create_dir(root.join("data")).unwrap();
    fs::write(root.join("data/big.bin"), vec![b'x'; 1000]).unwrap();
    mkfifo(&root.join("pipe"));
    ok(&root, &["checkpoint"]);
    let out = tl(&root, &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("2 paths are skipped, not captured:\n  data/big.bin: skipped: 1000 bytes is more than max_file_bytes = 100"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    way out: raise max_file_bytes in .tl/config.toml to capture it, or add it to \
             .tlignore"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  pipe: skipped: not a regular file"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("data/big.bin").count(), 1, "{stdout}");
    assert!(
        !stderr.contains("big.bin"),
        "listed once, not warned again: {stderr}"
    );
    let v = json(&root, &["status", "--json"]);
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{v}");
    assert_eq!(skipped[0]["path"], "data/big.bin");
    assert_eq!(skipped[0]["kind"], "too_large");
    assert_eq!(skipped[1]["path"], "pipe");
    assert_eq!(skipped[1]["kind"], "special");
    assert!(skipped[0]["way_out"]
        .as_str()
        .unwrap()
        .contains("max_file_bytes"));
    // Once it fits, it is captured and no longer listed.
    set_config(&root, "max_file_bytes", "1000");
    ok(&root, &["checkpoint"]);
    let v = json(&root, &["status", "--json"]);
    assert_eq!(v["skipped"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn the_default_max_file_bytes_is_1_gib_and_a_file_over_100_mib_is_captured() {
    let (_tmp, root) = project();
    let config = fs::read_to_string(root.join(".tl/config.toml")).unwrap();
    assert!(
        config.contains("\nmax_file_bytes = 1073741824\n"),
        "{config}"
    );
    // Sparse: 101 MiB of zeros, over the old default of 100 MiB.
    let f = fs::File::create(root.join("image.raw")).unwrap();
    f.set_len(101 << 20).unwrap();
    drop(f);
    let out = tl(&root, &["checkpoint"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("skipped"));
    let store = Store::open_read_only(&root).unwrap();
    assert_eq!(store.head()[b"image.raw".as_slice()].size, 101 << 20);
}

/// Waits until `rel` holds `content` in the durable log.
pub(crate) fn wait_captured(root: &Path, rel: &str, content: &[u8]) {
    let hash = BlobHash::of(content);
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if let Ok(store) = Store::open_read_only(root) {
            if store.head().get(rel.as_bytes()).map(|e| e.hash) == Some(hash) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{rel} never captured");
}

fn daemon_skipped(root: &Path) -> Vec<(String, String)> {
    let v = json(root, &["daemon", "status", "--json"]);
    v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_daemon_lists_the_paths_it_skips_logs_each_once_and_forgets_them_once_captured_or_gone() {
    let (_tmp, root) = project();
    set_config(&root, "max_file_bytes", "100");
    fs::write(root.join("big.bin"), vec![b'x'; 1000]).unwrap();
    ok(&root, &["daemon", "start", "--debounce-ms", "50"]);
    wait_captured(&root, "a.txt", b"a");
    assert_eq!(
        daemon_skipped(&root),
        [("big.bin".to_string(), "too_large".to_string())]
    );
    let text = ok(&root, &["daemon", "status"]);
    assert!(
        text.contains("  1 path is skipped, not captured:\n    big.bin: skipped: 1000 bytes"),
        "{text}"
    );
    assert!(
        text.contains("      way out: raise max_file_bytes"),
        "{text}"
    );
    // Written again and again while too large: still skipped, not logged again.
    for i in 0..3 {
        fs::write(root.join("big.bin"), vec![b'y'; 1000 + i]).unwrap();
        let marker = format!("m{i}");
        fs::write(root.join("marker"), &marker).unwrap();
        wait_captured(&root, "marker", marker.as_bytes());
    }
    // A second one enters, then is deleted: it leaves.
    fs::write(root.join("big2.bin"), vec![b'z'; 500]).unwrap();
    fs::write(root.join("marker"), "m-big2").unwrap();
    wait_captured(&root, "marker", b"m-big2");
    assert_eq!(daemon_skipped(&root).len(), 2);
    fs::remove_file(root.join("big2.bin")).unwrap();
    fs::write(root.join("marker"), "m-gone").unwrap();
    wait_captured(&root, "marker", b"m-gone");
    assert_eq!(
        daemon_skipped(&root),
        [("big.bin".to_string(), "too_large".to_string())]
    );
    // Small enough again: captured, and no longer skipped.
    fs::write(root.join("big.bin"), "small").unwrap();
    wait_captured(&root, "big.bin", b"small");
    assert!(daemon_skipped(&root).is_empty());
    ok(&root, &["daemon", "stop"]);
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert_eq!(log.matches("big.bin: skipped").count(), 1, "{log}");
    assert_eq!(log.matches("big2.bin: skipped").count(), 1, "{log}");
}
