//! The process's async runtime, started after two memory settings.
//!
//! glibc's malloc keeps what it once held in two ways that add up over a few jobs:
//! - each thread that allocates gets its own arena (up to eight per core), and the
//!   pipelines' threads (tokio's workers and blocking pool, zstd's) each leave their
//!   megabyte-sized buffers' pages in theirs;
//! - a freed block larger than the mmap threshold raises the threshold to its size, so the
//!   next buffers of that size come from the heap and stay resident after they are freed.
//!
//! Two arenas and a fixed 256 KiB threshold (buffers above it are mapped and unmapped
//! whole) took the peak RSS of `cairn up` over `cairn-bench all` from 77 to 57 MiB
//! (docs/performance.md), for ≈0.1–0.2 s of CPU per backup in page faults. The
//! operator's own `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` win.

use std::future::Future;

/// How many malloc arenas the process may use.
const ARENA_MAX: i32 = 2;
/// Allocations from this size up are mapped on their own and returned when freed.
const MMAP_THRESHOLD: i32 = 256 * 1024;

/// Sets the malloc parameters, then runs `main` on a multi-threaded tokio runtime (what
/// `#[tokio::main]` would build; the settings must come before any thread exists).
pub fn run<T>(main: impl Future<Output = T>) -> T {
    tune_malloc();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
        .block_on(main)
}

#[allow(unsafe_code)]
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let unset = |name: &str| std::env::var_os(name).is_none();
        // SAFETY: mallopt only changes malloc parameters; it is called before this
        // process starts any thread.
        unsafe {
            if unset("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
            }
            if unset("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            }
        }
    }
}
