//! The read-only JSON routes: checkpoints (the objects of `tl log --json`),
//! the tree at an instant, a file's bytes, a file's versions, activity per
//! bucket for the scrubber, and the daemon's status. Each runs on the blocking
//! pool with the current store; every list is bounded.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use tl_index::catalog::{CheckpointIndex, PathChange};
use tl_index::store::Store;
use tl_index::textdiff::TextPair;
use tl_index::timespec::format_rfc3339;
use tl_index::types::Entry;

use super::error::{ApiError, ApiResult};
use super::query::{Edge, Params};
use super::state::State;
use crate::commands::git_mode;
use crate::daemon::protocol::CheckpointSummary;
use crate::output::{checkpoint_json, path as show_path, touches, CheckpointJson};

/// Most checkpoints in one page.
pub const PAGE_MAX: usize = 1000;
/// Most entries of a tree in one answer.
pub const TREE_MAX: usize = 100_000;
/// Most buckets of an activity histogram.
pub const BUCKETS_MAX: usize = 2000;
/// Largest file `/api/file` sends (bigger: 413, `tl show` writes it).
pub const FILE_MAX_BYTES: u64 = 256 << 20;
/// Versions of a file whose line counts are worked out (bigger: size only).
const COUNT_MAX_BYTES: u64 = 1 << 20;

/// Runs `f` with the current store on the blocking pool, once one of the
/// state's few work permits is free (so 50 clients asking for trees build a
/// few at a time, not 50 at once in memory).
pub async fn blocking<T: Send + 'static>(
    state: Arc<State>,
    f: impl FnOnce(&State, &Store) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let permit = state.work_permit().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let store = state.store()?;
        f(&state, &store)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Before an answer about the newest state (no `at`, or `at=now`): a running
/// daemon is asked to capture what it has seen but not yet recorded, as `tl
/// log` and `tl status` do, so the answer holds the edit just made. Best
/// effort: without a daemon the answer comes from the log as it is.
pub async fn flush_if_latest(state: &State, q: &Params) -> ApiResult<()> {
    let latest = q
        .get("at")
        .is_none_or(|t| t.trim().eq_ignore_ascii_case("now"));
    if latest {
        let root = state.root().to_path_buf();
        tokio::task::spawn_blocking(move || crate::daemon::client::flush(&root))
            .await
            .map_err(ApiError::internal)?;
    }
    Ok(())
}

/// `v` as a JSON answer, serialized straight to bytes (no `Value` tree).
fn json_response(v: &impl Serialize) -> ApiResult<Response> {
    let bytes = serde_json::to_vec(v).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response())
}

/// A gap as `tl log --json` prints it.
pub fn gap_json(g: &tl_index::catalog::Gap) -> Value {
    json!({
        "type": "gap", "from": format_rfc3339(g.from_ns), "to": format_rfc3339(g.to_ns),
        "from_ns": g.from_ns, "to_ns": g.to_ns, "reason": g.reason,
    })
}

/// An entry of a tree as `/api/tree` sends it.
#[derive(Serialize)]
struct EntryOut<'a> {
    path: Cow<'a, str>,
    size: u64,
    mode: &'static str,
    hash: String,
    mtime_ns: i64,
}

impl<'a> EntryOut<'a> {
    fn of(path: &'a [u8], e: &Entry) -> EntryOut<'a> {
        EntryOut {
            path: String::from_utf8_lossy(path),
            size: e.size,
            mode: git_mode(e.mode),
            hash: e.hash.to_hex(),
            mtime_ns: e.mtime_ns,
        }
    }
}

/// The answer of `/api/tree`.
#[derive(Serialize)]
struct TreeOut<'a> {
    checkpoint: Value,
    entries: Vec<EntryOut<'a>>,
    total: usize,
    truncated: bool,
}

