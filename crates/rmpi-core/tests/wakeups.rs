//! A waiting task is woken by every message that completes one of its waits, whatever else
//! looked for events after it went to sleep: a look that does not wait (a probe, a wait that
//! finds its message) must leave the transport ready to wake the tasks that do.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rmpi_core::local::LocalTransport;
use rmpi_core::Comm;

/// Counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls a future that must be done at once (a send).
fn now<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("expected to be done at once"),
    }
}

/// Ranks 0 and 1 of a job in this process, and a waker that counts its wake-ups.
fn job() -> (Comm, Comm, Arc<Counter>, Waker) {
    let mut mesh = LocalTransport::mesh(2);
    let (second, first) = (mesh.pop().unwrap(), mesh.pop().unwrap());
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(counter.clone());
    (
        Comm::from_transport(Arc::new(first)),
        Comm::from_transport(Arc::new(second)),
        counter,
        waker,
    )
}

#[test]
fn a_wait_that_takes_in_another_waits_message_stays_wakeable() {
    let (sender, receiver, counter, waker) = job();
    let mut cx = Context::from_waker(&waker);
    let mut a = receiver.irecv::<u8>(0, 1);
    let mut b = receiver.irecv::<u8>(0, 2);

    // One task waits for both, polling `a` then `b`, as `wait_all` does.
    assert!(pin!(&mut a).poll(&mut cx).is_pending());
    assert!(pin!(&mut b).poll(&mut cx).is_pending());
    now(sender.send(&2u8, 1, 2)).expect("sends");
    // Woken, it polls both again: `a` takes b's message in while it looks for its own.
    assert!(pin!(&mut a).poll(&mut cx).is_pending());
    assert!(
        pin!(&mut b).poll(&mut cx).is_ready(),
        "b's message is there"
    );
    // The task sleeps now, waiting for `a` alone.
    let before = counter.0.load(Ordering::SeqCst);
    now(sender.send(&1u8, 1, 1)).expect("sends");
    assert!(
        counter.0.load(Ordering::SeqCst) > before,
        "the message for `a` woke nobody: its task would sleep forever"
    );
    match pin!(&mut a).poll(&mut cx) {
        Poll::Ready(Ok(1)) => {}
        other => panic!("expected a's message, got {other:?}"),
    }
}

#[test]
fn a_probe_after_a_wait_went_to_sleep_leaves_it_wakeable() {
    let (sender, receiver, counter, waker) = job();
    let mut receive = receiver.irecv::<u8>(0, 1);
    assert!(pin!(&mut receive)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    // Another part of the program looks without waiting, and finds nothing.
    assert!(receiver.iprobe(0, 7).expect("a valid probe").is_none());
    now(sender.send(&1u8, 1, 1)).expect("sends");
    assert!(
        counter.0.load(Ordering::SeqCst) > 0,
        "the message woke nobody: the receive's task would sleep forever"
    );
}
