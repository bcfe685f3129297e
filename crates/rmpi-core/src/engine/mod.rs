//! The progress engine: one per rank, shared by all of its communicators.
//!
//! There is no background task. Whichever future is waiting (a receive, a probe, a synchronous
//! send) drives progress itself: it drains the transport's events into the [`Matcher`], answers
//! synchronous sends, notes departed peers, and then looks for its own outcome. This keeps
//! cross-thread wake-ups off the hot path (a rank that is already polling never needs one) and
//! makes rmpi-core independent of any particular executor.
//!
//! The transport is always polled with one waker, the engine's own [`Waiters`], which wakes
//! every task currently waiting on this rank. A waiting future registers its waker *before*
//! draining, so an event that arrives between the drain and the return of `Pending` still
//! wakes it.

mod arrival;
mod offered;
mod receives;
#[cfg(test)]
mod simulation;
mod state;
mod waiters;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::frame::{Frame, FrameKind, Header};
use crate::loan::Loans;
use crate::lock;
use crate::matching::{Envelope, Pattern, PostId};
use crate::transport::{FastPaths, Transport};

pub(crate) use arrival::{Arrival, Awaited};
pub(crate) use offered::Offers;
use state::{probe, unsatisfiable, Outbox, State};
use waiters::Waiters;

/// Events drained per poll before yielding, so a flood from peers cannot starve the executor.
const DRAIN_BUDGET: usize = 256;

/// What a [`Engine::drain`] did.
struct Drained {
    /// How many waits completed in the engine's tables.
    completed: usize,
    /// How many offered receives had their messages placed whole: those receives are over
    /// and gone from [`State::recvs`].
    placed: usize,
    /// It stopped before the transport ran out of events.
    stopped_early: bool,
    /// The awaited receive's message, if it was placed whole: that receive is over and
    /// gone from [`State::recvs`].
    mine: Option<Arrival>,
}

impl Drained {
    fn stopped(completed: usize, placed: usize, stopped_early: bool) -> Drained {
        Drained {
            completed,
            placed,
            stopped_early,
            mine: None,
        }
    }
}

/// The receive a wait is for, and the receives whose buffers it offers the transport:
/// its own, or those of a wait over several (the first of which is then `id`).
struct AwaitedReceive<'r, O: ?Sized> {
    id: PostId,
    /// The buffer of a receive's own wait, if it has one.
    buf: Option<&'r mut [u8]>,
    /// The receives of a wait over several.
    offers: Option<&'r mut O>,
}

/// What a wait for something other than a receive awaits.
const NO_RECEIVE: Option<AwaitedReceive<'static, dyn Offers>> = None;

