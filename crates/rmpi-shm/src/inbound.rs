//! The receiving side: reading what peers wrote into their rings to this rank, records into
//! events, payloads placed straight into a waiting receive's buffer where one asks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rmpi_core::frame::HEADER_LEN;
use rmpi_core::lock::unpoisoned as lock;
use rmpi_core::pool;
use rmpi_core::{Event, Frame, FrameKind, Header, Placer};

use crate::lent::PeerPayload;
use crate::record::{self, Record};
use crate::segment::{Consumer, FannedPayload, Glance};
use crate::sync::{self, Ordering};
use crate::ShmTransport;

/// How far this rank got with a peer's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerState {
    Open,
    Finished,
    Gone,
}

/// A frame being read in pieces: `payload` grows to `header.len - skip` bytes, the first
/// `skip` having gone to a receive's buffer (see [`Placer`]).
pub(crate) struct Partial {
    pub(crate) header: Header,
    pub(crate) skip: usize,
    pub(crate) payload: Vec<u8>,
}

impl Partial {
    /// Payload bytes still to come.
    pub(crate) fn left(&self) -> usize {
        self.header.len as usize - self.skip - self.payload.len()
    }
}

/// How long a receive whose payload is being placed waits for the sender's next record
/// before it takes what came and leaves the rest to come into memory of this rank's.
const PLACING_PATIENCE: Duration = Duration::from_micros(100);

/// Why `record` may not come now, if so: a frame's payload records come together, and
/// after its goodbye a peer only releases what it was lent.
fn out_of_turn(record: &Record, inbound: &Inbound) -> Option<String> {
    let more = matches!(record, Record::More { .. });
    match (&inbound.partial, more) {
        (Some(partial), false) => {
            return Some(format!(
                "sent {record:?} in the middle of a {}-byte payload",
                partial.header.len
            ))
        }
        (Some(partial), true) => {
            let left = partial.left();
            if record.chunk() > left {
                return Some(format!(
                    "sent {record:?} where {left} payload bytes were left"
                ));
            }
        }
        (None, true) => return Some(format!("sent {record:?} outside a payload")),
        (None, false) => {}
    }
    let after_goodbye = !matches!(record, Record::Released { .. } | Record::Abandoned);
    (inbound.state == PeerState::Finished && after_goodbye)
        .then(|| format!("sent {record:?} after its goodbye"))
}

/// Why `record` may not come in the middle of a placed payload with `left` bytes to come.
fn out_of_place(record: &Record, left: usize) -> Option<String> {
    match record {
        Record::More { chunk } if *chunk <= left => None,
        Record::More { .. } => Some(format!(
            "sent {record:?} where {left} payload bytes were left"
        )),
        _ => Some(format!("sent {record:?} in the middle of a payload")),
    }
}

/// Messages of at least this many bytes have their ring space handed back at once.
const EAGER_RELEASE_FROM: usize = 16 << 10;

/// The payload bytes an event brings (all of them, if they come in parts).
fn payload_len(event: &Event) -> usize {
    match event {
        Event::Frame { frame, .. } => frame.payload.len(),
        Event::Lent { header, .. } | Event::Placed { header, .. } => header.len as usize,
        Event::Rest { payload, .. } => payload.len(),
        _ => 0,
    }
}

/// Copies the payload bytes of `record`, the record at the head, onto the end of `payload`,
/// and moves past the record.
fn take_chunk(consumer: &mut Consumer, payload: &mut Vec<u8>, record: &Record) {
    let chunk = record.chunk();
    let spare = &mut payload.spare_capacity_mut()[..chunk];
    consumer.read_body_uninit(record.payload_at(), spare);
    // SAFETY: `read_body_uninit` initialized these `chunk` bytes of the spare capacity.
    unsafe { payload.set_len(payload.len() + chunk) };
    consumer.advance(record.body_len());
}

