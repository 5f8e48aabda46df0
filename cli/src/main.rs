//! The `tl` command line: a thin layer over `tl-index` and `tl-wal`.
//!
//! Only this crate prints, reads the environment and chooses exit codes.
#![deny(unsafe_code)]

// Output: `println!`/`print!`/`eprintln!` are shadowed, crate-wide, by versions
// that never panic. A reader that goes away (`tl log | head -1`) makes std's
// panic ("failed printing to stdout: Broken pipe"); here the rest of stdout is
// dropped and the command goes on to its end (its work and what it says on
// stderr, such as an undo hint, are not lost), then exits 0 as git and ripgrep
// do. Any other failure to write stdout makes the command fail at its end.
// These must come before the modules that use them.
macro_rules! println {
    () => {
        $crate::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*))
    };
}
macro_rules! eprintln {
    () => {
        $crate::out::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod batch_consent;
mod cli_util;
mod command_error;
mod commands;
mod daemon;
mod hold_text;
mod left_out_text;
mod out;
mod output;
mod remote_env;
mod retention_text;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// Parses, runs, maps the outcome to an exit code (see `command_error`).
fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    let result = commands::run(cli).and_then(|()| out::finish());
    command_error::exit(result)
}
