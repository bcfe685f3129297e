//! Requests: nonblocking operations in flight, and the futures the engine completes.
//!
//! A [`Request`] is what `isend`/`irecv` and friends return. The operation is started when the
//! call returns (a receive is already posted, so posting order is call order); the request is
//! then awaited, tested, or completed together with others by [`wait_all`], [`wait_any`],
//! [`wait_some`], [`test_any`] and [`test_all`]. As in MPI, a request completed by one of
//! these keeps its place in the caller's list (it is then *taken*), so indices stay valid.
//! A request that borrows a buffer keeps that borrow until it is complete or dropped, so the
//! buffer can be neither freed nor changed while the operation uses it. Dropping a pending
//! receive withdraws it, like `MPI_Cancel` followed by `MPI_Request_free`.

use std::borrow::BorrowMut;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::engine::{Arrival, Engine};
use crate::error::{Error, Result};
use crate::status::Status;
use crate::waits::Traced;

/// A nonblocking operation in flight (`MPI_Request`). Await it, [`test`](Request::test) it, or
/// hand it to [`wait_all`], [`wait_any`], [`wait_some`], [`test_any`] or [`test_all`].
///
/// ```
/// let results = rmpi::local::run(2, |comm| async move {
///     let peer = 1 - comm.rank();
///     let receive = comm.irecv_with_status::<u32>(peer, 0); // posted now
///     comm.send(&(comm.rank() as u32), peer, 0).await?;
///     let (value, status) = receive.await?;
///     assert_eq!(status.source, peer);
///     Ok::<_, rmpi::Error>(value)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &1);
/// ```
#[must_use = "a request does nothing useful unless it is completed"]
pub struct Request<'a, T> {
    state: State<'a, T>,
}

enum State<'a, T> {
    Running(Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>),
    /// A receive into a caller's buffer, the commonest request, kept in place rather than
    /// boxed: a window of small receives would cost an allocation each. Its status becomes
    /// the request's value by the function beside it (for a `Request<Status>`, itself).
    Receiving(Traced<IntoBuffer<'a>>, fn(Result<Status>) -> Result<T>),
    Done(Result<T>),
    Taken,
}

impl<T> fmt::Debug for Request<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Running(_) | State::Receiving(..) => "running",
            State::Done(_) => "complete",
            State::Taken => "taken",
        };
        f.debug_struct("Request").field("state", &state).finish()
    }
}

impl<'a, T> Request<'a, T> {
    /// Wraps an operation that is already under way (its first steps taken when it was
    /// called) as a request; used by collectives and other layers built on rmpi-core.
    ///
    /// ```
    /// let mut request = rmpi::Request::new(async { Ok(7) });
    /// assert_eq!(request.test().unwrap()?, 7);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn new(operation: impl Future<Output = Result<T>> + Send + 'a) -> Self {
        Request {
            state: State::Running(Box::pin(operation)),
        }
    }

    /// A request for an operation that finished when it was started, such as a send
    /// copied out at once: nothing to box.
    pub(crate) fn done(outcome: Result<T>) -> Self {
        Request {
            state: State::Done(outcome),
        }
    }

    /// Makes progress without waiting (`MPI_Test`): the outcome if the operation is complete,
    /// `None` if not, and `None` again after the outcome was taken.
    ///
    /// ```
    /// let mut request = rmpi::Request::new(async { Ok("done") });
    /// assert!(matches!(request.test(), Some(Ok("done"))));
    /// assert!(request.test().is_none() && request.is_taken());
    /// ```
    pub fn test(&mut self) -> Option<Result<T>> {
        match self.poll_done(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(()) => self.take(),
            Poll::Pending => None,
        }
    }

    /// Cancels the operation if it has not completed (`MPI_Cancel`): a pending receive is
    /// withdrawn and its message, if one had already matched it, goes to the next receive
    /// that fits, so nothing is lost. `None` if it was cancelled; if it had already
    /// completed, cancelling fails and its outcome comes back instead, as MPI's
    /// `Test_cancelled` would say.
    ///
    /// ```
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let cancelled = comm.irecv::<u8>(0, 1).cancel().is_none();
    ///     comm.send(&5u8, 0, 1).await?;
    ///     let value: u8 = comm.recv(0, 1).await?; // the message went to this receive
    ///     Ok::<_, rmpi::Error>((cancelled, value))
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &(true, 5));
    /// ```
    pub fn cancel(mut self) -> Option<Result<T>> {
        self.test()
    }

    /// Whether the outcome was already taken by [`test`](Request::test) or a wait.
    ///
    /// ```
    /// let mut request = rmpi::Request::new(async { Ok(()) });
    /// assert!(!request.is_taken());
    /// request.test();
    /// assert!(request.is_taken());
    /// ```
    pub fn is_taken(&self) -> bool {
        matches!(self.state, State::Taken)
    }

    /// Polls the operation until it is done, keeping its outcome in the request; ready at
    /// once for a request that is complete or taken.
    fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A test is not a wait: deadlock reports leave out what is only tested.
        let polled = match &mut self.state {
            State::Running(operation) => crate::waits::testing(|| operation.as_mut().poll(cx)),
            State::Receiving(receive, finish) => {
                crate::waits::testing(|| Pin::new(receive).poll(cx)).map(*finish)
            }
            State::Done(_) | State::Taken => return Poll::Ready(()),
        };
        self.state = State::Done(std::task::ready!(polled));
        Poll::Ready(())
    }

    /// The outcome of a complete request, leaving it taken.
    fn take(&mut self) -> Option<Result<T>> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Done(outcome) => Some(outcome),
            state => {
                self.state = state;
                None
            }
        }
    }
}

