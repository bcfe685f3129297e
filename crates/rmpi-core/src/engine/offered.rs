//! Taking in the transport's events for a wait, and the receives' buffers it offers the
//! transport meanwhile: a message one of them is the first to match is copied straight
//! into it (the transport's [`Placer`]). A receive's own wait offers its buffer; a wait
//! over several requests (`wait_all`) offers all of theirs at once, and so takes in a
//! window of messages under one lock.

use std::task::{Context, Poll};

use crate::frame::{FrameKind, Header};
use crate::matching::{Envelope, PostId};
use crate::transport::{Event, Placer};

use super::arrival::Arrival;
use super::receives::Placing;
use super::state::{acknowledge, Outbox, State};
use super::{placed_whole, AwaitedReceive, Drained, Engine, DRAIN_BUDGET};

/// A receive's buffer offered to the transport, and the message placed whole in it, once
/// one was (the receive is then over and gone from the engine's tables).
pub(crate) struct Offered<'b> {
    pub(crate) id: PostId,
    pub(crate) buf: &'b mut [u8],
    pub(crate) arrival: Option<Arrival>,
}

/// The [`Placer`] over offered buffers, for one look at the transport.
struct Placements<'s, 'o, 'b> {
    state: &'s mut State,
    offered: &'o mut [Offered<'b>],
    /// Where to look first: messages usually come in the order their receives were posted.
    from_index: usize,
    /// The offered receive that took the frame, with the frame's sender and header.
    taken: Option<(usize, usize, Header)>,
}

/// Which receive in `offered`, still open, is `id`, with room for `len` bytes; looked for
/// from `from_index` on first.
fn index_of(offered: &[Offered<'_>], from_index: usize, id: PostId, len: usize) -> Option<usize> {
    let open = |o: &Offered<'_>| o.id == id && o.arrival.is_none() && len <= o.buf.len();
    let (front, back) = offered.split_at(from_index.min(offered.len()));
    match back.iter().position(open) {
        Some(at) => Some(front.len() + at),
        None => front.iter().position(open),
    }
}

impl Placer for Placements<'_, '_, '_> {
    fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]> {
        if self.taken.is_some() || !matches!(header.kind, FrameKind::Data | FrameKind::SyncData) {
            return None;
        }
        let len = usize::try_from(header.len).ok()?;
        if self.state.placing.contains(from) {
            return None;
        }
        let envelope = Envelope {
            context: header.context,
            source: header.source,
            tag: header.tag,
        };
        // A message too long for its receive's buffer takes the usual path, to its
        // `Truncated` error; one for a receive not offered, to that receive.
        let (offered, from_index) = (&*self.offered, self.from_index);
        let mut index = None;
        self.state.matcher.take_first_if(&envelope, |id| {
            index = index_of(offered, from_index, id, len);
            index.is_some()
        })?;
        let index = index?;
        self.taken = Some((index, from, *header));
        Some(&mut self.offered[index].buf[..len])
    }
}

impl Engine {
    /// Takes the ready transport events into the state (up to the budget) for a wait on
    /// `receive`, if any (see [`Engine::drain_offering`]).
    #[inline(always)]
    pub(super) fn drain(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        receive: Option<&mut AwaitedReceive<'_, '_>>,
    ) -> Drained {
        match receive {
            Some(receive) => self.drain_offering(state, outbox, receive.offered, Some(receive.id)),
            None => self.drain_offering(state, outbox, &mut [], None),
        }
    }

