//! Goal: the record encoding round-trips every valid record, is pinned by a golden
//! encoding, and refuses every malformed payload with a specific error without
//! panicking or allocating what the payload merely claims; zstd bombs are refused.

use super::*;
use crate::pathsafe;
use proptest::prelude::*;

// ---------------------------------------------------------------- strategies

fn path_strategy() -> impl Strategy<Value = Vec<u8>> {
    let component = prop_oneof![
        "[a-zA-Z0-9_.-]{1,8}".prop_map(String::into_bytes),
        // Arbitrary non-UTF-8 bytes: paths are bytes, not strings.
        proptest::collection::vec(1u8..=255, 1..6),
    ];
    proptest::collection::vec(component, 1..4)
        .prop_map(|components| components.join(&b'/'))
        .prop_filter("well-formed path", |p| {
            pathsafe::validate_path_syntax(p).is_ok()
        })
}

fn hash_strategy() -> impl Strategy<Value = BlobHash> {
    any::<[u8; 32]>().prop_map(BlobHash)
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.][A-Za-z0-9._-]{0,20}"
}

fn mode_strategy() -> impl Strategy<Value = Mode> {
    (0u8..=6).prop_map(|c| Mode::from_code(c).expect("codes 0 to 6 are modes"))
}

fn blob_strategy() -> impl Strategy<Value = Record> {
    let raw = (
        hash_strategy(),
        0u64..1 << 40,
        proptest::collection::vec(any::<u8>(), 1..64),
        0u64..1000,
    )
        .prop_map(|(hash, offset, data, extra)| Record::Blob {
            hash,
            raw_len: offset + data.len() as u64 + extra,
            offset,
            codec: Codec::None,
            data,
        });
    let zstd = (
        hash_strategy(),
        0u64..1 << 40,
        1u64..1 << 40,
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(hash, offset, more, data)| Record::Blob {
            hash,
            raw_len: offset + more,
            offset,
            codec: Codec::Zstd,
            data,
        });
    let empty = hash_strategy().prop_map(|hash| Record::Blob {
        hash,
        raw_len: 0,
        offset: 0,
        codec: Codec::None,
        data: Vec::new(),
    });
    prop_oneof![raw, zstd, empty]
}

