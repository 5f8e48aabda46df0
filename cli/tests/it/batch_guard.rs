//! The per-capture total (issue 13): a capture that would add more than
//! `max_batch_bytes` (the walk's stat sizes of new or changed files, before any
//! content is read) asks first. Without a terminal `tl checkpoint` refuses,
//! saying how to proceed; `--yes` captures; the daemon captures and logs a
//! warning naming the largest directories.

use std::fs;
use std::path::{Path, PathBuf};

use tl_index::store::Store;

use crate::skipped::wait_captured;
use crate::util::{fails, ok, set_config, tl};

/// A project whose `data/raw/` holds 3 MB and `src/` a little, with
/// `max_batch_bytes` at 1 MB.
fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    ok(&root, &["init"]);
    set_config(&root, "max_batch_bytes", "1000000");
    fs::create_dir_all(root.join("data/raw")).unwrap();
    fs::write(root.join("data/raw/a.bin"), vec![7u8; 3_000_000]).unwrap();
    fs::create_dir(root.join("src")).unwrap();
    fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
    (tmp, root)
}

fn n_checkpoints(root: &Path) -> usize {
    Store::open_read_only(root).unwrap().checkpoints().len()
}

#[test]
fn a_capture_over_max_batch_bytes_is_refused_without_a_terminal_and_says_how_to_proceed() {
    let (_tmp, root) = project();
    let err = fails(&root, &["checkpoint"]);
    for part in [
        "this capture would add about 3.0 MB in 2 files, more than max_batch_bytes = 1000000",
        "most of it in data/raw/ (3.0 MB in 1 file)",
        "`tl checkpoint --yes`",
        "raise max_batch_bytes in .tl/config.toml",
        ".tlignore",
    ] {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }
    assert_eq!(tl(&root, &["checkpoint"]).status.code(), Some(1));
    assert_eq!(n_checkpoints(&root), 0, "nothing is stored");
}

#[test]
fn with_yes_the_capture_proceeds_and_later_captures_count_only_what_is_new() {
    let (_tmp, root) = project();
    let out = tl(&root, &["checkpoint", "--yes"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: this capture adds about 3.0 MB") && stderr.contains("data/raw/"),
        "{stderr}"
    );
    let store = Store::open_read_only(&root).unwrap();
    assert!(store.head().contains_key(b"data/raw/a.bin".as_slice()));
    // Unchanged files do not count: a small edit passes.
    fs::write(root.join("src/main.rs"), "fn main() { }").unwrap();
    ok(&root, &["checkpoint"]);
    // A new batch over the limit is refused again, naming its own directory.
    fs::create_dir(root.join("downloads")).unwrap();
    fs::write(root.join("downloads/iso"), vec![1u8; 2_000_000]).unwrap();
    let err = fails(&root, &["checkpoint"]);
    assert!(
        err.contains("about 2.0 MB in 1 file") && err.contains("most of it in downloads/"),
        "{err}"
    );
    assert_eq!(n_checkpoints(&root), 2);
}

#[test]
fn the_daemon_captures_over_the_limit_and_logs_the_largest_directories() {
    let (_tmp, root) = project();
    ok(&root, &["daemon", "start", "--debounce-ms", "50"]);
    wait_captured(&root, "src/main.rs", b"fn main() {}");
    // A batch over the limit too.
    fs::create_dir(root.join("later")).unwrap();
    fs::write(root.join("later/big"), vec![2u8; 1_500_000]).unwrap();
    wait_captured(&root, "later/big", &vec![2u8; 1_500_000]);
    ok(&root, &["daemon", "stop"]);
    let log = fs::read_to_string(root.join(".tl/daemon.log")).unwrap();
    assert!(
        log.contains("this capture added about 3.0 MB in 2 files, more than max_batch_bytes = 1000000; most of it in data/raw/"),
        "{log}"
    );
    assert!(
        log.contains("this capture added about 1.5 MB in 1 file") && log.contains("later/ (1.5 MB"),
        "{log}"
    );
    assert!(log.contains("captured anyway"), "{log}");
}

/// Runs `tl checkpoint` on a terminal (`script` gives it a pseudo-terminal)
/// answering `answer` to its question; returns what the terminal showed.
fn checkpoint_on_a_terminal(root: &Path, answer: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let cmd = format!(
        "{} -C {} checkpoint",
        env!("CARGO_BIN_EXE_tl"),
        root.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("script (util-linux) is needed to give tl a terminal: {e}"));
    // Typed once the question is up, as a user would.
    std::thread::sleep(std::time::Duration::from_millis(500));
    writeln!(child.stdin.take().unwrap(), "{answer}").unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_it_asks_and_captures_only_on_yes() {
    let (_tmp, root) = project();
    let shown = checkpoint_on_a_terminal(&root, "n");
    assert!(
        shown.contains("this capture would add about 3.0 MB") && shown.contains("[y/N]"),
        "{shown}"
    );
    assert_eq!(n_checkpoints(&root), 0, "{shown}");
    let shown = checkpoint_on_a_terminal(&root, "y");
    assert_eq!(n_checkpoints(&root), 1, "{shown}");
}
