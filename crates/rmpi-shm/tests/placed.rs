//! Payloads copied straight from the ring into the buffer of the receive waiting for them:
//! whole, in part (the sender fell behind, so the rest came into memory of the receiver's
//! and was copied after), as synchronous sends, next to receives that cannot take them, and
//! when the sender dies halfway. Every byte is checked.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rmpi_core::{Comm, Error};
use rmpi_shm::{ShmOptions, ShmTransport, SingleCopy};

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(29) ^ seed.wrapping_mul(11)) as u8)
        .collect()
}

/// A ring of one page, so that most payloads take several records.
fn small_ring() -> ShmOptions {
    ShmOptions {
        ring_bytes: Some(4096),
        single_copy: SingleCopy::Off,
        ..ShmOptions::default()
    }
}

const SIZES: &[usize] = &[
    0, 1, 8, 16, 17, 56, 57, 64, 1000, 4000, 4096, 5000, 16384, 16385, 40_000, 100_000,
];

#[test]
fn receives_waiting_in_turn_get_every_size_intact() {
    common::run_mesh(2, &small_ring(), |comm: Comm| async move {
        let peer = 1 - comm.rank();
        let mut problems = Vec::new();
        // Ping-pong: each receive is waiting before its message comes, as in a latency
        // test; a synchronous send in between must still be acknowledged.
        for (tag, &len) in SIZES.iter().enumerate() {
            let tag = tag as i32;
            let mut buf = vec![0u8; len + 3];
            if comm.rank() == 0 {
                comm.send_buf(&pattern(len, 1), peer, tag).await?;
                comm.recv_into(&mut buf, peer, tag).await?;
                comm.ssend_buf(&pattern(len, 3), peer, tag).await?;
            } else {
                let status = comm.recv_into(&mut buf, peer, tag).await?;
                if status.bytes != len || buf[..len] != pattern(len, 1) || buf[len..] != [0; 3] {
                    problems.push(format!("{len} bytes corrupted on the way to rank 1"));
                }
                comm.send_buf(&buf[..len], peer, tag).await?;
                buf.fill(0);
                comm.recv_into(&mut buf[..len], peer, tag).await?;
                if buf[..len] != pattern(len, 3) {
                    problems.push(format!("{len} synchronous bytes corrupted"));
                }
            }
            if comm.rank() == 0 && buf[..len] != pattern(len, 1) {
                problems.push(format!("{len} bytes corrupted on the way back"));
            }
        }
        common::verdict(problems)
    });
}

#[test]
fn many_receives_waited_for_together_each_get_their_own_message() {
    common::run_mesh(2, &small_ring(), |comm: Comm| async move {
        let peer = 1 - comm.rank();
        let mut problems = Vec::new();
        if comm.rank() == 0 {
            for (tag, &len) in SIZES.iter().enumerate().rev() {
                comm.send_buf(&pattern(len, tag), peer, tag as i32).await?;
            }
        } else {
            // Posted in the opposite order to the sends, and one too small for its message.
            let mut bufs: Vec<Vec<u8>> = SIZES.iter().map(|&len| vec![0; len]).collect();
            bufs[12].pop();
            let requests: Vec<_> = bufs
                .iter_mut()
                .enumerate()
                .map(|(tag, buf)| comm.irecv_into(buf, peer, tag as i32))
                .collect();
            let outcomes = futures_outcomes(requests).await;
            for (tag, outcome) in outcomes.into_iter().enumerate() {
                match (tag, outcome) {
                    (12, Err(Error::Truncated { .. })) => {}
                    (12, other) => problems.push(format!("expected truncation, got {other:?}")),
                    (_, Err(error)) => problems.push(format!("tag {tag}: {error}")),
                    (_, Ok(status)) if status.bytes != SIZES[tag] => {
                        problems.push(format!("tag {tag}: {} bytes", status.bytes))
                    }
                    _ => {}
                }
            }
            for (tag, buf) in bufs.iter().enumerate().filter(|&(tag, _)| tag != 12) {
                if *buf != pattern(SIZES[tag], tag) {
                    problems.push(format!("tag {tag}: corrupted"));
                }
            }
        }
        common::verdict(problems)
    });
}

