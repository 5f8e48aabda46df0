//! The server's view of the store: opened read-only (no lock, as `tl log` does
//! beside a daemon) and opened again when the log on disk has grown, so new
//! captures show up. Growth is noticed by a cheap mark of the log's directory
//! (its segment files' names, sizes and modification times: a `read_dir` and a
//! few `stat`s), looked at on every request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tl_index::layout::Layout;
use tl_index::store::Store;

use super::error::{ApiError, ApiResult};
use super::Writes;

/// What the log directory looked like: changes when a segment grows or appears.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogMark {
    files: Vec<(String, u64, Option<SystemTime>)>,
}

impl LogMark {
    /// The mark of the log `root` is read from now.
    pub fn read(root: &Path) -> LogMark {
        let dir = tl_index::gc::swap::readable_log_dir(&Layout::new(root));
        let mut files: Vec<(String, u64, Option<SystemTime>)> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let md = e.metadata().ok()?;
                        Some((
                            e.file_name().to_string_lossy().into_owned(),
                            md.len(),
                            md.modified().ok(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        LogMark { files }
    }
}

struct Current {
    store: Arc<Store>,
    mark: LogMark,
}

/// Shared by every request.
pub struct State {
    root: PathBuf,
    writes: Writes,
    current: Mutex<Current>,
    stop: tokio::sync::watch::Sender<bool>,
    work: Arc<tokio::sync::Semaphore>,
}

/// How many requests read the store at once: one per core, at least two
/// (a tree at T is some MiB in flight; the others wait their turn).
fn work_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

impl State {
    /// Opens the store of the project at `root` read-only.
    pub fn open(root: &Path, writes: Writes) -> anyhow::Result<State> {
        let mark = LogMark::read(root);
        let store = Store::open_read_only(root)?;
        crate::cli_util::report_tightened(&store);
        Ok(State {
            root: root.to_path_buf(),
            writes,
            current: Mutex::new(Current {
                store: Arc::new(store),
                mark,
            }),
            stop: tokio::sync::watch::Sender::new(false),
            work: Arc::new(tokio::sync::Semaphore::new(work_permits())),
        })
    }

    /// The project's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether restores are allowed.
    pub fn writes(&self) -> Writes {
        self.writes
    }

    /// Tells the event streams the server stops.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Changes to true when the server stops.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// A turn to read the store (see [`work_permits`]), held until dropped.
    pub async fn work_permit(&self) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        self.work
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)
    }

    /// The store, opened again first when the log has grown since.
    pub fn store(&self) -> ApiResult<Arc<Store>> {
        let mut cur = self
            .current
            .lock()
            .map_err(|_| ApiError::internal("the store's lock was poisoned"))?;
        let mark = LogMark::read(&self.root);
        if mark != cur.mark {
            // Keep serving the old view when the new one cannot be opened
            // (a GC swapping the log): the next request tries again.
            if let Ok(store) = Store::open_read_only(&self.root) {
                cur.store = Arc::new(store);
                cur.mark = mark;
            }
        }
        Ok(cur.store.clone())
    }
}
