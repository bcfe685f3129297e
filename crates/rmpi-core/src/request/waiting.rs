//! The futures of single waits in the engine: a receive, a synchronous send's
//! acknowledgement, and a receive into a caller's buffer.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::engine::{Arrival, Engine};
use crate::error::{Error, Result};
use crate::matching::PostId;
use crate::status::Status;

use super::taken;

/// What a [`Waiting`] future waits for in the engine.
pub(crate) trait WaitKind {
    /// What the wait completes with.
    type Output;
    /// Polls the engine for wait `id`.
    fn poll(engine: &Engine, id: u64, cx: &mut Context<'_>) -> Poll<Result<Self::Output>>;
    /// Tells the engine nobody waits for `id` any more.
    fn abandon(engine: &Engine, id: u64);
}

/// A receive: completes with the message that matched it; dropped, it is withdrawn.
#[derive(Debug)]
pub(crate) enum Receive {}

impl WaitKind for Receive {
    type Output = Arrival;

    fn poll(engine: &Engine, id: u64, cx: &mut Context<'_>) -> Poll<Result<Arrival>> {
        engine.poll_recv(id, cx)
    }

    fn abandon(engine: &Engine, id: u64) {
        engine.cancel_recv(id, None);
    }
}

/// A synchronous send: completes once a receive has matched the message.
#[derive(Debug)]
pub(crate) enum Acknowledgement {}

impl WaitKind for Acknowledgement {
    type Output = ();

    fn poll(engine: &Engine, id: u64, cx: &mut Context<'_>) -> Poll<Result<()>> {
        engine.poll_sync(id, cx)
    }

    fn abandon(engine: &Engine, id: u64) {
        engine.forget_sync(id);
    }
}

/// A future for one wait in the engine; dropping it before completion abandons the wait.
///
/// It holds the engine as `E`: shared (`Arc<Engine>`) by futures that may outlive their
/// communicator, borrowed (`&Engine`) by those that borrow it anyway, such as a receive
/// into a caller's buffer. Borrowing spares each receive two atomic read-modify-writes of
/// the engine's count, one of them between the message's arrival and the receive's return.
#[derive(Debug)]
pub(crate) struct Waiting<K: WaitKind, E: Deref<Target = Engine> = Arc<Engine>> {
    engine: E,
    id: u64,
    done: bool,
    kind: PhantomData<fn() -> K>,
}

impl<K: WaitKind, E: Deref<Target = Engine>> Waiting<K, E> {
    pub(crate) fn new(engine: E, id: u64) -> Self {
        Waiting {
            engine,
            id,
            done: false,
            kind: PhantomData,
        }
    }
}

impl<E: Deref<Target = Engine>> Waiting<Receive, E> {
    /// Polls a receive into `buf`: the transport may copy the message straight there, and
    /// the arrival's payload then says so.
    pub(crate) fn poll_into(
        &mut self,
        buf: &mut [u8],
        cx: &mut Context<'_>,
    ) -> Poll<Result<Arrival>> {
        let outcome = std::task::ready!(self.engine.poll_recv_into(self.id, buf, cx));
        self.done = true;
        Poll::Ready(outcome)
    }

    /// Withdraws the receive, unfinished, telling the engine what its buffer `buf` holds:
    /// part of its message may lie there already, and goes back with the rest.
    pub(crate) fn abandon_into(&mut self, buf: &[u8]) {
        if !self.done {
            self.done = true;
            self.engine.cancel_recv(self.id, Some(buf));
        }
    }
}

/// A receive into a caller's buffer: its message may be placed straight there, so a
/// receive dropped unfinished gives the engine the buffer, to put back whatever of the
/// message it holds.
pub(crate) struct ReceiveInto<'b, E: Deref<Target = Engine>> {
    pub(crate) waiting: Waiting<Receive, E>,
    pub(crate) buf: &'b mut [u8],
}

impl<E: Deref<Target = Engine>> ReceiveInto<'_, E> {
    /// Polls for the message, placing it in the buffer where the transport can.
    pub(crate) fn poll_arrival(&mut self, cx: &mut Context<'_>) -> Poll<Result<Arrival>> {
        self.waiting.poll_into(self.buf, cx)
    }
}

impl<E: Deref<Target = Engine>> Drop for ReceiveInto<'_, E> {
    fn drop(&mut self) {
        self.waiting.abandon_into(self.buf);
    }
}

/// A typed-buffer receive (`recv_into`, `irecv_into`) as a future of its status: the
/// message placed or copied into a buffer of `element_bytes`-byte elements. A receive that
/// could not be posted fails when first polled.
pub(crate) struct IntoBuffer<'a> {
    /// The error boxed: a failed post is rare, and a window of requests moves them all.
    receive: std::result::Result<ReceiveInto<'a, &'a Engine>, Option<Box<Error>>>,
    element_bytes: usize,
}

