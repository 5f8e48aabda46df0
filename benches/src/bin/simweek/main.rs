//! The simulated week of issue 12: a week of editing on a copy of a real tree,
//! driven through the `tl-index` library with an injected clock, then GC by the
//! default retention policy; and the same history replayed for peers (restic,
//! borg) by `benches/simweek.sh`. See BENCHMARKS.md, "A simulated week".
//!
//! ```text
//! simweek tl OUTDIR [--corpus DIR] [--interval LO..HI] [--every N]
//! simweek replay OUTDIR --peer-cmd CMD [--corpus DIR] [--interval LO..HI] [--every N]
//! simweek gc TREE --now NS
//! ```
//!
//! `tl` copies the corpus (default `/tmp/tlb/corpus-small`, made by
//! `../shared/bench/make-corpus.sh /tmp/tlb/corpus-small small`) to `OUTDIR/tree`,
//! inits a store there and runs the week (`week.rs`): each step writes its files,
//! sets the store's clock to the step's time and, when the step is sampled,
//! `checkpoint(Auto)`. `--interval` is the gap between edits in simulated seconds
//! (default `5..30`, several thousand steps; `60..300` is a quick run). With
//! `--every N` only every Nth step (and the last) is snapshotted; the edits are
//! the same. `OUTDIR/manifest.tsv` lists every step (time, action, files written,
//! snapshotted or not), so two runs can be compared line by line.
//!
//! `replay` makes the same edits on its own copy and, at each sampled step, runs
//! `sh -c CMD` in the tree with `T` (`2026-11-04 09:00:05`, UTC), `T_ISO`
//! (`2026-11-04T09:00:05`), `T_NS` and `STEP` in the environment.
//!
//! `gc` opens the store of `TREE` and runs `tl_index::gc::run` at `--now` (UTC
//! offset 0) with the store's policy (the default one: keep-all 1h, minutely 1d,
//! hourly 7d, daily 90d), printing the report and the process's peak RSS; run it
//! under `/usr/bin/time` for an outside figure.
//!
//! Output is `key value` lines on stdout, for the script to pick up.

#[cfg(test)]
mod tests;
mod week;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tl_index::record::CommitKind;
use tl_index::retention::Clock;
use tl_index::store::Store;
use week::{Editor, Interval, Step};

/// The seed of the schedule; the edits use `SEED + 1`.
const SEED: u64 = 12;
const DEFAULT_CORPUS: &str = "/tmp/tlb/corpus-small";

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simweek: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The options of `tl` and `replay`.
struct WeekArgs {
    out: PathBuf,
    corpus: PathBuf,
    interval: Interval,
    every: usize,
    peer_cmd: Option<String>,
}

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tl") => week_tl(&parse_week(&args[1..])?),
        Some("replay") => {
            let week = parse_week(&args[1..])?;
            let cmd = week.peer_cmd.clone().ok_or("replay needs --peer-cmd CMD")?;
            week_replay(&week, &cmd)
        }
        Some("gc") => {
            let tree = args.get(1).ok_or("usage: simweek gc TREE --now NS")?;
            let now = match args.get(2..4) {
                Some([flag, ns]) if flag == "--now" => ns.parse()?,
                _ => return Err("usage: simweek gc TREE --now NS".into()),
            };
            gc(Path::new(tree), now)
        }
        _ => Err(
            "usage: simweek tl|replay OUTDIR [--corpus DIR] [--interval LO..HI] \
                  [--every N] [--peer-cmd CMD] | simweek gc TREE --now NS"
                .into(),
        ),
    }
}

fn parse_week(args: &[String]) -> Result<WeekArgs, Error> {
    let mut week = WeekArgs {
        out: PathBuf::from(args.first().ok_or("OUTDIR missing")?),
        corpus: PathBuf::from(DEFAULT_CORPUS),
        interval: Interval {
            lo_secs: 5,
            hi_secs: 30,
        },
        every: 1,
        peer_cmd: None,
    };
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--corpus" => week.corpus = PathBuf::from(value),
            "--every" => week.every = value.parse()?,
            "--peer-cmd" => week.peer_cmd = Some(value.clone()),
            "--interval" => {
                let (lo, hi) = value.split_once("..").ok_or("--interval LO..HI")?;
                week.interval = Interval {
                    lo_secs: lo.parse()?,
                    hi_secs: hi.parse()?,
                };
                if week.interval.lo_secs == 0 || week.interval.lo_secs > week.interval.hi_secs {
                    return Err("--interval needs 0 < LO <= HI".into());
                }
            }
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if week.every == 0 {
        return Err("--every needs N >= 1".into());
    }
    Ok(week)
}

/// The tree to edit: a fresh copy of the corpus under `OUTDIR/tree`.
fn prepare(week: &WeekArgs) -> Result<PathBuf, Error> {
    if week.out.exists() {
        return Err(format!("{} exists; give a new OUTDIR", week.out.display()).into());
    }
    let tree = week.out.join("tree");
    copy_tree(&week.corpus, &tree)
        .map_err(|e| format!("copying {}: {e}", week.corpus.display()))?;
    Ok(tree)
}

/// Is step `i` of `n` snapshotted: every `every`th, and always the last (so the
/// end of the history, which GC counts back from, is the same in every run).
fn sampled(i: usize, n: usize, every: usize) -> bool {
    i.is_multiple_of(every) || i + 1 == n
}

