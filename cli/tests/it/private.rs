//! History is as private as what it holds (issue 20, items 2 and 3): `.tl/` is
//! owner-only, nothing under it is written through a planted symlink, a store made
//! by an older `tl` is tightened with a note, and a captured private file comes
//! back private whatever the umask.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::{git, ok, tl};

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A project at `TMP/proj` (so a victim file can live beside it), initialised.
fn project() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    (d, root)
}

/// Every directory and file under `dir` (symlinks excluded), with its mode.
fn entries(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(dir.to_path_buf(), mode_of(dir))];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        // A running daemon renames its temporaries away meanwhile.
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            out.extend(entries(&p));
        } else if meta.is_file() {
            out.push((p, meta.permissions().mode() & 0o7777));
        }
    }
    out
}

fn assert_owner_only(root: &Path, when: &str) {
    for (p, mode) in entries(&root.join(".tl")) {
        assert_eq!(mode & 0o077, 0, "{when}: {} is {mode:o}", p.display());
    }
    assert_eq!(mode_of(&root.join(".tl")), 0o700, "{when}");
}

/// `sh -c "umask 022; tl ARGS"` in `dir`.
fn tl_umask_022(dir: &Path, args: &str) -> String {
    tl_umask(dir, "022", args)
}

/// `sh -c "umask UMASK; tl ARGS"` in `dir`.
fn tl_umask(dir: &Path, umask: &str, args: &str) -> String {
    let out = Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$TL\" {args}"))
        .env("TL", env!("CARGO_BIN_EXE_tl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "tl {args}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn last_checkpoint(root: &Path) -> String {
    let log = ok(root, &["log"]);
    log.split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_symlink_planted_at_daemon_pid_or_log_is_refused_and_its_target_untouched() {
    let (d, root) = project();
    let victim = d.path().join("victim");
    for name in ["daemon.pid", "daemon.log"] {
        fs::write(&victim, b"precious\n").unwrap();
        let planted = root.join(".tl").join(name);
        let _ = fs::remove_file(&planted);
        symlink(&victim, &planted).unwrap();
        let out = tl(&root, &["daemon", "start"]);
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "daemon start with {name} planted: {err}"
        );
        assert!(
            err.contains(name) && err.contains("symlink"),
            "{name}: {err}"
        );
        let _ = tl(&root, &["daemon", "stop"]);
        assert_eq!(fs::read(&victim).unwrap(), b"precious\n", "{name}");
        fs::remove_file(&planted).unwrap();
    }
}

#[test]
fn a_symlink_planted_at_the_catalog_temporary_is_never_followed() {
    let (d, root) = project();
    let victim = d.path().join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    let catalog = root.join(".tl/index/catalog");
    // The fixed name older versions wrote the catalog cache to, then renamed.
    symlink(&victim, root.join(".tl/index/catalog.tmp")).unwrap();
    // The daemon saves the catalog cache once idle after a capture.
    ok(&root, &["daemon", "start"]);
    fs::write(root.join("a"), b"a").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !catalog.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&root, &["daemon", "stop"]);
    assert!(
        catalog.is_file(),
        "the idle daemon saved no catalog within 30 s"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
    ok(&root, &["compact"]);
    assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
}

#[test]
fn the_store_is_owner_only_after_init_a_daemon_run_and_compact() {
    let (_d, root) = project();
    assert_owner_only(&root, "after init");
    fs::write(root.join("a"), b"a").unwrap();
    ok(&root, &["checkpoint"]);
    assert_owner_only(&root, "after a checkpoint");
    ok(&root, &["daemon", "start"]);
    assert_owner_only(&root, "while the daemon runs");
    fs::write(root.join("b"), b"b").unwrap();
    ok(&root, &["checkpoint", "-m", "through the daemon"]);
    ok(&root, &["daemon", "stop"]);
    assert!(root.join(".tl/daemon.log").is_file());
    assert_owner_only(&root, "after a daemon run");
    ok(&root, &["compact"]);
    assert_owner_only(&root, "after compact");
}

#[test]
fn the_git_untracked_mark_is_owner_only_under_umask_000() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    git(root, &["init", "-q"]);
    fs::write(root.join("a"), b"a").unwrap();
    git(root, &["add", "a"]);
    git(root, &["commit", "-qm", "a"]);
    ok(root, &["init"]);
    let mark = root.join(".tl/index/git-untracked");
    // Any command but init checks whether git tracks `.tl/` and leaves the mark.
    tl_umask(root, "000", "status");
    assert!(mark.is_file(), "tl status in a git work tree left no mark");
    assert_eq!(mode_of(&mark), 0o600, "{}", mark.display());
    assert_owner_only(root, "after tl status in a git work tree");
}

#[test]
fn a_world_readable_store_is_tightened_on_open_with_a_note() {
    let (_d, root) = project();
    fs::write(root.join("a"), b"a").unwrap();
    ok(&root, &["checkpoint"]);
    // As older versions left it.
    for (p, _) in entries(&root.join(".tl")) {
        chmod(&p, if p.is_dir() { 0o755 } else { 0o644 });
    }
    let out = tl(&root, &["log"]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("note:") && err.contains("owner-only") && err.contains(".tl"),
        "{err}"
    );
    assert_owner_only(&root, "after tl log");
    let again = tl(&root, &["log"]);
    assert!(!stderr(&again).contains("note:"), "{}", stderr(&again));
}

#[test]
fn a_captured_private_file_and_script_come_back_private_under_umask_022() {
    let (_d, root) = project();
    fs::write(root.join("secret.txt"), b"k").unwrap();
    chmod(&root.join("secret.txt"), 0o600);
    fs::write(root.join("run.sh"), b"#!/bin/sh\n").unwrap();
    chmod(&root.join("run.sh"), 0o700);
    fs::write(root.join("plain"), b"p").unwrap();
    chmod(&root.join("plain"), 0o644);
    ok(&root, &["checkpoint"]);
    let id = last_checkpoint(&root);
    for (how, args) in [
        ("replay", format!("replay --to {id}")),
        (
            "restore",
            format!("restore --at {id} secret.txt run.sh plain"),
        ),
    ] {
        for name in ["secret.txt", "run.sh", "plain"] {
            fs::remove_file(root.join(name)).unwrap();
        }
        tl_umask_022(&root, &args);
        assert_eq!(mode_of(&root.join("secret.txt")), 0o600, "{how}");
        assert_eq!(mode_of(&root.join("run.sh")), 0o700, "{how}");
        assert_eq!(mode_of(&root.join("plain")), 0o644, "{how}");
    }
    let into = root.parent().unwrap().join("into");
    tl_umask_022(
        &root,
        &format!("replay --to {id} --into {}", into.display()),
    );
    assert_eq!(mode_of(&into.join("secret.txt")), 0o600);
    assert_eq!(mode_of(&into.join("run.sh")), 0o700);
}

#[test]
fn a_chmod_alone_shows_in_status_and_is_captured() {
    let (_d, root) = project();
    fs::write(root.join("secret.txt"), b"k").unwrap();
    chmod(&root.join("secret.txt"), 0o644);
    ok(&root, &["checkpoint"]);
    assert!(ok(&root, &["status"]).contains("No changes"));
    chmod(&root.join("secret.txt"), 0o600);
    let st = ok(&root, &["status"]);
    assert!(st.contains("secret.txt"), "{st}");
    let cp = ok(&root, &["checkpoint"]);
    assert!(cp.contains("~1"), "{cp}");
    assert!(ok(&root, &["status"]).contains("No changes"));
}

/// A local user created for the test, removed on drop.
struct OtherUser(&'static str);

impl OtherUser {
    fn create(name: &'static str) -> OtherUser {
        let _ = Command::new("userdel").args(["-r", name]).output();
        let out = Command::new("useradd").args(["-m", name]).output().unwrap_or_else(|e| {
            panic!("useradd is needed to test that another user cannot read history: {e} (run the tests as root with the passwd package: apt-get install passwd)")
        });
        assert!(
            out.status.success(),
            "useradd -m {name} failed (run the tests as root with the passwd package): {}",
            stderr(&out)
        );
        OtherUser(name)
    }

    /// Runs `cmd args` as this user.
    fn run(&self, cmd: &str, args: &[&str]) -> Output {
        Command::new("runuser")
            .args(["-u", self.0, "--", cmd])
            .args(args)
            .output()
            .expect("runuser (util-linux) is installed")
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", self.0]).output();
    }
}

#[test]
fn another_local_user_cannot_read_a_captured_private_file_through_history() {
    let d = tempfile::tempdir().unwrap();
    // Only `.tl/` may keep the other user out: the temp dir itself is 0700.
    chmod(d.path(), 0o755);
    let root = d.path().join("proj");
    fs::create_dir(&root).unwrap();
    chmod(&root, 0o755);
    ok(&root, &["init"]);
    fs::write(root.join("secret.txt"), b"the secret").unwrap();
    chmod(&root.join("secret.txt"), 0o600);
    fs::write(root.join("readme"), b"public").unwrap();
    chmod(&root.join("readme"), 0o644);
    ok(&root, &["checkpoint"]);
    let segment = fs::read_dir(root.join(".tl/wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment");

    let other = OtherUser::create("tlother");
    // The control: the other user does reach the project.
    let readme = other.run("cat", &[root.join("readme").to_str().unwrap()]);
    assert!(readme.status.success(), "{}", stderr(&readme));
    assert_eq!(readme.stdout, b"public");
    let cat = other.run("cat", &[segment.to_str().unwrap()]);
    assert!(
        !cat.status.success(),
        "another user read {}",
        segment.display()
    );
    assert!(
        stderr(&cat).contains("Permission denied"),
        "{}",
        stderr(&cat)
    );
    let id = last_checkpoint(&root);
    let show = other.run(
        env!("CARGO_BIN_EXE_tl"),
        &[
            "-C",
            root.to_str().unwrap(),
            "show",
            "--at",
            &id,
            "secret.txt",
        ],
    );
    assert!(!show.status.success(), "another user ran tl show");
    assert!(!String::from_utf8_lossy(&show.stdout).contains("the secret"));
    // tl refuses another user's store before it reads (store_owner.rs); what
    // the file system refuses any other reader is `cat`'s refusal above.
    assert!(
        stderr(&show).contains("is owned by uid 0, not by uid"),
        "{}",
        stderr(&show)
    );
}