impl<'a> IntoBuffer<'a> {
    /// A receive posted into its buffer.
    #[inline(always)]
    pub(crate) fn posted(receive: ReceiveInto<'a, &'a Engine>, element_bytes: usize) -> Self {
        IntoBuffer {
            receive: Ok(receive),
            element_bytes,
        }
    }

    /// A receive that could not be posted: it fails with `error` when polled.
    #[inline(always)]
    pub(crate) fn failed(error: Error, element_bytes: usize) -> Self {
        IntoBuffer {
            receive: Err(Some(boxed(error))),
            element_bytes,
        }
    }

    /// The engine the receive is posted on.
    pub(super) fn engine(&self) -> Option<&'a Engine> {
        self.receive
            .as_ref()
            .ok()
            .map(|receive| receive.waiting.engine)
    }

    /// Whether the receive is posted on `engine`.
    pub(super) fn is_on(&self, engine: &Engine) -> bool {
        self.engine().is_some_and(|ours| std::ptr::eq(ours, engine))
    }

    /// The id the receive is posted under, while it is.
    pub(super) fn id(&self) -> Option<PostId> {
        self.receive.as_ref().ok().map(|receive| receive.waiting.id)
    }

    /// The receive's buffer, while it is posted (empty if it is not).
    pub(super) fn buffer(&mut self) -> &mut [u8] {
        match &mut self.receive {
            Ok(receive) => receive.buf,
            Err(_) => &mut [],
        }
    }

    /// Whether the receive is posted (it may have failed to be).
    pub(super) fn is_posted(&self) -> bool {
        self.receive.is_ok()
    }

    /// Its message, which `status` describes, was placed whole in its buffer while
    /// offered (the buffer had room for it): the receive is over, with this outcome.
    pub(super) fn placed(&mut self, status: Status) -> Result<Status> {
        match &mut self.receive {
            Ok(receive) => {
                receive.waiting.done = true;
                whole_elements(status, self.element_bytes)
            }
            Err(error) => Err(post_error(error)),
        }
    }
}

impl Future for IntoBuffer<'_> {
    type Output = Result<Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Status>> {
        let this = self.get_mut();
        match &mut this.receive {
            Ok(receive) => {
                let arrival = std::task::ready!(receive.poll_arrival(cx))?;
                Poll::Ready(copy_into(arrival, receive.buf, this.element_bytes))
            }
            Err(error) => Poll::Ready(Err(post_error(error))),
        }
    }
}

/// `error` on the heap, out of line: then a receive built on either path is plain values,
/// which the compiler can write straight to where the request goes.
#[cold]
#[inline(never)]
fn boxed(error: Error) -> Box<Error> {
    Box::new(error)
}

/// Why a receive could not be posted, the first time it is asked.
fn post_error(error: &mut Option<Box<Error>>) -> Error {
    error.take().map_or_else(taken, |error| *error)
}

/// What a receive reports of the message that completed it.
pub(crate) fn status_of(arrival: &Arrival) -> Status {
    Status::of_message(&arrival.header, arrival.payload.len())
}

/// `status`, if its message is a whole number of `element_bytes`-byte elements.
#[inline(always)]
fn whole_elements(status: Status, element_bytes: usize) -> Result<Status> {
    match status.count_of(element_bytes) {
        Some(_) => Ok(status),
        None => Err(element_mismatch(&status, element_bytes)),
    }
}

/// Copies an arrived message into `buf`, of `element_bytes`-byte elements (where the
/// transport has not placed it there already), and returns its status.
#[inline(always)]
pub(crate) fn copy_into(arrival: Arrival, buf: &mut [u8], element_bytes: usize) -> Result<Status> {
    let status = whole_elements(status_of(&arrival), element_bytes)?;
    let payload = arrival.payload;
    let Some(front) = buf.get_mut(..payload.len()) else {
        return Err(truncated(&status, buf.len()));
    };
    payload.copy_to(front)?;
    Ok(status)
}

/// The error for a message longer than the `buffer_bytes` a receive has for it.
pub(crate) fn truncated(status: &Status, buffer_bytes: usize) -> Error {
    Error::Truncated {
        source_rank: status.source,
        tag: status.tag,
        message_bytes: status.bytes,
        buffer_bytes,
    }
}

/// The error for a message that is not a whole number of `element_bytes`-byte elements.
pub(crate) fn element_mismatch(status: &Status, element_bytes: usize) -> Error {
    Error::ElementMismatch {
        source_rank: status.source,
        message_bytes: status.bytes,
        element_bytes,
    }
}

impl<K: WaitKind, E: Deref<Target = Engine> + Unpin> Future for Waiting<K, E> {
    type Output = Result<K::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = std::task::ready!(K::poll(&self.engine, self.id, cx));
        self.done = true;
        Poll::Ready(outcome)
    }
}

impl<K: WaitKind, E: Deref<Target = Engine>> Drop for Waiting<K, E> {
    fn drop(&mut self) {
        if !self.done {
            K::abandon(&self.engine, self.id);
        }
    }
}
