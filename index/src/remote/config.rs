//! A remote's settings, `.tl/remotes/NAME/remote` (TOML, `format = 1`): its URL,
//! endpoint, age recipients, whether the daemon ships to it, the push's time limit
//! and the grace period before superseded objects are deleted.

use std::path::Path;
use std::time::Duration;

use tl_wal::private_fs::{self, Durability};

use super::error::io;
use super::url::RemoteUrl;
use super::{RemoteError, Result};
use crate::layout::Layout;

/// The settings file's format version.
pub const SETTINGS_FORMAT: i64 = 1;
/// A push gives up after this long by default.
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(60);
/// Superseded objects are deleted this long after the manifest that dropped them.
pub const DEFAULT_DELETE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// One remote, as `tl remote add` recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSettings {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub url: RemoteUrl,
    /// An S3 endpoint (`--endpoint`), else the environment's or AWS's.
    pub endpoint: Option<String>,
    /// age X25519 recipients (`age1...`); empty: the remote is plaintext.
    pub recipients: Vec<String>,
    /// The daemon pushes by itself (false after `--no-auto`).
    pub auto: bool,
    /// The whole push's time limit.
    pub push_timeout: Duration,
    /// How long superseded objects stay after the manifest that dropped them.
    pub delete_grace: Duration,
}

impl RemoteSettings {
    /// Settings with the defaults for everything but the name and URL.
    pub fn new(name: &str, url: RemoteUrl) -> RemoteSettings {
        RemoteSettings {
            name: name.to_string(),
            url,
            endpoint: None,
            recipients: Vec::new(),
            auto: true,
            push_timeout: DEFAULT_PUSH_TIMEOUT,
            delete_grace: DEFAULT_DELETE_GRACE,
        }
    }

    /// True when segments and manifests are encrypted.
    pub fn encrypted(&self) -> bool {
        !self.recipients.is_empty()
    }

    fn to_toml(&self) -> String {
        let mut t = toml::Table::new();
        t.insert("format".into(), SETTINGS_FORMAT.into());
        t.insert("url".into(), self.url.to_string().into());
        if let Some(e) = &self.endpoint {
            t.insert("endpoint".into(), e.clone().into());
        }
        let r: Vec<toml::Value> = self.recipients.iter().map(|r| r.clone().into()).collect();
        t.insert("encrypt_to".into(), r.into());
        t.insert("auto".into(), self.auto.into());
        t.insert(
            "push_timeout_s".into(),
            (self.push_timeout.as_secs() as i64).into(),
        );
        t.insert(
            "delete_grace_s".into(),
            (self.delete_grace.as_secs() as i64).into(),
        );
        format!(
            "# tl remote {} (tl remote add); push_timeout_s and delete_grace_s may be edited\n{t}",
            self.name
        )
    }

    fn from_toml(name: &str, text: &str, path: &Path) -> Result<RemoteSettings> {
        let bad = |why: String| RemoteError::BadFile {
            path: path.to_path_buf(),
            why,
        };
        let t: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        let format = t.get("format").and_then(|v| v.as_integer()).unwrap_or(0);
        if format != SETTINGS_FORMAT {
            return Err(RemoteError::UnsupportedVersion {
                object: path.display().to_string(),
                found: format as u32,
                supported: SETTINGS_FORMAT as u32,
            });
        }
        let url = t
            .get("url")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("no url".into()))?;
        let mut s = RemoteSettings::new(name, RemoteUrl::parse(url)?);
        s.endpoint = t.get("endpoint").and_then(|v| v.as_str()).map(String::from);
        if let Some(list) = t.get("encrypt_to").and_then(|v| v.as_array()) {
            for r in list {
                let r = r
                    .as_str()
                    .ok_or_else(|| bad("encrypt_to holds a non-string".into()))?;
                s.recipients.push(r.to_string());
            }
        }
        s.auto = t.get("auto").and_then(|v| v.as_bool()).unwrap_or(true);
        let secs = |key: &str, default: Duration| -> Result<Duration> {
            match t.get(key) {
                None => Ok(default),
                Some(v) => match v.as_integer() {
                    Some(n) if n >= 0 => Ok(Duration::from_secs(n as u64)),
                    _ => Err(bad(format!("{key} is not a number of seconds"))),
                },
            }
        };
        s.push_timeout = secs("push_timeout_s", DEFAULT_PUSH_TIMEOUT)?;
        if s.push_timeout.is_zero() {
            return Err(bad("push_timeout_s is 0".into()));
        }
        s.delete_grace = secs("delete_grace_s", DEFAULT_DELETE_GRACE)?;
        Ok(s)
    }
}

