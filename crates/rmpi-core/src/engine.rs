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

use rustc_hash::FxHashMap as HashMap;
use slab::Slab;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::{Frame, FrameKind, Header};
use crate::loan::Loans;
use crate::lock;
use crate::matching::{Envelope, Matcher, Pattern, PostId};
use crate::payload::Payload;
use crate::transport::{Event, Placer, Transport};

/// Events drained per poll before yielding, so a flood from peers cannot starve the executor.
const DRAIN_BUDGET: usize = 256;

/// A message that reached this rank, with the world rank it came from.
#[derive(Debug)]
pub(crate) struct Arrival {
    pub from: usize,
    pub header: Header,
    pub payload: Payload,
}

impl Arrival {
    fn of(from: usize, frame: Frame) -> Arrival {
        Arrival {
            from,
            header: frame.header,
            payload: Payload::Here(frame.payload),
        }
    }
}

/// How a peer left the job.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Departure {
    Finished,
    Lost,
    /// Dropped for breaking the protocol, and why.
    Malformed(Arc<str>),
}

impl Departure {
    fn error(&self, rank: usize) -> Error {
        match self {
            Departure::Finished => Error::PeerFinished { rank },
            Departure::Lost => Error::PeerLost { rank },
            Departure::Malformed(reason) => Error::MalformedFrame {
                rank,
                reason: reason.to_string(),
            },
        }
    }
}

/// Who a receive or probe is waiting for, in world ranks.
#[derive(Debug, Clone)]
pub(crate) enum Awaited {
    /// One specific sender.
    Rank(usize),
    /// Any member of a communicator (its members, comm rank to world rank).
    AnyOf(Arc<[usize]>),
}

/// Something a future is waiting for, and its outcome once there is one.
#[derive(Debug)]
struct Wait<P, T> {
    purpose: P,
    outcome: Option<Result<T>>,
}

/// A posted receive: where it was posted and whom it waits for.
#[derive(Debug)]
struct Receiving {
    context: u64,
    awaited: Awaited,
}

/// A receive; completes with the message that matched it.
type RecvWait = Wait<Receiving, Arrival>;

/// A synchronous send to world rank `purpose`; completes once a receive matched it.
type SyncWait = Wait<usize, ()>;

/// Posted receives by id. An id is a slot in a slab with a sequence number above it: a
/// lookup is an index (receives are looked up several times per message), and the id of a
/// receive that is gone never finds the slot's next tenant.
#[derive(Debug, Default)]
struct Receives {
    slots: Slab<(PostId, RecvWait)>,
}

impl Receives {
    /// The id the next receive inserted gets, made from the sequence number `seq`.
    fn next_id(&self, seq: u64) -> PostId {
        // Slots stay far below 2^32; a sequence number wraps only after 2^32 receives, long
        // after any stale id of the slot is gone.
        seq << 32 | self.slots.vacant_key() as u64
    }

    /// Inserts a receive under `id`, which [`Receives::next_id`] just gave.
    fn insert(&mut self, id: PostId, wait: RecvWait) {
        let slot = self.slots.insert((id, wait));
        debug_assert_eq!(slot, Self::slot(id));
    }

    fn slot(id: PostId) -> usize {
        (id & u64::from(u32::MAX)) as usize
    }

    fn get(&self, id: PostId) -> Option<&RecvWait> {
        match self.slots.get(Self::slot(id)) {
            Some((at, wait)) if *at == id => Some(wait),
            _ => None,
        }
    }

    fn get_mut(&mut self, id: PostId) -> Option<&mut RecvWait> {
        match self.slots.get_mut(Self::slot(id)) {
            Some((at, wait)) if *at == id => Some(wait),
            _ => None,
        }
    }

    fn remove(&mut self, id: PostId) -> Option<RecvWait> {
        self.get(id)?;
        Some(self.slots.remove(Self::slot(id)).1)
    }

    /// The outcome of receive `id`: `mine`, its message if a drain has just handed it
    /// over, or else what the table holds for it (removed), or `None` while it is pending.
    #[inline]
    fn outcome(&mut self, id: PostId, mine: Option<Arrival>) -> Option<Result<Arrival>> {
        match mine {
            Some(arrival) => Some(Ok(arrival)),
            None => self.take_outcome(id),
        }
    }

