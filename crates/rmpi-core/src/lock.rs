//! A mutex for the short critical sections on a message's path (the engine's matching
//! state, a transport's ring ends).
//!
//! It differs from `std::sync::Mutex` in what taking and giving it back cost. A locked
//! instruction (an atomic exchange or compare-and-swap) waits for every earlier store to
//! reach the cache, and a message passes several such locks between being posted and being
//! answered. Nearly always one thread takes a given lock: the thread running the rank's
//! program. So the lock is *biased*: the first thread to take it owns it and takes it with
//! plain stores and loads, ordered against other threads by an asymmetric barrier; any other
//! thread takes a plain spin lock and then makes the kernel (`membarrier`) run a full barrier
//! on the owner's core, which costs it a system call. A lock other threads keep taking
//! stops being biased after a few such calls and is an ordinary spin lock from then on.
//!
//! Nobody sleeps in it: a thread that finds it taken spins briefly and then yields its core,
//! so a holder that lost its core (ranks often outnumber cores) gets it back; holders never
//! wait for anything long while holding it.
//!
//! The protocol, run by loom's model checker under the `loom` feature: the owner says it is
//! in (`owner_in`), then looks whether another thread holds `locked`; another thread takes
//! `locked`, fences the owner, then waits until the owner is not in. Either the owner sees
//! `locked` and backs off, or the other thread sees `owner_in` and waits.

use crate::sync::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// A mutex that spins and then yields while taken; see the [module documentation](self).
pub type Mutex<T> = lock_api::Mutex<RawBiased, T>;

/// What [`Mutex::lock`] returns.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawBiased, T>;

/// Looks at a taken lock this many times before yielding the core (under loom, which
/// explores each look, none).
const SPINS: u32 = if cfg!(feature = "loom") { 0 } else { 100 };

/// Locks by threads other than the owner before the lock stops being biased.
const INTRUSIONS_BEFORE_SHARING: u32 = if cfg!(feature = "loom") { 1 } else { 32 };

/// `bias` before any thread took the lock.
const UNCLAIMED: usize = 0;
/// `bias` once the lock is an ordinary spin lock for every thread.
const SHARED: usize = 1;

/// Sets up what the locks' owners need from the kernel, best while the process has one
/// thread: then it is nearly free, and later it waits for every core (milliseconds). A
/// process that never calls it sets it up at its first lock. `rmpi::init` calls it first.
pub fn prepare() {
    asymmetric::registered();
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
    unsafe { mutex.raw() }.get().waiting.load(Ordering::Relaxed) != 0
}

/// The lock itself, as `lock_api` wants it.
#[derive(Debug)]
pub struct RawBiased(
    #[cfg(not(feature = "loom"))] Biased,
    // Loom's atomics cannot be made in a constant: made at first use instead.
    #[cfg(feature = "loom")] std::sync::OnceLock<Biased>,
);

impl RawBiased {
    #[inline(always)]
    fn get(&self) -> &Biased {
        #[cfg(not(feature = "loom"))]
        return &self.0;
        #[cfg(feature = "loom")]
        return self.0.get_or_init(Biased::new);
    }
}

// SAFETY: see `Biased`: `lock` and a successful `try_lock` return only once no other thread
// holds the lock, with `Acquire`, and `unlock`, called by the holder on the thread that took
// it (guards are not `Send`), gives it back with `Release`. So the holders follow one
// another, and each sees everything its predecessors wrote.
unsafe impl lock_api::RawMutex for RawBiased {
    #[allow(clippy::declare_interior_mutable_const)]
    #[cfg(not(feature = "loom"))]
    const INIT: Self = RawBiased(Biased::new());
    #[allow(clippy::declare_interior_mutable_const)]
    #[cfg(feature = "loom")]
    const INIT: Self = RawBiased(std::sync::OnceLock::new());

    // The owner gives the lock back differently from other threads, so the thread that
    // took it must give it back.
    type GuardMarker = lock_api::GuardNoSend;

    #[inline]
    fn lock(&self) {
        self.get().lock();
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.get().try_lock()
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.get().unlock();
    }

