//! The retention policy: which spans of history keep every state, which keep one
//! state per second, minute, hour or day, and an optional cap on the store's size;
//! and its parsing from the `[retention]` table of `.tl/config.toml`.

use std::fmt;

use super::size::{parse_size, ByteSize, SizeError};
use crate::timespec::{parse_duration, DurationError};

/// A span of history counted back from now: a positive number of nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

impl Span {
    /// The span of `ns` nanoseconds; None unless positive.
    pub fn from_ns(ns: i64) -> Option<Span> {
        (ns > 0).then_some(Span(ns))
    }

    /// The span of `secs` seconds; None unless positive (or if it overflows).
    pub fn from_secs(secs: i64) -> Option<Span> {
        secs.checked_mul(1_000_000_000).and_then(Span::from_ns)
    }

    /// Its length in nanoseconds.
    pub fn ns(self) -> i64 {
        self.0
    }
}

/// The width of a rule's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day of 24 hours, starting at local midnight (see [`super::select`]).
    Day,
}

impl Unit {
    /// The bucket units, finest first.
    pub const ALL: [Unit; 4] = [Unit::Second, Unit::Minute, Unit::Hour, Unit::Day];

    /// The bucket width in nanoseconds.
    pub fn ns(self) -> i64 {
        const S: i64 = 1_000_000_000;
        match self {
            Unit::Second => S,
            Unit::Minute => 60 * S,
            Unit::Hour => 3_600 * S,
            Unit::Day => 86_400 * S,
        }
    }

    /// The config key of the rule bucketing by this unit.
    pub fn key(self) -> &'static str {
        match self {
            Unit::Second => "keep-secondly",
            Unit::Minute => "keep-minutely",
            Unit::Hour => "keep-hourly",
            Unit::Day => "keep-daily",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::Day => "day",
        })
    }
}

/// What `.tl/config.toml`'s `[retention]` asks to keep. A rule that is None is off.
///
/// The time rules are a union: a state is kept when any rule keeps it (and the
/// newest state and every pin are always kept; see [`super::select`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `keep-all`: every state of this span.
    pub keep_all: Option<Span>,
    /// `keep-secondly`: the newest state of each second within this span.
    pub keep_secondly: Option<Span>,
    /// `keep-minutely`: the newest state of each minute within this span.
    pub keep_minutely: Option<Span>,
    /// `keep-hourly`: the newest state of each hour within this span.
    pub keep_hourly: Option<Span>,
    /// `keep-daily`: the newest state of each day within this span.
    pub keep_daily: Option<Span>,
    /// `max-store-bytes`: thin the oldest states further until the store fits.
    pub max_store_bytes: Option<ByteSize>,
}

impl Default for Policy {
    /// One hour of everything, one per minute for a day, one per hour for a week,
    /// one per day for 90 days, no cap.
    fn default() -> Self {
        let span = |secs| Span::from_secs(secs);
        Policy {
            keep_all: span(3_600),
            keep_secondly: None,
            keep_minutely: span(86_400),
            keep_hourly: span(7 * 86_400),
            keep_daily: span(90 * 86_400),
            max_store_bytes: None,
        }
    }
}

/// A rule keeping the newest state of each bucket of `unit` within `span`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketRule {
    /// The bucket width.
    pub unit: Unit,
    /// How far back from now the rule reaches.
    pub span: Span,
}

impl Policy {
    /// The bucket span of `unit`'s rule.
    pub fn bucket_span(&self, unit: Unit) -> Option<Span> {
        match unit {
            Unit::Second => self.keep_secondly,
            Unit::Minute => self.keep_minutely,
            Unit::Hour => self.keep_hourly,
            Unit::Day => self.keep_daily,
        }
    }

    /// The bucket rules that are on, finest unit first.
    pub fn bucket_rules(&self) -> Vec<BucketRule> {
        Unit::ALL
            .into_iter()
            .filter_map(|unit| self.bucket_span(unit).map(|span| BucketRule { unit, span }))
            .collect()
    }

