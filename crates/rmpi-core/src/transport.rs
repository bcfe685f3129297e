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
use std::time::Duration;

use bytes::Bytes;

use crate::error::Result;
use crate::frame::{Frame, Header};
use crate::loan::{Loan, Loans};
use crate::payload::LentPayload;
#[cfg(doc)]
use crate::Error;

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

/// The buffer of a receive that is being waited for right now, offered to
/// [`FastPaths::try_recv_placing`] so that a payload can be copied once, from where it
/// arrived straight to where it goes, instead of into fresh memory first.
///
/// ```
/// use rmpi::transport::{Header, Placer};
/// /// A receive waiting for a message of tag 5 from rank 1, with a buffer for it.
/// struct Waiting { buf: Vec<u8> }
/// impl Placer for Waiting {
///     fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]> {
///         let fits = from == 1 && header.tag == 5 && header.len as usize == self.buf.len();
///         fits.then_some(&mut self.buf[..])
///     }
/// }
/// let mut waiting = Waiting { buf: vec![0; 4] };
/// let header = Header { kind: rmpi::transport::FrameKind::Data, context: 0, source: 1, tag: 5, sync_id: 0, len: 4 };
/// assert!(waiting.place(1, &header).is_some());
/// assert!(waiting.place(0, &header).is_none());
/// ```
pub trait Placer {
    /// A frame of `header` from rank `from` (in the transport's ranks) has arrived and its
    /// payload is not read yet. Returns where the payload goes, exactly `header.len` bytes,
    /// if the waiting receive matched it; the frame then belongs to that receive, and the
    /// transport reports it as an [`Event::Placed`]. `None` leaves the frame to the usual
    /// path.
    ///
    /// ```
    /// use rmpi::transport::{FrameKind, Header, Placer};
    /// // A receive of exactly 8 bytes with tag 3, from any rank.
    /// struct Eight([u8; 8]);
    /// impl Placer for Eight {
    ///     fn place(&mut self, _from: usize, header: &Header) -> Option<&mut [u8]> {
    ///         (header.tag == 3 && header.len == 8).then_some(&mut self.0[..])
    ///     }
    /// }
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 3, sync_id: 0, len: 8 };
    /// assert_eq!(Eight([0; 8]).place(0, &header).map(|buf| buf.len()), Some(8));
    /// ```
    fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]>;
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

/// Optional speed-ups a transport may offer on top of [`Transport`]: sending from a
/// borrowed payload, one copy for several receivers, lending the sender's memory, placing
/// payloads straight into a waiting receive's buffer, and how a wait may spin. Each method's
/// default is the plain path, correct for any transport; a transport implements the ones it
/// can do better and returns `Some(self)` from [`Transport::fast_paths`].
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
pub trait FastPaths: Transport {
    /// Like [`send`](Transport::send), for a payload the caller only lends for the call (a
    /// typed buffer being sent): a transport that can copy it straight to where it goes (a
    /// ring in shared memory) saves allocating a frame for it. The default copies it into a
    /// frame and sends that. `header.len` is set from the payload.
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
    fn send_copy(&self, dest: usize, header: Header, payload: &[u8]) -> Result<()> {
        self.send(dest, Frame::new(header, crate::pool::copy_of(payload)))
    }

    /// Sends a frame of `header` with `payload` (`header.len` is set from it) to each of
    /// `dests` (distinct world ranks, none this endpoint's own) in one copy that all of
    /// them read, if it can (shared memory's fan-out area): a broadcast's data, copied once
    /// instead of once per receiver. Returns `false` if it does not, and nothing was sent;
    /// the caller then sends another way. The default does not.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// // One copy for ranks 1 and 2 both where the transport can; else one send each.
    /// let payload = [7u8; 64];
    /// if !fast[0].fan_out(&[1, 2], header, &payload)? {
    ///     fast[0].send_copy(1, header, &payload)?;
    ///     fast[0].send_copy(2, header, &payload)?;
    /// }
    /// for rank in [1, 2] {
    ///     while !matches!(fast[rank].try_recv(&mut cx), Some(Event::Frame { from: 0, .. })) {}
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn fan_out(&self, dests: &[usize], header: Header, payload: &[u8]) -> Result<bool> {
        let _ = (dests, header, payload);
        Ok(false)
    }

