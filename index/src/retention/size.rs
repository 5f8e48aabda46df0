//! Byte sizes as a user writes them in `.tl/config.toml` (`max-store-bytes`).
//!
//! Units, chosen explicitly so that no size means two things:
//!
//! | written | means |
//! | --- | --- |
//! | `1048576`, `1048576 B` | bytes |
//! | `KiB`, `MiB`, `GiB`, `TiB` | binary: 2^10, 2^20, 2^30, 2^40 bytes |
//! | `kB`, `KB`, `MB`, `GB`, `TB` | decimal (SI): 10^3, 10^6, 10^9, 10^12 bytes |
//!
//! Units are matched without regard to case (`gib` is `GiB`, `mb` is `MB`); a space
//! between the number and the unit is optional. A bare `K`, `M`, `G` or `T` is
//! refused as ambiguous (some tools read it as binary, others as decimal), and so is
//! any other unit. A fraction is accepted when it comes to a whole number of bytes
//! (`1.5 GiB`, `2.5 MB`); zero is refused (an empty value means "no cap").

use std::fmt;

/// A positive number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    /// The size of `bytes` bytes; None for zero.
    pub fn new(bytes: u64) -> Option<ByteSize> {
        (bytes > 0).then_some(ByteSize(bytes))
    }

    /// The number of bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    /// The size in the largest binary unit that divides it exactly (`10 GiB`,
    /// `1536 KiB`), or in bytes (`1000 B`), so that it reads back to the same size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, mult) in BINARY.iter().rev() {
            if self.0.is_multiple_of(*mult) {
                return write!(f, "{} {unit}", self.0 / mult);
            }
        }
        write!(f, "{} B", self.0)
    }
}

/// The units accepted, as shown in errors.
pub const SIZE_FORMS: &str = "a number of bytes (1048576), or a number and a unit: \
KiB MiB GiB TiB (binary, 1024-based) or kB MB GB TB (decimal, 1000-based), e.g. \"10 GiB\", \"500 MB\"";

const BINARY: [(&str, u64); 4] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

const DECIMAL: [(&str, u64); 5] = [
    ("B", 1),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
];

/// Why a size was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a number optionally followed by a unit.
    #[error("{text:?} is not a size; accepted: {SIZE_FORMS}")]
    Malformed {
        /// The text as given.
        text: String,
    },
    /// `K`, `M`, `G`, `T` alone: binary or decimal?
    #[error(
        "{text:?}: the unit {unit:?} is ambiguous; write {unit}iB for the binary unit \
         or {unit}B for the decimal one"
    )]
    AmbiguousUnit {
        /// The text as given.
        text: String,
        /// The unit as given.
        unit: String,
    },
    /// A unit that is not one of the accepted ones.
    #[error("{text:?}: unknown unit {unit:?}; accepted: {SIZE_FORMS}")]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The unit as given.
        unit: String,
    },
    /// A fraction that does not come to whole bytes (`0.3 KiB`).
    #[error("{text:?} is not a whole number of bytes")]
    NotWhole {
        /// The text as given.
        text: String,
    },
    /// Zero bytes.
    #[error("{text:?}: a size must be more than zero (leave the value empty for no cap)")]
    Zero {
        /// The text as given.
        text: String,
    },
    /// More than 2^64 - 1 bytes.
    #[error("{text:?} is too large (at most 2^64 - 1 bytes)")]
    TooLarge {
        /// The text as given.
        text: String,
    },
}

/// Parses a size (see the module's table of units).
pub fn parse_size(text: &str) -> Result<ByteSize, SizeError> {
    let trimmed = text.trim();
    let malformed = || SizeError::Malformed {
        text: text.to_owned(),
    };
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    let unit = unit.trim_start();
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let has_point = number.contains('.');
    if whole.is_empty()
        || !digits_only(whole)
        || !digits_only(fraction)
        || (has_point && fraction.is_empty())
    {
        return Err(malformed());
    }
    let mult = unit_multiplier(text, unit)?;
    let too_large = || SizeError::TooLarge {
        text: text.to_owned(),
    };
    // Exact arithmetic: whole * mult + fraction * mult / 10^len(fraction).
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let mut bytes = whole.checked_mul(mult as u128).ok_or_else(too_large)?;
    if !fraction.is_empty() {
        if fraction.len() > 20 {
            return Err(SizeError::NotWhole {
                text: text.to_owned(),
            });
        }
        let frac: u128 = fraction.parse().map_err(|_| malformed())?;
        let scale = 10u128.pow(fraction.len() as u32);
        let part = frac * mult as u128;
        if !part.is_multiple_of(scale) {
            return Err(SizeError::NotWhole {
                text: text.to_owned(),
            });
        }
        bytes = bytes.checked_add(part / scale).ok_or_else(too_large)?;
    }
    let bytes = u64::try_from(bytes).map_err(|_| too_large())?;
    ByteSize::new(bytes).ok_or_else(|| SizeError::Zero {
        text: text.to_owned(),
    })
}