/// Walks the week, calling `snapshot` at each sampled step; writes the manifest.
fn walk(
    week: &WeekArgs,
    tree: &Path,
    snapshot: &mut dyn FnMut(usize, &Step) -> Result<(), Error>,
) -> Result<WalkStats, Error> {
    let steps = week::schedule(SEED, week.interval);
    let mut editor = Editor::new(tree, SEED + 1)?;
    let mut manifest = String::from("step\ttime_ns\ttime_utc\taction\tfiles_written\tsnapshot\n");
    let mut stats = WalkStats {
        steps: steps.len(),
        snapshots: 0,
        files_written: 0,
        snapshot_time: Duration::ZERO,
        end_ns: steps.last().expect("a week has steps").time_ns,
    };
    for (i, step) in steps.iter().enumerate() {
        let written = editor.apply(step)?;
        stats.files_written += written;
        let take = sampled(i, steps.len(), week.every);
        if take {
            let started = Instant::now();
            snapshot(i, step)?;
            stats.snapshot_time += started.elapsed();
            stats.snapshots += 1;
        }
        manifest.push_str(&format!(
            "{i}\t{}\t{}\t{}\t{written}\t{}\n",
            step.time_ns,
            utc(step.time_ns, ' ')?,
            step.action.name(),
            u8::from(take)
        ));
    }
    std::fs::write(week.out.join("manifest.tsv"), manifest)?;
    Ok(stats)
}

struct WalkStats {
    steps: usize,
    snapshots: usize,
    files_written: usize,
    snapshot_time: Duration,
    end_ns: i64,
}

fn print_walk(stats: &WalkStats) {
    println!("steps {}", stats.steps);
    println!("snapshots {}", stats.snapshots);
    println!("files_written {}", stats.files_written);
    println!("snapshot_secs {:.3}", stats.snapshot_time.as_secs_f64());
    println!("end_ns {}", stats.end_ns);
}

fn week_tl(week: &WeekArgs) -> Result<(), Error> {
    let tree = prepare(week)?;
    let mut store = Store::init(&tree)?;
    let now = Arc::new(AtomicI64::new(0));
    let clock = now.clone();
    store.set_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    let stats = walk(week, &tree, &mut |_, step| {
        now.store(step.time_ns, Ordering::SeqCst);
        store.checkpoint(CommitKind::Auto, None)?;
        Ok(())
    })?;
    let checkpoints = store.checkpoints().len();
    drop(store);
    print_walk(&stats);
    println!("checkpoints {checkpoints}");
    println!("wal_bytes {}", dir_tree_bytes(&tree.join(".tl/wal"))?);
    println!("tl_bytes {}", dir_tree_bytes(&tree.join(".tl"))?);
    println!("vmhwm_kib {}", vm_hwm_kib()?);
    Ok(())
}

fn week_replay(week: &WeekArgs, cmd: &str) -> Result<(), Error> {
    let tree = prepare(week)?;
    let stats = walk(week, &tree, &mut |i, step| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&tree)
            .env("T", utc(step.time_ns, ' ')?)
            .env("T_ISO", utc(step.time_ns, 'T')?)
            .env("T_NS", step.time_ns.to_string())
            .env("STEP", i.to_string())
            .status()?;
        if !status.success() {
            return Err(format!("peer command failed at step {i}: {status}").into());
        }
        Ok(())
    })?;
    print_walk(&stats);
    Ok(())
}

fn gc(tree: &Path, now_ns: i64) -> Result<(), Error> {
    let opened = Instant::now();
    let store = Store::open(tree)?;
    let open_secs = opened.elapsed().as_secs_f64();
    let log_bytes = tl_index::gc::dir_bytes(&store.layout().log_dir())?;
    let hwm_before = vm_hwm_kib()?;
    let clock = Clock {
        now_ns,
        utc_offset_secs: 0,
    };
    let (store, report) = tl_index::gc::run(store, clock)?;
    let hwm_after = vm_hwm_kib()?;
    let checkpoints = store.checkpoints().len();
    drop(store);
    println!("open_secs {open_secs:.3}");
    println!("policy {}", report.plan.policy_text.replace('\n', "; "));
    println!("states_before {}", report.plan.states_before());
    println!("kept {}", report.plan.kept());
    println!("dropped {}", report.plan.dropped());
    println!("checkpoints_after {checkpoints}");
    println!("log_bytes_before {log_bytes}");
    println!("log_bytes_after {}", report.log_bytes_after);
    println!("tl_bytes_after {}", dir_tree_bytes(&tree.join(".tl"))?);
    println!("segments_rewritten {}", report.segments_rewritten);
    println!("blobs_copied {}", report.blobs_copied);
    println!("gc_secs {:.3}", report.elapsed.as_secs_f64());
    println!("vmhwm_before_gc_kib {hwm_before}");
    println!("vmhwm_after_gc_kib {hwm_after}");
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`) in UTC.
fn utc(ns: i64, sep: char) -> Result<String, Error> {
    let ts = jiff::Timestamp::from_nanosecond(i128::from(ns))?;
    Ok(ts.strftime(&format!("%Y-%m-%d{sep}%H:%M:%S")).to_string())
}

/// Peak resident set of this process so far (VmHWM), KiB.
fn vm_hwm_kib() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

/// Apparent bytes of every file under `dir` (what `du -sb` counts, less the
/// directories' own blocks).
fn dir_tree_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += dir_tree_bytes(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Copies the directories and regular files of `source` to `target` (which must
/// not exist), with their permissions.
fn copy_tree(source: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    for entry in std::fs::read_dir(source)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let to = target.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
