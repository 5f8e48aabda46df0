//! `GET /api/diff?from=A&to=B[&path=P][&format=json]`: what changed between two
//! checkpoints, as `tl diff A B` prints it (unified text), or per file as JSON
//! with each text file's hunks. B defaults to the newest checkpoint.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tl_index::scan::Change;
use tl_index::store::Store;
use tl_index::textdiff::TextPair;
use tl_index::types::Entry;

use super::api::blocking;
use super::error::{ApiError, ApiResult};
use super::query::Params;
use super::state::State;
use crate::commands::git_mode;
use crate::output::{checkpoint_json, path as show_path};

/// Most changed files in one diff (the rest are counted, not shown).
pub const DIFF_FILES_MAX: usize = 2000;
/// Files bigger than this are compared by hash, shown as binary (as `tl diff`).
const TEXT_MAX_BYTES: u64 = 16 << 20;
/// Most bytes of diff text in one answer; past it the diff is cut with a note.
const TEXT_OUT_MAX: usize = 32 << 20;

/// The output asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Unified,
    Json,
}

/// One changed file: its entries on both sides and its text diff.
struct FileDiff {
    status: &'static str,
    name: String,
    old: Option<Entry>,
    new: Option<Entry>,
    unified: Option<String>,
    insertions: usize,
    deletions: usize,
}

fn file_diff(store: &Store, c: &Change) -> ApiResult<FileDiff> {
    let (old, new) = match c {
        Change::Added(_, e) => (None, Some(*e)),
        Change::Modified(_, o, e) => (Some(*o), Some(*e)),
        Change::Deleted(_, o) => (Some(*o), None),
    };
    let status = match c {
        Change::Added(..) => "A",
        Change::Modified(..) => "M",
        Change::Deleted(..) => "D",
    };
    let name = show_path(c.path().as_bytes());
    let big = [old, new].iter().flatten().any(|e| e.size > TEXT_MAX_BYTES);
    let mut d = FileDiff {
        status,
        name,
        old,
        new,
        unified: None,
        insertions: 0,
        deletions: 0,
    };
    if big || old.map(|e| e.hash) == new.map(|e| e.hash) {
        return Ok(d);
    }
    let read = |e: Option<Entry>| -> ApiResult<Vec<u8>> {
        Ok(match e {
            Some(e) => store.blob_bytes(&e.hash)?,
            None => Vec::new(),
        })
    };
    let (x, y) = (read(old)?, read(new)?);
    if let Some(t) = TextPair::new(&x, &y) {
        let counts = t.line_counts();
        d.insertions = counts.insertions;
        d.deletions = counts.deletions;
        let a = if old.is_none() {
            "/dev/null".to_string()
        } else {
            format!("a/{}", d.name)
        };
        let b = if new.is_none() {
            "/dev/null".to_string()
        } else {
            format!("b/{}", d.name)
        };
        d.unified = Some(t.unified(&a, &b));
    }
    Ok(d)
}

/// The git-style text of one file's diff.
fn unified_text(out: &mut String, d: &FileDiff) {
    let name = &d.name;
    let _ = writeln!(out, "diff --git a/{name} b/{name}");
    match (d.old, d.new) {
        (None, Some(n)) => {
            let _ = writeln!(out, "new file mode {}", git_mode(n.mode));
        }
        (Some(o), None) => {
            let _ = writeln!(out, "deleted file mode {}", git_mode(o.mode));
        }
        (Some(o), Some(n)) if o.mode != n.mode => {
            let _ = writeln!(
                out,
                "old mode {}\nnew mode {}",
                git_mode(o.mode),
                git_mode(n.mode)
            );
        }
        _ => {}
    }
    match &d.unified {
        Some(text) => out.push_str(text),
        None if d.old.map(|e| e.hash) != d.new.map(|e| e.hash) => {
            let _ = writeln!(out, "Binary files a/{name} and b/{name} differ");
        }
        None => {}
    }
}

/// The diff between `from` and `to` (default: the newest checkpoint).
pub async fn diff(AxState(state): AxState<Arc<State>>, q: Params) -> ApiResult<Response> {
    blocking(state, move |_, store| {
        let format = match q.get("format") {
            None | Some("unified") | Some("text") => Format::Unified,
            Some("json") => Format::Json,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "`format` is json or unified, not {other:?}"
                )))
            }
        };
        let from = q
            .checkpoint(store, "from")?
            .ok_or_else(|| q.required("from").unwrap_err())?;
        let to = match q.checkpoint(store, "to")? {
            Some(i) => i,
            None => store
                .last_index()
                .ok_or_else(|| ApiError::not_found("no checkpoints yet"))?,
        };
        let prefix = q.path("path")?;
        let (old, new) = (store.tree_at(from)?, store.tree_at(to)?);
        let changes: Vec<Change> = tl_index::scan::diff_trees(&old, &new)
            .into_iter()
            .filter(|c| {
                prefix
                    .as_ref()
                    .is_none_or(|p| tl_index::pathsafe::is_under(c.path().as_bytes(), p.as_bytes()))
            })
            .collect();
        let total = changes.len();
        let files = changes
            .iter()
            .take(DIFF_FILES_MAX)
            .map(|c| file_diff(store, c))
            .collect::<ApiResult<Vec<FileDiff>>>()?;
        let cps = store.checkpoints();
        if format == Format::Json {
            let list: Vec<Value> = files
                .iter()
                .map(|d| {
                    json!({
                        "status": d.status, "path": d.name, "binary": d.unified.is_none()
                            && d.old.map(|e| e.hash) != d.new.map(|e| e.hash),
                        "insertions": d.insertions, "deletions": d.deletions,
                        "old_mode": d.old.map(|e| git_mode(e.mode)),
                        "new_mode": d.new.map(|e| git_mode(e.mode)),
                        "unified": d.unified,
                    })
                })
                .collect();
            return Ok(Json(json!({
                "from": checkpoint_json(&cps[from]), "to": checkpoint_json(&cps[to]),
                "files": list, "total": total, "truncated": total > files.len(),
            }))
            .into_response());
        }
        let mut out = String::new();
        for d in &files {
            if out.len() > TEXT_OUT_MAX {
                break;
            }
            unified_text(&mut out, d);
        }
        if total > files.len() || out.len() > TEXT_OUT_MAX {
            let _ = writeln!(
                out,
                "# cut: {total} files changed; narrow it with &path= or use `tl diff`"
            );
        }
        let mut resp = out.into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok(resp)
    })
    .await
}
