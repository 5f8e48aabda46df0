//! `tl fsck`: checks a store against its log, the one source of truth, and names
//! every problem with where it is (segment, offset, LSN), when (the checkpoints
//! around it), what it touches (paths) and the command that repairs it.
//!
//! What is checked, in one pass over the log plus one over the derived files:
//!
//! 1. every segment header and frame (the reading `LogReader::verify` does: crcs,
//!    back-links, LSNs, batch framing), resynchronising past damage;
//! 2. every record decodes;
//! 3. the chain of Commits (each commit's chain hash over the one before);
//! 4. every Put's content is present and complete in the log (`deep`: re-read,
//!    decompressed within bounds and re-hashed);
//! 5. a torn tail (bytes after the valid end of the last segment), which `tl
//!    recover` cuts into `.tl/quarantine/`;
//! 6. every snapshot validates and equals the fold of the log at its checkpoint;
//! 7. the catalog cache equals a fresh fold of the log up to where it says it folds.
//!
//! Nothing is written. The fold is done here from the log alone (never from the
//! catalog cache), so a damaged cache cannot hide damage in the log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tl_wal::{FsStorage, LogReader, Lsn, Storage};

use crate::catalog::{apply, BlockCache, Catalog, CheckpointIndex, PathChange, StoredBlob};
use crate::layout::Layout;
use crate::snapshot::{self, Snapshot};
use crate::types::{BlobHash, Tree};

mod deep;
mod fold;
mod lost;
mod rewritten;
use deep::{blob_users, rehash, BlobUse, Unreadable};
use fold::{fold_log, torn_tail, Location, Segments};

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct FsckOptions {
    /// Also re-read, decompress and re-hash every blob.
    pub deep: bool,
    /// Check for a torn tail after the valid end of the last segment. Turn off when
    /// a writer may be appending (its batch in flight looks like a torn tail).
    pub check_tail: bool,
}

/// The kind of a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The log cannot be opened at all (damaged header, missing segment, ...).
    LogOpen,
    /// A damaged frame inside the log: the records up to where reading resumes
    /// are lost.
    DamagedFrame,
    /// Bytes after the valid end of the last segment (an interrupted write).
    TornTail,
    /// A record whose frames are intact but whose payload does not decode.
    UndecodableRecord,
    /// A commit whose chain hash does not follow from the one before.
    ChainBreak,
    /// A Put whose content is missing or incomplete in the log.
    MissingBlob,
    /// Content that is present but does not read back to its hash (`deep`).
    DamagedBlob,
    /// A snapshot file that does not validate.
    DamagedSnapshot,
    /// A valid snapshot that disagrees with the log.
    SnapshotMismatch,
    /// The catalog cache does not decode.
    DamagedCatalog,
    /// The catalog cache decodes but disagrees with the log.
    CatalogMismatch,
    /// Checkpoints carry the ids of an earlier log (Origin records) with no GC
    /// recording the rewrite after them: the log was rewritten by something
    /// other than `tl gc`.
    RewrittenWithoutRecord,
}

impl ProblemKind {
    /// A stable short name (JSON `kind`).
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::LogOpen => "log_open",
            ProblemKind::DamagedFrame => "damaged_frame",
            ProblemKind::TornTail => "torn_tail",
            ProblemKind::UndecodableRecord => "undecodable_record",
            ProblemKind::ChainBreak => "chain_break",
            ProblemKind::MissingBlob => "missing_blob",
            ProblemKind::DamagedBlob => "damaged_blob",
            ProblemKind::DamagedSnapshot => "damaged_snapshot",
            ProblemKind::SnapshotMismatch => "snapshot_mismatch",
            ProblemKind::DamagedCatalog => "damaged_catalog",
            ProblemKind::CatalogMismatch => "catalog_mismatch",
            ProblemKind::RewrittenWithoutRecord => "rewritten_without_record",
        }
    }

    /// True for problems of derived files only (rebuilt from the log, nothing lost).
    pub fn is_derived(self) -> bool {
        matches!(
            self,
            ProblemKind::DamagedSnapshot
                | ProblemKind::SnapshotMismatch
                | ProblemKind::DamagedCatalog
                | ProblemKind::CatalogMismatch
        )
    }
}

