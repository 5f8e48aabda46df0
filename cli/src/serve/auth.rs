//! Who may talk to the server: a request must name the bound address in its
//! `Host` header (a page on another site that rebinds its DNS name to
//! 127.0.0.1 sends its own name: refused with 421), and carry the run's random
//! token, as `Authorization: Bearer TOKEN` or in the `tl_token` cookie that
//! `/?token=TOKEN` sets (HttpOnly, SameSite=Strict). Without it: 401.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{Request, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::RngCore;

use super::error::ApiError;
use super::state::State;

/// The cookie the page keeps the token in.
pub const COOKIE: &str = "tl_token";

/// A random token, new for every run: 32 bytes from the OS, in hex.
#[derive(Clone, Debug)]
pub struct Token(String);

impl Token {
    /// A fresh token.
    pub fn random() -> Result<Token> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .context("cannot read random bytes for the server's token")?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The token as the URL and the header carry it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the strings differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The checks every request goes through.
#[derive(Clone, Debug)]
pub struct Guard {
    hosts: Vec<String>,
    token: Token,
}

impl Guard {
    /// Accepts `Host: ADDR:PORT` of the bound address (and `localhost:PORT`
    /// when bound to a loopback address) and the token.
    pub fn new(bound: SocketAddr, token: Token) -> Guard {
        let mut hosts = vec![bound.to_string()];
        if bound.ip().is_loopback() {
            hosts.push(format!("localhost:{}", bound.port()));
        }
        Guard { hosts, token }
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| self.token.matches(t.trim())) {
            return true;
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && self.token.matches(v))
    }
}

/// The token in `/?token=T`, when the query has one.
fn query_token(req: &Request) -> Option<String> {
    req.uri()
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
}

async fn check(AxState(guard): AxState<Arc<Guard>>, req: Request, next: Next) -> Response {
    if !guard.host_ok(req.headers()) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "the Host header must be {} (this server answers only to its own address)",
                guard.hosts[0]
            ),
        )
        .into_response();
    }
    if req.uri().path() == "/" {
        if let Some(t) = query_token(&req) {
            if guard.token.matches(&t) {
                // Keep the token in a cookie and drop it from the address bar.
                let cookie = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
                return (
                    StatusCode::SEE_OTHER,
                    [(header::SET_COOKIE, cookie), (header::LOCATION, "/".into())],
                )
                    .into_response();
            }
        }
    }
    if !guard.token_ok(req.headers()) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this needs the token `tl serve` printed: open the URL it printed, or send \
             `Authorization: Bearer TOKEN`",
        )
        .into_response();
    }
    next.run(req).await
}

/// Every route, behind the checks.
pub fn app(state: Arc<State>, guard: Guard) -> Router {
    use super::{api, api_diff, events, page, restore};
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/api/openapi.json", get(page::openapi))
        .route("/api/checkpoints", get(api::checkpoints))
        .route("/api/tree", get(api::tree))
        .route("/api/file", get(api::file))
        .route("/api/history", get(api::history))
        .route("/api/activity", get(api::activity))
        .route("/api/status", get(api::status))
        .route("/api/timelines", get(api::timelines))
        .route("/api/diff", get(api_diff::diff))
        .route("/api/events", get(events::events))
        .route("/api/restore", post(restore::restore))
        .fallback(page::not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(Arc::new(guard), check))
}
