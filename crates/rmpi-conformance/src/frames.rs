//! The checks of the transport contract itself: identity, frames in order and intact, sends
//! from borrowed memory, floods of small frames, and a clean shutdown.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use rmpi_core::{Event, Frame, FrameKind, Header, Result, Transport};

use crate::{job, Backend};

/// The next event from `transport`.
async fn next_event(transport: &dyn Transport) -> Event {
    poll_fn(|cx| transport.poll_recv(cx)).await
}

/// A data frame with `tag` and `payload`, as rmpi-core would send it.
fn data(source: usize, tag: i32, payload: Bytes) -> Frame {
    let header = Header {
        kind: FrameKind::Data,
        context: 0,
        source: source as u32,
        tag,
        sync_id: 0,
        len: 0,
    };
    Frame::new(header, payload)
}

/// Bytes that say who sent them and in which order.
fn pattern(from: usize, seq: usize, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ from.wrapping_mul(7) ^ seq) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The payload of `event`, which must be a data frame from `from` (or else the check fails).
fn payload_of(check: &str, rank: usize, event: Event) -> (usize, i32, Bytes) {
    match event {
        Event::Frame { from, frame } => (from, frame.header.tag, frame.payload),
        Event::Lent {
            from,
            header,
            mut payload,
        } => {
            let mut bytes = vec![0u8; payload.len()];
            payload
                .read_into(&mut bytes)
                .unwrap_or_else(|e| panic!("{check}: rank {rank}: a lent payload unreadable: {e}"));
            (from, header.tag, bytes.into())
        }
        other => panic!("{check}: rank {rank} expected a frame, got {other:?}"),
    }
}

/// Every endpoint knows its rank and the job's size.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::identity(&Local);
/// ```
pub fn identity(backend: &impl Backend) {
    let seen = job(backend, "identity", 3, |rank, transport| async move {
        (rank, transport.rank(), transport.size())
    });
    for (rank, own, size) in seen {
        assert_eq!(
            own, rank,
            "identity: rank {rank}'s endpoint says it is rank {own}"
        );
        assert_eq!(
            size, 3,
            "identity: rank {rank}'s endpoint says the job has {size} ranks"
        );
    }
}

/// Payload sizes every rank sends to every other, in this order: empty, small ones on both
/// sides of where a frame outgrows a cache line or two (where a backend may change how it
/// lays messages out), and large ones.
const SIZES: [usize; 13] = [
    0,
    1,
    7,
    16,
    17,
    64,
    65,
    4096,
    65_535,
    65_536,
    200_000,
    1 << 20,
    4 << 20,
];

/// Every rank sends frames of 0 B to 4 MiB to every other rank at once; each
/// arrives intact, and each sender's in the order sent.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::order_and_integrity(&Local);
/// ```
pub fn order_and_integrity(backend: &impl Backend) {
    exchange(backend, "order_and_integrity", |transport, dest, frame| {
        transport.send(dest, frame)
    });
}

/// As [`order_and_integrity`], with every frame sent through the transport's
/// [`FastPaths::send_copy`](rmpi_core::FastPaths::send_copy) (if it has fast paths) from memory the sender overwrites as
/// soon as the call returns: a transport may write it straight out, but must copy what it
/// keeps. Large payloads fill the connections, so some wait in part.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::borrowed_sends(&Local);
/// ```
pub fn borrowed_sends(backend: &impl Backend) {
    exchange(backend, "borrowed_sends", |transport, dest, frame| {
        let fast = transport.clone().fast_paths();
        match fast {
            Some(fast) => {
                let mut lent = frame.payload.to_vec();
                let sent = fast.send_copy(dest, frame.header, &lent);
                lent.fill(0xEE);
                sent
            }
            _ => transport.send(dest, frame),
        }
    });
}

