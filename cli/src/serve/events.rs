//! `GET /api/events`: Server-Sent Events, one `checkpoint` event each time the
//! log has grown and holds a new newest checkpoint. The log's directory is
//! looked at every [`POLL`] (a few `stat`s); the stream ends after [`LIFETIME`]
//! (the browser's EventSource reconnects) or when the server stops, and at most
//! [`CLIENTS_MAX`] streams run at once.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::state::{LogMark, State};
use crate::output::checkpoint_json;

/// How often a stream looks at the log.
const POLL: Duration = Duration::from_millis(500);
/// How long one stream lasts.
const LIFETIME: Duration = Duration::from_secs(600);
/// Most streams at once.
const CLIENTS_MAX: usize = 32;

static CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// Counts a stream while it lives.
struct Slot;
impl Drop for Slot {
    fn drop(&mut self) {
        CLIENTS.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Watch {
    state: Arc<State>,
    mark: LogMark,
    last_id: Option<String>,
    started: Instant,
    first: bool,
    _slot: Slot,
}

/// The event stream.
pub async fn events(AxState(state): AxState<Arc<State>>) -> Response {
    if CLIENTS.fetch_add(1, Ordering::SeqCst) >= CLIENTS_MAX {
        CLIENTS.fetch_sub(1, Ordering::SeqCst);
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{CLIENTS_MAX} event streams are open already; close one"),
        )
        .into_response();
    }
    let root = state.root().to_path_buf();
    let mark = LogMark::read(&root);
    let w = Watch {
        state,
        mark,
        last_id: None,
        started: Instant::now(),
        first: true,
        _slot: Slot,
    };
    let stream = futures_util::stream::unfold(w, next_event);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Waits for the next event; None ends the stream.
async fn next_event(mut w: Watch) -> Option<(Result<Event, Infallible>, Watch)> {
    let mut stopping = w.state.stopping();
    loop {
        if !w.first {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stopping.changed() => return None,
            }
        }
        if *stopping.borrow() || w.started.elapsed() >= LIFETIME {
            return None;
        }
        let first = std::mem::replace(&mut w.first, false);
        let root = w.state.root().to_path_buf();
        let mark = tokio::task::spawn_blocking(move || LogMark::read(&root))
            .await
            .ok()?;
        if !first && mark == w.mark {
            continue;
        }
        w.mark = mark;
        let state = w.state.clone();
        let newest = tokio::task::spawn_blocking(move || {
            let store = state.store().ok()?;
            let n = store.checkpoints().len();
            store
                .last_checkpoint()
                .map(|c| (c.id.clone(), n, checkpoint_json(c)))
        })
        .await
        .ok()?;
        let Some((id, count, cp)) = newest else {
            continue;
        };
        if first {
            // The stream starts with the newest checkpoint as it is now.
            w.last_id = Some(id);
            let ev = Event::default()
                .event("hello")
                .data(json!({"checkpoints": count, "newest": cp}).to_string());
            return Some((Ok(ev), w));
        }
        if w.last_id.as_deref() == Some(id.as_str()) {
            continue;
        }
        w.last_id = Some(id);
        let ev = Event::default()
            .event("checkpoint")
            .data(json!({"checkpoints": count, "newest": cp}).to_string());
        return Some((Ok(ev), w));
    }
}
