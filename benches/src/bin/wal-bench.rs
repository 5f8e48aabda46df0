//! `wal-bench`: the write-ahead log against this disk's physical limits, in one run.
//!
//! ```text
//! cargo run --release -p tl-benches --bin wal-bench -- --dir /tmp/tl-wal-bench [--reps 3]
//! ```
//!
//! Every measure runs `--reps` times, interleaved (rep 1 of everything, then rep 2…),
//! so that a burst of load from elsewhere on this shared machine hits all of them
//! alike; the table reports the median and the range. Measures:
//!
//! - the limit: a bare loop of `pwrite` 4 KiB + `fdatasync` at growing offsets, which
//!   is what a log append costs the disk at the least (and the same over a
//!   preallocated file, where no sync has a new file size to commit);
//! - durable-ack latency of one 100-byte record per `append`, std and io_uring paths;
//! - records/s of 100-byte records with 1, 4 and 16 appending threads (group commit);
//! - bulk: 256 MiB of 1 MiB records, one per append (one sync per MiB) and 16 per
//!   append, against a bare loop of `pwrite` 1 MiB + `fdatasync` and `dd` writing the
//!   same bytes (`conv=fdatasync`: one sync at the end; `oflag=dsync`: one per block);
//! - peak RSS of this process (`VmHWM`).
//!
//! The directory must be on the disk under test (not tmpfs); it is emptied per measure.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tl_wal::{Options, Wal};

struct Args {
    dir: PathBuf,
    reps: usize,
    n_ops: usize,
    secs: f64,
    bulk_mib: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: std::env::temp_dir().join("tl-wal-bench"),
        reps: 3,
        n_ops: 5000,
        secs: 3.0,
        bulk_mib: 256,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--dir" => args.dir = PathBuf::from(value()),
            "--reps" => args.reps = value().parse().unwrap_or_else(|_| usage("--reps N")),
            "--ops" => args.n_ops = value().parse().unwrap_or_else(|_| usage("--ops N")),
            "--secs" => args.secs = value().parse().unwrap_or_else(|_| usage("--secs S")),
            "--bulk-mib" => {
                args.bulk_mib = value().parse().unwrap_or_else(|_| usage("--bulk-mib N"))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("wal-bench: {problem}");
    }
    eprintln!(
        "usage: wal-bench [--dir DIR] [--reps N] [--ops N] [--secs S] [--bulk-mib N]\n\
         defaults: --dir $TMPDIR/tl-wal-bench --reps 3 --ops 5000 --secs 3 --bulk-mib 256"
    );
    std::process::exit(2)
}

/// Latencies of one measure, in seconds.
struct Latencies(Vec<f64>);

impl Latencies {
    fn quantile(&self, q: f64) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        // As shared/bench/lib/fsync_lat.py does, so the figures compare.
        v[((q * v.len() as f64) as usize).min(v.len() - 1)]
    }
    fn mean(&self) -> f64 {
        self.0.iter().sum::<f64>() / self.0.len() as f64
    }
}

