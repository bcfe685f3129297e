//! The wakers of the tasks waiting on one rank, and the waker the transport is polled with.

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::sync::{unpoisoned, AtomicPtr, AtomicUsize, Mutex, Ordering};

/// The wakers of every task waiting on this rank. Woken as a whole by the transport (through
/// the waker made from it) and by any task whose progress completed someone else's wait.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    wakers: Mutex<Vec<Waker>>,
    /// How many wakers `wakers` holds, to see without the lock whether anyone else waits.
    count: AtomicUsize,
    /// The data pointer of the one waker `wakers` holds, if it holds exactly one (null
    /// otherwise): a task whose own waker that is sees without the lock that nobody else
    /// waits, as one task waiting on many requests (`wait_all`) does at every receive.
    sole: AtomicPtr<()>,
}

/// Whether two wakers wake the same task. [`Waker::will_wake`] also compares vtable
/// addresses, which are not unique: tokio's waker and its clone may have different ones. A
/// wait would then register its waker anew at every poll and wake itself after each
/// receive. Wakers on one non-null data pointer are taken to be the same task's.
fn same_task(a: &Waker, b: &Waker) -> bool {
    a.will_wake(b) || (!a.data().is_null() && a.data() == b.data())
}

/// More registered wakers than this and they are all woken and forgotten: a finished wait
/// leaves its waker behind, and some executors hand out a fresh waker for every poll, so the
/// list must not grow with the number of waits. Waking early is always allowed.
const MAX_WAKERS: usize = 32;

impl Waiters {
    /// Updates what is read of `wakers` without the lock; called under it at every change.
    pub(crate) fn publish(&self, wakers: &[Waker]) {
        self.count.store(wakers.len(), Ordering::Relaxed);
        let sole = match wakers {
            [only] => only.data().cast_mut(),
            _ => std::ptr::null_mut(),
        };
        self.sole.store(sole, Ordering::Relaxed);
    }

    /// Whether `waker`'s task is the only one registered, as last published.
    pub(crate) fn is_sole(&self, waker: &Waker) -> bool {
        !waker.data().is_null() && self.sole.load(Ordering::Relaxed).cast_const() == waker.data()
    }

    pub(crate) fn register(&self, waker: &Waker) {
        // Already the one registered: nothing to do. Whoever removes a waker wakes it, so a
        // removal racing with this look still gets the task polled again.
        if self.is_sole(waker) {
            return;
        }
        let mut wakers = unpoisoned(&self.wakers);
        if wakers.iter().any(|w| same_task(w, waker)) {
            return;
        }
        if wakers.len() >= MAX_WAKERS {
            let stale = std::mem::take(&mut *wakers);
            drop(wakers);
            for waker in stale {
                waker.wake();
            }
            wakers = unpoisoned(&self.wakers);
        }
        wakers.push(waker.clone());
        self.publish(&wakers);
    }

