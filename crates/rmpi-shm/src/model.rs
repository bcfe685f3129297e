//! Loom models of the ring and the doorbell: every interleaving (and every memory order the
//! atomics allow) of a producer and a consumer is explored.
//!
//! Run with `RUSTFLAGS="--cfg rmpi_loom" cargo test -p rmpi-shm --lib --release model`.

use loom::sync::Arc;
use loom::thread;

use crate::doorbell::Doorbell;
use crate::ring::heap::ring;

/// Records pushed through a ring that holds fewer than all of them come out whole and in
/// order: each record's word orders its body (and the clearing of the next record's word)
/// before the consumer reads them, and the consumer's released head orders every read
/// before the write that reuses the space.
#[test]
fn ring_delivers_records_whole_and_in_order_through_a_small_ring() {
    let mut model = loom::model::Builder::new();
    // Bounded preemptions keep the search finite; bugs in two-party protocols show up
    // within a few (loom's documentation recommends 2-3).
    model.preemption_bound = Some(2);
    model.check(|| {
        // Four lines: records of one and two lines, so the ring wraps and lines are reused.
        let (mut producer, mut consumer) = ring(4);
        let records: Vec<Vec<u8>> = vec![vec![1; 3], vec![2; 60], vec![3; 2]];
        let sent = records.clone();
        let writer = thread::spawn(move || {
            for (i, body) in sent.iter().enumerate() {
                let word = (i as u64 + 1) | (body.len() as u64) << 32;
                while !producer.push(word, body.len(), &[(0, body)]) {
                    thread::yield_now();
                }
            }
        });
        for (i, expected) in records.iter().enumerate() {
            let word = loop {
                match consumer.next_word() {
                    Some(word) => break word,
                    None => thread::yield_now(),
                }
            };
            assert_eq!(word, (i as u64 + 1) | (expected.len() as u64) << 32);
            let mut body = vec![0; expected.len()];
            consumer.read_body(0, &mut body);
            consumer.advance(body.len());
            consumer.release(false);
            assert_eq!(&body, expected);
        }
        writer.join().unwrap();
        // The head is back on the first line, whose word is from the first lap: it must
        // have been cleared.
        assert_eq!(consumer.next_word(), None);
    });
}

/// A consumer that announces sleep, finds nothing and waits is always woken by a producer
/// that publishes and rings: no interleaving loses the wake-up.
#[test]
fn doorbell_never_loses_a_wakeup() {
    loom::model(|| {
        let (mut producer, consumer) = ring(4);
        let bell = Arc::new(Doorbell::default());
        let ringer = bell.clone();
        let writer = thread::spawn(move || {
            assert!(producer.push(7 | 1 << 32, 1, &[(0, &[7])]));
            ringer.ring();
        });
        let mut out = [0u8; 1];
        loop {
            if consumer.next_word().is_some() {
                break;
            }
            let seen = bell.announce_sleep();
            if consumer.next_word().is_some() {
                break;
            }
            // The model's wait spins until the ring count moves: it never returns if the
            // wake-up was lost.
            bell.wait(seen, std::time::Duration::from_secs(1));
            bell.awake();
        }
        bell.awake();
        consumer.read_body(0, &mut out);
        writer.join().unwrap();
        assert_eq!(out, [7]);
    });
}
