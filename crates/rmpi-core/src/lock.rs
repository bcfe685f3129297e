//! A mutex for the short critical sections on a message's path (the engine's matching
//! state, a transport's ring ends).
//!
//! It differs from `std::sync::Mutex` in what giving it back costs. std's mutex sleeps in
//! the kernel when it is taken, so its unlock is an atomic exchange, to learn whether to wake
//! a sleeper; on x86 that is a locked instruction, which waits for every earlier store to
//! reach the cache. A message passes several such locks between arriving and being
//! answered: in a profile of one thread sending and receiving 8-byte messages, the locks'
//! locked instructions were the costliest in every function that took one. This lock never
//! sleeps: it is taken with one exchange and given back with a plain store (the same loop ran
//! about 12 % faster with it). A thread that finds it
//! taken spins briefly and then yields its core, so a holder that lost its core (ranks
//! often outnumber cores) gets it back; holders never wait for anything long while holding
//! it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A mutex that spins and then yields while taken; see the [module documentation](self).
pub type Mutex<T> = lock_api::Mutex<RawSpinYield, T>;

/// What [`Mutex::lock`] returns.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawSpinYield, T>;

/// Looks at a taken lock this many times before yielding the core.
const SPINS: u32 = 100;

/// The lock itself: one flag, true while held.
#[derive(Debug)]
pub struct RawSpinYield {
    locked: AtomicBool,
    /// How many threads wait for it, so a holder that could keep it a while (a receive
    /// spinning for its message) sees that it should let go.
    waiting: AtomicU32,
}

/// Locks a `std::sync::Mutex`, taking its data as it is if a holder panicked: the panic is
/// reported where it happened, and every user of such state keeps it whole between
/// statements.
pub fn unpoisoned<T: ?Sized>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether another thread waits for `mutex`, which the caller holds.
pub fn contended<T: ?Sized>(mutex: &Mutex<T>) -> bool {
    // SAFETY: only the count of waiters is read; the lock is neither taken nor released
    // through `raw`, which is what makes it unsafe.
    unsafe { mutex.raw() }.waiting.load(Ordering::Relaxed) != 0
}

// SAFETY: `try_lock` succeeds for one caller at a time (an exchange that finds the flag
// false), with `Acquire`; `unlock`, called only by the holder, clears it with `Release`. So
// the holders follow one another, and each sees everything its predecessors wrote.
unsafe impl lock_api::RawMutex for RawSpinYield {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawSpinYield {
        locked: AtomicBool::new(false),
        waiting: AtomicU32::new(0),
    };

    type GuardMarker = lock_api::GuardSend;

    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        !self.locked.swap(true, Ordering::Acquire)
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

impl RawSpinYield {
    /// Waits for the holder: looks without writing (so the flag's line is not pulled away
    /// from the holder at every look), spinning at first and then yielding between looks.
    #[cold]
    fn lock_contended(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let mut looks = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                if looks < SPINS {
                    looks += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if lock_api::RawMutex::try_lock(self) {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn holders_follow_one_another() {
        // Threads add to a plain (non-atomic) counter under the lock, more of them than
        // this machine has cores, so some are preempted while holding it.
        let counter = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let mut held = counter.lock();
                        let seen = *held;
                        std::hint::black_box(&mut *held);
                        *held = seen + 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*counter.lock(), 8 * 20_000);
    }

    #[test]
    fn a_holder_sees_a_thread_waiting() {
        let lock = Arc::new(Mutex::new(()));
        let held = lock.lock();
        assert!(!contended(&lock));
        let waiter = {
            let lock = lock.clone();
            std::thread::spawn(move || drop(lock.lock()))
        };
        while !contended(&lock) {
            std::thread::yield_now();
        }
        drop(held);
        waiter.join().unwrap();
        let _held = lock.lock();
        assert!(!contended(&lock));
    }

    #[test]
    fn try_lock_fails_while_held() {
        let lock = Mutex::new(());
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        drop(held);
        assert!(lock.try_lock().is_some());
    }
}