/// Refuses a remote name that is not `[A-Za-z0-9._-]+` or starts with `.`/`-`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RemoteError::BadName {
            name: name.to_string(),
        })
    }
}

/// Records a new remote (refused when the name is taken).
pub fn add(layout: &Layout, settings: &RemoteSettings) -> Result<()> {
    check_name(&settings.name)?;
    let dir = layout.remote_dir(&settings.name);
    if dir.exists() {
        return Err(RemoteError::Exists {
            name: settings.name.clone(),
        });
    }
    let parent = layout.remotes_dir();
    private_fs::ensure_dir(&parent).map_err(io(&parent))?;
    private_fs::create_dir(&dir).map_err(io(&dir))?;
    let path = layout.remote_settings(&settings.name);
    private_fs::write_atomic(&path, settings.to_toml().as_bytes(), Durability::Synced)
        .map_err(io(&path))
}

/// The remote named `name`.
pub fn load(layout: &Layout, name: &str) -> Result<RemoteSettings> {
    check_name(name)?;
    let path = layout.remote_settings(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RemoteError::NoSuchRemote {
                name: name.to_string(),
            })
        }
        Err(e) => return Err(io(&path)(e)),
    };
    RemoteSettings::from_toml(name, &text, &path)
}

/// Every remote, by name.
pub fn list(layout: &Layout) -> Result<Vec<RemoteSettings>> {
    let dir = layout.remotes_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&dir)(e)),
    };
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(io(&dir))?;
        if let Some(n) = e.file_name().to_str() {
            if check_name(n).is_ok() {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    names.iter().map(|n| load(layout, n)).collect()
}

/// Forgets a remote (its settings and shipped state; nothing on the remote is
/// touched).
pub fn remove(layout: &Layout, name: &str) -> Result<()> {
    load(layout, name)?;
    let dir = layout.remote_dir(name);
    std::fs::remove_dir_all(&dir).map_err(io(&dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_round_trip_through_their_file() {
        let mut s = RemoteSettings::new("usb", RemoteUrl::parse("s3://bkt/p").unwrap());
        s.endpoint = Some("http://127.0.0.1:9000".into());
        s.recipients = vec!["age1abc".into()];
        s.auto = false;
        s.push_timeout = Duration::from_secs(5);
        let text = s.to_toml();
        assert_eq!(
            RemoteSettings::from_toml("usb", &text, Path::new("x")).unwrap(),
            s
        );
    }

    #[test]
    fn config_md_documents_every_key_of_the_settings_file() {
        let mut s = RemoteSettings::new("usb", RemoteUrl::parse("s3://bkt/p").unwrap());
        s.endpoint = Some("http://127.0.0.1:9000".into());
        let written: toml::Table = s.to_toml().parse().unwrap();
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../CONFIG.md")).unwrap();
        let section = doc.split("## A remote's settings").nth(1).expect("section");
        for key in written.keys() {
            assert!(
                section.contains(&format!("| `{key}` |")),
                "CONFIG.md does not document `{key}` of .tl/remotes/NAME/remote"
            );
        }
        assert!(written.len() >= 7, "{written:?}");
    }

    #[test]
    fn names_are_refused_unless_plain() {
        for ok in ["origin", "usb-1", "nas.home", "a_b"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "..", "é"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
