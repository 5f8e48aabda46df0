//! `.tl/config.toml`: the settings, their defaults and their parsing.

use std::ops::RangeInclusive;
use std::path::Path;

use super::error::{io, Result, StoreError};
use super::settings::{self, RETENTION};
use crate::retention::Policy;

/// Settings from `.tl/config.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Files larger than this are skipped with a warning (default 1 GiB).
    pub max_file_bytes: u64,
    /// A capture that would add more than this many bytes (the walk's estimate)
    /// asks first (`tl checkpoint`) or warns (the daemon). Default 2 GiB.
    pub max_batch_bytes: u64,
    /// zstd level used at capture.
    pub zstd_level: i32,
    /// zstd level of the solid blocks GC packs content into.
    pub gc_zstd_level: i32,
    /// The daemon runs the GC once the log grew by this many bytes since the
    /// last one (or once a day).
    pub gc_every_bytes: u64,
    /// The compactor writes a snapshot once this many checkpoints follow the last.
    pub snapshot_every: u64,
    /// Segment size at which the log rotates.
    pub segment_bytes_max: u64,
    /// The daemon holds a directory (stops capturing it until `tl resume`) whose
    /// subtree writes more than this many files in a minute (issue 13).
    pub runaway_files_per_minute: u64,
    /// ... or more than this many bytes of files in a minute.
    pub runaway_bytes_per_minute: u64,
    /// The daemon pushes to the remotes added with auto on once the log has
    /// held data they lack for this many seconds (issue 15). Default 10.
    pub push_interval_s: u64,
    /// The `[retention]` section: what the GC keeps.
    pub retention: Policy,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_file_bytes: 1 << 30,
            max_batch_bytes: 2 << 30,
            zstd_level: 1,
            gc_zstd_level: 9,
            gc_every_bytes: 64 << 20,
            snapshot_every: 100,
            segment_bytes_max: 64 << 20,
            runaway_files_per_minute: 60_000,
            runaway_bytes_per_minute: 8 << 30,
            push_interval_s: 10,
            retention: Policy::default(),
        }
    }
}

pub(crate) const DEFAULT_CONFIG: &str = "\
# tl settings. Every key is optional; the values shown are the defaults.

# Files larger than this many bytes (1 GiB) are not captured; `tl status` and
# `tl daemon status` name them.
max_file_bytes = 1073741824

# A capture that would add more than this many bytes (2 GiB; new or changed
# files by their sizes, before anything is read) asks first: `tl checkpoint` asks
# on a terminal and, elsewhere, refuses unless given --yes; the daemon captures
# it and logs a warning naming the largest directories. A first capture of a
# source tree (the Linux kernel's is about 1.5 GB) stays under it; a dataset, a
# disk image or a directory of downloads does not.
max_batch_bytes = 2147483648

# zstd level for new content (1 = fastest).
zstd_level = 1

# zstd level of the solid blocks `tl gc` packs small files into (19 packs
# tighter and takes about four times as long).
gc_zstd_level = 9

# A running daemon runs `tl gc` itself, at the lowest priority, once the log grew
# by this many bytes since the last GC, or once a day.
gc_every_bytes = 67108864

# Write a tree snapshot after this many checkpoints (snapshots speed up replay).
snapshot_every = 100

# Start a new log segment once the current one reaches this size.
segment_bytes_max = 67108864

# The runaway guard: a directory whose files change faster than this (files, or
# bytes of the files changed, in a minute) is captured once, then held: the
# daemon stops capturing it until `tl resume DIR` or until it is added to
# .tlignore; the rest of the tree is captured as always. `npm install` (some
# 30,000 files in half a minute) stays under it; a generator writing 10,000
# files a second is held within 6 seconds.
runaway_files_per_minute = 60000
runaway_bytes_per_minute = 8589934592

# A running daemon pushes to the remotes added with auto on (`tl remote add`)
# once the log has held data they lack for this many seconds; while nothing is
# captured it makes no request at all.
push_interval_s = 10

# What `tl gc` keeps: spans counted back from now (any unit: 90s, 10m, 1h, 7d, 2w;
# \"0s\" turns a rule off). In each second, minute, hour or day of its span a rule
# keeps the newest state; the newest state and every pin are always kept. Days
# follow the local clock. max-store-bytes (e.g. \"10 GiB\" binary, \"500 MB\" decimal)
# drops the oldest further states until the store fits. Remove the leading '#'
# from the section and the keys you change.
# [retention]
# keep-all = \"1h\"
# keep-secondly = \"0s\"
# keep-minutely = \"1d\"
# keep-hourly = \"7d\"
# keep-daily = \"90d\"
# max-store-bytes = \"\"
";