fn commit_strategy() -> impl Strategy<Value = Record> {
    let kind = prop_oneof![
        Just(CommitKind::Auto),
        Just(CommitKind::Manual),
        Just(CommitKind::Restore),
        Just(CommitKind::Switch),
        Just(CommitKind::Undo)
    ];
    let stats = (any::<u32>(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(
        |(added, modified, deleted, bytes_new)| CommitStats {
            added,
            modified,
            deleted,
            bytes_new,
        },
    );
    (
        (
            any::<i64>(),
            any::<u64>(),
            kind,
            proptest::option::of(".{0,40}"),
        ),
        (any::<u32>(), any::<u64>(), any::<[u8; 32]>(), stats),
    )
        .prop_map(
            |((time_ns, seq, kind, message), (timeline, acked_lsn, chain, stats))| Record::Commit {
                time_ns,
                seq,
                kind,
                message,
                timeline,
                acked_lsn: Lsn::new(acked_lsn),
                chain,
                stats,
            },
        )
}

fn record_strategy() -> impl Strategy<Value = Record> {
    prop_oneof![
        hold_strategy(),
        super::timeline_tests::timeline_strategy(),
        blob_strategy(),
        (
            path_strategy(),
            hash_strategy(),
            mode_strategy(),
            any::<u64>(),
            any::<i64>()
        )
            .prop_map(|(path, hash, mode, size, mtime_ns)| Record::Put {
                path,
                hash,
                mode,
                size,
                mtime_ns
            }),
        path_strategy().prop_map(|path| Record::Delete { path }),
        (path_strategy(), path_strategy())
            .prop_filter("distinct", |(a, b)| a != b)
            .prop_map(|(from, to)| Record::Rename { from, to }),
        commit_strategy(),
        (name_strategy(), any::<u64>(), any::<i64>()).prop_map(|(name, target_lsn, time_ns)| {
            Record::Pin {
                name,
                target_lsn: Lsn::new(target_lsn),
                time_ns,
            }
        }),
        name_strategy().prop_map(|name| Record::Unpin { name }),
        (any::<i64>(), any::<i64>(), ".{0,40}").prop_map(|(a, b, reason)| Record::Gap {
            from_ns: a.min(b),
            to_ns: a.max(b),
            reason,
        }),
        any::<[u8; 32]>().prop_map(|chain| Record::Origin { chain }),
        thinned_strategy(),
        block_strategy(),
        chunked_strategy(),
    ]
}

fn chunked_strategy() -> impl Strategy<Value = Record> {
    (
        hash_strategy(),
        prop::collection::vec((hash_strategy(), 1u32..=BLOB_PART_MAX_RAW as u32), 1..6),
        0u64..1 << 20,
        0u64..1 << 20,
    )
        .prop_map(|(hash, chunks, offset, slack)| {
            let chunks: Vec<Chunk> = chunks
                .into_iter()
                .map(|(hash, len)| Chunk { hash, len })
                .collect();
            let sum: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
            Record::Chunked {
                hash,
                raw_len: offset + sum + slack,
                offset,
                params: CHUNK_PARAMS_V1,
                chunks,
            }
        })
}

fn hold_strategy() -> impl Strategy<Value = Record> {
    (
        path_strategy().prop_filter("not the root", |p| !p.is_empty()),
        any::<i64>(),
        any::<i64>(),
        any::<u64>(),
        any::<u64>(),
        ".{0,40}",
    )
        .prop_map(|(dir, a, b, files, bytes, ended)| {
            Record::Hold(Hold {
                dir,
                from_ns: a.min(b),
                to_ns: a.max(b),
                files_per_minute: files,
                bytes_per_minute: bytes,
                ended,
            })
        })
}

fn block_strategy() -> impl Strategy<Value = Record> {
    prop::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..6).prop_map(
        |contents| {
            let members = contents
                .iter()
                .map(|c| BlockMember {
                    hash: BlobHash::of(c),
                    raw_len: c.len() as u64,
                })
                .collect();
            Record::Block {
                members,
                codec: Codec::None,
                data: contents.concat(),
            }
        },
    )
}

fn thinned_strategy() -> impl Strategy<Value = Record> {
    (
        any::<i64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        (0u64..1 << 40, 0u64..1 << 40),
        (any::<u64>(), any::<u64>()),
        ".{0,40}",
    )
        .prop_map(
            |(time_ns, prev_head, end, (kept, dropped), (a, b), policy)| {
                Record::Thinned(Thinned {
                    time_ns,
                    prev_head,
                    prev_end_lsn: Lsn::new(end),
                    states_before: kept + dropped,
                    kept,
                    dropped,
                    first_seq: a.min(b),
                    last_seq: a.max(b),
                    policy,
                })
            },
        )
}

fn thinned() -> Thinned {
    Thinned {
        time_ns: 5,
        prev_head: [3; 32],
        prev_end_lsn: Lsn::new(4096),
        states_before: 10,
        kept: 4,
        dropped: 6,
        first_seq: 1,
        last_seq: 9,
        policy: "keep-all = \"1h\"".into(),
    }
}

/// One valid record of each kind, for the exhaustive mutation tests.
fn samples() -> Vec<Record> {
    vec![
        Record::Blob {
            hash: BlobHash([7; 32]),
            raw_len: 10,
            offset: 2,
            codec: Codec::None,
            data: b"abc".to_vec(),
        },
        Record::Blob {
            hash: BlobHash::of(b"hello hello hello"),
            raw_len: 17,
            offset: 0,
            codec: Codec::Zstd,
            data: compress_zstd(b"hello hello hello", 3),
        },
        put(b"src/main.rs"),
        Record::Delete {
            path: b"a/b".to_vec(),
        },
        Record::Rename {
            from: b"a".to_vec(),
            to: b"b/c".to_vec(),
        },
        commit(Some("checkpoint \u{e9}".into())),
        commit(None),
        Record::Pin {
            name: "release-1.0".into(),
            target_lsn: Lsn::new(42),
            time_ns: -5,
        },
        Record::Unpin { name: "x".into() },
        hold(),
        Record::Gap {
            from_ns: 1,
            to_ns: 2,
            reason: "inotify overflow".into(),
        },
        Record::Origin { chain: [8; 32] },
        Record::Thinned(thinned()),
        block(),
        chunked(),
        super::timeline_tests::create(),
        super::timeline_tests::switch_commit(),
    ]
}

/// A chunk list of two chunks covering a whole content.
pub(super) fn chunked() -> Record {
    Record::Chunked {
        hash: BlobHash([5; 32]),
        raw_len: 300_000 + 7,
        offset: 0,
        params: CHUNK_PARAMS_V1,
        chunks: vec![
            Chunk {
                hash: BlobHash([6; 32]),
                len: 300_000,
            },
            Chunk {
                hash: BlobHash([7; 32]),
                len: 7,
            },
        ],
    }
}

/// A held directory's interval.
pub(super) fn hold() -> Record {
    Record::Hold(Hold {
        dir: b"gen/out".to_vec(),
        from_ns: 10,
        to_ns: 20,
        files_per_minute: 60_001,
        bytes_per_minute: 1 << 20,
        ended: "resumed by tl resume".into(),
    })
}

/// A solid block of two members, compressed.
fn block() -> Record {
    let raw = b"first file\nsecond file, longer\n";
    Record::Block {
        members: vec![
            BlockMember {
                hash: BlobHash::of(&raw[..11]),
                raw_len: 11,
            },
            BlockMember {
                hash: BlobHash::of(&raw[11..]),
                raw_len: (raw.len() - 11) as u64,
            },
        ],
        codec: Codec::Zstd,
        data: compress_zstd(raw, 3),
    }
}

fn put(path: &[u8]) -> Record {
    Record::Put {
        path: path.to_vec(),
        hash: BlobHash([1; 32]),
        mode: Mode::Exec,
        size: 5,
        mtime_ns: 1_700_000_000_000_000_000,
    }
}

fn commit(message: Option<String>) -> Record {
    Record::Commit {
        time_ns: 1_700_000_000_000_000_000,
        seq: 3,
        kind: CommitKind::Manual,
        message,
        timeline: 0,
        acked_lsn: Lsn::new(99),
        chain: [9; 32],
        stats: CommitStats {
            added: 1,
            modified: 2,
            deleted: 3,
            bytes_new: 4,
        },
    }
}

/// Asserts `bytes` fails to decode with an error matching `expected`.
fn check_err(bytes: &[u8], expected: impl Fn(&DecodeError) -> bool) {
    match Record::decode(bytes) {
        Ok(record) => panic!("decoded {record:?}"),
        Err(e) => assert!(expected(&e), "unexpected error: {e:?} ({e})"),
    }
}

// ---------------------------------------------------------------- round trip

proptest! {
    #[test]
    fn every_valid_record_round_trips(record in record_strategy()) {
        let bytes = record.encode();
        prop_assert!(bytes.len() <= RECORD_MAX_BYTES);
        prop_assert_eq!(Record::decode(&bytes), Ok(record));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Record::decode(&bytes);
    }

    #[test]
    fn decoding_arbitrary_bytes_with_valid_header_never_panics(
        version in RECORD_VERSION_MIN..=RECORD_VERSION,
        tag in 0u8..14,
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = vec![version, tag];
        bytes.extend_from_slice(&body);
        if let Ok(record) = Record::decode(&bytes) {
            // Whatever decodes is canonical: it encodes back to the same bytes.
            prop_assert_eq!(record.encode(), bytes);
        }
    }

    #[test]
    fn bit_flips_in_valid_encodings_never_panic(record in record_strategy(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = record.encode();
        let at = flip.index(bytes.len());
        bytes[at] ^= 1 << bit;
        if let Ok(decoded) = Record::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }

    #[test]
    fn truncated_valid_encodings_are_refused(record in record_strategy()) {
        let bytes = record.encode();
        for len in 0..bytes.len() {
            prop_assert!(Record::decode(&bytes[..len]).is_err(), "prefix of {} bytes decoded", len);
        }
    }
}

#[test]
fn every_truncation_and_bit_flip_of_each_record_kind_is_handled() {
    for record in samples() {
        let bytes = record.encode();
        assert_eq!(Record::decode(&bytes), Ok(record.clone()));
        for len in 0..bytes.len() {
            assert!(
                Record::decode(&bytes[..len]).is_err(),
                "{record:?} cut at {len}"
            );
        }
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[at] ^= 1 << bit;
                if let Ok(decoded) = Record::decode(&flipped) {
                    assert_eq!(decoded.encode(), flipped);
                }
            }
        }
    }
}