/// A checkpoint named in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRef {
    /// Its short id.
    pub id: String,
    /// Its sequence number.
    pub seq: u64,
    /// Its time, ns since the Unix epoch.
    pub time_ns: i64,
    /// LSN of its batch.
    pub lsn: Lsn,
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// What is wrong, in words.
    pub what: String,
    /// The file concerned (a segment, a snapshot, the catalog).
    pub file: Option<PathBuf>,
    /// Byte offset in `file`.
    pub offset: Option<u64>,
    /// LSN concerned.
    pub lsn: Option<Lsn>,
    /// Where reading the log resumes after the damage (`None` with damage: nothing
    /// more in that segment).
    pub resumes_at: Option<Lsn>,
    /// The last intact checkpoint before the problem.
    pub after: Option<CheckpointRef>,
    /// The first intact checkpoint after it.
    pub before: Option<CheckpointRef>,
    /// Checkpoints known lost (from the gap in commit sequence numbers).
    pub checkpoints_lost: u64,
    /// Paths the problem touches (relative, as stored).
    pub paths: Vec<Vec<u8>>,
    /// The command that repairs it (or what to do when nothing can).
    pub repair: String,
}

impl Problem {
    fn new(kind: ProblemKind, what: String, repair: &str) -> Problem {
        Problem {
            kind,
            what,
            file: None,
            offset: None,
            lsn: None,
            resumes_at: None,
            after: None,
            before: None,
            checkpoints_lost: 0,
            paths: Vec::new(),
            repair: repair.to_string(),
        }
    }
}

/// What `fsck` found.
#[derive(Clone, Debug, Default)]
pub struct FsckReport {
    /// Segments read.
    pub segments: usize,
    /// Records read intact.
    pub records: u64,
    /// Complete batches read intact.
    pub batches: u64,
    /// First LSN of the log.
    pub start_lsn: Lsn,
    /// End of the valid log.
    pub end_lsn: Lsn,
    /// Checkpoints folded.
    pub checkpoints: usize,
    /// Distinct blobs in the log.
    pub blobs: usize,
    /// Blobs re-read and re-hashed (`deep`).
    pub blobs_rehashed: usize,
    /// Snapshots checked.
    pub snapshots: usize,
    /// True when a catalog cache was found and compared.
    pub catalog_checked: bool,
    /// True when the tail check was skipped because a writer holds the log.
    pub writer_running: bool,
    /// Every problem, in log order then derived files.
    pub problems: Vec<Problem>,
    /// The fold of the log (what the store shows).
    pub catalog: Catalog,
}

impl FsckReport {
    /// True when everything holds.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Problems in the log itself (data may be lost), as opposed to derived files.
    pub fn log_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.kind.is_derived())
    }
}

const REPAIR_RECOVER: &str = "tl recover";
const REPAIR_REBUILD: &str = "tl recover --rebuild";
const REPAIR_LOST: &str = "tl recover (reads past the damage and reports what was lost; \
                           the damaged bytes stay in place: restore the segment from a backup \
                           to get them back)";

/// Checks the store of the project at `root`.
pub fn fsck(root: &Path, opts: &FsckOptions) -> std::io::Result<FsckReport> {
    let layout = Layout::new(root);
    let wal_dir = layout.log_dir();
    if !wal_dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is missing", wal_dir.display()),
        ));
    }
    let storage = Arc::new(FsStorage::new(&wal_dir, layout.quarantine())?);
    let mut opts = opts.clone();
    let mut writer_running = false;
    if opts.check_tail {
        // A writer's batch in flight looks like a torn tail: only judge the tail
        // when no writer holds the log.
        if let Err(e) = storage.lock() {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                writer_running = true;
                opts.check_tail = false;
            }
        }
    }
    let mut report = fsck_storage(&layout, storage, &opts);
    report.writer_running = writer_running;
    Ok(report)
}

