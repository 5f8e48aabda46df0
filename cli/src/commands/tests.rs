//! The `--help` texts: every argument says what it takes (no one-word filler such
//! as "When."), an argument taking a time T lists the forms T takes, and every
//! example block ends with a newline.

use clap::CommandFactory;

use super::Cli;

/// Every command and subcommand, with its full name (`tl daemon start`).
fn all_commands() -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    let mut todo = vec![("tl".to_string(), Cli::command())];
    while let Some((name, cmd)) = todo.pop() {
        for sub in cmd.get_subcommands() {
            todo.push((format!("{name} {}", sub.get_name()), sub.clone()));
        }
        out.push((name, cmd));
    }
    out
}

#[test]
fn every_argument_says_what_it_takes() {
    let mut checked = 0;
    for (name, cmd) in all_commands() {
        assert!(cmd.get_about().is_some(), "{name} has no about text");
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || matches!(id, "help" | "version") {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let words = help.split_whitespace().count();
            assert!(words >= 4, "{name} {id}: help {help:?} says too little");
            checked += 1;
            let takes_time = arg
                .get_value_names()
                .is_some_and(|v| v.iter().any(|n| n.as_str() == "T" || n.as_str() == "A"));
            if takes_time {
                for form in ["checkpoint id", "pin name", "10m", "RFC 3339", "@LSN"] {
                    assert!(help.contains(form), "{name} {id}: {form:?} missing: {help}");
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} arguments found");
}

#[test]
fn every_example_block_ends_with_a_newline() {
    for (name, cmd) in all_commands() {
        if let Some(after) = cmd.get_after_help() {
            let text = after.to_string();
            assert!(text.ends_with('\n'), "{name}: {text:?}");
        }
    }
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}