/// The format is pinned: a change to these bytes is a format change and needs a new
/// version, not an edit of this test.
#[test]
fn encoding_matches_the_documented_layout() {
    let bytes = Record::Delete {
        path: b"ab".to_vec(),
    }
    .encode();
    assert_eq!(bytes, [2, 3, 2, 0, 0, 0, b'a', b'b']);

    let bytes = put(b"x").encode();
    let mut expected = vec![2, 2, 1, 0, 0, 0, b'x'];
    expected.extend_from_slice(&[1; 32]);
    expected.push(1); // Exec
    expected.extend_from_slice(&5u64.to_le_bytes());
    expected.extend_from_slice(&1_700_000_000_000_000_000i64.to_le_bytes());
    assert_eq!(bytes, expected);

    let bytes = Record::Gap {
        from_ns: -1,
        to_ns: 1,
        reason: "r".into(),
    }
    .encode();
    let mut expected = vec![2, 8];
    expected.extend_from_slice(&(-1i64).to_le_bytes());
    expected.extend_from_slice(&1i64.to_le_bytes());
    expected.extend_from_slice(&[1, 0, 0, 0, b'r']);
    assert_eq!(bytes, expected);

    // Version 2's mode codes, at the Put's mode offset (7 + 32).
    for (mode, code) in [
        (Mode::PrivateFile, 3),
        (Mode::PrivateExec, 4),
        (Mode::GroupFile, 5),
        (Mode::GroupExec, 6),
    ] {
        let bytes = Record::Put {
            path: b"x".to_vec(),
            hash: BlobHash([1; 32]),
            mode,
            size: 5,
            mtime_ns: 1,
        }
        .encode();
        assert_eq!(bytes[7 + 32], code, "{mode:?}");
    }

    let bytes = commit(None).encode();
    assert_eq!(bytes.len(), 2 + 8 + 8 + 1 + 4 + 8 + 32 + 4 + 4 + 4 + 8 + 1);
    assert_eq!(bytes[1], 5);
    assert_eq!(*bytes.last().unwrap(), 0, "message flag last");
}

