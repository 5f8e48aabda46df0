//! Commit objects: the author check and the exact bytes of a commit, on which the
//! deterministic commit ids of incremental exports depend.

use super::pack::{self, Oid};
use super::ExportError;
use crate::catalog::Checkpoint;

pub(super) fn check_author(author: &str) -> Result<(), ExportError> {
    let bad = || {
        ExportError::Options(format!(
            "--author {author:?} is not of the form \"Name <mail>\""
        ))
    };
    let (name, rest) = author.split_once('<').ok_or_else(bad)?;
    let mail = rest.strip_suffix('>').ok_or_else(bad)?;
    if name.trim().is_empty()
        || !name.ends_with(' ')
        || mail.contains(['<', '>'])
        || name.contains('>')
        || author.contains(['\n', '\0'])
    {
        return Err(bad());
    }
    Ok(())
}

pub(super) fn commit_object(
    tree: &Oid,
    parent: Option<&Oid>,
    author: &str,
    cp: &Checkpoint,
    squashed: usize,
) -> Vec<u8> {
    let mut s = header(tree, parent, author, cp);
    s.push_str(&format!("tl checkpoint {} ({})", cp.id, cp.kind.as_str()));
    let message = cp.message.as_deref().unwrap_or("").replace('\0', " ");
    let mut lines = message.trim().lines();
    if let Some(first) = lines.next() {
        s.push_str(": ");
        s.push_str(first);
    }
    s.push('\n');
    let body: Vec<&str> = lines.collect();
    let body = body.join("\n");
    if !body.trim().is_empty() {
        s.push('\n');
        s.push_str(body.trim());
        s.push('\n');
    }
    trailers(&mut s, cp, squashed);
    s.into_bytes()
}

/// A commit whose message is the user's (`tl publish --message`), with the same
/// trailers naming the checkpoint.
pub(super) fn commit_object_with_message(
    tree: &Oid,
    parent: Option<&Oid>,
    author: &str,
    cp: &Checkpoint,
    squashed: usize,
    message: &str,
) -> Vec<u8> {
    let mut s = header(tree, parent, author, cp);
    s.push_str(message.replace('\0', " ").trim());
    s.push('\n');
    trailers(&mut s, cp, squashed);
    s.into_bytes()
}

/// `tree`, `parent`, `author` and `committer` lines (the checkpoint's time,
/// UTC) and the blank line before the message.
fn header(tree: &Oid, parent: Option<&Oid>, author: &str, cp: &Checkpoint) -> String {
    let secs = cp.time_ns.div_euclid(1_000_000_000);
    let mut s = format!("tree {}\n", pack::hex(tree));
    if let Some(p) = parent {
        s.push_str(&format!("parent {}\n", pack::hex(p)));
    }
    s.push_str(&format!("author {author} {secs} +0000\n"));
    s.push_str(&format!("committer {author} {secs} +0000\n\n"));
    s
}

fn trailers(s: &mut String, cp: &Checkpoint, squashed: usize) {
    s.push_str(&format!(
        "\nTl-Checkpoint: {}\nTl-Seq: {}\n",
        crate::catalog::hex(&cp.chain),
        cp.seq
    ));
    if squashed > 1 {
        s.push_str(&format!("Tl-Squashed: {squashed}\n"));
    }
}