    /// Removes and returns the outcome of receive `id`, or `None` while it is pending.
    #[inline]
    fn take_outcome(&mut self, id: PostId) -> Option<Result<Arrival>> {
        // Looked at before it is taken: taking moves the whole outcome, there or not.
        let Some(wait) = self.get(id) else {
            return Some(Err(already_taken()));
        };
        wait.outcome.as_ref()?;
        self.slots.remove(Self::slot(id)).1.outcome
    }
}

/// Removes and returns the outcome of wait `id`, or `None` while it is pending.
fn take_outcome<P, T>(waits: &mut HashMap<u64, Wait<P, T>>, id: u64) -> Option<Result<T>> {
    if waits.get(&id).is_some_and(|w| w.outcome.is_none()) {
        return None;
    }
    let outcome = waits.remove(&id).and_then(|w| w.outcome);
    Some(outcome.unwrap_or_else(|| Err(already_taken())))
}

/// A frame whose payload is going into the buffer of the receive it matched, but has not
/// all arrived (see [`Event::Placed`]).
#[derive(Debug)]
struct Placing {
    id: PostId,
    header: Header,
    placed: usize,
}

/// Everything behind the engine's lock.
#[derive(Debug, Default)]
struct State {
    matcher: Matcher<Arrival>,
    next_id: u64,
    recvs: Receives,
    syncs: HashMap<u64, SyncWait>,
    departed: HashMap<usize, Departure>,
    /// Placed frames still arriving, by sender (one at most per sender: frames from a
    /// sender arrive one after another).
    placing: Placings,
}

/// [`Placing`]s by sender: a list, as there are rarely more than one, and one comes and
/// goes with every placed message.
#[derive(Debug, Default)]
struct Placings(Vec<(usize, Placing)>);

impl Placings {
    fn get_mut(&mut self, from: usize) -> Option<&mut Placing> {
        self.0.iter_mut().find(|(f, _)| *f == from).map(|(_, p)| p)
    }

    fn contains(&self, from: usize) -> bool {
        self.0.iter().any(|(f, _)| *f == from)
    }

    fn insert(&mut self, from: usize, placing: Placing) {
        debug_assert!(!self.contains(from));
        self.0.push((from, placing));
    }

    fn remove(&mut self, from: usize) -> Option<Placing> {
        let at = self.0.iter().position(|(f, _)| *f == from)?;
        Some(self.0.swap_remove(at).1)
    }
}

/// What a [`Engine::drain`] did.
struct Drained {
    /// How many waits completed.
    completed: usize,
    /// It stopped before the transport ran out of events.
    stopped_early: bool,
    /// The awaited receive's message, if it was placed whole: that receive is over and
    /// gone from [`State::recvs`].
    mine: Option<Arrival>,
}

/// The arrival of a frame from `from` with `header` that the transport placed whole in
/// the buffer of the receive that took it, if `event` says so; otherwise the event, to be
/// handled as any other.
#[inline]
fn placed_whole(
    event: Option<Event>,
    from: usize,
    header: &Header,
) -> std::result::Result<Arrival, Option<Event>> {
    let whole = matches!(
        event,
        Some(Event::Placed { from: placed_from, placed, .. })
            if placed_from == from && placed as u64 == header.len
    );
    if !whole {
        return Err(event);
    }
    // A placed event owns nothing: forgetting it spares a call to its drop, which does
    // not know which kind of event it drops.
    std::mem::forget(event);
    Ok(Arrival {
        from,
        header: *header,
        payload: Payload::Placed {
            len: header.len as usize,
        },
    })
}

