//! The protocol of `.tl/daemon.sock`, shared by the daemon (`server`) and the
//! commands (`client`): one JSON object per line each way. A request names its
//! `op`; a reply is `{"ok": true, ...fields}` or `{"ok": false, "error": "...",
//! "busy": bool}`. Both ends encode and decode here, and only here; the daemon
//! sends data, never text for the client's stdout.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Capture what is pending (`tl status`, `tl log` before they read).
    Flush,
    /// Capture what is pending, then record a manual checkpoint.
    Checkpoint {
        /// Its message.
        #[serde(default)]
        message: Option<String>,
    },
    /// The daemon's state.
    Status,
    /// Capture what is pending and stop.
    Stop,
    /// Capture what is pending and lend the log to the requester until its
    /// connection closes.
    Pause {
        /// The requester's pid (0: unknown).
        #[serde(default)]
        pid: u64,
    },
    /// Lift the hold of a directory the runaway guard held, and capture it once
    /// (`tl resume DIR`).
    Resume {
        /// The held directory, relative to the root.
        dir: String,
    },
}

/// The reply to `resume`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    /// The hold that ended.
    pub hold: HoldStatus,
    /// The capture of the directory, None when nothing in it changed.
    pub checkpoint: Option<CheckpointSummary>,
}

/// A directory the runaway guard holds (`tl daemon status`, `tl status`, `tl
/// log` show it with the ways out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldStatus {
    /// The directory, relative to the root.
    pub dir: String,
    /// When it was held, RFC 3339.
    pub since: String,
    /// When it was held, ns since the Unix epoch.
    pub since_ns: i64,
    /// Files its subtree wrote in the minute before.
    pub files_per_minute: u64,
    /// Bytes of those files.
    pub bytes_per_minute: u64,
    /// Paths under it the watcher reported since, left uncaptured.
    pub events_held: u64,
}

/// The reply to `flush`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flushed {}

/// The reply to `stop` and `pause`: the daemon's pid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pid {
    /// The daemon's pid.
    pub pid: u32,
}

/// The reply to `pause`: the daemon's pid, and whether the last checkpoint holds
/// the tree as it is on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lent {
    /// The daemon's pid.
    pub pid: u32,
    /// True when the daemon, having captured what was pending, knows the tree is
    /// what the last checkpoint holds: no event left, no file that changed while
    /// read, no held directory, no skipped path, no directory unwatched, not
    /// stalled. A replay may then skip its capture of the present. A daemon
    /// from before this field says nothing: false.
    #[serde(default)]
    pub captured: bool,
}

/// The reply to `checkpoint`: the new checkpoint and the capture's warnings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpointed {
    /// The checkpoint, as `tl checkpoint --json` shows it.
    pub checkpoint: CheckpointSummary,
    /// Problems met while capturing, in words.
    pub warnings: Vec<String>,
}

/// A checkpoint as the client prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// Its short id.
    pub id: String,
    /// LSN of its batch.
    pub lsn: u64,
    /// LSN after its batch.
    pub end_lsn: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Its time, ns since the Unix epoch.
    pub time_ns: i64,
    /// auto, manual or restore.
    pub kind: String,
    /// Its message.
    pub message: Option<String>,
    /// Paths added.
    pub added: u64,
    /// Paths modified.
    pub modified: u64,
    /// Paths deleted.
    pub deleted: u64,
    /// New content bytes stored.
    pub bytes_new: u64,
}

impl CheckpointSummary {
    /// The summary of `c`.
    pub fn of(c: &tl_index::catalog::Checkpoint) -> CheckpointSummary {
        CheckpointSummary {
            id: c.id.clone(),
            lsn: c.lsn.get(),
            end_lsn: c.end_lsn.get(),
            seq: c.seq,
            time_ns: c.time_ns,
            kind: c.kind.as_str().to_string(),
            message: c.message.clone(),
            added: u64::from(c.stats.added),
            modified: u64::from(c.stats.modified),
            deleted: u64::from(c.stats.deleted),
            bytes_new: c.stats.bytes_new,
        }
    }

    /// True when it changed nothing.
    pub fn changed_nothing(&self) -> bool {
        self.added == 0 && self.modified == 0 && self.deleted == 0
    }
}

/// The reply to `status` (`tl daemon status --json` prints it, JSON.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's pid.
    pub pid: u32,
    /// The watched root.
    pub root: String,
    /// True while the log is lent to another command.
    pub paused: bool,
    /// The pid it is lent to.
    pub paused_by: Option<u64>,
    /// The watcher backend (inotify, kqueue, ...).
    pub backend: String,
    /// Directories watched.
    pub watched_dirs: usize,
    /// Events read since the start.
    pub events_total: u64,
    /// Events per second lately.
    pub events_per_s: f64,
    /// Captures since the start.
    pub captures: u64,
    /// Gaps recorded since the start.
    pub gaps: u64,
    /// The last capture's time, RFC 3339.
    pub last_capture: Option<String>,
    /// The last capture's time, ns since the Unix epoch.
    pub last_capture_ns: Option<i64>,
    /// Seconds since the start.
    pub uptime_s: u64,
    /// Bytes of the log's segments.
    pub log_bytes: u64,
    /// The daemon's resident memory.
    pub rss_bytes: Option<u64>,
    /// The last GC the log records (None: none yet, or the log is lent out).
    #[serde(default)]
    pub last_gc: Option<LastGc>,
    /// Directories the runaway guard holds (not captured until resumed).
    #[serde(default)]
    pub holds: Vec<HoldStatus>,
    /// Paths the daemon's captures currently skip although they are there.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
    /// The remotes the daemon ships to (those added with auto on).
    #[serde(default)]
    pub remotes: Vec<RemoteStatus>,
    /// Some while the disk is full and nothing can be captured.
    #[serde(default)]
    pub stalled: Option<Stalled>,
}

