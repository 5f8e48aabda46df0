//! Git trees in memory: a directory tree whose nodes cache their ids, so a
//! checkpoint's changes invalidate only the directories on their paths. Each node
//! also keeps the last version it wrote and the last one stored whole: a new
//! version is a delta against one of them, so a tree changing in every commit
//! never reaches the depth limit and is stored whole again only when that is
//! smaller.

use std::collections::BTreeMap;

use super::filter::{conflict, KeptEntry};
use super::objects::{Blobs, Objects};
use super::pack::{object_id, Kind, Oid};
use super::ExportError;
use crate::catalog::Checkpoint;
use crate::types::Mode;

pub(super) enum Node {
    Blob(Mode, Oid),
    Dir(Dir),
}

#[derive(Default)]
pub(super) struct Dir {
    pub(super) entries: BTreeMap<Vec<u8>, Node>,
    pub(super) id: Option<Oid>,
    /// The last version serialized (id, content): a delta base for the next.
    last: Option<(Oid, Vec<u8>)>,
    /// The last version stored whole in the pack being written.
    anchor: Option<(Oid, Vec<u8>)>,
}

/// A path that is both a file and a directory in one tree.
pub(super) struct Conflict;

impl Dir {
    pub(super) fn insert(&mut self, comps: &[&[u8]], mode: Mode, id: Oid) -> Result<(), Conflict> {
        self.id = None;
        let (first, rest) = comps.split_first().expect("a path has a component");
        if rest.is_empty() {
            if let Some(Node::Dir(_)) = self.entries.get(*first) {
                return Err(Conflict);
            }
            self.entries.insert(first.to_vec(), Node::Blob(mode, id));
            return Ok(());
        }
        let child = self
            .entries
            .entry(first.to_vec())
            .or_insert_with(|| Node::Dir(Dir::default()));
        match child {
            Node::Dir(d) => d.insert(rest, mode, id),
            Node::Blob(..) => Err(Conflict),
        }
    }

    pub(super) fn remove(&mut self, comps: &[&[u8]]) {
        let (first, rest) = comps.split_first().expect("a path has a component");
        if rest.is_empty() {
            if self.entries.remove(*first).is_some() {
                self.id = None;
            }
            return;
        }
        if let Some(Node::Dir(d)) = self.entries.get_mut(*first) {
            d.remove(rest);
            if d.id.is_none() {
                self.id = None;
            }
            if d.entries.is_empty() {
                self.entries.remove(*first);
            }
        }
    }

    /// The tree id, serializing only directories whose id is not cached.
    pub(super) fn hash(&mut self, out: &mut Objects) -> std::io::Result<Oid> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        let mut rows: Vec<(&[u8], bool, &'static [u8], Oid)> = Vec::new();
        for (name, node) in self.entries.iter_mut() {
            match node {
                Node::Blob(mode, id) => rows.push((name, false, mode_bytes(*mode), *id)),
                Node::Dir(d) => {
                    let id = d.hash(out)?;
                    rows.push((name, true, b"40000", id));
                }
            }
        }
        // Git orders entries as if a directory's name ended with '/'.
        rows.sort_unstable_by(|a, b| {
            let ka = a.0.iter().chain(if a.1 { &b"/"[..] } else { &b""[..] });
            let kb = b.0.iter().chain(if b.1 { &b"/"[..] } else { &b""[..] });
            ka.cmp(kb)
        });
        let mut buf = Vec::with_capacity(rows.len() * 40);
        for (name, _, mode, id) in &rows {
            buf.extend_from_slice(mode);
            buf.push(b' ');
            buf.extend_from_slice(name);
            buf.push(0);
            buf.extend_from_slice(id);
        }
        let id = object_id(Kind::Tree, &buf);
        let mut bases: Vec<(Oid, &[u8])> = Vec::with_capacity(2);
        if let Some((b, content)) = &self.last {
            bases.push((*b, content));
        }
        if let Some((b, content)) = &self.anchor {
            if self.last.as_ref().map(|l| l.0) != Some(*b) {
                bases.push((*b, content));
            }
        }
        out.put_against(Kind::Tree, id, &buf, &bases)?;
        if out.depth(&id) == Some(0) {
            self.anchor = Some((id, buf.clone()));
        }
        self.last = Some((id, buf));
        self.id = Some(id);
        Ok(id)
    }
}

pub(super) fn mode_bytes(mode: Mode) -> &'static [u8] {
    match mode {
        // Git knows no other modes: who may read a file is not exported, so the
        // commit ids of a history do not depend on it.
        Mode::File | Mode::PrivateFile | Mode::GroupFile => b"100644",
        Mode::Exec | Mode::PrivateExec | Mode::GroupExec => b"100755",
        Mode::Symlink => b"120000",
    }
}

pub(super) fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/').collect()
}

/// Builds the directory tree of the entries a commit keeps (see [`filter`]).
pub(super) fn build(
    keep: &[KeptEntry<'_>],
    blobs: &Blobs,
    cp: &Checkpoint,
) -> Result<Dir, ExportError> {
    let mut root = Dir::default();
    for KeptEntry { path, entry } in keep {
        let id = blobs.ids[&entry.hash];
        if root.insert(&components(path), entry.mode, id).is_err() {
            return Err(conflict(path, cp));
        }
    }
    Ok(root)
}
