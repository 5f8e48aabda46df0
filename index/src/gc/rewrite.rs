//! Writing the thinned log: for each kept checkpoint, in order, the content no
//! earlier kept checkpoint carried (small blobs packed into solid blocks, big
//! ones as their Blob records, verbatim: `gc/pack`), the
//! Put/Delete records that turn the previous kept tree into its tree, an Origin
//! record (so its id stays), and its Commit, chained anew; gaps and earlier GCs'
//! Thinned records in their places; every pin, re-aimed at its checkpoint's new
//! LSN; and last the Thinned record of this GC (`index/GC.md`).

use std::collections::HashSet;

use tl_wal::{Appended, Lsn, Wal};

use super::cancel::Cancel;
use super::error::GcError;
use super::pack::{Packer, MEMBER_MAX};
use super::plan::GcPlan;
use crate::catalog::{apply, Catalog, Checkpoint, Gap, ThinnedAt};
use crate::record::{chain_hash, Codec, CommitStats, Record, Thinned};
use crate::scan::{diff_trees, Change};
use crate::store::Store;
use crate::types::{BlobHash, Tree};

/// Batches are handed to the log, and synced, in groups of about this many bytes.
const GROUP_BYTES: usize = 16 << 20;

/// What the rewrite wrote.
#[derive(Clone, Debug)]
pub struct Rewritten {
    /// The new LSN of each kept checkpoint's batch, in order.
    pub kept_lsns: Vec<Lsn>,
    /// Blobs copied.
    pub blobs: u64,
    /// Pins written.
    pub pins: u64,
    /// Where the new log ends.
    pub end_lsn: Lsn,
}

/// Writes the log `plan` keeps of `store` into `wal` (new and empty).
/// Stops with [`GcError::Cancelled`] at the next batch or blob once `cancel` is
/// set.
pub fn rewrite(
    store: &Store,
    plan: &GcPlan,
    wal: &Wal,
    cancel: &Cancel,
) -> Result<Rewritten, GcError> {
    let catalog = store.catalog()?;
    let mut w = Writer {
        cancel,
        store,
        catalog,
        wal,
        group: Vec::new(),
        group_bytes: 0,
        chain: [0; 32],
        level: store.config().gc_zstd_level,
        batch_of: Vec::new(),
        kept_lsns: Vec::new(),
        blobs: 0,
    };
    let cps = catalog.checkpoints();
    let mut gaps: Vec<&Gap> = catalog.gaps().iter().collect();
    gaps.sort_by_key(|g| g.to_ns);
    let mut gaps = gaps.into_iter().peekable();
    // Holds go where gaps go: before the first kept checkpoint after their end.
    let mut holds: Vec<&crate::record::Hold> = catalog.holds().iter().collect();
    holds.sort_by_key(|h| h.to_ns);
    let mut holds = holds.into_iter().peekable();
    let mut thinnings = catalog.thinnings().iter().peekable();
    let mut tree = Tree::new();
    let mut written = Tree::new();
    let mut carried: HashSet<BlobHash> = HashSet::new();
    for (i, c) in cps.iter().enumerate() {
        apply(&mut tree, &c.changes);
        if !plan.keeps(i) {
            continue;
        }
        while let Some(g) = gaps.next_if(|g| g.to_ns <= c.time_ns) {
            w.push(vec![gap_record(g)], BatchOf::Other)?;
        }
        while let Some(h) = holds.next_if(|h| h.to_ns <= c.time_ns) {
            w.push(vec![Record::Hold(h.clone()).encode()], BatchOf::Other)?;
        }
        while let Some(t) = thinnings.next_if(|t| t.lsn < c.lsn) {
            w.push(vec![thinned_record(t)], BatchOf::Other)?;
        }
        let changes = diff_trees(&written, &tree);
        w.checkpoint(c, &changes, &mut carried)?;
        written.clone_from(&tree);
    }
    for g in gaps {
        w.push(vec![gap_record(g)], BatchOf::Other)?;
    }
    for h in holds {
        w.push(vec![Record::Hold(h.clone()).encode()], BatchOf::Other)?;
    }
    for t in thinnings {
        w.push(vec![thinned_record(t)], BatchOf::Other)?;
    }
    w.flush()?;
    let kept: Vec<usize> = plan.selection.kept();
    let new_lsn = |old: usize| {
        kept.binary_search(&old)
            .ok()
            .and_then(|k| w.kept_lsns.get(k).copied())
    };
    let mut pin_records = Vec::new();
    for (name, pin) in catalog.pins() {
        let target = catalog
            .checkpoint_at_lsn(pin.target_lsn)
            .and_then(|idx| new_lsn(idx.get()))
            .ok_or_else(|| GcError::PinWithoutCheckpoint {
                name: name.clone(),
                lsn: pin.target_lsn,
            })?;
        let rec = Record::Pin {
            name: name.clone(),
            target_lsn: target,
            time_ns: pin.time_ns,
        };
        pin_records.push(rec.encode());
    }
    let mut timeline_records = Vec::new();
    // Every timeline record again, in order, each Create's base re-aimed (a
    // removed timeline's base may be gone: it then starts from no state).
    for op in catalog.timelines().ops() {
        let mut op = op.clone();
        op.base = op
            .base
            .and_then(|lsn| catalog.checkpoint_at_lsn(lsn))
            .and_then(|idx| new_lsn(idx.get()));
        timeline_records.push(Record::Timeline(op).encode());
    }
    let pins = pin_records.len() as u64;
    for rec in pin_records.into_iter().chain(timeline_records) {
        w.push(vec![rec], BatchOf::Other)?;
    }
    let thinned = Record::Thinned(Thinned {
        time_ns: plan.clock.now_ns,
        prev_head: catalog.chain(),
        prev_end_lsn: catalog.through(),
        states_before: plan.states_before(),
        kept: plan.kept(),
        dropped: plan.dropped(),
        first_seq: cps.first().map_or(0, |c| c.seq),
        last_seq: cps.last().map_or(0, |c| c.seq),
        policy: truncate_policy(&plan.policy_text),
    });
    w.push(vec![thinned.encode()], BatchOf::Other)?;
    w.flush()?;
    Ok(Rewritten {
        kept_lsns: w.kept_lsns,
        blobs: w.blobs,
        pins,
        end_lsn: wal.durable_lsn(),
    })
}

