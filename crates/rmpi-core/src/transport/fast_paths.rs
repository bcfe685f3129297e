//! What a transport may do better than the plain path: [`FastPaths`], each of whose methods
//! has a correct default, and the [`Placer`] through which a waiting receive offers its
//! buffer.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Event, Transport};
use crate::error::Result;
use crate::frame::{Frame, Header};
use crate::loan::{Loan, Loans};
#[cfg(doc)]
use crate::Error;

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

    /// All of the payload of the frame from `from` with `header`, which
    /// [`place`](Placer::place) last took, is in the buffer it gave. A placer that
    /// completes that receive here says `true`, and the transport goes on to its next
    /// frame instead of reporting this one as an [`Event::Placed`]: a window of messages
    /// then costs the waiting side one look, not one per message. The default says
    /// `false`, and every placement is reported.
    ///
    /// ```
    /// use rmpi::transport::{FrameKind, Header, Placer};
    /// /// Ten receives of 8 bytes each, filled in turn; each one placed is done at once.
    /// struct Window { bufs: Vec<[u8; 8]>, filled: usize }
    /// impl Placer for Window {
    ///     fn place(&mut self, _from: usize, header: &Header) -> Option<&mut [u8]> {
    ///         let fits = header.len == 8 && self.filled < self.bufs.len();
    ///         fits.then(|| &mut self.bufs[self.filled][..])
    ///     }
    ///     fn placed_whole(&mut self, _from: usize, _header: &Header) -> bool {
    ///         self.filled += 1;
    ///         true
    ///     }
    /// }
    /// let mut window = Window { bufs: vec![[0; 8]; 10], filled: 0 };
    /// let header = Header { kind: FrameKind::Data, context: 0, source: 1, tag: 5, sync_id: 0, len: 8 };
    /// window.place(1, &header).unwrap().copy_from_slice(b"rmpi-msg");
    /// assert!(window.placed_whole(1, &header));
    /// assert_eq!((window.filled, &window.bufs[0]), (1, b"rmpi-msg"));
    /// ```
    fn placed_whole(&mut self, from: usize, header: &Header) -> bool {
        let _ = (from, header);
        false
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