/// The largest config file read (1 MiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl Config {
    /// Reads the config file; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config> {
        use std::io::Read;
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(io(path)(e)),
        };
        // Bounded work whatever the file holds: a config is a few hundred bytes.
        let mut bytes = Vec::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io(path))?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(StoreError::Config {
                path: path.to_path_buf(),
                why: format!(
                    "the file is over {} KiB, which no tl config is: it is not a config \
                     (`tl config list` shows the settings; `tl init` writes a fresh file)",
                    MAX_CONFIG_BYTES / 1024
                ),
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| StoreError::Config {
            path: path.to_path_buf(),
            why: "the file is not UTF-8 text".to_string(),
        })?;
        Config::from_text(&text, path)
    }

    /// Parses the text of a config file (`path` names it in errors). A key that
    /// is not in [`SETTINGS`](super::settings::SETTINGS) is refused with the list
    /// of known ones.
    pub fn from_text(text: &str, path: &Path) -> Result<Config> {
        let bad = |why: String| StoreError::Config {
            path: path.to_path_buf(),
            why,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(parse_error(text, &e)))?;
        let mut c = Config::default();
        for (key, value) in table {
            if key == RETENTION {
                c.retention =
                    Policy::from_toml(&value).map_err(|source| StoreError::Retention {
                        path: path.to_path_buf(),
                        source,
                    })?;
                continue;
            }
            if settings::find(&key).is_none() {
                return Err(bad(format!(
                    "unknown setting `{key}`; known settings: {}",
                    settings::known_keys()
                )));
            }
            let int = value
                .as_integer()
                .ok_or_else(|| bad(format!("`{key}` must be an integer")))?;
            let positive = |v: i64| -> Result<u64> {
                if v <= 0 {
                    Err(bad(format!("`{key}` must be positive, found {v}")))
                } else {
                    Ok(v as u64)
                }
            };
            let level = |v: i64| -> Result<i32> {
                let range = integer_range(&key);
                if range.contains(&v) {
                    Ok(v as i32)
                } else {
                    Err(bad(format!(
                        "`{key}` must be {}..={}, found {v}",
                        range.start(),
                        range.end()
                    )))
                }
            };
            match key.as_str() {
                "max_file_bytes" => c.max_file_bytes = positive(int)?,
                "max_batch_bytes" => c.max_batch_bytes = positive(int)?,
                "zstd_level" => c.zstd_level = level(int)?,
                "gc_zstd_level" => c.gc_zstd_level = level(int)?,
                "gc_every_bytes" => c.gc_every_bytes = positive(int)?,
                "snapshot_every" => c.snapshot_every = positive(int)?,
                "segment_bytes_max" => c.segment_bytes_max = positive(int)?.max(1 << 16),
                "runaway_files_per_minute" => c.runaway_files_per_minute = positive(int)?,
                "runaway_bytes_per_minute" => c.runaway_bytes_per_minute = positive(int)?,
                "push_interval_s" => c.push_interval_s = positive(int)?,
                other => return Err(bad(format!("unknown setting `{other}`"))),
            }
        }
        Ok(c)
    }

    /// The log's options these settings ask for.
    pub(crate) fn wal_options(&self) -> tl_wal::Options {
        tl_wal::Options {
            segment_bytes_max: self.segment_bytes_max,
            uring: false,
        }
    }
}

/// The whole numbers the top-level setting `key` takes (every one is an
/// integer; [`Config::from_text`] checks them, [`parse_error`] names them).
fn integer_range(key: &str) -> RangeInclusive<i64> {
    match key {
        "zstd_level" | "gc_zstd_level" => 1..=22,
        _ => 1..=i64::MAX,
    }
}

/// What the setting `key` (`zstd_level`, `retention.keep-all`) takes, in words.
fn allowed_values(key: &str) -> String {
    match settings::find(key) {
        None => format!(
            "unknown setting; known settings: {}",
            settings::known_keys()
        ),
        Some(s) if s.section().is_some() => {
            format!("it takes a quoted value like its default, {}", s.default)
        }
        Some(_) => {
            let range = integer_range(key);
            format!(
                "it takes a whole number from {} to {}",
                range.start(),
                range.end()
            )
        }
    }
}

