//! The manifest: which segments make up the history on a remote, with what a
//! clone checks before trusting them. A small text object, versioned and
//! checksummed, written last and never overwritten (one per generation):
//!
//! ```text
//! tl-remote manifest 1
//! generation 42
//! repo <repository id, 32 hex>
//! created <ns since the epoch>
//! encrypted yes|no
//! segments <count>
//! seg <base> <salt hex> <end> <size> <blake3> <stored size> <stored blake3> <checkpoints> <first ns|-> <last ns|->
//! check <blake3 of every byte above this line>
//! ```
//!
//! `size`/`blake3` are the segment file's; `stored` ones the object's (the age
//! ciphertext on an encrypted remote, else the same). `first`/`last` are the times
//! of the first and last checkpoint the segment ends (what `tl fetch --at` uses to
//! skip segments). On an encrypted remote the whole text is age-encrypted too.

use tl_wal::Lsn;

use super::layout;
use super::{RemoteError, Result};
use crate::catalog::hex;

/// The first line's words.
pub const MAGIC: &str = "tl-remote manifest";
/// The manifest format version this code writes and reads.
pub const VERSION: u32 = 1;
/// A manifest larger than this is refused before it is parsed.
pub const MAX_BYTES: usize = 64 << 20;

/// One segment on the remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentEntry {
    /// The segment's base LSN.
    pub base: Lsn,
    /// Its header's salt.
    pub salt: u64,
    /// The LSN just after its last frame.
    pub end: Lsn,
    /// The segment file's length.
    pub size: u64,
    /// BLAKE3 of the segment file.
    pub hash: [u8; 32],
    /// The object's length.
    pub stored_size: u64,
    /// BLAKE3 of the object.
    pub stored_hash: [u8; 32],
    /// Checkpoints whose batch is in the segment.
    pub checkpoints: u64,
    /// Time of the first of them.
    pub first_ns: Option<i64>,
    /// Time of the last of them.
    pub last_ns: Option<i64>,
}

impl SegmentEntry {
    /// Its fields as a manifest's `seg` line holds them (without `seg `).
    pub fn line(&self) -> String {
        format!(
            "{} {:016x} {} {} {} {} {} {} {} {}",
            self.base,
            self.salt,
            self.end,
            self.size,
            hex(&self.hash),
            self.stored_size,
            hex(&self.stored_hash),
            self.checkpoints,
            opt(self.first_ns),
            opt(self.last_ns)
        )
    }

    /// Parses what [`SegmentEntry::line`] wrote.
    pub fn parse_line(line: &str) -> Result<SegmentEntry, String> {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() != 10 {
            return Err(format!("segment line {line:?}"));
        }
        let num = |s: &str, what: &str| -> Result<u64, String> {
            s.parse::<u64>()
                .map_err(|_| format!("{what} {s:?} is not a number"))
        };
        let hash32 = |s: &str| -> Result<[u8; 32], String> {
            unhex(s)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("hash {s:?}"))
        };
        let time = |s: &str| -> Result<Option<i64>, String> {
            if s == "-" {
                return Ok(None);
            }
            s.parse::<i64>()
                .map(Some)
                .map_err(|_| format!("time {s:?}"))
        };
        Ok(SegmentEntry {
            base: Lsn::new(num(f[0], "base")?),
            salt: u64::from_str_radix(f[1], 16).map_err(|_| format!("salt {:?}", f[1]))?,
            end: Lsn::new(num(f[2], "end")?),
            size: num(f[3], "size")?,
            hash: hash32(f[4])?,
            stored_size: num(f[5], "stored size")?,
            stored_hash: hash32(f[6])?,
            checkpoints: num(f[7], "checkpoints")?,
            first_ns: time(f[8])?,
            last_ns: time(f[9])?,
        })
    }

    /// The object's name.
    pub fn object(&self) -> String {
        layout::segment_name(self.base, self.salt)
    }

    /// The local segment file's name.
    pub fn file_name(&self) -> String {
        tl_wal::segment_name(self.base)
    }
}

/// One generation of the remote's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Its generation (one more than the previous manifest's).
    pub generation: u64,
    /// The log's repository id.
    pub repo_id: [u8; 16],
    /// When it was written, ns.
    pub created_ns: i64,
    /// Segments (and this manifest) are age-encrypted.
    pub encrypted: bool,
    /// The log, in LSN order: each segment begins where the previous one ends.
    pub segments: Vec<SegmentEntry>,
}

fn opt(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |n| n.to_string())
}

impl Manifest {
    /// Its object name.
    pub fn object(&self) -> String {
        layout::manifest_name(self.generation)
    }