/// Checks the store laid out as `layout` whose log is held by `storage` (instead
/// of `layout`'s log directory). Never fails: what cannot be read is a problem in
/// the report.
pub fn fsck_storage(layout: &Layout, storage: Arc<dyn Storage>, opts: &FsckOptions) -> FsckReport {
    let mut report = FsckReport::default();
    let reader = match LogReader::open_storage(storage.clone()) {
        Ok(r) => r,
        Err(e) => {
            report.problems.push(Problem::new(
                ProblemKind::LogOpen,
                format!("the log cannot be opened: {e}"),
                "none automatic: move the named file out of .tl/wal/ only if you have a copy; \
                 `tl recover` cannot read past a damaged segment header",
            ));
            return report;
        }
    };
    let segments = Segments::list(&*storage);
    report.segments = reader.segments();
    report.start_lsn = reader.start_lsn();
    report.end_lsn = reader.end_lsn();

    let cache_path = layout.catalog();
    let cache_exists = cache_path.exists();
    let cached = if cache_exists {
        Catalog::load(&cache_path)
    } else {
        None
    };
    // A cache of an older version is stale, not damaged: the next open of the
    // store folds the log and writes the current version.
    if cache_exists && cached.is_none() && !Catalog::is_older_cache(&cache_path) {
        let mut p = Problem::new(
            ProblemKind::DamagedCatalog,
            "the catalog cache does not decode (truncated, zeroed or bit-flipped); tl \
             ignores it and folds the log instead"
                .into(),
            REPAIR_REBUILD,
        );
        p.file = Some(cache_path.clone());
        report.problems.push(p);
    }

    // One pass: the fold, every frame, every record.
    let fold = fold_log(&reader, &segments, cached.as_ref().map(|c| c.through()));
    report.records = fold.records;
    report.batches = fold.batches;
    let catalog = fold.catalog;
    let cps = catalog.checkpoints();
    let cp_ref = |i: CheckpointIndex| {
        cps.get(i.get()).map(|c| CheckpointRef {
            id: c.id.clone(),
            seq: c.seq,
            time_ns: c.time_ns,
            lsn: c.lsn,
        })
    };
    for mut d in fold.problems {
        let i = d.idx;
        d.problem.after = i.prev().and_then(cp_ref);
        d.problem.before = cp_ref(i);
        if let (Some(a), Some(b)) = (&d.problem.after, &d.problem.before) {
            d.problem.checkpoints_lost = lost::lost_between(a.seq, b.seq, catalog.thinnings());
        }
        report.problems.push(d.problem);
    }
    for b in catalog.chain_breaks() {
        let i = cps
            .iter()
            .position(|c| c.lsn == b.lsn || c.seq == b.seq)
            .map(CheckpointIndex::new);
        let Location { file, offset } = segments.locate(b.lsn);
        let mut p = Problem::new(
            ProblemKind::ChainBreak,
            format!(
                "commit #{} does not chain from the commit before it: records before it \
                 were lost or altered",
                b.seq
            ),
            REPAIR_LOST,
        );
        p.file = file;
        p.offset = offset;
        p.lsn = Some(b.lsn);
        if let Some(i) = i {
            p.after = i.prev().and_then(cp_ref);
            p.before = cp_ref(i);
            p.paths = cps[i]
                .changes
                .iter()
                .map(|c| c.path().as_bytes().to_vec())
                .collect();
        }
        report.problems.push(p);
    }
    if let Some(p) = rewritten::unrecorded_rewrite(&catalog, &segments) {
        report.problems.push(p);
    }
    if opts.check_tail {
        if let Some(p) = torn_tail(&*storage, &segments, reader.end_lsn()) {
            report.problems.push(p);
        }
    }

    // Every Put's content present and complete.
    let mut missing: BTreeMap<BlobHash, BlobUse> = BTreeMap::new();
    for (i, c) in cps.iter().enumerate() {
        for ch in &c.changes {
            if let PathChange::Put(path, e) = ch {
                if !catalog.has_blob(&e.hash) {
                    missing
                        .entry(e.hash)
                        .or_insert_with(|| BlobUse::first_at(CheckpointIndex::new(i)))
                        .paths
                        .insert(path.as_bytes().to_vec());
                }
            }
        }
    }
    for (hash, BlobUse { first: i, paths }) in missing {
        let how = match catalog.blobs().get(&hash) {
            None => "is not in the log".to_string(),
            Some(blob) if !blob.runs.is_empty() => {
                let chunks = blob.chunks().count();
                let present = blob.chunks().filter(|c| catalog.has_blob(&c.hash)).count();
                format!(
                    "is incomplete in the log ({present} of the {chunks} chunks its lists \
                     name present, {} bytes)",
                    blob.raw_len
                )
            }
            Some(blob) => format!(
                "is incomplete in the log ({} of {} bytes' parts present)",
                blob.parts.len(),
                blob.raw_len
            ),
        };
        let mut p = Problem::new(
            ProblemKind::MissingBlob,
            format!("content {} {how}", hash.to_hex()),
            REPAIR_LOST,
        );
        p.lsn = Some(cps[i].lsn);
        p.after = i.prev().and_then(cp_ref);
        p.before = cp_ref(i);
        p.paths = paths.into_iter().collect();
        report.problems.push(p);
    }

    if opts.deep {
        let mut complete: Vec<(&BlobHash, &StoredBlob)> = catalog
            .blobs()
            .iter()
            .filter(|(_, blob)| catalog.is_whole(blob))
            .collect();
        // In log order, so that each thread's range reads the members of a solid
        // block one after another and decompresses the block once.
        complete.sort_by_key(|(_, blob)| blob.first_lsn());
        report.blobs_rehashed = complete.len();
        let mut bad: Vec<(BlobHash, Unreadable)> = complete
            .par_iter()
            .map_init(BlockCache::new, |blocks, (hash, blob)| {
                rehash(&reader, hash, blob, catalog.blobs(), blocks)
                    .err()
                    .map(|u| (**hash, u))
            })
            .filter_map(|found| found)
            .collect();
        bad.sort_by_key(|(_, u)| u.lsn);
        if !bad.is_empty() {
            let users = blob_users(&catalog);
            for (hash, Unreadable { lsn, why }) in bad {
                let Location { file, offset } = segments.locate(lsn);
                let mut p = Problem::new(
                    ProblemKind::DamagedBlob,
                    format!("content {} does not read back: {why}", hash.to_hex()),
                    REPAIR_LOST,
                );
                p.file = file;
                p.offset = offset;
                p.lsn = Some(lsn);
                if let Some(BlobUse { first, paths }) = users.get(&hash) {
                    p.after = first.prev().and_then(cp_ref);
                    p.before = cp_ref(*first);
                    p.paths = paths.iter().cloned().collect();
                }
                report.problems.push(p);
            }
        }
    }

    // Snapshots against the fold.
    let snaps = snapshot::list_snapshots(&layout.snapshots()).unwrap_or_default();
    report.snapshots = snaps.len();
    let mut by_lsn: BTreeMap<Lsn, PathBuf> = BTreeMap::new();
    for s in snaps {
        by_lsn.insert(s.lsn, s.path);
    }
    let mut tree = Tree::new();
    for (i, c) in cps.iter().enumerate() {
        apply(&mut tree, &c.changes);
        if let Some(path) = by_lsn.remove(&c.end_lsn) {
            if let Some(p) = check_snapshot(&path, &tree, c, cp_ref(CheckpointIndex::new(i))) {
                report.problems.push(p);
            }
        }
    }
    for (lsn, path) in by_lsn {
        let mut p = match Snapshot::open(&path) {
            Err(e) => Problem::new(
                ProblemKind::DamagedSnapshot,
                format!("snapshot does not validate: {e}"),
                REPAIR_REBUILD,
            ),
            Ok(_) => Problem::new(
                ProblemKind::SnapshotMismatch,
                format!("snapshot at LSN {lsn} matches no checkpoint end in the log"),
                REPAIR_REBUILD,
            ),
        };
        p.file = Some(path);
        p.lsn = Some(lsn);
        report.problems.push(p);
    }

    // The catalog cache against the fold.
    if let Some(cached) = &cached {
        report.catalog_checked = true;
        let repo_id = segments.repo_id(&*storage);
        let why = if repo_id.is_some_and(|id| id != cached.repo_id()) {
            Some("it belongs to another log (repository id differs)".to_string())
        } else {
            match &fold.at_cache {
                None => Some(format!(
                    "it says it folds the log through LSN {}, which is not a batch end of \
                     the log (valid end {})",
                    cached.through(),
                    reader.end_lsn()
                )),
                Some(fresh) => catalog_diff(cached, fresh),
            }
        };
        if let Some(why) = why {
            let mut p = Problem::new(
                ProblemKind::CatalogMismatch,
                format!("the catalog cache disagrees with the log: {why}"),
                REPAIR_REBUILD,
            );
            p.file = Some(cache_path);
            p.lsn = Some(cached.through());
            report.problems.push(p);
        }
    }

    report.checkpoints = catalog.checkpoints().len();
    report.blobs = catalog.blobs().len();
    report.catalog = catalog;
    report
}