/// The words of a TOML syntax error (a number past 64 bits, a bad value...):
/// when it lies in the value of a `key = value` line, the key (with its
/// section) and what it takes; otherwise toml's own message and excerpt.
fn parse_error(text: &str, e: &toml::de::Error) -> String {
    let full = e.to_string();
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return full;
    };
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..line_start].matches('\n').count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    let Some((name, eq)) = key_of(line) else {
        return full;
    };
    let section = text[..line_start].lines().rev().find_map(section_of);
    let key = match section {
        Some(s) => format!("{s}.{name}"),
        None => name.to_string(),
    };
    if at - line_start > eq {
        let value = line[eq + 1..].split('#').next().unwrap_or("").trim();
        let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
        let past_64_bits = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
            && value.replace('_', "").parse::<i64>().is_err();
        let what = if past_64_bits {
            "the number is past what 64 bits hold (TOML integers are 64-bit)"
        } else {
            e.message().trim_end()
        };
        format!(
            "`{key}` = {value} (line {line_no}): {what}; {}",
            allowed_values(&key)
        )
    } else {
        format!("`{key}` (line {line_no}): {}", e.message().trim_end())
    }
}

/// The bare key of a `key = value` line and the offset of its `=`.
fn key_of(line: &str) -> Option<(&str, usize)> {
    let eq = line.find('=')?;
    let name = line[..eq].trim();
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    bare.then_some((name, eq))
}

/// The name of a `[section]` header line.
fn section_of(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix('[')?;
    let (name, after) = rest.split_once(']')?;
    let after = after.trim();
    (!name.starts_with('[') && (after.is_empty() || after.starts_with('#'))).then(|| name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::{ConfigError, Span};

    fn load(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    #[test]
    fn a_config_without_retention_gets_the_default_policy() {
        let c = load("snapshot_every = 5\n").unwrap();
        assert_eq!(c.snapshot_every, 5);
        assert_eq!(c.retention, Policy::default());
        assert_eq!(load(DEFAULT_CONFIG).unwrap(), Config::default());
    }

    #[test]
    fn the_documented_retention_section_uncommented_gives_the_defaults() {
        let uncommented: String = DEFAULT_CONFIG
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.starts_with("[retention]") || rest.contains(" = \"") => rest,
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(uncommented.contains("\n[retention]\n"), "{uncommented}");
        assert_eq!(load(&uncommented).unwrap(), Config::default());
    }

    #[test]
    fn runaway_budgets_are_read_and_must_be_positive() {
        let c = load("runaway_files_per_minute = 500\nrunaway_bytes_per_minute = 4096\n").unwrap();
        assert_eq!(load("push_interval_s = 3\n").unwrap().push_interval_s, 3);
        assert!(load("push_interval_s = 0\n").is_err());
        assert_eq!(c.runaway_files_per_minute, 500);
        assert_eq!(c.runaway_bytes_per_minute, 4096);
        let err = load("runaway_files_per_minute = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`runaway_files_per_minute` must be positive"),
            "{err}"
        );
        assert!(load("runaway_bytes_per_minute = \"1 GiB\"\n").is_err());
    }

    #[test]
    fn max_batch_bytes_is_read_and_must_be_positive() {
        assert_eq!(Config::default().max_batch_bytes, 2 << 30);
        assert_eq!(
            load("max_batch_bytes = 4096\n").unwrap().max_batch_bytes,
            4096
        );
        let err = load("max_batch_bytes = 0\n").unwrap_err().to_string();
        assert!(err.contains("`max_batch_bytes` must be positive"), "{err}");
        assert!(load("max_batch_bytes = \"2 GiB\"\n").is_err());
    }

    #[test]
    fn retention_keys_are_read_beside_the_other_settings() {
        let c = load("zstd_level = 3\n[retention]\nkeep-all = \"90s\"\n").unwrap();
        assert_eq!(c.zstd_level, 3);
        assert_eq!(c.retention.keep_all, Span::from_secs(90));
    }

    #[test]
    fn a_bad_retention_key_is_a_retention_error_naming_the_file() {
        let err = load("[retention]\nkeep-yearly = \"5y\"\n").unwrap_err();
        match &err {
            StoreError::Retention { path, source } => {
                assert!(path.ends_with("config.toml"), "{path:?}");
                assert_eq!(
                    source,
                    &ConfigError::UnknownKey {
                        key: "keep-yearly".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("config.toml: unknown key `keep-yearly` in [retention]"),
            "{msg}"
        );
    }
}
