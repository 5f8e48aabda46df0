//! `tl gc`: thin the history by the retention policy of `.tl/config.toml` and
//! reclaim the space of the states it drops.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use tl_index::catalog::Checkpoint;
use tl_index::gc::{self, GcPlan, GcReport};
use tl_index::retention::{Clock, Decision, DropCause};
use tl_index::timespec::{format_local, format_rfc3339, local_utc_offset_secs};

use crate::cli_util::open;
use crate::output::bytes;

/// Thin the history by the retention policy and reclaim the space it frees.
///
/// The policy is the [retention] section of .tl/config.toml (keep-all,
/// keep-secondly, keep-minutely, keep-hourly, keep-daily, max-store-bytes; see
/// the README). The newest state and every pin are always kept. Every state kept
/// replays byte-identical afterwards and keeps its checkpoint id. The log is
/// rewritten beside the old one, verified, then swapped in: a crash at any
/// moment leaves the old log or the new one, and the next tl command finishes
/// or undoes the GC. `@LSN` times name positions in the log, which a GC changes.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  tl gc --dry-run     # what would go, changing nothing\n  \
                  tl gc\n  tl gc --json\n"
)]
pub struct GcArgs {
    /// Change nothing: report which states the policy would drop.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object (see JSON.md).
    #[arg(long)]
    json: bool,
}

/// How many dropped states a dry run lists before summing up the rest.
const LIST_MAX: usize = 20;

/// Plans (`--dry-run`) or runs the GC and reports.
pub fn cmd_gc(cwd: &Path, args: GcArgs) -> Result<()> {
    let now_ns = now_ns();
    let clock = Clock {
        now_ns,
        utc_offset_secs: local_utc_offset_secs(now_ns),
    };
    let store = open(cwd)?;
    if args.dry_run {
        let plan = gc::plan_now(&store, clock)?;
        let cps = store.checkpoints();
        if args.json {
            println!("{}", plan_json(&plan, cps));
        } else {
            print_plan(&plan, cps)?;
        }
        return Ok(());
    }
    let report = store.consume(|store| Ok(gc::run(store, clock)?.1))?;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        print_report(&report)?;
    }
    Ok(())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The dry run, for people.
fn print_plan(plan: &GcPlan, cps: &[Checkpoint]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if plan.is_noop() {
        writeln!(
            out,
            "Nothing to do: the policy keeps all {} states and the content is packed.",
            plan.states_before()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "Dry run: nothing is changed. `tl gc` would keep {} of {} states and drop {}, \
         and pack {} of new content into solid blocks{}",
        plan.kept(),
        plan.states_before(),
        plan.dropped(),
        bytes(plan.unpacked_bytes),
        if plan.dropped() > 0 { ":" } else { "." }
    )?;
    let dropped = dropped_states(plan, cps);
    for (c, cause) in dropped.iter().take(LIST_MAX) {
        writeln!(
            out,
            "  drop {}  {}  {}",
            c.id,
            format_local(c.time_ns),
            cause_text(*cause)
        )?;
    }
    if dropped.len() > LIST_MAX {
        writeln!(out, "  ... and {} more", dropped.len() - LIST_MAX)?;
    }
    if let Some(cap) = &plan.cap {
        writeln!(
            out,
            "max-store-bytes = {}: the log is {} bytes, about {} after the GC.",
            cap.cap, cap.store_bytes, cap.projected_bytes
        )?;
    }
    Ok(())
}

/// The GC done, for people.
fn print_report(r: &GcReport) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let p = &r.plan;
    if p.is_noop() {
        writeln!(
            out,
            "Nothing to do: the policy keeps all {} states and the content is packed; the \
             log ({}) is unchanged.",
            p.states_before(),
            bytes(p.log_bytes)
        )?;
        return Ok(());
    }
    if p.dropped() == 0 {
        writeln!(
            out,
            "Packed the content into solid blocks; the policy keeps all {} states.",
            p.states_before()
        )?;
    } else {
        writeln!(
            out,
            "Thinned the history: kept {} of {} states, dropped {}; packed the content \
             into solid blocks.",
            p.kept(),
            p.states_before(),
            p.dropped()
        )?;
    }
    writeln!(
        out,
        "The log went from {} to {} ({} segment(s) rewritten into {}) in {:.2} s; \
         every kept state keeps its id.",
        bytes(p.log_bytes),
        bytes(r.log_bytes_after),
        r.segments_rewritten,
        r.segments_written,
        r.elapsed.as_secs_f64()
    )?;
    Ok(())
}

/// The dropped checkpoints and why, in log order.
fn dropped_states<'a>(plan: &GcPlan, cps: &'a [Checkpoint]) -> Vec<(&'a Checkpoint, DropCause)> {
    plan.selection
        .decisions
        .iter()
        .zip(cps)
        .filter_map(|(d, c)| match d {
            Decision::Dropped { cause } => Some((c, *cause)),
            Decision::Kept { .. } => None,
        })
        .collect()
}

fn cause_text(cause: DropCause) -> &'static str {
    match cause {
        DropCause::NotPromised => "(no rule of the policy keeps it)",
        DropCause::OverStoreCap => "(over max-store-bytes: among the oldest)",
    }
}

/// The fields a plan and a report share.
fn counts_json(plan: &GcPlan) -> Value {
    json!({
        "type": "gc",
        "states_before": plan.states_before(),
        "kept": plan.kept(),
        "dropped": plan.dropped(),
        "log_bytes_before": plan.log_bytes,
        "unpacked_bytes": plan.unpacked_bytes,
        "now": format_rfc3339(plan.clock.now_ns),
        "policy": plan.policy_text,
    })
}

fn plan_json(plan: &GcPlan, cps: &[Checkpoint]) -> Value {
    let mut v = counts_json(plan);
    v["dry_run"] = json!(true);
    v["would_drop"] = dropped_states(plan, cps)
        .iter()
        .map(|(c, cause)| {
            json!({
                "id": c.id,
                "seq": c.seq,
                "time": format_rfc3339(c.time_ns),
                "cause": match cause {
                    DropCause::NotPromised => "not_promised",
                    DropCause::OverStoreCap => "over_store_cap",
                },
            })
        })
        .collect();
    if let Some(cap) = &plan.cap {
        v["projected_bytes"] = json!(cap.projected_bytes);
    }
    v
}

fn report_json(r: &GcReport) -> Value {
    let mut v = counts_json(&r.plan);
    v["dry_run"] = json!(false);
    v["log_bytes_after"] = json!(r.log_bytes_after);
    v["segments_rewritten"] = json!(r.segments_rewritten);
    v["segments_written"] = json!(r.segments_written);
    v["blobs_copied"] = json!(r.blobs_copied);
    v["pins"] = json!(r.pins);
    v["seconds"] = json!(r.elapsed.as_secs_f64());
    v
}