// ---------------------------------------------------------------- one test per error

#[test]
fn empty_payload_is_truncated_at_version() {
    check_err(&[], |e| {
        matches!(
            e,
            DecodeError::Truncated {
                field: "version",
                offset: 0,
                needed: 1,
                remaining: 0
            }
        )
    });
}

#[test]
fn truncated_field_names_field_and_offset() {
    let bytes = put(b"abc").encode();
    // Cut inside the hash, which starts at 2 + 4 + 3 = 9.
    check_err(&bytes[..20], |e| {
        matches!(
            e,
            DecodeError::Truncated {
                field: "Put.hash",
                offset: 9,
                needed: 32,
                remaining: 11
            }
        )
    });
}

#[test]
fn unknown_version_is_refused_as_unsupported() {
    // Versions 3 (Origin and Thinned) and 4 (Block) are read since GC's
    // records, 5 since chunks, 6 since timelines; a Put marked 3 to 6 is
    // refused otherwise (an_old_tag_marked_version_3_is_refused_...).
    for version in [0u8, 7, 255] {
        let mut bytes = put(b"a").encode();
        bytes[0] = version;
        check_err(&bytes, |e| {
            *e == DecodeError::UnsupportedVersion {
                found: version,
                supported: 6,
            }
        });
    }
}

#[test]
fn a_version_1_record_decodes_as_before_and_knows_only_the_first_three_modes() {
    for mode in [Mode::File, Mode::Exec, Mode::Symlink] {
        let record = Record::Put {
            path: b"a".to_vec(),
            hash: BlobHash([7; 32]),
            mode,
            size: 3,
            mtime_ns: 5,
        };
        let mut bytes = record.encode();
        assert_eq!(bytes[0], 2, "this build writes version 2");
        bytes[0] = 1;
        assert_eq!(Record::decode(&bytes), Ok(record));
    }
    for mode in [
        Mode::PrivateFile,
        Mode::PrivateExec,
        Mode::GroupFile,
        Mode::GroupExec,
    ] {
        let record = Record::Put {
            path: b"a".to_vec(),
            hash: BlobHash([7; 32]),
            mode,
            size: 3,
            mtime_ns: 5,
        };
        let mut bytes = record.encode();
        assert_eq!(Record::decode(&bytes), Ok(record));
        bytes[0] = 1;
        check_err(
            &bytes,
            |e| matches!(e, DecodeError::BadCode { field: "Put.mode", found, .. } if *found == mode.code()),
        );
    }
}

#[test]
fn unknown_tag_is_refused() {
    for tag in [0u8, 9, 255] {
        check_err(&[1, tag], |e| {
            *e == DecodeError::UnknownTag {
                offset: 1,
                found: tag,
            }
        });
    }
}

#[test]
fn bad_mode_code_is_refused() {
    let mut bytes = put(b"a").encode();
    let mode_at = 2 + 4 + 1 + 32;
    bytes[mode_at] = 7;
    check_err(
        &bytes,
        |e| matches!(e, DecodeError::BadCode { field: "Put.mode", offset, found: 7, .. } if *offset == mode_at),
    );
}

#[test]
fn bad_codec_code_is_refused() {
    let mut bytes = samples()[0].encode();
    let codec_at = 2 + 32 + 8 + 8;
    bytes[codec_at] = 2;
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::BadCode {
                field: "Blob.codec",
                found: 2,
                ..
            }
        )
    });
}