    /// Lends `dest` the `header.len` bytes at `address` in this process as the payload of a
    /// frame of `header`, if `dest` can read them from here itself (see
    /// [`loan`](crate::loan)). Returns `false` if it does not lend them; the caller then
    /// sends a copy. A transport that lends keeps `loan` until `dest` has read the bytes, or
    /// can no longer read them, and then drops it: the caller waits for that before it
    /// writes there again. It never reads the bytes itself (they may be gone by the time it
    /// would). A transport that lends must also [`recall`](FastPaths::recall), and one that
    /// passes loans on to others must pass recalls on too. The default lends nothing.
    ///
    /// ```
    /// use rmpi::transport::{CollectiveComm, Loans};
    /// // Collective algorithms lend through CollectiveComm::lend_buf, which asks the transport;
    /// // in-process endpoints cannot lend, so the caller sends a copy instead.
    /// let results = rmpi::local::run(2, |comm| async move {
    ///     let (view, tag, loans) = (comm.collective_view(), comm.next_collective_tag(), Loans::new());
    ///     if comm.rank() == 0 {
    ///         let lent = view.lend_buf(&[1u32, 2], 1, tag, &loans)?;
    ///         assert!(!lent);
    ///         view.send_buf(&[1u32, 2], 1, tag).await?;
    ///     } else {
    ///         let mut got = [0u32; 2];
    ///         view.recv_into(&mut got, 0, tag).await?;
    ///     }
    ///     Ok::<_, rmpi::Error>(())
    /// });
    /// assert!(results.iter().all(Result::is_ok));
    /// ```
    fn lend(&self, dest: usize, header: Header, address: u64, loan: Loan) -> Result<bool> {
        let _ = (dest, header, address, loan);
        Ok(false)
    }

    /// Whether a typed-buffer send of `len` bytes to `dest` should rather be lent (see
    /// [`lend`](FastPaths::lend)) than copied, as things are now: one copy, by the receiver,
    /// against the transport's own way. The default says yes, leaving it to `lend`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// // A sender asks before each large typed-buffer send whether to lend or to copy.
    /// let payload = vec![1u8; 1 << 20];
    /// if !fast[0].prefers_loan(1, payload.len()) {
    ///     fast[0].send_copy(1, header, &payload)?;
    /// # while fast[1].try_recv(&mut cx).is_none() {}
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn prefers_loan(&self, dest: usize, len: usize) -> bool {
        let _ = (dest, len);
        true
    }