/// What [`ShmTransport::read_small`] made of the record at the head.
pub(crate) enum Small {
    /// A small frame, and what it became.
    Read(Event),
    /// A small frame, placed whole in a receive's buffer, which its placer completed at
    /// once: nothing to report (no event is built for the commonest message).
    Completed,
    /// Not a small frame: the general path reads it.
    NotOne,
}

impl Small {
    /// A small frame placed whole in a receive's buffer by `placer`.
    #[inline]
    fn placed(placer: &mut dyn Placer, peer: usize, header: &Header) -> Small {
        match placement(placer, peer, header, header.len as usize) {
            Some(event) => Small::Read(event),
            None => Small::Completed,
        }
    }
}

/// What placing `placed` bytes of the frame from `peer` with `header` in a receive's buffer
/// comes to: nothing to report if that is all of it and `placer` completed the receive at
/// once (no event is built for the commonest message), else an [`Event::Placed`].
fn placement(
    placer: &mut dyn Placer,
    peer: usize,
    header: &Header,
    placed: usize,
) -> Option<Event> {
    if placed as u64 == header.len && placer.placed_whole(peer, header) {
        return None;
    }
    Some(Event::Placed {
        from: peer,
        header: *header,
        placed,
    })
}

/// A frame of `payload`, copied out of the ring, from `peer`.
fn frame_of(peer: usize, header: Header, payload: &[u8]) -> Event {
    Event::Frame {
        from: peer,
        frame: Frame {
            header,
            payload: pool::copy_of(payload),
        },
    }
}

/// This rank's end of the ring from one peer.
pub(crate) struct Inbound {
    pub(crate) consumer: Consumer,
    pub(crate) partial: Option<Partial>,
    pub(crate) state: PeerState,
}

pub(crate) struct Incoming {
    pub(crate) rings: Vec<Option<Inbound>>,
    /// Where the next scan starts, so no peer is starved.
    pub(crate) next: usize,
    /// Events found but not yet handed out.
    pub(crate) ready: VecDeque<Event>,
}

impl ShmTransport {
    /// Reads what arrived from `peer`: an event, once one is complete. Hands the space read
    /// back to the peer before returning.
    pub(crate) fn read_from(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
    ) -> Option<Event> {
        let event = self.read_records(peer, inbound, placer);
        // Lazily while small messages come; eagerly once there are none, or after a large
        // one (one line written per large message is nothing), so that a sender finds the
        // ring empty when this rank has read everything it sent (see
        // `Senders::prefers_loan`).
        let lazily = event
            .as_ref()
            .is_some_and(|event| payload_len(event) < EAGER_RELEASE_FROM);
        self.give_back(peer, &mut inbound.consumer, lazily);
        event
    }

    /// Hands the space read from `peer`'s ring back to it (see [`Consumer::release`]), and
    /// rings its doorbell if any went back: it may be waiting for it.
    #[inline]
    pub(crate) fn give_back(&self, peer: usize, consumer: &mut Consumer, lazily: bool) {
        if consumer.release(lazily) {
            self.segment.doorbell(peer).ring();
        }
    }

