//! A rank's matching state, with no I/O: transport events go in ([`State::handle`]), frames
//! to send (acknowledgements of synchronous sends) come out in an [`Outbox`], and posted
//! receives and synchronous sends learn their outcomes. The engine ([`super::Engine`])
//! drives it under its lock; the simulator drives many of them with no transport at all.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::{Frame, FrameKind, Header};
use crate::matching::{Envelope, Matcher, Pattern, PostId};
use crate::payload::Payload;
use crate::transport::Event;

use super::arrival::{already_taken, Arrival, Awaited, Receiving, SyncWait, Wait};
use super::receives::{Placings, Receives};

/// How a peer left the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Departure {
    Finished,
    Lost,
    /// Dropped for breaking the protocol, and why.
    Malformed(Arc<str>),
    /// Cut off for sending more than the rank holds of messages no receive took: what was
    /// waiting then, and the limit.
    Flooded {
        messages: u64,
        bytes: u64,
        limit: u64,
    },
}

impl Departure {
    pub(crate) fn error(&self, rank: usize) -> Error {
        match self {
            Departure::Finished => Error::PeerFinished { rank },
            Departure::Lost => Error::PeerLost { rank },
            Departure::Malformed(reason) => Error::MalformedFrame {
                rank,
                reason: reason.to_string(),
            },
            Departure::Flooded {
                messages,
                bytes,
                limit,
            } => Error::Flooded {
                rank,
                messages: *messages,
                bytes: *bytes,
                limit: *limit,
            },
        }
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

/// Everything behind the engine's lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) matcher: Matcher<Arrival>,
    next_id: u64,
    /// Messages that have arrived so far (see [`Arrival::seq`]).
    arrived: u64,
    /// Transport events taken in so far (see [`Engine::progress`](super::Engine::progress)).
    pub(crate) events: u64,
    /// What the unexpected queue holds, against the job's limit.
    pub(crate) backlog: Backlog,
    pub(crate) recvs: Receives,
    pub(crate) syncs: HashMap<u64, SyncWait>,
    pub(crate) departed: HashMap<usize, Departure>,
    /// Placed frames still arriving, by sender (one at most per sender: frames from a
    /// sender arrive one after another).
    pub(crate) placing: Placings,
}

/// What the unexpected queue holds: messages, and their payloads with [`Backlog::PER_MESSAGE`]
/// bytes of bookkeeping each, against a limit (`RMPI_UNEXPECTED_BYTES`).
#[derive(Debug)]
pub(crate) struct Backlog {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) limit: u64,
}

impl Default for Backlog {
    /// No limit until the job sets one ([`Engine::limit_unexpected`](super::Engine::limit_unexpected)).
    fn default() -> Self {
        Backlog {
            messages: 0,
            bytes: 0,
            limit: u64::MAX,
        }
    }
}

impl Backlog {
    /// What a queued message costs besides its payload: the queue's entry, the arrival and
    /// its allocation (measured: about 220 bytes).
    pub(crate) const PER_MESSAGE: u64 = 256;

    fn add(&mut self, payload: usize) {
        self.messages += 1;
        self.bytes += payload as u64 + Self::PER_MESSAGE;
    }

    fn remove(&mut self, payload: usize) {
        self.messages = self.messages.saturating_sub(1);
        self.bytes = self
            .bytes
            .saturating_sub(payload as u64 + Self::PER_MESSAGE);
    }

    /// The departure of a sender that pushed the queue past the limit, if this one did.
    fn cut_off(&self) -> Option<Departure> {
        (self.bytes > self.limit).then_some(Departure::Flooded {
            messages: self.messages,
            bytes: self.bytes,
            limit: self.limit,
        })
    }
}

/// Frames that matching decided to send (acknowledgements), sent once the lock is released.
pub(crate) type Outbox = Vec<(usize, Frame)>;

impl State {
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The next message's place in arrival order.
    pub(crate) fn next_arrival(&mut self) -> u64 {
        self.arrived += 1;
        self.arrived
    }

