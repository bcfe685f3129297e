//! Payloads of every awkward size through the rings: the sizes around a record's first line
//! (where the payload moves from the first line to the second), around the ring's size,
//! and many times it (so frames are split into records and wait for ring space), both ways
//! at once through a ring of one page. Every byte is checked.

mod common;

use rmpi_core::Comm;
use rmpi_shm::{ShmOptions, SingleCopy};

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(7)) as u8)
        .collect()
}

const SIZES: &[usize] = &[
    0, 1, 8, 15, 16, 17, 40, 55, 56, 57, 63, 64, 65, 119, 120, 121, 1000, 1023, 1024, 1025, 3900,
    4000, 4096, 5000, 16383, 16384, 16385, 40_000, 100_000,
];

#[test]
fn every_size_arrives_intact_through_a_small_ring_both_ways_at_once() {
    let options = ShmOptions {
        ring_bytes: Some(4096),
        single_copy: SingleCopy::Off,
        ..ShmOptions::default()
    };
    common::run_mesh(2, &options, |comm: Comm| async move {
        let peer = 1 - comm.rank();
        // All sends first (they queue behind a full ring), then all receives.
        let outgoing: Vec<Vec<u8>> = SIZES
            .iter()
            .enumerate()
            .map(|(tag, &len)| pattern(len, tag + comm.rank()))
            .collect();
        let sends: Vec<_> = outgoing
            .iter()
            .enumerate()
            .map(|(tag, payload)| comm.isend_buf(payload, peer, tag as i32))
            .collect();
        let mut problems = Vec::new();
        for (tag, &len) in SIZES.iter().enumerate() {
            let (got, status) = comm.recv_buf::<u8>(peer, tag as i32).await?;
            if status.bytes != len || got != pattern(len, tag + peer) {
                problems.push(format!("{len} bytes corrupted"));
            }
        }
        for send in sends {
            send.await?;
        }
        common::verdict(problems)
    });
}