    pub(crate) fn read_records(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
    ) -> Option<Event> {
        loop {
            if inbound.state == PeerState::Gone {
                return None;
            }
            let word = inbound.consumer.next_word()?;
            if inbound.partial.is_none() && inbound.state == PeerState::Open {
                match self.read_small(peer, inbound, placer, word) {
                    Small::Read(event) => return Some(event),
                    Small::Completed => {
                        self.give_back(peer, &mut inbound.consumer, true);
                        continue;
                    }
                    Small::NotOne => {}
                }
            }
            let fixed = inbound.consumer.read_fixed();
            let max_body = inbound.consumer.max_body();
            // Borrowed, not moved: a record is most of a line, and this path is every
            // message's.
            let decoded = Record::decode(word, &fixed, self.max_message, max_body);
            let record = match &decoded {
                Ok(record) => record,
                Err(error) => return Some(self.drop_peer(peer, inbound, error.to_string())),
            };
            if let Some(reason) = out_of_turn(record, inbound) {
                return Some(self.drop_peer(peer, inbound, reason));
            }
            match *record {
                Record::Frame { header, .. } if header.kind == FrameKind::Goodbye => {
                    inbound.consumer.advance(record.body_len());
                    // Its ring stays open both ways: while it shuts down it may still wait
                    // for our goodbye and for payloads it lent us, and release ours.
                    inbound.state = PeerState::Finished;
                    return Some(Event::PeerFinished { rank: peer });
                }
                Record::Frame { ref header, .. } => {
                    if let Some(placer) = placer.as_mut() {
                        if let Some(buf) = placer.place(peer, header) {
                            let placed = match self.place(peer, inbound, header, record, buf) {
                                Ok(placed) => placed,
                                Err(broken) => return Some(broken),
                            };
                            match placement(&mut **placer, peer, header, placed) {
                                Some(event) => return Some(event),
                                // Nothing to report: read on.
                                None => {
                                    self.give_back(peer, &mut inbound.consumer, true);
                                    continue;
                                }
                            }
                        }
                    }
                    let mut payload = pool::vec_with_capacity(header.len as usize);
                    take_chunk(&mut inbound.consumer, &mut payload, record);
                    inbound.partial = Some(Partial {
                        header: *header,
                        skip: 0,
                        payload,
                    });
                }
                Record::More { .. } => {
                    let partial = inbound.partial.as_mut()?;
                    take_chunk(&mut inbound.consumer, &mut partial.payload, record);
                }
                Record::Lent {
                    header,
                    address,
                    slot,
                } => {
                    inbound.consumer.advance(record.body_len());
                    // Copied later, by the receive that matches it, into its buffer.
                    return Some(Event::Lent {
                        from: peer,
                        header,
                        payload: Box::new(PeerPayload {
                            peer,
                            pid: self.pids[peer],
                            address,
                            len: header.len as usize,
                            slot,
                            senders: self.senders.clone(),
                            released: false,
                        }),
                    });
                }
                Record::Fanned { header, offset } => {
                    inbound.consumer.advance(record.body_len());
                    let area = self.segment.fanout(peer);
                    let bit = 1u64.checked_shl(self.rank as u32).unwrap_or(0);
                    // Copied later, by the receive that matches it, as a lent one is.
                    return Some(
                        match FannedPayload::new(peer, area, offset, header.len, bit) {
                            Ok(payload) => Event::Lent {
                                from: peer,
                                header,
                                payload: Box::new(
                                    payload.waiting_for(self.pids[peer], !self.spin.is_zero()),
                                ),
                            },
                            Err(reason) => self.drop_peer(peer, inbound, reason),
                        },
                    );
                }
                Record::Abandoned => {
                    inbound.consumer.advance(record.body_len());
                    let was_open = inbound.state == PeerState::Open;
                    inbound.state = PeerState::Gone;
                    self.senders.close(peer);
                    if !was_open {
                        return None; // it had said goodbye: nothing is lost
                    }
                    tracing::warn!("rank {peer} went away without shutting down");
                    return Some(Event::PeerLost { rank: peer });
                }
                Record::Released { address, len } => {
                    inbound.consumer.advance(record.body_len());
                    if let Err(reason) = self.senders.take_back(peer, address, len) {
                        return Some(self.drop_peer(peer, inbound, reason));
                    }
                    // Nothing for the engine: look for the next record.
                }
            }
            if inbound.partial.as_ref().is_some_and(|p| p.left() == 0) {
                let Partial {
                    header,
                    skip,
                    payload,
                } = inbound.partial.take()?;
                let payload = pool::into_bytes(payload);
                return Some(match skip {
                    0 => Event::Frame {
                        from: peer,
                        frame: Frame { header, payload },
                    },
                    _ => Event::Rest {
                        from: peer,
                        payload,
                    },
                });
            }
            // A long payload may fill the ring: hand space back while reading it.
            self.give_back(peer, &mut inbound.consumer, true);
        }
    }

