//! A Git packfile (version 2) and its index (version 2), with deltas.
//!
//! The framing is small and fully specified by Git's `gitformat-pack(5)`; SHA-1 and
//! deflate come from the `sha1` and `flate2` crates, the delta encoding is
//! [`super::delta`]. An entry is a whole object, or an `OBJ_OFS_DELTA` against an
//! object earlier in the same pack (never against another pack: a pack on disk must
//! not be thin); chains are at most [`MAX_DEPTH`] deltas deep, as Git's default.
//! Every pack is read back and checked before it is made visible: the trailer, and
//! each entry inflated (its delta applied to its base's content, walked from each
//! whole object down its chains) and re-hashed to the object id it was written under.

use std::collections::HashMap;
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

/// zlib level for pack entries: Git's default, 6 (level 1 was 20% larger on the
/// medium corpus; see BENCHMARKS.md, Git export).
pub const LEVEL: u32 = 6;

/// Longest delta chain (Git's `pack.depth` default).
pub const MAX_DEPTH: u32 = 50;

/// Pack type of a delta against an object at a (backward) offset in the same pack.
const OFS_DELTA: u8 = 6;

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
    entries: Vec<PackEntry>,
    /// Index in `entries` by object id.
    by_id: HashMap<Oid, u32>,
}

/// One entry of the pack being written.
struct PackEntry {
    oid: Oid,
    /// crc32 of the entry's bytes (header, base offset, deflated data).
    crc: u32,
    offset: u64,
    kind: Kind,
    /// Size of the object's content.
    raw_len: u64,
    /// The entry this one is a delta against.
    base: Option<u32>,
    /// Deltas to resolve to read it (0: a whole object).
    depth: u32,
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
            by_id: HashMap::new(),
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

    /// True when `oid` is in this pack.
    pub fn contains(&self, oid: &Oid) -> bool {
        self.by_id.contains_key(oid)
    }

    /// The delta chain depth of `oid` in this pack (0: stored whole); `None` when
    /// it is not in this pack (so nothing here may be a delta against it).
    pub fn depth(&self, oid: &Oid) -> Option<u32> {
        self.by_id.get(oid).map(|&i| self.entries[i as usize].depth)
    }

    /// Appends an object whose content (`raw_len` bytes) is already deflated.
    pub fn add(
        &mut self,
        kind: Kind,
        oid: Oid,
        raw_len: u64,
        deflated: &[u8],
    ) -> std::io::Result<()> {
        let header = entry_header(kind as u8, raw_len);
        self.append(oid, kind, raw_len, &header, None, deflated)
    }

    /// Appends `oid` (`raw_len` bytes of content) as a delta against `base`, an
    /// object already in this pack: `delta_len` bytes of delta data, deflated.
    /// Refused (an error, nothing written) when `base` is not in this pack or the
    /// chain would be deeper than [`MAX_DEPTH`].
    pub fn add_delta(
        &mut self,
        kind: Kind,
        oid: Oid,
        raw_len: u64,
        base: &Oid,
        delta_len: u64,
        deflated: &[u8],
    ) -> std::io::Result<()> {
        let Some(&b) = self.by_id.get(base) else {
            return Err(std::io::Error::other(format!(
                "delta of {} against {}, which is not in the pack",
                hex(&oid),
                hex(base)
            )));
        };
        let base_entry = &self.entries[b as usize];
        if base_entry.depth >= MAX_DEPTH {
            return Err(std::io::Error::other(format!(
                "delta of {} would make a chain deeper than {MAX_DEPTH}",
                hex(&oid)
            )));
        }
        let mut header = entry_header(OFS_DELTA, delta_len);
        header.extend_from_slice(&ofs_bytes(self.offset - base_entry.offset));
        self.append(oid, kind, raw_len, &header, Some(b), deflated)
    }

