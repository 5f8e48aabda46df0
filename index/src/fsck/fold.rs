//! The fold as fsck sees it: the catalog's one fold of the log, observed to turn
//! every damaged record, broken chain and torn tail into a located [`Problem`].

use std::collections::BTreeSet;
use std::path::PathBuf;

use tl_wal::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use tl_wal::{parse_segment_name, LogReader, Lsn, ReadError, Storage};

use crate::catalog::{fold_records, Catalog, CheckpointIndex, DamagedFrame, FoldObserver};
use crate::record::{DecodeError, Record};

use super::{Problem, ProblemKind, REPAIR_LOST, REPAIR_RECOVER};

/// One segment of the log: its base LSN, its name in the storage, its path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SegmentAt {
    pub(super) base: Lsn,
    pub(super) name: String,
    pub(super) path: PathBuf,
}

/// Where an LSN is on disk, as far as the segments say.
#[derive(Clone, Debug, Default)]
pub(super) struct Location {
    /// The segment file holding it (None: before the first segment).
    pub(super) file: Option<PathBuf>,
    /// Its byte offset in that file.
    pub(super) offset: Option<u64>,
}

/// The segments by base LSN, for locating an LSN.
pub(super) struct Segments(pub(super) Vec<SegmentAt>);

impl Segments {
    pub(super) fn list(storage: &dyn Storage) -> Segments {
        let mut v: Vec<SegmentAt> = storage
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| {
                parse_segment_name(&name).map(|base| SegmentAt {
                    base,
                    path: storage.describe(&name),
                    name,
                })
            })
            .collect();
        v.sort();
        Segments(v)
    }

    /// The segment file holding `lsn` and the offset in it.
    pub(super) fn locate(&self, lsn: Lsn) -> Location {
        match self.0.iter().rev().find(|s| s.base <= lsn) {
            Some(s) => Location {
                file: Some(s.path.clone()),
                offset: Some(lsn.bytes_since(s.base) + SEGMENT_HEADER_LEN as u64),
            },
            None => Location::default(),
        }
    }

    pub(super) fn repo_id(&self, storage: &dyn Storage) -> Option<[u8; 16]> {
        let name = &self.0.first()?.name;
        let f = storage.open_read(name).ok()?;
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        f.read_exact_at(&mut head, 0).ok()?;
        SegmentHeader::decode(&head).ok().map(|h| h.repo_id)
    }
}

pub(super) struct LogDamage {
    pub(super) problem: Problem,
    /// The first checkpoint after it (the number of checkpoints folded before it;
    /// past the end of the list when none follows).
    pub(super) idx: CheckpointIndex,
}

pub(super) struct Fold {
    pub(super) catalog: Catalog,
    pub(super) records: u64,
    pub(super) batches: u64,
    pub(super) problems: Vec<LogDamage>,
    /// The fold when it had folded exactly through the cache's `through`.
    pub(super) at_cache: Option<Catalog>,
}

pub(super) fn fold_log(
    reader: &LogReader,
    segments: &Segments,
    cache_through: Option<Lsn>,
) -> Fold {
    let start = reader.start_lsn();
    let mut catalog = Catalog::new([0; 16], start);
    let mut seen = Seen {
        segments,
        cache_through,
        records: 0,
        batches: 0,
        problems: Vec::new(),
        at_cache: None,
        batch_paths: BTreeSet::new(),
    };
    seen.snap_at_cache(&catalog, None);
    let unreadable = |e: ReadError, catalog: &Catalog, seen: &mut Seen<'_>| {
        let mut p = Problem::new(
            ProblemKind::LogOpen,
            format!("the log cannot be read: {e}"),
            REPAIR_RECOVER,
        );
        p.lsn = Some(catalog.through());
        seen.push(catalog, p);
    };
    match reader.iter_from(start) {
        Ok(iter) => {
            if let Err(e) = fold_records(&mut catalog, iter, &mut seen) {
                unreadable(e, &catalog, &mut seen);
            }
            seen.snap_at_cache(&catalog, Some(reader.end_lsn()));
            catalog.fold_log_end(reader.end_lsn());
            seen.snap_at_cache(&catalog, None);
        }
        // Not even the start can be read: nothing is folded.
        Err(e) => unreadable(e, &catalog, &mut seen),
    }
    Fold {
        catalog,
        records: seen.records,
        batches: seen.batches,
        problems: seen.problems,
        at_cache: seen.at_cache,
    }
}

/// What fsck notes while the log is folded: counts, damage with the paths of the
/// batch it interrupted, and the fold at the point the catalog cache says it folds
/// through.
pub(super) struct Seen<'a> {
    pub(super) segments: &'a Segments,
    pub(super) cache_through: Option<Lsn>,
    pub(super) records: u64,
    pub(super) batches: u64,
    pub(super) problems: Vec<LogDamage>,
    pub(super) at_cache: Option<Catalog>,
    /// The paths the batch in progress changed so far.
    pub(super) batch_paths: BTreeSet<Vec<u8>>,
}