/// Why the daemon captures nothing now, in [`Status`]: the disk is full.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Stalled {
    /// Since when, RFC 3339.
    pub since: String,
    /// The same, ns since the Unix epoch.
    pub since_ns: i64,
    /// The error of the last failed attempt.
    pub reason: String,
    /// Failed attempts to resume so far.
    pub retries: u32,
    /// Seconds until the next attempt.
    pub next_retry_s: f64,
}

/// One remote the daemon ships to, in [`Status`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RemoteStatus {
    /// Its name (`tl remote list`).
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Seconds since the oldest capture it lacks was made; None when it has
    /// every capture.
    pub lag_s: Option<f64>,
    /// The last push that succeeded, RFC 3339.
    pub last_push: Option<String>,
    /// The same, ns since the Unix epoch.
    pub last_push_ns: Option<i64>,
    /// Why the last push failed (None after a success).
    pub last_error: Option<String>,
    /// Failed pushes in a row.
    pub failures: u32,
    /// True while a push runs.
    pub pushing: bool,
    /// Seconds until the next attempt after failures.
    pub retry_in_s: Option<u64>,
}

/// A path the daemon's captures skip (`tl daemon status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The path, relative to the root.
    pub path: String,
    /// Why: too_large, unreadable, changed_while_read or special.
    pub kind: String,
    /// The capture's warning, in words.
    pub message: String,
}

/// What the last GC did, as `tl daemon status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastGc {
    /// When it ran, RFC 3339.
    pub time: String,
    /// When it ran, ns since the Unix epoch.
    pub time_ns: i64,
    /// States it kept.
    pub kept: u64,
    /// States before it.
    pub states_before: u64,
}

/// A refused request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Why, in words (the client prints it as its error).
    pub error: String,
    /// True when the daemon is busy (paused for another writer): retry later.
    #[serde(default)]
    pub busy: bool,
}

/// One reply line: `{"ok": true, ...}` with the fields of `reply`, or the refusal.
pub fn encode_reply<T: Serialize>(reply: &Result<T, Refusal>) -> String {
    let (ok, body) = match reply {
        Ok(r) => (true, serde_json::to_value(r)),
        Err(refusal) => (false, serde_json::to_value(refusal)),
    };
    let mut body = match body {
        Ok(Value::Object(m)) => m,
        // Every reply type is a struct: this is a bug, said on the wire.
        other => panic!("a reply serializes as an object, not {other:?}"),
    };
    body.insert("ok".to_string(), Value::Bool(ok));
    Value::Object(body).to_string()
}

/// A reply line decoded as `T`, or the daemon's refusal.
pub fn decode_reply<T: DeserializeOwned>(line: &str) -> serde_json::Result<Result<T, Refusal>> {
    let v: Value = serde_json::from_str(line)?;
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(Ok(serde_json::from_value(v)?))
    } else {
        Ok(Err(serde_json::from_value(v).unwrap_or(Refusal {
            error: "the watcher refused the request".to_string(),
            busy: false,
        })))
    }
}

/// One request line.
pub fn encode_request(req: &Request) -> String {
    serde_json::to_string(req).expect("a request serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_their_wire_form() {
        let pause = Request::Pause { pid: 7 };
        assert_eq!(encode_request(&pause), r#"{"op":"pause","pid":7}"#);
        let parsed: Request = serde_json::from_str(r#"{"op": "checkpoint"}"#).unwrap();
        assert_eq!(parsed, Request::Checkpoint { message: None });
        assert!(serde_json::from_str::<Request>(r#"{"op": "nonsense"}"#).is_err());
        let resume = Request::Resume {
            dir: "gen/out".into(),
        };
        assert_eq!(
            encode_request(&resume),
            r#"{"op":"resume","dir":"gen/out"}"#
        );
    }

    #[test]
    fn a_reply_is_ok_with_its_fields_or_a_refusal() {
        let line = encode_reply(&Ok::<_, Refusal>(Pid { pid: 3 }));
        assert_eq!(decode_reply::<Pid>(&line).unwrap(), Ok(Pid { pid: 3 }));
        let no = Refusal {
            error: "paused".into(),
            busy: true,
        };
        let line = encode_reply(&Err::<Pid, _>(no.clone()));
        assert!(line.contains(r#""ok":false"#), "{line}");
        assert_eq!(decode_reply::<Pid>(&line).unwrap(), Err(no));
    }

    #[test]
    fn a_pause_reply_from_a_daemon_that_does_not_vouch_for_the_tree_decodes_as_not_captured() {
        // A daemon from before `captured` replied to `pause` with its pid only.
        let old = encode_reply(&Ok::<_, Refusal>(Pid { pid: 3 }));
        assert_eq!(
            decode_reply::<Lent>(&old).unwrap(),
            Ok(Lent {
                pid: 3,
                captured: false
            })
        );
        let new = encode_reply(&Ok::<_, Refusal>(Lent {
            pid: 3,
            captured: true,
        }));
        assert!(new.contains(r#""captured":true"#), "{new}");
        // An older client reads its pid from the new reply.
        assert_eq!(decode_reply::<Pid>(&new).unwrap(), Ok(Pid { pid: 3 }));
    }
}