/// The bytes one `unit` stands for; the empty unit is bytes.
fn unit_multiplier(text: &str, unit: &str) -> Result<u64, SizeError> {
    if unit.is_empty() {
        return Ok(1);
    }
    let found = BINARY
        .iter()
        .chain(DECIMAL.iter())
        .find(|(name, _)| name.eq_ignore_ascii_case(unit));
    if let Some((_, mult)) = found {
        return Ok(*mult);
    }
    if ["k", "m", "g", "t"]
        .iter()
        .any(|u| u.eq_ignore_ascii_case(unit))
    {
        return Err(SizeError::AmbiguousUnit {
            text: text.to_owned(),
            unit: unit.to_ascii_uppercase(),
        });
    }
    Err(SizeError::UnknownUnit {
        text: text.to_owned(),
        unit: unit.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> u64 {
        parse_size(text).unwrap().bytes()
    }

    #[test]
    fn a_bare_number_is_bytes() {
        assert_eq!(bytes("1048576"), 1_048_576);
        assert_eq!(bytes(" 7 B "), 7);
    }

    #[test]
    fn iec_units_are_binary() {
        assert_eq!(bytes("10 GiB"), 10 << 30);
        assert_eq!(bytes("2GiB"), 2 << 30);
        assert_eq!(bytes("3 kib"), 3 << 10);
        assert_eq!(bytes("1 TiB"), 1 << 40);
        assert_eq!(bytes("5MiB"), 5 << 20);
    }

    #[test]
    fn si_units_are_decimal() {
        assert_eq!(bytes("500 MB"), 500_000_000);
        assert_eq!(bytes("2 kB"), 2_000);
        assert_eq!(bytes("2 KB"), 2_000);
        assert_eq!(bytes("1gb"), 1_000_000_000);
        assert_eq!(bytes("1 TB"), 1_000_000_000_000);
    }

    #[test]
    fn a_fraction_that_comes_to_whole_bytes_is_accepted() {
        assert_eq!(bytes("1.5 GiB"), 3 << 29);
        assert_eq!(bytes("2.5 MB"), 2_500_000);
        assert!(matches!(
            parse_size("0.3 KiB"),
            Err(SizeError::NotWhole { .. })
        ));
    }

    #[test]
    fn a_bare_letter_unit_is_refused_as_ambiguous() {
        for text in ["10G", "10 g", "5 M", "1k", "2T"] {
            let err = parse_size(text).unwrap_err();
            assert!(
                matches!(err, SizeError::AmbiguousUnit { .. }),
                "{text}: {err}"
            );
        }
        let msg = parse_size("10G").unwrap_err().to_string();
        assert!(msg.contains("GiB") && msg.contains("GB"), "{msg}");
    }

    #[test]
    fn unknown_units_are_refused_by_name() {
        let err = parse_size("10 GIGS").unwrap_err();
        assert_eq!(
            err,
            SizeError::UnknownUnit {
                text: "10 GIGS".into(),
                unit: "GIGS".into()
            }
        );
        assert!(matches!(
            parse_size("10 Gb/s"),
            Err(SizeError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for text in ["", "GiB", "-1", "1.", ".5 GiB", "1.2.3", "ten MB", "1,000"] {
            assert!(parse_size(text).is_err(), "{text:?} was accepted");
        }
        assert!(matches!(parse_size("-1"), Err(SizeError::Malformed { .. })));
        assert!(matches!(
            parse_size("1,000"),
            Err(SizeError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn zero_is_refused() {
        assert!(matches!(parse_size("0"), Err(SizeError::Zero { .. })));
        assert!(matches!(parse_size("0 GiB"), Err(SizeError::Zero { .. })));
    }

    #[test]
    fn sizes_past_u64_are_refused() {
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(SizeError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_size("20000000 TiB"),
            Err(SizeError::TooLarge { .. })
        ));
        assert_eq!(bytes("18446744073709551615"), u64::MAX);
    }

    #[test]
    fn display_reads_back_to_the_same_size() {
        for b in [1u64, 1000, 1024, 1536, 10 << 30, 500_000_000, u64::MAX] {
            let size = ByteSize::new(b).unwrap();
            assert_eq!(parse_size(&size.to_string()), Ok(size), "{size}");
        }
        assert_eq!(ByteSize::new(10 << 30).unwrap().to_string(), "10 GiB");
    }
}