#[test]
fn bad_commit_kind_is_refused() {
    let mut bytes = commit(None).encode();
    bytes[2 + 8 + 8] = 7;
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::BadCode {
                field: "Commit.kind",
                found: 7,
                ..
            }
        )
    });
}

#[test]
fn bad_message_flag_is_refused() {
    let mut bytes = commit(None).encode();
    *bytes.last_mut().unwrap() = 2;
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::BadCode {
                field: "Commit.message flag",
                found: 2,
                ..
            }
        )
    });
}

#[test]
fn length_over_the_field_limit_is_refused_before_allocating() {
    // A 4 GiB length claim in an 6-byte payload: refused by the limit, nothing allocated.
    check_err(&[1, 3, 0xff, 0xff, 0xff, 0xff], |e| {
        matches!(
            e,
            DecodeError::TooLong {
                field: "Delete.path",
                offset: 2,
                len: 0xffff_ffff,
                max: 4096
            }
        )
    });
    let mut bytes = vec![1, 7];
    bytes.extend_from_slice(&(NAME_MAX_BYTES as u32 + 1).to_le_bytes());
    bytes.extend_from_slice(&[b'a'; NAME_MAX_BYTES + 1]);
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::TooLong {
                field: "Unpin.name",
                ..
            }
        )
    });
}

#[test]
fn length_within_limit_but_beyond_the_payload_is_truncated() {
    check_err(&[1, 3, 0, 16, 0, 0, b'a'], |e| {
        matches!(
            e,
            DecodeError::Truncated {
                field: "Delete.path",
                offset: 6,
                needed: 4096,
                remaining: 1
            }
        )
    });
}

#[test]
fn non_utf8_text_is_refused() {
    let mut bytes = vec![1, 8];
    bytes.extend_from_slice(&0i64.to_le_bytes());
    bytes.extend_from_slice(&0i64.to_le_bytes());
    bytes.extend_from_slice(&[2, 0, 0, 0, 0xc3, 0x28]);
    check_err(&bytes, |e| {
        *e == DecodeError::BadUtf8 {
            field: "Gap.reason",
            offset: 22,
        }
    });
}

#[test]
fn malformed_paths_are_refused() {
    for path in [&b""[..], b"/abs", b"a/../b", b"a//b", b"a\0b", b"C:x"] {
        let mut bytes = vec![1, 3];
        bytes.extend_from_slice(&(path.len() as u32).to_le_bytes());
        bytes.extend_from_slice(path);
        check_err(&bytes, |e| {
            matches!(
                e,
                DecodeError::BadPath {
                    field: "Delete.path",
                    offset: 6,
                    ..
                }
            )
        });
    }
}

#[test]
fn dot_git_paths_still_decode_so_restore_can_refuse_them_one_by_one() {
    let record = Record::Delete {
        path: b"vendor/.git/config".to_vec(),
    };
    assert_eq!(Record::decode(&record.encode()), Ok(record));
}

#[test]
fn invalid_names_are_refused() {
    for name in ["", "-rf", "a b", "a/b", "\u{e9}"] {
        let mut bytes = vec![1, 7];
        bytes.extend_from_slice(&(name.len() as u32).to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
        check_err(&bytes, |e| {
            matches!(
                e,
                DecodeError::BadName {
                    field: "Unpin.name",
                    offset: 6
                }
            )
        });
    }
}

#[test]
fn rename_to_itself_is_inconsistent() {
    let mut bytes = vec![1, 4];
    for _ in 0..2 {
        bytes.extend_from_slice(&[1, 0, 0, 0, b'a']);
    }
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Rename.to",
                offset: 7,
                ..
            }
        )
    });
}

#[test]
fn gap_ending_before_it_starts_is_inconsistent() {
    let mut bytes = vec![1, 8];
    bytes.extend_from_slice(&5i64.to_le_bytes());
    bytes.extend_from_slice(&4i64.to_le_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Gap.to_ns",
                offset: 10,
                ..
            }
        )
    });
}