#[test]
fn wait_all_places_a_window_of_messages_in_their_own_buffers() {
    common::run_mesh(2, &small_ring(), |comm: Comm| async move {
        let peer = 1 - comm.rank();
        let mut problems = Vec::new();
        for round in 0..20usize {
            // Every size twice, in posting order, then in reverse; a synchronous send and
            // an object among them, and receives that wait before their messages come.
            let order: Vec<usize> = match round % 2 {
                0 => (0..2 * SIZES.len()).collect(),
                _ => (0..2 * SIZES.len()).rev().collect(),
            };
            if comm.rank() == 0 {
                if round % 4 == 3 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                let payloads: Vec<Vec<u8>> = (0..2 * SIZES.len())
                    .map(|i| pattern(SIZES[i % SIZES.len()], i + round))
                    .collect();
                let mut sends = Vec::new();
                for &i in &order {
                    match i {
                        5 => comm.ssend_buf(&payloads[i], peer, i as i32).await?,
                        _ => sends.push(comm.isend_buf(&payloads[i], peer, i as i32)),
                    }
                }
                comm.send(&round, peer, 999).await?;
                rmpi_core::wait_all(sends).await?;
            } else {
                let mut bufs: Vec<Vec<u8>> = (0..2 * SIZES.len())
                    .map(|i| vec![0; SIZES[i % SIZES.len()]])
                    .collect();
                let object = comm.irecv::<usize>(peer, 999);
                let requests: Vec<_> = bufs
                    .iter_mut()
                    .enumerate()
                    .map(|(i, buf)| comm.irecv_into(buf, peer, i as i32))
                    .collect();
                let statuses = rmpi_core::wait_all(requests).await?;
                if object.await? != round {
                    problems.push(format!("round {round}: the object came wrong"));
                }
                for (i, (status, buf)) in statuses.iter().zip(&bufs).enumerate() {
                    let len = SIZES[i % SIZES.len()];
                    if status.bytes != len
                        || status.tag != i as i32
                        || *buf != pattern(len, i + round)
                    {
                        problems.push(format!("round {round}, receive {i}: wrong message"));
                    }
                }
            }
        }
        common::verdict(problems)
    });
}

/// Every request's own outcome, errors included, after waiting for all of them.
async fn futures_outcomes<T>(
    requests: Vec<rmpi_core::Request<'_, T>>,
) -> Vec<rmpi_core::Result<T>> {
    let mut outcomes = Vec::new();
    for request in requests {
        outcomes.push(request.await);
    }
    outcomes
}

#[test]
fn a_sender_that_falls_behind_halfway_still_delivers_every_byte() {
    common::run_mesh(2, &small_ring(), |comm: Comm| async move {
        let len = 200_000;
        if comm.rank() == 0 {
            // The ring takes a page of it; the rest waits here until this rank looks at
            // its rings again, long after the receiver stopped waiting for the next record.
            comm.send_buf(&pattern(len, 5), 1, 0).await?;
            std::thread::sleep(Duration::from_millis(50));
            comm.recv_into(&mut [0u8; 1], 1, 1).await?;
            Ok(())
        } else {
            let mut buf = vec![0u8; len];
            comm.recv_into(&mut buf, 0, 0).await?;
            comm.send_buf(&[1u8], 0, 1).await?;
            common::verdict(if buf == pattern(len, 5) {
                vec![]
            } else {
                vec!["the payload was corrupted".into()]
            })
        }
    });
}

#[test]
fn a_sender_that_dies_halfway_fails_the_receive_instead_of_hanging_it() {
    let mut ranks = ShmTransport::mesh(2, &small_ring()).expect("joins");
    let (second, first) = (ranks.pop().unwrap(), ranks.pop().unwrap());
    // The receive starts once the send has returned: the sender then holds most of the
    // payload aside for want of ring space (nobody was reading), and dies with it.
    let (sent, send_returned) = std::sync::mpsc::channel();
    let outcome = std::thread::scope(|scope| {
        scope.spawn(move || {
            let comm = Comm::from_transport(Arc::new(second));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            runtime
                .block_on(comm.send_buf(&pattern(100_000, 0), 0, 0))
                .expect("sends");
            sent.send(()).expect("the receiver waits");
            std::thread::sleep(Duration::from_millis(50));
            // No finalize: dropped halfway through the payload, as a failing rank would.
        });
        let waiting = scope.spawn(move || {
            let comm = Comm::from_transport(Arc::new(first));
            send_returned.recv().expect("the sender sends");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let mut buf = vec![0u8; 100_000];
                let receive = comm.recv_into(&mut buf, 1, 0);
                tokio::time::timeout(Duration::from_secs(20), receive)
                    .await
                    .map_err(|_| Error::InvalidArgument("still waiting after 20 s".into()))?
            })
        });
        waiting.join().expect("no panic")
    });
    match outcome {
        Err(Error::PeerLost { rank: 1 }) => {}
        other => panic!("expected rank 1 lost, got {other:?}"),
    }
}
