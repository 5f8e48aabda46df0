//! A whole-tree scan in two steps, so that a caller can look at what the walk
//! found before any content is read: [`plan`] walks (names and ignore rules,
//! nothing opened), [`Planned::estimate`] sums what a capture would read as new
//! from stat sizes ([`BatchEstimate`]: the per-capture total of issue 13), and
//! [`Planned::read`] reads it all, as [`scan`](super::scan) (which is the two
//! steps in a row) does.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::estimate::{estimate, BatchEstimate};
use super::walk::{walk, Walked};
use super::{now_ns, open_root, process_found, NewRecord, ScanError, ScanOptions, ScanOutcome};
use crate::scan::Stored;
use crate::statcache::StatCache;
use crate::types::Tree;

/// A walked tree, not read yet.
pub struct Planned {
    /// When the scan started (before anything was stat'ed: the stat cache's
    /// racily-clean rule).
    taken_ns: i64,
    root_fd: OwnedFd,
    pool: rayon::ThreadPool,
    walked: Walked,
}

/// Walks `root` (see the module docs of [`super`] for what is left out).
pub fn plan<E>(root: &Path, options: &ScanOptions) -> Result<Planned, ScanError<E>> {
    let taken_ns = now_ns();
    std::fs::read_dir(root).map_err(|source| ScanError::RootUnreadable {
        path: root.to_path_buf(),
        source,
    })?;
    let root_fd = open_root(root)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()?;
    let walked = walk(root, pool.current_num_threads());
    Ok(Planned {
        taken_ns,
        root_fd,
        pool,
        walked,
    })
}

impl Planned {
    /// What reading would add to `head` (the last checkpoint's tree), from stat
    /// sizes (one `lstat` per file found, nothing opened).
    pub fn estimate(&self, head: &Tree, options: &ScanOptions) -> BatchEstimate {
        estimate(&self.walked.found, head, options, Some(&self.pool))
    }

    /// Reads what the walk found; new content goes to `sink` (see
    /// [`scan`](super::scan)).
    pub fn read<E: Send>(
        self,
        previous: &StatCache,
        options: &ScanOptions,
        stored: &dyn Stored,
        sink: &(dyn Fn(NewRecord) -> Result<(), E> + Sync),
    ) -> Result<ScanOutcome, ScanError<E>> {
        let Walked {
            found,
            mut warnings,
            secrets,
        } = self.walked;
        let processed = process_found(
            self.root_fd.as_fd(),
            &found,
            Some(&self.pool),
            previous,
            options,
            stored,
            sink,
        )?;
        let mut stat_cache = StatCache::with_taken_ns(self.taken_ns);
        for (path, stat) in processed.cache {
            stat_cache.insert(path, stat);
        }
        warnings.extend(processed.warnings);
        warnings.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(ScanOutcome {
            tree: processed.tree,
            stat_cache,
            warnings,
            secrets_left_out: secrets,
            stats: processed.stats,
        })
    }
}
