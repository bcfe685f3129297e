//! Taking in the transport's events for a wait, and the receives' buffers it offers the
//! transport meanwhile: a message one of them is the first to match is copied straight
//! into it (the transport's [`Placer`]). A receive's own wait offers its buffer; a wait
//! over several requests (`wait_all`) offers all of theirs at once, and so takes in a
//! window of messages under one lock.

use std::task::{Context, Poll};

use crate::frame::{FrameKind, Header};
use crate::matching::{Envelope, PostId};
use crate::payload::Payload;
use crate::status::Status;
use crate::transport::{Event, Placer};

use super::arrival::Arrival;
use super::receives::Placing;
use super::state::{acknowledge, Outbox, State};
use super::{AwaitedReceive, Drained, Engine, DRAIN_BUDGET};

/// The receives a wait over several offers the transport (`wait_all`'s requests): their
/// buffers, and what becomes of those that a message is placed in whole (the receive is
/// then over and gone from the engine's tables).
pub(crate) trait Offers {
    /// Whether offered receive `id` is still open, with room for `len` bytes; if so, it
    /// is the one [`Offers::buffer`] and [`Offers::placed`] then mean.
    fn takes(&mut self, id: PostId, len: usize) -> bool;

    /// The buffer of the receive [`Offers::takes`] said yes to.
    fn buffer(&mut self) -> &mut [u8];

    /// That receive's message, which `status` describes, is all in its buffer: it is
    /// over.
    fn placed(&mut self, status: Status);

    /// How many offered receives are still open.
    fn open(&self) -> usize;
}

/// The [`Placer`] over offered buffers, for one look at the transport.
struct Placements<'s, 'o, O: ?Sized> {
    state: &'s mut State,
    outbox: &'s mut Outbox,
    offers: &'o mut O,
    /// The offered receive that took the frame, with the frame's sender and header.
    taken: Option<(PostId, usize, Header)>,
    /// How many messages were placed whole and their receives completed.
    placed: &'s mut usize,
}

impl<O: Offers + ?Sized> Placements<'_, '_, O> {
    /// The receive that took the frame from `from` with `header` has all of it: it is over.
    fn complete(&mut self, id: PostId, from: usize, header: &Header) {
        finish_placed(self.state, self.outbox, id, from, header);
        // Only what the receive reports: an arrival, built here and taken apart there,
        // would be copied on the way for nothing.
        self.offers
            .placed(Status::of_message(header, header.len as usize));
        *self.placed += 1;
    }
}

impl<O: Offers + ?Sized> Placer for Placements<'_, '_, O> {
    fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]> {
        if self.taken.is_some() {
            return None;
        }
        let (envelope, len) = placeable(self.state, from, header)?;
        // A message too long for its receive's buffer takes the usual path, to its
        // `Truncated` error; one for a receive not offered, to that receive.
        let offers = &mut *self.offers;
        let id = self
            .state
            .matcher
            .take_first_if(&envelope, |id| offers.takes(id, len))?;
        self.taken = Some((id, from, *header));
        Some(&mut self.offers.buffer()[..len])
    }

    /// Completes the receive at once while others stay open; the last one's placement is
    /// reported, so that the look ends there and what follows stays with the transport.
    fn placed_whole(&mut self, from: usize, header: &Header) -> bool {
        if self.offers.open() <= 1 {
            return false;
        }
        match self.taken {
            Some((id, taken_from, taken)) if taken_from == from && taken == *header => {
                self.taken = None;
                self.complete(id, from, header);
                true
            }
            _ => false,
        }
    }
}

/// The envelope and length of a frame from `from` with `header` that may go straight into
/// a receive's buffer: data, not from a peer whose last frame is still being placed.
#[inline(always)]
fn placeable(state: &State, from: usize, header: &Header) -> Option<(Envelope, usize)> {
    if !matches!(header.kind, FrameKind::Data | FrameKind::SyncData) {
        return None;
    }
    let len = usize::try_from(header.len).ok()?;
    if state.placing.contains(from) {
        return None;
    }
    let envelope = Envelope {
        context: header.context,
        source: header.source,
        tag: header.tag,
    };
    Some((envelope, len))
}

