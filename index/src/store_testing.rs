//! Opening a [`Store`] over any [`Storage`] for its log — `tl_wal::testing::MemStorage`
//! in the power-loss tests and the `store_open_replay` fuzz target. The project root
//! (config, catalog, snapshots, the files captured) stays on the real file system;
//! only the log goes through `storage`, which is where durability matters.

use std::path::Path;
use std::sync::Arc;

use tl_wal::{Options, Storage, Wal};

use super::{Config, Log, Result, Store, StoreError};
use crate::catalog::Catalog;
use crate::layout::Layout;

impl Store {
    /// Opens the store of the project at `root` (which must hold `.tl/`) for writing,
    /// with its log held by `storage` instead of `.tl/wal/`. Runs the log's recovery.
    pub fn open_with_storage(root: &Path, storage: Arc<dyn Storage>) -> Result<Store> {
        let layout = Layout::new(root);
        if !layout.tl_dir().is_dir() {
            return Err(StoreError::NotInitialized(root.to_path_buf()));
        }
        let config = Config::load(&layout.config())?;
        let opts = Options {
            segment_bytes_max: config.segment_bytes_max,
            uring: false,
        };
        let (wal, report) = Wal::open_storage(storage, opts)?;
        let mut store = Store {
            layout,
            config,
            log: Log::Writer(wal),
            catalog: Catalog::default(),
            recovery: Some(report),
            damage: Vec::new(),
            saved: (0, 0),
            reader: std::sync::Mutex::new(None),
            live: None,
            tightened: Vec::new(),
        };
        store.load_catalog()?;
        Ok(store)
    }
}