fn check_snapshot(
    path: &Path,
    tree: &Tree,
    cp: &crate::catalog::Checkpoint,
    at: Option<CheckpointRef>,
) -> Option<Problem> {
    let mut p = match Snapshot::open(path) {
        Err(e) => Problem::new(
            ProblemKind::DamagedSnapshot,
            format!("snapshot does not validate: {e}; tl ignores it and folds the log"),
            REPAIR_REBUILD,
        ),
        Ok(s) => {
            let meta = s.meta();
            let snap = s.to_tree();
            let differ: Vec<Vec<u8>> = snap
                .keys()
                .chain(tree.keys())
                .filter(|k| snap.get(*k) != tree.get(*k))
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let why = if meta.seq != cp.seq || meta.chain != cp.chain {
                "its commit (sequence number or chain hash) is not the log's".to_string()
            } else if !differ.is_empty() {
                format!("{} path(s) differ from the log", differ.len())
            } else {
                return None;
            };
            let mut p = Problem::new(
                ProblemKind::SnapshotMismatch,
                format!("snapshot disagrees with the log: {why}"),
                REPAIR_REBUILD,
            );
            p.paths = differ;
            p
        }
    };
    p.file = Some(path.to_path_buf());
    p.lsn = Some(cp.end_lsn);
    p.after = at;
    Some(p)
}

