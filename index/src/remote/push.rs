//! One push: the sealed segments the remote lacks, then a new manifest naming
//! every sealed segment of the local log, then the deletions whose grace period
//! is over. Bounded in time (the remote's `push_timeout`), resumable (each object
//! is recorded in the shipped state as soon as it is durable), idempotent (a push
//! with nothing new writes nothing), and it never changes the local log: the
//! caller seals it first (`Store::seal_log`) so every acknowledged batch is in a
//! sealed segment. This is the entry point the daemon calls too: it prints
//! nothing.

use tl_wal::Lsn;

use super::backend::{Backend, Put, S3Settings};
use super::config::RemoteSettings;
use super::crypt::Recipients;
use super::local::{commit_times, read_segment, sealed_segments, LocalSegment};
use super::manifest::{Manifest, SegmentEntry};
use super::shipped::{self, PendingDelete, Shipped};
use super::url::RemoteUrl;
use super::{layout, pull, RemoteError, Result};
use crate::catalog::hex;
use crate::layout::Layout;

/// What a push did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The remote's URL.
    pub url: String,
    /// Segments the remote holds for this log after the push.
    pub segments: usize,
    /// Segments uploaded now.
    pub uploaded: usize,
    /// Bytes uploaded now (objects as stored).
    pub bytes_uploaded: u64,
    /// The manifest generation the remote is at.
    pub generation: u64,
    /// A new manifest was written.
    pub manifest_written: bool,
    /// Checkpoints the remote's history holds.
    pub checkpoints: u64,
    /// The end of the shipped log.
    pub end_lsn: Lsn,
    /// Superseded objects deleted now.
    pub deleted: usize,
    /// Superseded objects waiting for their grace period.
    pub pending_deletes: usize,
}

impl PushReport {
    /// True when the push found the remote up to date.
    pub fn was_noop(&self) -> bool {
        self.uploaded == 0 && !self.manifest_written && self.deleted == 0
    }
}

/// Pushes the sealed segments of the log in `layout` to `remote`.
pub fn push_once(layout: &Layout, remote: &RemoteSettings, s3: &S3Settings) -> Result<PushReport> {
    let now = crate::store::now_ns();
    let segs = sealed_segments(layout)?;
    let recipients = match remote.encrypted() {
        true => Some(Recipients::parse(&remote.recipients)?),
        false => None,
    };
    if let RemoteUrl::File { path } = &remote.url {
        std::fs::create_dir_all(path).map_err(super::error::io(path))?;
    }
    let backend = Backend::open(&remote.url, s3, remote.push_timeout)?;
    let state_path = layout.remote_shipped(&remote.name);
    let repo_id = segs.first().map(|s| s.repo_id).unwrap_or([0; 16]);
    let mut state = match shipped::load(&state_path)? {
        Some(s) => s,
        None => discover(&backend, repo_id)?,
    };
    if state.repo_id != repo_id && !segs.is_empty() {
        if state.generation > 0 && state.repo_id != [0; 16] {
            return Err(RemoteError::OtherProject {
                remote: backend.url().to_string(),
                theirs: hex(&state.repo_id),
                ours: hex(&repo_id),
            });
        }
        state.repo_id = repo_id;
    }
    let mut report = PushReport {
        url: backend.url().to_string(),
        generation: state.generation,
        ..Default::default()
    };

    // 1. The segments the remote lacks.
    let mut entries = Vec::with_capacity(segs.len());
    for seg in &segs {
        if let Some(e) = state.find(seg.base, seg.salt) {
            entries.push(e.clone());
            continue;
        }
        let (entry, written) = upload(&backend, seg, recipients.as_ref())?;
        if written {
            report.uploaded += 1;
            report.bytes_uploaded += entry.stored_size;
        }
        state.segments.push(entry.clone());
        shipped::save(&state_path, &state)?;
        entries.push(entry);
    }
    report.segments = entries.len();
    report.checkpoints = entries.iter().map(|e| e.checkpoints).sum();
    report.end_lsn = entries.last().map_or(Lsn::ZERO, |e| e.end);

    // 2. The manifest, once everything it names is durable.
    let names: Vec<String> = entries.iter().map(|e| e.object()).collect();
    if names != state.listed && !entries.is_empty() {
        let mut manifest = Manifest {
            generation: state.generation + 1,
            repo_id,
            created_ns: now,
            encrypted: recipients.is_some(),
            segments: entries.clone(),
        };
        loop {
            let object = manifest.object();
            let plain = manifest.encode();
            let bytes = match &recipients {
                Some(r) => r.encrypt(&object, &plain)?,
                None => plain,
            };
            match backend.put_new(&object, bytes)? {
                Put::Created => break,
                // Written by a push that died before recording it (or by
                // another machine): the next generation supersedes it.
                Put::Existed => manifest.generation += 1,
            }
        }
        let grace = remote.delete_grace.as_nanos().min(i64::MAX as u128) as i64;
        let after_ns = now.saturating_add(grace);
        if state.generation > 0 {
            state.pending.push(PendingDelete {
                object: layout::manifest_name(state.generation),
                after_ns,
            });
        }
        for e in &state.segments {
            if !names.contains(&e.object()) {
                state.pending.push(PendingDelete {
                    object: e.object(),
                    after_ns,
                });
            }
        }
        state.segments.retain(|e| names.contains(&e.object()));
        state.generation = manifest.generation;
        state.listed = names;
        shipped::save(&state_path, &state)?;
        report.manifest_written = true;
        report.generation = state.generation;
    }

    // 3. What the grace period let go.
    let due: Vec<PendingDelete> = state
        .pending
        .iter()
        .filter(|p| p.after_ns <= now)
        .cloned()
        .collect();
    for p in due {
        backend.delete(&p.object)?;
        state.pending.retain(|q| q != &p);
        shipped::save(&state_path, &state)?;
        report.deleted += 1;
    }
    report.pending_deletes = state.pending.len();
    Ok(report)
}