// The boxed operation is pinned on its own, a receive in place never needs pinning (it
// holds no reference into itself: `Traced<IntoBuffer>` is `Unpin`), and an outcome is only
// ever moved out whole.
impl<T> Unpin for Request<'_, T> {}

// Requests move between threads (a blocking caller's, a runtime's workers): a receive kept
// in place must not make them stay on one.
const _: () = {
    fn is_send<T: Send>() {}
    let _ = is_send::<Request<'static, Status>>;
};

impl<'a> Request<'a, Status> {
    /// The request of a receive into a caller's buffer, kept in place (see
    /// [`IntoBuffer`]).
    pub(crate) fn receiving(receive: Traced<IntoBuffer<'a>>) -> Self {
        Request {
            state: State::Receiving(receive, std::convert::identity),
        }
    }
}

impl<T> Future for Request<'_, T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        let outcome = match &mut this.state {
            State::Running(operation) => std::task::ready!(operation.as_mut().poll(cx)),
            State::Receiving(receive, finish) => {
                finish(std::task::ready!(Pin::new(receive).poll(cx)))
            }
            State::Done(_) | State::Taken => {
                return Poll::Ready(this.take().unwrap_or_else(|| Err(taken())));
            }
        };
        this.state = State::Taken;
        Poll::Ready(outcome)
    }
}

fn taken() -> Error {
    Error::InvalidArgument("request outcome was already taken".into())
}

/// Completes every request (`MPI_Waitall`) and returns their values in order, or the first
/// error once all of them have finished, so no operation is left half-done behind an error.
///
/// ```
/// let results = rmpi::local::run(3, |comm| async move {
///     if comm.rank() == 0 {
///         let receives = (1..3).map(|source| comm.irecv::<usize>(source, 0));
///         let values: Vec<usize> = rmpi::wait_all(receives).await?;
///         Ok::<_, rmpi::Error>(values)
///     } else {
///         comm.send(&comm.rank(), 0, 0).await?;
///         Ok(Vec::new())
///     }
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &[1, 2]);
/// ```
pub async fn wait_all<'a, T>(requests: impl IntoIterator<Item = Request<'a, T>>) -> Result<Vec<T>> {
    let mut requests: Vec<Request<'a, T>> = requests.into_iter().collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for request in requests.iter_mut() {
            pending |= request.poll_done(cx).is_pending();
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    requests
        .iter_mut()
        .map(|request| request.take().unwrap_or_else(|| Err(taken())))
        .collect()
}

/// Waits until one of the requests not yet taken completes (`MPI_Waitany`) and returns its
/// index with its outcome; the request stays in place, taken, so the indices of the others
/// do not change. `None` once every request is taken (or there are none).
///
/// ```
/// let results = rmpi::local::run(3, |comm| async move {
///     let mut seen = Vec::new();
///     if comm.rank() == 0 {
///         let mut receives = vec![comm.irecv::<usize>(1, 0), comm.irecv::<usize>(2, 0)];
///         while let Some((index, outcome)) = rmpi::wait_any(&mut receives).await {
///             seen.push((index, outcome?)); // index 0 is always rank 1's receive
///         }
///         seen.sort();
///     } else {
///         comm.send(&comm.rank(), 0, 0).await?;
///     }
///     Ok::<_, rmpi::Error>(seen)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &[(0, 1), (1, 2)]);
/// ```
pub async fn wait_any<'a, T>(
    requests: &mut [impl BorrowMut<Request<'a, T>>],
) -> Option<(usize, Result<T>)> {
    std::future::poll_fn(|cx| match ready_now(requests, cx) {
        Some(None) => Poll::Ready(None),
        Some(Some(index)) => {
            let outcome = requests[index].borrow_mut().take();
            Poll::Ready(outcome.map(|outcome| (index, outcome)))
        }
        None => Poll::Pending,
    })
    .await
}

/// Waits until at least one request not yet taken completes (`MPI_Waitsome`) and returns
/// every one complete by then, with its index; they stay in place, taken. Empty once every
/// request is taken.
///
/// ```
/// let results = rmpi::local::run(3, |comm| async move {
///     let mut count = 0;
///     if comm.rank() == 0 {
///         let mut receives = vec![comm.irecv::<usize>(1, 0), comm.irecv::<usize>(2, 0)];
///         loop {
///             let done = rmpi::wait_some(&mut receives).await;
///             if done.is_empty() {
///                 break;
///             }
///             count += done.len();
///         }
///     } else {
///         comm.send(&comm.rank(), 0, 0).await?;
///     }
///     Ok::<_, rmpi::Error>(count)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &2);
/// ```
pub async fn wait_some<'a, T>(
    requests: &mut [impl BorrowMut<Request<'a, T>>],
) -> Vec<(usize, Result<T>)> {
    std::future::poll_fn(|cx| match ready_now(requests, cx) {
        Some(_) => Poll::Ready(take_complete(requests)),
        None => Poll::Pending,
    })
    .await
}

