//! `.tl/remotes/NAME/shipped`: what a push knows the remote holds, so pushes
//! never LIST it. Written atomically (temp, sync, rename) after each object is
//! durable on the remote:
//!
//! ```text
//! tl-remote shipped 1
//! repo <repository id, 32 hex>
//! generation <the last manifest written, 0 before the first>
//! seg <a segment object durable on the remote, as in a manifest>
//! listed <object>                       named by the last manifest, in order
//! delete <object> <not before, ns>     superseded, deleted after the grace period
//! check <blake3 of the lines above>
//! ```
//!
//! Losing it is safe: the next push finds the newest manifest with one LIST and
//! starts from what that names (segments uploaded but never named by a manifest
//! are uploaded again: their names say `If-None-Match` and they already exist).

use std::path::Path;

use tl_wal::private_fs::{self, Durability};

use super::error::io;
use super::manifest::{unhex, SegmentEntry};
use super::{RemoteError, Result};
use crate::catalog::hex;

const MAGIC: &str = "tl-remote shipped";
const VERSION: u32 = 1;

/// A superseded object waiting for its grace period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDelete {
    /// The object.
    pub object: String,
    /// Deleted by the first push after this time (ns).
    pub after_ns: i64,
}

/// What the remote holds, as far as pushes know.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shipped {
    /// The repository id of the log shipped there.
    pub repo_id: [u8; 16],
    /// The last manifest's generation (0: none yet).
    pub generation: u64,
    /// Segment objects durable on the remote, by base LSN then salt.
    pub segments: Vec<SegmentEntry>,
    /// The objects the last manifest names, in its order.
    pub listed: Vec<String>,
    /// Objects to delete once their time comes.
    pub pending: Vec<PendingDelete>,
}

impl Shipped {
    /// The entry of the segment of `base` and `salt`, if it was shipped.
    pub fn find(&self, base: tl_wal::Lsn, salt: u64) -> Option<&SegmentEntry> {
        self.segments
            .iter()
            .find(|e| e.base == base && e.salt == salt)
    }

    fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{MAGIC} {VERSION}\nrepo {}\ngeneration {}\n",
            hex(&self.repo_id),
            self.generation
        );
        for e in &self.segments {
            s.push_str(&format!("seg {}\n", e.line()));
        }
        for o in &self.listed {
            s.push_str(&format!("listed {o}\n"));
        }
        for p in &self.pending {
            s.push_str(&format!("delete {} {}\n", p.object, p.after_ns));
        }
        let check = blake3::hash(s.as_bytes());
        s.push_str(&format!("check {}\n", hex(check.as_bytes())));
        s.into_bytes()
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<Shipped> {
        let bad = |why: String| RemoteError::BadFile {
            path: path.to_path_buf(),
            why,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not text".into()))?;
        let body_end = text
            .rfind("check ")
            .ok_or_else(|| bad("no check line".into()))?;
        let want = text[body_end + 6..].trim_end();
        if want != hex(blake3::hash(&bytes[..body_end]).as_bytes()) {
            return Err(bad("checksum does not match".into()));
        }
        let mut out = Shipped::default();
        for (i, line) in text[..body_end].lines().enumerate() {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match (i, key) {
                (0, _) => {
                    let v = line
                        .strip_prefix(MAGIC)
                        .and_then(|v| v.trim().parse::<u32>().ok())
                        .ok_or_else(|| bad("no header".into()))?;
                    if v != VERSION {
                        return Err(RemoteError::UnsupportedVersion {
                            object: path.display().to_string(),
                            found: v,
                            supported: VERSION,
                        });
                    }
                }
                (_, "repo") => {
                    out.repo_id = unhex(rest)
                        .and_then(|v| v.try_into().ok())
                        .ok_or_else(|| bad("repo".into()))?
                }
                (_, "generation") => {
                    out.generation = rest.parse().map_err(|_| bad("generation".into()))?
                }
                (_, "seg") => out
                    .segments
                    .push(SegmentEntry::parse_line(rest).map_err(&bad)?),
                (_, "listed") => out.listed.push(rest.to_string()),
                (_, "delete") => {
                    let (object, after) = rest
                        .rsplit_once(' ')
                        .ok_or_else(|| bad(format!("delete line {line:?}")))?;
                    out.pending.push(PendingDelete {
                        object: object.to_string(),
                        after_ns: after.parse().map_err(|_| bad("delete time".into()))?,
                    });
                }
                _ => return Err(bad(format!("unknown line {line:?}"))),
            }
        }
        Ok(out)
    }
}

/// The state in `path`; None when there is none (never pushed, or lost).
pub fn load(path: &Path) -> Result<Option<Shipped>> {
    match std::fs::read(path) {
        Ok(b) => Shipped::decode(path, &b).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Replaces the state in `path` (synced).
pub fn save(path: &Path, s: &Shipped) -> Result<()> {
    private_fs::write_atomic(path, &s.encode(), Durability::Synced).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_round_trips_and_a_damaged_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("shipped");
        assert_eq!(load(&p).unwrap(), None);
        let s = Shipped {
            repo_id: [3; 16],
            generation: 4,
            segments: vec![SegmentEntry {
                base: tl_wal::Lsn::new(0),
                salt: 5,
                end: tl_wal::Lsn::new(10),
                size: 74,
                hash: [1; 32],
                stored_size: 74,
                stored_hash: [1; 32],
                checkpoints: 1,
                first_ns: Some(1),
                last_ns: Some(1),
            }],
            listed: vec!["tl-remote-v1/seg/y".into()],
            pending: vec![PendingDelete {
                object: "tl-remote-v1/seg/x".into(),
                after_ns: 99,
            }],
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap(), Some(s));
        let mut b = std::fs::read(&p).unwrap();
        b[30] ^= 1;
        std::fs::write(&p, b).unwrap();
        assert!(load(&p).is_err());
    }
}