    #[inline]
    fn is_locked(&self) -> bool {
        let lock = self.get();
        lock.locked.load(Ordering::Relaxed) || lock.owner_in.load(Ordering::Relaxed)
    }
}

/// The biased lock's state.
#[derive(Debug)]
pub(crate) struct Biased {
    /// The owner's [`thread`] token, or [`UNCLAIMED`] or [`SHARED`].
    bias: AtomicUsize,
    /// True while the owner holds the lock, or is about to look whether it may.
    owner_in: AtomicBool,
    /// True while a thread other than the owner holds the lock or is taking it (and, once
    /// shared, while anyone does).
    locked: AtomicBool,
    /// How many threads wait for it, so a holder that could keep it a while (a receive
    /// spinning for its message) sees that it should let go.
    waiting: AtomicU32,
    /// How many times a thread other than the owner took it.
    intrusions: AtomicU32,
}

/// A lock nobody holds or has claimed.
macro_rules! unclaimed {
    () => {
        Biased {
            bias: AtomicUsize::new(UNCLAIMED),
            owner_in: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            waiting: AtomicU32::new(0),
            intrusions: AtomicU32::new(0),
        }
    };
}

impl Biased {
    #[cfg(not(feature = "loom"))]
    const fn new() -> Biased {
        unclaimed!()
    }

    #[cfg(feature = "loom")]
    fn new() -> Biased {
        unclaimed!()
    }

    /// The bias, claiming the lock for thread `me` if nobody has yet.
    #[inline(always)]
    fn bias_for(&self, me: usize) -> usize {
        match self.bias.load(Ordering::Relaxed) {
            UNCLAIMED => match self.bias.compare_exchange(
                UNCLAIMED,
                me,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => me,
                Err(bias) => bias,
            },
            bias => bias,
        }
    }

    #[inline]
    fn lock(&self) {
        let me = thread();
        let bias = self.bias_for(me);
        if bias == me {
            if !self.owner_enters(me) {
                self.owner_contended(me);
            }
            return;
        }
        self.take_locked();
        if bias != SHARED {
            self.fence_out_owner();
        }
    }

    fn try_lock(&self) -> bool {
        let me = thread();
        let bias = self.bias_for(me);
        if bias == me {
            return self.owner_enters(me);
        }
        if !self.try_take_locked() {
            return false;
        }
        if bias != SHARED {
            heavy_barrier();
            if self.owner_in.load(Ordering::Acquire) {
                self.locked.store(false, Ordering::Release);
                return false;
            }
            self.note_intrusion();
        }
        true
    }

    #[inline]
    fn unlock(&self) {
        // The owner holds it only while the bias is its own (no other thread changes the
        // bias while the owner is in); every other holder holds `locked`.
        if self.bias.load(Ordering::Relaxed) == thread() {
            self.owner_in.store(false, Ordering::Release);
        } else {
            self.locked.store(false, Ordering::Release);
        }
    }

    /// The owner's way in: says it is in, then looks whether another thread holds the lock
    /// or made it shared; if so, it is not in after all.
    #[inline(always)]
    fn owner_enters(&self, me: usize) -> bool {
        // Only the owner sets it: in already, the owner holds the lock.
        if self.owner_in.load(Ordering::Relaxed) {
            return false;
        }
        self.owner_in.store(true, Ordering::Relaxed);
        light_barrier();
        // The bias again: a thread that made the lock shared takes it without looking at
        // `owner_in`, so the owner may not come in on a bias it read before.
        if !self.locked.load(Ordering::Acquire) && self.bias.load(Ordering::Relaxed) == me {
            return true;
        }
        self.owner_in.store(false, Ordering::Release);
        false
    }

    /// The owner found another thread holding the lock: waits for it to let go, then tries
    /// again (as an ordinary locker if it made the lock shared meanwhile).
    #[cold]
    fn owner_contended(&self, me: usize) {
        let mut looks = 0;
        loop {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            while self.locked.load(Ordering::Relaxed) {
                back_off(&mut looks);
            }
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            if self.bias.load(Ordering::Relaxed) != me {
                self.take_locked();
                return;
            }
            if self.owner_enters(me) {
                return;
            }
            back_off(&mut looks);
        }
    }

