//! An example of a transport written outside rmpi, against `rmpi::transport` alone: each
//! rank of a job of threads has a mailbox, and sending puts a frame in the receiver's.
//! It implements only what the seam requires (`rank`, `size`, `send`, `poll_recv`) and
//! tells its peers when it goes (dropped: finished, or lost if its thread panicked).
//! `tests/conformance.rs` runs rmpi's conformance checks against it.
//!
//! ```
//! use std::sync::Arc;
//! use rmpi::transport::{Bootstrap, InProcess};
//! use rmpi_example_mailbox::Mailbox;
//!
//! let jobs = InProcess::job(2, "doc");
//! let endpoints: Vec<Arc<dyn rmpi::transport::Transport>> =
//!     jobs.iter().map(|b| Arc::new(Mailbox::join(b)) as _).collect();
//! let got = rmpi::local::run_on(endpoints, |world| async move {
//!     let right = (world.rank() + 1) % world.size();
//!     world.send(&world.rank(), right, 0).await?;
//!     world.recv::<usize>((world.rank() + 1) % world.size(), 0).await
//! });
//! assert_eq!(got.into_iter().collect::<rmpi::Result<Vec<_>>>()?, vec![1, 0]);
//! # Ok::<(), rmpi::Error>(())
//! ```
#![deny(missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use rmpi::transport::{Bootstrap, Event, Frame, Transport};
use rmpi::{Error, Result};

#[derive(Default)]
struct Slot {
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// The rank this mailbox belongs to has gone: frames for it are refused.
    closed: bool,
}

/// The mailboxes of one job, one per rank.
type Mailboxes = Arc<Vec<Mutex<Slot>>>;

/// Every job's mailboxes in this process, by job id: how the ranks find each other.
fn jobs() -> &'static Mutex<HashMap<String, Mailboxes>> {
    static JOBS: OnceLock<Mutex<HashMap<String, Mailboxes>>> = OnceLock::new();
    JOBS.get_or_init(Default::default)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One rank's endpoint.
pub struct Mailbox {
    rank: usize,
    boxes: Mailboxes,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("rank", &self.rank)
            .field("size", &self.size())
            .finish()
    }
}

impl Mailbox {
    /// The endpoint of `bootstrap`'s rank, in the job of threads it names.
    pub fn join(bootstrap: &dyn Bootstrap) -> Mailbox {
        let boxes = lock(jobs())
            .entry(bootstrap.job_id().to_owned())
            .or_insert_with(|| {
                Arc::new((0..bootstrap.size()).map(|_| Default::default()).collect())
            })
            .clone();
        Mailbox {
            rank: bootstrap.rank(),
            boxes,
        }
    }

    fn deliver(&self, dest: usize, event: Event) -> Result<()> {
        let mut slot = lock(&self.boxes[dest]);
        if slot.closed {
            return Err(Error::PeerFinished { rank: dest });
        }
        slot.events.push_back(event);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
        Ok(())
    }
}

impl Transport for Mailbox {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.boxes.len()
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        if dest >= self.size() {
            return Err(Error::InvalidRank {
                rank: dest,
                size: self.size(),
            });
        }
        self.deliver(
            dest,
            Event::Frame {
                from: self.rank,
                frame,
            },
        )
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        let mut slot = lock(&self.boxes[self.rank]);
        match slot.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Mailbox {
    /// Tells every peer this rank is gone, after everything it sent.
    fn drop(&mut self) {
        lock(&self.boxes[self.rank]).closed = true;
        let lost = std::thread::panicking();
        for peer in (0..self.size()).filter(|&p| p != self.rank) {
            let event = match lost {
                true => Event::PeerLost { rank: self.rank },
                false => Event::PeerFinished { rank: self.rank },
            };
            let _ = self.deliver(peer, event);
        }
    }
}
