//! The TCP transport against a peer that knows the job secret but breaks the protocol, and
//! between real endpoints: every failure names the peer, none panics, hangs, or allocates
//! what a header merely announces.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rmpi_core::auth::{self, Nonce};
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
        introduce_as_rank_1(&mut stream);
        rank1(stream);
        real.join().unwrap()
    })
}

/// The connecting side of the handshake, by hand: a hello with a nonce, rank 0's answer
/// and proof checked, then rank 1's proof.
fn introduce_as_rank_1(stream: &mut TcpStream) {
    let nonce = Nonce::random().unwrap();
    let mut hello = b"RMPITCP2".to_vec();
    hello.extend_from_slice(&1u32.to_le_bytes());
    hello.extend_from_slice(&2u32.to_le_bytes());
    hello.extend_from_slice(nonce.as_bytes());
    stream.write_all(&hello).unwrap();
    let mut answer = vec![0u8; hello.len()];
    let mut proof = [0u8; 32];
    stream.read_exact(&mut answer).unwrap();
    stream.read_exact(&mut proof).unwrap();
    assert_eq!(&answer[..8], b"RMPITCP2");
    assert_eq!(&answer[8..12], &0u32.to_le_bytes(), "rank 0 answers");
    let transcript: [&[u8]; 2] = [&hello, &answer];
    assert!(auth::verify(
        SECRET,
        "rmpi-tcp acceptor",
        &transcript,
        &proof
    ));
    stream
        .write_all(&auth::prove(SECRET, "rmpi-tcp connector", &transcript))
        .unwrap();
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

/// The codec's encoding of a `Vec<u8>`, as an object message carries it.
fn bincode_vec(bytes: &[u8]) -> Vec<u8> {
    use rmpi_core::codec::{Codec, DefaultCodec};
    DefaultCodec::encode(bytes).unwrap()
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

/// Rank 1's view of the job, but rank 0's address points at a relay that records every byte.
#[derive(Debug)]
struct ThroughRelay {
    inner: InProcess,
    relay: String,
}

impl Bootstrap for ThroughRelay {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn job_id(&self) -> &str {
        self.inner.job_id()
    }
    fn job_secret(&self) -> &[u8] {
        self.inner.job_secret()
    }
    fn put(&self, key: &str, value: &str) -> Result<()> {
        self.inner.put(key, value)
    }
    fn fence(&self) -> Result<()> {
        self.inner.fence()
    }
    fn get(&self, key: &str) -> Result<String> {
        match key {
            "rmpi-tcp-0" => Ok(self.relay.clone()),
            _ => self.inner.get(key),
        }
    }
}

/// Copies `from` to `to`, keeping a copy of every byte.
fn record(mut from: TcpStream, mut to: TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = from.read(&mut chunk) {
        seen.extend_from_slice(&chunk[..n]);
        if to.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
    seen
}

#[test]
fn the_job_secret_never_crosses_the_wire() {
    let relay = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_address = relay.local_addr().unwrap().to_string();
    let mut job = rendezvous(2).into_iter();
    let (zero, one) = (job.next().unwrap(), job.next().unwrap());
    let one = ThroughRelay {
        inner: one,
        relay: relay_address,
    };
    let (sent, answered) = std::thread::scope(|scope| {
        let relaying = scope.spawn(|| {
            let (from_one, _) = relay.accept().unwrap();
            let to_zero = TcpStream::connect(zero.get("rmpi-tcp-0").unwrap()).unwrap();
            let (back_one, back_zero) =
                (from_one.try_clone().unwrap(), to_zero.try_clone().unwrap());
            let upstream = std::thread::spawn(move || record(from_one, to_zero));
            let answered = record(back_zero, back_one);
            (upstream.join().unwrap(), answered)
        });
        let ranks: Vec<_> = [&zero as &dyn Bootstrap, &one]
            .into_iter()
            .map(|bootstrap| {
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let transport =
                            TcpTransport::establish(bootstrap, &TcpOptions::default()).await?;
                        let comm = Comm::from_transport(Arc::new(transport));
                        let other = 1 - comm.rank();
                        comm.send(&format!("hello from {}", comm.rank()), other, 0)
                            .await?;
                        let got: String = comm.recv(other, 0).await?;
                        comm.finalize().await?;
                        Ok::<String, Error>(got)
                    })
                })
            })
            .collect();
        for (rank, joined) in ranks.into_iter().enumerate() {
            assert_eq!(
                joined.join().unwrap().unwrap(),
                format!("hello from {}", 1 - rank)
            );
        }
        relaying.join().unwrap()
    });
    assert!(sent.starts_with(b"RMPITCP2") && answered.starts_with(b"RMPITCP2"));
    for bytes in [&sent, &answered] {
        let hex = auth::encode_hex(SECRET);
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET)
                && !bytes.windows(hex.len()).any(|w| w == hex.as_bytes()),
            "the secret crossed the wire: {bytes:?}"
        );
    }
}
