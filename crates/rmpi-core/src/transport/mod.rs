//! The `Transport` seam: the only thing a backend has to provide.
//!
//! A transport moves [`Frame`]s between the ranks of one job, reliably and in order per pair of
//! ranks. Everything that makes the job an MPI job (matching by source and tag, the unexpected
//! queue, probes, synchronous sends, communicators) lives above it in rmpi-core and is shared by
//! every transport, built-in or third-party.
//!
//! # Contract
//!
//! * Ranks are `0..size()`; `rank()` is this endpoint's own. rmpi-core never sends a frame to
//!   its own rank through the transport: it delivers those itself.
//! * [`Transport::send`] must not block. The transport takes the frame (buffering it if the
//!   peer cannot take it yet) and returns; frames to one destination arrive in the order they
//!   were sent. Sending to a peer that is known to be gone returns [`Error::PeerLost`] or
//!   [`Error::PeerFinished`].
//! * [`Transport::poll_recv`] returns the next [`Event`] from any peer, or `Pending` after
//!   arranging for `cx`'s waker to be woken when one is ready. rmpi-core always passes the same
//!   waker, from whichever task happens to drive progress, and wakes the right tasks itself.
//! * When a peer goes away, its frames that were already sent are delivered first, then one
//!   [`Event::PeerFinished`] (it shut down cleanly), [`Event::PeerLost`] (it crashed or its
//!   connection broke) or [`Event::PeerMalformed`] (it broke the protocol and was dropped).
//! * [`Transport::shutdown`] delivers whatever the transport still buffers before peers
//!   hear that this rank finished.
//!
//! That is all a transport must do. [`FastPaths`] holds what it may do better (copying a
//! borrowed payload straight to where it goes, lending the sender's memory, placing a
//! payload in a waiting receive's buffer, one copy for several receivers, spinning while a
//! receive waits); each of its methods has a correct default, and a transport that
//! implements some returns `Some(self)` from [`Transport::fast_paths`]. The
//! `rmpi-conformance` crate checks a transport against this contract.
//!
//! # A minimal plugin
//!
//! An in-memory transport in a few dozen lines; [`Comm::from_transport`] turns one endpoint per
//! rank into a world communicator, and [`local::run_on`](crate::local::run_on) runs a rank per
//! thread on them.
//!
//! ```
//! use rmpi::transport::{Event, Frame, Transport};
//! use rmpi::{Comm, Error};
//! use std::collections::VecDeque;
//! use std::sync::{Arc, Mutex};
//! use std::task::{Context, Poll, Waker};
//!
//! /// One inbox per rank; everybody can push into everybody's.
//! #[derive(Default)]
//! struct Inbox {
//!     events: VecDeque<Event>,
//!     waker: Option<Waker>,
//! }
//!
//! struct MemoryTransport {
//!     rank: usize,
//!     inboxes: Arc<Vec<Mutex<Inbox>>>,
//! }
//!
//! impl Transport for MemoryTransport {
//!     fn rank(&self) -> usize { self.rank }
//!     fn size(&self) -> usize { self.inboxes.len() }
//!
//!     fn send(&self, dest: usize, frame: Frame) -> Result<(), Error> {
//!         let mut inbox = self.inboxes[dest].lock().unwrap();
//!         inbox.events.push_back(Event::Frame { from: self.rank, frame });
//!         if let Some(waker) = inbox.waker.take() { waker.wake() }
//!         Ok(())
//!     }
//!
//!     fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
//!         let mut inbox = self.inboxes[self.rank].lock().unwrap();
//!         match inbox.events.pop_front() {
//!             Some(event) => Poll::Ready(event),
//!             None => {
//!                 inbox.waker = Some(cx.waker().clone());
//!                 Poll::Pending
//!             }
//!         }
//!     }
//! }
//!
//! let inboxes: Arc<Vec<Mutex<Inbox>>> = Arc::new((0..3).map(|_| Default::default()).collect());
//! let endpoints: Vec<Arc<dyn Transport>> = (0..3)
//!     .map(|rank| Arc::new(MemoryTransport { rank, inboxes: inboxes.clone() }) as _)
//!     .collect();
//!
//! // A ring: every rank passes its number to the right and hears from the left.
//! let heard = rmpi::local::run_on(endpoints, |world: Comm| async move {
//!     let right = (world.rank() + 1) % world.size();
//!     let left = (world.rank() + world.size() - 1) % world.size();
//!     world.send(&world.rank(), right, 0).await?;
//!     world.recv::<usize>(left, 0).await
//! });
//! let heard: Vec<usize> = heard.into_iter().collect::<Result<_, _>>()?;
//! assert_eq!(heard, vec![2, 0, 1]);
//! # Ok::<(), Error>(())
//! ```
//!
//! [`Comm::from_transport`]: crate::Comm::from_transport

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::error::Result;
use crate::frame::{Frame, Header};
use crate::payload::LentPayload;
#[cfg(doc)]
use crate::Error;

