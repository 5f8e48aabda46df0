//! The Timeline record (tag 14, version 6) and the version-6 Commit (a
//! timeline other than 0, kind Switch or Undo): documented layouts and every
//! refusal. Round trips, truncations and bit flips run with the other tags in
//! `tests.rs` (`timeline_strategy`, and `create`/`switch_commit` in `samples`).

use super::*;
use proptest::prelude::*;

pub(super) fn timeline_strategy() -> impl Strategy<Value = Record> {
    (
        0u8..=2,
        1u32..,
        "[A-Za-z0-9_.][A-Za-z0-9._-]{0,20}",
        any::<u64>(),
        any::<i64>(),
    )
        .prop_map(|(code, id, name, base, time_ns)| {
            let kind = TimelineOpKind::from_code(code).expect("0 to 2 are ops");
            Record::Timeline(TimelineOp {
                kind,
                id: TimelineId(id),
                name,
                base: (kind == TimelineOpKind::Create).then(|| Lsn::new(base)),
                time_ns,
            })
        })
}

/// A Create of timeline 3, `exp`, from LSN 77.
pub(super) fn create() -> Record {
    Record::Timeline(TimelineOp {
        kind: TimelineOpKind::Create,
        id: TimelineId(3),
        name: "exp".into(),
        base: Some(Lsn::new(77)),
        time_ns: 5,
    })
}

/// A Commit of kind Switch onto timeline 3.
pub(super) fn switch_commit() -> Record {
    Record::Commit {
        time_ns: 9,
        seq: 4,
        kind: CommitKind::Switch,
        message: Some("switch from main to exp".into()),
        timeline: 3,
        acked_lsn: Lsn::new(8),
        chain: [1; 32],
        stats: CommitStats::default(),
    }
}

fn raw_timeline(version: u8, op: u8, id: u32, name: &[u8], base: Option<u64>) -> Vec<u8> {
    let mut b = vec![version, 14, op];
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&(name.len() as u32).to_le_bytes());
    b.extend_from_slice(name);
    b.push(u8::from(base.is_some()));
    b.extend_from_slice(&base.unwrap_or(0).to_le_bytes());
    b.extend_from_slice(&5i64.to_le_bytes());
    b
}

fn refused(bytes: &[u8]) -> DecodeError {
    match Record::decode(bytes) {
        Err(e) => e,
        Ok(r) => panic!("decoded {r:?}"),
    }
}

/// The format is pinned: a change to these bytes is a format change.
#[test]
fn a_timeline_create_encodes_as_documented() {
    let bytes = create().encode();
    assert_eq!(bytes, raw_timeline(6, 0, 3, b"exp", Some(77)));
    assert_eq!(Record::decode(&bytes).unwrap(), create());
    assert_eq!(create().version(), 6);
}

#[test]
fn a_commit_on_another_timeline_or_of_a_new_kind_is_version_6() {
    assert_eq!(switch_commit().version(), 6);
    let Record::Commit {
        time_ns,
        seq,
        message,
        acked_lsn,
        chain,
        stats,
        ..
    } = switch_commit()
    else {
        unreachable!()
    };
    let on_main = |kind| Record::Commit {
        time_ns,
        seq,
        kind,
        message: message.clone(),
        timeline: 0,
        acked_lsn,
        chain,
        stats,
    };
    assert_eq!(on_main(CommitKind::Undo).version(), 6);
    assert_eq!(on_main(CommitKind::Restore).version(), 2);
    // The first byte of an encoded version-6 commit marked 2 is refused: one
    // encoding per record.
    let mut bytes = switch_commit().encode();
    assert_eq!(bytes[0], 6);
    bytes[0] = 2;
    assert!(matches!(
        refused(&bytes),
        DecodeError::Inconsistent {
            field: "version",
            ..
        }
    ));
}

#[test]
fn a_timeline_record_marked_older_than_6_is_an_unknown_tag() {
    assert!(matches!(
        refused(&raw_timeline(5, 0, 3, b"exp", Some(77))),
        DecodeError::UnknownTag { found: 14, .. }
    ));
}

#[test]
fn creating_timeline_0_is_refused() {
    assert!(matches!(
        refused(&raw_timeline(6, 0, 0, b"main", None)),
        DecodeError::Inconsistent {
            field: "Timeline.id",
            ..
        }
    ));
}

#[test]
fn only_a_create_has_a_base() {
    assert!(matches!(
        refused(&raw_timeline(6, 1, 3, b"new", Some(9))),
        DecodeError::Inconsistent {
            field: "Timeline.base_lsn",
            ..
        }
    ));
    assert!(Record::decode(&raw_timeline(6, 1, 3, b"new", None)).is_ok());
}

#[test]
fn a_create_from_lsn_0_keeps_its_base_and_no_base_is_lsn_0() {
    let at_0 = raw_timeline(6, 0, 3, b"x", Some(0));
    match Record::decode(&at_0).unwrap() {
        Record::Timeline(op) => assert_eq!(op.base, Some(Lsn::ZERO)),
        other => panic!("{other:?}"),
    }
    let mut none_at_5 = raw_timeline(6, 0, 3, b"x", None);
    let at = none_at_5.len() - 16;
    none_at_5[at] = 5;
    assert!(matches!(
        refused(&none_at_5),
        DecodeError::Inconsistent {
            field: "Timeline.base_lsn",
            ..
        }
    ));
    let mut flag_2 = raw_timeline(6, 0, 3, b"x", None);
    let flag_at = flag_2.len() - 17;
    flag_2[flag_at] = 2;
    assert!(matches!(
        refused(&flag_2),
        DecodeError::BadCode {
            field: "Timeline.has_base",
            ..
        }
    ));
}

#[test]
fn an_unknown_op_or_a_bad_name_is_refused() {
    assert!(matches!(
        refused(&raw_timeline(6, 3, 3, b"x", None)),
        DecodeError::BadCode {
            field: "Timeline.op",
            ..
        }
    ));
    assert!(matches!(
        refused(&raw_timeline(6, 0, 3, b"-x", Some(1))),
        DecodeError::BadName { .. }
    ));
    assert!(matches!(
        refused(&raw_timeline(6, 0, 3, b"", Some(1))),
        DecodeError::BadName { .. }
    ));
}
