//! The first bytes on every connection: who is calling, and proof that they belong to the job.
//!
//! Three flights, the secret never on the wire ([`rmpi_core::auth`]):
//! 1. the connecting side sends its [`Hello`]: a magic string and protocol version, its rank,
//!    the job size and a fresh nonce;
//! 2. the accepting side answers with its own hello and a proof over both hellos;
//! 3. the connecting side checks that proof and sends its own.
//!
//! A connection that fails any step (a port scanner, a process of another job, a stale rank,
//! someone guessing) is closed and logged by the side that noticed, and the job goes on.
//! The handshake keeps strangers out; it does not encrypt, so jobs across untrusted networks
//! need a secured network underneath.

use std::time::Duration;

use rmpi_core::auth::{self, Nonce, NONCE_LEN, PROOF_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Identifies rmpi's TCP protocol, version 2 (challenge-response).
const MAGIC: &[u8; 8] = b"RMPITCP2";
/// Length of an encoded hello.
pub(crate) const HELLO_LEN: usize = MAGIC.len() + 8 + NONCE_LEN;
/// The roles proofs are labelled with.
const ACCEPTOR: &str = "rmpi-tcp acceptor";
const CONNECTOR: &str = "rmpi-tcp connector";

/// One side's introduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) rank: u32,
    pub(crate) size: u32,
    pub(crate) nonce: Nonce,
}

impl Hello {
    /// This rank's hello, with a fresh nonce.
    pub(crate) fn new(rank: usize, size: usize) -> std::io::Result<Hello> {
        Ok(Hello {
            rank: rank as u32,
            size: size as u32,
            nonce: Nonce::random().map_err(std::io::Error::other)?,
        })
    }

    pub(crate) fn encode(&self) -> [u8; HELLO_LEN] {
        let mut bytes = [0u8; HELLO_LEN];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8..12].copy_from_slice(&self.rank.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.size.to_le_bytes());
        bytes[16..].copy_from_slice(self.nonce.as_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: &[u8; HELLO_LEN]) -> Result<Hello, String> {
        if &bytes[..8] != MAGIC {
            return Err("not speaking rmpi's TCP protocol".into());
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        Ok(Hello {
            rank: word(8),
            size: word(12),
            nonce: Nonce::from_bytes(bytes[16..].try_into().expect("a nonce")),
        })
    }

    /// Checks a peer's hello against this job: same size, a rank in range.
    pub(crate) fn check(&self, size: usize) -> Result<usize, String> {
        if self.size as usize != size {
            return Err(format!("job size {} where this job has {size}", self.size));
        }
        let rank = self.rank as usize;
        if rank >= size {
            return Err(format!("rank {rank} out of range for {size} ranks"));
        }
        Ok(rank)
    }
}

async fn read_exact<const N: usize>(stream: &mut TcpStream) -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    stream
        .read_exact(&mut bytes)
        .await
        .map_err(|e| format!("introduction cut short: {e}"))?;
    Ok(bytes)
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).await.map_err(|e| e.to_string())
}

/// Gives up after `timeout`, so a silent stranger cannot hold a task.
async fn within<T>(
    timeout: Duration,
    step: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(timeout, step)
        .await
        .map_err(|_| format!("no introduction within {timeout:?}"))?
}

/// The connecting side: introduces `mine`, checks the answer's proof, proves itself.
/// Returns the rank that answered.
pub(crate) async fn connect(
    stream: &mut TcpStream,
    mine: &Hello,
    size: usize,
    secret: &[u8],
    timeout: Duration,
) -> Result<usize, String> {
    within(timeout, async {
        let sent = mine.encode();
        write(stream, &sent).await?;
        let received = read_exact::<HELLO_LEN>(stream).await?;
        let proof = read_exact::<PROOF_LEN>(stream).await?;
        let peer = Hello::decode(&received)?.check(size)?;
        let transcript: [&[u8]; 2] = [&sent, &received];
        if !auth::verify(secret, ACCEPTOR, &transcript, &proof) {
            return Err("wrong proof of the job secret".into());
        }
        write(stream, &auth::prove(secret, CONNECTOR, &transcript)).await?;
        Ok(peer)
    })
    .await
}

/// The accepting side: reads the caller's hello, answers with `mine` and a proof, checks
/// the caller's proof, and has `accept` approve its rank. Returns the caller's rank.
pub(crate) async fn accept(
    stream: &mut TcpStream,
    mine: &Hello,
    size: usize,
    secret: &[u8],
    timeout: Duration,
    accept: impl FnOnce(usize) -> Result<(), String>,
) -> Result<usize, String> {
    within(timeout, async {
        let received = read_exact::<HELLO_LEN>(stream).await?;
        let peer = Hello::decode(&received)?.check(size)?;
        let sent = mine.encode();
        let transcript: [&[u8]; 2] = [&received, &sent];
        let mut answer = sent.to_vec();
        answer.extend_from_slice(&auth::prove(secret, ACCEPTOR, &transcript));
        write(stream, &answer).await?;
        let proof = read_exact::<PROOF_LEN>(stream).await?;
        if !auth::verify(secret, CONNECTOR, &transcript, &proof) {
            return Err(format!("claimed to be rank {peer} without the job secret"));
        }
        accept(peer)?;
        Ok(peer)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        (connected.unwrap(), accepted.unwrap().0)
    }

    async fn shake(
        connector_secret: &'static [u8],
        acceptor_secret: &'static [u8],
    ) -> (Result<usize, String>, Result<usize, String>) {
        let (mut a, mut b) = pair().await;
        let t = Duration::from_secs(5);
        let (one, two) = (Hello::new(1, 4).unwrap(), Hello::new(3, 4).unwrap());
        // Each side owns its socket, so a side that gives up closes it.
        let connecting =
            tokio::spawn(async move { connect(&mut b, &two, 4, connector_secret, t).await });
        let accepting =
            tokio::spawn(
                async move { accept(&mut a, &one, 4, acceptor_secret, t, |_| Ok(())).await },
            );
        (connecting.await.unwrap(), accepting.await.unwrap())
    }

    #[tokio::test]
    async fn both_sides_prove_the_secret() {
        assert_eq!(shake(b"s3cret", b"s3cret").await, (Ok(1), Ok(3)));
        let (connector, acceptor) = shake(b"guess", b"s3cret").await;
        assert!(connector.is_err() && acceptor.is_err());
    }

    #[test]
    fn hellos_round_trip_and_are_checked() {
        let hello = Hello::new(2, 4).unwrap();
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello.clone()));
        assert_eq!(hello.check(4), Ok(2));
        assert!(hello.check(5).is_err());
        let stray = Hello { rank: 4, ..hello };
        assert!(stray.check(4).is_err());
        let mut garbage = stray.encode();
        garbage[0] = b'X';
        assert!(Hello::decode(&garbage).is_err());
    }
}
