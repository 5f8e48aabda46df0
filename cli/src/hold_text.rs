//! The runaway guard's holds in words, for `tl status`, `tl log`, `tl daemon
//! status` and `tl resume`: the directory, the rate, since when, and the two ways
//! out.

use crate::daemon::protocol::HoldStatus;
use crate::daemon::runaway::{rate_text, Rate};

/// "since 14:02:03 (5 min ago)".
pub fn held_for(h: &HoldStatus, now_ns: i64) -> String {
    format!(
        "since {} ({})",
        tl_index::timespec::format_local(h.since_ns),
        crate::output::ago(h.since_ns, now_ns)
    )
}

/// One hold as a paragraph: what is held and why, then the ways out.
pub fn hold_lines(h: &HoldStatus, now_ns: i64) -> [String; 2] {
    let rate = rate_text(Rate {
        files: h.files_per_minute,
        bytes: h.bytes_per_minute,
    });
    let left_out = match h.events_held {
        0 => String::new(),
        n => format!(", {n} changes left out so far"),
    };
    [
        format!(
            "held {}/ {}: it wrote {rate}; captured once, not since{left_out}",
            h.dir,
            held_for(h, now_ns)
        ),
        format!(
            "  add it to .tlignore to stop capturing it, or `tl resume {}` to capture it again",
            h.dir
        ),
    ]
}

/// A held interval as `tl log` lists it: one still open (from the daemon) or
/// one that ended (a Hold record of the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldInterval {
    /// The directory, relative to the root.
    pub dir: String,
    /// When the hold started, ns since the Unix epoch.
    pub from_ns: i64,
    /// When it ended; None while it lasts.
    pub to_ns: Option<i64>,
    /// Files the directory wrote in the minute before the hold.
    pub files_per_minute: u64,
    /// Bytes of those files.
    pub bytes_per_minute: u64,
    /// How it ended (None while it lasts).
    pub ended: Option<String>,
}

impl HeldInterval {
    /// A hold the daemon has now.
    pub fn open(h: &HoldStatus) -> HeldInterval {
        HeldInterval {
            dir: h.dir.clone(),
            from_ns: h.since_ns,
            to_ns: None,
            files_per_minute: h.files_per_minute,
            bytes_per_minute: h.bytes_per_minute,
            ended: None,
        }
    }

    /// A hold the log records (it ended).
    pub fn closed(h: &tl_index::record::Hold) -> HeldInterval {
        HeldInterval {
            dir: String::from_utf8_lossy(&h.dir).into_owned(),
            from_ns: h.from_ns,
            to_ns: Some(h.to_ns),
            files_per_minute: h.files_per_minute,
            bytes_per_minute: h.bytes_per_minute,
            ended: Some(h.ended.clone()),
        }
    }

    /// The row's line in `tl log`.
    pub fn line(&self) -> String {
        let rate = rate_text(Rate {
            files: self.files_per_minute,
            bytes: self.bytes_per_minute,
        });
        let head = format!(
            "held          {} .. {}  {}/ not captured: it wrote {rate}",
            tl_index::timespec::format_local(self.from_ns),
            self.to_ns
                .map(tl_index::timespec::format_local)
                .unwrap_or_else(|| "now".to_string()),
            self.dir,
        );
        match &self.ended {
            Some(why) => format!("{head}; ended: {why}"),
            None => format!(
                "{head}; add it to .tlignore, or `tl resume {}` to capture it again",
                self.dir
            ),
        }
    }

    /// The row in `tl log --json` (JSON.md).
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "hold",
            "dir": self.dir,
            "from": tl_index::timespec::format_rfc3339(self.from_ns),
            "from_ns": self.from_ns,
            "to": self.to_ns.map(tl_index::timespec::format_rfc3339),
            "to_ns": self.to_ns,
            "open": self.to_ns.is_none(),
            "files_per_minute": self.files_per_minute,
            "bytes_per_minute": self.bytes_per_minute,
            "ended": self.ended,
        })
    }

    /// True when the hold concerns `prefix`: it is under the held directory, or
    /// the held directory under it.
    pub fn concerns(&self, prefix: &[u8]) -> bool {
        let dir = self.dir.as_bytes();
        tl_index::pathsafe::is_under(prefix, dir) || tl_index::pathsafe::is_under(dir, prefix)
    }
}
