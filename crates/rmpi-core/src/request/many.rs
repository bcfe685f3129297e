//! Completing several requests at once: `MPI_Waitall`, `Waitany`, `Waitsome`, `Testany`
//! and `Testall`. Receives into buffers that `wait_all` waits for wait together, so a window
//! of messages is taken in under one lock.

use std::borrow::BorrowMut;
use std::task::{Context, Poll, Waker};

use crate::engine::{Engine, Offers};
use crate::error::Result;
use crate::matching::PostId;
use crate::status::Status;

use super::{taken, Request};

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
        // The receives into buffers posted on one engine wait together; every other
        // request waits on its own.
        let engine = requests.iter().find_map(Request::posted_engine);
        let mut pending = false;
        for request in requests.iter_mut() {
            let alone = engine.is_none_or(|engine| request.posted_on(engine).is_none());
            if alone {
                pending |= request.poll_done(cx).is_pending();
            }
        }
        while let Some(engine) = requests.iter().find_map(Request::posted_engine) {
            if wait_together(&mut requests, engine, cx).is_pending() {
                return Poll::Pending;
            }
        }
        match pending {
            true => Poll::Pending,
            false => Poll::Ready(()),
        }
    })
    .await;
    // Used up in place: the values take the requests' room, and no request is left to drop.
    requests
        .into_iter()
        .map(|request| request.into_outcome().unwrap_or_else(|| Err(taken())))
        .collect()
}

/// Waits for the receives into buffers among `requests` posted on `engine`, all at once
/// ([`Engine::poll_recv_many`]): each message already there or coming is placed in its
/// buffer, under one lock for as many as have come. Ready once some completed.
fn wait_together<T>(
    requests: &mut [Request<'_, T>],
    engine: &Engine,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let mut first = None;
    let mut open = 0;
    for (index, request) in requests.iter().enumerate() {
        if let Some(id) = request.posted_on(engine) {
            first.get_or_insert((index, id));
            open += 1;
        }
    }
    let Some((first_index, first_id)) = first else {
        return Poll::Ready(());
    };
    let mut together = Together {
        requests: &mut *requests,
        engine,
        next: first_index,
        taken: first_index,
        open,
    };
    match engine.poll_recv_many(cx, first_id, &mut together) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(false) => Poll::Ready(()),
        // The first has its outcome waiting in the engine: its own poll takes it.
        Poll::Ready(true) => {
            let _ = requests[first_index].poll_done(cx);
            Poll::Ready(())
        }
    }
}

/// The receives into buffers among some requests posted on one engine, offered to its
/// transport together: a message placed in one's buffer completes its request there.
struct Together<'r, 'a, T> {
    requests: &'r mut [Request<'a, T>],
    engine: &'r Engine,
    /// Where to look first: messages usually come in the order their receives were posted.
    next: usize,
    /// The request [`Offers::takes`] said yes to.
    taken: usize,
    open: usize,
}

impl<T> Offers for Together<'_, '_, T> {
    fn takes(&mut self, id: PostId, len: usize) -> bool {
        let engine = self.engine;
        let fits = |request: &mut Request<'_, T>| {
            request.posted_receive().is_some_and(|receive| {
                receive.is_on(engine) && receive.id() == Some(id) && len <= receive.buffer().len()
            })
        };
        let next = self.next.min(self.requests.len());
        let (front, back) = self.requests.split_at_mut(next);
        let found = match back.iter_mut().position(fits) {
            Some(at) => Some(next + at),
            None => front.iter_mut().position(fits),
        };
        if let Some(index) = found {
            self.taken = index;
        }
        found.is_some()
    }

    fn buffer(&mut self) -> &mut [u8] {
        match self.requests[self.taken].posted_receive() {
            Some(receive) => receive.buffer(),
            None => &mut [],
        }
    }

    fn placed(&mut self, status: Status) {
        self.requests[self.taken].placed(status);
        self.open -= 1;
        self.next = self.taken + 1;
    }

    fn open(&self) -> usize {
        self.open
    }
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