fn blob_bytes(raw_len: u64, offset: u64, codec: u8, data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![1, 1];
    bytes.extend_from_slice(&[0; 32]);
    bytes.extend_from_slice(&raw_len.to_le_bytes());
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.push(codec);
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn blob_part_starting_past_the_content_is_inconsistent() {
    for (raw_len, offset) in [(10, 11), (10, 10), (0, 1)] {
        check_err(&blob_bytes(raw_len, offset, 1, b"x"), |e| {
            matches!(
                e,
                DecodeError::Inconsistent {
                    field: "Blob.offset",
                    ..
                }
            )
        });
    }
}

#[test]
fn raw_blob_part_longer_than_the_rest_of_the_content_is_inconsistent() {
    check_err(&blob_bytes(10, 8, 0, b"abc"), |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Blob.data",
                ..
            }
        )
    });
    // Empty raw part of non-empty content.
    check_err(&blob_bytes(10, 0, 0, b""), |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Blob.data",
                ..
            }
        )
    });
    // Raw part over the part limit, inside a huge content.
    let big = vec![0u8; BLOB_PART_MAX_RAW + 1];
    check_err(&blob_bytes(u64::MAX, 0, 0, &big), |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Blob.data",
                ..
            }
        )
    });
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = Record::Unpin { name: "a".into() }.encode();
    let end = bytes.len();
    bytes.extend_from_slice(&[0, 0]);
    check_err(&bytes, |e| {
        *e == DecodeError::TrailingBytes {
            offset: end,
            count: 2,
        }
    });
}

// ---------------------------------------------------------------- compression

#[test]
fn zstd_part_round_trips() {
    let raw: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let data = compress_zstd(&raw, 3);
    assert!(data.len() < raw.len());
    assert_eq!(
        decompress_part(Codec::Zstd, &data, raw.len() as u64),
        Ok(raw.clone())
    );
    assert_eq!(
        decompress_part(Codec::None, &raw, raw.len() as u64),
        Ok(raw)
    );
}

#[test]
fn zstd_part_larger_than_expected_is_refused() {
    let raw = vec![1u8; 1000];
    let data = compress_zstd(&raw, 3);
    assert_eq!(
        decompress_part(Codec::Zstd, &data, 999),
        Err(DecodeError::PartTooLarge { limit: 999 })
    );
    assert_eq!(
        decompress_part(Codec::None, &raw, 999),
        Err(DecodeError::PartTooLarge { limit: 999 })
    );
}

#[test]
fn expected_length_is_capped_at_the_part_limit() {
    let raw = vec![0u8; BLOB_PART_MAX_RAW + 1];
    let data = compress_zstd(&raw, 1);
    let limit = BLOB_PART_MAX_RAW as u64;
    assert_eq!(
        decompress_part(Codec::Zstd, &data, u64::MAX),
        Err(DecodeError::PartTooLarge { limit })
    );
    assert_eq!(part_raw_len_max(u64::MAX, 0), limit);
    assert_eq!(part_raw_len_max(10, 4), 6);
    assert_eq!(part_raw_len_max(10, 11), 0);
}

#[test]
fn garbage_zstd_data_is_a_decompress_error() {
    let result = decompress_part(Codec::Zstd, b"definitely not zstd", 100);
    assert!(
        matches!(result, Err(DecodeError::Decompress { .. })),
        "{result:?}"
    );
}

/// A hand-made zstd frame of RLE blocks: 6 header bytes, then 4 bytes per block, each
/// block standing for 128 KiB of zeros. 8200 blocks: 32 KiB that expand to 1.0 GiB+.
fn zstd_bomb() -> Vec<u8> {
    const BLOCK: u32 = 128 * 1024;
    const BLOCKS: usize = 8200;
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd]; // magic
    frame.push(0x00); // descriptor: no content size, not single segment, no checksum
    frame.push(7 << 3); // window: 2^(10+7) = 128 KiB
    for i in 0..BLOCKS {
        let last = u32::from(i == BLOCKS - 1);
        let header = (BLOCK << 3) | (1 << 1) | last; // RLE block of BLOCK bytes
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(0); // the repeated byte
    }
    frame
}