    fn append(
        &mut self,
        oid: Oid,
        kind: Kind,
        raw_len: u64,
        header: &[u8],
        base: Option<u32>,
        deflated: &[u8],
    ) -> std::io::Result<()> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(header);
        crc.update(deflated);
        self.out.write_all(header)?;
        self.out.write_all(deflated)?;
        let depth = base.map_or(0, |b| self.entries[b as usize].depth + 1);
        self.by_id.insert(oid, self.entries.len() as u32);
        self.entries.push(PackEntry {
            oid,
            crc: crc.finalize(),
            offset: self.offset,
            kind,
            raw_len,
            base,
            depth,
        });
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

/// The type-and-size header of a pack entry.
fn entry_header(type_code: u8, mut size: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(10);
    let mut byte = (type_code << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size != 0 {
        header.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    header.push(byte);
    header
}

/// The backward distance to an `OBJ_OFS_DELTA`'s base, in Git's encoding (big
/// endian base-128, each continued byte biased by one).
fn ofs_bytes(mut distance: u64) -> Vec<u8> {
    let mut out = vec![(distance & 0x7f) as u8];
    distance >>= 7;
    while distance != 0 {
        distance -= 1;
        out.push(0x80 | (distance & 0x7f) as u8);
        distance >>= 7;
    }
    out.reverse();
    out
}

fn read_ofs(body: &[u8], i: &mut usize) -> Option<u64> {
    let mut b = *body.get(*i)?;
    *i += 1;
    let mut distance = (b & 0x7f) as u64;
    while b & 0x80 != 0 {
        b = *body.get(*i)?;
        *i += 1;
        distance = (distance + 1).checked_mul(128)? | (b & 0x7f) as u64;
    }
    Some(distance)
}

/// Reads every entry of the pack body back (deltas applied, from each whole object
/// down its chains, one chain tree per task) and checks it hashes to its id.
fn verify(body: &[u8], entries: &[PackEntry]) -> std::io::Result<()> {
    use rayon::prelude::*;
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); entries.len()];
    for (i, e) in entries.iter().enumerate() {
        if let Some(b) = e.base {
            children[b as usize].push(i as u32);
        }
    }
    let roots: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].base.is_none())
        .collect();
    roots
        .par_iter()
        .try_for_each(|&r| verify_chain(body, entries, &children, r, None))
}

fn verify_chain(
    body: &[u8],
    entries: &[PackEntry],
    children: &[Vec<u32>],
    at: usize,
    base: Option<&[u8]>,
) -> std::io::Result<()> {
    let e = &entries[at];
    let bad = |what: &str| {
        std::io::Error::other(format!(
            "pack verification failed: object {} at offset {} does not read back: {what}",
            hex(&e.oid),
            e.offset
        ))
    };
    let start = e.offset as usize;
    let mut i = start;
    let first = *body.get(i).ok_or_else(|| bad("entry past the end"))?;
    let mut size = (first & 0x0f) as u64;
    let mut shift = 4;
    let mut b = first;
    i += 1;
    while b & 0x80 != 0 {
        b = *body.get(i).ok_or_else(|| bad("entry past the end"))?;
        i += 1;
        size |= ((b & 0x7f) as u64) << shift;
        shift += 7;
    }
    let type_code = (first >> 4) & 0x07;
    match (base, e.base) {
        (None, None) if type_code == e.kind as u8 => {}
        (Some(_), Some(b)) if type_code == OFS_DELTA => {
            let distance = read_ofs(body, &mut i).ok_or_else(|| bad("bad base offset"))?;
            if e.offset.checked_sub(distance) != Some(entries[b as usize].offset) {
                return Err(bad("base offset names another entry"));
            }
        }
        _ => return Err(bad("wrong entry type")),
    }
    let mut z = flate2::read::ZlibDecoder::new(&body[i..]);
    let mut data = Vec::with_capacity(size.min(1 << 30) as usize);
    z.read_to_end(&mut data)?;
    let end = i + z.total_in() as usize;
    if data.len() as u64 != size {
        return Err(bad("inflated size differs from the header"));
    }
    let raw = match base {
        Some(b) => super::delta::apply(b, &data).map_err(|d| bad(d.0))?,
        None => data,
    };
    let mut c = crc32fast::Hasher::new();
    c.update(&body[start..end]);
    if raw.len() as u64 != e.raw_len || object_id(e.kind, &raw) != e.oid || c.finalize() != e.crc {
        return Err(bad("content differs"));
    }
    for &child in &children[at] {
        verify_chain(body, entries, children, child as usize, Some(&raw))?;
    }
    Ok(())
}

