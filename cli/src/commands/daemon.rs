//! `tl daemon start|stop|status`: the watcher in the background.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use tl_index::layout::Layout;
use tl_index::store::find_root;

use super::watch::WatchTiming;
use crate::command_error::CommandError;
use crate::daemon::{self, autostart, client};
use crate::left_out_text;

/// Run the watcher in the background: start, stop, status.
///
/// Other commands work beside it: `tl checkpoint` goes through it, and commands
/// that write the log themselves (replay, restore, pin, compact, recover) pause
/// it while they run; it captures what changed meanwhile when they finish.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl daemon start\n  tl daemon status\n  tl daemon stop\n  \
                  tl daemon install     # start it at every login (systemd user unit, launchd agent)\n  \
                  tl daemon uninstall\n"
)]
pub struct DaemonArgs {
    #[command(subcommand)]
    action: DaemonAction,
}

/// `tl daemon` actions.
#[derive(Subcommand, Debug)]
enum DaemonAction {
    /// Start watching in the background (pid in .tl/daemon.pid, log in .tl/daemon.log).
    Start {
        #[command(flatten)]
        timing: WatchTiming,
    },
    /// Stop the daemon (it captures what is pending first).
    Stop,
    /// Show the daemon's state: watched dirs, events/s, last capture, log size, RSS.
    Status {
        /// Print the state as one JSON object (see JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Start the daemon for this tree at every login: a systemd user unit (Linux) or a
    /// launchd agent (macOS), enabled now when the service manager answers.
    Install,
    /// Remove the login service `tl daemon install` wrote for this tree (stopping it).
    Uninstall,
}

/// `tl daemon start|stop|status`.
pub fn cmd_daemon(cwd: &Path, args: DaemonArgs) -> Result<()> {
    let root = find_root(cwd)?;
    match args.action {
        DaemonAction::Start { timing } => start(&root, timing),
        DaemonAction::Stop => stop(&root),
        DaemonAction::Status { json } => status(&root, json),
        DaemonAction::Install => install(&root),
        DaemonAction::Uninstall => uninstall(&root),
    }
}

fn start(root: &Path, timing: WatchTiming) -> Result<()> {
    if let Some(v) = client::status(root, Duration::from_secs(5))? {
        return Err(CommandError::busy(format!(
            "{} is already watched by pid {}",
            root.display(),
            v.pid
        ))
        .into());
    }
    let log_path = Layout::new(root).daemon_log();
    // Owner-only, O_NOFOLLOW: a symlink planted at `.tl/daemon.log` is refused.
    let log = tl_wal::private_fs::open_append(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_len = log.metadata().map(|m| m.len()).unwrap_or(0);
    let exe = std::env::current_exe().context("cannot find the tl executable")?;
    // A process group of its own: Ctrl-C in the starting terminal does not reach
    // it; stdin closed, output to the log. The parent does not wait for it.
    let mut child = Command::new(exe)
        .arg("-C")
        .arg(root)
        .args([
            "watch",
            "--daemon",
            "--debounce-ms",
            &timing.debounce_ms.to_string(),
            "--max-delay-ms",
            &timing.max_delay_ms.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the daemon")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait()? {
            let text = std::fs::read(&log_path).unwrap_or_default();
            let tail = String::from_utf8_lossy(&text[(log_len as usize).min(text.len())..])
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            let tail = tail.split_once("tl: ").map(|(_, r)| r).unwrap_or(&tail);
            bail!("the daemon exited ({st}): {tail}");
        }
        if let Ok(Some(v)) = client::status(root, Duration::from_secs(5)) {
            println!(
                "tl daemon started (pid {}), watching {} ({}); log in {}",
                v.pid,
                root.display(),
                dirs(v.watched_dirs),
                log_path.display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!(
        "the daemon (pid {}) did not answer within 30 s; see {}",
        child.id(),
        log_path.display()
    )
}

/// `tl daemon install`: writes the login service, enables it or says how.
fn install(root: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the tl executable")?;
    let done = autostart::install(root, &exe)?;
    println!("Wrote {}", done.path.display());
    match done.enabled {
        autostart::Enabled::Now => println!(
            "Enabled: the daemon watches {} now and from every login (tl daemon uninstall removes it).",
            root.display()
        ),
        autostart::Enabled::Manually { why, commands } => {
            println!(
                "Not enabled: {why}. In your login session, run:\n  {}",
                commands.join("\n  ")
            );
        }
    }
    Ok(())
}

/// `tl daemon uninstall`: stops and removes the login service.
fn uninstall(root: &Path) -> Result<()> {
    match autostart::uninstall(root)? {
        Some(removed) => {
            if let Some(w) = removed.warning {
                eprintln!("warning: {w}; the file is removed, the service stops at the next login");
            }
            println!("Removed {}", removed.path.display());
        }
        None => println!("No login service is installed for {}.", root.display()),
    }
    Ok(())
}

/// "1 directory", "12 directories".
fn dirs(n: usize) -> String {
    match n {
        1 => "1 directory".to_string(),
        n => format!("{n} directories"),
    }
}

fn stop(root: &Path) -> Result<()> {
    let Some(pid) = client::stop(root)? else {
        println!("No daemon is watching {}.", root.display());
        return Ok(());
    };
    let sock = Layout::new(root).daemon_socket();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !sock.exists() && !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("tl daemon (pid {pid}) stopped after capturing pending changes.");
    Ok(())
}

fn status(root: &Path, json_out: bool) -> Result<()> {
    let Some(v) = client::status(root, Duration::from_secs(10))? else {
        if json_out {
            println!("{}", json!({"running": false}));
        } else {
            println!("No daemon is watching {}.", root.display());
            if let Some(pid) = daemon::live_pid(root) {
                println!("(pid {pid} in .tl/daemon.pid is alive but does not answer)");
            }
        }
        return Ok(());
    };
    if json_out {
        let mut out = serde_json::to_value(&v)?;
        out["running"] = json!(true);
        out["skipped"] = v
            .skipped
            .iter()
            .map(|f| {
                left_out_text::skipped_json(
                    &f.path,
                    left_out_text::kind_of_word(&f.kind),
                    &f.message,
                )
            })
            .collect();
        println!("{out}");
        return Ok(());
    }
    let mb = |b: Option<u64>| format!("{:.1} MB", b.unwrap_or(0) as f64 / 1e6);
    println!("tl daemon pid {} watching {}", v.pid, root.display());
    println!(
        "  backend        {} ({} watched)",
        v.backend,
        dirs(v.watched_dirs)
    );
    // As JSON writes it (1.0, not 1), as this line always showed it.
    println!(
        "  events         {} total, {}/s",
        v.events_total,
        json!(v.events_per_s)
    );
    println!(
        "  captures       {} (last {}), gaps {}",
        v.captures,
        v.last_capture_ns
            .map(tl_index::timespec::format_local)
            .unwrap_or_else(|| "never".to_string()),
        v.gaps
    );
    if let Some(st) = &v.stalled {
        println!(
            "  STALLED        the disk is full: nothing captured since {}; the daemon resumes by \
             itself when space frees (next try in {:.0} s, {} tried)",
            tl_index::timespec::format_local(st.since_ns),
            st.next_retry_s,
            st.retries
        );
        println!("                 cause: {}", st.reason);
        println!("                 free some space, or run `tl gc` to drop old states");
    }
    if let (true, Some(by)) = (v.paused, v.paused_by) {
        println!(
            "  paused         the log is lent to pid {by} (events are captured when it is done)"
        );
    }
    let now = crate::output::now_ns();
    for h in &v.holds {
        let [what, ways_out] = crate::hold_text::hold_lines(h, now);
        println!("  {what}\n  {ways_out}");
    }
    let lines = left_out_text::skipped_lines(
        v.skipped.iter().map(|f| {
            let kind = left_out_text::kind_of_word(&f.kind);
            (f.path.as_str(), kind, f.message.as_str())
        }),
        "  ",
    );
    for line in lines {
        println!("{line}");
    }
    for r in &v.remotes {
        println!("  {}", remote_line(r));
    }
    println!("  log size       {}", mb(Some(v.log_bytes)));
    match &v.last_gc {
        Some(g) => println!(
            "  last GC        {}: kept {} of {} states",
            tl_index::timespec::format_local(g.time_ns),
            g.kept,
            g.states_before
        ),
        None => {
            println!("  last GC        none yet (the daemon runs it once the log grew or daily)")
        }
    }
    println!("  RSS            {}", mb(v.rss_bytes));
    println!("  uptime         {} s", v.uptime_s);
    Ok(())
}

/// One line of `tl daemon status` for a remote the daemon ships to.
fn remote_line(r: &crate::daemon::protocol::RemoteStatus) -> String {
    let last = r
        .last_push_ns
        .map(|t| format!("last push {}", tl_index::timespec::format_local(t)))
        .unwrap_or_else(|| "no push yet".to_string());
    let state = match (r.lag_s, r.pushing) {
        (None, _) => "up to date".to_string(),
        (Some(lag), true) => format!("{lag:.0} s behind, pushing"),
        (Some(lag), false) => format!("{lag:.0} s behind"),
    };
    let head = format!("remote {:<8} {state}; {last}", r.name);
    match &r.last_error {
        None => head,
        Some(e) => format!(
            "{head}\n    last error ({} in a row, next try in {} s): {e}\n    \
             (`tl push {}` tries now and says more)",
            r.failures,
            r.retry_in_s.unwrap_or(0),
            r.name
        ),
    }
}
