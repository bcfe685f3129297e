//! What the benchmark programs share: the one-thread message loop that both a criterion
//! bench (time) and `examples/one_thread` (instructions, under cachegrind) measure.

#![deny(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rmpi::shm::ShmTransport;
use rmpi::Comm;

/// The world communicators of ranks 0 and 1 of a shared-memory job whose ranks are both in
/// this process, for one thread to play both.
pub fn shm_pair() -> (Comm, Comm) {
    let mut endpoints = ShmTransport::mesh(2, &Default::default()).expect("a shared-memory pair");
    let second = Comm::from_transport(Arc::new(endpoints.pop().expect("rank 1")));
    let first = Comm::from_transport(Arc::new(endpoints.pop().expect("rank 0")));
    (first, second)
}

/// Sends `message` from rank 0 (`first`) to rank 1 (`second`) and receives it into
/// `inbox`: the software cost of a message (engine, matching, records), without waiting or
/// lines moving between cores, which ping-pong latency adds on top. Both complete at their
/// first poll, or it panics.
#[inline]
pub fn send_and_receive(first: &Comm, second: &Comm, message: &[u8], inbox: &mut [u8]) {
    let mut cx = Context::from_waker(Waker::noop());
    let sent = std::pin::pin!(first.send_buf(message, 1, 0));
    assert!(sent.poll(&mut cx).is_ready(), "not sent at once");
    let received = std::pin::pin!(second.recv_into(inbox, 0, 0));
    match received.poll(&mut cx) {
        Poll::Ready(Ok(_)) => {}
        other => panic!("not received at once: {other:?}"),
    }
}