/// Frames that matching decided to send (acknowledgements), sent once the lock is released.
type Outbox = Vec<(usize, Frame)>;

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Takes one transport event into the matching state; returns how many waits completed.
    fn handle(&mut self, event: Event, outbox: &mut Outbox) -> usize {
        match event {
            Event::Frame { from, frame } => self.accept(Arrival::of(from, frame), outbox),
            Event::Lent {
                from,
                header,
                payload,
            } => self.accept(
                Arrival {
                    from,
                    header,
                    payload: Payload::Lent(payload),
                },
                outbox,
            ),
            Event::Placed {
                from,
                header,
                placed,
            } => self.placed(from, header, placed, outbox),
            Event::Rest { from, payload } => self.rest(from, payload),
            Event::PeerFinished { rank } => self.depart(rank, Departure::Finished),
            Event::PeerLost { rank } => self.depart(rank, Departure::Lost),
            Event::PeerMalformed { rank, reason } => {
                self.depart(rank, Departure::Malformed(reason.into()))
            }
        }
    }

    fn accept(&mut self, arrival: Arrival, outbox: &mut Outbox) -> usize {
        let header = arrival.header;
        match header.kind {
            FrameKind::Data | FrameKind::SyncData => {
                let envelope = Envelope {
                    context: header.context,
                    source: header.source,
                    tag: header.tag,
                };
                match self.matcher.arrive(envelope, arrival) {
                    Some((id, _, arrival)) => {
                        acknowledge(arrival.from, &arrival.header, outbox);
                        if let Some(wait) = self.recvs.get_mut(id) {
                            wait.outcome = Some(Ok(arrival));
                        }
                        1
                    }
                    None => 0,
                }
            }
            FrameKind::SyncAck => match self.syncs.get_mut(&header.sync_id) {
                Some(wait) if wait.outcome.is_none() => {
                    wait.outcome = Some(Ok(()));
                    1
                }
                // The synchronous send was abandoned; nobody is waiting.
                _ => 0,
            },
            // Transports normally report this as `Event::PeerFinished`; one that passes the
            // frame on means the same.
            FrameKind::Goodbye => self.depart(arrival.from, Departure::Finished),
        }
    }

    /// A frame from `from` went into the buffer of the receive it matched (which
    /// [`Placement::place`] took from the posted queue): all of it, or its first `placed`
    /// bytes, the rest to follow as an [`Event::Rest`].
    fn placed(&mut self, from: usize, header: Header, placed: usize, outbox: &mut Outbox) -> usize {
        let Some(placing) = self.placing.get_mut(from) else {
            tracing::error!(from, "a transport placed a frame nobody had taken");
            return 0;
        };
        debug_assert_eq!(placing.header, header);
        acknowledge(from, &header, outbox);
        if placed < header.len as usize {
            placing.placed = placed;
            return 0;
        }
        let id = placing.id;
        self.placing.remove(from);
        self.complete_recv(id, from, header, Payload::Placed { len: placed })
    }

    /// The rest of a frame from `from` that was placed in part.
    fn rest(&mut self, from: usize, rest: Bytes) -> usize {
        let Some(Placing { id, header, placed }) = self.placing.remove(from) else {
            tracing::error!(
                from,
                "a transport sent the rest of a frame nobody had taken"
            );
            return 0;
        };
        debug_assert_eq!(placed + rest.len(), header.len as usize);
        self.complete_recv(id, from, header, Payload::Split { placed, rest })
    }

    /// Gives receive `id` the message from `from`, unless the receive was withdrawn
    /// meanwhile.
    fn complete_recv(
        &mut self,
        id: PostId,
        from: usize,
        header: Header,
        payload: Payload,
    ) -> usize {
        match self.recvs.get_mut(id) {
            Some(wait) => {
                let arrival = Arrival {
                    from,
                    header,
                    payload,
                };
                wait.outcome = Some(Ok(arrival));
                1
            }
            None => 0,
        }
    }

    /// Records that `rank` left and fails every wait that can no longer be satisfied.
    fn depart(&mut self, rank: usize, how: Departure) -> usize {
        tracing::debug!(rank, ?how, "peer departed");
        self.departed.insert(rank, how.clone());
        let mut failed = 0;
        if let Some(placing) = self.placing.remove(rank) {
            // It left in the middle of a payload: the receive gets the error, not the part.
            if let Some(wait) = self.recvs.get_mut(placing.id) {
                wait.outcome = Some(Err(how.error(rank)));
                failed += 1;
            }
        }
        let (recvs, departed) = (&self.recvs, &self.departed);
        let mut failures = Vec::new();
        self.matcher.withdraw_where(|id, _| {
            let why = recvs
                .get(id)
                .and_then(|w| unsatisfiable(departed, &w.purpose.awaited));
            let doomed = why.is_some();
            failures.extend(why.map(|error| (id, error)));
            doomed
        });
        failed += failures.len();
        for (id, error) in failures {
            if let Some(wait) = self.recvs.get_mut(id) {
                wait.outcome = Some(Err(error));
            }
        }
        for wait in self.syncs.values_mut() {
            if wait.purpose == rank && wait.outcome.is_none() {
                wait.outcome = Some(Err(how.error(rank)));
                failed += 1;
            }
        }
        failed
    }
}

