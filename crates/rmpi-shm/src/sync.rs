//! The synchronization the ring and doorbell protocols use, swapped for loom's model
//! checker under the `loom` feature so the same protocol code is what loom explores.

#[cfg(not(feature = "loom"))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(feature = "loom")]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// How long a rank waits for a peer to finish a copy (a fan-out's writer, a borrower
/// reading a region) before it checks that the peer is alive (and then again as often).
pub(crate) const LIVENESS_CHECK: std::time::Duration = std::time::Duration::from_millis(10);

/// Whether process `pid` is still there, for waits on a peer that only its death ends.
pub(crate) fn alive(pid: rustix::process::Pid) -> bool {
    rustix::process::test_kill_process(pid).is_ok()
}

pub(crate) use rmpi_core::lock::pause;

/// The cheap half of an asymmetric Dekker barrier, for the busy side (a sender that rings,
/// a receiver that hands ring space back): orders its earlier stores before its later loads
/// against a party that calls [`heavy_barrier`].
///
/// Where the kernel's `membarrier` can make every thread of every registered process run a
/// full barrier on demand, the busy side needs only to keep the compiler from reordering: the
/// rare side (a rank going to sleep) pays with one system call instead of every message
/// paying for a fence. Elsewhere this is a full fence. (On x86 a fence after a store to a
/// line another core holds waits for that line: it was most of a receive's cost.)
#[cfg(not(feature = "loom"))]
pub(crate) fn light_barrier() {
    if asymmetric::registered() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The expensive half of the barrier [`light_barrier`] describes, for a rank about to sleep.
/// Returns false if other processes' busy sides could not be fenced, in which case the caller
/// must not sleep for long without looking again.
#[cfg(not(feature = "loom"))]
pub(crate) fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    asymmetric::fence_everyone()
}

#[cfg(not(feature = "loom"))]
pub(crate) mod asymmetric {
    use std::sync::OnceLock;

    use rustix::thread::{membarrier, membarrier_query, MembarrierCommand};

    fn supported() -> bool {
        static SUPPORTED: OnceLock<bool> = OnceLock::new();
        *SUPPORTED
            .get_or_init(|| membarrier_query().contains_command(MembarrierCommand::GlobalExpedited))
    }

    /// Whether this process registered for global expedited barriers. The transport asks
    /// before it joins a job, so registration precedes every light barrier.
    pub(crate) fn registered() -> bool {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        *REGISTERED.get_or_init(|| {
            let registered =
                supported() && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
            tracing::debug!(
                registered,
                "asymmetric barriers for the shared-memory doorbells"
            );
            registered
        })
    }

    /// Runs a full barrier on every running thread of every registered process (those whose
    /// busy sides use only a compiler fence). True if none could have been missed.
    pub(super) fn fence_everyone() -> bool {
        // Where the kernel lacks the command nobody could register, and every busy side
        // fences for itself.
        !supported() || membarrier(MembarrierCommand::GlobalExpedited).is_ok()
    }
}

/// Under loom both halves are full fences, which loom models.
#[cfg(feature = "loom")]
pub(crate) fn light_barrier() {
    fence(Ordering::SeqCst);
}

#[cfg(feature = "loom")]
pub(crate) fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    true
}

/// Blocks while `word` holds `expected`, for at most `timeout` (a futex wait, shared between
/// processes). Returns early, spuriously or not; callers re-check what they wait for.
#[cfg(not(feature = "loom"))]
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
#[cfg(not(feature = "loom"))]
pub(crate) fn wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// Under loom a futex is a busy wait that yields, which loom understands.
#[cfg(feature = "loom")]
pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: std::time::Duration) {
    while word.load(Ordering::Acquire) == expected {
        loom::thread::yield_now();
    }
}

#[cfg(feature = "loom")]
pub(crate) fn wake_all(_word: &AtomicU32) {}
