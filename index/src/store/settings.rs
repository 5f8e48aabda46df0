//! The settings `.tl/config.toml` takes, in one table: key, default, what it
//! does. It is the source of CONFIG.md's reference (checked by a test), of the
//! unknown-key message and of `tl config list`; the parser (`config.rs`,
//! `retention/policy.rs`) refuses any key it does not list.

use std::fmt::Write;

/// One key of `.tl/config.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key as `tl config` names it: `zstd_level`, or `retention.keep-all`
    /// for a key of the `[retention]` section.
    pub key: &'static str,
    /// Its default, as a TOML value (a string in quotes).
    pub default: &'static str,
    /// What it does, in a sentence or two.
    pub doc: &'static str,
}

impl Setting {
    /// The section the key sits in (`retention`), None at the top level.
    pub fn section(&self) -> Option<&'static str> {
        self.key.split_once('.').map(|(s, _)| s)
    }

    /// The key inside its section (`keep-all` of `retention.keep-all`).
    pub fn name(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(_, k)| k)
    }
}

/// The section whose keys are the retention policy's.
pub const RETENTION: &str = "retention";

/// Every key of `.tl/config.toml`, top-level keys first, then `[retention]`.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "max_file_bytes",
        default: "1073741824",
        doc: "Files larger than this many bytes (1 GiB) are not captured; `tl status` and \
              `tl daemon status` name them.",
    },
    Setting {
        key: "max_batch_bytes",
        default: "2147483648",
        doc: "A capture that would add more than this many bytes (2 GiB, new or changed files \
              by their sizes) asks first: `tl checkpoint` asks on a terminal and elsewhere \
              refuses unless given --yes; the daemon captures it and logs a warning naming the \
              largest directories.",
    },
    Setting {
        key: "zstd_level",
        default: "1",
        doc: "zstd level for new content, 1..=22 (1 = fastest).",
    },
    Setting {
        key: "gc_zstd_level",
        default: "9",
        doc: "zstd level of the solid blocks `tl gc` packs small files into, 1..=22 (19 packs \
              tighter and takes about four times as long).",
    },
    Setting {
        key: "gc_every_bytes",
        default: "67108864",
        doc: "A running daemon runs `tl gc` itself, at the lowest priority, once the log grew by \
              this many bytes since the last GC, or once a day.",
    },
    Setting {
        key: "snapshot_every",
        default: "100",
        doc: "Write a tree snapshot after this many checkpoints (snapshots speed up replay).",
    },
    Setting {
        key: "segment_bytes_max",
        default: "67108864",
        doc: "Start a new log segment once the current one reaches this many bytes (at least \
              65536).",
    },
    Setting {
        key: "runaway_files_per_minute",
        default: "60000",
        doc: "The runaway guard: a directory whose files change faster than this many files a \
              minute is captured once, then held until `tl resume DIR` (or until .tlignore \
              lists it).",
    },
    Setting {
        key: "runaway_bytes_per_minute",
        default: "8589934592",
        doc: "The runaway guard's other budget: bytes of the files changed in a minute (8 GiB).",
    },
    Setting {
        key: "push_interval_s",
        default: "10",
        doc: "A running daemon pushes to the remotes added with auto on once the log has held \
              data they lack for this many seconds.",
    },
    Setting {
        key: "retention.keep-all",
        default: "\"1h\"",
        doc: "`tl gc` keeps every state of this span, counted back from now (90s, 10m, 1h, 7d, \
              2w; \"0s\" turns the rule off).",
    },
    Setting {
        key: "retention.keep-secondly",
        default: "\"0s\"",
        doc: "... and the newest state of each second within this span.",
    },
    Setting {
        key: "retention.keep-minutely",
        default: "\"1d\"",
        doc: "... the newest state of each minute within this span.",
    },
    Setting {
        key: "retention.keep-hourly",
        default: "\"7d\"",
        doc: "... the newest state of each hour within this span.",
    },
    Setting {
        key: "retention.keep-daily",
        default: "\"90d\"",
        doc: "... the newest state of each day (local midnight to midnight) within this span.",
    },
    Setting {
        key: "retention.max-store-bytes",
        default: "\"\"",
        doc: "Drop the oldest further states until the store fits in this size (\"10 GiB\" \
              binary, \"500 MB\" decimal; \"\": no cap). The newest state and every pin are \
              always kept.",
    },
];

/// The setting named `key` (`zstd_level`, `retention.keep-all`).
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// Every key, comma-separated, for messages.
pub fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|s| s.key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reference table CONFIG.md holds between its markers.
pub fn reference_markdown() -> String {
    let mut out = String::from("| Key | Default | What it does |\n|---|---|---|\n");
    for s in SETTINGS {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            s.key,
            s.default,
            s.doc.replace('|', "\\|")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::KNOWN_KEYS;
    use crate::store::Config;

    /// Every `"key" =>` arm of a parser's match, from its source.
    fn parser_arms(source: &str) -> Vec<String> {
        source
            .lines()
            .filter_map(|l| {
                let l = l.trim_start();
                let rest = l.strip_prefix('"')?;
                let (key, after) = rest.split_once('"')?;
                after
                    .trim_start()
                    .starts_with("=>")
                    .then(|| key.to_string())
            })
            .collect()
    }

    #[test]
    fn every_key_the_parser_reads_is_in_the_table() {
        let top = parser_arms(include_str!("config.rs"));
        assert!(top.len() >= 10, "{top:?}");
        for key in &top {
            assert!(
                find(key).is_some(),
                "config.rs reads `{key}`: add it to SETTINGS"
            );
        }
        let retention = parser_arms(include_str!("../retention/policy.rs"));
        for key in retention.iter().map(String::as_str).chain(KNOWN_KEYS) {
            assert!(
                find(&format!("{RETENTION}.{key}")).is_some(),
                "[retention] takes `{key}`: add it to SETTINGS"
            );
        }
        let table_retention: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.section() == Some(RETENTION))
            .map(|s| s.name())
            .collect();
        assert_eq!(table_retention, KNOWN_KEYS);
    }

    #[test]
    fn every_default_in_the_table_is_the_parsers_default() {
        let mut text = String::new();
        for s in SETTINGS.iter().filter(|s| s.section().is_none()) {
            text.push_str(&format!("{} = {}\n", s.key, s.default));
        }
        text.push_str("[retention]\n");
        for s in SETTINGS.iter().filter(|s| s.section() == Some(RETENTION)) {
            text.push_str(&format!("{} = {}\n", s.name(), s.default));
        }
        let c = Config::from_text(&text, std::path::Path::new("config.toml")).unwrap();
        assert_eq!(c, Config::default(), "{text}");
    }

    #[test]
    fn config_md_holds_the_reference_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../CONFIG.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let table = reference_markdown();
        assert!(
            doc.contains(&format!("<!-- keys -->\n{table}<!-- /keys -->")),
            "CONFIG.md's table between <!-- keys --> and <!-- /keys --> differs from \
             index/src/store/settings.rs; put this there:\n{table}"
        );
    }

    #[test]
    fn the_default_config_file_names_every_top_level_key() {
        for s in SETTINGS {
            assert!(
                super::super::config::DEFAULT_CONFIG.contains(s.name()),
                "the file tl init writes does not mention {}",
                s.key
            );
        }
    }
}
