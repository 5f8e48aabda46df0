//! The search of `tl bisect`: the first bad state among every captured state
//! between a good one and a bad one, as `git bisect` does over commits.
//!
//! Pure: the caller materializes each state asked for, runs the user's
//! command and hands back a [`Verdict`]. Positions are indices into the list
//! of states given, whose first is known good and last known bad. Without
//! skips the search asks at most ⌈log₂ n⌉ states for n states strictly
//! between; a skipped state is never asked again, and the one asked instead
//! is the untested state nearest the middle, so skips cost as few steps as
//! they can.

use std::collections::BTreeSet;

/// What one state was found to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The command exited 0.
    Good,
    /// The command exited with another code than 0 and 125, or crashed.
    Bad,
    /// The command exited 125: this state cannot be tested.
    Skip,
}

/// Where the search stands.
#[derive(Clone, Debug)]
pub struct Search {
    /// Highest position known good.
    good: usize,
    /// Lowest position known bad.
    bad: usize,
    /// Positions that could not be tested.
    skipped: BTreeSet<usize>,
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Position of the last good state.
    pub last_good: usize,
    /// Position of the first bad state (when skipped states lie between the
    /// two, the first bad one is this or one of them).
    pub first_bad: usize,
    /// Skipped positions between the two, where the first bad state may be.
    pub untested: Vec<usize>,
}

impl Search {
    /// A search over `len` states (at least two: the good one first, the bad
    /// one last).
    pub fn new(len: usize) -> Search {
        Search {
            good: 0,
            bad: len.max(2) - 1,
            skipped: BTreeSet::new(),
        }
    }

    /// The position to test next, None when the search is over.
    pub fn next(&self) -> Option<usize> {
        let mid = self.good + (self.bad - self.good) / 2;
        (self.good + 1..self.bad)
            .filter(|p| !self.skipped.contains(p))
            .min_by_key(|&p| (p.abs_diff(mid), p))
    }

    /// Records what the state at `pos` was found to be.
    pub fn record(&mut self, pos: usize, verdict: Verdict) {
        if pos <= self.good || pos >= self.bad {
            return;
        }
        match verdict {
            Verdict::Good => self.good = pos,
            Verdict::Bad => self.bad = pos,
            Verdict::Skip => {
                self.skipped.insert(pos);
            }
        }
    }

    /// What was found so far (the answer once [`Search::next`] is None).
    pub fn found(&self) -> Found {
        Found {
            last_good: self.good,
            first_bad: self.bad,
            untested: self
                .skipped
                .range(self.good + 1..self.bad)
                .copied()
                .collect(),
        }
    }
}

/// The most steps a search over `len` states takes without skips: ⌈log₂ (len
/// − 1)⌉, the states strictly between the two ends being `len − 2`.
pub fn steps_bound(len: usize) -> u32 {
    let between = len.saturating_sub(2) as u64;
    // Each step halves the untested states (rounding up) until none are left.
    (between + 1).next_power_of_two().trailing_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs a search over `len` states whose first bad one is `first_bad`,
    /// skipping those in `skip`; returns what it found and its steps.
    fn run(len: usize, first_bad: usize, skip: &BTreeSet<usize>) -> (Found, u32) {
        let mut s = Search::new(len);
        let mut steps = 0;
        while let Some(p) = s.next() {
            steps += 1;
            assert!(steps <= len as u32, "the search must end");
            let v = if skip.contains(&p) {
                Verdict::Skip
            } else if p >= first_bad {
                Verdict::Bad
            } else {
                Verdict::Good
            };
            s.record(p, v);
        }
        (s.found(), steps)
    }

    proptest! {
        /// Without skips the first bad state is found within the bound.
        #[test]
        fn the_first_bad_state_is_found_within_log2_steps(len in 2usize..3000, at in any::<prop::sample::Index>()) {
            let first_bad = 1 + at.index(len - 1);
            let (found, steps) = run(len, first_bad, &BTreeSet::new());
            prop_assert_eq!(found.first_bad, first_bad);
            prop_assert_eq!(found.last_good, first_bad - 1);
            prop_assert!(found.untested.is_empty());
            prop_assert!(steps <= steps_bound(len), "{} steps over {} states", steps, len);
        }

        /// With skips the answer is the first bad state, or a range holding
        /// it whose other members were all skipped.
        #[test]
        fn with_skips_the_first_bad_state_is_in_the_answer(
            len in 2usize..400,
            at in any::<prop::sample::Index>(),
            skip in prop::collection::btree_set(1usize..399, 0..40),
        ) {
            let first_bad = 1 + at.index(len - 1);
            let (found, _) = run(len, first_bad, &skip);
            let candidates: Vec<usize> = found.untested.iter().copied().chain([found.first_bad]).collect();
            prop_assert!(candidates.contains(&first_bad), "{:?} lacks {}", found, first_bad);
            prop_assert!(found.last_good < first_bad);
            prop_assert!(found.untested.iter().all(|p| skip.contains(p)));
        }
    }

    #[test]
    fn a_thousand_states_take_at_most_ten_steps() {
        assert_eq!(steps_bound(1000), 10);
        assert_eq!(steps_bound(2), 0);
        assert_eq!(steps_bound(3), 1);
        assert_eq!(steps_bound(4), 2);
    }
}