/// Receive `id` took the frame from `from` with `header`, and the transport placed all of
/// it in the receive's buffer: the receive is over, and this is its arrival.
#[inline(always)]
fn placed_whole(
    state: &mut State,
    outbox: &mut Outbox,
    id: PostId,
    from: usize,
    header: &Header,
) -> Arrival {
    finish_placed(state, outbox, id, from, header);
    Arrival {
        from,
        header: *header,
        payload: Payload::Placed {
            len: header.len as usize,
        },
        seq: 0, // its receive has it at once: never put back
    }
}

/// Receive `id` took the frame from `from` with `header`, and the transport placed all of
/// it in the receive's buffer: the engine is done with both.
#[inline(always)]
fn finish_placed(state: &mut State, outbox: &mut Outbox, id: PostId, from: usize, header: &Header) {
    state.events += 1;
    acknowledge(from, header, outbox);
    state.recvs.finish(id);
}

/// Receive `id` took the frame from `from` with `header`, but the transport placed only
/// part of it: the rest comes as an [`Event::Rest`], which completes the receive.
#[inline(always)]
fn placed_in_part(state: &mut State, id: PostId, from: usize, header: Header) {
    let placing = Placing {
        id,
        header,
        placed: 0,
        seq: state.next_arrival(),
        orphaned: None,
    };
    state.placing.insert(from, placing);
}

/// Whether `event` reports the frame from `from` with `header` placed whole.
#[inline(always)]
fn is_whole(event: &Option<Event>, from: usize, header: &Header) -> bool {
    matches!(
        event,
        Some(Event::Placed { from: placed_from, placed, .. })
            if *placed_from == from && *placed as u64 == header.len
    )
}

/// The buffer of the one receive a wait is for, offered to the transport while the wait
/// looks for events.
struct Placement<'s, 'b> {
    state: &'s mut State,
    id: PostId,
    buf: &'b mut [u8],
    /// The sender and header of the frame the receive took, once it took one.
    taken: Option<(usize, Header)>,
}

impl Placer for Placement<'_, '_> {
    fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]> {
        if self.taken.is_some() {
            return None;
        }
        let (envelope, len) = placeable(self.state, from, header)?;
        // One too long for the buffer takes the usual path, to its `Truncated` error.
        if len > self.buf.len() {
            return None;
        }
        let id = self.id;
        self.state
            .matcher
            .take_first_if(&envelope, |first| first == id)?;
        self.taken = Some((from, *header));
        Some(&mut self.buf[..len])
    }
}