#[test]
fn zstd_bomb_is_refused_quickly_without_allocating_it() {
    let bomb = zstd_bomb();
    assert!(bomb.len() < 40 * 1024);
    // It really is a bomb: streamed into a sink (no allocation), it is over 1 GiB.
    let mut decoder = zstd::stream::read::Decoder::with_buffer(&bomb[..]).unwrap();
    let expanded = std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
    assert!(expanded > 1 << 30, "{expanded}");

    let started = std::time::Instant::now();
    let limit = 64 * 1024;
    assert_eq!(
        decompress_part(Codec::Zstd, &bomb, limit),
        Err(DecodeError::PartTooLarge { limit })
    );
    assert_eq!(
        decompress_part(Codec::Zstd, &bomb, u64::MAX),
        Err(DecodeError::PartTooLarge {
            limit: BLOB_PART_MAX_RAW as u64
        })
    );
    // Decoding stops one byte past the limit: milliseconds, not the seconds that
    // 1 GiB would take.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn zstd_frame_demanding_a_huge_window_is_refused() {
    // Same bomb shape, but the header asks for a 2^(10+21) = 2 GiB window.
    let mut bomb = zstd_bomb();
    bomb[5] = 21 << 3;
    let result = decompress_part(Codec::Zstd, &bomb, 1024);
    assert!(
        matches!(result, Err(DecodeError::Decompress { .. })),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- chain

#[test]
fn chain_hash_covers_previous_chain_records_and_their_boundaries() {
    let a = put(b"a").encode();
    let b = Record::Delete {
        path: b"b".to_vec(),
    }
    .encode();
    let base = chain_hash(&[0; 32], [&a[..], &b[..]].into_iter());
    assert_eq!(
        base,
        chain_hash(&[0; 32], [&a[..], &b[..]].into_iter()),
        "deterministic"
    );
    assert_ne!(
        base,
        chain_hash(&[1; 32], [&a[..], &b[..]].into_iter()),
        "previous chain"
    );
    assert_ne!(
        base,
        chain_hash(&[0; 32], [&b[..], &a[..]].into_iter()),
        "order"
    );
    assert_ne!(
        base,
        chain_hash(&[0; 32], [&a[..]].into_iter()),
        "dropped record"
    );
    let mut joined = a.clone();
    joined.extend_from_slice(&b);
    assert_ne!(
        base,
        chain_hash(&[0; 32], [&joined[..]].into_iter()),
        "boundaries"
    );
    let mut tampered = a.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_ne!(
        base,
        chain_hash(&[0; 32], [&tampered[..], &b[..]].into_iter()),
        "one bit"
    );
    // Not a plain BLAKE3 of anything a blob could hold.
    assert_ne!(base, *blake3::hash(&[0; 32]).as_bytes());
}

#[test]
fn names_follow_the_documented_rule() {
    for ok in ["a", "release-1.0", "a_b", ".x", "0", "abc123"] {
        assert!(is_valid_name(ok), "{ok}");
    }
    let long = "a".repeat(NAME_MAX_BYTES + 1);
    for bad in ["", "-a", "a b", "a/b", "\u{e9}", long.as_str()] {
        assert!(!is_valid_name(bad), "{bad}");
    }
}

/// The kind's word is in every exported Git commit message, so it is part of the
/// commit ids incremental exports compare: pinned here, independent of the variant
/// names (renaming a variant must not change an exported commit).
#[test]
fn commit_kind_words_are_pinned() {
    let all = [CommitKind::Auto, CommitKind::Manual, CommitKind::Restore];
    let words: Vec<&str> = all.iter().map(|k| k.as_str()).collect();
    assert_eq!(words, ["auto", "manual", "restore"]);
    for k in all {
        assert_eq!(CommitKind::from_code(k.code()), Some(k));
    }
}

// ---------------------------------------------------------------- version 3

#[test]
fn records_of_the_first_eight_tags_are_still_written_as_version_2() {
    // So a log no GC rewrote stays readable by a version-2 reader.
    for record in samples() {
        let want = match record {
            Record::Hold(_) => 5,
            Record::Origin { .. } | Record::Thinned(_) => 3,
            Record::Block { .. } => 4,
            Record::Chunked { .. } => 5,
            Record::Timeline(_) => 6,
            Record::Commit {
                kind: CommitKind::Switch | CommitKind::Undo,
                ..
            } => 6,
            Record::Commit { timeline, .. } if timeline != 0 => 6,
            _ => 2,
        };
        assert_eq!(record.encode()[0], want, "{record:?}");
    }
}

#[test]
fn origin_and_thinned_encode_as_documented() {
    let origin = Record::Origin { chain: [8; 32] }.encode();
    let mut want = vec![3, 9];
    want.extend_from_slice(&[8; 32]);
    assert_eq!(origin, want);
    let t = Record::Thinned(thinned()).encode();
    assert_eq!(&t[..2], &[3, 10]);
    assert_eq!(&t[2..10], &5i64.to_le_bytes());
    assert_eq!(&t[10..42], &[3; 32]);
    assert_eq!(&t[42..50], &4096u64.to_le_bytes());
    for (i, n) in [10u64, 4, 6, 1, 9].iter().enumerate() {
        assert_eq!(&t[50 + 8 * i..58 + 8 * i], &n.to_le_bytes());
    }
    assert_eq!(&t[90..94], &15u32.to_le_bytes());
    assert_eq!(&t[94..], b"keep-all = \"1h\"");
}

#[test]
fn the_version_3_tags_in_a_version_2_record_are_unknown() {
    for tag in [9u8, 10] {
        let mut bytes = Record::Origin { chain: [1; 32] }.encode();
        bytes[0] = 2;
        bytes[1] = tag;
        check_err(
            &bytes,
            |e| matches!(e, DecodeError::UnknownTag { found, .. } if *found == tag),
        );
    }
}

#[test]
fn an_old_tag_marked_version_3_is_refused_one_encoding_per_record() {
    for (record, version) in [
        (put(b"a"), 3u8),
        (put(b"a"), 4),
        (put(b"a"), 5),
        (Record::Origin { chain: [1; 32] }, 4),
        (block(), 3),
        (block(), 5),
        (chunked(), 4),
    ] {
        let mut bytes = record.encode();
        bytes[0] = version;
        check_err(&bytes, |e| match (&record, version) {
            // A Block marked 3 is a tag version 3 does not have.
            (Record::Block { .. }, 3) => matches!(e, DecodeError::UnknownTag { found: 11, .. }),
            // A Chunked marked 4 is a tag version 4 does not have.
            (Record::Chunked { .. }, 4) => matches!(e, DecodeError::UnknownTag { found: 12, .. }),
            _ => matches!(
                e,
                DecodeError::Inconsistent {
                    field: "version",
                    ..
                }
            ),
        });
    }
}

// ---------------------------------------------------------------- version 4

#[test]
fn a_block_encodes_as_documented() {
    let b = block().encode();
    assert_eq!(&b[..2], &[4, 11]);
    assert_eq!(&b[2..6], &2u32.to_le_bytes());
    let Record::Block { members, data, .. } = block() else {
        unreachable!()
    };
    assert_eq!(&b[6..38], &members[0].hash.0);
    assert_eq!(&b[38..46], &11u64.to_le_bytes());
    assert_eq!(&b[46..78], &members[1].hash.0);
    assert_eq!(b[86], Codec::Zstd.code());
    assert_eq!(&b[87..91], &(data.len() as u32).to_le_bytes());
    assert_eq!(&b[91..], &data[..]);
}

/// A block's bytes with `count` members of `len` bytes each, raw.
fn raw_block(count: u32, len: u64, data_len: usize) -> Vec<u8> {
    let mut b = vec![4u8, 11];
    b.extend_from_slice(&count.to_le_bytes());
    for i in 0..count {
        b.extend_from_slice(&[i as u8; 32]);
        b.extend_from_slice(&len.to_le_bytes());
    }
    b.push(0);
    b.extend_from_slice(&(data_len as u32).to_le_bytes());
    b.extend(std::iter::repeat_n(7u8, data_len));
    b
}

#[test]
fn a_block_of_no_members_or_more_than_the_bytes_allow_is_refused() {
    let field_is = |want: &'static str| move |e: &DecodeError| matches!(e, DecodeError::Inconsistent { field, .. } if *field == want);
    check_err(&raw_block(0, 0, 0), field_is("Block.count"));
    // A count that claims more members than the bytes left hold.
    let mut b = raw_block(1, 3, 3);
    b[2..6].copy_from_slice(&1_000u32.to_le_bytes());
    check_err(&b, field_is("Block.count"));
    check_err(
        &raw_block(BLOCK_MEMBERS_MAX as u32 + 1, 0, 0),
        field_is("Block.count"),
    );
}

#[test]
fn a_block_whose_members_exceed_the_raw_limit_is_refused() {
    let half = BLOCK_RAW_MAX as u64 / 2 + 1;
    check_err(&raw_block(2, half, 0), |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Block.member.raw_len",
                ..
            }
        )
    });
}

#[test]
fn raw_block_data_must_hold_exactly_its_members() {
    assert!(Record::decode(&raw_block(2, 3, 6)).is_ok());
    for wrong in [5, 7] {
        check_err(&raw_block(2, 3, wrong), |e| {
            matches!(
                e,
                DecodeError::Inconsistent {
                    field: "Block.data",
                    ..
                }
            )
        });
    }
}

#[test]
fn thinned_counts_that_do_not_add_up_are_inconsistent() {
    let mut t = thinned();
    t.dropped = 7;
    let mut bytes = vec![3, 10];
    bytes.extend_from_slice(&Record::Thinned(thinned()).encode()[2..]);
    // dropped is at offset 66.
    bytes[66..74].copy_from_slice(&t.dropped.to_le_bytes());
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Thinned.dropped",
                ..
            }
        )
    });
    let mut bytes = Record::Thinned(thinned()).encode();
    // last_seq (offset 82) before first_seq.
    bytes[82..90].copy_from_slice(&0u64.to_le_bytes());
    check_err(&bytes, |e| {
        matches!(
            e,
            DecodeError::Inconsistent {
                field: "Thinned.last_seq",
                ..
            }
        )
    });
}
