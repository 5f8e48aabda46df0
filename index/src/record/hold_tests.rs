//! The Hold record (tag 13, version 5): its documented layout and every refusal
//! of its decoder. Round trips, truncations and bit flips of Hold records run
//! with the other tags in `tests.rs` (`hold_strategy`, `hold` in `samples`).

use super::tests::hold;
use super::*;

/// A Hold record's bytes, marked `version`.
fn raw_hold(version: u8, dir: &[u8], from_ns: i64, to_ns: i64, ended: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 13];
    b.extend_from_slice(&(dir.len() as u32).to_le_bytes());
    b.extend_from_slice(dir);
    b.extend_from_slice(&from_ns.to_le_bytes());
    b.extend_from_slice(&to_ns.to_le_bytes());
    b.extend_from_slice(&7u64.to_le_bytes());
    b.extend_from_slice(&9u64.to_le_bytes());
    b.extend_from_slice(&(ended.len() as u32).to_le_bytes());
    b.extend_from_slice(ended);
    b
}

fn check_err(bytes: &[u8], pred: impl Fn(&DecodeError) -> bool) {
    match Record::decode(bytes) {
        Err(e) => assert!(pred(&e), "unexpected error {e:?}"),
        Ok(r) => panic!("decoded {r:?}"),
    }
}

/// The format is pinned: a change to these bytes is a format change.
#[test]
fn a_hold_encodes_as_documented() {
    let bytes = Record::Hold(Hold {
        dir: b"gen/out".to_vec(),
        from_ns: -1,
        to_ns: 2,
        files_per_minute: 7,
        bytes_per_minute: 9,
        ended: "x".into(),
    })
    .encode();
    assert_eq!(bytes, raw_hold(5, b"gen/out", -1, 2, b"x"));
    assert_eq!(&bytes[..8], &[5, 13, 7, 0, 0, 0, b'g', b'e']);
    assert_eq!(Record::decode(&bytes).unwrap().encode(), bytes);
    assert_eq!(hold().version(), 5);
}

#[test]
fn a_hold_ending_before_it_starts_is_inconsistent() {
    check_err(&raw_hold(5, b"d", 5, 4, b""), |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Hold.to_ns",
                offset: 15,
                ..
            }
        )
    });
    assert!(Record::decode(&raw_hold(5, b"d", 5, 5, b"")).is_ok());
}

#[test]
fn a_hold_of_the_root_or_of_a_bad_path_is_refused() {
    for dir in [&b""[..], b"/abs", b"a/../b", b"a\0b"] {
        check_err(&raw_hold(5, dir, 1, 2, b""), |e| {
            matches!(
                e,
                DecodeError::BadPath {
                    field: "Hold.dir",
                    ..
                }
            )
        });
    }
}

#[test]
fn a_hold_reason_must_be_utf8_and_within_its_limit() {
    check_err(&raw_hold(5, b"d", 1, 2, &[0xff, 0xfe]), |e| {
        matches!(
            e,
            DecodeError::BadUtf8 {
                field: "Hold.ended",
                ..
            }
        )
    });
    let long = vec![b'a'; GAP_REASON_MAX_BYTES + 1];
    check_err(&raw_hold(5, b"d", 1, 2, &long), |e| {
        matches!(
            e,
            DecodeError::TooLong {
                field: "Hold.ended",
                ..
            }
        )
    });
}

#[test]
fn a_hold_is_version_5_only() {
    // Version 4 has no tag 13; a Hold marked 6 is refused (one encoding per
    // record), one marked 7 is from a newer tl.
    check_err(&raw_hold(4, b"d", 1, 2, b""), |e| {
        matches!(e, DecodeError::UnknownTag { found: 13, .. })
    });
    check_err(&raw_hold(6, b"d", 1, 2, b""), |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "version",
                ..
            }
        )
    });
    check_err(&raw_hold(7, b"d", 1, 2, b""), |e| {
        matches!(e, DecodeError::UnsupportedVersion { found: 7, .. })
    });
    // An older tag marked 5 is refused: one encoding per record.
    let mut gap = Record::Gap {
        from_ns: 1,
        to_ns: 2,
        reason: String::new(),
    }
    .encode();
    gap[0] = 5;
    check_err(&gap, |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "version",
                ..
            }
        )
    });
}

#[test]
fn trailing_bytes_after_a_hold_are_refused() {
    let mut bytes = hold().encode();
    bytes.push(0);
    check_err(&bytes, |e| {
        matches!(e, DecodeError::TrailingBytes { count: 1, .. })
    });
}
