//! [`CheckpointIndex`]: the position of a checkpoint in the store's list, as a type
//! of its own so that it cannot be confused with a count, a sequence number or an
//! offset. (The id a user sees is `Checkpoint::id`, a hex string; this is not it.)

use std::fmt;
use std::ops::Index;

use super::Checkpoint;

/// The position of a checkpoint in `Catalog::checkpoints` (and so in
/// `Store::checkpoints`), in log order from 0.
///
/// Index a checkpoint slice with it directly: `store.checkpoints()[idx]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointIndex(usize);

impl CheckpointIndex {
    /// The checkpoint at position `i` of the list.
    pub const fn new(i: usize) -> CheckpointIndex {
        CheckpointIndex(i)
    }

    /// The position as a plain number, for arithmetic and slicing.
    pub const fn get(self) -> usize {
        self.0
    }

    /// The checkpoint just before this one, if this is not the first.
    pub fn prev(self) -> Option<CheckpointIndex> {
        self.0.checked_sub(1).map(CheckpointIndex)
    }
}

impl fmt::Display for CheckpointIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Index<CheckpointIndex> for [Checkpoint] {
    type Output = Checkpoint;

    fn index(&self, idx: CheckpointIndex) -> &Checkpoint {
        &self[idx.0]
    }
}

impl Index<CheckpointIndex> for Vec<Checkpoint> {
    type Output = Checkpoint;

    fn index(&self, idx: CheckpointIndex) -> &Checkpoint {
        &self[idx.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prev_of_the_first_checkpoint_is_none() {
        assert_eq!(CheckpointIndex::new(0).prev(), None);
        assert_eq!(
            CheckpointIndex::new(3).prev(),
            Some(CheckpointIndex::new(2))
        );
    }
}