    /// Reads the record at the head, whose word is `word`, if it is a small frame (a whole
    /// frame in one or two lines, every small message's path) and passes
    /// [`Record::decode_line`]'s checks: its payload goes straight to the placer's buffer if
    /// the receive waiting there takes it, else into a frame.
    #[inline]
    pub(crate) fn read_small(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
        word: u64,
    ) -> Small {
        // Any other record's first line is copied out by the general path only.
        if Record::small_chunk(word).is_none() {
            return Small::NotOne;
        }
        let line = inbound.consumer.read_fixed::<{ record::LINE_BODY }>();
        let Some((header, len)) = Record::decode_line(word, &line, self.max_message) else {
            return Small::NotOne;
        };
        if len > record::LINE_PAYLOAD {
            return self.read_second_line(peer, inbound, placer, &header);
        }
        let payload = &line[HEADER_LEN..HEADER_LEN + len];
        inbound.consumer.advance(HEADER_LEN + len);
        let Some(placer) = placer.as_mut() else {
            return Small::Read(frame_of(peer, header, payload));
        };
        let Some(buf) = placer.place(peer, &header) else {
            return Small::Read(frame_of(peer, header, payload));
        };
        buf.copy_from_slice(payload);
        Small::placed(&mut **placer, peer, &header)
    }

    /// [`ShmTransport::read_small`] for a small frame of two lines, whose payload fills the
    /// second: copied from there straight into the placer's buffer if the receive waiting
    /// there takes it, else into a frame.
    #[inline]
    fn read_second_line(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
        header: &Header,
    ) -> Small {
        let len = header.len as usize;
        let at = Record::small_payload_at(len);
        if let Some(placer) = placer.as_mut() {
            if let Some(buf) = placer.place(peer, header) {
                inbound.consumer.read_body(at, buf);
                inbound.consumer.advance(at + len);
                return Small::placed(&mut **placer, peer, header);
            }
        }
        let mut payload = [0u8; record::SMALL_PAYLOAD];
        inbound.consumer.read_body(at, &mut payload[..len]);
        inbound.consumer.advance(at + len);
        Small::Read(frame_of(peer, *header, &payload[..len]))
    }

    /// Copies the payload of the frame whose first record, `first`, is at the head straight
    /// into `buf`, the buffer of the receive that matched it, record by record as the sender
    /// writes them. If the sender falls behind for longer than [`PLACING_PATIENCE`], what
    /// is left comes into memory of this rank's as usual, to be reported as an
    /// [`Event::Rest`]. Returns how many bytes it placed, or, if the sender broke the
    /// protocol, the event saying so.
    pub(crate) fn place(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        header: &Header,
        first: &Record,
        buf: &mut [u8],
    ) -> Result<usize, Event> {
        let len = header.len as usize;
        debug_assert_eq!(buf.len(), len);
        if first.chunk() == len {
            // All of it in this record: a small message, every message's path.
            inbound.consumer.read_body(first.payload_at(), buf);
            inbound.consumer.advance(first.body_len());
            return Ok(len);
        }
        let mut placed = 0;
        let mut waiting_since = None;
        let mut next = None;
        loop {
            let record = next.as_ref().unwrap_or(first);
            let chunk = record.chunk();
            let consumer = &mut inbound.consumer;
            consumer.read_body(record.payload_at(), &mut buf[placed..placed + chunk]);
            consumer.advance(record.body_len());
            placed += chunk;
            if placed == len {
                break;
            }
            // The sender may be waiting for room: hand back what was read.
            self.give_back(peer, consumer, true);
            let word = loop {
                if let Some(word) = inbound.consumer.next_word() {
                    break Some(word);
                }
                let since = *waiting_since.get_or_insert_with(|| {
                    self.give_back(peer, &mut inbound.consumer, false);
                    Instant::now()
                });
                if since.elapsed() >= PLACING_PATIENCE {
                    break None;
                }
                sync::pause(!self.spin.is_zero());
            };
            let Some(word) = word else {
                tracing::debug!(
                    peer,
                    len,
                    placed,
                    "sender fell behind; the rest comes later"
                );
                inbound.partial = Some(Partial {
                    header: *header,
                    skip: placed,
                    payload: pool::vec_with_capacity(len - placed),
                });
                break;
            };
            waiting_since = None;
            let fixed = inbound.consumer.read_fixed();
            let max_body = inbound.consumer.max_body();
            let record = match Record::decode(word, &fixed, self.max_message, max_body) {
                Ok(record) => next.insert(record),
                Err(error) => return Err(self.drop_peer(peer, inbound, error.to_string())),
            };
            if let Some(reason) = out_of_place(record, len - placed) {
                return Err(self.drop_peer(peer, inbound, reason));
            }
        }
        Ok(placed)
    }

