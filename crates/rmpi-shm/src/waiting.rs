//! Waiting for news: spinning, yielding, then sleeping on the doorbell, with a helper thread
//! that sleeps there for the rank and watches that peers are alive.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rmpi_core::lock::unpoisoned as lock;
use rustix::process::Pid;

use crate::core_sharing::{Moves, GAVE_AWAY};
use crate::doorbell::Announcement;
use crate::segment::Segment;
use crate::sync::{self, AtomicU32, Ordering};
use crate::ShmTransport;

/// What the helper thread and the rank share.
#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) waker: Mutex<Option<Waker>>,
    pub(crate) armed: AtomicBool,
    pub(crate) announcement: AtomicU32,
    /// The announcement fenced every ringer (see [`Announcement::certain`]).
    pub(crate) certain: AtomicBool,
    pub(crate) stop: AtomicBool,
    /// Peers found dead, not yet reported.
    pub(crate) deaths: Mutex<Vec<usize>>,
    pub(crate) news: AtomicBool,
    /// When the rank last moved off a core it shared with a peer.
    pub(crate) moves: Moves,
}

impl Watch {
    pub(crate) fn wake(&self) {
        self.armed.store(false, Ordering::Release);
        if let Some(waker) = lock(&self.waker).take() {
            waker.wake();
        }
    }
}

impl ShmTransport {
    /// Looks for something with `look`, spinning for `spin` and then yielding for
    /// `yield_for` while there is nothing (spinning only when there are cores to spare),
    /// then arranges for the helper thread to sleep on the doorbell and wake `cx`.
    pub(crate) fn wait_for<T>(
        &self,
        cx: &mut Context<'_>,
        spin: Duration,
        yield_for: Duration,
        mut look: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        let bell = self.segment.doorbell(self.rank);
        self.watch.armed.store(false, Ordering::Release);
        bell.awake();
        if let Some(found) = look() {
            return Poll::Ready(found);
        }
        let started = Instant::now();
        let mut spinning = !spin.is_zero();
        for round in 0u32.. {
            // Reading the clock costs as much as a look at the rings: while spinning, only
            // every 16th round does.
            if !spinning || round % 16 == 0 {
                let waited = started.elapsed();
                if waited >= spin + yield_for {
                    break;
                }
                spinning = waited < spin;
            }
            if spinning {
                std::hint::spin_loop();
            } else if self.spin.is_zero() {
                std::thread::yield_now();
            } else {
                // Ranks have cores of their own: one this yield gave its core to may be a
                // peer that should not be there (see `core_sharing`).
                let yielded = Instant::now();
                std::thread::yield_now();
                if yielded.elapsed() >= GAVE_AWAY {
                    self.gave_core_away();
                }
            }
            if let Some(found) = look() {
                return Poll::Ready(found);
            }
        }
        *lock(&self.watch.waker) = Some(cx.waker().clone());
        let announcement = bell.announce_sleep();
        if let Some(found) = look() {
            bell.awake();
            return Poll::Ready(found);
        }
        self.watch
            .certain
            .store(announcement.certain, Ordering::Relaxed);
        self.watch
            .announcement
            .store(announcement.seen, Ordering::Release);
        self.watch.armed.store(true, Ordering::Release);
        if let Some(helper) = lock(&self.helper).as_ref() {
            helper.thread().unpark();
        }
        Poll::Pending
    }

    pub(crate) fn stop_helper(&self) {
        self.watch.stop.store(true, Ordering::Release);
        if let Some(helper) = lock(&self.helper).take() {
            helper.thread().unpark();
            let _ = helper.join();
        }
    }
}

/// The helper thread: sleeps on the doorbell for the rank when it is armed, and checks
/// every so often that the peers are alive.
pub(crate) fn watch_over(rank: usize, segment: Arc<Segment>, watch: Arc<Watch>, pids: Vec<Pid>) {
    const PATIENCE: Duration = Duration::from_millis(50);
    let bell = segment.doorbell(rank);
    let mut buried = vec![false; pids.len()];
    buried[rank] = true;
    let mut last_check = Instant::now();
    while !watch.stop.load(Ordering::Acquire) {
        if watch.armed.load(Ordering::Acquire) {
            let seen = Announcement {
                seen: watch.announcement.load(Ordering::Acquire),
                certain: watch.certain.load(Ordering::Relaxed),
            };
            bell.wait(seen, PATIENCE);
            // An uncertain announcement may have missed a ring: the rank looks again anyway.
            let look = bell.rung_since(seen) || !seen.certain;
            if look && watch.armed.load(Ordering::Acquire) {
                // The rank's sleep ends here: ringers need not wake anyone until it
                // announces the next one. Left set, the flag would cost every ringer a
                // system call for as long as the rank's waits end within their spin.
                bell.awake();
                watch.wake();
            }
        } else {
            std::thread::park_timeout(PATIENCE);
        }
        if last_check.elapsed() >= PATIENCE {
            last_check = Instant::now();
            let mut found = false;
            for (peer, &pid) in pids.iter().enumerate() {
                let gone = || !sync::alive(pid) || segment.doorbell(peer).abandoned();
                if !buried[peer] && gone() {
                    buried[peer] = true;
                    lock(&watch.deaths).push(peer);
                    found = true;
                }
            }
            if found {
                watch.news.store(true, Ordering::Release);
                watch.wake();
            }
        }
    }
}