/// Makes progress without waiting (`MPI_Testany`): the index and outcome of one request
/// that is complete, taking it; `None` if none is (or all are taken).
///
/// ```
/// let mut requests = vec![rmpi::Request::new(std::future::pending::<rmpi::Result<u8>>()),
///                         rmpi::Request::new(async { Ok(5) })];
/// let (index, outcome) = rmpi::test_any(&mut requests).unwrap();
/// assert_eq!((index, outcome?), (1, 5));
/// assert!(rmpi::test_any(&mut requests).is_none());
/// # Ok::<(), rmpi::Error>(())
/// ```
pub fn test_any<'a, T>(
    requests: &mut [impl BorrowMut<Request<'a, T>>],
) -> Option<(usize, Result<T>)> {
    let index = ready_now(requests, &mut Context::from_waker(Waker::noop()))??;
    let outcome = requests[index].borrow_mut().take()?;
    Some((index, outcome))
}

/// Makes progress without waiting (`MPI_Testall`): if every request is complete, all
/// outcomes in order (a request already taken gives an error), taking them; otherwise
/// `None` and nothing is taken.
///
/// ```
/// let mut requests = vec![rmpi::Request::new(async { Ok(1) }), rmpi::Request::new(async { Ok(2) })];
/// let outcomes = rmpi::test_all(&mut requests).unwrap();
/// assert_eq!(outcomes.into_iter().collect::<rmpi::Result<Vec<_>>>()?, [1, 2]);
/// # Ok::<(), rmpi::Error>(())
/// ```
pub fn test_all<'a, T>(requests: &mut [impl BorrowMut<Request<'a, T>>]) -> Option<Vec<Result<T>>> {
    let cx = &mut Context::from_waker(Waker::noop());
    let mut pending = false;
    for request in requests.iter_mut() {
        pending |= request.borrow_mut().poll_done(cx).is_pending();
    }
    if pending {
        return None;
    }
    Some(
        requests
            .iter_mut()
            .map(|request| request.borrow_mut().take().unwrap_or_else(|| Err(taken())))
            .collect(),
    )
}

/// Polls the requests not yet taken: `Some(Some(index))` of the first complete one,
/// `Some(None)` if all are taken, `None` if some are still running.
fn ready_now<'a, T>(
    requests: &mut [impl BorrowMut<Request<'a, T>>],
    cx: &mut Context<'_>,
) -> Option<Option<usize>> {
    let mut all_taken = true;
    for (index, request) in requests.iter_mut().enumerate() {
        let request = request.borrow_mut();
        if request.is_taken() {
            continue;
        }
        all_taken = false;
        if request.poll_done(cx).is_ready() {
            return Some(Some(index));
        }
    }
    all_taken.then_some(None)
}

/// Takes every complete request's outcome, with its index.
fn take_complete<'a, T>(
    requests: &mut [impl BorrowMut<Request<'a, T>>],
) -> Vec<(usize, Result<T>)> {
    let cx = &mut Context::from_waker(Waker::noop());
    let mut done = Vec::new();
    for (index, request) in requests.iter_mut().enumerate() {
        let request = request.borrow_mut();
        if !request.is_taken() && request.poll_done(cx).is_ready() {
            done.extend(request.take().map(|outcome| (index, outcome)));
        }
    }
    done
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

/// A typed-buffer receive (`recv_into`, `irecv_into`) as a future of its status: the
/// message placed or copied into a buffer of `element_bytes`-byte elements. A receive that
/// could not be posted fails when first polled.
pub(crate) struct IntoBuffer<'a> {
    receive: std::result::Result<ReceiveInto<'a, &'a Engine>, Option<Error>>,
    element_bytes: usize,
}

impl<'a> IntoBuffer<'a> {
    pub(crate) fn new(
        posted: Result<ReceiveInto<'a, &'a Engine>>,
        element_bytes: usize,
    ) -> IntoBuffer<'a> {
        IntoBuffer {
            receive: posted.map_err(Some),
            element_bytes,
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
            Err(error) => Poll::Ready(Err(error.take().unwrap_or_else(taken))),
        }
    }
}

/// What a receive reports of the message that completed it.
pub(crate) fn status_of(arrival: &Arrival) -> Status {
    let header = &arrival.header;
    Status {
        source: header.source as usize,
        tag: header.tag,
        bytes: arrival.payload.len(),
    }
}

/// Copies an arrived message into `buf`, of `element_bytes`-byte elements (where the
/// transport has not placed it there already), and returns its status.
pub(crate) fn copy_into(arrival: Arrival, buf: &mut [u8], element_bytes: usize) -> Result<Status> {
    let status = status_of(&arrival);
    if status.count_of(element_bytes).is_none() {
        return Err(element_mismatch(&status, element_bytes));
    }
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