impl Engine {
    /// Takes the ready transport events into the state (up to the budget) for a wait on
    /// `receive`, if any: a receive's own wait offers its buffer, if it has one; a wait
    /// over several receives offers theirs ([`Engine::drain_offering`]). A wait stops
    /// taking in events at its receive's message and leaves what follows to the receives
    /// it is for, which may then have it placed in their buffers in turn: a bcast's data
    /// follows its header, and a child that took it in while waiting for the header would
    /// copy it twice.
    #[inline(always)]
    pub(super) fn drain<O: Offers + ?Sized>(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        receive: Option<&mut AwaitedReceive<'_, O>>,
    ) -> Drained {
        let mut receive = match receive {
            Some(AwaitedReceive {
                id,
                offers: Some(offers),
                ..
            }) => return self.drain_offering(state, outbox, &mut **offers, *id),
            receive => receive,
        };
        let mut completed = 0;
        // A transport with nothing ready keeps this waker, so the tasks waiting here are
        // woken by what comes next even when this look ends their poll.
        let mut cx = Context::from_waker(&self.progress_waker);
        for _ in 0..DRAIN_BUDGET {
            let event = match receive.as_mut() {
                Some(AwaitedReceive {
                    id, buf: Some(buf), ..
                }) => {
                    let mut placement = Placement {
                        state: &mut *state,
                        id: *id,
                        buf,
                        taken: None,
                    };
                    let event = self.transport.try_recv_placing(&mut cx, &mut placement);
                    match placement.taken {
                        Some((from, header)) if is_whole(&event, from, &header) => {
                            // A placed event owns nothing: forgetting it spares a call to
                            // its drop, which does not know which kind of event it drops.
                            std::mem::forget(event);
                            // The awaited receive has all of its message: it ends here,
                            // without passing through the receives' table.
                            let mine = placed_whole(state, outbox, *id, from, &header);
                            return Drained {
                                completed: completed + 1,
                                placed: 0,
                                stopped_early: true,
                                mine: Some(mine),
                            };
                        }
                        Some((from, header)) => placed_in_part(state, *id, from, header),
                        None => {}
                    }
                    event
                }
                _ => self.transport.try_recv(&mut cx),
            };
            let Some(event) = event else {
                return Drained::stopped(completed, 0, false);
            };
            completed += state.handle(event, outbox);
            self.note_departures(state);
            let got_it = |receive: &&mut AwaitedReceive<'_, O>| {
                let outcome = state.recvs.outcome_of(receive.id);
                outcome.is_some_and(Option::is_some)
            };
            if receive.as_ref().is_some_and(got_it) {
                return Drained::stopped(completed, 0, true);
            }
        }
        // Budget spent with events left: make sure somebody comes back for them.
        self.progress_waker.wake_by_ref();
        Drained::stopped(completed, 0, false)
    }

    /// [`Engine::drain`] for a wait over several receives, offering the transport their
    /// buffers: it stops once every offered receive has its message placed, or the first
    /// of them, `first`, has its outcome in the tables.
    #[inline(always)]
    fn drain_offering<O: Offers + ?Sized>(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        offers: &mut O,
        first: PostId,
    ) -> Drained {
        let mut completed = 0;
        let mut placed = 0;
        let open = offers.open();
        let mut cx = Context::from_waker(&self.progress_waker);
        for _ in 0..DRAIN_BUDGET {
            let event = match self.try_recv_offering(state, outbox, offers, &mut placed, &mut cx) {
                Ok(()) if placed == open => return Drained::stopped(completed, placed, true),
                Ok(()) => continue,
                Err(event) => event,
            };
            let Some(event) = event else {
                return Drained::stopped(completed, placed, false);
            };
            completed += state.handle(event, outbox);
            self.note_departures(state);
            if state.recvs.outcome_of(first).is_some_and(Option::is_some) {
                return Drained::stopped(completed, placed, true);
            }
        }
        self.progress_waker.wake_by_ref();
        Drained::stopped(completed, placed, false)
    }

    /// One look at the transport, offering it `offers`, adding to `placed` each message
    /// placed whole in one of their buffers (that receive is then over): `Ok` if the look
    /// ended with one; otherwise the event it ended with, if any, to be handled as usual.
    /// A message placed in part goes on as a [`Placing`] of its receive, which the rest
    /// completes.
    #[inline(always)]
    fn try_recv_offering<O: Offers + ?Sized>(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        offers: &mut O,
        placed: &mut usize,
        cx: &mut Context<'_>,
    ) -> Result<(), Option<Event>> {
        let mut placements = Placements {
            state,
            outbox,
            offers,
            taken: None,
            placed,
        };
        let event = self.transport.try_recv_placing(cx, &mut placements);
        match placements.taken {
            Some((id, from, header)) if is_whole(&event, from, &header) => {
                // A placed event owns nothing (see `drain`).
                std::mem::forget(event);
                placements.complete(id, from, &header);
                Ok(())
            }
            Some((id, from, header)) => {
                placed_in_part(placements.state, id, from, header);
                Err(event)
            }
            None => Err(event),
        }
    }

    /// Waits for messages for several receives into buffers at once (`wait_all`'s), the
    /// first of which is `first`: each message one of them is the first to match is placed
    /// whole in its buffer, and that receive completed by `offers`. Ready with `false` once
    /// one or more were placed; or with `true` once `first` has its outcome in the
    /// engine's tables instead (a message placed in part, too long for its buffer, or an
    /// error): its own wait then takes it.
    pub(crate) fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        first: PostId,
        offers: &mut impl Offers,
    ) -> Poll<bool> {
        let open = offers.open();
        let receive = Some(AwaitedReceive {
            id: first,
            buf: None,
            offers: Some(offers),
        });
        self.poll_with(cx, receive, |state, _, offers| {
            // The wait returns at the first message placed: until then `first` is the
            // first receive still open.
            if offers.is_some_and(|offers| offers.open() < open) {
                return Some(false);
            }
            let ready = state.recvs.outcome_of(first).is_some_and(Option::is_some);
            ready.then_some(true)
        })
    }
}
