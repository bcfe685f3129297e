//! Loom models of the ring, the doorbell and the loan slot: every interleaving (and every
//! memory order the atomics allow) of a producer and a consumer, or a lender and a
//! borrower, is explored.
//!
//! Run with `cargo test -p rmpi-shm --lib --features loom model`.

use loom::sync::Arc;
use loom::thread;

use crate::doorbell::Doorbell;
use crate::loan_slot::{LoanSlot, Recalled, Source};
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

/// A fan-out block is never written again while a reader may still copy it, and a reader
/// copies only what the sender wrote: the reader's release of its bit orders its copy before
/// the sender's next write there, and the count of bytes written orders each chunk before
/// the reader's copy of it (the reader hears of the block before the sender writes it).
/// Three payloads through an area that holds two: the third must wait for the first to
/// come back.
#[test]
fn fanned_out_blocks_are_reused_only_after_their_reader_is_done() {
    use crate::fanout::{FannedPayload, FanoutArea};
    use crate::ring::heap::region;
    use rmpi_core::LentPayload;

    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let memory = region(8); // two blocks of up to 64 payload bytes
        let (mut producer, mut consumer) = ring(4);
        let mut area = FanoutArea::new(memory.clone());
        let writer = thread::spawn(move || {
            for i in 1..=3u8 {
                let block = loop {
                    match area.reserve(24, 0b10, 0) {
                        Some(block) => break block,
                        None => thread::yield_now(),
                    }
                };
                let offset = block.offset();
                let word = 1 | (8u64 << 32);
                while !producer.push(word, 8, &[(0, &(offset as u64).to_le_bytes())]) {
                    thread::yield_now();
                }
                area.fill(block, &[i; 24]);
            }
        });
        for i in 1..=3u8 {
            loop {
                if consumer.next_word().is_some() {
                    break;
                }
                thread::yield_now();
            }
            let mut offset = [0u8; 8];
            consumer.read_body(0, &mut offset);
            consumer.advance(8);
            consumer.release(false);
            let offset = u64::from_le_bytes(offset);
            let mut payload = FannedPayload::new(0, memory.clone(), offset, 24, 0b10).unwrap();
            let mut out = [0u8; 24];
            payload.read_into(&mut out).unwrap();
            assert_eq!(out, [i; 24]);
        }
        writer.join().unwrap();
    });
}

/// A lender recalling a region while its borrower may be claiming it: the borrower reads
/// either the region, before the lender writes there again, or the lender's copy, after
/// it was made; never a region being overwritten, nor a copy being made (loom's cells
/// report any access that is not ordered so).
#[test]
fn a_recalled_loan_is_read_from_the_region_or_from_its_copy_never_while_written() {
    use loom::cell::UnsafeCell;
    const COPY_AT: u64 = 0xc0b7;
    loom::model(|| {
        let slot = Arc::new(LoanSlot::default());
        let region = Arc::new(UnsafeCell::new(1u64));
        let copy = Arc::new(UnsafeCell::new(0u64));
        slot.lend();
        let borrower = {
            let (slot, region, copy) = (slot.clone(), region.clone(), copy.clone());
            thread::spawn(move || match slot.claim() {
                Ok(Source::InPlace) => {
                    // SAFETY: claimed in place: the lender does not write until it is read.
                    let value = region.with(|at| unsafe { *at });
                    slot.finish_reading();
                    value
                }
                Ok(Source::Moved(at)) => {
                    assert_eq!(at, COPY_AT);
                    // SAFETY: the copy was made before the slot said where it is.
                    copy.with(|at| unsafe { *at })
                }
                Err(state) => panic!("a lent slot in state {state}"),
            })
        };
        // SAFETY: the lender only reads its region here, and the copy is its own until the
        // slot names it.
        copy.with_mut(|at| unsafe { *at = region.with(|from| *from) });
        match slot.recall(COPY_AT) {
            Recalled::Moved | Recalled::Read => {}
            Recalled::Reading => {
                while !slot.is_read() {
                    thread::yield_now();
                }
            }
        }
        // SAFETY: recalled: nobody reads the region in place any more.
        region.with_mut(|at| unsafe { *at = 2 });
        assert_eq!(borrower.join().unwrap(), 1);
    });
}