    /// The policy of a `[retention]` table: the keys it sets, the defaults for
    /// the others.
    pub fn from_toml(value: &toml::Value) -> Result<Policy, ConfigError> {
        let table = value.as_table().ok_or(ConfigError::NotATable)?;
        let mut policy = Policy::default();
        for (key, value) in table {
            if key == MAX_STORE_BYTES {
                policy.max_store_bytes = parse_cap(value)?;
                continue;
            }
            let slot = match key.as_str() {
                "keep-all" => &mut policy.keep_all,
                "keep-secondly" => &mut policy.keep_secondly,
                "keep-minutely" => &mut policy.keep_minutely,
                "keep-hourly" => &mut policy.keep_hourly,
                "keep-daily" => &mut policy.keep_daily,
                other => {
                    return Err(ConfigError::UnknownKey {
                        key: other.to_owned(),
                    })
                }
            };
            *slot = parse_span(key, value)?;
        }
        Ok(policy)
    }
}

const MAX_STORE_BYTES: &str = "max-store-bytes";

/// The keys `[retention]` accepts, in the order the docs list them.
pub const KNOWN_KEYS: [&str; 6] = [
    "keep-all",
    "keep-secondly",
    "keep-minutely",
    "keep-hourly",
    "keep-daily",
    MAX_STORE_BYTES,
];

/// [`KNOWN_KEYS`] as one string, for messages.
fn known_keys() -> String {
    KNOWN_KEYS.join(", ")
}

/// Why a `[retention]` table was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `retention = 3` instead of a `[retention]` table.
    #[error("`retention` must be a table (a `[retention]` section)")]
    NotATable,
    /// A key that is not one of [`KNOWN_KEYS`].
    #[error("unknown key `{key}` in [retention]; known keys: {}", known_keys())]
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// A duration or size given as something other than a string.
    #[error("`{key}` in [retention] must be a string, such as {example}; found {found}")]
    NotAString {
        /// The key.
        key: String,
        /// A value of the right shape.
        example: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A span that is not a duration.
    #[error("`{key}` in [retention]: {source} (\"0s\" turns the rule off)")]
    Duration {
        /// The key.
        key: String,
        /// Why the duration was refused.
        #[source]
        source: DurationError,
    },
    /// `max-store-bytes` that is not a size.
    #[error("`max-store-bytes` in [retention]: {source}")]
    Size {
        /// Why the size was refused.
        #[source]
        source: SizeError,
    },
}

/// A rule's span: a duration, where zero (`"0s"`) turns the rule off.
fn parse_span(key: &str, value: &toml::Value) -> Result<Option<Span>, ConfigError> {
    let text = value.as_str().ok_or_else(|| ConfigError::NotAString {
        key: key.to_owned(),
        example: "\"1h\", \"7d\" or \"0s\" (off)",
        found: value.type_str(),
    })?;
    match parse_duration(text) {
        Ok(ns) => Ok(Span::from_ns(ns)),
        Err(DurationError::NotPositive { .. }) => Ok(None),
        Err(source) => Err(ConfigError::Duration {
            key: key.to_owned(),
            source,
        }),
    }
}

/// `max-store-bytes`: an empty string is no cap; a string is a size; an integer
/// is a number of bytes.
fn parse_cap(value: &toml::Value) -> Result<Option<ByteSize>, ConfigError> {
    let size =
        |r: Result<ByteSize, SizeError>| r.map(Some).map_err(|source| ConfigError::Size { source });
    match value {
        toml::Value::String(s) if s.trim().is_empty() => Ok(None),
        toml::Value::String(s) => size(parse_size(s)),
        toml::Value::Integer(n) => size(parse_size(&n.to_string())),
        other => Err(ConfigError::NotAString {
            key: MAX_STORE_BYTES.to_owned(),
            example: "\"10 GiB\", \"500 MB\" or \"\" (no cap)",
            found: other.type_str(),
        }),
    }
}

#[cfg(test)]
mod tests;
