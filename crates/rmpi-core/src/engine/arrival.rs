//! What the engine's tables hold: a message that reached this rank ([`Arrival`]), and what
//! a receive or synchronous send waits for with its outcome ([`Wait`]).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::frame::{Frame, Header};
use crate::matching::Envelope;
use crate::payload::Payload;

/// A message that reached this rank, with the world rank it came from.
#[derive(Debug)]
pub(crate) struct Arrival {
    pub from: usize,
    pub header: Header,
    pub payload: Payload,
    /// When it arrived, counted in messages: a receive withdrawn after its message matched
    /// puts the message back in its place by it.
    pub seq: u64,
}

impl Arrival {
    pub(crate) fn of(from: usize, frame: Frame) -> Arrival {
        Arrival {
            from,
            header: frame.header,
            payload: Payload::Here(frame.payload),
            seq: 0,
        }
    }

    pub(crate) fn envelope(&self) -> Envelope {
        Envelope {
            context: self.header.context,
            source: self.header.source,
            tag: self.header.tag,
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
pub(crate) struct Wait<P, T> {
    pub(crate) purpose: P,
    pub(crate) outcome: Option<Result<T>>,
}

/// A posted receive: where it was posted and whom it waits for.
#[derive(Debug)]
pub(crate) struct Receiving {
    pub(crate) context: u64,
    pub(crate) awaited: Awaited,
}

/// A receive; completes with the message that matched it.
pub(crate) type RecvWait = Wait<Receiving, Arrival>;

/// A synchronous send to world rank `purpose`; completes once a receive matched it.
pub(crate) type SyncWait = Wait<usize, ()>;

/// The error for a request whose outcome was taken before.
pub(crate) fn already_taken() -> Error {
    Error::InvalidArgument("request outcome was already taken".into())
}
