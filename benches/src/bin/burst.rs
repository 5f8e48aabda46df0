//! Writes small files as fast as one thread can, for the watcher benchmark
//! (`benches/watch/watch_bench.py`): the Python writer tops out near 37,000
//! events/s on this machine, below the 50,000 events/s the daemon must sustain.
//!
//! `burst DIR COUNT [BYTES]`: creates DIR, then COUNT files `b00000.txt`… of BYTES
//! bytes (default 100), each open(O_CREAT|O_TRUNC) + write + close (3 inotify
//! events), and prints `files seconds` on stdout.

use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: burst DIR COUNT [BYTES]");
        std::process::exit(2);
    }
    let dir = std::path::Path::new(&args[1]);
    let count: usize = args[2].parse().expect("COUNT must be a number");
    let bytes: usize = args.get(3).map_or(100, |b| b.parse().expect("BYTES"));
    std::fs::create_dir_all(dir).expect("cannot create DIR");
    let content = vec![b'y'; bytes];
    let names: Vec<_> = (0..count)
        .map(|i| dir.join(format!("b{i:05}.txt")))
        .collect();
    let t0 = Instant::now();
    for name in &names {
        let mut f = std::fs::File::create(name).expect("create");
        f.write_all(&content).expect("write");
    }
    println!("{count} {:.6}", t0.elapsed().as_secs_f64());
}