    /// Posts a receive for `pattern` from `awaited` and returns its id. A message already
    /// waiting matches it at once (and is acknowledged into `outbox` if it was synchronous);
    /// a receive that no message can satisfy any more fails at once.
    pub(crate) fn post_recv(
        &mut self,
        pattern: Pattern,
        awaited: Awaited,
        outbox: &mut Outbox,
    ) -> PostId {
        let seq = self.next_id();
        let id = self.recvs.next_id(seq);
        let outcome = match self.matcher.post(id, pattern) {
            Some((_, arrival)) => {
                self.backlog.remove(arrival.payload.len());
                acknowledge(arrival.from, &arrival.header, outbox);
                Some(Ok(arrival))
            }
            None => unsatisfiable(&self.departed, &awaited).map(|error| {
                self.matcher.cancel(pattern.context, id);
                Err(error)
            }),
        };
        let purpose = Receiving {
            context: pattern.context,
            awaited,
        };
        self.recvs.insert(id, purpose, outcome);
        id
    }

    /// Withdraws receive `id`, whose caller no longer wants it. A message it already
    /// matched is not lost: it goes back where it was in arrival order, to the first
    /// receive posted since that it fits or else into the unexpected queue. `buf` is the
    /// receive's buffer, where part or all of its message may already lie; returns how
    /// many other receives completed.
    pub(crate) fn cancel_recv(&mut self, id: PostId, buf: Option<&[u8]>) -> usize {
        let Some(wait) = self.recvs.remove(id) else {
            return 0;
        };
        match wait.outcome {
            Some(Ok(arrival)) => match whole(arrival, buf) {
                Some(arrival) => self.give_back(arrival),
                None => 0,
            },
            Some(Err(_)) => 0,
            None if self.matcher.cancel(wait.purpose.context, id) => 0,
            None => {
                // Not posted, no outcome: its message is being placed in its buffer.
                if let Some(placing) = self.placing.of_receive(id) {
                    let placed = buf.and_then(|buf| buf.get(..placing.placed));
                    placing.orphaned = Some(placed.unwrap_or_default().to_vec());
                }
                0
            }
        }
    }

    /// Puts back a message whose receive was withdrawn (see [`State::cancel_recv`]).
    fn give_back(&mut self, arrival: Arrival) -> usize {
        let (envelope, seq, len) = (arrival.envelope(), arrival.seq, arrival.payload.len());
        match self.matcher.give_back(envelope, arrival, |m| m.seq > seq) {
            Some((id, arrival)) => self.complete_recv(id, arrival),
            None => {
                self.backlog.add(len);
                0
            }
        }
    }

    /// Starts waiting for the acknowledgement of a synchronous send to world rank `dest`;
    /// the id goes into the frame's header.
    pub(crate) fn start_sync(&mut self, dest: usize) -> u64 {
        let id = self.next_id();
        let wait = SyncWait {
            purpose: dest,
            outcome: None,
        };
        self.syncs.insert(id, wait);
        id
    }

    /// The outcome of synchronous send `id` (removed), or `None` while it is pending.
    pub(crate) fn take_sync(&mut self, id: u64) -> Option<Result<()>> {
        take_outcome(&mut self.syncs, id)
    }

    /// Stops waiting for synchronous send `id`.
    pub(crate) fn forget_sync(&mut self, id: u64) {
        self.syncs.remove(&id);
    }

