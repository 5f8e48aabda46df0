//! The systemd user unit: `$XDG_CONFIG_HOME/systemd/user/tl-watch-*.service`
//! (`~/.config/...` without it), enabled with `systemctl --user enable --now`
//! when a user manager answers; otherwise written, with the commands to run.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use tl_wal::private_fs::{self, Durability};

use super::{plain_path, service_name, Enabled, Installed, Removed};

/// Where user units go: `$XDG_CONFIG_HOME/systemd/user` when it is an absolute
/// path (the XDG rule), else `$HOME/.config/systemd/user`.
fn unit_dir() -> Result<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .context("neither XDG_CONFIG_HOME nor HOME is set: cannot place the unit")?;
            home.join(".config")
        }
    };
    Ok(config.join("systemd").join("user"))
}

/// One word of an `ExecStart=` line: double-quoted, with `\` and `"` escaped,
/// `%` doubled (a specifier otherwise) and `$` doubled (a variable otherwise).
fn exec_word(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c)
            }
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The unit's text.
pub(super) fn unit_text(root: &Path, exe: &Path) -> Result<String> {
    let root_s = plain_path(root)?;
    let exe_s = plain_path(exe)?;
    Ok(format!(
        "# Written by `tl daemon install` in {root}; `tl daemon uninstall` removes it.\n\
         [Unit]\n\
         Description=tl: capture every change of {desc}\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exe} -C {root_word} watch --daemon\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        root = root_s,
        desc = root_s.replace('%', "%%"),
        exe = exec_word(exe_s),
        root_word = exec_word(root_s),
    ))
}

/// `systemctl --user ARGS`: Ok, or why it failed (missing, no user manager).
fn systemctl(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| format!("systemctl is not available ({e})"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "systemctl --user {} failed: {}",
        args.join(" "),
        err.trim().lines().next().unwrap_or("no reason given")
    ))
}

pub(super) fn install(root: &Path, exe: &Path) -> Result<Installed> {
    let dir = unit_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let unit = format!("{}.service", service_name(root));
    let path = dir.join(&unit);
    let text = unit_text(root, exe)?;
    private_fs::write_atomic(&path, text.as_bytes(), Durability::Synced)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let enabled =
        match systemctl(&["daemon-reload"]).and_then(|()| systemctl(&["enable", "--now", &unit])) {
            Ok(()) => Enabled::Now,
            Err(why) => Enabled::Manually {
                why,
                commands: vec![
                    "systemctl --user daemon-reload".into(),
                    format!("systemctl --user enable --now {unit}"),
                ],
            },
        };
    Ok(Installed { path, enabled })
}

pub(super) fn uninstall(root: &Path) -> Result<Option<Removed>> {
    let unit = format!("{}.service", service_name(root));
    let path = unit_dir()?.join(&unit);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let warning = systemctl(&["disable", "--now", &unit]).err();
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    let _ = systemctl(&["daemon-reload"]);
    Ok(Some(Removed { path, warning }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_words_escape_quotes_specifiers_and_variables() {
        assert_eq!(exec_word("/a b/tl"), "\"/a b/tl\"");
        assert_eq!(exec_word("x\"y\\z"), "\"x\\\"y\\\\z\"");
        assert_eq!(exec_word("50%$HOME"), "\"50%%$$HOME\"");
    }

    #[test]
    fn a_path_with_a_newline_is_refused() {
        let err = unit_text(Path::new("/tmp/a\nb"), Path::new("/bin/tl")).unwrap_err();
        assert!(err.to_string().contains("newline"), "{err}");
    }
}