    /// `peer` broke the protocol: stop talking to it.
    pub(crate) fn drop_peer(&self, peer: usize, inbound: &mut Inbound, reason: String) -> Event {
        inbound.state = PeerState::Gone;
        self.senders.close(peer);
        tracing::error!("malformed record from rank {peer}: {reason}");
        Event::PeerMalformed { rank: peer, reason }
    }

    /// One pass over everything: backlog, reports of dead peers, every ring. Returns the
    /// next event, if any.
    pub(crate) fn progress(&self, mut placer: Option<&mut dyn Placer>) -> Option<Event> {
        // Most looks find nothing: find that out without taking the lock.
        if !self.readable() {
            return None;
        }
        let mut incoming = self.incoming.lock();
        if self.watch.news.load(Ordering::Relaxed) && self.watch.news.swap(false, Ordering::AcqRel)
        {
            let deaths = std::mem::take(&mut *lock(&self.watch.deaths));
            for peer in deaths {
                self.bury(peer, &mut incoming);
            }
        }
        // Under this lock `ready` says whether `incoming.ready` holds events: looking at it
        // first spares moving an empty event out of the queue at every look.
        if self.ready.load(Ordering::Relaxed) {
            if let Some(event) = incoming.ready.pop_front() {
                self.ready
                    .store(!incoming.ready.is_empty(), Ordering::Relaxed);
                return Some(event);
            }
        }
        let n = incoming.rings.len();
        let mut peer = incoming.next;
        for _ in 0..n {
            let next = if peer + 1 == n { 0 } else { peer + 1 };
            if let Some(inbound) = incoming.rings[peer].as_mut() {
                let event = self.read_from(peer, inbound, &mut placer);
                if event.is_some() {
                    incoming.next = next;
                    return event;
                }
            }
            peer = next;
        }
        None
    }

    /// Writes what waits for ring space, and says whether there may be something to read
    /// (without taking the lock, so it may say yes when the lock holder is reading it).
    #[inline]
    pub(crate) fn readable(&self) -> bool {
        self.senders.flush_backlog();
        self.watch.news.load(Ordering::Relaxed)
            || self.ready.load(Ordering::Relaxed)
            || self.glances.iter().any(Glance::waiting)
    }

    /// A peer died: deliver what it completed, then report it lost (unless it said goodbye).
    pub(crate) fn bury(&self, peer: usize, incoming: &mut Incoming) {
        let Some(mut inbound) = incoming.rings[peer].take() else {
            return;
        };
        while let Some(event) = self.read_from(peer, &mut inbound, &mut None) {
            incoming.ready.push_back(event);
        }
        if inbound.state == PeerState::Open {
            tracing::warn!("rank {peer} died without saying goodbye");
            incoming.ready.push_back(Event::PeerLost { rank: peer });
        }
        inbound.state = PeerState::Gone;
        self.senders.close(peer);
        incoming.rings[peer] = Some(inbound);
        self.ready
            .store(!incoming.ready.is_empty(), Ordering::Relaxed);
    }
}
