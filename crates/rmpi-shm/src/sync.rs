//! The synchronization the ring and doorbell protocols use, swapped for loom's model
//! checker under `--cfg rmpi_loom` so the same protocol code is what loom explores.

#[cfg(not(rmpi_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(rmpi_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Blocks while `word` holds `expected`, for at most `timeout` (a futex wait, shared between
/// processes). Returns early, spuriously or not; callers re-check what they wait for.
#[cfg(not(rmpi_loom))]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: std::time::Duration) {
    use rustix::thread::futex;
    let timeout = futex::Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // Interrupted, timed out or the value changed: all mean "look again".
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&timeout));
}

/// Wakes every thread blocked in [`wait`] on `word`, in any process.
#[cfg(not(rmpi_loom))]
pub(crate) fn wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// Under loom a futex is a busy wait that yields, which loom understands.
#[cfg(rmpi_loom)]
pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: std::time::Duration) {
    while word.load(Ordering::Acquire) == expected {
        loom::thread::yield_now();
    }
}

#[cfg(rmpi_loom)]
pub(crate) fn wake_all(_word: &AtomicU32) {}
