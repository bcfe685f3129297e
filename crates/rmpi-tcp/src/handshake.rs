//! The first bytes on every connection: who is calling, and proof that they belong to the job.
//!
//! Both sides send a [`Hello`]: a magic string and protocol version, the sender's rank, the
//! job size, and the job secret the launcher gave only to this job's ranks. A connection whose
//! hello is wrong in any way (a port scanner, a process of another job, a stale rank) is
//! closed and logged by its receiver, and the job goes on. The secret keeps strangers out; it
//! is not encryption, so jobs across untrusted networks need a secured network underneath.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Identifies rmpi's TCP protocol, version 1.
const MAGIC: &[u8; 8] = b"RMPITCP1";
/// Longest secret accepted; anything longer is not from a launcher of ours.
const MAX_SECRET: usize = 256;

/// One side's introduction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) rank: u32,
    pub(crate) size: u32,
    pub(crate) secret: Vec<u8>,
}

impl Hello {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(MAGIC.len() + 10 + self.secret.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.rank.to_le_bytes());
        bytes.extend_from_slice(&self.size.to_le_bytes());
        bytes.extend_from_slice(&(self.secret.len() as u16).to_le_bytes());
        bytes.extend_from_slice(&self.secret);
        bytes
    }

    /// Reads a hello, giving up after `timeout` so a silent stranger cannot hold a task.
    pub(crate) async fn read(stream: &mut TcpStream, timeout: Duration) -> Result<Hello, String> {
        tokio::time::timeout(timeout, Self::read_untimed(stream))
            .await
            .map_err(|_| format!("no introduction within {timeout:?}"))?
    }

    async fn read_untimed(stream: &mut TcpStream) -> Result<Hello, String> {
        let mut fixed = [0u8; MAGIC.len() + 10];
        stream
            .read_exact(&mut fixed)
            .await
            .map_err(|e| format!("introduction cut short: {e}"))?;
        if &fixed[..MAGIC.len()] != MAGIC {
            return Err("not speaking rmpi's TCP protocol".into());
        }
        let word = |at: usize| u32::from_le_bytes(fixed[at..at + 4].try_into().expect("4 bytes"));
        let (rank, size) = (word(8), word(12));
        let secret_len = u16::from_le_bytes([fixed[16], fixed[17]]) as usize;
        if secret_len > MAX_SECRET {
            return Err(format!("secret of {secret_len} bytes is too long"));
        }
        let mut secret = vec![0; secret_len];
        stream
            .read_exact(&mut secret)
            .await
            .map_err(|e| format!("introduction cut short: {e}"))?;
        Ok(Hello { rank, size, secret })
    }

    pub(crate) async fn write(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        stream.write_all(&self.encode()).await
    }

    /// Checks a received hello against this job: same size, same secret, a rank in range.
    pub(crate) fn check(&self, size: usize, secret: &[u8]) -> Result<usize, String> {
        if !same_secret(&self.secret, secret) {
            return Err("wrong job secret".into());
        }
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

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_secret_size_and_rank() {
        let hello = Hello {
            rank: 2,
            size: 4,
            secret: b"s3cret".to_vec(),
        };
        assert_eq!(hello.check(4, b"s3cret"), Ok(2));
        assert!(hello.check(4, b"s3crex").is_err());
        assert!(hello.check(4, b"s3cre").is_err());
        assert!(hello.check(5, b"s3cret").is_err());
        let stray = Hello { rank: 4, ..hello };
        assert!(stray.check(4, b"s3cret").is_err());
    }
}