    /// Takes the ready transport events into the state (up to the budget), offering them
    /// to the buffers of the receives `offered`. It stops once every offered receive has
    /// its message placed, or receive `awaited` has its outcome, and leaves what follows
    /// to the receives it is for, which may then have it placed in their buffers in turn:
    /// a bcast's data follows its header, and a child that took it in while waiting for
    /// the header would copy it twice.
    #[inline(always)]
    fn drain_offering(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        offered: &mut [Offered<'_>],
        awaited: Option<PostId>,
    ) -> Drained {
        let mut completed = 0;
        let mut placed = 0;
        let open = offered.iter().filter(|o| o.arrival.is_none()).count();
        let from_index = offered.len() - open;
        // A transport with nothing ready keeps this waker, so the tasks waiting here are
        // woken by what comes next even when this look ends their poll.
        let mut cx = Context::from_waker(&self.progress_waker);
        for _ in 0..DRAIN_BUDGET {
            let event = if open == 0 {
                self.transport.try_recv(&mut cx)
            } else {
                let next = from_index + placed;
                match self.try_recv_offering(state, outbox, offered, next, &mut cx) {
                    Ok(_) => {
                        placed += 1;
                        if placed == open {
                            return Drained {
                                completed,
                                placed,
                                stopped_early: true,
                            };
                        }
                        continue;
                    }
                    Err(event) => event,
                }
            };
            let Some(event) = event else {
                return Drained {
                    completed,
                    placed,
                    stopped_early: false,
                };
            };
            completed += state.handle(event, outbox);
            self.note_departures(state);
            let got_it = |id| state.recvs.outcome_of(id).is_some_and(Option::is_some);
            if awaited.is_some_and(got_it) {
                return Drained {
                    completed,
                    placed,
                    stopped_early: true,
                };
            }
        }
        // Budget spent with events left: make sure somebody comes back for them.
        self.progress_waker.wake_by_ref();
        Drained {
            completed,
            placed,
            stopped_early: false,
        }
    }

    /// One look at the transport, offering it `offered`: `Ok(index)` if it placed a whole
    /// message in `offered[index]` (now holding its arrival); otherwise the event it had,
    /// if any, to be handled as usual. A message placed in part goes on as a [`Placing`]
    /// of its receive, which the rest completes.
    #[inline(always)]
    pub(super) fn try_recv_offering(
        &self,
        state: &mut State,
        outbox: &mut Outbox,
        offered: &mut [Offered<'_>],
        from_index: usize,
        cx: &mut Context<'_>,
    ) -> Result<usize, Option<Event>> {
        let mut placements = Placements {
            state: &mut *state,
            offered: &mut *offered,
            from_index,
            taken: None,
        };
        let event = self.transport.try_recv_placing(cx, &mut placements);
        let Some((index, from, header)) = placements.taken else {
            return Err(event);
        };
        let id = offered[index].id;
        match placed_whole(event, from, &header) {
            Ok(arrival) => {
                state.events += 1;
                acknowledge(from, &header, outbox);
                state.recvs.finish(id);
                offered[index].arrival = Some(arrival);
                Ok(index)
            }
            Err(event) => {
                let placing = Placing {
                    id,
                    header,
                    placed: 0,
                    seq: state.next_arrival(),
                    orphaned: None,
                };
                state.placing.insert(from, placing);
                Err(event)
            }
        }
    }

    /// Waits for messages for several receives into buffers at once (`wait_all`'s): each
    /// message one of them is the first to match is placed whole in its buffer, and its
    /// arrival left in `offered`. Ready once one or more were placed, with `false`; or with
    /// `true` once the first receive has its outcome in the engine's tables instead (a
    /// message placed in part, too long for its buffer, or an error): its own wait then
    /// takes it.
    pub(crate) fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        offered: &mut [Offered<'_>],
    ) -> Poll<bool> {
        let Some(first) = offered.first().map(|o| o.id) else {
            return Poll::Ready(false);
        };
        let receive = Some(AwaitedReceive { id: first, offered });
        self.poll_with(cx, receive, |state, offered| {
            if offered.iter().any(|o| o.arrival.is_some()) {
                return Some(false);
            }
            state
                .recvs
                .outcome_of(first)
                .is_some_and(Option::is_some)
                .then_some(true)
        })
    }
}
