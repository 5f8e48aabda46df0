//! `tl man [COMMAND...]`: the manual pages (roff, clap_mangen), one per command,
//! from the command line's own definition: printed, or all written to a
//! directory with `--out`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::Cli;
use crate::command_error::CommandError;

/// Print the manual page of tl or of one command, as roff (pipe it to man -l -).
///
/// With --out DIR, write every page (tl.1, tl-init.1, tl-daemon-start.1, ...)
/// into DIR instead: `tl man --out target/man` builds them for packaging, and
/// `man -M target/man tl-log` reads one.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl man | man -l -\n  tl man daemon start | man -l -\n  \
    tl man --out target/man/man1 && man -M target/man tl-log\n"
)]
pub struct ManArgs {
    /// The command whose page to print, such as `log` or `daemon start` (none: tl's own page).
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    command: Vec<String>,
    /// Write every page into this directory (created if missing) instead of printing one.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Prints one page, or writes them all with `--out`.
pub fn cmd_man(cwd: &Path, args: ManArgs) -> Result<()> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    if let Some(dir) = args.out {
        let dir = cwd.join(dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(root, &dir)
            .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        println!("Wrote the manual pages into {}", dir.display());
        return Ok(());
    }
    let mut cmd = root;
    for name in &args.command {
        let Some(sub) = cmd.find_subcommand(name).cloned() else {
            let known: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            return Err(CommandError::usage(format!(
                "no command {:?} under {}: try one of {}",
                args.command.join(" "),
                cmd.get_display_name().unwrap_or(cmd.get_name()),
                known.join(", ")
            ))
            .into());
        };
        cmd = sub;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .context("cannot render the manual page")?;
    print!("{}", String::from_utf8_lossy(&page));
    Ok(())
}
