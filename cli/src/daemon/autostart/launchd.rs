//! The launchd agent (macOS): `~/Library/LaunchAgents/dev.tl.<service>.plist`,
//! loaded with `launchctl load -w` (RunAtLoad, KeepAlive on failure).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use tl_wal::private_fs::{self, Durability};

use super::{plain_path, service_name, Enabled, Installed, Removed};

fn agent_path(root: &Path) -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: cannot place the launch agent")?;
    Ok(home
        .join("Library/LaunchAgents")
        .join(format!("dev.tl.{}.plist", service_name(root))))
}

/// Text as a plist string: `&`, `<` and `>` escaped.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plist(root: &Path, exe: &Path) -> Result<String> {
    let label = format!("dev.tl.{}", service_name(root));
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- Written by `tl daemon install`; `tl daemon uninstall` removes it. -->\n\
         <plist version=\"1.0\">\n<dict>\n\
         \t<key>Label</key><string>{label}</string>\n\
         \t<key>ProgramArguments</key>\n\t<array>\n\
         \t\t<string>{exe}</string>\n\t\t<string>-C</string>\n\t\t<string>{root}</string>\n\
         \t\t<string>watch</string>\n\t\t<string>--daemon</string>\n\t</array>\n\
         \t<key>RunAtLoad</key><true/>\n\
         \t<key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>\n\
         </dict>\n</plist>\n",
        exe = xml(plain_path(exe)?),
        root = xml(plain_path(root)?),
    ))
}

fn launchctl(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("launchctl")
        .args(args)
        .output()
        .map_err(|e| format!("launchctl is not available ({e})"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "launchctl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

pub(super) fn install(root: &Path, exe: &Path) -> Result<Installed> {
    let path = agent_path(root)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    private_fs::write_atomic(&path, plist(root, exe)?.as_bytes(), Durability::Synced)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let p = path.to_string_lossy().into_owned();
    let enabled = match launchctl(&["load", "-w", &p]) {
        Ok(()) => Enabled::Now,
        Err(why) => Enabled::Manually {
            why,
            commands: vec![format!("launchctl load -w {p}")],
        },
    };
    Ok(Installed { path, enabled })
}

pub(super) fn uninstall(root: &Path) -> Result<Option<Removed>> {
    let path = agent_path(root)?;
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let p = path.to_string_lossy().into_owned();
    let warning = launchctl(&["unload", "-w", &p]).err();
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(Some(Removed { path, warning }))
}
