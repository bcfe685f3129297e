//! Rendezvous for large typed-buffer sends: instead of copying the caller's buffer, a send
//! lends it (see [`crate::loan`]) to a receiver that can read this process's memory,
//! which copies it once, straight into its receive's buffer, and the send completes when it
//! has. That is one copy where a ring takes two, as MPI libraries do on one host with
//! cross-memory attach.
//!
//! A send must not hang where a buffered one would not: two ranks that each send before
//! they receive (fine for small messages, and common in ported code) would wait for each
//! other for ever. So a send whose receiver has read nothing for a millisecond (and no other
//! receiver has read a loan of this process meanwhile, which says receivers are busy)
//! recalls its loan (see [`FastPaths::recall`](crate::FastPaths::recall)): the receiver is
//! given a copy to read, and the send completes as a buffered one would have. A send
//! dropped before it completes recalls its loan as well, so the caller's buffer is its own
//! again once the drop returns, whatever the receiver does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_timer::Delay;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::loan::{self, Loans};
use crate::request::Request;
use crate::waits::Traced;

/// How long a lent send waits with no loan of this process read before it recalls its
/// loan and completes. Long enough for a receiver that shares its core to be scheduled, and
/// short against a receive that is not coming.
const PATIENCE: Duration = Duration::from_millis(1);

/// A typed-buffer send whose buffer is lent to its receiver; see the
/// [module documentation](self).
pub(crate) struct LentSend<'a> {
    engine: Arc<Engine>,
    loans: Loans,
    payload: &'a [u8],
    /// When this send was first found waiting.
    waiting_since: Option<Instant>,
    /// Wakes the task when patience runs out.
    timer: Option<Delay>,
}

impl<'a> LentSend<'a> {
    /// A send of `payload`, already lent under `loans`.
    pub(crate) fn new(engine: Arc<Engine>, loans: Loans, payload: &'a [u8]) -> LentSend<'a> {
        LentSend {
            engine,
            loans,
            payload,
            waiting_since: None,
            timer: None,
        }
    }
}

impl Future for LentSend<'_> {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        loop {
            if let Poll::Ready(settled) = this.engine.poll_settled(&this.loans, cx) {
                return Poll::Ready(settled);
            }
            let now = Instant::now();
            let since = *this.waiting_since.get_or_insert(now);
            let idle_since = loan::last_returned().map_or(since, |returned| returned.max(since));
            let left = (idle_since + PATIENCE).saturating_duration_since(now);
            if left.is_zero() {
                tracing::debug!(
                    len = this.payload.len(),
                    "no lent payload read for a while: sending a copy instead"
                );
                this.engine.recall(&this.loans, this.payload);
                return Poll::Ready(Ok(()));
            }
            let timer = this.timer.get_or_insert_with(|| Delay::new(left));
            timer.reset(left);
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

/// A typed-buffer send: done when it was started (copied, or failed), or lent. Small, so
/// that the usual case, a copy already made, costs moving two words: the rare states are
/// boxed.
pub(crate) enum SendBuf<'a> {
    /// Copied; nothing left to do.
    Sent,
    /// Failed when it was started; the error until taken.
    Failed(Option<Box<Error>>),
    /// Lent, until its receiver reads it (a wait deadlock reports list).
    Lent(Box<Traced<LentSend<'a>>>),
}

impl<'a> SendBuf<'a> {
    /// The send that starting one (see `Comm::start_send_buf`) led to.
    pub(crate) fn of(started: Result<Option<Traced<LentSend<'a>>>>) -> SendBuf<'a> {
        match started {
            Ok(None) => SendBuf::Sent,
            Ok(Some(lent)) => SendBuf::Lent(Box::new(lent)),
            Err(error) => SendBuf::Failed(Some(Box::new(error))),
        }
    }

    /// The send as a request: one already done needs no box.
    pub(crate) fn into_request(self) -> Request<'a, ()> {
        match self {
            SendBuf::Sent => Request::done(Ok(())),
            SendBuf::Failed(error) => Request::done(error.map_or(Ok(()), |e| Err(*e))),
            lent => Request::new(lent),
        }
    }
}

impl Future for SendBuf<'_> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            SendBuf::Sent => Poll::Ready(Ok(())),
            SendBuf::Failed(error) => Poll::Ready(error.take().map_or(Ok(()), |e| Err(*e))),
            SendBuf::Lent(lent) => Pin::new(&mut **lent).poll(cx),
        }
    }
}

impl Drop for LentSend<'_> {
    fn drop(&mut self) {
        if !self.loans.settled() {
            self.engine.recall(&self.loans, self.payload);
        }
    }
}
