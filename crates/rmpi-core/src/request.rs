//! Requests: nonblocking operations in flight, and the futures the engine completes.
//!
//! A [`Request`] is what `isend`/`irecv` and friends return. The operation is started when the
//! call returns (a receive is already posted, so posting order is call order); the request is
//! then awaited, tested, or completed together with others by [`wait_all`] and [`wait_any`].
//! A request that borrows a buffer keeps that borrow until it is complete or dropped, so the
//! buffer can be neither freed nor changed while the operation uses it. Dropping a pending
//! receive withdraws it, like `MPI_Cancel` followed by `MPI_Request_free`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::engine::{Arrival, Engine};
use crate::error::{Error, Result};

/// A nonblocking operation in flight (`MPI_Request`). Await it, [`test`](Request::test) it, or
/// hand it to [`wait_all`]/[`wait_any`].
#[must_use = "a request does nothing useful unless it is completed"]
pub struct Request<'a, T> {
    operation: Option<Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>>,
}

impl<T> fmt::Debug for Request<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("complete", &self.operation.is_none())
            .finish()
    }
}

impl<'a, T> Request<'a, T> {
    /// Wraps an operation that is already under way (its first steps taken when it was
    /// called) as a request; used by collectives and other layers built on rmpi-core.
    pub fn new(operation: impl Future<Output = Result<T>> + Send + 'a) -> Self {
        Request {
            operation: Some(Box::pin(operation)),
        }
    }

    /// Makes progress without waiting (`MPI_Test`): the outcome if the operation is complete,
    /// `None` if not, and `None` again after the outcome was taken.
    pub fn test(&mut self) -> Option<Result<T>> {
        let operation = self.operation.as_mut()?;
        // A test is not a wait: deadlock reports leave out what is only tested.
        let polled = crate::waits::testing(|| {
            operation
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
        });
        match polled {
            Poll::Ready(outcome) => {
                self.operation = None;
                Some(outcome)
            }
            Poll::Pending => None,
        }
    }

    /// Whether the outcome was already taken by [`test`](Request::test) or a wait.
    pub fn is_taken(&self) -> bool {
        self.operation.is_none()
    }
}

impl<T> Future for Request<'_, T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let Some(operation) = self.operation.as_mut() else {
            return Poll::Ready(Err(Error::InvalidArgument(
                "request outcome was already taken".into(),
            )));
        };
        let outcome = std::task::ready!(operation.as_mut().poll(cx));
        self.operation = None;
        Poll::Ready(outcome)
    }
}

/// Completes every request (`MPI_Waitall`) and returns their values in order, or the first
/// error once all of them have finished, so no operation is left half-done behind an error.
pub async fn wait_all<'a, T>(requests: impl IntoIterator<Item = Request<'a, T>>) -> Result<Vec<T>> {
    let mut requests: Vec<Request<'a, T>> = requests.into_iter().collect();
    let mut outcomes: Vec<Option<Result<T>>> = requests.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (request, outcome) in requests.iter_mut().zip(outcomes.iter_mut()) {
            if outcome.is_none() {
                match Pin::new(&mut *request).poll(cx) {
                    Poll::Ready(done) => *outcome = Some(done),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outcomes.into_iter().flatten().collect()
}

/// Waits until one of the requests completes (`MPI_Waitany`), removes it from `requests`, and
/// returns its index (before removal) with its outcome; `None` if `requests` is empty.
pub async fn wait_any<'a, T>(requests: &mut Vec<Request<'a, T>>) -> Option<(usize, Result<T>)> {
    if requests.is_empty() {
        return None;
    }
    let (index, outcome) = std::future::poll_fn(|cx| {
        for (index, request) in requests.iter_mut().enumerate() {
            if let Poll::Ready(outcome) = Pin::new(request).poll(cx) {
                return Poll::Ready((index, outcome));
            }
        }
        Poll::Pending
    })
    .await;
    drop(requests.remove(index));
    Some((index, outcome))
}

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
