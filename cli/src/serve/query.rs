//! The query string of an API request, decoded once, with typed getters whose
//! failures are 400s naming the parameter: times (everything the CLI takes, as
//! `Store::resolve` reads it), paths (the replay rules of `tl_index::pathsafe`:
//! no `..`, nothing absolute, no `.tl` or `.git`), bounded numbers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tl_index::catalog::CheckpointIndex;
use tl_index::store::Store;
use tl_index::timespec::{self, TimeExpr};
use tl_index::RepoPath;

use super::error::{ApiError, ApiResult};

/// The longest query string taken (a path is at most 4 KiB).
const QUERY_MAX_BYTES: usize = 16 << 10;

/// The decoded `name=value` pairs.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        if q.len() > QUERY_MAX_BYTES {
            return Err(ApiError::bad_request(format!(
                "the query is {} bytes, more than the limit of {QUERY_MAX_BYTES}",
                q.len()
            )));
        }
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(Params)
            .map_err(|e| ApiError::bad_request(format!("cannot decode the query: {e}")))
    }
}

impl Params {
    /// The value of `name`, if given (the first one).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or a 400 saying it is needed.
    pub fn required(&self, name: &str) -> ApiResult<&str> {
        self.get(name)
            .ok_or_else(|| ApiError::bad_request(format!("the parameter `{name}` is required")))
    }

    /// `name` as a checkpoint (a time T as the CLI takes it).
    pub fn checkpoint(&self, store: &Store, name: &str) -> ApiResult<Option<CheckpointIndex>> {
        self.get(name).map(|t| resolve(store, name, t)).transpose()
    }

    /// `name` as a path in the tree, checked by the replay rules.
    pub fn path(&self, name: &str) -> ApiResult<Option<RepoPath>> {
        self.get(name).map(|p| repo_path(name, p)).transpose()
    }

    /// `name` as a number from `min` to `max`, `default` when absent.
    pub fn bounded(&self, name: &str, default: usize, min: usize, max: usize) -> ApiResult<usize> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        let n: usize = v.parse().map_err(|_| {
            ApiError::bad_request(format!("`{name}` must be a whole number, not {v:?}"))
        })?;
        if !(min..=max).contains(&n) {
            return Err(ApiError::bad_request(format!(
                "`{name}` must be from {min} to {max}, not {n}"
            )));
        }
        Ok(n)
    }

    /// `name` as the bound of a time range in ns: the start of what T names
    /// (`end` false) or the first instant after it (`end` true).
    pub fn bound(&self, store: &Store, name: &str, end: Edge) -> ApiResult<Option<i128>> {
        let Some(t) = self.get(name) else {
            return Ok(None);
        };
        let after = i128::from(end == Edge::End);
        let ns = match timespec::parse(t, &jiff::Zoned::now()) {
            Ok(TimeExpr::Instant(ns)) => i128::from(ns) + after,
            Ok(TimeExpr::Window(w)) => i128::from(if end == Edge::End { w.end } else { w.start }),
            Ok(_) => {
                let i = resolve(store, name, t)?;
                i128::from(store.checkpoints()[i].time_ns) + after
            }
            Err(e) => return Err(ApiError::bad_request(format!("`{name}`: {e}"))),
        };
        Ok(Some(ns))
    }
}

/// Which edge of a time a range bound takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The first instant of it (`since`).
    Start,
    /// The first instant after it (`until`).
    End,
}

/// Resolves T for parameter `name`.
pub fn resolve(store: &Store, name: &str, t: &str) -> ApiResult<CheckpointIndex> {
    store.resolve(t).map_err(|e| {
        let mut err = ApiError::from_store(e);
        err.message = format!("`{name}`: {}", err.message);
        err
    })
}

/// A path parameter as the store names it, refused when a replay would refuse it.
pub fn repo_path(name: &str, p: &str) -> ApiResult<RepoPath> {
    tl_index::pathsafe::validate_path(p.as_bytes())
        .map_err(|e| ApiError::bad_request(format!("`{name}`: {e}")))?;
    Ok(RepoPath::from_bytes(p.as_bytes()))
}
