//! `tl completions SHELL` and `tl man` (issue 18): the bash script is valid bash
//! and completes tl's commands once sourced; every shell gets a script; the man
//! pages are roff that `man -l` renders, one per command, printed or written
//! into a directory.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{fails, ok, tl};

/// Runs a tool the test needs, failing with its install command when missing.
fn run(tool: &str, install: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(tool)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{tool} is missing ({e}): install it with `{install}`"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_bash_completion_script_parses_and_completes_commands_and_flags() {
    let d = tempfile::tempdir().unwrap();
    let script = ok(d.path(), &["completions", "bash"]);
    let file = d.path().join("tl.bash");
    fs::write(&file, &script).unwrap();
    let file = file.to_str().unwrap();
    let (parsed, _, err) = run("bash", "apt-get install bash", &["-n", file], &[]);
    assert!(parsed, "bash -n: {err}");
    // Completing `tl dae` and `tl export-git --` as bash would after a TAB.
    let complete = |words: &str, cword: usize| {
        let prog = format!(
            "source {file}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _tl tl \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let (ran, out, err) = run("bash", "apt-get install bash", &["-c", &prog], &[]);
        assert!(ran, "{prog}: {err}");
        out
    };
    let commands = complete("tl dae", 1);
    assert_eq!(commands.trim(), "daemon", "{commands}");
    let flags = complete("tl export-git --", 2);
    assert!(flags.lines().any(|l| l == "--help"), "{flags}");
    assert!(flags.lines().count() > 2, "{flags}");
}

#[test]
fn every_shell_gets_a_completion_script_naming_the_commands() {
    let d = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = ok(d.path(), &["completions", shell]);
        for cmd in ["checkpoint", "export-git", "completions", "man"] {
            assert!(script.contains(cmd), "{shell}: {cmd} missing");
        }
    }
    let out = tl(d.path(), &["completions", "tcsh"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("powershell"), "the shells it takes: {err}");
}

/// Renders a roff page with `man -l`, as a user reads it; asserts no warning.
fn render(page: &Path) -> String {
    let (ran, out, err) = run(
        "man",
        "apt-get install man-db",
        &["-l", page.to_str().unwrap()],
        &[("MANPAGER", "cat"), ("MANWIDTH", "100"), ("LC_ALL", "C")],
    );
    assert!(
        ran && err.trim().is_empty(),
        "man -l {}: {err}",
        page.display()
    );
    out
}

#[test]
fn tl_man_prints_a_roff_page_that_man_renders() {
    let d = tempfile::tempdir().unwrap();
    let page = ok(d.path(), &["man"]);
    assert!(page.contains(".TH tl 1"), "{page}");
    assert!(
        page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"),
        "{page}"
    );
    let file = d.path().join("tl.1");
    fs::write(&file, &page).unwrap();
    let text = render(&file);
    assert!(
        text.contains("time machine for working directories"),
        "{text}"
    );
    assert!(text.contains("export-git"), "{text}");
}

#[test]
fn tl_man_of_a_command_prints_that_commands_page() {
    let d = tempfile::tempdir().unwrap();
    let page = ok(d.path(), &["man", "daemon", "start"]);
    assert!(page.contains(".TH tl-daemon-start 1"), "{page}");
    let file = d.path().join("tl-daemon-start.1");
    fs::write(&file, &page).unwrap();
    let text = render(&file);
    assert!(text.contains("--debounce"), "{text}");
    let err = fails(d.path(), &["man", "daemon", "sart"]);
    assert!(err.contains("sart") && err.contains("start"), "{err}");
}

#[test]
fn tl_man_out_writes_a_page_per_command() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["man", "--out", "target/man/man1"]);
    let dir = d.path().join("target/man/man1");
    assert!(out.contains(dir.to_str().unwrap()), "{out}");
    for name in [
        "tl.1",
        "tl-log.1",
        "tl-daemon-start.1",
        "tl-remote-add.1",
        "tl-man.1",
    ] {
        let page = dir.join(name);
        assert!(page.is_file(), "{name} missing");
        assert!(!render(&page).is_empty(), "{name}");
    }
    assert!(
        !dir.join("tl-help.1").exists(),
        "a page for clap's help command"
    );
}