/// `GET /api/checkpoints?since&until&path&timeline&offset&limit`: newest
/// first, each with its timeline's name as `tl log --json` adds it.
pub async fn checkpoints(AxState(state): AxState<Arc<State>>, q: Params) -> ApiResult<Response> {
    blocking(state, move |_, store| {
        let since = q.bound(store, "since", Edge::Start)?;
        let until = q.bound(store, "until", Edge::End)?;
        let prefix = q.path("path")?;
        let offset = q.bounded("offset", 0, 0, usize::MAX / 2)?;
        let limit = q.bounded("limit", 100, 1, PAGE_MAX)?;
        let timelines = store.catalog()?.timelines();
        let on_line = line_of(store, &q)?;
        let in_time = |from: i64, to: i64| {
            since.is_none_or(|s| i128::from(to) >= s) && until.is_none_or(|u| i128::from(from) < u)
        };
        let cps = store.checkpoints();
        let matching: Vec<usize> = (0..cps.len())
            .rev()
            .filter(|&i| {
                let c = &cps[i];
                on_line.as_ref().is_none_or(|on| on[i])
                    && in_time(c.time_ns, c.time_ns)
                    && prefix.as_ref().is_none_or(|p| touches(c, p.as_bytes()))
            })
            .collect();
        let summaries: Vec<(CheckpointSummary, String)> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| {
                let c = &cps[i];
                (CheckpointSummary::of(c), timelines.name_of(c.timeline))
            })
            .collect();
        let page: Vec<CheckpointJson> = summaries
            .iter()
            .map(|(s, t)| CheckpointJson::of(s, Some(t.clone())))
            .collect();
        let next = (offset + page.len() < matching.len()).then_some(offset + page.len());
        let gaps: Vec<Value> = store
            .gaps()
            .iter()
            .rev()
            .filter(|g| in_time(g.from_ns, g.to_ns))
            .take(PAGE_MAX)
            .map(gap_json)
            .collect();
        json_response(&PageOut {
            checkpoints: page,
            gaps,
            total: matching.len(),
            offset,
            limit,
            next_offset: next,
        })
    })
    .await
}

/// The answer of `/api/checkpoints`.
#[derive(Serialize)]
struct PageOut<'a> {
    checkpoints: Vec<CheckpointJson<'a>>,
    gaps: Vec<Value>,
    total: usize,
    offset: usize,
    limit: usize,
    next_offset: Option<usize>,
}

/// The states of the `timeline` parameter's line (those it inherited too),
/// as a flag per checkpoint; None without the parameter (all of them).
fn line_of(store: &Store, q: &Params) -> ApiResult<Option<Vec<bool>>> {
    let Some(name) = q.get("timeline") else {
        return Ok(None);
    };
    let id = store
        .timeline_named(name)
        .map_err(|e| ApiError::not_found(format!("`timeline`: {e}")))?
        .id;
    let catalog = store.catalog()?;
    let mut on = vec![false; catalog.checkpoints().len()];
    for i in catalog.lineage(id) {
        on[i.get()] = true;
    }
    Ok(Some(on))
}

/// `GET /api/tree?at=T[&path=DIR][&limit=N]`: the files at T, sorted by path.
pub async fn tree(AxState(state): AxState<Arc<State>>, q: Params) -> ApiResult<Response> {
    flush_if_latest(&state, &q).await?;
    blocking(state, move |_, store| {
        let at = at_or_newest(store, &q)?;
        let prefix = q.path("path")?;
        let limit = q.bounded("limit", TREE_MAX, 1, TREE_MAX)?;
        let tree = store.tree_at(at)?;
        let under = |k: &[u8]| prefix.as_ref().is_none_or(|p| RepoPathExt::under(k, p));
        let total = tree.keys().filter(|k| under(k)).count();
        let entries: Vec<EntryOut> = tree
            .iter()
            .filter(|(k, _)| under(k))
            .take(limit)
            .map(|(k, e)| EntryOut::of(k, e))
            .collect();
        json_response(&TreeOut {
            checkpoint: checkpoint_json(&store.checkpoints()[at]),
            entries,
            total,
            truncated: total > limit,
        })
    })
    .await
}

/// `is_under` over a `RepoPath` prefix.
struct RepoPathExt;
impl RepoPathExt {
    fn under(k: &[u8], p: &tl_index::RepoPath) -> bool {
        tl_index::pathsafe::is_under(k, p.as_bytes())
    }
}

/// The checkpoint `at` names, the newest one without it.
fn at_or_newest(store: &Store, q: &Params) -> ApiResult<CheckpointIndex> {
    match q.checkpoint(store, "at")? {
        Some(i) => Ok(i),
        None => store
            .last_index()
            .ok_or_else(|| ApiError::not_found("no checkpoints yet: `tl checkpoint` makes one")),
    }
}

/// A content type from the name, for the few kinds a browser shows inline;
/// never one a browser would run (HTML and SVG are sent as text).
fn content_type(path: &[u8], bytes: &[u8]) -> &'static str {
    let ext = path
        .rsplit(|&b| b == b'/')
        .next()
        .and_then(|name| name.rsplit(|&b| b == b'.').next())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_slice() {
        b"png" => "image/png",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"gif" => "image/gif",
        b"webp" => "image/webp",
        b"pdf" => "application/pdf",
        b"json" => "application/json",
        _ if tl_index::textdiff::is_binary(bytes) => "application/octet-stream",
        _ => "text/plain; charset=utf-8",
    }
}

