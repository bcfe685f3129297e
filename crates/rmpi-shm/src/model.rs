//! Loom models of the ring and the doorbell: every interleaving (and every memory order the
//! atomics allow) of a producer and a consumer is explored.
//!
//! Run with `RUSTFLAGS="--cfg rmpi_loom" cargo test -p rmpi-shm --lib --release model`.

use loom::sync::Arc;
use loom::thread;

use crate::doorbell::Doorbell;
use crate::ring::heap::ring;

/// Bytes written in pieces through a ring smaller than the message come out whole and in
/// order: the indices order every data write before its read and every read before the
/// write that reuses the space.
#[test]
fn ring_delivers_bytes_in_order_through_a_small_ring() {
    let mut model = loom::model::Builder::new();
    // Bounded preemptions keep the search finite; bugs in two-party protocols show up
    // within a few (loom's documentation recommends 2-3).
    model.preemption_bound = Some(2);
    model.check(|| {
        let (mut producer, mut consumer) = ring(2);
        let message: Vec<u8> = (1..=3).collect();
        let sent = message.clone();
        let writer = thread::spawn(move || {
            let mut at = 0;
            while at < sent.len() {
                let n = producer.stage(&sent[at..]);
                producer.publish();
                at += n;
                if n == 0 {
                    thread::yield_now();
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < message.len() {
            let mut out = [0u8; 2];
            let n = consumer.read(&mut out);
            got.extend_from_slice(&out[..n]);
            consumer.release();
            if n == 0 {
                thread::yield_now();
            }
        }
        writer.join().unwrap();
        assert_eq!(got, message);
    });
}

/// A consumer that announces sleep, finds nothing and waits is always woken by a producer
/// that publishes and rings: no interleaving loses the wake-up.
#[test]
fn doorbell_never_loses_a_wakeup() {
    loom::model(|| {
        let (mut producer, mut consumer) = ring(4);
        let bell = Arc::new(Doorbell::default());
        let ringer = bell.clone();
        let writer = thread::spawn(move || {
            assert_eq!(producer.stage(&[7]), 1);
            producer.publish();
            ringer.ring();
        });
        let mut out = [0u8; 1];
        loop {
            if consumer.read(&mut out) == 1 {
                break;
            }
            let seen = bell.announce_sleep();
            if consumer.read(&mut out) == 1 {
                break;
            }
            // The model's wait spins until the ring count moves: it never returns if the
            // wake-up was lost.
            bell.wait(seen, std::time::Duration::from_secs(1));
            bell.awake();
        }
        bell.awake();
        writer.join().unwrap();
        assert_eq!(out, [7]);
    });
}