/// What a queued batch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchOf {
    /// A kept checkpoint's (its Commit ends it).
    KeptCheckpoint,
    /// Content, a gap, a pin, a Thinned record.
    Other,
}

/// Batches on their way to the new log.
struct Writer<'a> {
    /// Checked at each batch and blob.
    cancel: &'a Cancel,
    store: &'a Store,
    catalog: &'a Catalog,
    wal: &'a Wal,
    /// Batches not handed to the log yet.
    group: Vec<Vec<Vec<u8>>>,
    group_bytes: usize,
    /// The chain value of the last Commit written.
    chain: [u8; 32],
    /// zstd level of solid blocks.
    level: i32,
    /// What each batch of `group` is.
    batch_of: Vec<BatchOf>,
    kept_lsns: Vec<Lsn>,
    blobs: u64,
}

impl Writer<'_> {
    /// Queues one batch; the LSN of a kept checkpoint's batch is recorded once
    /// written.
    fn push(&mut self, batch: Vec<Vec<u8>>, checkpoint: BatchOf) -> Result<(), GcError> {
        self.cancel.check()?;
        self.group_bytes += batch.iter().map(Vec::len).sum::<usize>();
        self.group.push(batch);
        self.batch_of.push(checkpoint);
        if self.group_bytes >= GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the queued batches to the log, with one sync.
    fn flush(&mut self) -> Result<(), GcError> {
        if self.group.is_empty() {
            return Ok(());
        }
        let batches: Vec<Vec<&[u8]>> = self
            .group
            .iter()
            .map(|b| b.iter().map(Vec::as_slice).collect())
            .collect();
        let refs: Vec<&[&[u8]]> = batches.iter().map(Vec::as_slice).collect();
        let appended: Vec<Appended> = self.wal.append_batches(&refs)?;
        for (a, mark) in appended.iter().zip(&self.batch_of) {
            if *mark == BatchOf::KeptCheckpoint {
                self.kept_lsns.push(a.lsn);
            }
        }
        self.group.clear();
        self.batch_of.clear();
        self.group_bytes = 0;
        Ok(())
    }

    /// Writes kept checkpoint `c`, whose tree differs from the previous kept one
    /// by `changes`; `carried` is the content already in the new log.
    fn checkpoint(
        &mut self,
        c: &Checkpoint,
        changes: &[Change],
        carried: &mut HashSet<BlobHash>,
    ) -> Result<(), GcError> {
        let mut stats = CommitStats::default();
        let mut content = Packer::new(self.level);
        let mut records = Vec::with_capacity(changes.len() + 2);
        for change in changes {
            if let Some(e) = change.new_entry() {
                if carried.insert(e.hash) {
                    let at = ContentAt {
                        checkpoint: c,
                        path: change.path().as_bytes(),
                    };
                    self.carry(&e.hash, &at, &mut content, carried)?;
                    if let Some(batch) = content.ready_batch() {
                        self.push(batch, BatchOf::Other)?;
                    }
                }
            }
            records.push(change.to_record(&mut stats).encode());
        }
        records.push(
            Record::Origin {
                chain: c.origin.unwrap_or(c.chain),
            }
            .encode(),
        );
        // The last content goes in the checkpoint's own batch, as capture does,
        // and the chain covers every record of the batch before its Commit.
        let mut batch = content.finish();
        stats.bytes_new = content.bytes_out();
        batch.extend(records);
        let mut records = batch;
        let chain = chain_hash(&self.chain, records.iter().map(Vec::as_slice));
        let commit = Record::Commit {
            time_ns: c.time_ns,
            seq: c.seq,
            kind: c.kind,
            message: c.message.clone(),
            timeline: c.timeline.0,
            acked_lsn: self.wal.durable_lsn(),
            chain,
            stats,
        };
        records.push(commit.encode());
        self.chain = chain;
        self.push(records, BatchOf::KeptCheckpoint)
    }

    /// Carries the content `hash`, which a kept tree needs `at` a path, into
    /// `content`: a small blob read back (verified) into a solid block, a big one
    /// as its stored Blob records, verbatim, chunked content as its chunks (those
    /// not in `carried` yet) and its chunk lists.
    fn carry(
        &mut self,
        hash: &BlobHash,
        at: &ContentAt<'_>,
        content: &mut Packer,
        carried: &mut HashSet<BlobHash>,
    ) -> Result<(), GcError> {
        let missing = || GcError::MissingContent {
            hash: hash.to_hex(),
            path: String::from_utf8_lossy(at.path).into_owned(),
            checkpoint: at.checkpoint.id.clone(),
        };
        self.cancel.check()?;
        let blob = self.catalog.blobs().get(hash).ok_or_else(missing)?;
        if !self.catalog.is_whole(blob) {
            return Err(missing());
        }
        self.blobs += 1;
        if !blob.parts_complete() {
            // Chunked content: each chunk not carried yet (chunks are shared by
            // versions and files), then the chunk lists as they are stored.
            for chunk in blob.chunks() {
                if carried.insert(chunk.hash) {
                    self.carry_chunk(&chunk.hash, content)?;
                }
            }
            for run in &blob.runs {
                content.add_verbatim(self.store.raw_record(run.lsn)?);
            }
            return Ok(());
        }
        self.carry_plain(hash, content)
    }

    /// Copies a chunk into the new log: its Blob record verbatim when capture
    /// stored it raw (zstd could not shrink it: media, archives, noise, whose
    /// chunks a block would only recompress for nothing), else as any content.
    fn carry_chunk(&mut self, hash: &BlobHash, content: &mut Packer) -> Result<(), GcError> {
        let blob = &self.catalog.blobs()[hash];
        if let [part] = blob.parts[..] {
            let record = self.store.raw_record(part.lsn)?;
            if matches!(
                Record::decode(&record),
                Ok(Record::Blob {
                    codec: Codec::None,
                    ..
                })
            ) {
                content.add_verbatim(record);
                return Ok(());
            }
        }
        self.carry_plain(hash, content)
    }

    /// Copies content stored as parts into the new log: packed into a block when
    /// small, its Blob records verbatim when not.
    fn carry_plain(&mut self, hash: &BlobHash, content: &mut Packer) -> Result<(), GcError> {
        let blob = &self.catalog.blobs()[hash];
        if blob.raw_len <= MEMBER_MAX {
            let raw = self.store.blob_bytes(hash)?;
            content.add_member(*hash, &raw);
            return Ok(());
        }
        for part in &blob.parts {
            content.add_verbatim(self.store.raw_record(part.lsn)?);
        }
        Ok(())
    }
}

/// Where a kept tree needs some content (for the message when it is missing).
struct ContentAt<'a> {
    checkpoint: &'a Checkpoint,
    path: &'a [u8],
}

fn gap_record(g: &Gap) -> Vec<u8> {
    Record::Gap {
        from_ns: g.from_ns,
        to_ns: g.to_ns,
        reason: g.reason.clone(),
    }
    .encode()
}

fn thinned_record(t: &ThinnedAt) -> Vec<u8> {
    Record::Thinned(t.thinned.clone()).encode()
}

/// The policy text, cut (at a character boundary) to what a Thinned record holds.
fn truncate_policy(text: &str) -> String {
    let max = crate::record::POLICY_MAX_BYTES;
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
