//! The Chunked record (tag 12, version 5): its documented layout and every
//! refusal of its decoder.

use super::tests::chunked;
use super::*;

/// A Chunked record's bytes: `lens` chunks from `offset` of content `raw_len`
/// long, with params code `params`.
fn raw_chunked(raw_len: u64, offset: u64, params: u8, lens: &[u32]) -> Vec<u8> {
    let mut b = vec![5u8, 12];
    b.extend_from_slice(&[1; 32]);
    b.extend_from_slice(&raw_len.to_le_bytes());
    b.extend_from_slice(&offset.to_le_bytes());
    b.push(params);
    b.extend_from_slice(&(lens.len() as u32).to_le_bytes());
    for (i, len) in lens.iter().enumerate() {
        b.extend_from_slice(&[i as u8; 32]);
        b.extend_from_slice(&len.to_le_bytes());
    }
    b
}

fn inconsistent(want: &'static str) -> impl Fn(&DecodeError) -> bool {
    move |e| matches!(e, DecodeError::Inconsistent { field, .. } if *field == want)
}

fn check_err(bytes: &[u8], pred: impl Fn(&DecodeError) -> bool) {
    match Record::decode(bytes) {
        Err(e) => assert!(pred(&e), "unexpected error {e:?}"),
        Ok(r) => panic!("decoded {r:?}"),
    }
}

#[test]
fn a_chunked_record_encodes_as_documented() {
    let b = chunked().encode();
    assert_eq!(&b[..2], &[5, 12]);
    assert_eq!(&b[2..34], &[5; 32]);
    assert_eq!(&b[34..42], &300_007u64.to_le_bytes());
    assert_eq!(&b[42..50], &0u64.to_le_bytes());
    assert_eq!(b[50], 1, "params V1");
    assert_eq!(&b[51..55], &2u32.to_le_bytes());
    assert_eq!(&b[55..87], &[6; 32]);
    assert_eq!(&b[87..91], &300_000u32.to_le_bytes());
    assert_eq!(&b[91..123], &[7; 32]);
    assert_eq!(&b[123..127], &7u32.to_le_bytes());
    assert_eq!(b.len(), 127);
}

#[test]
fn a_chunked_record_decodes_from_its_documented_bytes() {
    let got = Record::decode(&raw_chunked(10, 2, 1, &[3, 5])).unwrap();
    let Record::Chunked {
        raw_len,
        offset,
        params,
        chunks,
        ..
    } = got
    else {
        panic!("{got:?}")
    };
    assert_eq!((raw_len, offset, params), (10, 2, ChunkParams::V1));
    assert_eq!(chunks.iter().map(|c| c.len).collect::<Vec<_>>(), [3, 5]);
}

#[test]
fn chunked_params_other_than_version_1_are_refused() {
    for code in [0u8, 2, 255] {
        check_err(&raw_chunked(10, 0, code, &[10]), |e| {
            matches!(
                e,
                DecodeError::BadCode {
                    field: "Chunked.params",
                    ..
                }
            )
        });
    }
}

#[test]
fn a_chunk_list_that_starts_outside_the_content_is_refused() {
    check_err(
        &raw_chunked(10, 10, 1, &[1]),
        inconsistent("Chunked.offset"),
    );
    check_err(&raw_chunked(0, 0, 1, &[1]), inconsistent("Chunked.offset"));
}

#[test]
fn a_chunk_list_of_no_chunks_or_more_than_the_bytes_allow_is_refused() {
    check_err(&raw_chunked(10, 0, 1, &[]), inconsistent("Chunked.count"));
    let mut b = raw_chunked(10, 0, 1, &[10]);
    b[51..55].copy_from_slice(&1_000u32.to_le_bytes());
    check_err(&b, inconsistent("Chunked.count"));
    let mut b = raw_chunked(10, 0, 1, &[10]);
    b[51..55].copy_from_slice(&(CHUNKED_RUN_MAX as u32 + 1).to_le_bytes());
    check_err(&b, inconsistent("Chunked.count"));
}

#[test]
fn chunks_that_are_empty_too_long_or_past_the_content_are_refused() {
    check_err(
        &raw_chunked(10, 0, 1, &[0, 10]),
        inconsistent("Chunked.chunk.len"),
    );
    check_err(
        &raw_chunked(10, 0, 1, &[6, 5]),
        inconsistent("Chunked.chunk.len"),
    );
    let too_long = BLOB_PART_MAX_RAW as u32 + 1;
    check_err(
        &raw_chunked(u64::from(too_long) * 2, 0, 1, &[too_long]),
        inconsistent("Chunked.chunk.len"),
    );
    // A length whose end would overflow a u64 ends past raw_len.
    check_err(
        &raw_chunked(u64::MAX, u64::MAX - 2, 1, &[4]),
        inconsistent("Chunked.chunk.len"),
    );
}

#[test]
fn every_truncation_of_a_chunked_record_is_refused() {
    let b = chunked().encode();
    for cut in 0..b.len() {
        assert!(Record::decode(&b[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = b.clone();
    long.push(0);
    check_err(&long, |e| matches!(e, DecodeError::TrailingBytes { .. }));
}

#[test]
fn the_chunk_parameters_are_pinned() {
    // Changing them moves every cut point: that is a new ChunkParams code.
    let p = CHUNK_PARAMS_V1;
    assert_eq!(
        (p.code(), p.min_size(), p.avg_size(), p.max_size()),
        (1, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024)
    );
    assert_eq!(ChunkParams::from_code(1), Some(p));
}