/// `GET /api/file?path=P&at=T`: the file's bytes at T.
pub async fn file(AxState(state): AxState<Arc<State>>, q: Params) -> ApiResult<Response> {
    flush_if_latest(&state, &q).await?;
    blocking(state, move |_, store| {
        let path = q
            .path("path")?
            .ok_or_else(|| q.required("path").unwrap_err())?;
        let at = at_or_newest(store, &q)?;
        let cp = &store.checkpoints()[at];
        // One path's entry without building the tree (tl_index's entry_at).
        let Some(entry) = store.entry_at(at, path.as_bytes())? else {
            let tree = store.tree_at(at)?;
            let what = if tree.keys().any(|k| RepoPathExt::under(k, &path)) {
                "is a directory"
            } else {
                "is not in the tree"
            };
            return Err(ApiError::not_found(format!(
                "{} {what} at checkpoint {} ({}); /api/tree?at={} lists its files",
                show_path(path.as_bytes()),
                cp.id,
                format_rfc3339(cp.time_ns),
                cp.id
            )));
        };
        if entry.size > FILE_MAX_BYTES {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{} is {} bytes at {}, more than {FILE_MAX_BYTES} this server sends; \
                     `tl show {} --at {}` writes it",
                    show_path(path.as_bytes()),
                    entry.size,
                    cp.id,
                    show_path(path.as_bytes()),
                    cp.id
                ),
            ));
        }
        let bytes = store.blob_bytes(&entry.hash)?;
        let ctype = content_type(path.as_bytes(), &bytes);
        let mut resp = bytes.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(v) = HeaderValue::from_str(&cp.id) {
            h.insert("x-tl-checkpoint", v);
        }
        Ok(resp)
    })
    .await
}

/// `GET /api/history?path=P[&limit=N]`: the versions of one path, newest
/// first, each with what changed (added, deleted, lines in and out, mode).
pub async fn history(AxState(state): AxState<Arc<State>>, q: Params) -> ApiResult<Json<Value>> {
    blocking(state, move |_, store| {
        let path = q
            .path("path")?
            .ok_or_else(|| q.required("path").unwrap_err())?;
        let limit = q.bounded("limit", 200, 1, PAGE_MAX)?;
        let p = path.as_bytes();
        let mut before: Option<Entry> = None;
        let mut versions: Vec<(CheckpointIndex, Option<Entry>, Option<Entry>)> = Vec::new();
        for (i, c) in store.checkpoints().iter().enumerate() {
            let change = c.changes.iter().find(|ch| ch.path().as_bytes() == p);
            let after = match change {
                Some(PathChange::Put(_, e)) => Some(*e),
                Some(PathChange::Delete(_)) => None,
                None => continue,
            };
            versions.push((CheckpointIndex::new(i), before, after));
            before = after;
        }
        if versions.is_empty() {
            return Err(ApiError::not_found(format!(
                "no checkpoint changed {} (a directory? /api/checkpoints?path= lists what \
                 changed under it)",
                show_path(p)
            )));
        }
        let total = versions.len();
        let list = versions
            .iter()
            .rev()
            .take(limit)
            .map(|(i, b, a)| version_json(store, *i, *b, *a))
            .collect::<ApiResult<Vec<Value>>>()?;
        Ok(Json(
            json!({"path": show_path(p), "versions": list, "total": total}),
        ))
    })
    .await
}

/// One version of a file with a label saying what changed.
fn version_json(
    store: &Store,
    i: CheckpointIndex,
    before: Option<Entry>,
    after: Option<Entry>,
) -> ApiResult<Value> {
    let (status, mut label) = match (before, after) {
        (None, Some(a)) => ("A", format!("added, {} bytes", a.size)),
        (Some(_), None) => ("D", "deleted".to_string()),
        (Some(b), Some(a)) if b.hash == a.hash => (
            "M",
            format!("mode {} → {}", git_mode(b.mode), git_mode(a.mode)),
        ),
        (Some(b), Some(a)) => ("M", format!("{} → {} bytes", b.size, a.size)),
        (None, None) => ("D", "deleted".to_string()),
    };
    let mut lines = Value::Null;
    let small = |e: &Option<Entry>| e.is_none_or(|e| e.size <= COUNT_MAX_BYTES);
    if small(&before) && small(&after) && before.map(|e| e.hash) != after.map(|e| e.hash) {
        let read = |e: Option<Entry>| -> ApiResult<Vec<u8>> {
            e.map(|e| store.blob_bytes(&e.hash))
                .transpose()
                .map(Option::unwrap_or_default)
                .map_err(ApiError::from)
        };
        let (x, y) = (read(before)?, read(after)?);
        if let Some(t) = TextPair::new(&x, &y) {
            let c = t.line_counts();
            lines = json!({"insertions": c.insertions, "deletions": c.deletions});
            if status == "M" {
                label = format!("+{} -{} lines", c.insertions, c.deletions);
            } else if status == "A" {
                label = format!("added, {} lines", c.insertions);
            }
        }
    }
    let mut v = json!({
        "checkpoint": checkpoint_json(&store.checkpoints()[i]),
        "status": status, "label": label, "lines": lines,
        "size": after.map(|e| e.size), "hash": after.map(|e| e.hash.to_hex()),
    });
    if let Some(m) = &store.checkpoints()[i].message {
        v["label"] = json!(format!("{}: {m}", v["label"].as_str().unwrap_or_default()));
    }
    Ok(v)
}

