//! `POST /api/restore`: only when `tl serve --allow-restore` started the
//! server, and only with `{"path": P, "at": T, "confirm": true}` as JSON (a
//! form from another site cannot send that type without the token anyway).
//! The server holds no lock: it runs `tl restore P --at ID --json` as a child,
//! which captures the present first (so the restore can be undone) and borrows
//! the log from a running daemon the way the command always does.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::blocking;
use super::error::{ApiError, ApiResult};
use super::query::{repo_path, resolve};
use super::state::State;
use super::Writes;

/// How long a restore may run before the server gives up on it.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(300);

/// The body of a restore.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    /// A path in the tree, or `.` for the whole tree.
    path: String,
    /// The time T to restore it as.
    at: String,
    /// Must be true: the page asked the user.
    confirm: bool,
}

/// Restores one path (or the whole tree) as it was at T.
pub async fn restore(
    AxState(state): AxState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if state.writes() != Writes::RestoreAllowed {
        return Err(ApiError::forbidden(
            "this server is read-only; start it with `tl serve --allow-restore` to restore \
             from the page, or run `tl restore PATH --at T`",
        ));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the restore as application/json: {\"path\": P, \"at\": T, \"confirm\": true}",
        ));
    }
    let req: RestoreBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"path\": P, \"at\": T, \"confirm\": true}}: {e}"
        ))
    })?;
    if !req.confirm {
        return Err(ApiError::bad_request(
            "`confirm` must be true: a restore overwrites files (it can be undone with \
             `tl undo` or a replay of the checkpoint it makes first)",
        ));
    }
    blocking(state, move |state, store| {
        let path = if req.path == "." {
            ".".to_string()
        } else {
            let p = repo_path("path", &req.path)?;
            crate::output::path(p.as_bytes())
        };
        let idx = resolve(store, "at", &req.at)?;
        let id = store.checkpoints()[idx].id.clone();
        let exe = std::env::current_exe().map_err(ApiError::internal)?;
        let child = std::process::Command::new(exe)
            .arg("-C")
            .arg(state.root())
            .args(["restore", "--json", "--at", &id, "--"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(ApiError::internal)?;
        let pid = child.id();
        // Read its output on a thread (a big report must not fill the pipe)
        // and give up on it after the timeout.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(RESTORE_TIMEOUT) {
            Ok(out) => out.map_err(ApiError::internal)?,
            Err(_) => {
                if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "`tl restore {path} --at {id}` took more than {} s and was stopped",
                        RESTORE_TIMEOUT.as_secs()
                    ),
                ));
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if !out.status.success() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("`tl restore {path} --at {id}` failed: {stderr}"),
            ));
        }
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        Ok(Json(
            json!({"restored": path, "at": id, "report": report, "notes": stderr}),
        ))
    })
    .await
}