/// Every rank sends frames of every size in `SIZES`, twice, to every other rank (each
/// sent with `send`), then checks that every frame it hears arrived intact and in order.
fn exchange<S>(backend: &impl Backend, check: &'static str, send: S)
where
    S: Fn(&Arc<dyn Transport>, usize, Frame) -> Result<()> + Sync,
{
    let size = 3;
    let send = &send;
    job(backend, check, size, |rank, transport| async move {
        for round in 0..2 {
            for (seq, &len) in SIZES.iter().enumerate() {
                for dest in (0..size).filter(|&d| d != rank) {
                    let seq = round * SIZES.len() + seq;
                    send(
                        &transport,
                        dest,
                        data(rank, seq as i32, pattern(rank, seq, len)),
                    )
                    .unwrap_or_else(|e| panic!("{check}: rank {rank} to {dest}: {e}"));
                    // Lets the transport's own tasks, if any, move what waits.
                    tokio::task::yield_now().await;
                }
            }
        }
        // Peers that are done may finish while others' frames are still on the way; a
        // peer's end must come after all of its frames.
        let per_peer = 2 * SIZES.len();
        let mut next = vec![0usize; size];
        next[rank] = per_peer;
        while next.iter().any(|&n| n < per_peer) {
            let event = next_event(&*transport).await;
            if let Event::PeerFinished { rank: peer } = event {
                let got = next[peer];
                assert_eq!(got, per_peer, "{check}: rank {rank} heard rank {peer} finish after {got} of its {per_peer} frames");
                continue;
            }
            let (from, tag, payload) = payload_of(check, rank, event);
            let seq = next[from];
            assert_eq!(
                tag, seq as i32,
                "{check}: rank {rank} got frame {tag} from {from} where {seq} was next"
            );
            let len = SIZES[seq % SIZES.len()];
            assert!(
                payload == pattern(from, seq, len),
                "{check}: rank {rank}: frame {seq} from {from} ({len} bytes) arrived damaged"
            );
            next[from] += 1;
        }
        transport.shutdown().await.expect("shutdown");
    });
}

/// Rank 0 sends 20,000 small frames before rank 1 reads any; all arrive, in order.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::many_small_frames(&Local);
/// ```
pub fn many_small_frames(backend: &impl Backend) {
    let check = "many_small_frames";
    const FRAMES: usize = 20_000;
    job(backend, check, 2, |rank, transport| async move {
        if rank == 0 {
            for seq in 0..FRAMES {
                transport
                    .send(1, data(0, seq as i32, pattern(0, seq, 8)))
                    .unwrap_or_else(|e| panic!("{check}: frame {seq}: {e}"));
            }
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            for seq in 0..FRAMES {
                let (_, tag, payload) = payload_of(check, 1, next_event(&*transport).await);
                assert_eq!(
                    tag, seq as i32,
                    "{check}: frame {tag} arrived where {seq} was next"
                );
                assert!(
                    payload == pattern(0, seq, 8),
                    "{check}: frame {seq} damaged"
                );
            }
        }
        transport.shutdown().await.expect("shutdown");
    });
}

/// Rank 1 sends ten frames and shuts down; rank 0 gets the ten, then
/// [`Event::PeerFinished`] for rank 1, and nothing from rank 1 after it.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::clean_shutdown(&Local);
/// ```
pub fn clean_shutdown(backend: &impl Backend) {
    let check = "clean_shutdown";
    job(backend, check, 2, |rank, transport| async move {
        if rank == 1 {
            for seq in 0..10 {
                transport
                    .send(0, data(1, seq, pattern(1, seq as usize, 100)))
                    .expect("send");
            }
            transport.shutdown().await.expect("rank 1's shutdown");
            return;
        }
        for seq in 0..10 {
            let (_, tag, _) = payload_of(check, 0, next_event(&*transport).await);
            assert_eq!(
                tag, seq,
                "{check}: frame {tag} arrived where {seq} was next"
            );
        }
        match next_event(&*transport).await {
            Event::PeerFinished { rank: 1 } => {}
            other => {
                panic!("{check}: after rank 1's frames, rank 0 got {other:?}, not PeerFinished")
            }
        }
        transport.shutdown().await.expect("rank 0's shutdown");
    });
}
