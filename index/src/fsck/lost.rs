//! How many checkpoints damage cost: the sequence numbers missing between the
//! checkpoints around it, less those a GC thinned on purpose.

/// How many checkpoints are missing between sequence numbers `a` and `b`: the
/// numbers in between, less those inside a range a GC thinned on purpose.
pub(super) fn lost_between(a: u64, b: u64, thinnings: &[crate::catalog::ThinnedAt]) -> u64 {
    let (lo, hi) = (a.saturating_add(1), b); // the missing ones: lo..hi
    if hi <= lo {
        return 0;
    }
    // Clip each thinned range to lo..hi and merge the overlaps.
    let mut ranges: Vec<(u64, u64)> = thinnings
        .iter()
        .map(|t| {
            (
                t.thinned.first_seq.max(lo),
                t.thinned.last_seq.saturating_add(1).min(hi),
            )
        })
        .filter(|(s, e)| s < e)
        .collect();
    ranges.sort_unstable();
    let mut thinned = 0;
    let mut covered_to = lo;
    for (s, e) in ranges {
        let s = s.max(covered_to);
        if e > s {
            thinned += e - s;
            covered_to = e;
        }
    }
    (hi - lo) - thinned
}

#[cfg(test)]
mod tests {
    use super::lost_between;
    use crate::catalog::ThinnedAt;
    use crate::record::Thinned;
    use tl_wal::Lsn;

    fn thinned(first_seq: u64, last_seq: u64) -> ThinnedAt {
        ThinnedAt {
            lsn: Lsn::ZERO,
            thinned: Thinned {
                time_ns: 0,
                prev_head: [0; 32],
                prev_end_lsn: Lsn::ZERO,
                states_before: 0,
                kept: 0,
                dropped: 0,
                first_seq,
                last_seq,
                policy: String::new(),
            },
        }
    }

    #[test]
    fn checkpoints_a_gc_thinned_are_not_counted_lost() {
        assert_eq!(lost_between(3, 10, &[]), 6);
        assert_eq!(lost_between(3, 4, &[]), 0);
        assert_eq!(lost_between(5, 5, &[]), 0);
        // 4..=7 thinned: 8 and 9 are lost.
        assert_eq!(lost_between(3, 10, &[thinned(4, 7)]), 2);
        // Overlapping ranges count once: only 9.
        assert_eq!(lost_between(3, 10, &[thinned(6, 8), thinned(4, 7)]), 1);
        // A range beyond the interval changes nothing; one covering it all, all.
        assert_eq!(lost_between(3, 10, &[thinned(20, 30)]), 6);
        assert_eq!(lost_between(3, 10, &[thinned(0, u64::MAX)]), 0);
    }
}