/// Uploads one segment; returns its manifest entry and whether bytes went up.
fn upload(
    backend: &Backend,
    seg: &LocalSegment,
    recipients: Option<&Recipients>,
) -> Result<(SegmentEntry, bool)> {
    let bytes = read_segment(seg)?;
    let times = commit_times(&bytes);
    let hash = *blake3::hash(&bytes).as_bytes();
    let size = bytes.len() as u64;
    let object = layout::segment_name(seg.base, seg.salt);
    let stored = match recipients {
        Some(r) => r.encrypt(&object, &bytes)?,
        None => bytes,
    };
    let mut entry = SegmentEntry {
        base: seg.base,
        salt: seg.salt,
        end: Lsn::new(seg.base.get() + size - tl_wal::format::SEGMENT_HEADER_LEN as u64),
        size,
        hash,
        stored_size: stored.len() as u64,
        stored_hash: *blake3::hash(&stored).as_bytes(),
        checkpoints: times.checkpoints,
        first_ns: times.first_ns,
        last_ns: times.last_ns,
    };
    let max = entry.stored_size;
    match backend.put_new(&object, stored)? {
        Put::Created => Ok((entry, true)),
        Put::Existed => {
            // Uploaded by a push that died before recording it. Its bytes are
            // that segment's (the name is unique to them), but an encrypted copy
            // is another ciphertext: record what is there.
            let there = backend.get(&object, max.max(size) + (1 << 20))?;
            entry.stored_size = there.len() as u64;
            entry.stored_hash = *blake3::hash(&there).as_bytes();
            Ok((entry, false))
        }
    }
}

/// The state of a remote this store has no record of: empty, or what its newest
/// manifest names (one LIST; only when the shipped state is missing).
fn discover(backend: &Backend, repo_id: [u8; 16]) -> Result<Shipped> {
    let mut state = Shipped {
        repo_id,
        ..Default::default()
    };
    let Some((generation, object)) = pull::newest_manifest_name(backend)? else {
        return Ok(state);
    };
    state.generation = generation;
    let bytes = backend.get(&object, super::manifest::MAX_BYTES as u64)?;
    if super::crypt::is_encrypted(&bytes) {
        // Unreadable here (a pushing machine has only the public keys): upload
        // again what it named, each found there already.
        return Ok(state);
    }
    let m = Manifest::decode(&object, &bytes)?;
    if m.repo_id != repo_id {
        return Err(RemoteError::OtherProject {
            remote: backend.url().to_string(),
            theirs: hex(&m.repo_id),
            ours: hex(&repo_id),
        });
    }
    state.listed = m.segments.iter().map(|e| e.object()).collect();
    state.segments = m.segments;
    Ok(state)
}