/// Why no message matching `awaited` can arrive any more, if that is so. A specific source
/// fails once it has departed; a wildcard fails once any member is lost (as in MPI's fault
/// tolerance proposal) or every other member has finished.
#[inline]
fn unsatisfiable(departed: &HashMap<usize, Departure>, awaited: &Awaited) -> Option<Error> {
    if departed.is_empty() {
        return None; // the usual case, decided without a hash
    }
    unsatisfiable_after_departures(departed, awaited)
}

/// [`unsatisfiable`] once someone has departed: out of line, so that the usual case costs
/// every receive one test.
#[inline(never)]
fn unsatisfiable_after_departures(
    departed: &HashMap<usize, Departure>,
    awaited: &Awaited,
) -> Option<Error> {
    let group = match awaited {
        Awaited::Rank(source) => return departed.get(source).map(|how| how.error(*source)),
        Awaited::AnyOf(group) => group,
    };
    let mut last_finished = None;
    let mut live_others = 0;
    for &member in group.iter() {
        match departed.get(&member) {
            Some(Departure::Finished) => last_finished = Some(member),
            Some(gone) => return Some(gone.error(member)),
            None => live_others += 1,
        }
    }
    // The group holds this rank too, which may still send to itself only while it has a
    // live peer to wait on: with nobody else left, a wildcard receive would wait forever.
    match last_finished {
        Some(rank) if live_others <= 1 => Some(Error::PeerFinished { rank }),
        _ => None,
    }
}

/// Queues the acknowledgement a synchronous message is owed once it is matched.
fn acknowledge(from: usize, header: &Header, outbox: &mut Outbox) {
    if header.kind == FrameKind::SyncData {
        let ack = Header {
            kind: FrameKind::SyncAck,
            context: header.context,
            source: 0,
            tag: 0,
            sync_id: header.sync_id,
            len: 0,
        };
        outbox.push((from, Frame::new(ack, Bytes::new())));
    }
}

/// The receive a wait is for: its id, and the buffer its payload may be placed in.
struct AwaitedReceive<'a> {
    id: PostId,
    buf: Option<&'a mut [u8]>,
}

/// The buffer of the receive a wait is for, offered to the transport while the wait looks
/// for events: a frame that matches the receive is copied straight into it.
struct Placement<'a> {
    state: &'a mut State,
    id: PostId,
    buf: &'a mut [u8],
    /// The sender and header of the frame the receive took, once it took one: the frame's
    /// [`Placing`] is recorded only if the transport does not place all of it at once.
    taken: Option<(usize, Header)>,
}

impl Placer for Placement<'_> {
    fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]> {
        if !matches!(header.kind, FrameKind::Data | FrameKind::SyncData) {
            return None;
        }
        // One too long for the buffer takes the usual path, to its `Truncated` error.
        let len = usize::try_from(header.len).ok()?;
        if len > self.buf.len() || self.state.placing.contains(from) {
            return None;
        }
        let envelope = Envelope {
            context: header.context,
            source: header.source,
            tag: header.tag,
        };
        if self.taken.is_some() || !self.state.matcher.take_if_first(&envelope, self.id) {
            return None;
        }
        self.taken = Some((from, *header));
        Some(&mut self.buf[..len])
    }
}

/// The wakers of every task waiting on this rank. Woken as a whole by the transport (through
/// the waker made from it) and by any task whose progress completed someone else's wait.
#[derive(Debug, Default)]
struct Waiters {
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
    fn publish(&self, wakers: &[Waker]) {
        self.count.store(wakers.len(), Ordering::Relaxed);
        let sole = match wakers {
            [only] => only.data().cast_mut(),
            _ => std::ptr::null_mut(),
        };
        self.sole.store(sole, Ordering::Relaxed);
    }

    /// Whether `waker`'s task is the only one registered, as last published.
    fn is_sole(&self, waker: &Waker) -> bool {
        !waker.data().is_null() && self.sole.load(Ordering::Relaxed).cast_const() == waker.data()
    }

