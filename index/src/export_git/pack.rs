//! A Git packfile (version 2) and its index (version 2), written without deltas.
//!
//! The framing is small and fully specified by Git's `gitformat-pack(5)`; SHA-1 and
//! deflate come from the `sha1` and `flate2` crates. Every pack is read back and
//! checked before it is made visible: the trailer, and each entry inflated and
//! re-hashed to the object id it was written under.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};

/// A Git object id (SHA-1).
pub type Oid = [u8; 20];

/// Object kinds as a pack numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A commit (pack type 1).
    Commit = 1,
    /// A tree (pack type 2).
    Tree = 2,
    /// A blob (pack type 3).
    Blob = 3,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
        }
    }
}

/// The Git object id of `data` as an object of `kind`.
pub fn object_id(kind: Kind, data: &[u8]) -> Oid {
    let mut h = Sha1::new();
    h.update(format!("{} {}\0", kind.name(), data.len()).as_bytes());
    h.update(data);
    h.finalize().into()
}

/// zlib level for pack entries: 1 is several times faster than Git's default 6 and
/// costs a few percent of size on source trees (measured in `benches/EXPORT_GIT.md`).
pub const LEVEL: u32 = 1;

/// Deflates `data` (zlib stream) at [`LEVEL`].
pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::new(LEVEL),
    );
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// Lowercase hex of an object id.
pub fn hex(oid: &Oid) -> String {
    crate::catalog::hex(oid)
}

/// Parses 40 hex digits.
pub fn parse_hex(s: &str) -> Option<Oid> {
    let s = s.as_bytes();
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in s.chunks(2).enumerate() {
        let d = |c: u8| (c as char).to_digit(16);
        out[i] = (d(pair[0])? * 16 + d(pair[1])?) as u8;
    }
    Some(out)
}

/// A pack being written to a temporary file in `objects/pack`.
pub struct PackWriter {
    dir: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    offset: u64,
    /// (id, crc32 of the entry, offset, kind, raw length)
    entries: Vec<(Oid, u32, u64, Kind, u64)>,
}

/// A pack made visible.
#[derive(Clone, Debug)]
pub struct WrittenPack {
    /// The `.pack` file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Objects in it.
    pub objects: usize,
}