mod fast_paths;

pub(crate) use fast_paths::with_fast_paths;
pub use fast_paths::{FastPaths, Placer};

/// Something that happened on a transport, in the order it happened for each peer.
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use rmpi::local::LocalTransport;
/// use rmpi::transport::{Event, Frame, FrameKind, Header, Transport};
/// let endpoints = LocalTransport::mesh(2);
/// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
/// endpoints[0].send(1, Frame::new(header, rmpi::Bytes::from_static(b"hi")))?;
/// match endpoints[1].poll_recv(&mut Context::from_waker(Waker::noop())) {
///     Poll::Ready(Event::Frame { from, frame }) => assert_eq!((from, &frame.payload[..]), (0, &b"hi"[..])),
///     _ => panic!("the frame has arrived"),
/// }
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A frame arrived from world rank `from`.
    Frame {
        /// The sender's rank in the world.
        from: usize,
        /// What it sent.
        frame: Frame,
    },
    /// A frame arrived from world rank `from` whose payload is still with the sender, to be
    /// read when a receive needs it (see [`LentPayload`]).
    Lent {
        /// The sender's rank in the world.
        from: usize,
        /// The frame's header; `len` is the payload's length.
        header: Header,
        /// Where to read the payload from.
        payload: Box<dyn LentPayload>,
    },
    /// A frame arrived from world rank `from` whose payload the transport copied straight
    /// into the buffer a [`Placer`] gave it: all of it, or its first `placed` bytes, in which
    /// case an [`Event::Rest`] from the same peer brings the rest later.
    Placed {
        /// The sender's rank in the world.
        from: usize,
        /// The frame's header; `len` is the whole payload's length.
        header: Header,
        /// How many payload bytes are in the placer's buffer.
        placed: usize,
    },
    /// The rest of a payload that was [`Placed`](Event::Placed) in part: its bytes from
    /// `placed` on.
    Rest {
        /// The sender's rank in the world.
        from: usize,
        /// The bytes that did not go into the placer's buffer.
        payload: Bytes,
    },
    /// The peer shut down cleanly; every frame it sent has been delivered before this.
    PeerFinished {
        /// The peer's rank in the world.
        rank: usize,
    },
    /// The peer died or its connection broke.
    PeerLost {
        /// The peer's rank in the world.
        rank: usize,
    },
    /// The peer sent bytes that break the wire protocol; the transport dropped it. Operations
    /// involving it fail with [`Error::MalformedFrame`] naming it and saying what was wrong.
    PeerMalformed {
        /// The peer's rank in the world.
        rank: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Moves frames between the ranks of one job. See the [module documentation](self) for the
/// contract and a complete plugin.
///
/// ```
/// use std::sync::Arc;
/// use rmpi::transport::Transport;
/// // Any endpoints, one per rank, make a job; here the in-process ones.
/// let endpoints: Vec<Arc<dyn Transport>> =
///     rmpi::local::LocalTransport::mesh(2).into_iter().map(|t| Arc::new(t) as _).collect();
/// let sizes = rmpi::local::run_on(endpoints, |comm| async move { comm.size() });
/// assert_eq!(sizes, [2, 2]);
/// ```
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// This endpoint's rank in the world, in `0..size()`.
    ///
    /// ```
    /// use rmpi::transport::Transport;
    /// let endpoints = rmpi::local::LocalTransport::mesh(3);
    /// assert_eq!(endpoints[2].rank(), 2);
    /// ```
    fn rank(&self) -> usize;

    /// Number of ranks in the job.
    ///
    /// ```
    /// use rmpi::transport::Transport;
    /// let endpoints = rmpi::local::LocalTransport::mesh(3);
    /// assert_eq!(endpoints[0].size(), 3);
    /// ```
    fn size(&self) -> usize;

    /// Hands `frame` over for delivery to world rank `dest` (never this endpoint's own rank).
    /// Must not block; must keep per-destination order.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use rmpi::local::LocalTransport;
    /// use rmpi::transport::{Event, Frame, FrameKind, Header, Transport};
    /// let endpoints = LocalTransport::mesh(2);
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// endpoints[0].send(1, Frame::new(header, rmpi::Bytes::from_static(b"hi")))?;
    /// match endpoints[1].poll_recv(&mut Context::from_waker(Waker::noop())) {
    ///     Poll::Ready(Event::Frame { from, frame }) => assert_eq!((from, &frame.payload[..]), (0, &b"hi"[..])),
    ///     _ => panic!("the frame has arrived"),
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn send(&self, dest: usize, frame: Frame) -> Result<()>;

    /// Returns the next event from any peer, or registers `cx`'s waker and returns `Pending`.
    /// rmpi-core calls it when a wait cannot complete without news, so this is where a
    /// transport may spin or yield a little before arranging to be woken.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use rmpi::local::LocalTransport;
    /// use rmpi::transport::{Event, Frame, FrameKind, Header, Transport};
    /// let endpoints = LocalTransport::mesh(2);
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// endpoints[0].send(1, Frame::new(header, rmpi::Bytes::from_static(b"hi")))?;
    /// match endpoints[1].poll_recv(&mut Context::from_waker(Waker::noop())) {
    ///     Poll::Ready(Event::Frame { from, frame }) => assert_eq!((from, &frame.payload[..]), (0, &b"hi"[..])),
    ///     _ => panic!("the frame has arrived"),
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event>;

    /// Delivers everything still buffered and tells the peers this rank is finished. Called
    /// once when a rank's program is done with the job; the default does nothing, which suits
    /// transports whose `send` never buffers.
    ///
    /// ```
    /// use rmpi::transport::Transport;
    /// let endpoints = rmpi::local::LocalTransport::mesh(1);
    /// // Run once a rank is done; Comm::finalize calls it.
    /// let done = rmpi::local::run(1, |_comm| async { endpoints[0].shutdown().await });
    /// assert!(done[0].is_ok());
    /// ```
    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }
    /// The fast paths this transport offers beyond the contract ([`FastPaths`]), if it
    /// implements them: `Some(self)`. The default, `None`, has rmpi-core take the plain
    /// path for each, which is always correct.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Waker};
    /// use rmpi::shm::{ShmOptions, ShmTransport};
    /// use rmpi::transport::{Event, FrameKind, Header, Transport};
    /// let options = ShmOptions::from_config(&rmpi::config::Config::default());
    /// let mut endpoints = ShmTransport::mesh(2, &options)?;
    /// let (receiver, sender) = (endpoints.pop().unwrap(), Arc::new(endpoints.pop().unwrap()));
    /// let fast = sender.fast_paths().expect("shared memory has fast paths");
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// // Copied from the caller's slice straight into the ring: no frame is allocated.
    /// fast.send_copy(1, header, b"abc")?;
    /// let event = loop {
    ///     if let Poll::Ready(event) = receiver.poll_recv(&mut Context::from_waker(Waker::noop())) {
    ///         break event;
    ///     }
    /// };
    /// assert!(matches!(event, Event::Frame { from: 0, .. }));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn fast_paths(self: Arc<Self>) -> Option<Arc<dyn FastPaths>> {
        None
    }
}
