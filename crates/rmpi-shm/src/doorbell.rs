//! A doorbell in shared memory: how a rank that ran out of work sleeps without missing the
//! message that would have woken it, while a busy rank pays nothing for it.
//!
//! The owner announces that it is about to sleep, looks for work once more, and only then
//! waits for the ring count to change. A party that gives the owner work (a message, or ring
//! space the owner waits for) publishes it first and then rings, which costs a fence and a
//! load unless the owner announced sleep. The two fences make the pair a Dekker handshake:
//! either the owner's last look sees the work, or the ringer sees the announcement.

use std::time::Duration;

use crate::sync::{self, fence, AtomicU32, Ordering};

/// One rank's doorbell, on a cache line of its own.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    /// Non-zero while the owner sleeps or is about to.
    sleeping: AtomicU32,
    /// Counts rings; sleepers wait for it to change.
    rings: AtomicU32,
}

/// What the owner saw when it announced sleep; wait on it after the last look for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announcement(pub(crate) u32);

impl Doorbell {
    /// Called after publishing work for the owner: wakes it if it sleeps.
    pub(crate) fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) != 0 {
            self.rings.fetch_add(1, Ordering::Release);
            sync::wake_all(&self.rings);
        }
    }

    /// The owner is about to sleep; it must look for work once more before waiting.
    pub(crate) fn announce_sleep(&self) -> Announcement {
        let seen = self.rings.load(Ordering::Acquire);
        self.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Announcement(seen)
    }

    /// Whether someone rang since `announcement`.
    pub(crate) fn rung_since(&self, announcement: Announcement) -> bool {
        self.rings.load(Ordering::Acquire) != announcement.0
    }

    /// Waits until rung since `announcement`, or `timeout` passes (or spuriously).
    pub(crate) fn wait(&self, announcement: Announcement, timeout: Duration) {
        sync::wait(&self.rings, announcement.0, timeout);
    }

    /// The owner is awake and looking for work by itself.
    pub(crate) fn awake(&self) {
        // Ringers read this line on every message: write it only when it changes.
        if self.sleeping.load(Ordering::Relaxed) != 0 {
            self.sleeping.store(0, Ordering::Relaxed);
        }
    }
}
