//! `tl config get|set|list` over `.tl/config.toml`: a key's value (the file's,
//! or the default), and a change to one key that keeps the file's comments and
//! layout (toml_edit), checked by the parser before it is written atomically.

use std::path::Path;

use tl_wal::private_fs::{self, Durability};

use super::error::{io, Result, StoreError};
use super::settings::{self, Setting, RETENTION};
use super::Config;

/// A key's value as `tl config` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingValue {
    /// The setting.
    pub setting: &'static Setting,
    /// Its value as TOML (`1`, `"1h"`).
    pub value: String,
    /// Whether the file sets it (false: the default).
    pub from_file: bool,
}

impl SettingValue {
    /// Whether the value is the default's, whether the file spells it out (as
    /// `tl init`'s file does) or leaves it out.
    pub fn is_default(&self) -> bool {
        let parse = |v: &str| format!("v = {v}").parse::<toml::Table>().ok();
        !self.from_file || parse(&self.value) == parse(self.setting.default)
    }
}

/// The setting `key` names, or [`StoreError::UnknownSetting`].
fn setting(key: &str) -> Result<&'static Setting> {
    settings::find(key).ok_or_else(|| StoreError::UnknownSetting {
        key: key.to_string(),
        known: settings::known_keys(),
    })
}

/// The file's text; "" when there is none (every key at its default).
fn read(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io(path)(e)),
    }
}

/// Every setting with its value, in the table's order. The file is checked
/// first: a file the store would refuse is refused here too.
pub fn list(path: &Path) -> Result<Vec<SettingValue>> {
    let text = read(path)?;
    Config::from_text(&text, path)?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| StoreError::Config {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    Ok(settings::SETTINGS
        .iter()
        .map(|s| {
            let found = match s.section() {
                None => table.get(s.key),
                Some(section) => table
                    .get(section)
                    .and_then(|t| t.as_table())
                    .and_then(|t| t.get(s.name())),
            };
            SettingValue {
                setting: s,
                value: found.map_or_else(|| s.default.to_string(), |v| v.to_string()),
                from_file: found.is_some(),
            }
        })
        .collect())
}

/// The value of `key`.
pub fn get(path: &Path, key: &str) -> Result<SettingValue> {
    let wanted = setting(key)?;
    list(path)?
        .into_iter()
        .find(|v| v.setting.key == wanted.key)
        .ok_or_else(|| StoreError::UnknownSetting {
            key: key.to_string(),
            known: settings::known_keys(),
        })
}

/// Sets `key` to `value` (TOML, such as `3` or `"2h"`; a bare word that is not
/// TOML is taken as a string: `2h`). The rest of the file, comments included,
/// is kept; the result is parsed as the store will parse it and written only if
/// it is accepted. Returns the new value.
pub fn set(path: &Path, key: &str, value: &str) -> Result<SettingValue> {
    let s = setting(key)?;
    let text = read(path)?;
    let bad = |why: String| StoreError::Config {
        path: path.to_path_buf(),
        why,
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| bad(e.to_string()))?;
    let mut new: toml_edit::Value = value
        .parse()
        .unwrap_or_else(|_| toml_edit::Value::from(value));
    let table = match s.section() {
        None => doc.as_table_mut(),
        Some(section) => {
            let item = doc
                .entry(section)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
            item.as_table_mut().ok_or_else(|| {
                bad(format!(
                    "`{RETENTION}` must be a table (a `[{section}]` section)"
                ))
            })?
        }
    };
    // Changed in place, so the key keeps its decoration: the comment lines
    // above a key are the key's, and an insert would replace them.
    match table.get_mut(s.name()).and_then(|i| i.as_value_mut()) {
        Some(old) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        None => {
            new.decor_mut().set_prefix(" ");
            table.insert(s.name(), toml_edit::Item::Value(new));
        }
    }
    let out = doc.to_string();
    Config::from_text(&out, path)?;
    private_fs::write_atomic(path, out.as_bytes(), Durability::Synced).map_err(io(path))?;
    get(path, key)
}