    /// Takes one transport event into the matching state; returns how many waits completed.
    pub(crate) fn handle(&mut self, event: Event, outbox: &mut Outbox) -> usize {
        self.events += 1;
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
                    seq: 0,
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

    pub(crate) fn accept(&mut self, arrival: Arrival, outbox: &mut Outbox) -> usize {
        let header = arrival.header;
        match header.kind {
            FrameKind::Data | FrameKind::SyncData => {
                if let Some(Departure::Flooded { .. }) = self.departed.get(&arrival.from) {
                    return 0; // cut off: what it sends no longer counts
                }
                let envelope = Envelope {
                    context: header.context,
                    source: header.source,
                    tag: header.tag,
                };
                let from = arrival.from;
                let mut arrival = arrival;
                let len = arrival.payload.len();
                arrival.seq = self.next_arrival();
                match self.matcher.arrive(envelope, arrival) {
                    Some((id, _, arrival)) => {
                        acknowledge(arrival.from, &arrival.header, outbox);
                        self.complete_recv(id, arrival)
                    }
                    None => {
                        self.backlog.add(len);
                        let Some(flooded) = self.backlog.cut_off() else {
                            return 0;
                        };
                        let limit = self.backlog.limit;
                        tracing::warn!(
                            "cut off rank {from}: unexpected messages past {limit} bytes"
                        );
                        self.depart(from, flooded)
                    }
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
        let placing = self.placing.remove(from).expect("found above");
        let arrival = placing.arrival(from, Payload::Placed { len: placed });
        self.complete_recv(placing.id, arrival)
    }

    /// The rest of a frame from `from` that was placed in part.
    fn rest(&mut self, from: usize, rest: Bytes) -> usize {
        let Some(mut placing) = self.placing.remove(from) else {
            tracing::error!(
                from,
                "a transport sent the rest of a frame nobody had taken"
            );
            return 0;
        };
        debug_assert_eq!(placing.placed + rest.len(), placing.header.len as usize);
        let Some(mut first) = placing.orphaned.take() else {
            let payload = Payload::Split {
                placed: placing.placed,
                rest,
            };
            return self.complete_recv(placing.id, placing.arrival(from, payload));
        };
        // Its receive was withdrawn: the message goes back whole.
        first.extend_from_slice(&rest);
        self.give_back(placing.arrival(from, Payload::Here(Bytes::from(first))))
    }

    /// Gives receive `id` the message from `from`, unless the receive was withdrawn
    /// meanwhile.
    #[inline]
    fn complete_recv(&mut self, id: PostId, arrival: Arrival) -> usize {
        usize::from(self.recvs.complete(id, Ok(arrival)))
    }

    /// Records that `rank` left and fails every wait that can no longer be satisfied.
    fn depart(&mut self, rank: usize, how: Departure) -> usize {
        if let Some(Departure::Flooded { .. }) = self.departed.get(&rank) {
            return 0; // what it did next changes nothing: it stays cut off
        }
        tracing::debug!(rank, ?how, "peer departed");
        self.departed.insert(rank, how.clone());
        let mut failed = 0;
        if let Some(placing) = self.placing.remove(rank) {
            // It left in the middle of a payload: the receive gets the error, not the part.
            if self.recvs.complete(placing.id, Err(how.error(rank))) {
                failed += 1;
            }
        }
        let (recvs, departed) = (&self.recvs, &self.departed);
        let mut failures = Vec::new();
        self.matcher.withdraw_where(|id, _| {
            let why = recvs
                .purpose(id)
                .and_then(|purpose| unsatisfiable(departed, &purpose.awaited));
            let doomed = why.is_some();
            failures.extend(why.map(|error| (id, error)));
            doomed
        });
        failed += failures.len();
        for (id, error) in failures {
            self.recvs.complete(id, Err(error));
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
pub(crate) fn unsatisfiable(
    departed: &HashMap<usize, Departure>,
    awaited: &Awaited,
) -> Option<Error> {
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

/// `arrival` with its payload whole: what a withdrawn receive's buffer `buf` already holds
/// of it copied out. `None` (logged) if part of it lies in a buffer that is not given.
fn whole(arrival: Arrival, buf: Option<&[u8]>) -> Option<Arrival> {
    let (placed, rest) = match &arrival.payload {
        Payload::Placed { len } => (*len, Bytes::new()),
        Payload::Split { placed, rest } => (*placed, rest.clone()),
        _ => return Some(arrival),
    };
    let Some(first) = buf.and_then(|buf| buf.get(..placed)) else {
        tracing::error!("a withdrawn receive's message lies in a buffer that is gone");
        return None;
    };
    let mut bytes = Vec::with_capacity(placed + rest.len());
    bytes.extend_from_slice(first);
    bytes.extend_from_slice(&rest);
    Some(Arrival {
        payload: Payload::Here(Bytes::from(bytes)),
        ..arrival
    })
}

/// Queues the acknowledgement a synchronous message is owed once it is matched.
pub(crate) fn acknowledge(from: usize, header: &Header, outbox: &mut Outbox) {
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

pub(crate) fn probe(state: &State, pattern: &Pattern) -> Option<(Envelope, usize)> {
    state
        .matcher
        .probe(pattern)
        .map(|u| (*u.envelope, u.message.payload.len()))
}