    /// Takes back the memory lent under `loans`, all of it within `payload`, before its
    /// borrowers have all read it: the caller is about to write to it (a send's future was
    /// dropped, or waited too long for a receiver). A borrower that has not begun reading
    /// must read a copy of its part of `payload` instead; one reading now is waited for (a
    /// copy's time, or until it dies). Every loan under `loans` is returned (dropped) when
    /// this returns. A transport that lends must implement it; the default, for those that
    /// lend nothing, does nothing.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// // Nothing was lent under these loans, so there is nothing to take back.
    /// fast[0].recall(&rmpi::transport::Loans::new(), &[0u8; 16]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn recall(&self, loans: &Loans, payload: &[u8]) {
        let _ = (loans, payload);
    }

    /// Like [`poll_recv`](Transport::poll_recv), but arranges the wake-up at once instead of
    /// waiting a little first. A [`Router`](crate::router::Router) calls it, so that one
    /// transport's patience (a shared-memory transport spinning or yielding its core) does
    /// not hold up the others' events, which may need the calling thread to arrive. The
    /// default is `poll_recv`, which suits transports that do not wait in it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// fast[0].send_copy(1, header, b"now")?;
    /// while fast[1].poll_recv_now(&mut cx).is_pending() {}
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn poll_recv_now(&self, cx: &mut Context<'_>) -> Poll<Event> {
        self.poll_recv(cx)
    }

    /// Returns the next event if one is ready now, without waiting. If none is, a transport
    /// that keeps a waker to call when events come keeps `cx`'s, as
    /// [`poll_recv`](Transport::poll_recv) does (it is the engine's, whichever task drains):
    /// a waker left behind by an earlier look must not be replaced by one that does nothing,
    /// or the event that completes a sleeping task's wait wakes nobody. rmpi-core drains
    /// ready events with it before deciding whether to wait. The default polls `poll_recv`
    /// with `cx`; transports whose `poll_recv` waits a little should answer at once here
    /// instead.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// assert!(fast[1].try_recv(&mut cx).is_none()); // nothing yet
    /// fast[0].send_copy(1, header, b"hi")?;
    /// while fast[1].try_recv(&mut cx).is_none() {}
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn try_recv(&self, cx: &mut Context<'_>) -> Option<Event> {
        match self.poll_recv(cx) {
            Poll::Ready(event) => Some(event),
            Poll::Pending => None,
        }
    }

    /// Like [`try_recv`](FastPaths::try_recv), offering `placer` each frame whose payload
    /// the transport can still copy anywhere. The default ignores the placer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// use rmpi::transport::Placer;
    /// struct Into4([u8; 4]);
    /// impl Placer for Into4 {
    ///     fn place(&mut self, _from: usize, header: &Header) -> Option<&mut [u8]> {
    ///         (header.len == 4).then_some(&mut self.0[..])
    ///     }
    /// }
    /// let mut waiting = Into4([0; 4]);
    /// fast[0].send_copy(1, header, b"abcd")?;
    /// let event = loop {
    ///     if let Some(event) = fast[1].try_recv_placing(&mut cx, &mut waiting) {
    ///         break event;
    ///     }
    /// };
    /// // Copied straight from the ring into the waiting buffer.
    /// assert!(matches!(event, Event::Placed { from: 0, placed: 4, .. }));
    /// assert_eq!(&waiting.0, b"abcd");
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn try_recv_placing(&self, cx: &mut Context<'_>, placer: &mut dyn Placer) -> Option<Event> {
        let _ = placer;
        self.try_recv(cx)
    }

    /// Waits, as [`poll_recv`](Transport::poll_recv) does, until an event is ready, but
    /// may leave it where it is: `Ready(None)` says to take it with
    /// [`try_recv_placing`](FastPaths::try_recv_placing), so that a receive waiting for it
    /// can be offered its payload. The default takes the event with `poll_recv`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// fast[0].send_copy(2, header, b"ready")?;
    /// let event = loop {
    ///     if let Poll::Ready(event) = fast[2].poll_ready(&mut cx) {
    ///         break event;
    ///     }
    /// };
    /// // `None`: the event waits to be taken with try_recv_placing.
    /// assert!(matches!(event, None | Some(Event::Frame { from: 0, .. })));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.poll_recv(cx).map(Some)
    }

    /// How long a wait that finds nothing may keep looking with
    /// [`try_recv_placing`](FastPaths::try_recv_placing), holding rmpi-core's lock, before it
    /// waits with [`poll_ready`](FastPaths::poll_ready). Worth it only for a transport whose
    /// events arrive without this thread's help, within microseconds (shared memory, with a
    /// core per rank): a receive then takes its message the moment it lands, without a
    /// return from `poll_ready` and the lock taken anew (an eighth of an 8-byte message's
    /// latency here). Such a transport's `poll_ready` need not spin again. The spinning
    /// wait asks again now and then, so a transport ends the spin early by answering zero
    /// (TCP does while a large payload streams in). The default, zero, never spins there.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::task::{Context, Poll, Waker};
    /// # use rmpi::transport::{Event, FastPaths, FrameKind, Header, Transport};
    /// # let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// // Three ranks as threads of this process, over shared memory, which has fast paths.
    /// let endpoints: Vec<Arc<rmpi::shm::ShmTransport>> =
    ///     rmpi::shm::ShmTransport::mesh(3, &options)?.into_iter().map(Arc::new).collect();
    /// let fast: Vec<Arc<dyn FastPaths>> = endpoints.iter().map(|e| e.clone().fast_paths().unwrap()).collect();
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 0, tag: 5, sync_id: 0, len: 0 };
    /// # let mut cx = Context::from_waker(Waker::noop());
    /// // A wait may look this long before it sleeps; never long, on any transport.
    /// assert!(fast[0].spin_budget() < std::time::Duration::from_secs(1));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    fn spin_budget(&self) -> Duration {
        Duration::ZERO
    }
}

/// A transport without fast paths, seen as one that takes the plain path for each.
struct Plain(Arc<dyn Transport>);

#[async_trait::async_trait]
impl Transport for Plain {
    fn rank(&self) -> usize {
        self.0.rank()
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        self.0.send(dest, frame)
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        self.0.poll_recv(cx)
    }

    async fn shutdown(&self) -> Result<()> {
        self.0.shutdown().await
    }
}

impl FastPaths for Plain {}

/// `transport` with its fast paths, or the plain path for each where it has none: what
/// rmpi-core drives, looked up once per endpoint.
pub(crate) fn with_fast_paths(transport: Arc<dyn Transport>) -> Arc<dyn FastPaths> {
    match transport.clone().fast_paths() {
        Some(fast) => fast,
        None => Arc::new(Plain(transport)),
    }
}
