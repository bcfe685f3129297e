//! The TCP transport against a peer that knows the job secret but breaks the protocol, and
//! between real endpoints: every failure names the peer, none panics, hangs, or allocates
//! what a header merely announces.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rmpi_core::bootstrap::InProcess;
use rmpi_core::frame::HEADER_LEN;
use rmpi_core::{Bootstrap, Comm, Error, FrameKind, Header, Result};
use rmpi_tcp::{TcpOptions, TcpTransport};

/// The job id, which in-process jobs use as their secret.
const SECRET: &[u8] = b"wire-test";

fn rendezvous(size: usize) -> Vec<InProcess> {
    InProcess::job(size, "wire-test")
}

/// Runs a real rank 0 that waits for a message from rank 1, while `rank1` plays rank 1 on
/// a raw socket; returns what rank 0's receive gave.
fn rank0_receives_from(rank1: impl FnOnce(TcpStream) + Send) -> Result<Vec<u8>> {
    let mut bootstraps = rendezvous(2).into_iter();
    let (zero, one) = (bootstraps.next().unwrap(), bootstraps.next().unwrap());
    std::thread::scope(|scope| {
        let real = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let transport = TcpTransport::establish(&zero, &TcpOptions::default()).await?;
                let comm = Comm::from_transport(Arc::new(transport));
                comm.recv::<Vec<u8>>(1, 0).await
            })
        });
        // Rank 1 by hand: publish a (dummy) address, connect to rank 0, introduce itself.
        one.put("rmpi-tcp-1", "127.0.0.1:9").unwrap();
        one.fence().unwrap();
        let address = one.get("rmpi-tcp-0").unwrap();
        let mut stream = TcpStream::connect(address).unwrap();
        let mut hello = b"RMPITCP1".to_vec();
        hello.extend_from_slice(&1u32.to_le_bytes());
        hello.extend_from_slice(&2u32.to_le_bytes());
        hello.extend_from_slice(&(SECRET.len() as u16).to_le_bytes());
        hello.extend_from_slice(SECRET);
        stream.write_all(&hello).unwrap();
        let mut answer = vec![0u8; hello.len()];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer[..8], b"RMPITCP1");
        assert_eq!(&answer[8..12], &0u32.to_le_bytes(), "rank 0 answers");
        rank1(stream);
        real.join().unwrap()
    })
}

fn data_header(len: u64) -> Header {
    Header {
        kind: FrameKind::Data,
        context: 0, // the world's point-to-point context
        source: 1,
        tag: 0,
        sync_id: 0,
        len,
    }
}

#[test]
fn a_well_formed_frame_is_delivered() {
    let payload = bincode_vec(&[7, 8, 9]);
    let received = rank0_receives_from(|mut stream| {
        stream
            .write_all(&data_header(payload.len() as u64).encode())
            .unwrap();
        stream.write_all(&payload).unwrap();
        stream.write_all(&Header::goodbye().encode()).unwrap();
    });
    assert_eq!(received.unwrap(), vec![7, 8, 9]);
}

/// The codec's encoding of a `Vec<u8>`, built by hand: a length varint, then the bytes.
fn bincode_vec(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

#[test]
fn garbage_after_the_handshake_is_an_error_naming_the_peer() {
    let received = rank0_receives_from(|mut stream| {
        stream.write_all(&[0xAB; HEADER_LEN]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    match received {
        Err(Error::MalformedFrame { rank: 1, reason }) => {
            assert!(reason.contains("unknown frame kind 171"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_oversized_length_is_refused_before_any_allocation() {
    let received = rank0_receives_from(|mut stream| {
        stream.write_all(&data_header(1 << 62).encode()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    match received {
        Err(Error::MalformedFrame { rank: 1, reason }) => {
            assert!(reason.contains("exceeds the limit"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_length_that_is_never_delivered_costs_only_what_arrives() {
    // 512 GiB announced (under the limit), a few bytes sent, then the peer vanishes: the
    // receiver must not reserve the announced size up front.
    let received = rank0_receives_from(|mut stream| {
        stream.write_all(&data_header(1 << 39).encode()).unwrap();
        stream.write_all(b"only this").unwrap();
    });
    assert!(
        matches!(received, Err(Error::PeerLost { rank: 1 })),
        "{received:?}"
    );
}

#[test]
fn a_goodbye_then_silence_is_a_finished_peer_not_a_lost_one() {
    let received = rank0_receives_from(|mut stream| {
        stream.write_all(&Header::goodbye().encode()).unwrap();
    });
    assert!(
        matches!(received, Err(Error::PeerFinished { rank: 1 })),
        "{received:?}"
    );
}

#[test]
fn real_endpoints_exchange_messages_both_ways() {
    let outcomes: Vec<Result<u64>> = std::thread::scope(|scope| {
        let ranks: Vec<_> = rendezvous(3)
            .into_iter()
            .map(|bootstrap| {
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let options = TcpOptions::default();
                        let transport = TcpTransport::establish(&bootstrap, &options).await?;
                        let comm = Comm::from_transport(Arc::new(transport));
                        let (rank, size) = (comm.rank(), comm.size());
                        let big: Vec<u64> = (0..300_000).map(|i| i * rank as u64).collect();
                        let right = (rank + 1) % size;
                        let left = (rank + size - 1) % size;
                        let sent = comm.isend_buf(&big, right, 3);
                        let got: Vec<u64> = comm.recv_buf(left, 3).await?.0;
                        sent.await?;
                        assert_eq!(got.len(), big.len());
                        let total = got.iter().sum::<u64>();
                        comm.finalize().await?;
                        Ok(total)
                    })
                })
            })
            .collect();
        ranks.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let triangle: u64 = (0..300_000u64).sum();
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        let left = (rank + 2) % 3;
        assert_eq!(outcome.unwrap(), triangle * left as u64);
    }
}
