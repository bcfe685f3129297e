//! The receive side's tables: posted receives by id with their outcomes ([`Receives`]), and
//! frames being placed in a receive's buffer that have not all arrived ([`Placings`]).

use slab::Slab;

use super::arrival::{already_taken, Arrival, Receiving, RecvWait};
use crate::error::Result;
use crate::frame::Header;
use crate::matching::PostId;
use crate::payload::Payload;

/// Posted receives by id. An id is a slot in a slab with a sequence number above it: a
/// lookup is an index (receives are looked up several times per message), and the id of a
/// receive that is gone never finds the slot's next tenant. Outcomes are kept apart, by
/// slot: posting a receive then writes only what it knows, not room for a whole message.
#[derive(Debug, Default)]
pub(crate) struct Receives {
    slots: Slab<(PostId, Receiving)>,
    /// Each slot's outcome; `None` in every slot without one, vacant slots included.
    outcomes: Vec<Option<Result<Arrival>>>,
}

impl Receives {
    /// The id the next receive inserted gets, made from the sequence number `seq`.
    pub(crate) fn next_id(&self, seq: u64) -> PostId {
        // Slots stay far below 2^32; a sequence number wraps only after 2^32 receives, long
        // after any stale id of the slot is gone.
        seq << 32 | self.slots.vacant_key() as u64
    }

    /// Inserts a receive under `id`, which [`Receives::next_id`] just gave, with its outcome
    /// if it has one already.
    pub(crate) fn insert(
        &mut self,
        id: PostId,
        purpose: Receiving,
        outcome: Option<Result<Arrival>>,
    ) {
        let slot = self.slots.insert((id, purpose));
        debug_assert_eq!(slot, Self::slot(id));
        if slot == self.outcomes.len() {
            self.outcomes.push(None);
        }
        if outcome.is_some() {
            self.outcomes[slot] = outcome;
        }
    }

    pub(crate) fn slot(id: PostId) -> usize {
        (id & u64::from(u32::MAX)) as usize
    }

    /// Receive `id`'s slot, while it is in the table.
    fn slot_of(&self, id: PostId) -> Option<usize> {
        let slot = Self::slot(id);
        matches!(self.slots.get(slot), Some((at, _)) if *at == id).then_some(slot)
    }

    /// What receive `id` waits for, while it is in the table.
    pub(crate) fn purpose(&self, id: PostId) -> Option<&Receiving> {
        self.slot_of(id).map(|slot| &self.slots[slot].1)
    }

    /// The outcome receive `id` holds (`None` while pending), while it is in the table.
    pub(crate) fn outcome_of(&self, id: PostId) -> Option<&Option<Result<Arrival>>> {
        self.slot_of(id).map(|slot| &self.outcomes[slot])
    }

    /// Gives receive `id` its outcome; `false` if it is no longer in the table.
    pub(crate) fn complete(&mut self, id: PostId, outcome: Result<Arrival>) -> bool {
        let Some(slot) = self.slot_of(id) else {
            return false;
        };
        self.outcomes[slot] = Some(outcome);
        true
    }

    pub(crate) fn remove(&mut self, id: PostId) -> Option<RecvWait> {
        let slot = self.slot_of(id)?;
        let (_, purpose) = self.slots.remove(slot);
        let outcome = self.outcomes[slot].take();
        Some(RecvWait { purpose, outcome })
    }

    /// Removes receive `id`, which its waiter has just been given its message.
    pub(crate) fn finish(&mut self, id: PostId) {
        if let Some(slot) = self.slot_of(id) {
            self.slots.remove(slot);
            if self.outcomes[slot].is_some() {
                self.outcomes[slot] = None;
            }
        }
    }

    /// The outcome of receive `id`: `mine`, its message if a drain has just handed it
    /// over, or else what the table holds for it (removed), or `None` while it is pending.
    #[inline]
    pub(crate) fn outcome(&mut self, id: PostId, mine: Option<Arrival>) -> Option<Result<Arrival>> {
        match mine {
            Some(arrival) => Some(Ok(arrival)),
            None => self.take_outcome(id),
        }
    }

    /// Removes and returns the outcome of receive `id`, or `None` while it is pending.
    #[inline]
    pub(crate) fn take_outcome(&mut self, id: PostId) -> Option<Result<Arrival>> {
        // Looked at before it is taken: taking moves the whole outcome, there or not.
        let Some(slot) = self.slot_of(id) else {
            return Some(Err(already_taken()));
        };
        self.outcomes[slot].as_ref()?;
        self.slots.remove(slot);
        self.outcomes[slot].take()
    }
}

/// A frame whose payload is going into the buffer of the receive it matched, but has not
/// all arrived (see [`Event::Placed`](crate::transport::Event::Placed)).
#[derive(Debug)]
pub(crate) struct Placing {
    pub(crate) id: PostId,
    pub(crate) header: Header,
    pub(crate) placed: usize,
    /// Its place in arrival order (see [`Arrival::seq`]).
    pub(crate) seq: u64,
    /// The part already placed, copied out of the buffer of a receive that was withdrawn
    /// meanwhile: the message is then put back whole once the rest arrives.
    pub(crate) orphaned: Option<Vec<u8>>,
}

impl Placing {
    /// Its message, from `from`, with `payload`.
    pub(crate) fn arrival(&self, from: usize, payload: Payload) -> Arrival {
        Arrival {
            from,
            header: self.header,
            payload,
            seq: self.seq,
        }
    }
}

/// [`Placing`]s by sender: a list, as there are rarely more than one, and one comes and
/// goes with every placed message.
#[derive(Debug, Default)]
pub(crate) struct Placings(Vec<(usize, Placing)>);

impl Placings {
    pub(crate) fn get_mut(&mut self, from: usize) -> Option<&mut Placing> {
        self.0.iter_mut().find(|(f, _)| *f == from).map(|(_, p)| p)
    }

    pub(crate) fn contains(&self, from: usize) -> bool {
        self.0.iter().any(|(f, _)| *f == from)
    }

    pub(crate) fn insert(&mut self, from: usize, placing: Placing) {
        debug_assert!(!self.contains(from));
        self.0.push((from, placing));
    }

    pub(crate) fn remove(&mut self, from: usize) -> Option<Placing> {
        let at = self.0.iter().position(|(f, _)| *f == from)?;
        Some(self.0.swap_remove(at).1)
    }

    /// The frame being placed in the buffer of receive `id`, if one is.
    pub(crate) fn of_receive(&mut self, id: PostId) -> Option<&mut Placing> {
        self.0.iter_mut().find(|(_, p)| p.id == id).map(|(_, p)| p)
    }
}