/// Writes a version 2 pack index.
fn write_index(path: &Path, entries: &[PackEntry], pack_sum: &Oid) -> std::io::Result<()> {
    let mut sorted: Vec<&PackEntry> = entries.iter().collect();
    sorted.sort_unstable_by_key(|e| e.oid);
    let mut buf = Vec::with_capacity(8 + 1024 + sorted.len() * 28 + 40);
    buf.extend_from_slice(b"\xfftOc\0\0\0\x02");
    let mut fanout = [0u32; 256];
    for e in &sorted {
        fanout[e.oid[0] as usize] += 1;
    }
    let mut total = 0u32;
    for n in fanout {
        total += n;
        buf.extend_from_slice(&total.to_be_bytes());
    }
    for e in &sorted {
        buf.extend_from_slice(&e.oid);
    }
    for e in &sorted {
        buf.extend_from_slice(&e.crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for e in &sorted {
        if e.offset < 0x8000_0000 {
            buf.extend_from_slice(&(e.offset as u32).to_be_bytes());
        } else {
            buf.extend_from_slice(&(0x8000_0000u32 | large.len() as u32).to_be_bytes());
            large.push(e.offset);
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

    #[test]
    fn base_offsets_use_gits_biased_encoding() {
        // From gitformat-pack(5)'s rule: 128 is [0x80, 0x00], 16511 [0xff, 0x7f].
        assert_eq!(ofs_bytes(127), vec![0x7f]);
        assert_eq!(ofs_bytes(128), vec![0x80, 0x00]);
        assert_eq!(ofs_bytes(16511), vec![0xff, 0x7f]);
        assert_eq!(ofs_bytes(16512), vec![0x80, 0x80, 0x00]);
        for d in [1u64, 127, 128, 300, 16511, 16512, 1 << 40, u32::MAX as u64] {
            let bytes = ofs_bytes(d);
            let mut i = 0;
            assert_eq!(read_ofs(&bytes, &mut i), Some(d));
            assert_eq!(i, bytes.len());
        }
    }

    fn deflate_len(data: &[u8]) -> (u64, Vec<u8>) {
        (data.len() as u64, deflate(data))
    }

    #[test]
    fn a_pack_with_deltas_reads_back_and_a_bad_delta_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let base: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut next = base.clone();
        next.extend_from_slice(b"appended");
        let (a, b) = (object_id(Kind::Blob, &base), object_id(Kind::Blob, &next));
        let d = super::super::delta::DeltaIndex::new(&base)
            .unwrap()
            .delta(&next, usize::MAX)
            .unwrap();
        let mut w = PackWriter::create(dir.path()).unwrap();
        let (n, z) = deflate_len(&base);
        w.add(Kind::Blob, a, n, &z).unwrap();
        assert_eq!(w.depth(&a), Some(0));
        w.add_delta(
            Kind::Blob,
            b,
            next.len() as u64,
            &a,
            d.len() as u64,
            &deflate(&d),
        )
        .unwrap();
        assert_eq!(w.depth(&b), Some(1));
        assert!(w
            .add_delta(Kind::Blob, [9; 20], 1, &[8; 20], 1, &deflate(b"x"))
            .is_err());
        w.finish().unwrap();

        // The same delta announced as the delta of another object is caught.
        let dir = tempfile::tempdir().unwrap();
        let mut w = PackWriter::create(dir.path()).unwrap();
        w.add(Kind::Blob, a, n, &z).unwrap();
        w.add_delta(
            Kind::Blob,
            [1; 20],
            next.len() as u64,
            &a,
            d.len() as u64,
            &deflate(&d),
        )
        .unwrap();
        let err = w.finish().unwrap_err().to_string();
        assert!(err.contains("does not read back"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
