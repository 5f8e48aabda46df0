//! T4-lite: random bursts, overwrites and transplanted frames over a valid log. What
//! must hold: opening (read-only and with recovery) and reading never panic, never
//! return a record that was not appended at that LSN (0 false accepts), and the
//! reader allocates a bounded amount whatever the bytes say. The hostile-length and
//! huge-record cases with exact errors are in `errors.rs`.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::HashMap;
use tl_wal::format::*;
use tl_wal::{segment_name, LogReader, Lsn, Options, Wal};

use crate::alloc_meter::peak_during;
use crate::common::*;
use crate::truncate::one_segment_log;

fn vandalize(rng: &mut StdRng, seg: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..4) {
        let len = seg.len();
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
                let from = rng.gen_range(SEGMENT_HEADER_LEN..len - n) & !7;
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
    let mut max_peak = 0;
    let mut damaged = 0;
    for run in 0..runs {
        let mut rng = StdRng::seed_from_u64(run);
        let mut bytes = seg.clone();
        vandalize(&mut rng, &mut bytes);
        let check = |it: tl_wal::LogIter| {
            let mut errors = 0;
            for item in it {
                match item {
                    Ok(r) => assert!(
                        truth.get(&r.lsn) == Some(&r.data),
                        "run {run}: false accept of a record at LSN {}",
                        r.lsn
                    ),
                    Err(_) => errors += 1,
                }
            }
            errors
        };
        let ((), peak) = peak_during(|| {
            let storage = mem_with(&[(name.clone(), bytes.clone())]);
            if let Ok(r) = LogReader::open_storage(storage.clone()) {
                let _ = check(r.iter_from(r.start_lsn()).unwrap());
                let _ = r.verify();
            }
            if let Ok((wal, report)) = Wal::open_storage(storage, Options::default()) {
                if !report.is_clean() {
                    damaged += 1;
                }
                let _ = check(wal.iter_from(wal.start_lsn()).unwrap());
                let _ = wal.verify().unwrap();
            }
        });
        max_peak = max_peak.max(peak);
    }
    eprintln!(
        "T4-lite: {runs} vandalized logs, {damaged} reported damage on open, 0 false \
         accepts, peak allocation {} KiB per open+read",
        max_peak >> 10
    );
    assert!(max_peak < 16 << 20, "{max_peak}");
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
