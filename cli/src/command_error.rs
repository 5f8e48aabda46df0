//! How a failed command ends: its message, the hint that says what to do, and the
//! exit code (as jj's `command_error.rs` does). The libraries' errors say what went
//! wrong; the hints and the codes are chosen here, and only here.
//!
//! | code | meaning                                                          |
//! |------|------------------------------------------------------------------|
//! | 0    | success (also when stdout's reader went away: `tl log \| head`)  |
//! | 1    | an error                                                         |
//! | 2    | usage: the command line is wrong (clap's parse errors, too)      |
//! | 3    | `tl fsck` found damage                                           |
//! | 4    | the store is locked or busy (another writer, a paused watcher)   |

use std::process::ExitCode;

use crate::cli_util::StillLocked;

/// The exit codes, as `tl --help` lists them.
pub const EXIT_CODES_HELP: &str = "Exit codes:\n  0  success\n  1  an error\n  2  usage: \
                                   the command line is wrong\n  3  `tl fsck` found damage\n  \
                                   4  the store is locked or busy (another tl writer; \
                                   TL_LOCK_TIMEOUT sets how long writers wait)\n";

/// What kind of failure ended a command; each is one exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Exit 1: anything not named below.
    Error,
    /// Exit 2: the command line is wrong.
    Usage,
    /// Exit 3: `tl fsck` found damage.
    Damage,
    /// Exit 4: the store is locked by another writer, or its watcher is busy.
    Busy,
}

impl Kind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Kind::Error => 1,
            Kind::Usage => 2,
            Kind::Damage => 3,
            Kind::Busy => 4,
        }
    }
}

/// An error the CLI raises itself, of a kind other than a plain error.
#[derive(Debug)]
pub struct CommandError {
    kind: Kind,
    message: String,
    hint: Option<String>,
}

impl CommandError {
    /// Anything else that went wrong (exit 1).
    pub fn failure(message: impl Into<String>) -> CommandError {
        CommandError::new(Kind::Error, message)
    }

    /// The command line is wrong (exit 2).
    pub fn usage(message: impl Into<String>) -> CommandError {
        CommandError::new(Kind::Usage, message)
    }

    /// `tl fsck` found damage (exit 3).
    pub fn damage(message: impl Into<String>) -> CommandError {
        CommandError::new(Kind::Damage, message)
    }

    /// The store is busy: a writer or a paused watcher holds it (exit 4).
    pub fn busy(message: impl Into<String>) -> CommandError {
        CommandError::new(Kind::Busy, message)
    }