impl Seen<'_> {
    /// The cache is valid if it equals the fold at a batch boundary: at a batch
    /// end, or anywhere between one and the next record (`next`; marks sit there).
    pub(super) fn snap_at_cache(&mut self, catalog: &Catalog, next: Option<Lsn>) {
        let Some(ct) = self.cache_through else { return };
        if self.at_cache.is_some() {
            return;
        }
        if catalog.through() == ct {
            self.at_cache = Some(catalog.clone());
        } else if catalog.through() < ct && next.is_some_and(|n| ct <= n) {
            let mut c = catalog.clone();
            c.fold_resume(ct);
            self.at_cache = Some(c);
        }
    }

    pub(super) fn push(&mut self, catalog: &Catalog, problem: Problem) {
        self.problems.push(LogDamage {
            problem,
            idx: CheckpointIndex::new(catalog.checkpoints().len()),
        });
    }
}

impl FoldObserver for Seen<'_> {
    fn before_record(&mut self, catalog: &Catalog, r: &tl_wal::Record) {
        self.records += 1;
        if r.first_in_batch {
            self.batch_paths.clear();
            self.snap_at_cache(catalog, Some(r.lsn));
        }
    }

    fn decoded(&mut self, rec: &Record) {
        match rec {
            Record::Put { path, .. } | Record::Delete { path } => {
                self.batch_paths.insert(path.clone());
            }
            Record::Rename { from, to } => {
                self.batch_paths.insert(from.clone());
                self.batch_paths.insert(to.clone());
            }
            _ => {}
        }
    }

    fn undecodable(&mut self, catalog: &Catalog, lsn: Lsn, e: &DecodeError) {
        let Location { file, offset } = self.segments.locate(lsn);
        let mut p = Problem::new(
            ProblemKind::UndecodableRecord,
            format!(
                "record does not decode ({e}); its batch is dropped{}",
                batch_note(&self.batch_paths)
            ),
            REPAIR_LOST,
        );
        p.file = file;
        p.offset = offset;
        p.lsn = Some(lsn);
        p.paths = self.batch_paths.iter().cloned().collect();
        self.push(catalog, p);
    }

    fn batch_end(&mut self, catalog: &Catalog) {
        self.batches += 1;
        self.batch_paths.clear();
        self.snap_at_cache(catalog, None);
    }

    fn damaged_frame(&mut self, catalog: &Catalog, frame: DamagedFrame<'_>) {
        let DamagedFrame {
            path,
            offset,
            lsn,
            problem,
            resumes_at,
        } = frame;
        let lost = match resumes_at {
            Some(r) => format!("LSNs {lsn}..{r} are unreadable"),
            None => format!(
                "everything from LSN {lsn} to the end of {} is unreadable",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        };
        let mut p = Problem::new(
            ProblemKind::DamagedFrame,
            format!(
                "damaged frame ({problem}): {lost}{}",
                batch_note(&self.batch_paths)
            ),
            REPAIR_LOST,
        );
        p.file = Some(path.to_path_buf());
        p.offset = Some(offset);
        p.lsn = Some(lsn);
        p.resumes_at = resumes_at;
        p.paths = self.batch_paths.iter().cloned().collect();
        self.push(catalog, p);
        self.batch_paths.clear();
    }

    fn resumed(&mut self, catalog: &Catalog) {
        self.snap_at_cache(catalog, None);
    }
}

pub(super) fn batch_note(paths: &BTreeSet<Vec<u8>>) -> String {
    if paths.is_empty() {
        String::new()
    } else {
        format!(
            " (the interrupted batch had changed {} path(s) before it)",
            paths.len()
        )
    }
}

/// Bytes after the valid end of the last segment, or a last segment whose creation
/// never finished.
pub(super) fn torn_tail(storage: &dyn Storage, segments: &Segments, end: Lsn) -> Option<Problem> {
    let SegmentAt { base, name, path } = segments.0.last()?;
    let len = storage.open_read(name).ok()?.len().ok()?;
    let (what, offset, bytes) = if *base > end || (*base == end && len < SEGMENT_HEADER_LEN as u64)
    {
        (
            format!("segment {name} was being created when tl stopped ({len} bytes)"),
            0,
            len,
        )
    } else {
        let valid = SEGMENT_HEADER_LEN as u64 + end.bytes_since(*base);
        if len <= valid {
            return None;
        }
        (
            format!(
                "{} byte(s) after the last complete batch: an interrupted write, never \
                 acknowledged",
                len - valid
            ),
            valid,
            len - valid,
        )
    };
    let _ = bytes;
    let mut p = Problem::new(ProblemKind::TornTail, what, REPAIR_RECOVER);
    p.file = Some(path.clone());
    p.offset = Some(offset);
    p.lsn = Some(end);
    Some(p)
}
