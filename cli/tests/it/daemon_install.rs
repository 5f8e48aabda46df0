//! `tl daemon install|uninstall` (issue 18): a systemd user unit under
//! $XDG_CONFIG_HOME/systemd/user that `systemd-analyze verify` accepts and whose
//! ExecStart line starts a working daemon; enabled when a user manager answers,
//! else written with the commands that enable it; removed by uninstall.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::{ok, tl};

/// `tl ARGS` in `dir` with XDG_CONFIG_HOME and HOME in `home`.
fn tl_home(dir: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tl"))
        .current_dir(dir)
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The one unit file under the temp home's systemd/user directory.
fn the_unit(home: &Path) -> PathBuf {
    let dir = home.join("config/systemd/user");
    let units: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(units.len(), 1, "{units:?}");
    units[0].clone()
}

/// The words of an ExecStart line as the unit writes them ("..." each).
fn exec_words(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => continue,
            '"' => {
                let mut w = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => w.push(chars.next().unwrap()),
                        '"' => break,
                        '%' | '$' => {
                            assert_eq!(chars.next(), Some(c));
                            w.push(c)
                        }
                        c => w.push(c),
                    }
                }
                words.push(w);
            }
            c => {
                let mut w = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                words.push(w);
            }
        }
    }
    words
}

#[test]
fn daemon_install_writes_a_unit_systemd_accepts_that_starts_the_daemon() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("my 100% project");
    fs::create_dir(&root).unwrap();
    ok(&root, &["init"]);
    let out = text(&tl_home(&root, home.path(), &["daemon", "install"]));
    let unit_path = the_unit(home.path());
    let name = unit_path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with("tl-watch-my_100__project-"), "{name}");
    assert!(
        out.contains(&format!("Wrote {}", unit_path.display())),
        "{out}"
    );
    assert!(
        out.contains("Enabled:") || out.contains(&format!("systemctl --user enable --now {name}")),
        "says it is enabled or how to enable it: {out}"
    );
    let unit = fs::read_to_string(&unit_path).unwrap();
    assert!(unit.contains("WantedBy=default.target"), "{unit}");

    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is missing ({e}): install it with `apt-get install systemd`")
        });
    let err = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );

    // What the service manager runs at login, run here: a working daemon.
    let words = exec_words(&unit);
    assert_eq!(
        words[1..],
        ["-C", root.to_str().unwrap(), "watch", "--daemon"]
    );
    assert_eq!(Path::new(&words[0]), Path::new(env!("CARGO_BIN_EXE_tl")));
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = tl(&root, &["daemon", "status", "--json"]);
        if st.status.success() && String::from_utf8_lossy(&st.stdout).contains("\"running\":true") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unit's daemon did not answer"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the unit's daemon exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&root, &["daemon", "stop"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the unit's daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = text(&tl_home(&root, home.path(), &["daemon", "uninstall"]));
    assert!(
        out.contains(&format!("Removed {}", unit_path.display())),
        "{out}"
    );
    assert!(!unit_path.exists());
    let out = text(&tl_home(&root, home.path(), &["daemon", "uninstall"]));
    assert!(out.contains("No login service is installed"), "{out}");
}

#[test]
fn two_trees_get_two_units_and_install_again_rewrites_its_own() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    for t in ["a", "b"] {
        fs::create_dir(d.path().join(t)).unwrap();
        ok(&d.path().join(t), &["init"]);
        text(&tl_home(
            &d.path().join(t),
            home.path(),
            &["daemon", "install"],
        ));
    }
    text(&tl_home(
        &d.path().join("a"),
        home.path(),
        &["daemon", "install"],
    ));
    let dir = home.path().join("config/systemd/user");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
    text(&tl_home(
        &d.path().join("b"),
        home.path(),
        &["daemon", "uninstall"],
    ));
    let unit = the_unit(home.path());
    assert!(unit
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("tl-watch-a-"));
}