    /// Takes `locked`, waiting for it if another thread holds it.
    #[inline(always)]
    fn take_locked(&self) {
        if !self.try_take_locked() {
            self.take_locked_contended();
        }
    }

    #[inline(always)]
    fn try_take_locked(&self) -> bool {
        !self.locked.swap(true, Ordering::Acquire)
    }

    /// Waits for `locked`: looks without writing (so the flag's line is not pulled away
    /// from the holder at every look), spinning at first and then yielding between looks.
    #[cold]
    fn take_locked_contended(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let mut looks = 0;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                back_off(&mut looks);
            }
            if self.try_take_locked() {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Holding `locked`, another thread than the owner waits until the owner is out; after
    /// a few such visits it makes the lock shared.
    #[cold]
    fn fence_out_owner(&self) {
        // From here the owner sees `locked` at its next look, or this sees it in.
        heavy_barrier();
        if self.owner_in.load(Ordering::Acquire) {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            let mut looks = 0;
            while self.owner_in.load(Ordering::Acquire) {
                back_off(&mut looks);
            }
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        self.note_intrusion();
    }

    /// Counts a visit by a thread other than the owner, which holds the lock; the last one
    /// before sharing makes it shared.
    fn note_intrusion(&self) {
        let visits = self.intrusions.fetch_add(1, Ordering::Relaxed) + 1;
        if visits == INTRUSIONS_BEFORE_SHARING {
            tracing::debug!(
                visits,
                "a lock other threads keep taking is no longer biased"
            );
            self.bias.store(SHARED, Ordering::Relaxed);
            // The owner sees the lock shared at its next try: until this thread lets go of
            // `locked`, every look the owner makes finds it taken.
            heavy_barrier();
        }
    }
}

/// Spins for a while, then yields the core at every call.
#[cfg_attr(feature = "loom", allow(clippy::absurd_extreme_comparisons))]
fn back_off(looks: &mut u32) {
    let spinning = *looks < SPINS;
    *looks += u32::from(spinning);
    pause(spinning);
}

/// Lets another party run a little while this one waits for it in a loop: a spin where
/// ranks have cores of their own (`spinning`), the core given away where they share them.
pub fn pause(spinning: bool) {
    if spinning {
        std::hint::spin_loop();
    } else {
        #[cfg(not(feature = "loom"))]
        std::thread::yield_now();
        #[cfg(feature = "loom")]
        loom::thread::yield_now();
    }
}

#[cfg(not(feature = "loom"))]
std::thread_local! {
    static THREAD: u8 = const { 0 };
}

#[cfg(feature = "loom")]
loom::thread_local! {
    static THREAD: u8 = 0;
}

/// A token for the calling thread, distinct from every other live thread's and from
/// [`UNCLAIMED`] and [`SHARED`]: the address of a thread-local.
#[inline(always)]
fn thread() -> usize {
    THREAD.with(|token| token as *const u8 as usize)
}

/// Orders the owner's store of `owner_in` before its load of `locked`, against a thread that
/// calls [`heavy_barrier`]: only the compiler's reordering needs stopping where the kernel
/// can fence the owner's core on that thread's behalf.
#[inline(always)]
fn light_barrier() {
    if asymmetric::registered() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The other half of [`light_barrier`]: a full barrier on every running thread of this
/// process.
fn heavy_barrier() {
    fence(Ordering::SeqCst);
    asymmetric::fence_everyone();
}

#[cfg(all(target_os = "linux", not(feature = "loom")))]
mod asymmetric {
    use std::sync::OnceLock;

    use rustix::thread::{membarrier, MembarrierCommand};

    /// Whether this process can have the kernel fence all its running threads; registers
    /// for it at the first call.
    #[inline(always)]
    pub(super) fn registered() -> bool {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        *REGISTERED.get_or_init(|| {
            membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
                && membarrier(MembarrierCommand::PrivateExpedited).is_ok()
        })
    }

    pub(super) fn fence_everyone() {
        if registered() {
            // Registered, the command cannot fail (it was tried once).
            let _ = membarrier(MembarrierCommand::PrivateExpedited);
        }
    }
}

/// Without `membarrier` (and in loom's model) both halves are full fences.
#[cfg(any(not(target_os = "linux"), feature = "loom"))]
mod asymmetric {
    pub(super) fn registered() -> bool {
        false
    }

    pub(super) fn fence_everyone() {}
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Whom `mutex` is biased to.
    fn bias_of<T>(mutex: &Mutex<T>) -> usize {
        // SAFETY: only the bias is read; the lock is neither taken nor released.
        unsafe { mutex.raw() }.get().bias.load(Ordering::Relaxed)
    }

    /// Adds one to a plain (non-atomic) counter under the lock `rounds` times.
    fn add(counter: &Mutex<u64>, rounds: u64) {
        for _ in 0..rounds {
            let mut held = counter.lock();
            let seen = *held;
            std::hint::black_box(&mut *held);
            *held = seen + 1;
        }
    }

    /// This thread, the lock's owner, and `threads` others add to a counter under it, more
    /// threads than this machine has cores, so some are preempted while holding it.
    fn count_under_lock(owner_rounds: u64, threads: usize, rounds: u64) -> Arc<Mutex<u64>> {
        let counter = Arc::new(Mutex::new(0u64));
        drop(counter.lock()); // this thread owns it
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let counter = &counter;
                scope.spawn(move || add(counter, rounds));
            }
            add(&counter, owner_rounds);
        });
        assert_eq!(*counter.lock(), owner_rounds + threads as u64 * rounds);
        counter
    }

