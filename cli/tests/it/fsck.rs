//! `tl fsck` and `tl recover` through the binary: exit codes, the report, the
//! dry run that changes nothing, idempotence, the one-line notice of commands on a
//! damaged store, and a real full disk (ENOSPC) and read-only file system.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::util::{ok, tl};
use serde_json::Value;

fn project(n: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("a.txt"), "one\n").unwrap();
    ok(d.path(), &["init"]);
    for i in 0..n {
        fs::write(d.path().join(format!("f{i}")), format!("{i}\n")).unwrap();
        ok(d.path(), &["checkpoint"]);
    }
    d
}

fn tree_of(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(".tl")];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            out.extend_from_slice(p.to_string_lossy().as_bytes());
            if p.is_dir() {
                stack.push(p);
            } else {
                out.extend_from_slice(&fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn fsck_is_clean_on_a_fresh_store_and_json_says_so() {
    let d = project(3);
    let out = ok(d.path(), &["fsck"]);
    assert!(out.contains("OK"), "{out}");
    let v: Value = serde_json::from_str(&ok(d.path(), &["fsck", "--deep", "--json"])).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["checkpoints"], 3);
    assert_eq!(v["blobs_rehashed"], v["blobs"]);
}

#[test]
fn a_torn_tail_fails_fsck_recover_dry_run_changes_nothing_and_recover_is_idempotent() {
    let d = project(3);
    let seg = d.path().join(".tl/wal/00000000000000000000.seg");
    let mut b = fs::read(&seg).unwrap();
    b.extend_from_slice(&[0xAB; 40]);
    fs::write(&seg, &b).unwrap();
    let out = tl(d.path(), &["fsck"]);
    assert_eq!(out.status.code(), Some(3));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("torn_tail"), "{report}");
    assert!(report.contains("repair: tl recover"), "{report}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");

    let before = tree_of(d.path());
    let dry = ok(d.path(), &["recover", "--dry-run"]);
    assert!(dry.contains("quarantine"), "{dry}");
    assert_eq!(tree_of(d.path()), before, "--dry-run changed the store");

    let first = ok(d.path(), &["recover"]);
    assert!(first.contains("Cut a torn tail of 40 bytes"), "{first}");
    ok(d.path(), &["fsck"]);
    let q: Vec<_> = fs::read_dir(d.path().join(".tl/quarantine"))
        .unwrap()
        .collect();
    assert_eq!(q.len(), 1);
    let second = ok(d.path(), &["recover"]);
    assert!(second.contains("intact"), "{second}");
    let v: Value = serde_json::from_str(&ok(d.path(), &["log", "--json"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
}

#[test]
fn damage_inside_the_log_is_reported_by_every_command_in_one_line_and_by_recover() {
    let d = project(4);
    let seg = d.path().join(".tl/wal/00000000000000000000.seg");
    let log: Value = serde_json::from_str(&ok(d.path(), &["log", "--json"])).unwrap();
    // Checkpoints newest first: damage the second one's batch.
    let c = &log[2];
    let (lsn, end) = (c["lsn"].as_u64().unwrap(), c["end_lsn"].as_u64().unwrap());
    let mut b = fs::read(&seg).unwrap();
    b[(end - 8 + 64) as usize] ^= 0x40;
    fs::write(&seg, &b).unwrap();

    // Commands meet damage when they fold the log past the catalog cache (here:
    // with no cache to start from) or read content from it; writers and readers
    // both say so in one line and keep working on what is intact. (Damage under a
    // valid cache, in a cleanly closed log, is found by `tl fsck` only.)
    fs::write(d.path().join("f0"), "changed\n").unwrap();
    for (args, drop_cache) in [(&["checkpoint"][..], true), (&["log"][..], true)] {
        if drop_cache {
            // The cache is written lazily: it may not exist.
            let _ = fs::remove_file(d.path().join(".tl/index/catalog"));
        }
        let out = tl(d.path(), args);
        assert!(out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("tl fsck") && err.contains("tl recover"),
            "{err}"
        );
    }

    let v: Value =
        serde_json::from_str(&String::from_utf8(tl(d.path(), &["fsck", "--json"]).stdout).unwrap())
            .unwrap();
    assert_eq!(v["ok"], false);
    let p = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "damaged_frame")
        .unwrap();
    let at = p["lsn"].as_u64().unwrap();
    assert!(at >= lsn && at < end);
    assert_eq!(p["checkpoints_lost"], 1);
    assert_eq!(p["after"]["id"], log[3]["id"]);
    assert_eq!(p["before"]["id"], log[1]["id"]);

    let before = fs::read(&seg).unwrap();
    let first = ok(d.path(), &["recover"]);
    assert!(first.contains("Lost"), "{first}");
    assert!(first.contains("lost: 1 checkpoint(s)"), "{first}");
    assert_eq!(
        &fs::read(&seg).unwrap()[..before.len()],
        &before[..],
        "recover must not rewrite acknowledged bytes"
    );
    let second = ok(d.path(), &["recover"]);
    assert_eq!(
        first.lines().filter(|l| l.contains("Lost")).count(),
        second.lines().filter(|l| l.contains("Lost")).count()
    );
}

#[test]
fn damaged_derived_files_are_quarantined_and_rebuilt_by_recover() {
    let d = project(3);
    ok(d.path(), &["compact"]);
    let before = ok(d.path(), &["log", "--json"]);
    let snap = fs::read_dir(d.path().join(".tl/snapshots"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = fs::read(&snap).unwrap();
    let n = b.len();
    b[n - 5] ^= 1;
    fs::write(&snap, b).unwrap();
    fs::write(d.path().join(".tl/index/catalog"), b"zeroed").unwrap();
    let out = tl(d.path(), &["fsck"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("tl recover --rebuild"), "{err}");
    let r = ok(d.path(), &["recover"]);
    assert!(r.contains("moved to"), "{r}");
    ok(d.path(), &["fsck", "--deep"]);
    assert_eq!(ok(d.path(), &["log", "--json"]), before);
    ok(d.path(), &["recover", "--rebuild"]);
    ok(d.path(), &["fsck"]);
}

/// Runs `script` as root of a private mount namespace. Fails, naming what is
/// missing, when this machine does not allow it (CI runs as root, as
/// `daemon_disk_full.rs`'s tmpfs tests need too): never a silent skip.
fn in_mount_namespace(script: &str) -> Output {
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs unshare (Debian: apt-get install util-linux): {e}")
        });
    assert!(
        out.status.code() != Some(77),
        "this test mounts a 1 MiB tmpfs in a private mount namespace and needs root \
         (CAP_SYS_ADMIN), as CI has; mount said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "this test needs `unshare -rm` (user and mount namespaces) allowed, as CI has; \
         unshare said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_full_disk_and_a_read_only_fs_during_capture_give_a_clear_error_and_a_valid_log() {
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let script = format!(
        r#"
TL="{tl}"; M="{mnt}"
mount -t tmpfs -o size=1m tmpfs "$M" || exit 77
cd "$M" && mkdir p && cd p && echo small > a
$TL init >/dev/null || exit 10
$TL checkpoint >/dev/null || exit 11
head -c 700000 /dev/urandom > big || exit 12
echo "== full"; $TL checkpoint; echo "rc=$?"
echo "== log"; $TL log --json
rm big
echo "== recover"; $TL recover; echo "rc=$?"
echo "== fsck"; $TL fsck; echo "rc=$?"
echo "== log2"; $TL log --json
mount -o remount,ro "$M" || exit 13
echo small2 > a 2>/dev/null
echo "== ro"; $TL checkpoint; echo "rc=$?"
echo "== rolog"; $TL log --json; echo "rc=$?"
echo "== end"
"#,
        tl = env!("CARGO_BIN_EXE_tl"),
        mnt = mnt.display()
    );
    let out = in_mount_namespace(&script);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let out_section = |name: &str| -> String {
        let s = stdout.split(&format!("== {name}\n")).nth(1).unwrap_or("");
        s.split("\n== ").next().unwrap_or("").to_string()
    };
    assert!(out_section("full").contains("rc=1"), "{text}");
    assert!(
        text.contains("No space left on device"),
        "the error must name the cause: {text}"
    );
    let count = |s: &str| -> usize {
        let line = s.lines().find(|l| l.starts_with('[')).unwrap_or("[]");
        serde_json::from_str::<Value>(line)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        count(&out_section("log")),
        1,
        "no half batch counted: {text}"
    );
    assert!(out_section("recover").contains("rc=0"), "{text}");
    assert!(out_section("fsck").contains("rc=0"), "{text}");
    assert_eq!(count(&out_section("log2")), 1, "{text}");
    assert!(out_section("ro").contains("rc=1"), "{text}");
    assert!(text.contains("LOCK: Read-only file system"), "{text}");
    assert_eq!(count(&out_section("rolog")), 1, "{text}");
}

#[test]
fn fsck_under_a_running_daemon_borrows_the_log_judges_its_tail_and_gives_it_back() {
    let d = crate::daemon::Daemon::start(5_000);
    let root = d.root();
    crate::daemon::write(&root, "a.txt", "one\n");
    crate::daemon::wait_sync(&root, std::time::Duration::from_secs(20));
    // Inside the daemon's 5 s debounce: fsck has it capture this first.
    crate::daemon::write(&root, "b.txt", "pending\n");
    let v: Value = serde_json::from_str(&ok(&root, &["fsck", "--json"])).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["writer_running"], false, "the tail was not judged: {v}");
    assert!(
        crate::daemon::in_sync(&root),
        "the pending edit was not captured"
    );
    let text = ok(&root, &["fsck"]);
    assert!(!text.contains("not judged"), "{text}");
    // The log is given back: the daemon captures again.
    crate::daemon::write(&root, "c.txt", "after\n");
    crate::daemon::wait_sync(&root, std::time::Duration::from_secs(20));
    let st: Value = serde_json::from_str(&ok(&root, &["daemon", "status", "--json"])).unwrap();
    assert_eq!(st["paused"], false, "{st}");
}
