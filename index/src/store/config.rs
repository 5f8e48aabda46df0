//! `.tl/config.toml`: the settings, their defaults and their parsing.

use std::path::Path;

use super::error::{io, Result, StoreError};

/// Settings from `.tl/config.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Files larger than this are skipped with a warning.
    pub max_file_bytes: u64,
    /// zstd level used at capture.
    pub zstd_level: i32,
    /// The compactor writes a snapshot once this many checkpoints follow the last.
    pub snapshot_every: u64,
    /// Segment size at which the log rotates.
    pub segment_bytes_max: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_file_bytes: 100 << 20,
            zstd_level: 1,
            snapshot_every: 100,
            segment_bytes_max: 64 << 20,
        }
    }
}

pub(super) const DEFAULT_CONFIG: &str = "\
# tl settings. Every key is optional; the values shown are the defaults.

# Files larger than this many bytes are not captured (a warning names them).
max_file_bytes = 104857600

# zstd level for new content (1 = fastest).
zstd_level = 1

# Write a tree snapshot after this many checkpoints (snapshots speed up replay).
snapshot_every = 100

# Start a new log segment once the current one reaches this size.
segment_bytes_max = 67108864
";

impl Config {
    /// Reads the config file; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(io(path)(e)),
        };
        let bad = |why: String| StoreError::Config {
            path: path.to_path_buf(),
            why,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        let mut c = Config::default();
        for (key, value) in table {
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
            match key.as_str() {
                "max_file_bytes" => c.max_file_bytes = positive(int)?,
                "zstd_level" => {
                    if !(1..=22).contains(&int) {
                        return Err(bad(format!("`zstd_level` must be 1..=22, found {int}")));
                    }
                    c.zstd_level = int as i32
                }
                "snapshot_every" => c.snapshot_every = positive(int)?,
                "segment_bytes_max" => c.segment_bytes_max = positive(int)?.max(1 << 16),
                other => return Err(bad(format!("unknown setting `{other}`"))),
            }
        }
        Ok(c)
    }

    /// The log's options these settings ask for.
    pub(super) fn wal_options(&self) -> tl_wal::Options {
        tl_wal::Options {
            segment_bytes_max: self.segment_bytes_max,
            uring: false,
        }
    }
}