    fn register(&self, waker: &Waker) {
        // Already the one registered: nothing to do. Whoever removes a waker wakes it, so a
        // removal racing with this look still gets the task polled again.
        if self.is_sole(waker) {
            return;
        }
        let mut wakers = lock::unpoisoned(&self.wakers);
        if wakers.iter().any(|w| same_task(w, waker)) {
            return;
        }
        if wakers.len() >= MAX_WAKERS {
            let stale = std::mem::take(&mut *wakers);
            drop(wakers);
            for waker in stale {
                waker.wake();
            }
            wakers = lock::unpoisoned(&self.wakers);
        }
        wakers.push(waker.clone());
        self.publish(&wakers);
    }

    fn wake_all(&self) {
        let wakers = {
            let mut wakers = lock::unpoisoned(&self.wakers);
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
    fn wake_others(&self, me: &Waker, me_registered: bool) {
        if self.count.load(Ordering::Relaxed) <= usize::from(me_registered) {
            return; // nobody but the caller
        }
        self.wake_others_registered(me);
    }

    /// [`Waiters::wake_others`] once someone besides the caller may be registered: out of
    /// line, as it is rare.
    #[inline(never)]
    fn wake_others_registered(&self, me: &Waker) {
        if self.is_sole(me) {
            return; // the one waker registered is the caller's
        }
        let others = {
            let mut wakers = lock::unpoisoned(&self.wakers);
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

/// One rank's matching state and its transport.
pub(crate) struct Engine {
    transport: Arc<dyn Transport>,
    rank: usize,
    state: lock::Mutex<State>,
    /// Some peer has departed (`State::departed` is not empty): until then a send need not
    /// take the lock to look.
    anyone_departed: AtomicBool,
    waiters: Arc<Waiters>,
    progress_waker: Waker,
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
            transport,
            state: lock::Mutex::new(State::default()),
            anyone_departed: AtomicBool::new(false),
            progress_waker: Waker::from(waiters.clone()),
            waiters,
        }
    }

    pub(crate) fn rank(&self) -> usize {
        self.rank
    }

    pub(crate) fn size(&self) -> usize {
        self.transport.size()
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
    /// [`Transport::fan_out`]); `false` if it cannot, or one of them departed (each send
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
    /// [`Transport::prefers_loan`]); never to this rank.
    pub(crate) fn prefers_loan(&self, dest: usize, len: usize) -> bool {
        dest != self.rank && self.transport.prefers_loan(dest, len)
    }

    /// Takes back what was lent under `loans`, all of it within `payload` (see
    /// [`Transport::recall`]).
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
        self.poll_with(cx, None, |state, _| {
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
        let sync_id = {
            let mut state = self.lock();
            let id = state.next_id();
            state.syncs.insert(
                id,
                SyncWait {
                    purpose: dest,
                    outcome: None,
                },
            );
            id
        };
        frame.header.kind = FrameKind::SyncData;
        frame.header.sync_id = sync_id;
        if let Err(e) = self.send(dest, frame) {
            self.lock().syncs.remove(&sync_id);
            return Err(e);
        }
        Ok(sync_id)
    }

    pub(crate) fn poll_sync(&self, sync_id: u64, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_with(cx, None, |state, _| take_outcome(&mut state.syncs, sync_id))
    }

    pub(crate) fn forget_sync(&self, sync_id: u64) {
        self.lock().syncs.remove(&sync_id);
    }

    /// Posts a receive now (so posting order is call order) and returns its id.
    pub(crate) fn post_recv(&self, pattern: Pattern, awaited: Awaited) -> PostId {
        let mut outbox = Outbox::new();
        let id = {
            let mut state = self.lock();
            let seq = state.next_id();
            let id = state.recvs.next_id(seq);
            let outcome = match state.matcher.post(id, pattern) {
                Some((_, arrival)) => {
                    acknowledge(arrival.from, &arrival.header, &mut outbox);
                    Some(Ok(arrival))
                }
                None => unsatisfiable(&state.departed, &awaited).map(|error| {
                    state.matcher.cancel(pattern.context, id);
                    Err(error)
                }),
            };
            let purpose = Receiving {
                context: pattern.context,
                awaited,
            };
            state.recvs.insert(id, RecvWait { purpose, outcome });
            id
        };
        self.finish(outbox, 0);
        id
    }

    pub(crate) fn poll_recv(&self, id: PostId, cx: &mut Context<'_>) -> Poll<Result<Arrival>> {
        let receive = Some(AwaitedReceive { id, buf: None });
        self.poll_with(cx, receive, |state, mine| state.recvs.outcome(id, mine))
    }

    /// Like [`Engine::poll_recv`] for a receive into `buf`, which the transport may copy the
    /// payload straight into (then the arrival's payload says it is already there).
    pub(crate) fn poll_recv_into(
        &self,
        id: PostId,
        buf: &mut [u8],
        cx: &mut Context<'_>,
    ) -> Poll<Result<Arrival>> {
        let receive = Some(AwaitedReceive { id, buf: Some(buf) });
        self.poll_with(cx, receive, |state, mine| state.recvs.outcome(id, mine))
    }

    /// Withdraws a receive whose future was dropped; a message it already matched is dropped
    /// with it, as a freed MPI request's would be.
    pub(crate) fn cancel_recv(&self, id: PostId) {
        let mut state = self.lock();
        if let Some(wait) = state.recvs.remove(id) {
            if wait.outcome.is_none() {
                state.matcher.cancel(wait.purpose.context, id);
            }
        }
    }

    /// The envelope and size of the first unexpected message matching `pattern`, after taking
    /// in whatever the transport has ready. Never waits.
    pub(crate) fn iprobe(&self, pattern: &Pattern) -> Option<(Envelope, usize)> {
        let mut state = self.lock();
        let mut outbox = Outbox::new();
        let completed = self.drain(&mut state, &mut outbox, None).completed;
        let found = probe(&state, pattern);
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
        self.poll_with(cx, None, |state, _| match probe(state, pattern) {
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
    fn poll_with<T>(
        &self,
        cx: &mut Context<'_>,
        mut receive: Option<AwaitedReceive<'_>>,
        mut outcome: impl FnMut(&mut State, Option<Arrival>) -> Option<T>,
    ) -> Poll<T> {
        let mut state = self.lock();
        if let Some(done) = outcome(&mut state, None) {
            return Poll::Ready(done);
        }
        let mut registered = false;
        let mut spun = false;
        let mut waited = None;
        loop {
            let mut outbox = Outbox::new();
            let mut completed = 0;
            let mut done = None;
            // Whether events may be left that other waits must look for themselves.
            let mut left_unread = false;
            if let Some(event) = waited.take() {
                completed += state.handle(event, &mut outbox);
                self.note_departures(&state);
                // The event a wait was woken by is usually its own: then it need not look
                // at the transport again (a look at a line the sender writes next costs a
                // transfer between cores, and the caller is waiting).
                done = outcome(&mut state, None);
                left_unread = done.is_some();
            }
            if done.is_none() {
                let drained = self.drain(&mut state, &mut outbox, receive.as_mut());
                completed += drained.completed;
                left_unread = drained.stopped_early;
                done = outcome(&mut state, drained.mine);
            }
            let quiet = done.is_none() && outbox.is_empty() && completed == 0;
            let budget = match registered && !spun && quiet {
                true => self.transport.spin_budget(),
                false => Duration::ZERO,
            };
            if !budget.is_zero() {
                // Nothing yet: keep looking for a little, holding the lock (see
                // `Transport::spin_budget`), until something happens or another thread
                // wants the lock.
                spun = true;
                let started = Instant::now();
                for round in 1u32.. {
                    // Reading the clock costs as much as a look: only every 16th round.
                    let spent = round % 16 == 0 && started.elapsed() >= budget;
                    if spent || lock::contended(&self.state) {
                        break;
                    }
                    std::hint::spin_loop();
                    let drained = self.drain(&mut state, &mut outbox, receive.as_mut());
                    completed += drained.completed;
                    left_unread = drained.stopped_early;
                    done = outcome(&mut state, drained.mine);
                    if done.is_some() || completed > 0 || !outbox.is_empty() {
                        break;
                    }
                }
            }
            drop(state);
            // Wake the others only if progress completed something that was not ours.
            self.finish(
                outbox,
                completed.saturating_sub(usize::from(done.is_some())),
            );
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
                Poll::Pending => return Poll::Pending,
            }
            state = self.lock();
        }
    }

    /// Takes the ready transport events into the state (up to the budget), offering them
    /// to the awaited `receive`'s buffer if it has one. Once that receive has its message,
    /// it stops and leaves what follows to the receives it is for, which may then have it
    /// placed in their buffers in turn: a bcast's data follows its header, and a child
    /// that took it in while waiting for the header would copy it twice.
    #[inline(always)]
    fn drain(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        mut receive: Option<&mut AwaitedReceive<'_>>,
    ) -> Drained {
        let mut completed = 0;
        // A transport with nothing ready keeps this waker, so the tasks waiting here are
        // woken by what comes next even when this look ends their poll.
        let mut cx = Context::from_waker(&self.progress_waker);
        for _ in 0..DRAIN_BUDGET {
            let event = match receive.as_mut() {
                Some(AwaitedReceive { id, buf: Some(buf) }) => {
                    let mut placement = Placement {
                        state: &mut *state,
                        id: *id,
                        buf,
                        taken: None,
                    };
                    let mut event = self.transport.try_recv_placing(&mut cx, &mut placement);
                    if let Some((from, header)) = placement.taken {
                        match placed_whole(event, from, &header) {
                            Ok(arrival) => {
                                // The awaited receive has all of its message: it ends
                                // here, without passing through the receives' table.
                                acknowledge(from, &header, outbox);
                                state.recvs.remove(*id);
                                return Drained {
                                    completed: completed + 1,
                                    stopped_early: true,
                                    mine: Some(arrival),
                                };
                            }
                            Err(other) => event = other,
                        }
                        let placing = Placing {
                            id: *id,
                            header,
                            placed: 0,
                        };
                        state.placing.insert(from, placing);
                    }
                    event
                }
                _ => self.transport.try_recv(&mut cx),
            };
            let Some(event) = event else {
                return Drained {
                    completed,
                    stopped_early: false,
                    mine: None,
                };
            };
            completed += state.handle(event, outbox);
            self.note_departures(state);
            let got_it = |receive: &&mut AwaitedReceive<'_>| {
                let wait = state.recvs.get(receive.id);
                wait.is_some_and(|w| w.outcome.is_some())
            };
            if receive.as_ref().is_some_and(got_it) {
                return Drained {
                    completed,
                    stopped_early: true,
                    mine: None,
                };
            }
        }
        // Budget spent with events left: make sure somebody comes back for them.
        self.progress_waker.wake_by_ref();
        Drained {
            completed,
            stopped_early: false,
            mine: None,
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

fn probe(state: &State, pattern: &Pattern) -> Option<(Envelope, usize)> {
    state
        .matcher
        .probe(pattern)
        .map(|u| (*u.envelope, u.message.payload.len()))
}

fn already_taken() -> Error {
    Error::InvalidArgument("request outcome was already taken".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loan::Loan;
    use std::sync::atomic::AtomicUsize;
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

    /// A receive stops taking in events at its own message: the next one, a bcast's data
    /// after its header, say, stays with the transport for the receive it is for, which
    /// can have it placed in its buffer instead of copied twice.
    #[test]
    fn a_receive_leaves_the_messages_after_its_own_to_the_transport() {
        let mut mesh = crate::local::LocalTransport::mesh(2);
        let (receiver, sender) = (mesh.pop().expect("two ranks"), mesh.pop().expect("two"));
        let engine = Engine::new(Arc::new(receiver));
        let header = |tag| Header {
            kind: FrameKind::Data,
            context: 0,
            source: 0,
            tag,
            sync_id: 0,
            len: 1,
        };
        for tag in [1, 2] {
            let frame = Frame::new(header(tag), Bytes::from_static(b"x"));
            sender.send(1, frame).expect("a send to rank 1");
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
    /// other half following as an [`Event::Rest`] at the next look.
    struct Placing8 {
        split: bool,
        step: Mutex<u8>,
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
                2 if self.split => Some(Event::Rest {
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
            let engine = Engine::new(Arc::new(Placing8 { split, step }));
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
            assert!(engine.lock().recvs.get(id).is_none(), "split {split}");
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
        engine.cancel_recv(first);
        let second = engine.post_recv(pattern(2), Awaited::Rank(0));
        assert_eq!(Receives::slot(first), Receives::slot(second), "slot reused");
        assert_ne!(first, second);

        engine.cancel_recv(first); // stale: `second` stays posted
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
        fn lend(&self, _: usize, _: Header, _: u64, loan: Loan) -> Result<bool> {
            lock::unpoisoned(&self.kept).push(loan);
            Ok(true)
        }
        fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
            self.inner.poll_recv(cx)
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
}
