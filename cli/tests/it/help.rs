//! `--help` through the binary: an argument's help says what it takes (never a
//! one-word filler such as "When"), a time T lists its forms, and the examples end
//! with a newline. (The unit test in `commands/tests.rs` walks every command.)

use crate::util::ok;

#[test]
fn every_command_help_shows_examples_ending_with_a_newline_and_no_filler() {
    let d = tempfile::tempdir().unwrap();
    let top = ok(d.path(), &["--help"]);
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 17, "{commands:?}");
    for cmd in commands {
        let help = ok(d.path(), &[cmd, "--help"]);
        assert!(help.contains("Example:\n"), "tl {cmd} --help: {help}");
        for line in help.lines() {
            let line = line.trim_start();
            let clap_own = line.contains("--help") || line.contains("--version");
            if !line.starts_with(['-', '<', '[']) || clap_own {
                continue;
            }
            // An argument line: its spec, two spaces, its help (absent when the
            // help is on the next lines).
            if let Some((_, text)) = line.split_once("  ") {
                let words = text.split_whitespace().count();
                assert!(words >= 3, "tl {cmd} --help: filler help in {line:?}");
            }
        }
    }
}

#[test]
fn show_help_says_what_at_takes() {
    let d = tempfile::tempdir().unwrap();
    let help = ok(d.path(), &["show", "--help"]);
    assert!(!help.contains("When\n"), "{help}");
    let at = help
        .split("--at <T>  ")
        .nth(1)
        .expect("--at listed")
        .split("-C <DIR>")
        .next()
        .unwrap();
    for form in [
        "checkpoint id",
        "pin name",
        "2 hours ago",
        "RFC 3339",
        "@LSN",
    ] {
        assert!(at.contains(form), "{form:?} missing from {at}");
    }
    assert!(help.ends_with("> old.rs\n"), "{help:?}");
}
