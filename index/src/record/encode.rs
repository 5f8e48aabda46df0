//! Encoding: a [`Record`] as payload bytes (the layout is in `index/RECORDS.md`).

use super::{
    Record, TAG_BLOB, TAG_BLOCK, TAG_CHUNKED, TAG_COMMIT, TAG_DELETE, TAG_GAP, TAG_ORIGIN, TAG_PIN,
    TAG_PUT, TAG_RENAME, TAG_THINNED, TAG_UNPIN,
};

impl Record {
    /// Encodes the record as a fresh payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the record's encoding to `out`.
    ///
    /// The caller must build valid records (limits, well-formed paths and names): a
    /// record that would not decode is a bug, caught by a decode-back check in debug
    /// builds, because writing it would make the log unreadable at that point.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(self.version());
        match self {
            Record::Hold(h) => {
                out.push(super::TAG_HOLD);
                put_bytes(out, &h.dir);
                for t in [h.from_ns, h.to_ns] {
                    out.extend_from_slice(&t.to_le_bytes());
                }
                for n in [h.files_per_minute, h.bytes_per_minute] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                put_bytes(out, h.ended.as_bytes());
            }
            Record::Blob {
                hash,
                raw_len,
                offset,
                codec,
                data,
            } => {
                out.push(TAG_BLOB);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&raw_len.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.push(codec.code());
                put_bytes(out, data);
            }
            Record::Put {
                path,
                hash,
                mode,
                size,
                mtime_ns,
            } => {
                out.push(TAG_PUT);
                put_bytes(out, path);
                out.extend_from_slice(&hash.0);
                out.push(mode.code());
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(&mtime_ns.to_le_bytes());
            }
            Record::Delete { path } => {
                out.push(TAG_DELETE);
                put_bytes(out, path);
            }
            Record::Rename { from, to } => {
                out.push(TAG_RENAME);
                put_bytes(out, from);
                put_bytes(out, to);
            }
            Record::Commit {
                time_ns,
                seq,
                kind,
                message,
                timeline,
                acked_lsn,
                chain,
                stats,
            } => {
                out.push(TAG_COMMIT);
                out.extend_from_slice(&time_ns.to_le_bytes());
                out.extend_from_slice(&seq.to_le_bytes());
                out.push(kind.code());
                out.extend_from_slice(&timeline.to_le_bytes());
                out.extend_from_slice(&acked_lsn.get().to_le_bytes());
                out.extend_from_slice(chain);
                out.extend_from_slice(&stats.added.to_le_bytes());
                out.extend_from_slice(&stats.modified.to_le_bytes());
                out.extend_from_slice(&stats.deleted.to_le_bytes());
                out.extend_from_slice(&stats.bytes_new.to_le_bytes());
                match message {
                    None => out.push(0),
                    Some(message) => {
                        out.push(1);
                        put_bytes(out, message.as_bytes());
                    }
                }
            }
            Record::Pin {
                name,
                target_lsn,
                time_ns,
            } => {
                out.push(TAG_PIN);
                put_bytes(out, name.as_bytes());
                out.extend_from_slice(&target_lsn.get().to_le_bytes());
                out.extend_from_slice(&time_ns.to_le_bytes());
            }
            Record::Unpin { name } => {
                out.push(TAG_UNPIN);
                put_bytes(out, name.as_bytes());
            }
            Record::Gap {
                from_ns,
                to_ns,
                reason,
            } => {
                out.push(TAG_GAP);
                out.extend_from_slice(&from_ns.to_le_bytes());
                out.extend_from_slice(&to_ns.to_le_bytes());
                put_bytes(out, reason.as_bytes());
            }
            Record::Timeline(op) => {
                out.push(super::TAG_TIMELINE);
                super::timeline::encode_body(op, out);
            }
            Record::Origin { chain } => {
                out.push(TAG_ORIGIN);
                out.extend_from_slice(chain);
            }
            Record::Thinned(t) => {
                out.push(TAG_THINNED);
                out.extend_from_slice(&t.time_ns.to_le_bytes());
                out.extend_from_slice(&t.prev_head);
                out.extend_from_slice(&t.prev_end_lsn.get().to_le_bytes());
                for n in [t.states_before, t.kept, t.dropped, t.first_seq, t.last_seq] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                put_bytes(out, t.policy.as_bytes());
            }
            Record::Block {
                members,
                codec,
                data,
            } => {
                out.push(TAG_BLOCK);
                let count = u32::try_from(members.len()).expect("block members fit a u32");
                out.extend_from_slice(&count.to_le_bytes());
                for m in members {
                    out.extend_from_slice(&m.hash.0);
                    out.extend_from_slice(&m.raw_len.to_le_bytes());
                }
                out.push(codec.code());
                put_bytes(out, data);
            }
            Record::Chunked {
                hash,
                raw_len,
                offset,
                params,
                chunks,
            } => {
                out.push(TAG_CHUNKED);
                out.extend_from_slice(&hash.0);
                out.extend_from_slice(&raw_len.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.push(params.code());
                let count = u32::try_from(chunks.len()).expect("chunk list fits a u32");
                out.extend_from_slice(&count.to_le_bytes());
                for c in chunks {
                    out.extend_from_slice(&c.hash.0);
                    out.extend_from_slice(&c.len.to_le_bytes());
                }
            }
        }
        // Pair assertion: what we write must read back as itself.
        debug_assert_eq!(
            Record::decode(&out[start..]).as_ref(),
            Ok(self),
            "encoded record does not decode to itself"
        );
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("record field longer than u32::MAX bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}
