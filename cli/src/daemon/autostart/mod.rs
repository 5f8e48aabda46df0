//! `tl daemon install|uninstall`: capture that survives a reboot. A per-user
//! service that runs `tl -C ROOT watch --daemon` at login: a systemd user unit
//! on Linux ([`systemd`]), a launchd agent on macOS ([`launchd`]). One service
//! per tree, named after the tree (its base name and a hash of its path).

use std::path::{Path, PathBuf};

#[cfg(target_os = "macos")]
mod launchd;
#[cfg(target_os = "linux")]
mod systemd;

/// A service written for a tree.
#[derive(Debug)]
pub struct Installed {
    /// The unit or agent file.
    pub path: PathBuf,
    /// Whether it is running now, or how to start it.
    pub enabled: Enabled,
}

/// What became of the service after it was written.
// Elsewhere than Linux and macOS, install refuses before any service exists.
#[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
#[derive(Debug)]
pub enum Enabled {
    /// Enabled and started by the service manager.
    Now,
    /// The service manager could not be reached (no user session, as in CI):
    /// why, and the commands that enable it.
    Manually {
        /// Why it was not enabled.
        why: String,
        /// The commands to run in the user's session.
        commands: Vec<String>,
    },
}

/// A service removed.
#[derive(Debug)]
pub struct Removed {
    /// The file removed.
    pub path: PathBuf,
    /// A warning when the manager could not be told to stop it.
    pub warning: Option<String>,
}

/// Writes and enables the service that watches `root` with the binary `exe`.
pub fn install(root: &Path, exe: &Path) -> anyhow::Result<Installed> {
    #[cfg(target_os = "linux")]
    return systemd::install(root, exe);
    #[cfg(target_os = "macos")]
    return launchd::install(root, exe);
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = (root, exe);
        anyhow::bail!("tl daemon install knows systemd (Linux) and launchd (macOS) only")
    }
}

/// Stops and removes the service of `root`; None when none is installed.
pub fn uninstall(root: &Path) -> anyhow::Result<Option<Removed>> {
    #[cfg(target_os = "linux")]
    return systemd::uninstall(root);
    #[cfg(target_os = "macos")]
    return launchd::uninstall(root);
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = root;
        anyhow::bail!("tl daemon uninstall knows systemd (Linux) and launchd (macOS) only")
    }
}

/// The service's name for `root`: `tl-watch-NAME-HASH`, NAME the tree's base
/// name reduced to `[A-Za-z0-9_-]` (at most 32 characters), HASH 8 hex digits
/// of FNV-1a over the path's bytes (stable across builds and Rust versions).
#[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
pub fn service_name(root: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let base: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.as_os_str().as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let base = if base.is_empty() { "root".into() } else { base };
    format!("tl-watch-{base}-{:08x}", hash as u32)
}

/// A path as the service manager reads it: refused when it holds a newline or
/// is not UTF-8 (neither a unit file nor a plist can say it plainly).
#[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
fn plain_path(p: &Path) -> anyhow::Result<&str> {
    match p.to_str() {
        Some(s) if !s.contains(['\n', '\r']) => Ok(s),
        _ => anyhow::bail!(
            "{} cannot be named in a service file (a newline, or not UTF-8): \
             run `tl watch` from a login script instead",
            p.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_plain_and_differ_per_path() {
        let a = service_name(Path::new("/home/u/my project"));
        assert!(a.starts_with("tl-watch-my_project-"), "{a}");
        assert_eq!(a.len(), "tl-watch-my_project-".len() + 8);
        assert_ne!(a, service_name(Path::new("/home/v/my project")));
        assert_eq!(a, service_name(Path::new("/home/u/my project")));
        assert!(service_name(Path::new("/")).starts_with("tl-watch-root-"));
    }
}
