//! Payloads lent through single copies, as the engine uses them: received in another order
//! than sent, into buffers, into fresh vectors and as bytes, refused by a buffer too small,
//! and never received at all. Every byte is checked, and both ranks shut down (the lender
//! only once everything it lent is released or its peer is gone).

mod common;

use rmpi_core::{CollectiveComm, Comm, Error, Loans};
use rmpi_shm::{ShmOptions, SingleCopy};

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
        .collect()
}

#[test]
fn lent_payloads_arrive_in_any_order_or_not_at_all() {
    let options = ShmOptions {
        single_copy: SingleCopy::From(4096),
        ..ShmOptions::default()
    };
    let sizes = [200_000, 150_000, 100_000, 100_000, 300_000];
    common::run_mesh(2, &options, |comm: Comm| async move {
        if comm.rank() == 0 {
            for (tag, &len) in sizes.iter().enumerate() {
                comm.send_buf(&pattern(len, tag as u8 + 1), 1, tag as i32)
                    .await?;
            }
            comm.recv::<String>(1, 9).await?;
            return Ok::<(), Error>(());
        }
        let mut problems = Vec::new();
        // Tag 1 before tag 0, into a buffer.
        let mut second = vec![0u8; sizes[1]];
        comm.recv_into(&mut second, 0, 1).await?;
        if second != pattern(sizes[1], 2) {
            problems.push("tag 1 corrupted".to_string());
        }
        // Tag 0 into a fresh vector.
        let (first, status) = comm.recv_buf::<u8>(0, 0).await?;
        if status.bytes != sizes[0] || first != pattern(sizes[0], 1) {
            problems.push("tag 0 corrupted".to_string());
        }
        // Tag 2 into a buffer too small: an error, and the payload is released.
        let mut small = [0u8; 10];
        match comm.recv_into(&mut small, 0, 2).await {
            Err(Error::Truncated { message_bytes, .. }) if message_bytes == sizes[2] => {}
            other => problems.push(format!("expected truncation, got {other:?}")),
        }
        // Tag 4 as bytes; tag 3 is probed and never received.
        let (bytes, _) = comm.recv_bytes(0, 4).await?;
        if bytes[..] != pattern(sizes[4], 5)[..] {
            problems.push("tag 4 corrupted".to_string());
        }
        let status = comm.probe(0, 3).await?;
        if status.bytes != sizes[3] {
            problems.push(format!("tag 3 probed as {} bytes", status.bytes));
        }
        comm.send(&"done".to_string(), 0, 9).await?;
        common::verdict(problems)
    });
}

/// A caller's buffer lent in place (`CollectiveComm::lend_buf`) stays lent until its reader has read
/// it: `settle` waits for that. A reader that leaves without reading releases it as it goes
/// (or, if it cannot, fails the wait); the wait never hangs. Without single copies nothing
/// is lent (nor sent), and there is nothing to wait for.
#[test]
fn a_lent_buffer_is_settled_once_read_and_never_waits_for_a_reader_that_left() {
    for single_copy in [SingleCopy::From(4096), SingleCopy::Off] {
        let options = ShmOptions {
            single_copy,
            ..ShmOptions::default()
        };
        let lends = single_copy != SingleCopy::Off;
        common::run_mesh(3, &options, |comm: Comm| async move {
            let mut problems = Vec::new();
            match comm.rank() {
                0 => {
                    let data = pattern(100_000, 3);
                    let loans = Loans::new();
                    let lent = comm.lend_buf(&data, 1, 0, &loans)?;
                    if lent != lends {
                        problems.push(format!("lent: {lent}"));
                    }
                    if !lent {
                        comm.send_buf(&data, 1, 0).await?; // lend_buf sent nothing
                    }
                    if loans.settled() == lends {
                        problems.push(format!("settled at once: {}", loans.settled()));
                    }
                    comm.send(&(), 1, 1).await?; // rank 1 reads only now
                    comm.settle(&loans).await?;
                    let left = Loans::new();
                    if !comm.lend_buf(&data, 2, 0, &left)? {
                        comm.send_buf(&data, 2, 0).await?;
                    }
                    comm.send(&(), 2, 2).await?; // rank 2 leaves only now
                    match comm.settle(&left).await {
                        Ok(()) | Err(Error::PeerFinished { rank: 2 }) => {}
                        other => problems.push(format!("settling with rank 2 gone: {other:?}")),
                    }
                }
                1 => {
                    comm.recv::<()>(0, 1).await?;
                    let mut buf = vec![0u8; 100_000];
                    comm.recv_into(&mut buf, 0, 0).await?;
                    if buf != pattern(100_000, 3) {
                        problems.push("the lent buffer arrived corrupted".into());
                    }
                }
                _ => comm.recv::<()>(0, 2).await?, // leaves without reading tag 0
            }
            common::verdict(problems)
        });
    }
}

/// A large typed-buffer send lends the caller's buffer (see `rmpi_core`'s rendezvous) and
/// completes once the receiver has read it; the caller may write to the buffer as soon as
/// the send completes or is dropped, and the receiver still gets what the buffer held. Two
/// ranks that both send before they receive do not wait for each other.
#[test]
fn a_lent_send_delivers_the_buffer_as_it_was_however_it_ends() {
    let options = ShmOptions {
        single_copy: SingleCopy::From(4096),
        ..ShmOptions::default()
    };
    const LEN: usize = 300_000;
    common::run_mesh(2, &options, |comm: Comm| async move {
        let mut problems = Vec::new();
        let peer = 1 - comm.rank();
        if comm.rank() == 0 {
            // Dropped before the receiver has even looked: it gets a copy.
            let mut data = pattern(LEN, 1);
            let mut request = comm.isend_buf(&data, 1, 1);
            if request.test().is_some() {
                problems.push("a lent send completed before it was read".to_string());
            }
            drop(request);
            data.fill(0xEE);
            comm.send(&(), 1, 2).await?;
            // Completed: the receiver, waiting already, has read it in place.
            comm.recv::<()>(1, 3).await?;
            let mut data = pattern(LEN, 2);
            comm.send_buf(&data, 1, 4).await?;
            data.fill(0xEE);
        } else {
            comm.recv::<()>(0, 2).await?;
            let mut buf = vec![0u8; LEN];
            comm.recv_into(&mut buf, 0, 1).await?;
            if buf != pattern(LEN, 1) {
                problems.push("a send dropped unread delivered other bytes".into());
            }
            let receive = comm.irecv_into(&mut buf, 0, 4);
            comm.send(&(), 0, 3).await?;
            receive.await?;
            if buf != pattern(LEN, 2) {
                problems.push("a completed send delivered other bytes".into());
            }
        }
        // Both send first: each send gives up waiting and leaves a copy.
        let mut mine = pattern(LEN, 3 + comm.rank() as u8);
        comm.send_buf(&mine, peer, 5).await?;
        mine.fill(0xEE);
        let mut theirs = vec![0u8; LEN];
        comm.recv_into(&mut theirs, peer, 5).await?;
        if theirs != pattern(LEN, 3 + peer as u8) {
            problems.push("sends made before receives delivered other bytes".into());
        }
        // Exchanged at once: each reads the other's buffer in place.
        let mine = pattern(LEN, 5 + comm.rank() as u8);
        comm.sendrecv_buf(&mine, peer, 6, &mut theirs, peer, 6)
            .await?;
        if theirs != pattern(LEN, 5 + peer as u8) {
            problems.push("sendrecv_buf delivered other bytes".into());
        }
        common::verdict(problems)
    });
}
