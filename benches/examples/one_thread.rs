//! One 8-byte message sent and received over shared memory by one thread playing both
//! ranks, `N` times (the first argument): run it under `valgrind --tool=cachegrind` with two
//! counts to get the instructions one message costs, a figure that, unlike a time, does not
//! move with the machine's load.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};

use rmpi_core::Comm;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let mut endpoints = rmpi_shm::ShmTransport::mesh(2, &Default::default()).unwrap();
    let second = Comm::from_transport(Arc::new(endpoints.pop().unwrap()));
    let first = Comm::from_transport(Arc::new(endpoints.pop().unwrap()));
    let mut cx = Context::from_waker(Waker::noop());
    let message = [7u8; 8];
    let mut inbox = [0u8; 8];
    for _ in 0..n {
        let sent = std::pin::pin!(first.send_buf(&message, 1, 0));
        assert!(sent.poll(&mut cx).is_ready());
        let received = std::pin::pin!(second.recv_into(&mut inbox, 0, 0));
        assert!(matches!(
            received.poll(&mut cx),
            std::task::Poll::Ready(Ok(_))
        ));
    }
}