    /// The text form, check line included.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{MAGIC} {VERSION}\ngeneration {}\nrepo {}\ncreated {}\nencrypted {}\nsegments {}\n",
            self.generation,
            hex(&self.repo_id),
            self.created_ns,
            if self.encrypted { "yes" } else { "no" },
            self.segments.len()
        );
        for e in &self.segments {
            s.push_str("seg ");
            s.push_str(&e.line());
            s.push('\n');
        }
        let check = blake3::hash(s.as_bytes());
        s.push_str(&format!("check {}\n", hex(check.as_bytes())));
        s.into_bytes()
    }

    /// Parses and checks a manifest's text (untrusted bytes: bounded, every field
    /// checked, the segments contiguous).
    pub fn decode(object: &str, bytes: &[u8]) -> Result<Manifest> {
        let bad = |why: String| RemoteError::BadManifest {
            object: object.to_string(),
            why,
        };
        if bytes.len() > MAX_BYTES {
            return Err(bad(format!("{} bytes, over {MAX_BYTES}", bytes.len())));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        let first = text.lines().next().unwrap_or("");
        let version = first
            .strip_prefix(MAGIC)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or_else(|| bad("no tl-remote manifest header".into()))?;
        if version != VERSION {
            return Err(RemoteError::UnsupportedVersion {
                object: object.to_string(),
                found: version,
                supported: VERSION,
            });
        }
        let body_end = text
            .rfind("check ")
            .filter(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
            .ok_or_else(|| bad("no check line (truncated?)".into()))?;
        let want = text[body_end + 6..]
            .strip_suffix('\n')
            .ok_or_else(|| bad("the check line is cut (truncated)".into()))?;
        let got = hex(blake3::hash(&bytes[..body_end]).as_bytes());
        if want != got {
            return Err(bad("checksum does not match (damaged or truncated)".into()));
        }
        let mut lines = text[..body_end].lines().skip(1);
        let mut field = |key: &str| -> Result<String> {
            let line = lines.next().unwrap_or("");
            line.strip_prefix(key)
                .and_then(|r| r.strip_prefix(' '))
                .map(String::from)
                .ok_or_else(|| bad(format!("expected {key}, found {line:?}")))
        };
        let num = |s: &str, what: &str| -> Result<u64> {
            s.parse::<u64>()
                .map_err(|_| bad(format!("{what} {s:?} is not a number")))
        };
        let generation = num(&field("generation")?, "generation")?;
        let repo_id: [u8; 16] = unhex(&field("repo")?)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("repo is not 32 hex digits".into()))?;
        let created_ns = field("created")?
            .parse::<i64>()
            .map_err(|_| bad("created is not a number".into()))?;
        let encrypted = match field("encrypted")?.as_str() {
            "yes" => true,
            "no" => false,
            other => return Err(bad(format!("encrypted {other:?}"))),
        };
        let count = num(&field("segments")?, "segments")?;
        if count > 10_000_000 {
            return Err(bad(format!("{count} segments")));
        }
        let mut segments = Vec::with_capacity(count.min(1 << 16) as usize);
        for _ in 0..count {
            let line = field("seg")?;
            let e = SegmentEntry::parse_line(&line).map_err(&bad)?;
            let frames = e.end.get().checked_sub(e.base.get());
            if frames
                != e.size
                    .checked_sub(tl_wal::format::SEGMENT_HEADER_LEN as u64)
            {
                return Err(bad(format!(
                    "segment {} spans LSNs {}..{} but holds {} bytes",
                    e.base, e.base, e.end, e.size
                )));
            }
            if let Some(prev) = segments.last() {
                let prev: &SegmentEntry = prev;
                if prev.end != e.base {
                    return Err(bad(format!(
                        "segment {} does not start where {} ends ({})",
                        e.base, prev.base, prev.end
                    )));
                }
            }
            segments.push(e);
        }
        if lines.next().is_some() {
            return Err(bad("lines after the segments".into()));
        }
        Ok(Manifest {
            generation,
            repo_id,
            created_ns,
            encrypted,
            segments,
        })
    }
}

/// Hex digits to bytes (None if not an even number of hex digits).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let seg = |base: u64, end: u64| SegmentEntry {
            base: Lsn::new(base),
            salt: 0xdead_beef,
            end: Lsn::new(end),
            size: end - base + 64,
            hash: [1; 32],
            stored_size: end - base + 200,
            stored_hash: [2; 32],
            checkpoints: 3,
            first_ns: Some(10),
            last_ns: None,
        };
        Manifest {
            generation: 7,
            repo_id: [9; 16],
            created_ns: 123,
            encrypted: true,
            segments: vec![seg(0, 100), seg(100, 250)],
        }
    }

    #[test]
    fn a_manifest_decodes_to_what_was_encoded() {
        let m = sample();
        assert_eq!(Manifest::decode("m", &m.encode()).unwrap(), m);
    }

    #[test]
    fn any_flipped_or_missing_byte_is_refused() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(Manifest::decode("m", &b).is_err(), "flip at {i}");
            assert!(Manifest::decode("m", &bytes[..i]).is_err(), "cut at {i}");
        }
    }

    #[test]
    fn a_newer_version_is_named_as_such() {
        let text =
            String::from_utf8(sample().encode())
                .unwrap()
                .replacen("manifest 1", "manifest 2", 1);
        assert!(matches!(
            Manifest::decode("m", text.as_bytes()),
            Err(RemoteError::UnsupportedVersion { found: 2, .. })
        ));
    }
}
