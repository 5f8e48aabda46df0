//! A global allocator that counts, per thread, the bytes currently allocated and the
//! peak since the last reset, so a test can bound what a reader allocates on hostile
//! input (other test threads do not disturb the count).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Meter;

thread_local! {
    static CUR: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = CUR.try_with(|c| {
        let v = c.get() + delta;
        c.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v)
            }
        });
    });
}

// SAFETY: every method forwards to the system allocator unchanged; the counters are
// plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as isize));
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as isize - l.size() as isize);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static METER: Meter = Meter;

/// Runs `f` and returns its result with the peak number of bytes this thread had
/// allocated above the level at the start.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = CUR.with(|c| c.get());
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(|p| p.get()) - start;
    (out, peak.max(0) as usize)
}
