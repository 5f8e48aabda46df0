//! [`Lsn`]: a position in the log, as its own type so it cannot be mixed up with a
//! byte count, an offset inside a segment file, a sequence number or a time.

use std::fmt;
use std::ops::{Add, AddAssign};

/// A log sequence number: a byte position in the whole log (segment headers
/// excluded). Monotonic and addressable: a record's LSN is where its first frame
/// starts.
///
/// Positions advance by byte counts (`lsn + len`) and the distance between two is a
/// byte count ([`Lsn::bytes_since`]); there is no other arithmetic. Code that
/// writes or reads bytes (frame and segment headers, index records, the catalog
/// cache, snapshot headers, JSON) converts explicitly with [`Lsn::new`] and
/// [`Lsn::get`]. `Display` prints the plain number, as users see it in `@LSN` and
/// in messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(u64);

impl Lsn {
    /// The start of a log that was never truncated.
    pub const ZERO: Lsn = Lsn(0);

    /// Past every position a log can reach: "the newest", as a search bound.
    pub const MAX: Lsn = Lsn(u64::MAX);

    /// The position `n` bytes into the log (as stored on disk or typed by a user).
    pub const fn new(n: u64) -> Lsn {
        Lsn(n)
    }

    /// The position as a plain number, for encoding it.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// How many bytes of log lie from `earlier` up to `self`.
    ///
    /// # Panics
    /// If `earlier` is past `self` (a caller's logic error, as `u64` subtraction
    /// would be).
    pub fn bytes_since(self, earlier: Lsn) -> u64 {
        self.checked_bytes_since(earlier)
            .unwrap_or_else(|| panic!("LSN {earlier} is past LSN {self}"))
    }

    /// How many bytes of log lie from `earlier` up to `self`; `None` when `earlier`
    /// is past `self`.
    pub fn checked_bytes_since(self, earlier: Lsn) -> Option<u64> {
        self.0.checked_sub(earlier.0)
    }
}

impl Add<u64> for Lsn {
    type Output = Lsn;

    /// The position `bytes` further on.
    fn add(self, bytes: u64) -> Lsn {
        Lsn(self.0 + bytes)
    }
}

impl AddAssign<u64> for Lsn {
    fn add_assign(&mut self, bytes: u64) {
        self.0 += bytes;
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Lsn;

    #[test]
    fn display_prints_the_plain_number() {
        assert_eq!(Lsn::new(1234).to_string(), "1234");
        assert_eq!(format!("@{}", Lsn::ZERO), "@0");
        assert_eq!(format!("{:>6}", Lsn::new(42)), "    42");
        assert_eq!(format!("{:020}", Lsn::new(7)), "00000000000000000007");
    }

    #[test]
    fn advancing_then_measuring_gives_back_the_byte_count() {
        let start = Lsn::new(100);
        let mut end = start + 28;
        end += 4;
        assert_eq!(end, Lsn::new(132));
        assert_eq!(end.bytes_since(start), 32);
        assert_eq!(start.bytes_since(start), 0);
        assert_eq!(start.checked_bytes_since(end), None);
        assert_eq!(end.checked_bytes_since(start), Some(32));
    }

    #[test]
    #[should_panic(expected = "LSN 9 is past LSN 8")]
    fn measuring_backwards_is_a_logic_error() {
        Lsn::new(8).bytes_since(Lsn::new(9));
    }

    #[test]
    fn order_follows_the_position() {
        assert!(Lsn::new(7) < Lsn::new(8));
        assert!(Lsn::new(u64::MAX - 1) < Lsn::MAX);
        assert_eq!(Lsn::default(), Lsn::ZERO);
        assert_eq!(Lsn::new(5).get(), 5);
    }
}
