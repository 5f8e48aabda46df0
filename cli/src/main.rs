//! The `tl` command line: a thin layer over `tl-index` and `tl-wal`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// tl: a time machine for working directories.
#[derive(Parser, Debug)]
#[command(name = "tl", version, about)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
