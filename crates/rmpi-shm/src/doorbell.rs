//! A doorbell in shared memory: how a rank that ran out of work sleeps without missing the
//! message that would have woken it, while a busy rank pays nothing for it.
//!
//! The owner announces that it is about to sleep, looks for work once more, and only then
//! waits for the ring count to change. A party that gives the owner work (a message, or ring
//! space the owner waits for) publishes it first and then rings, which costs a barrier and a
//! load unless the owner announced sleep. The two barriers make the pair a Dekker handshake:
//! either the owner's last look sees the work, or the ringer sees the announcement. The
//! barriers are asymmetric (see [`sync::light_barrier`]): the ringer, on every message, pays
//! a compiler fence; the owner, once per sleep, makes the kernel fence every ringer.

use std::time::Duration;

use crate::sync::{self, AtomicU32, Ordering};

/// One rank's doorbell, on a cache line of its own.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    /// Non-zero while the owner sleeps or is about to.
    sleeping: AtomicU32,
    /// Counts rings; sleepers wait for it to change.
    rings: AtomicU32,
    /// Non-zero once the owner went away without shutting down. Its peers' helpers look
    /// now and then: where ranks are threads of one process, no process dies to tell them,
    /// and the owner's last records may not fit in a full ring.
    abandoned: AtomicU32,
    /// The core the owner last said it was on, plus one; 0 before it said (see
    /// [`crate::core_sharing`]).
    cpu: AtomicU32,
}

/// What the owner saw when it announced sleep; wait on it after the last look for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Announcement {
    /// The ring count at the announcement.
    pub(crate) seen: u32,
    /// Every ringer was fenced: a ring cannot be missed, so a wait may be long. Otherwise
    /// waits must be short (see [`Doorbell::wait`]).
    pub(crate) certain: bool,
}

impl Doorbell {
    /// Called after publishing work for the owner: wakes it if it sleeps.
    pub(crate) fn ring(&self) {
        sync::light_barrier();
        if self.sleeping.load(Ordering::Relaxed) != 0 {
            self.rings.fetch_add(1, Ordering::Release);
            sync::wake_all(&self.rings);
        }
    }

    /// The owner is about to sleep; it must look for work once more before waiting.
    pub(crate) fn announce_sleep(&self) -> Announcement {
        let seen = self.rings.load(Ordering::Acquire);
        self.sleeping.store(1, Ordering::Relaxed);
        let certain = sync::heavy_barrier();
        Announcement { seen, certain }
    }

    /// Whether someone rang since `announcement`.
    pub(crate) fn rung_since(&self, announcement: Announcement) -> bool {
        self.rings.load(Ordering::Acquire) != announcement.seen
    }

    /// Waits until rung since `announcement`, or `timeout` passes (or spuriously). If the
    /// announcement could not fence every ringer, it waits at most a millisecond: a ring may
    /// have been missed, and the caller looks for work again.
    pub(crate) fn wait(&self, announcement: Announcement, timeout: Duration) {
        let timeout = if announcement.certain {
            timeout
        } else {
            timeout.min(Duration::from_millis(1))
        };
        sync::wait(&self.rings, announcement.seen, timeout);
    }

    /// The owner is going away without shutting down.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(1, Ordering::Release);
    }

    /// Whether the owner went away without shutting down.
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire) != 0
    }

    /// The owner is on core `cpu`. Written only when it changes: ringers read this line.
    pub(crate) fn set_cpu(&self, cpu: usize) {
        let said = cpu as u32 + 1;
        if self.cpu.load(Ordering::Relaxed) != said {
            self.cpu.store(said, Ordering::Relaxed);
        }
    }

    /// The core the owner last said it was on.
    pub(crate) fn cpu(&self) -> Option<usize> {
        match self.cpu.load(Ordering::Relaxed) {
            0 => None,
            said => Some(said as usize - 1),
        }
    }

    /// The owner is awake and looking for work by itself.
    pub(crate) fn awake(&self) {
        // Ringers read this line on every message: write it only when it changes.
        if self.sleeping.load(Ordering::Relaxed) != 0 {
            self.sleeping.store(0, Ordering::Relaxed);
        }
    }
}