/// `GET /api/activity?since&until&buckets&timeline`: checkpoints and changed
/// paths per equal bucket of time (the scrubber's histogram; of one
/// timeline's line with `timeline`), and the gaps in the range.
pub async fn activity(AxState(state): AxState<Arc<State>>, q: Params) -> ApiResult<Json<Value>> {
    blocking(state, move |_, store| {
        let on_line = line_of(store, &q)?;
        let all = store.checkpoints();
        let cps: Vec<&tl_index::catalog::Checkpoint> = (0..all.len())
            .filter(|&i| on_line.as_ref().is_none_or(|on| on[i]))
            .map(|i| &all[i])
            .collect();
        let n = q.bounded("buckets", 100, 1, BUCKETS_MAX)?;
        let first = cps.first().map_or(0, |c| c.time_ns);
        let last = cps.last().map_or(0, |c| c.time_ns);
        let from = q.bound(store, "since", Edge::Start)?.unwrap_or(i128::from(first));
        let to = q.bound(store, "until", Edge::End)?.unwrap_or(i128::from(last) + 1);
        if to <= from {
            return Err(ApiError::bad_request("`until` must be after `since`"));
        }
        let width = ((to - from) + n as i128 - 1) / n as i128;
        let mut counts = vec![(0u64, 0u64); n];
        for c in cps {
            let t = i128::from(c.time_ns);
            if t >= from && t < to {
                let b = (((t - from) / width) as usize).min(n - 1);
                counts[b].0 += 1;
                counts[b].1 += u64::from(c.stats.added)
                    + u64::from(c.stats.modified)
                    + u64::from(c.stats.deleted);
            }
        }
        let buckets: Vec<Value> = counts
            .iter()
            .enumerate()
            .map(|(k, (cp, ch))| {
                json!({"from_ns": ns_json(from + width * k as i128), "checkpoints": cp, "changes": ch})
            })
            .collect();
        let gaps: Vec<Value> = store
            .gaps()
            .iter()
            .filter(|g| i128::from(g.to_ns) >= from && i128::from(g.from_ns) < to)
            .take(PAGE_MAX)
            .map(gap_json)
            .collect();
        Ok(Json(json!({
            "from_ns": ns_json(from), "to_ns": ns_json(to), "bucket_ns": ns_json(width),
            "buckets": buckets, "gaps": gaps,
        })))
    })
    .await
}

/// An ns value as a JSON number (clamped to i64).
fn ns_json(ns: i128) -> i64 {
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `GET /api/timelines`: the live timelines as `tl timeline list --json`
/// prints them (the page's timeline picker).
pub async fn timelines(AxState(state): AxState<Arc<State>>) -> ApiResult<Json<Value>> {
    blocking(state, move |_, store| {
        Ok(Json(crate::output::timelines_json(store.catalog()?)))
    })
    .await
}

/// `GET /api/status`: the project, its newest checkpoint, the daemon's status
/// when one runs (as `tl daemon status --json`), whether restores are allowed.
pub async fn status(AxState(state): AxState<Arc<State>>) -> ApiResult<Json<Value>> {
    blocking(state, move |state, store| {
        let daemon = crate::daemon::client::status(state.root(), std::time::Duration::from_secs(2))
            .ok()
            .flatten();
        Ok(Json(json!({
            "root": state.root().display().to_string(),
            "checkpoints": store.checkpoints().len(),
            "newest": store.last_checkpoint().map(checkpoint_json),
            "daemon": daemon,
            "allow_restore": state.writes() == super::Writes::RestoreAllowed,
        })))
    })
    .await
}
