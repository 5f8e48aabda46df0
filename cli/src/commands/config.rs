//! `tl config get|set|list`: the settings of `.tl/config.toml` (CONFIG.md is
//! their reference), read and changed one key at a time.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use tl_index::layout::Layout;
use tl_index::store::config_edit::{self, SettingValue};
use tl_index::store::find_root;

use crate::daemon::client;

/// Read and change the settings in .tl/config.toml (reference: CONFIG.md).
///
/// `set` keeps the file's comments, checks the value as every command will read
/// it and refuses unknown keys, naming the known ones. A key of the
/// [retention] section is written retention.KEY.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl config list\n  tl config get zstd_level\n  \
    tl config set zstd_level 3\n  tl config set retention.keep-all 2h\n"
)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

/// `tl config` actions.
#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print every setting with its value, marking those the file sets.
    List {
        /// Print the settings as one JSON array (see JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Print the value of one setting (the file's, or its default).
    Get {
        /// The setting's key, such as zstd_level or retention.keep-all.
        #[arg(value_name = "KEY")]
        key: String,
    },
    /// Change one setting in .tl/config.toml, keeping the rest of the file.
    Set {
        /// The setting's key, such as zstd_level or retention.keep-all.
        #[arg(value_name = "KEY")]
        key: String,
        /// The new value as TOML (3, "2h") or a bare word taken as a string (2h).
        #[arg(value_name = "VALUE")]
        value: String,
    },
}

/// `tl config list|get|set`.
pub fn cmd_config(cwd: &Path, args: ConfigArgs) -> Result<()> {
    let root = find_root(cwd)?;
    let path = Layout::new(&root).config();
    match args.action {
        ConfigAction::List { json } => {
            let all = config_edit::list(&path)?;
            if json {
                let rows: Vec<_> = all.iter().map(to_json).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for v in &all {
                    let mark = if v.is_default() { "  (default)" } else { "" };
                    println!("{} = {}{mark}", v.setting.key, v.value);
                }
            }
        }
        ConfigAction::Get { key } => println!("{}", config_edit::get(&path, &key)?.value),
        ConfigAction::Set { key, value } => {
            let v = config_edit::set(&path, &key, &value)?;
            println!("{} = {} (in {})", v.setting.key, v.value, path.display());
            if let Ok(Some(_)) = client::status(&root, Duration::from_secs(2)) {
                eprintln!(
                    "note: the running daemon reads settings when it starts: \
                     `tl daemon stop && tl daemon start` applies this one"
                );
            }
        }
    }
    Ok(())
}

/// One setting as JSON.md describes it.
fn to_json(v: &SettingValue) -> serde_json::Value {
    json!({
        "key": v.setting.key,
        "value": v.value,
        "default": v.setting.default,
        "from_file": v.from_file,
        "is_default": v.is_default(),
        "doc": v.setting.doc,
    })
}