impl PackWriter {
    /// Starts a pack in `pack_dir` (created if missing).
    pub fn create(pack_dir: &Path) -> std::io::Result<PackWriter> {
        std::fs::create_dir_all(pack_dir)?;
        let tmp = pack_dir.join(format!(
            "tmp_tl_pack_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        // The object count is patched in when the pack is finished.
        out.write_all(b"PACK\0\0\0\x02\0\0\0\0")?;
        Ok(PackWriter {
            dir: pack_dir.to_path_buf(),
            tmp,
            out,
            offset: 12,
            entries: Vec::new(),
        })
    }

    /// Objects added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an object whose content (`raw_len` bytes) is already deflated.
    pub fn add(
        &mut self,
        kind: Kind,
        oid: Oid,
        raw_len: u64,
        deflated: &[u8],
    ) -> std::io::Result<()> {
        let mut header = Vec::with_capacity(10);
        let mut size = raw_len;
        let mut byte = ((kind as u8) << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size != 0 {
            header.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        header.push(byte);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.update(deflated);
        self.out.write_all(&header)?;
        self.out.write_all(deflated)?;
        self.entries
            .push((oid, crc.finalize(), self.offset, kind, raw_len));
        self.offset += (header.len() + deflated.len()) as u64;
        Ok(())
    }

    /// Removes the temporary file (nothing was worth keeping).
    pub fn abandon(self) {
        let PackWriter { tmp, out, .. } = self;
        drop(out);
        let _ = std::fs::remove_file(tmp);
    }

    /// Patches the count, appends the trailer, verifies every entry, writes the
    /// index and renames both into place (pack first: an index makes a pack visible).
    pub fn finish(self) -> std::io::Result<WrittenPack> {
        let PackWriter {
            dir,
            tmp,
            out,
            entries,
            ..
        } = self;
        let result = (|| {
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            let count = entries.len() as u32;
            file.seek(SeekFrom::Start(8))?;
            file.write_all(&count.to_be_bytes())?;
            file.seek(SeekFrom::Start(0))?;
            let mut body = Vec::new();
            file.read_to_end(&mut body)?;
            let trailer: Oid = Sha1::digest(&body).into();
            file.seek(SeekFrom::End(0))?;
            file.write_all(&trailer)?;
            file.sync_all()?;
            verify(&body, &entries)?;
            let name = format!("pack-{}", hex(&trailer));
            let pack_path = dir.join(format!("{name}.pack"));
            let idx_tmp = dir.join(format!("tmp_tl_idx_{name}"));
            write_index(&idx_tmp, &entries, &trailer)?;
            std::fs::rename(&tmp, &pack_path)?;
            std::fs::rename(&idx_tmp, dir.join(format!("{name}.idx")))?;
            File::open(&dir)?.sync_all()?;
            Ok(WrittenPack {
                path: pack_path,
                bytes: body.len() as u64 + 20,
                objects: entries.len(),
            })
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Inflates every entry of the pack body and checks it hashes to its id.
fn verify(body: &[u8], entries: &[(Oid, u32, u64, Kind, u64)]) -> std::io::Result<()> {
    use rayon::prelude::*;
    let bad = |what: String| std::io::Error::other(format!("pack verification failed: {what}"));
    entries
        .par_iter()
        .try_for_each(|(oid, crc, offset, kind, raw_len)| {
            let start = *offset as usize;
            let mut i = start;
            loop {
                let b = *body
                    .get(i)
                    .ok_or_else(|| bad("entry past the end".into()))?;
                i += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let mut z = flate2::read::ZlibDecoder::new(&body[i..]);
            let mut raw = Vec::with_capacity(*raw_len as usize);
            z.read_to_end(&mut raw)?;
            let end = i + z.total_in() as usize;
            let mut c = crc32fast::Hasher::new();
            c.update(&body[start..end]);
            if raw.len() as u64 != *raw_len
                || object_id(*kind, &raw) != *oid
                || c.finalize() != *crc
            {
                return Err(bad(format!("object {} does not read back", hex(oid))));
            }
            Ok(())
        })
}

/// Writes a version 2 pack index.
fn write_index(
    path: &Path,
    entries: &[(Oid, u32, u64, Kind, u64)],
    pack_sum: &Oid,
) -> std::io::Result<()> {
    let mut sorted: Vec<&(Oid, u32, u64, Kind, u64)> = entries.iter().collect();
    sorted.sort_unstable_by_key(|e| e.0);
    let mut buf = Vec::with_capacity(8 + 1024 + sorted.len() * 28 + 40);
    buf.extend_from_slice(b"\xfftOc\0\0\0\x02");
    let mut fanout = [0u32; 256];
    for e in &sorted {
        fanout[e.0[0] as usize] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        buf.extend_from_slice(&total.to_be_bytes());
    }
    for e in &sorted {
        buf.extend_from_slice(&e.0);
    }
    for e in &sorted {
        buf.extend_from_slice(&e.1.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in &sorted {
        if e.2 < 0x8000_0000 {
            buf.extend_from_slice(&(e.2 as u32).to_be_bytes());
        } else {
            buf.extend_from_slice(&(0x8000_0000u32 | large.len() as u32).to_be_bytes());
            large.push(e.2);
        }
    }
    for off in large {
        buf.extend_from_slice(&off.to_be_bytes());
    }
    buf.extend_from_slice(pack_sum);
    let sum: Oid = Sha1::digest(&buf).into();
    buf.extend_from_slice(&sum);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(&buf)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_git() {
        // `git hash-object -t blob /dev/null` and `printf 'hello\n' | git hash-object --stdin`.
        assert_eq!(
            hex(&object_id(Kind::Blob, b"")),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            hex(&object_id(Kind::Blob, b"hello\n")),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            hex(&object_id(Kind::Tree, b"")),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        assert_eq!(parse_hex(&hex(&[7; 20])), Some([7; 20]));
        assert_eq!(parse_hex("zz"), None);
    }
}
