//! The synchronization the core's own concurrent parts use (the waiters of a rank, the lock
//! on a message's path), swapped for loom's model checker under the `loom` feature so that
//! the same code is what loom explores:
//! `cargo test -p rmpi-core --lib --features loom model`.

#[cfg(not(feature = "loom"))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering,
};
#[cfg(not(feature = "loom"))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(feature = "loom")]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering,
};
#[cfg(feature = "loom")]
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking its data as it is if a holder panicked (see
/// [`crate::lock::unpoisoned`]).
pub(crate) fn unpoisoned<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