/// One rank's matching state and its transport.
pub(crate) struct Engine {
    /// The transport, with its fast paths (or the plain path for each).
    transport: Arc<dyn FastPaths>,
    rank: usize,
    state: lock::Mutex<State>,
    /// Some peer has departed (`State::departed` is not empty): until then a send need not
    /// take the lock to look.
    anyone_departed: AtomicBool,
    waiters: Arc<Waiters>,
    progress_waker: Waker,
    /// What this rank's program waits for, for deadlock reports.
    waits: Arc<crate::waits::Registry>,
    /// [`State::events`] as of the last look at the transport, readable without the lock
    /// (a watcher holding the lock could be descheduled with it, stalling the rank).
    events: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rank", &self.rank)
            .field("size", &self.transport.size())
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(transport: Arc<dyn Transport>) -> Engine {
        let waiters = Arc::new(Waiters::default());
        Engine {
            rank: transport.rank(),
            transport: crate::transport::with_fast_paths(transport),
            state: lock::Mutex::new(State::default()),
            anyone_departed: AtomicBool::new(false),
            progress_waker: Waker::from(waiters.clone()),
            waiters,
            waits: Arc::default(),
            events: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn rank(&self) -> usize {
        self.rank
    }

    pub(crate) fn size(&self) -> usize {
        self.transport.size()
    }

    /// Sets the most the unexpected queue may hold (see [`Error::Flooded`](crate::Error::Flooded)).
    pub(crate) fn limit_unexpected(&self, bytes: usize) {
        self.lock().backlog.limit = bytes as u64;
    }

    /// The operations this rank's program is blocked in.
    pub(crate) fn waits(&self) -> &Arc<crate::waits::Registry> {
        &self.waits
    }

    /// Wakes every task waiting on this rank, to poll its operations again.
    pub(crate) fn wake_waiting(&self) {
        self.waiters.wake_all();
    }

    /// How many transport events this rank has taken in: unchanged while nothing reaches it.
    pub(crate) fn progress(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    #[inline]
    fn lock(&self) -> lock::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Sends a frame to world rank `dest`; a frame to this rank is matched right here.
    pub(crate) fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        if dest == self.rank {
            let mut outbox = Outbox::new();
            let completed = self
                .lock()
                .accept(Arrival::of(self.rank, frame), &mut outbox);
            self.finish(outbox, completed);
            return Ok(());
        }
        self.check_departed(dest)?;
        self.transport.send(dest, frame)
    }

    /// Sends a frame of `header` and a copy of `payload` to world rank `dest`, letting the
    /// transport copy the payload straight to where it goes.
    pub(crate) fn send_copy(&self, dest: usize, header: Header, payload: &[u8]) -> Result<()> {
        if dest == self.rank {
            return self.send(dest, Frame::new(header, crate::pool::copy_of(payload)));
        }
        self.check_departed(dest)?;
        self.transport.send_copy(dest, header, payload)
    }

    /// Sends `payload` as the payload of a frame of `header` to each of the world ranks
    /// `dests` (distinct) in one copy they all read, if the transport can (see
    /// [`FastPaths::fan_out`]); `false` if it cannot, or one of them departed (each send
    /// then says so), and nothing was sent.
    pub(crate) fn fan_out(&self, dests: &[usize], header: Header, payload: &[u8]) -> Result<bool> {
        if dests.contains(&self.rank) {
            return Ok(false);
        }
        if dests.iter().any(|&dest| self.check_departed(dest).is_err()) {
            return Ok(false);
        }
        let header = Header {
            len: payload.len() as u64,
            ..header
        };
        self.transport.fan_out(dests, header, payload)
    }

    /// Lends `payload` in place to world rank `dest` as the payload of a frame of `header`,
    /// if the transport can (see [`crate::loan`]); `false` if it cannot, and nothing was sent.
    pub(crate) fn lend(
        &self,
        dest: usize,
        header: Header,
        payload: &[u8],
        loans: &Loans,
    ) -> Result<bool> {
        if dest == self.rank {
            return Ok(false);
        }
        self.check_departed(dest)?;
        let header = Header {
            len: payload.len() as u64,
            ..header
        };
        let address = payload.as_ptr() as u64;
        self.transport
            .lend(dest, header, address, loans.lend_to(dest))
    }

    /// Whether a typed-buffer send of `len` bytes to world rank `dest` should be lent (see
    /// [`FastPaths::prefers_loan`]); never to this rank.
    pub(crate) fn prefers_loan(&self, dest: usize, len: usize) -> bool {
        dest != self.rank && self.transport.prefers_loan(dest, len)
    }

    /// Takes back what was lent under `loans`, all of it within `payload` (see
    /// [`FastPaths::recall`]).
    pub(crate) fn recall(&self, loans: &Loans, payload: &[u8]) {
        self.transport.recall(loans, payload);
    }

    /// Ready once every loan in `loans` is returned; an error naming a borrower that
    /// departed with one still out (one that returned its loans may leave).
    pub(crate) fn poll_settled(&self, loans: &Loans, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if loans.settled() {
            return Poll::Ready(Ok(()));
        }
        // Another thread may take in the releases: then the last one wakes this task.
        loans.wake_when_settled(cx.waker());
        self.poll_with(cx, NO_RECEIVE, |state, _, _| {
            if loans.settled() {
                return Some(Ok(()));
            }
            if state.departed.is_empty() {
                return None;
            }
            let holders = loans.holders();
            let departed = holders
                .iter()
                .find_map(|h| state.departed.get(h).map(|how| (h, how)));
            departed.map(|(&rank, how)| Err(how.error(rank)))
        })
    }

    /// An error if world rank `dest` has departed; without the lock until some peer has.
    #[inline]
    fn check_departed(&self, dest: usize) -> Result<()> {
        if self.anyone_departed.load(Ordering::Acquire) {
            return self.check_departures(dest);
        }
        Ok(())
    }

    /// [`Engine::check_departed`] once some peer has departed: out of line, so that every
    /// send costs one load until then.
    #[inline(never)]
    fn check_departures(&self, dest: usize) -> Result<()> {
        match self.lock().departed.get(&dest) {
            Some(how) => Err(how.error(dest)),
            None => Ok(()),
        }
    }

    /// Sends `frame` as a synchronous message; poll [`Engine::poll_sync`] with the returned id
    /// to learn when a receive has matched it.
    pub(crate) fn start_sync_send(&self, dest: usize, mut frame: Frame) -> Result<u64> {
        let sync_id = self.lock().start_sync(dest);
        frame.header.kind = FrameKind::SyncData;
        frame.header.sync_id = sync_id;
        if let Err(e) = self.send(dest, frame) {
            self.lock().forget_sync(sync_id);
            return Err(e);
        }
        Ok(sync_id)
    }

    pub(crate) fn poll_sync(&self, sync_id: u64, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_with(cx, NO_RECEIVE, |state, _, _| state.take_sync(sync_id))
    }

    pub(crate) fn forget_sync(&self, sync_id: u64) {
        self.lock().forget_sync(sync_id);
    }

    /// Posts a receive now (so posting order is call order) and returns its id.
    pub(crate) fn post_recv(&self, pattern: Pattern, awaited: Awaited) -> PostId {
        let mut outbox = Outbox::new();
        let id = self.lock().post_recv(pattern, awaited, &mut outbox);
        self.finish(outbox, 0);
        id
    }

    pub(crate) fn poll_recv(&self, id: PostId, cx: &mut Context<'_>) -> Poll<Result<Arrival>> {
        let receive = Some(AwaitedReceive::<dyn Offers> {
            id,
            buf: None,
            offers: None,
        });
        self.poll_with(cx, receive, |state, _, _| state.recvs.take_outcome(id))
    }

    /// Like [`Engine::poll_recv`] for a receive into `buf`, which the transport may copy the
    /// payload straight into (then the arrival's payload says it is already there).
    pub(crate) fn poll_recv_into(
        &self,
        id: PostId,
        buf: &mut [u8],
        cx: &mut Context<'_>,
    ) -> Poll<Result<Arrival>> {
        let receive = Some(AwaitedReceive::<dyn Offers> {
            id,
            buf: Some(buf),
            offers: None,
        });
        self.poll_with(cx, receive, |state, mine, _| state.recvs.outcome(id, mine))
    }

    /// Withdraws a receive whose future was dropped. A message it already matched goes back
    /// in its place, for the next receive it fits (see [`State::cancel_recv`]); `buf` is
    /// the receive's buffer, where the transport may have placed part of it.
    pub(crate) fn cancel_recv(&self, id: PostId, buf: Option<&[u8]>) {
        let completed = self.lock().cancel_recv(id, buf);
        self.finish(Outbox::new(), completed);
    }

    /// The envelope and size of the first unexpected message matching `pattern`, after taking
    /// in whatever the transport has ready. Never waits.
    pub(crate) fn iprobe(&self, pattern: &Pattern) -> Option<(Envelope, usize)> {
        let mut state = self.lock();
        let mut outbox = Outbox::new();
        let nothing: Option<&mut AwaitedReceive<'_, dyn Offers>> = None;
        let completed = self.drain(&mut state, &mut outbox, nothing).completed;
        let found = probe(&state, pattern);
        self.events.store(state.events, Ordering::Relaxed);
        drop(state);
        self.finish(outbox, completed);
        found
    }

    pub(crate) fn poll_probe(
        &self,
        pattern: &Pattern,
        awaited: &Awaited,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(Envelope, usize)>> {
        self.poll_with(cx, NO_RECEIVE, |state, _, _| match probe(state, pattern) {
            Some(found) => Some(Ok(found)),
            None => unsatisfiable(&state.departed, awaited).map(Err),
        })
    }

    /// Delivers whatever the transport still buffers and tells peers this rank is done.
    pub(crate) async fn shutdown(&self) -> Result<()> {
        self.transport.shutdown().await
    }

    /// The common shape of every wait: look for the outcome; if absent, take in the events
    /// that are ready and look again; if still absent, register the waker and do that once
    /// more (so whatever comes after it wakes this task), and keep doing it for the
    /// transport's spin budget if it has one; then wait on the transport and repeat with
    /// what it brings. A message already there thus ends the wait under one lock, without
    /// the waker list. A receive gives itself as the
    /// `receive` awaited, so taking in events stops at its message (and a receive into a
    /// buffer can have that message copied straight there).
    fn poll_with<T, O: Offers + ?Sized>(
        &self,
        cx: &mut Context<'_>,
        mut receive: Option<AwaitedReceive<'_, O>>,
        mut outcome: impl FnMut(&mut State, Option<Arrival>, Option<&O>) -> Option<T>,
    ) -> Poll<T> {
        fn offers<'r, O: ?Sized>(receive: &'r Option<AwaitedReceive<'_, O>>) -> Option<&'r O> {
            receive
                .as_ref()
                .and_then(|receive| receive.offers.as_deref())
        }
        let mut state = self.lock();
        if let Some(done) = outcome(&mut state, None, offers(&receive)) {
            return Poll::Ready(done);
        }
        let mut registered = false;
        let mut spun = false;
        let mut waited = None;
        loop {
            let mut outbox = Outbox::new();
            let mut completed = 0;
            let mut placed = 0;
            let mut done = None;
            // Whether events may be left that other waits must look for themselves.
            let mut left_unread = false;
            if let Some(event) = waited.take() {
                completed += state.handle(event, &mut outbox);
                self.note_departures(&state);
                // The event a wait was woken by is usually its own: then it need not look
                // at the transport again (a look at a line the sender writes next costs a
                // transfer between cores, and the caller is waiting).
                done = outcome(&mut state, None, offers(&receive));
                left_unread = done.is_some();
            }
            if done.is_none() {
                let drained = self.drain(&mut state, &mut outbox, receive.as_mut());
                completed += drained.completed;
                placed += drained.placed;
                left_unread = drained.stopped_early;
                done = outcome(&mut state, drained.mine, offers(&receive));
            }
            let quiet = done.is_none() && outbox.is_empty() && completed == 0 && placed == 0;
            let budget = match registered && !spun && quiet {
                true => self.transport.spin_budget(),
                false => Duration::ZERO,
            };
            if !budget.is_zero() {
                // Nothing yet: keep looking for a little, holding the lock (see
                // `FastPaths::spin_budget`), until something happens or another thread
                // wants the lock.
                spun = true;
                let started = Instant::now();
                for round in 1u32.. {
                    // Reading the clock costs as much as a look: only every 16th round,
                    // when the transport may also end the spin by no longer offering it.
                    let spent = round % 16 == 0
                        && (started.elapsed() >= budget || self.transport.spin_budget().is_zero());
                    if spent || lock::contended(&self.state) {
                        break;
                    }
                    std::hint::spin_loop();
                    let drained = self.drain(&mut state, &mut outbox, receive.as_mut());
                    completed += drained.completed;
                    placed += drained.placed;
                    left_unread = drained.stopped_early;
                    done = outcome(&mut state, drained.mine, offers(&receive));
                    if done.is_some() || completed > 0 || !outbox.is_empty() {
                        break;
                    }
                }
            }
            self.events.store(state.events, Ordering::Relaxed);
            drop(state);
            // Wake the others only if progress completed something that was not ours
            // (placed messages complete only the receives of this wait).
            let ours_in_tables = usize::from(done.is_some() && placed == 0);
            self.finish(outbox, completed.saturating_sub(ours_in_tables));
            if let Some(done) = done {
                if left_unread {
                    self.waiters.wake_others(cx.waker(), registered);
                }
                return Poll::Ready(done);
            }
            if !registered {
                self.waiters.register(cx.waker());
                registered = true;
                state = self.lock();
                continue;
            }
            let mut progress = Context::from_waker(&self.progress_waker);
            match self.transport.poll_ready(&mut progress) {
                Poll::Ready(event) => waited = event,
                Poll::Pending => {
                    self.waits.note_pending();
                    return Poll::Pending;
                }
            }
            state = self.lock();
        }
    }

    /// Lets sends know, without the lock, once some peer has departed.
    fn note_departures(&self, state: &State) {
        if !state.departed.is_empty() {
            self.anyone_departed.store(true, Ordering::Release);
        }
    }

    /// Sends what matching queued and wakes the other waiters if their waits completed.
    #[inline]
    fn finish(&self, outbox: Outbox, completed_for_others: usize) {
        if outbox.is_empty() && completed_for_others == 0 {
            return; // the usual case
        }
        self.send_and_wake(outbox, completed_for_others);
    }

    /// [`Engine::finish`] when there is something to do.
    fn send_and_wake(&self, outbox: Outbox, completed_for_others: usize) {
        let mut completed = completed_for_others;
        for (dest, frame) in outbox {
            if dest == self.rank {
                let mut ignored = Outbox::new();
                completed += self
                    .lock()
                    .accept(Arrival::of(self.rank, frame), &mut ignored);
            } else if let Err(error) = self.transport.send(dest, frame) {
                // The sender is gone: nobody is left to wait for the acknowledgement.
                tracing::debug!(dest, %error, "acknowledgement not delivered");
            }
        }
        if completed > 0 {
            self.waiters.wake_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::loan::Loan;
    use crate::transport::{Event, Placer};
    use bytes::Bytes;
    use receives::Receives;
    use std::sync::Mutex;

    /// A receive stops taking in events at its own message: the next one, a bcast's data
    /// after its header, say, stays with the transport for the receive it is for, which
    /// can have it placed in its buffer instead of copied twice.
    #[test]
    fn a_receive_leaves_the_messages_after_its_own_to_the_transport() {
        let mut mesh = crate::local::LocalTransport::mesh(2);
        let (receiver, sender) = (mesh.pop().expect("two ranks"), mesh.pop().expect("two"));
        let engine = Engine::new(Arc::new(receiver));
        for tag in [1, 2] {
            sender
                .send(1, one_byte(tag, b"x"))
                .expect("a send to rank 1");
        }
        let pattern = Pattern {
            context: 0,
            source: Some(0),
            tag: Some(1),
        };
        let first = engine.post_recv(pattern, Awaited::Rank(0));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            engine.poll_recv(first, &mut cx),
            Poll::Ready(Ok(arrival)) if arrival.header.tag == 1
        ));
        match engine.transport.try_recv(&mut cx) {
            Some(Event::Frame { frame, .. }) => assert_eq!(frame.header.tag, 2),
            other => panic!("the second message was taken in too: {other:?}"),
        }
    }

    /// Offers one 8-byte frame to a placer, and places all of it or its first half, the
    /// other half following as an [`Event::Rest`] at look `rest_at`.
    struct Placing8 {
        split: bool,
        step: Mutex<u8>,
        /// The step at which the rest of a split payload arrives (nothing arrives between).
        rest_at: u8,
    }

    impl Transport for Placing8 {
        fn rank(&self) -> usize {
            1
        }
        fn size(&self) -> usize {
            2
        }
        fn send(&self, _: usize, _: Frame) -> Result<()> {
            Ok(())
        }
        fn poll_recv(&self, _: &mut Context<'_>) -> Poll<Event> {
            Poll::Pending
        }
        fn fast_paths(self: Arc<Self>) -> Option<Arc<dyn FastPaths>> {
            Some(self)
        }
    }

    impl FastPaths for Placing8 {
        fn try_recv_placing(&self, _: &mut Context<'_>, placer: &mut dyn Placer) -> Option<Event> {
            let payload = *b"abcdefgh";
            let header = Header {
                kind: FrameKind::Data,
                context: 0,
                source: 0,
                tag: 5,
                sync_id: 0,
                len: 8,
            };
            let mut step = self.step.lock().expect("not poisoned");
            *step += 1;
            match *step {
                1 => {
                    let buf = placer.place(0, &header)?;
                    let placed = if self.split { 4 } else { 8 };
                    buf[..placed].copy_from_slice(&payload[..placed]);
                    Some(Event::Placed {
                        from: 0,
                        header,
                        placed,
                    })
                }
                n if self.split && n == self.rest_at => Some(Event::Rest {
                    from: 0,
                    payload: Bytes::copy_from_slice(&payload[4..]),
                }),
                _ => None,
            }
        }
    }

    #[test]
    fn a_payload_placed_whole_or_in_part_completes_its_receive() {
        for split in [false, true] {
            let step = Mutex::new(0);
            let rest_at = 2;
            let engine = Engine::new(Arc::new(Placing8 {
                split,
                step,
                rest_at,
            }));
            let pattern = Pattern {
                context: 0,
                source: Some(0),
                tag: Some(5),
            };
            let id = engine.post_recv(pattern, Awaited::Rank(0));
            let mut buf = [0u8; 8];
            let mut cx = Context::from_waker(Waker::noop());
            let arrival = match engine.poll_recv_into(id, &mut buf, &mut cx) {
                Poll::Ready(Ok(arrival)) => arrival,
                other => panic!("split {split}: not received: {other:?}"),
            };
            assert_eq!((arrival.from, arrival.header.tag), (0, 5));
            arrival.payload.copy_to(&mut buf).expect("the rest copied");
            assert_eq!(&buf, b"abcdefgh", "split {split}");
            // The receive is over: its id finds nothing any more.
            assert!(
                engine.lock().recvs.outcome_of(id).is_none(),
                "split {split}"
            );
        }
    }

    #[test]
    fn a_stale_receive_id_never_reaches_the_next_receive_in_its_slot() {
        let engine = Engine::new(Arc::new(crate::local::LocalTransport::mesh(1).remove(0)));
        let pattern = |tag| Pattern {
            context: 0,
            source: Some(0),
            tag: Some(tag),
        };
        let first = engine.post_recv(pattern(1), Awaited::Rank(0));
        engine.cancel_recv(first, None);
        let second = engine.post_recv(pattern(2), Awaited::Rank(0));
        assert_eq!(Receives::slot(first), Receives::slot(second), "slot reused");
        assert_ne!(first, second);

        engine.cancel_recv(first, None); // stale: `second` stays posted
        let header = Header {
            kind: FrameKind::Data,
            context: 0,
            source: 0,
            tag: 2,
            sync_id: 0,
            len: 1,
        };
        engine
            .send(0, Frame::new(header, Bytes::from_static(b"x")))
            .expect("a send to itself");
        let mut cx = Context::from_waker(Waker::noop());
        match engine.poll_recv(second, &mut cx) {
            Poll::Ready(Ok(arrival)) => assert_eq!(arrival.header.tag, 2),
            other => panic!("expected the message for the second receive, got {other:?}"),
        }
        assert!(matches!(
            engine.poll_recv(first, &mut cx),
            Poll::Ready(Err(Error::InvalidArgument(_)))
        ));
    }

    /// A transport that lends everything and returns nothing: its loans are only ever
    /// settled by the engine noticing that the borrower left.
    #[derive(Debug)]
    struct Hoarding {
        inner: crate::local::LocalTransport,
        kept: Mutex<Vec<Loan>>,
    }

    #[async_trait::async_trait]
    impl Transport for Hoarding {
        fn rank(&self) -> usize {
            self.inner.rank()
        }
        fn size(&self) -> usize {
            self.inner.size()
        }
        fn send(&self, dest: usize, frame: Frame) -> Result<()> {
            self.inner.send(dest, frame)
        }
        fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
            self.inner.poll_recv(cx)
        }
        fn fast_paths(self: Arc<Self>) -> Option<Arc<dyn FastPaths>> {
            Some(self)
        }
    }

    impl FastPaths for Hoarding {
        fn lend(&self, _: usize, _: Header, _: u64, loan: Loan) -> Result<bool> {
            lock::unpoisoned(&self.kept).push(loan);
            Ok(true)
        }
    }

    /// Settling loans waits while their borrowers are there, and fails naming one once it
    /// has left with a loan still out, instead of waiting for a release that cannot come. A
    /// borrower that returned its loans may leave meanwhile.
    #[test]
    fn settling_loans_fails_only_for_a_borrower_that_left_holding_one() {
        let mut mesh = crate::local::LocalTransport::mesh(3);
        let second = mesh.pop().expect("three ranks");
        let first = mesh.pop().expect("three ranks");
        let hoarding = Arc::new(Hoarding {
            inner: mesh.pop().expect("three ranks"),
            kept: Mutex::new(Vec::new()),
        });
        let engine = Engine::new(hoarding.clone());
        let loans = Loans::new();
        let header = Header {
            kind: FrameKind::Data,
            context: 0,
            source: 0,
            tag: 0,
            sync_id: 0,
            len: 0,
        };
        for borrower in [1, 2] {
            assert!(engine
                .lend(borrower, header, b"lent", &loans)
                .expect("no error"));
        }
        let mut cx = Context::from_waker(Waker::noop());
        assert!(engine.poll_settled(&loans, &mut cx).is_pending());
        // Rank 1 returns its loan and leaves: rank 2 still holds one, and is still there.
        hoarding.kept.lock().expect("not poisoned").remove(0);
        drop(first);
        let settle = |cx: &mut Context<'_>| {
            for _ in 0..1000 {
                if let Poll::Ready(settled) = engine.poll_settled(&loans, cx) {
                    return Some(settled);
                }
                std::thread::yield_now();
            }
            None
        };
        assert!(settle(&mut cx).is_none(), "settled with rank 2's loan out");
        drop(second);
        let settled = settle(&mut cx).expect("settled once rank 2 left");
        assert!(
            matches!(settled, Err(Error::PeerFinished { rank: 2 })),
            "{settled:?}"
        );
    }

    /// A data frame from rank 0 on context 0 with `tag` and the one byte `byte`.
    fn one_byte(tag: i32, byte: &'static [u8; 1]) -> Frame {
        let header = Header {
            kind: FrameKind::Data,
            context: 0,
            source: 0,
            tag,
            sync_id: 0,
            len: 1,
        };
        Frame::new(header, Bytes::from_static(byte))
    }

    fn tag5() -> Pattern {
        Pattern {
            context: 0,
            source: Some(0),
            tag: Some(5),
        }
    }

    /// A receive dropped while its message was being placed in its buffer, or after it
    /// was placed in part and the rest came, loses nothing: the message goes, whole, to
    /// the next receive that fits it.
    #[test]
    fn a_receive_dropped_with_its_message_half_placed_puts_it_back_whole() {
        // `complete_first`: the rest arrives (through another receive's poll) before the
        // first receive is dropped, so it is dropped with a split outcome.
        for complete_first in [false, true] {
            let transport = Placing8 {
                split: true,
                step: Mutex::new(0),
                rest_at: 6, // after the first receive's poll has looked (twice) and left
            };
            let engine = Engine::new(Arc::new(transport));
            let mut cx = Context::from_waker(Waker::noop());
            let first = engine.post_recv(tag5(), Awaited::Rank(0));
            let mut buf = [0u8; 8];
            assert!(engine.poll_recv_into(first, &mut buf, &mut cx).is_pending());
            assert_eq!(&buf[..4], b"abcd", "placed in part");
            if complete_first {
                let other = Pattern {
                    tag: Some(6),
                    ..tag5()
                };
                let other = engine.post_recv(other, Awaited::Rank(0));
                let mut other_buf = [0u8; 8];
                for _ in 0..4 {
                    assert!(engine
                        .poll_recv_into(other, &mut other_buf, &mut cx)
                        .is_pending());
                }
                assert!(
                    engine.lock().placing.of_receive(first).is_none(),
                    "the rest came"
                );
            }
            engine.cancel_recv(first, Some(&buf));
            let second = engine.post_recv(tag5(), Awaited::Rank(0));
            // This transport delivers only to a receive with a buffer.
            let mut second_buf = [0u8; 8];
            let arrival = (0..8)
                .find_map(
                    |_| match engine.poll_recv_into(second, &mut second_buf, &mut cx) {
                        Poll::Ready(outcome) => Some(outcome.expect("the message")),
                        Poll::Pending => None,
                    },
                )
                .expect("the message comes back");
            let mut got = [0u8; 8];
            arrival.payload.copy_to(&mut got).expect("copied");
            assert_eq!(&got, b"abcdefgh", "complete_first {complete_first}");
        }
    }

    /// A receive dropped after its message matched puts the message back before the
    /// messages from its sender that came after it.
    #[test]
    fn a_receive_dropped_after_matching_puts_its_message_back_in_order() {
        let engine = Engine::new(Arc::new(crate::local::LocalTransport::mesh(1).remove(0)));
        let any_tag = Pattern {
            tag: None,
            ..tag5()
        };
        let dropped = engine.post_recv(tag5(), Awaited::Rank(0));
        engine.send(0, one_byte(7, b"a")).expect("sent"); // unexpected: tag 7
        engine.send(0, one_byte(5, b"b")).expect("sent"); // matches `dropped`
        engine.send(0, one_byte(5, b"c")).expect("sent"); // unexpected
        engine.cancel_recv(dropped, None);
        let mut cx = Context::from_waker(Waker::noop());
        let mut order = Vec::new();
        for _ in 0..3 {
            let id = engine.post_recv(any_tag, Awaited::Rank(0));
            match engine.poll_recv(id, &mut cx) {
                Poll::Ready(Ok(arrival)) => order.push(arrival.payload.into_bytes().expect("here")),
                other => panic!("expected a message, got {other:?}"),
            }
        }
        assert_eq!(order, [&b"a"[..], b"b", b"c"]);
    }

    /// A sender that fills the unexpected queue past the limit is cut off with an error
    /// naming it; the queue stops growing, and other senders go on.
    #[test]
    fn a_flood_of_unexpected_messages_is_cut_off_at_the_limit() {
        let mut mesh: Vec<Arc<dyn Transport>> = crate::local::LocalTransport::mesh(3)
            .into_iter()
            .map(|t| Arc::new(t) as Arc<dyn Transport>)
            .collect();
        let (flooder, other) = (Engine::new(mesh.remove(1)), Engine::new(mesh.remove(1)));
        let receiver = Engine::new(mesh.remove(0));
        receiver.limit_unexpected(4096);
        let message = |tag| {
            Frame::new(
                Header {
                    kind: FrameKind::Data,
                    context: 0,
                    source: 1,
                    tag,
                    sync_id: 0,
                    len: 0,
                },
                bytes::Bytes::from(vec![7u8; 500]),
            )
        };
        for _ in 0..100 {
            flooder.send(0, message(5)).expect("sent");
        }
        let mut from_other = message(5);
        from_other.header.source = 2;
        other.send(0, from_other).expect("sent");
        let pattern = |source| Pattern {
            context: 0,
            source: Some(source),
            tag: Some(5),
        };
        assert!(
            receiver.iprobe(&pattern(2)).is_some(),
            "the other sender's message arrived"
        );
        let backlog = {
            let state = receiver.lock();
            (state.backlog.messages, state.backlog.bytes)
        };
        assert!(
            backlog.1 <= 4096 + 756 + 756,
            "the queue stopped at the limit: {backlog:?}"
        );
        // What was taken before the limit is received; then the flooder is an error.
        let mut cx = Context::from_waker(Waker::noop());
        let mut received = 0;
        loop {
            let id = receiver.post_recv(pattern(1), Awaited::Rank(1));
            match receiver.poll_recv(id, &mut cx) {
                Poll::Ready(Ok(_)) => received += 1,
                Poll::Ready(Err(Error::Flooded {
                    rank: 1,
                    limit: 4096,
                    ..
                })) => break,
                other => panic!("expected the flooder cut off, got {other:?}"),
            }
        }
        assert!((1..100).contains(&received), "{received} of 100 taken");
        let id = receiver.post_recv(pattern(2), Awaited::Rank(2));
        assert!(matches!(
            receiver.poll_recv(id, &mut cx),
            Poll::Ready(Ok(_))
        ));
    }
}
