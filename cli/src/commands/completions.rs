//! `tl completions SHELL`: the shell completion script, from the command line's
//! own definition (clap_complete), so it never lags behind a new flag.

use std::path::Path;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
///
/// Load it once per shell session, or write it where your shell looks for
/// completions (see the examples).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  source <(tl completions bash)\n  \
    tl completions bash > ~/.local/share/bash-completion/completions/tl\n  \
    tl completions zsh > \"${fpath[1]}/_tl\"\n  \
    tl completions fish > ~/.config/fish/completions/tl.fish\n")]
pub struct CompletionsArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

/// Prints the script on stdout.
pub fn cmd_completions(_cwd: &Path, args: CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "tl", &mut script);
    print!("{}", String::from_utf8_lossy(&script));
    Ok(())
}