/// One figure per rep, in the order first seen.
#[derive(Default)]
struct Table {
    rows: Vec<(String, &'static str, Vec<f64>)>,
}

impl Table {
    fn add(&mut self, name: &str, unit: &'static str, value: f64) {
        match self.rows.iter_mut().find(|r| r.0 == name) {
            Some(row) => row.2.push(value),
            None => self.rows.push((name.to_string(), unit, vec![value])),
        }
    }
    fn add_latencies(&mut self, name: &str, lat: &Latencies) {
        self.add(&format!("{name} p50"), "µs", lat.quantile(0.50) * 1e6);
        self.add(&format!("{name} p99"), "µs", lat.quantile(0.99) * 1e6);
        self.add(&format!("{name} mean"), "µs", lat.mean() * 1e6);
        self.add(&format!("{name} ops/s"), "ops/s", 1.0 / lat.mean());
    }
    fn median(&self, name: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.0 == name).map(|r| median(&r.2))
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create bench directory");
    p
}

/// The physical limit: `pwrite` `block` bytes at growing offsets + `fdatasync`.
/// With `preallocate`, the file is first written and synced in full, so that no
/// `fdatasync` has a file size to commit (what a log that preallocates would see).
fn bare_loop(dir: &Path, block: usize, n_ops: usize, preallocate: bool) -> Latencies {
    let d = fresh(dir, "bare");
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(d.join("bare.bin"))
        .expect("create bare.bin");
    let buf = vec![0x5au8; block];
    if preallocate {
        for i in 0..n_ops {
            f.write_all_at(&buf, (i * block) as u64).expect("pwrite");
        }
        f.sync_all().expect("fsync");
    }
    let mut lat = Vec::with_capacity(n_ops);
    for i in 0..n_ops {
        let t = Instant::now();
        f.write_all_at(&buf, (i * block) as u64).expect("pwrite");
        f.sync_data().expect("fdatasync");
        lat.push(t.elapsed().as_secs_f64());
    }
    drop(f);
    let _ = std::fs::remove_dir_all(&d);
    Latencies(lat)
}

fn open_wal(dir: &Path, uring: bool) -> (Wal, PathBuf) {
    let d = fresh(dir, if uring { "wal-uring" } else { "wal-std" });
    let opts = Options {
        uring,
        ..Options::default()
    };
    let (wal, _) = Wal::open(d.join("wal"), d.join("quarantine"), opts).expect("open wal");
    (wal, d)
}

/// Durable-ack latency of single-record batches.
fn wal_latency(dir: &Path, uring: bool, n_ops: usize) -> Latencies {
    let (wal, d) = open_wal(dir, uring);
    let record = [0x42u8; 100];
    let mut lat = Vec::with_capacity(n_ops);
    for _ in 0..n_ops {
        let t = Instant::now();
        wal.append(&[&record]).expect("append");
        lat.push(t.elapsed().as_secs_f64());
    }
    drop(wal);
    let _ = std::fs::remove_dir_all(&d);
    Latencies(lat)
}

/// Records/s of 100-byte single-record batches from `n_threads` appenders.
fn wal_throughput(dir: &Path, uring: bool, n_threads: usize, secs: f64) -> f64 {
    let (wal, d) = open_wal(dir, uring);
    let wal = Arc::new(wal);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..n_threads)
        .map(|_| {
            let (wal, stop, done) = (wal.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let record = [0x42u8; 100];
                while !stop.load(Ordering::Relaxed) {
                    wal.append(&[&record]).expect("append");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("appender thread");
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    drop(wal);
    let _ = std::fs::remove_dir_all(&d);
    rate
}

/// MB/s of `n_mib` 1 MiB records, appended `per_batch` to a batch (one sync each).
fn wal_bulk(dir: &Path, uring: bool, n_mib: usize, per_batch: usize) -> f64 {
    let (wal, d) = open_wal(dir, uring);
    let record = vec![0u8; 1 << 20];
    let batch: Vec<&[u8]> = vec![&record[..]; per_batch];
    let t = Instant::now();
    for _ in 0..n_mib / per_batch {
        wal.append(&batch).expect("append");
    }
    let secs = t.elapsed().as_secs_f64();
    drop(wal);
    let _ = std::fs::remove_dir_all(&d);
    (n_mib << 20) as f64 / secs / 1e6
}

/// MB/s of `dd if=/dev/zero bs=1M count=N` with `flag` (e.g. `conv=fdatasync`).
fn dd(dir: &Path, n_mib: usize, flag: &str) -> f64 {
    let d = fresh(dir, "dd");
    let t = Instant::now();
    let status = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", d.join("dd.bin").display()))
        .arg("bs=1M")
        .arg(format!("count={n_mib}"))
        .arg(flag)
        .arg("status=none")
        .status()
        .expect("run dd");
    let secs = t.elapsed().as_secs_f64();
    assert!(status.success(), "dd {flag} failed");
    let _ = std::fs::remove_dir_all(&d);
    (n_mib << 20) as f64 / secs / 1e6
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn shell(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.dir).expect("create --dir");
    let uring = tl_wal::uring_available();
    let paths: &[bool] = if uring { &[false, true] } else { &[false] };
    let path_name = |u: bool| if u { "io_uring" } else { "std" };

    println!("# wal-bench");
    println!("date: {}", shell("date -u +%Y-%m-%dT%H:%MZ"));
    println!(
        "machine: {} cores, {}, kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        shell("uname -r")
    );
    println!(
        "disk: {} ({})",
        shell(&format!(
            "df -T '{}' | awk 'NR==2{{print $2\" on \"$1}}'",
            args.dir.display()
        )),
        args.dir.display()
    );
    println!("io_uring available: {uring}");
    println!("load before: {}", shell("uptime"));
    println!(
        "reps {}, {} ops per latency measure, {} s per throughput measure, bulk {} MiB",
        args.reps, args.n_ops, args.secs, args.bulk_mib
    );

    let mut table = Table::default();
    for rep in 0..args.reps {
        eprintln!("rep {}/{}…", rep + 1, args.reps);
        let bare = bare_loop(&args.dir, 4096, args.n_ops, false);
        table.add_latencies("bare pwrite 4 KiB + fdatasync", &bare);
        let bare = bare_loop(&args.dir, 4096, args.n_ops, true);
        table.add_latencies("bare pwrite 4 KiB + fdatasync, preallocated", &bare);
        for &u in paths {
            let lat = wal_latency(&args.dir, u, args.n_ops);
            table.add_latencies(&format!("wal append 1×100 B, {}", path_name(u)), &lat);
        }
        for n_threads in [1, 4, 16] {
            for &u in paths {
                let rate = wal_throughput(&args.dir, u, n_threads, args.secs);
                let name = format!("wal 100 B records, {n_threads} threads, {}", path_name(u));
                table.add(&name, "records/s", rate);
            }
        }
        let bare_mib = bare_loop(&args.dir, 1 << 20, args.bulk_mib, false);
        let bare_mbps = (args.bulk_mib << 20) as f64 / bare_mib.0.iter().sum::<f64>() / 1e6;
        table.add("bare pwrite 1 MiB + fdatasync", "MB/s", bare_mbps);
        table.add(
            "dd bs=1M conv=fdatasync",
            "MB/s",
            dd(&args.dir, args.bulk_mib, "conv=fdatasync"),
        );
        table.add(
            "dd bs=1M oflag=dsync",
            "MB/s",
            dd(&args.dir, args.bulk_mib, "oflag=dsync"),
        );
        for &u in paths {
            let mbps = wal_bulk(&args.dir, u, args.bulk_mib, 1);
            let name = format!("wal bulk 1 MiB per append, {}", path_name(u));
            table.add(&name, "MB/s", mbps);
            let mbps = wal_bulk(&args.dir, u, args.bulk_mib, 16);
            let name = format!("wal bulk 16×1 MiB per append, {}", path_name(u));
            table.add(&name, "MB/s", mbps);
        }
    }
    table.add("peak RSS (VmHWM)", "MiB", peak_rss_kib() as f64 / 1024.0);
    println!("load after: {}", shell("uptime"));

    // The ratio column: each figure against the limit it is judged by.
    let limit_of = |name: &str| -> Option<(String, f64)> {
        let bare = "bare pwrite 4 KiB + fdatasync";
        let pick = |suffix: &str| {
            let key = format!("{bare} {suffix}");
            table.median(&key).map(|v| (key, v))
        };
        if name.starts_with("wal append") {
            return pick(name.rsplit(' ').next().unwrap_or(""));
        }
        if name.starts_with("wal 100 B records") {
            return pick("ops/s");
        }
        // One sync per MiB is judged by the same loop without the log; big batches
        // by the streaming limit.
        let key = if name.starts_with("wal bulk 1 MiB") {
            "bare pwrite 1 MiB + fdatasync"
        } else if name.starts_with("wal bulk 16") {
            "dd bs=1M conv=fdatasync"
        } else {
            return None;
        };
        table.median(key).map(|v| (key.to_string(), v))
    };
    println!();
    println!("| measure | unit | median | min | max | ratio to limit |");
    println!("|---|---|---:|---:|---:|---|");
    for (name, unit, values) in &table.rows {
        let med = median(values);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ratio = match limit_of(name) {
            Some((limit, v)) if v > 0.0 => format!("{:.2}× {limit}", med / v),
            _ => String::new(),
        };
        println!("| {name} | {unit} | {med:.1} | {min:.1} | {max:.1} | {ratio} |");
    }
    let _ = std::fs::remove_dir_all(&args.dir);
}
