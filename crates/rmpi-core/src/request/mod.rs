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

mod many;
mod waiting;

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::matching::PostId;
use crate::status::Status;
use crate::waits::Traced;

pub use many::{test_all, test_any, wait_all, wait_any, wait_some};
pub(crate) use waiting::{
    copy_into, element_mismatch, status_of, truncated, Acknowledgement, IntoBuffer, Receive,
    ReceiveInto, Waiting,
};

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
    // Dropped by hand (see `Drop`), so the compiler can keep a request being built in
    // registers rather than in memory it must copy out.
    state: ManuallyDrop<State<'a, T>>,
}

impl<T> Drop for Request<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // Moved out and dropped, not dropped in place: `drop_in_place` would take the
        // request's address, which is what keeps a request being built in memory.
        // SAFETY: the state is not used again: the request is being dropped.
        let state = unsafe { ManuallyDrop::take(&mut self.state) };
        drop(state);
    }
}

enum State<'a, T> {
    Running(Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>),
    /// A receive into a caller's buffer, the commonest request, kept in place rather than
    /// boxed: a window of small receives would cost an allocation each. Its status becomes
    /// the request's value by the function beside it (for a `Request<Status>`, itself).
    Receiving(Traced<IntoBuffer<'a>>, fn(Result<Status>) -> Result<T>),
    /// Such a receive, completed while waited for together with others: its outcome
    /// becomes the request's value when taken, not while the wait is taking in a window
    /// of messages (a value stored and at once read back through the function's call
    /// would stall the copy).
    Received(Result<Status>, fn(Result<Status>) -> Result<T>),
    Done(Result<T>),
    Taken,
}

impl<T> fmt::Debug for Request<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match *self.state {
            State::Running(_) | State::Receiving(..) => "running",
            State::Done(_) | State::Received(..) => "complete",
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
            state: ManuallyDrop::new(State::Running(Box::pin(operation))),
        }
    }

    /// A request for an operation that finished when it was started, such as a send
    /// copied out at once: nothing to box.
    pub(crate) fn done(outcome: Result<T>) -> Self {
        Request {
            state: ManuallyDrop::new(State::Done(outcome)),
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
        matches!(*self.state, State::Taken)
    }

    /// Polls the operation until it is done, keeping its outcome in the request; ready at
    /// once for a request that is complete or taken.
    fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A test is not a wait: deadlock reports leave out what is only tested.
        let polled = match &mut *self.state {
            State::Running(operation) => crate::waits::testing(|| operation.as_mut().poll(cx)),
            State::Receiving(receive, finish) => {
                crate::waits::testing(|| Pin::new(receive).poll(cx)).map(*finish)
            }
            State::Done(_) | State::Received(..) | State::Taken => return Poll::Ready(()),
        };
        *self.state = State::Done(std::task::ready!(polled));
        Poll::Ready(())
    }

    /// The receive into a buffer this request is, while it is posted.
    fn posted_receive(&mut self) -> Option<&mut IntoBuffer<'a>> {
        match &mut *self.state {
            State::Receiving(receive, _) => {
                let receive = receive.operation_mut();
                receive.is_posted().then_some(receive)
            }
            _ => None,
        }
    }

    /// The engine the receive into a buffer this request is is posted on, while it is.
    fn posted_engine(&self) -> Option<&'a Engine> {
        match &*self.state {
            State::Receiving(receive, _) => receive.operation().engine(),
            _ => None,
        }
    }

    /// The id of the receive into a buffer this request is, while it is posted on
    /// `engine`.
    fn posted_on(&self, engine: &Engine) -> Option<PostId> {
        match &*self.state {
            State::Receiving(receive, _) => {
                let receive = receive.operation();
                receive.is_on(engine).then(|| receive.id()).flatten()
            }
            _ => None,
        }
    }

    /// The message of this receive into a buffer, which `status` describes, was placed
    /// whole in its buffer while offered: it is complete.
    fn placed(&mut self, status: Status) {
        if let State::Receiving(receive, finish) = &mut *self.state {
            let (outcome, finish) = (receive.operation_mut().placed(status), *finish);
            *self.state = State::Received(outcome, finish);
        }
    }

    /// The outcome of a complete request, which is used up: nothing is left behind to be
    /// dropped afterwards, as [`take`](Request::take)'s taken request would be.
    fn into_outcome(self) -> Option<Result<T>> {
        let mut this = ManuallyDrop::new(self);
        // Only the outcome is read out, where it lies: a copy of the whole state, just
        // written, would be read back at once.
        match &*this.state {
            // SAFETY: the request is neither used again nor dropped, and what each of these
            // states owns is its outcome alone (a function pointer is `Copy`), read once.
            State::Done(outcome) => Some(unsafe { std::ptr::read(outcome) }),
            // SAFETY: as above.
            State::Received(outcome, finish) => Some(finish(unsafe { std::ptr::read(outcome) })),
            _ => {
                // SAFETY: the request is neither used again nor dropped.
                unsafe { ManuallyDrop::drop(&mut this.state) };
                None
            }
        }
    }

    /// The outcome of a complete request, leaving it taken.
    fn take(&mut self) -> Option<Result<T>> {
        match std::mem::replace(&mut *self.state, State::Taken) {
            State::Done(outcome) => Some(outcome),
            State::Received(outcome, finish) => Some(finish(outcome)),
            state => {
                *self.state = state;
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
            state: ManuallyDrop::new(State::Receiving(receive, std::convert::identity)),
        }
    }
}

impl<T> Future for Request<'_, T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        let outcome = match &mut *this.state {
            State::Running(operation) => std::task::ready!(operation.as_mut().poll(cx)),
            State::Receiving(receive, finish) => {
                finish(std::task::ready!(Pin::new(receive).poll(cx)))
            }
            State::Done(_) | State::Received(..) | State::Taken => {
                return Poll::Ready(this.take().unwrap_or_else(|| Err(taken())));
            }
        };
        *this.state = State::Taken;
        Poll::Ready(outcome)
    }
}

fn taken() -> Error {
    Error::InvalidArgument("request outcome was already taken".into())
}