    pub(crate) fn wake_all(&self) {
        let wakers = {
            let mut wakers = unpoisoned(&self.wakers);
            let all = std::mem::take(&mut *wakers);
            self.publish(&wakers);
            all
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Wakes every waiter but the one `me` wakes (registered or not). The count is read
    /// without the lock: a waiter that registers meanwhile looks for events itself after
    /// registering.
    #[inline]
    pub(crate) fn wake_others(&self, me: &Waker, me_registered: bool) {
        if self.count.load(Ordering::Relaxed) <= usize::from(me_registered) {
            return; // nobody but the caller
        }
        self.wake_others_registered(me);
    }

    /// [`Waiters::wake_others`] once someone besides the caller may be registered: out of
    /// line, as it is rare.
    #[inline(never)]
    pub(crate) fn wake_others_registered(&self, me: &Waker) {
        if self.is_sole(me) {
            return; // the one waker registered is the caller's
        }
        let others = {
            let mut wakers = unpoisoned(&self.wakers);
            // Allocates only if someone else waits: usually the one waker is the caller's,
            // left from an earlier wait of the same task (`wait_all`'s requests).
            let mut others = Vec::new();
            let mut at = 0;
            while at < wakers.len() {
                if same_task(&wakers[at], me) {
                    at += 1;
                } else {
                    others.push(wakers.swap_remove(at));
                }
            }
            self.publish(&wakers);
            others
        };

        for waker in others {
            waker.wake();
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::task::{RawWaker, RawWakerVTable};

    /// Wakes counted in the `AtomicUsize` the data pointer points at.
    unsafe fn wake_counted(data: *const ()) {
        // SAFETY: every waker here points at a static counter.
        unsafe { &*(data as *const AtomicUsize) }.fetch_add(1, Ordering::Relaxed);
    }

    fn clone_first(data: *const ()) -> RawWaker {
        RawWaker::new(data, &FIRST)
    }

    fn clone_second(data: *const ()) -> RawWaker {
        RawWaker::new(data, &SECOND)
    }

    fn drop_nothing(_: *const ()) {}

    // Two vtables that do the same, at two addresses: as a runtime's waker and its clone may.
    static FIRST: RawWakerVTable =
        RawWakerVTable::new(clone_first, wake_counted, wake_counted, drop_nothing);
    static SECOND: RawWakerVTable =
        RawWakerVTable::new(clone_second, wake_counted, wake_counted, drop_nothing);

    #[test]
    fn a_task_registers_once_and_wakes_only_other_tasks() {
        static WAKES: AtomicUsize = AtomicUsize::new(0);
        let data = &WAKES as *const AtomicUsize as *const ();
        // SAFETY: the vtables' functions keep the contract: the data is a static counter.
        let (mine, lookalike) = unsafe {
            (
                Waker::from_raw(RawWaker::new(data, &FIRST)),
                Waker::from_raw(RawWaker::new(data, &SECOND)),
            )
        };
        assert!(!std::ptr::eq(&FIRST, &SECOND));
        let waiters = Waiters::default();
        waiters.register(&mine);
        waiters.register(&lookalike);
        assert_eq!(waiters.count.load(Ordering::Relaxed), 1);
        waiters.wake_others(&lookalike, true);
        assert_eq!(WAKES.load(Ordering::Relaxed), 0, "woke itself as another");
        waiters.wake_others(&mine, false);
        assert_eq!(
            WAKES.load(Ordering::Relaxed),
            0,
            "woke itself, unregistered"
        );

        static OTHER_WAKES: AtomicUsize = AtomicUsize::new(0);
        let other_data = &OTHER_WAKES as *const AtomicUsize as *const ();
        // SAFETY: as above.
        let other = unsafe { Waker::from_raw(RawWaker::new(other_data, &FIRST)) };
        waiters.register(&other);
        assert_eq!(waiters.count.load(Ordering::Relaxed), 2);
        waiters.wake_others(&mine, false);
        assert_eq!(
            OTHER_WAKES.load(Ordering::Relaxed),
            1,
            "another task not woken"
        );
        assert_eq!(WAKES.load(Ordering::Relaxed), 0);
        assert_eq!(
            waiters.count.load(Ordering::Relaxed),
            1,
            "mine stays registered"
        );
        waiters.register(&other);
        waiters.wake_all();
        assert_eq!(WAKES.load(Ordering::Relaxed), 1);
        assert_eq!(OTHER_WAKES.load(Ordering::Relaxed), 2);
        assert_eq!(waiters.count.load(Ordering::Relaxed), 0);
    }
}

/// Loom models: every interleaving of a waiting task and a task that completes its wait.
/// The engine's contract is that a waiter registers before it looks at the state, that
/// completions happen under the state's lock, and that whoever completes another's wait
/// wakes the others after releasing that lock; `state` stands for that lock here.
#[cfg(all(test, feature = "loom"))]
mod model {
    use super::*;
    use loom::sync::atomic::AtomicUsize as Counter;
    use loom::sync::Arc as LoomArc;

    /// A task's waker that counts its wakes.
    struct Task(Counter);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Task>, Waker) {
        let task = Arc::new(Task(Counter::new(0)));
        let waker = Waker::from(task.clone());
        (task, waker)
    }

    /// The waiter's side: register, then look under the state's lock.
    fn wait(waiters: &Waiters, state: &Mutex<bool>, waker: &Waker) -> bool {
        waiters.register(waker);
        *unpoisoned(state)
    }

    #[test]
    fn model_a_completion_by_another_task_wakes_a_waiter_that_missed_it() {
        loom::model(|| {
            let waiters = LoomArc::new(Waiters::default());
            let state = LoomArc::new(Mutex::new(false));
            let (completer, completer_waker) = task();
            let (waiter, waiter_waker) = task();
            // The completing task is itself registered from an earlier wait.
            waiters.register(&completer_waker);
            let other = {
                let (waiters, state) = (waiters.clone(), state.clone());
                loom::thread::spawn(move || {
                    *unpoisoned(&state) = true;
                    waiters.wake_others(&completer_waker, true);
                })
            };
            let saw = wait(&waiters, &state, &waiter_waker);
            other.join().unwrap();
            assert!(
                saw || waiter.0.load(Ordering::SeqCst) > 0,
                "a wake-up was lost"
            );
            assert_eq!(completer.0.load(Ordering::SeqCst), 0, "woke itself");
        });
    }

    #[test]
    fn model_the_transport_waking_everyone_reaches_a_waiter_that_missed_its_event() {
        loom::model(|| {
            let waiters = LoomArc::new(Waiters::default());
            let state = LoomArc::new(Mutex::new(false));
            let (first, first_waker) = task();
            let (second, second_waker) = task();
            let transport = {
                let (waiters, state) = (waiters.clone(), state.clone());
                loom::thread::spawn(move || {
                    *unpoisoned(&state) = true;
                    waiters.wake_all();
                })
            };
            let second_task = {
                let (waiters, state) = (waiters.clone(), state.clone());
                loom::thread::spawn(move || wait(&waiters, &state, &second_waker))
            };
            let first_saw = wait(&waiters, &state, &first_waker);
            let second_saw = second_task.join().unwrap();
            transport.join().unwrap();
            assert!(
                first_saw || first.0.load(Ordering::SeqCst) > 0,
                "first lost its wake-up"
            );
            assert!(
                second_saw || second.0.load(Ordering::SeqCst) > 0,
                "second lost its wake-up"
            );
        });
    }
}
