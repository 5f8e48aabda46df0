//! Cutting a GC short: the daemon sets a [`Cancel`] when it is asked to stop
//! while its own GC runs, and the rewrite and the verification stop at their next
//! batch or blob. What was written into `.tl/gc/` goes; the old log is untouched
//! (a GC is cut only before its swap, which is short and runs to its end).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::GcError;

/// A flag shared by a GC and whoever may want it to stop. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set (a GC run with it goes to its end unless set).
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the GC to stop at its next batch or blob.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// [`GcError::Cancelled`] once cancelled.
    pub(super) fn check(&self) -> Result<(), GcError> {
        if self.is_cancelled() {
            return Err(GcError::Cancelled);
        }
        Ok(())
    }
}