    fn new(kind: Kind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// A usage error from a library's error, with the hint it gets here.
    pub fn usage_from(err: &(dyn std::error::Error + 'static)) -> CommandError {
        let mut e = CommandError::usage(err.to_string());
        e.hint = library_hint(err);
        e
    }

    /// The same error, with what the user can do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

/// A failed command as the user is told it.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// What went wrong: the error and its causes on one line.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
    /// Which exit code it ends with.
    pub kind: Kind,
}

impl Report {
    /// The line printed on stderr: `tl: MESSAGE; HINT`. One line, so that scripts
    /// reading the last line of stderr get all of it.
    pub fn line(&self) -> String {
        match &self.hint {
            Some(h) => format!("tl: {}; {h}", self.message),
            None => format!("tl: {}", self.message),
        }
    }
}

/// The report of `err`; None when it only says that stdout's reader went away
/// (that ends a command quietly, with success, as git and ripgrep do).
pub fn report(err: &anyhow::Error) -> Option<Report> {
    if is_broken_pipe(err) {
        return None;
    }
    Some(Report {
        message: one_line(err),
        hint: hint(err),
        kind: kind(err),
    })
}

/// Ends the process: prints the report of a failure, returns its exit code.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    match report(&err) {
        None => ExitCode::SUCCESS,
        Some(r) => {
            eprintln!("{}", r.line());
            ExitCode::from(r.kind.code())
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// True when `err` says the store is locked or busy (exit 4).
pub fn is_busy(err: &anyhow::Error) -> bool {
    kind(err) == Kind::Busy
}

/// The first kind named in the chain of causes (the outermost wins).
fn kind(err: &anyhow::Error) -> Kind {
    for e in err.chain() {
        if let Some(c) = e.downcast_ref::<CommandError>() {
            return c.kind;
        }
        if e.is::<StillLocked>() || is_locked(e) {
            return Kind::Busy;
        }
    }
    Kind::Error
}

fn is_locked(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<tl_wal::OpenError>(),
        Some(tl_wal::OpenError::Locked { .. })
    ) || matches!(
        e.downcast_ref::<tl_index::store::StoreError>(),
        Some(tl_index::store::StoreError::Open(
            tl_wal::OpenError::Locked { .. }
        ))
    )
}

/// What the user can do about `err`, from the first cause that has a hint: the
/// CLI's own errors carry theirs, the libraries' errors get theirs here.
fn hint(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .find_map(|e| match e.downcast_ref::<CommandError>() {
            Some(c) => c.hint.clone(),
            None => library_hint(e),
        })
}

/// The next step after a remote's error.
fn remote_hint(e: &tl_index::remote::RemoteError) -> Option<String> {
    use tl_index::remote::RemoteError as R;
    match e {
        R::IdentityNeeded => Some(
            "pass --identity FILE: the age identity file (age-keygen's) whose public key the remote was encrypted to"
                .into(),
        ),
        R::Decrypt { .. } => Some(
            "is --identity the key the remote was encrypted to? (`tl remote list` on the pushing machine shows its recipients)"
                .into(),
        ),
        R::Timeout { .. } | R::Store { .. } => Some(
            "nothing local changed; check the server and the AWS_* variables, then run it again (a push resumes where it stopped; push_timeout_s in .tl/remotes/NAME/remote sets its limit)"
                .into(),
        ),
        R::NoSuchRemote { .. } => Some("`tl remote list` shows the remotes".into()),
        R::Exists { .. } => Some("choose another name, or `tl remote rm NAME` first".into()),
        R::InsecureEndpoint { .. } => Some(
            "use an https:// endpoint, or set TL_REMOTE_ALLOW_HTTP=1 if this network is trusted"
                .into(),
        ),
        R::NotEmpty { .. } => Some("clone into a new or empty directory".into()),
        R::NoManifest { .. } => Some("check the URL; `tl push` there first".into()),
        R::Damaged { .. } | R::BadManifest { .. } => Some(
            "nothing was trusted; `tl verify --remote NAME --deep` on the pushing machine names every damaged object"
                .into(),
        ),
        R::OtherProject { .. } => {
            Some("push to another prefix (each project needs its own)".into())
        }
        R::LogChanged { .. } => Some("run the push again".into()),
        R::NotInTree { .. } => Some(
            "the path is from the project root (src/main.rs); `tl ls --at T` in a clone lists them"
                .into(),
        ),
        R::Local(s) => library_hint(s),
        _ => None,
    }
}

/// The next step after a timeline error.
fn timeline_hint(e: &tl_index::store::TimelineError) -> Option<String> {
    use tl_index::store::TimelineError as T;
    match e {
        T::Name(n) => library_hint(n),
        T::Exists(n) => Some(format!(
            "`tl timeline switch {n}` goes to it; choose another name for a new one"
        )),
        T::IsPin(_) => Some("choose another name (`tl pins` lists the pins)".into()),
        T::NoSuch(_) => Some("`tl timeline list` lists the timelines".into()),
        T::Current(_) => {
            Some("switch to another timeline first (`tl timeline switch NAME`)".into())
        }
        T::AlreadyOn(_) => None,
    }
}

/// The next step after a library error (the libraries say what went wrong, never
/// which command to run). Wrappers that forward their inner error's text
/// (`#[error(transparent)]`) are looked through.
fn library_hint(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use tl_index::recover::RecoverError;
    use tl_index::replay::ReplayError;
    use tl_index::restore::RestoreError;
    use tl_index::store::{PinError, PinNameProblem, ResolveError, StoreError};
    use tl_wal::OpenError;
    const FSCK: &str = "run `tl fsck`";
    if let Some(e) = e.downcast_ref::<tl_index::remote::RemoteError>() {
        return remote_hint(e);
    }
    if let Some(e) = e.downcast_ref::<StoreError>() {
        return match e {
            StoreError::NotInitialized(_) => Some("run `tl init`".into()),
            StoreError::TlSymlink { path, target } => Some(format!(
                "if the store at {t} is yours, put it in place of the link (`rm {p} && mv {t} \
                 {p}`); otherwise remove the link and run `tl init`",
                p = path.display(),
                t = target.display()
            )),
            StoreError::TlNotOurs { path, owner, .. } => Some(format!(
                "run tl as uid {owner}, or, if {p} is yours, take it back (`sudo chown -R \
                 \"$(id -u)\" {p}`)",
                p = path.display()
            )),
            StoreError::Read(_) => Some("run `tl fsck` to see the damage".into()),
            StoreError::Decode { .. } | StoreError::Blob { .. } => Some(FSCK.into()),
            StoreError::Open(o) => library_hint(o),
            StoreError::Resolve(r) => library_hint(r),
            StoreError::Pin(p) => library_hint(p),
            StoreError::Timeline(t) => timeline_hint(t),
            StoreError::Undo(_) => Some(
                "`tl undo` undoes a replay, restore, timeline switch or undo; `tl log` shows \
                 what happened"
                    .into(),
            ),
            StoreError::NothingToCompact => Some("run `tl checkpoint` first".into()),
            StoreError::BatchOverLimit(_) => Some(crate::batch_consent::REFUSED_HINT.into()),
            StoreError::GcInconsistent { .. } => Some(
                "nothing was deleted; put .tl/wal back from .tl/gc/ (old/ is the log before \
                 the GC, wal/ the one after), then run `tl fsck`"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<ResolveError>() {
        return match e {
            ResolveError::NoCheckpoints => Some("run `tl checkpoint` first".into()),
            ResolveError::Unknown { .. } => {
                Some("`tl log` lists checkpoint ids, `tl pins` the pins, `tl timeline list` the timelines".into())
            }
            ResolveError::PrefixTooShort { .. } => Some(format!(
                "give at least {} of its 12 hex digits",
                tl_index::store::ID_PREFIX_MIN
            )),
            ResolveError::Ambiguous { .. } => Some("give more of its digits".into()),
            ResolveError::PinTargetGone { .. } => Some(FSCK.into()),
            ResolveError::NotOnTimeline { timeline, .. } => {
                Some(format!("`tl log --timeline {timeline}` lists its states"))
            }
            ResolveError::TimelineEmpty { .. } => Some("run `tl checkpoint` on it first".into()),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<PinError>() {
        return match e {
            PinError::Name(n) => library_hint(n),
            PinError::AlreadyPinned { name, .. } => Some(format!(
                "`tl pin --force {name} ...` moves it, `tl pin --delete {name}` deletes it"
            )),
            PinError::NoSuchPin { .. } => Some("`tl pins` lists them".into()),
            PinError::IsTimeline { .. } => {
                Some("choose another name (`tl timeline list` lists the timelines)".into())
            }
        };
    }
    if let Some(e) = e.downcast_ref::<PinNameProblem>() {
        return match e {
            PinNameProblem::Invalid(_) => None,
            PinNameProblem::ReadsAsTime(n) => {
                Some(format!("choose a name that is not one (e.g. \"at-{n}\")"))
            }
            PinNameProblem::LooksLikeId(n) => Some(format!(
                "use a name with a letter past 'f' (e.g. \"pin-{n}\")"
            )),
        };
    }
    if let Some(e) = e.downcast_ref::<RestoreError>() {
        return match e {
            RestoreError::UnsafePath(_)
            | RestoreError::MissingContent { .. }
            | RestoreError::BadSymlink { .. } => Some(FSCK.into()),
            RestoreError::UnsavedWork { .. } => {
                Some("run `tl checkpoint` first, or move it away".into())
            }
            RestoreError::NoSuchPath { .. } => Some("check the path with `tl show`".into()),
            RestoreError::Conflict { .. } => Some("move it away and retry".into()),
            RestoreError::NameCollision { .. } => Some(
                "replay into a directory on a case-sensitive file system that keeps Unicode \
                 names as they are (`tl replay --into DIR`, e.g. on ext4), or restore one of \
                 the two paths alone (`tl restore PATH --at T`)"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<tl_index::gc::GcError>() {
        use tl_index::gc::GcError;
        return match e {
            GcError::Store(s) => library_hint(s),
            GcError::Damaged { .. }
            | GcError::ChainBroken { .. }
            | GcError::MissingContent { .. } => {
                Some("run `tl fsck`, then `tl recover`, before `tl gc`".into())
            }
            GcError::PinWithoutCheckpoint { name, .. } => Some(format!(
                "`tl pin --delete {name}` removes it (`tl pins` lists them), then retry"
            )),
            GcError::Verify { .. } => {
                Some("nothing was changed; run `tl fsck --deep` and report this as a bug".into())
            }
            GcError::Leftover { .. } => {
                Some("run `tl recover`, which finishes or undoes an interrupted GC".into())
            }
            _ => None,
        };
    }
    if let Some(e) = e.downcast_ref::<OpenError>() {
        return match e {
            OpenError::BadHeader { .. } | OpenError::MissingSegment { .. } => Some(FSCK.into()),
            _ => None,
        };
    }
    match (
        e.downcast_ref::<ReplayError>(),
        e.downcast_ref::<RecoverError>(),
    ) {
        (Some(ReplayError::Store(s)), _) | (_, Some(RecoverError::Store(s))) => library_hint(s),
        (Some(ReplayError::Restore(r)), _) => library_hint(r),
        _ => None,
    }
}

/// The error and its causes on one line, without repeating a cause already
/// contained in its parent's message.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(err: anyhow::Error, line: &str, code: u8) {
        let r = report(&err).expect("not a broken pipe");
        assert_eq!(r.line(), line);
        assert_eq!(r.kind.code(), code);
    }

    #[test]
    fn each_kind_has_its_code_and_the_hint_follows_the_message() {
        check(anyhow::anyhow!("plain"), "tl: plain", 1);
        check(CommandError::usage("bad").into(), "tl: bad", 2);
        check(
            CommandError::damage("found 2")
                .with_hint("`tl recover` repairs")
                .into(),
            "tl: found 2; `tl recover` repairs",
            3,
        );
        let busy = anyhow::Error::from(CommandError::busy("paused")).context("cannot pin");
        check(busy, "tl: cannot pin: paused", 4);
    }

    /// The hints the libraries' errors carried in their text before (moved from
    /// index's tests: `Store::blob_bytes` on damaged content said `run \`tl fsck\``).
    #[test]
    fn library_errors_get_their_next_step_here() {
        use tl_index::store::StoreError;
        let blob = StoreError::Blob {
            hash: "ab".into(),
            why: "short".into(),
        };
        check(
            anyhow::Error::from(blob).context("cannot show f"),
            "tl: cannot show f: content ab is missing or damaged in the log (short); run `tl fsck`",
            1,
        );
        let none = StoreError::NotInitialized("/x".into());
        let line = report(&none.into()).unwrap().line();
        assert!(
            line.ends_with("(no .tl directory here or above); run `tl init`"),
            "{line}"
        );
        let unsaved =
            tl_index::replay::ReplayError::Restore(tl_index::restore::RestoreError::UnsavedWork {
                path: "f".into(),
                action: "overwrite",
            });
        let line = report(&unsaved.into()).unwrap().line();
        assert!(
            line.ends_with("nothing was written; run `tl checkpoint` first, or move it away"),
            "{line}"
        );
    }

    /// The advice `Store::resolve` and the pin methods used to carry in their text.
    #[test]
    fn resolve_and_pin_errors_get_their_next_step_here() {
        use tl_index::store::{PinError, PinNameProblem, ResolveError, StoreError};
        let line = |e: StoreError| report(&e.into()).unwrap().line();
        assert_eq!(
            line(ResolveError::Unknown { name: "zz".into() }.into()),
            "tl: \"zz\" is not a checkpoint id, a pin, a timeline or a time; `tl log` lists \
             checkpoint ids, `tl pins` the pins, `tl timeline list` the timelines"
        );
        assert_eq!(
            line(ResolveError::NoCheckpoints.into()),
            "tl: there are no checkpoints yet; run `tl checkpoint` first"
        );
        assert!(line(
            ResolveError::PrefixTooShort {
                prefix: "ab".into()
            }
            .into()
        )
        .ends_with("; give at least 4 of its 12 hex digits"));
        assert!(line(
            ResolveError::Ambiguous {
                prefix: "abcd".into(),
                count: 2,
                examples: vec!["abcd01".into(), "abcd02".into()],
            }
            .into()
        )
        .ends_with("(abcd01, abcd02); give more of its digits"));
        assert_eq!(
            line(
                PinError::AlreadyPinned {
                    name: "v1".into(),
                    current: Some("0123456789ab".into()),
                }
                .into()
            ),
            "tl: pin v1 already names 0123456789ab; `tl pin --force v1 ...` moves it, \
             `tl pin --delete v1` deletes it"
        );
        assert_eq!(
            line(PinError::NoSuchPin { name: "v9".into() }.into()),
            "tl: there is no pin named \"v9\"; `tl pins` lists them"
        );
        let usage = CommandError::usage_from(&PinNameProblem::ReadsAsTime("10m".into()));
        assert_eq!(
            report(&usage.into()).unwrap().line(),
            "tl: \"10m\" reads as a time, so it cannot be a pin name; choose a name that is \
             not one (e.g. \"at-10m\")"
        );
    }

    #[test]
    fn a_closed_pipe_is_no_failure() {
        let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(report(&anyhow::Error::new(e).context("writing")).is_none());
    }
}