/// Where two catalogs differ, in words; `None` when equal.
pub fn catalog_diff(a: &Catalog, b: &Catalog) -> Option<String> {
    if a.through() != b.through() {
        return Some(format!(
            "folds through LSN {} vs {}",
            a.through(),
            b.through()
        ));
    }
    if a.checkpoints().len() != b.checkpoints().len() {
        return Some(format!(
            "{} checkpoints vs {} in the log",
            a.checkpoints().len(),
            b.checkpoints().len()
        ));
    }
    if let Some((x, _)) = a
        .checkpoints()
        .iter()
        .zip(b.checkpoints())
        .find(|(x, y)| x != y)
    {
        return Some(format!("checkpoint {} (#{}) differs", x.id, x.seq));
    }
    if a.blobs() != b.blobs() {
        return Some("the blob index differs".into());
    }
    if a.pins() != b.pins() {
        return Some("the pins differ".into());
    }
    if a.gaps() != b.gaps() {
        return Some("the gaps differ".into());
    }
    if a.holds() != b.holds() {
        return Some("the holds differ".into());
    }
    if a.chain_breaks() != b.chain_breaks() {
        return Some("the chain breaks differ".into());
    }
    if a.head() != b.head() {
        return Some("the head tree differs".into());
    }
    None
}
