//! Allocator tuning of the long-lived daemon (glibc only): one arena for all
//! threads, and freed memory handed back when idle. Its two calls into libc are
//! the binary's only `unsafe` blocks (listed in ARCHITECTURE.md).
#![allow(unsafe_code)]

/// Makes every thread allocate from one heap. glibc gives each thread that
/// allocates concurrently an arena of its own and keeps what they free: after the
/// catch-up scan's worker threads exit, an idle daemon on a 100k-file tree held
/// 31 MB in three such arenas (65 MB RSS in all, 34 MB with one arena). Captures
/// lose nothing measurable: their threads mostly read and hash.
pub fn one_heap_for_all_threads() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called before the
    // process starts any thread of its own.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands memory freed by captures back to the system (glibc keeps it in its
/// per-thread arenas otherwise: the idle daemon would keep the peak of its
/// largest capture resident). With `one_heap_for_all_threads`, the binary's only
/// `unsafe`: OS interfaces.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages to the kernel; it is
    // thread-safe and takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