    #[test]
    fn holders_follow_one_another() {
        let counter = count_under_lock(20_000, 8, 20_000);
        assert_eq!(bias_of(&counter), SHARED);
    }

    #[test]
    fn the_owner_and_a_few_visits_follow_one_another() {
        for _ in 0..20 {
            let visits = (INTRUSIONS_BEFORE_SHARING - 1) as u64;
            let counter = count_under_lock(100_000, 1, visits);
            assert_eq!(bias_of(&counter), thread(), "a few visits leave it biased");
        }
    }

    #[test]
    fn the_first_thread_to_take_it_owns_it_and_others_share_it_after_visits() {
        let lock = Mutex::new(());
        drop(lock.lock());
        assert_eq!(bias_of(&lock), thread());
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..INTRUSIONS_BEFORE_SHARING {
                    drop(lock.lock());
                }
            });
        });
        assert_eq!(bias_of(&lock), SHARED);
        drop(lock.lock());
        assert!(!lock.is_locked());
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
    fn try_lock_fails_while_held_by_the_owner_or_another_thread() {
        let lock = Mutex::new(());
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        std::thread::scope(|scope| {
            scope.spawn(|| assert!(lock.try_lock().is_none()));
        });
        drop(held);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let visiting = lock.try_lock().expect("free");
                std::thread::scope(|inner| {
                    inner.spawn(|| assert!(lock.try_lock().is_none()));
                });
                drop(visiting);
            });
        });
        assert!(lock.try_lock().is_some());
    }
}

/// Loom models of the protocol: the owner and other threads never hold the lock together,
/// while the lock is biased and across its becoming shared.
#[cfg(all(test, feature = "loom"))]
mod model {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    /// Adds one to `count` under `lock`: loom reports two threads in at once.
    fn add(lock: &Biased, count: &UnsafeCell<u32>) {
        lock.lock();
        // SAFETY: under the lock, which is what the model checks.
        count.with_mut(|count| unsafe { *count += 1 });
        lock.unlock();
    }

    #[test]
    fn model_the_owner_and_a_visitor_exclude_each_other() {
        loom::model(|| {
            let lock = Arc::new(Biased::new());
            let count = Arc::new(UnsafeCell::new(0));
            add(&lock, &count); // this thread owns it
            let visitor = {
                let (lock, count) = (lock.clone(), count.clone());
                loom::thread::spawn(move || add(&lock, &count))
            };
            add(&lock, &count);
            visitor.join().unwrap();
            // The visit made the lock shared (one visit is enough under loom).
            add(&lock, &count);
            // SAFETY: every other thread has finished.
            assert_eq!(count.with(|count| unsafe { *count }), 4);
        });
    }
}
