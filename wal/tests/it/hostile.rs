//! T4-lite: random bursts, overwrites and transplanted frames over a valid log. What
//! must hold: opening (read-only and with recovery) and reading never panic, never
//! return a record that was not appended at that LSN (0 false accepts), and the
//! reader allocates a bounded amount whatever the bytes say. The hostile-length and
//! huge-record cases with exact errors are in `errors.rs`.
//!
//! `TL_HOSTILE_RUNS` sets the number of vandalized logs (default 3,000; the reported
//! run, T4 itself, is 10^6), shared by two threads.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tl_wal::format::*;
use tl_wal::{segment_name, LogReader, Lsn, Options, Wal};

use crate::alloc_meter::peak_during;
use crate::common::*;
use crate::truncate::one_segment_log;

fn vandalize(rng: &mut StdRng, seg: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..4) {
        let len = seg.len();
        if len <= SEGMENT_HEADER_LEN {
            break; // cut to its header by an earlier step: nothing left to damage
        }
        let at = rng.gen_range(SEGMENT_HEADER_LEN..len);
        match rng.gen_range(0..6) {
            0 => {
                let n = rng.gen_range(1..64).min(len - at);
                rng.fill_bytes(&mut seg[at..at + n]);
            }
            1 => {
                let n = rng.gen_range(1..2048).min(len - at);
                seg[at..at + n].fill(0);
            }
            2 => {
                // A copy of other (valid-looking) bytes of the log, 8-aligned.
                let n = rng.gen_range(8..600).min(len - at);
                let from = if len - n > SEGMENT_HEADER_LEN {
                    rng.gen_range(SEGMENT_HEADER_LEN..len - n) & !7
                } else {
                    SEGMENT_HEADER_LEN
                };
                let to = at & !7;
                let chunk = seg[from..from + n].to_vec();
                let n = n.min(len - to);
                seg[to..to + n].copy_from_slice(&chunk[..n]);
            }
            3 => {
                // A hostile length field in some frame-aligned place.
                let to = (at & !7).min(len - 8);
                let v: u32 =
                    [u32::MAX, FRAME_PAYLOAD_MAX as u32, 1 << 31, rng.gen()][rng.gen_range(0..4)];
                seg[to + 4..to + 8].copy_from_slice(&v.to_le_bytes());
            }
            4 => seg.truncate(at),
            _ => seg[at] ^= 1 << rng.gen_range(0..8),
        }
    }
}

/// One vandalized copy of `seg`, opened read-only and with recovery and read whole:
/// whether recovery reported damage, and the peak allocation of it all.
fn vandalized_run(
    run: u64,
    seg: &[u8],
    name: &str,
    truth: &HashMap<Lsn, Vec<u8>>,
) -> (bool, usize) {
    let mut rng = StdRng::seed_from_u64(run);
    let mut bytes = seg.to_vec();
    vandalize(&mut rng, &mut bytes);
    let check = |it: tl_wal::LogIter| {
        for r in it.flatten() {
            assert!(
                truth.get(&r.lsn) == Some(&r.data),
                "run {run}: false accept of a record at LSN {}",
                r.lsn
            );
        }
    };
    let mut damaged = false;
    let ((), peak) = peak_during(|| {
        let storage = mem_with(&[(name.to_string(), bytes)]);
        if let Ok(r) = LogReader::open_storage(storage.clone()) {
            check(r.iter_from(r.start_lsn()).unwrap());
            let _ = r.verify();
        }
        if let Ok((wal, report)) = Wal::open_storage(storage, Options::default()) {
            damaged = !report.is_clean();
            check(wal.iter_from(wal.start_lsn()).unwrap());
            let _ = wal.verify().unwrap();
        }
    });
    (damaged, peak)
}

#[test]
fn random_bursts_and_overwrites_never_panic_nor_return_records_that_were_not_written() {
    let (seg, batches) = one_segment_log(11, 60, true);
    let fr = frames(&seg);
    // What was written at each record LSN.
    let mut truth: HashMap<Lsn, Vec<u8>> = HashMap::new();
    let mut lsn_iter = fr.iter().filter(|f| f.kind == FrameKind::Full);
    for b in &batches {
        for r in b {
            truth.insert(lsn_iter.next().unwrap().lsn, r.clone());
        }
    }
    let runs: u64 = std::env::var("TL_HOSTILE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let name = segment_name(Lsn::new(0));
    // Two threads share the runs (the allocation meter counts per thread).
    let next = AtomicU64::new(0);
    let totals = Mutex::new((0usize, 0u64)); // (max peak, damaged)
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let (mut max_peak, mut damaged) = (0, 0);
                loop {
                    let run = next.fetch_add(1, Ordering::Relaxed);
                    if run >= runs {
                        break;
                    }
                    let (hurt, peak) = vandalized_run(run, &seg, &name, &truth);
                    damaged += hurt as u64;
                    max_peak = max_peak.max(peak);
                }
                let mut t = totals.lock().unwrap();
                t.0 = t.0.max(max_peak);
                t.1 += damaged;
            });
        }
    });
    let (max_peak, damaged) = *totals.lock().unwrap();
    eprintln!(
        "T4-lite: {runs} vandalized logs, {damaged} reported damage on open, 0 false \
         accepts, peak allocation {} KiB per open+read",
        max_peak >> 10
    );
    assert!(max_peak < 16 << 20, "{max_peak}");
}

/// The 10^6-run soak found `vandalize` itself panicking (an empty random range) when
/// an earlier step had cut the segment to its header, or a copy had to start right
/// after it. On a tiny segment both happen within a few hundred seeds.
#[test]
fn vandalizing_a_segment_cut_to_its_header_does_not_panic() {
    let (seg, _) = one_segment_log(11, 1, true);
    let tiny = &seg[..SEGMENT_HEADER_LEN + 16];
    for run in 0..5000 {
        let mut rng = StdRng::seed_from_u64(run);
        let mut bytes = tiny.to_vec();
        vandalize(&mut rng, &mut bytes);
        assert!(bytes.len() >= SEGMENT_HEADER_LEN, "run {run}");
    }
}

#[test]
fn a_frame_from_another_segment_never_validates_here() {
    // Two logs with identical content: same LSNs, different salts. Transplanting any
    // frame of one into the other must be detected.
    let (a, _) = one_segment_log(5, 20, true);
    let (b, _) = one_segment_log(5, 20, true);
    assert_eq!(a.len(), b.len());
    let fr = frames(&a);
    for f in &fr[..fr.len() - 1] {
        let mut bytes = a.clone();
        bytes[f.offset..f.end()].copy_from_slice(&b[f.offset..f.end()]);
        let storage = mem_with(&[(segment_name(Lsn::new(0)), bytes)]);
        let r = LogReader::open_storage(storage).unwrap();
        let v = r.verify().unwrap();
        assert_eq!(v.damage.len(), 1, "frame at {}: {v:?}", f.offset);
        assert!(matches!(v.damage[0].problem, FrameProblem::Checksum { .. }));
    }
}
