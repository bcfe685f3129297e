//! A host's proxy: `rmpirun --proxy`, started on every other host of a job (over ssh or the
//! user's `--launcher-exec`), starts that host's ranks and relays for them.
//!
//! The launcher writes the job to the proxy's standard input as one JSON line (the secret
//! travels there, never on a command line), then [`Command`]s; the proxy writes each rank's
//! [`Report`]s to its standard output. Both directions are length-prefixed records:
//!
//! | direction | record |
//! |---|---|
//! | launcher to proxy | kind `u8` (1 input for the first rank, 2 end of that input, 3 terminate), length `u32` LE, bytes |
//! | proxy to launcher | kind `u8` (1 output line, 2 error line, 3 started, 4 ended), rank `u32` LE, length `u32` LE, bytes |
//!
//! When its standard input ends (the launcher is gone, or its ssh connection), the proxy
//! ends its ranks, removes what the job left in `/dev/shm`, and exits.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::spawn::{self, Exit, Program, Report, Stream};

/// Longest record either side accepts.
pub const MAX_RECORD: usize = 1 << 20;

/// What a proxy runs: the first line its launcher writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyJob {
    /// The job's identifier (names what it leaves in `/dev/shm`).
    pub job_id: String,
    /// What every rank runs.
    pub program: Program,
    /// The world ranks on this host.
    pub ranks: Vec<usize>,
    /// Whether the first of them reads input the launcher relays.
    pub stdin: bool,
}

/// What the launcher tells a proxy after the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Input for the first rank.
    Input(Vec<u8>),
    /// The first rank's input ends.
    InputEnd,
    /// End every rank now.
    Terminate,
}

impl Command {
    /// The record for this command.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, bytes): (u8, &[u8]) = match self {
            Command::Input(bytes) => (1, bytes),
            Command::InputEnd => (2, &[]),
            Command::Terminate => (3, &[]),
        };
        let mut record = vec![kind];
        record.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        record.extend_from_slice(bytes);
        record
    }

    /// Reads one command; `None` at the end of the stream.
    pub async fn read(from: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Command>> {
        let mut head = [0u8; 5];
        if !read_head(from, &mut head).await? {
            return Ok(None);
        }
        let bytes = read_body(from, &head[1..5]).await?;
        match head[0] {
            1 => Ok(Some(Command::Input(bytes))),
            2 => Ok(Some(Command::InputEnd)),
            3 => Ok(Some(Command::Terminate)),
            kind => Err(malformed(format!("unknown command kind {kind}"))),
        }
    }
}

/// The record for a report.
pub fn encode_report(report: &Report) -> Vec<u8> {
    let record = |kind: u8, rank: usize, bytes: &[u8]| {
        let mut record = Vec::with_capacity(9 + bytes.len());
        record.push(kind);
        record.extend_from_slice(&(rank as u32).to_le_bytes());
        record.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        record.extend_from_slice(bytes);
        record
    };
    match report {
        Report::Output { rank, stream, line } => {
            let kind = match stream {
                Stream::Out => 1,
                Stream::Err => 2,
            };
            record(kind, *rank, line)
        }
        Report::Started { rank, pid } => record(3, *rank, &pid.to_le_bytes()),
        Report::Ended { rank, exit } => {
            let (how, value) = match exit {
                Exit::Code(code) => (0u8, *code),
                Exit::Signal(signal) => (1, *signal),
                Exit::Lost => (2, 0),
            };
            let [a, b, c, d] = value.to_le_bytes();
            record(4, *rank, &[how, a, b, c, d])
        }
    }
}

/// Reads one report; `None` at the end of the stream. A malformed record is an error.
pub async fn read_report(from: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Report>> {
    let mut head = [0u8; 9];
    if !read_head(from, &mut head).await? {
        return Ok(None);
    }
    let rank = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes")) as usize;
    let bytes = read_body(from, &head[5..9]).await?;
    let report = match (head[0], bytes.as_slice()) {
        (1, _) => Report::Output {
            rank,
            stream: Stream::Out,
            line: bytes,
        },
        (2, _) => Report::Output {
            rank,
            stream: Stream::Err,
            line: bytes,
        },
        (3, &[a, b, c, d]) => Report::Started {
            rank,
            pid: u32::from_le_bytes([a, b, c, d]),
        },
        (4, &[how, a, b, c, d]) => {
            let value = i32::from_le_bytes([a, b, c, d]);
            let exit = match how {
                0 => Exit::Code(value),
                1 => Exit::Signal(value),
                _ => Exit::Lost,
            };
            Report::Ended { rank, exit }
        }
        (kind, _) => return Err(malformed(format!("bad report of kind {kind}"))),
    };
    Ok(Some(report))
}

fn malformed(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// Fills `head`; `false` if the stream ended cleanly before it.
async fn read_head(from: &mut (impl AsyncRead + Unpin), head: &mut [u8]) -> std::io::Result<bool> {
    match from.read_exact(head).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

async fn read_body(from: &mut (impl AsyncRead + Unpin), len: &[u8]) -> std::io::Result<Vec<u8>> {
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    if len > MAX_RECORD {
        return Err(malformed(format!(
            "a record of {len} bytes (at most {MAX_RECORD})"
        )));
    }
    let mut bytes = vec![0u8; len];
    from.read_exact(&mut bytes).await?;
    Ok(bytes)
}

/// `rmpirun --proxy`: reads a [`ProxyJob`] from standard input, runs it, relays until every
/// rank has ended, and returns the proxy's exit code.
pub async fn serve() -> i32 {
    match relay(tokio::io::stdin(), tokio::io::stdout()).await {
        Ok(()) => 0,
        Err(reason) => {
            eprintln!("rmpirun --proxy: {reason}");
            1
        }
    }
}

async fn relay(
    input: impl AsyncRead + Unpin + Send + 'static,
    mut output: impl AsyncWrite + Unpin,
) -> Result<(), String> {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    (&mut input)
        .take(MAX_RECORD as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("reading the job: {e}"))?;
    let job: ProxyJob =
        serde_json::from_slice(&line).map_err(|e| format!("not a job from rmpirun: {e}"))?;
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let (terminate, terminated) = watch::channel(false);
    let (mut first_input, stdin) = match job.stdin {
        true => {
            let (writer, reader) = tokio::io::duplex(64 * 1024);
            let reader: Box<dyn AsyncRead + Send + Unpin> = Box::new(reader);
            (Some(writer), Some(reader))
        }
        false => (None, None),
    };
    spawn::start(&job.program, &job.ranks, stdin, &reports_tx, &terminated)?;
    drop(reports_tx);
    tokio::spawn(async move {
        loop {
            match Command::read(&mut input).await {
                Ok(Some(Command::Input(bytes))) => {
                    if let Some(writer) = &mut first_input {
                        if writer.write_all(&bytes).await.is_err() {
                            first_input = None;
                        }
                    }
                }
                Ok(Some(Command::InputEnd)) => first_input = None,
                // Told to, or the launcher is gone: end every rank.
                Ok(Some(Command::Terminate)) | Ok(None) | Err(_) => {
                    let _ = terminate.send(true);
                    return;
                }
            }
        }
    });
    while let Some(report) = reports.recv().await {
        // A launcher that is gone reads nothing more; the ranks still end.
        if output.write_all(&encode_report(&report)).await.is_ok() {
            let _ = output.flush().await;
        }
    }
    crate::leftovers::remove(&job.job_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_round_trip_and_garbage_is_refused() {
        let reports = [
            Report::Started { rank: 3, pid: 77 },
            Report::Output {
                rank: 3,
                stream: Stream::Err,
                line: b"oops\n".to_vec(),
            },
            Report::Ended {
                rank: 3,
                exit: Exit::Signal(9),
            },
            Report::Ended {
                rank: 1,
                exit: Exit::Code(-2),
            },
        ];
        let bytes: Vec<u8> = reports.iter().flat_map(encode_report).collect();
        let mut reader = bytes.as_slice();
        for report in &reports {
            assert_eq!(
                read_report(&mut reader).await.unwrap().as_ref(),
                Some(report)
            );
        }
        assert_eq!(read_report(&mut reader).await.unwrap(), None);
        let commands = [
            Command::Input(b"42\n".to_vec()),
            Command::InputEnd,
            Command::Terminate,
        ];
        let bytes: Vec<u8> = commands.iter().flat_map(Command::encode).collect();
        let mut reader = bytes.as_slice();
        for command in commands {
            assert_eq!(Command::read(&mut reader).await.unwrap(), Some(command));
        }
        // An announced length past the bound is refused before anything is allocated.
        let huge = [1u8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(read_report(&mut huge.as_slice()).await.is_err());
        assert!(read_report(&mut [9u8, 0, 0, 0, 0, 0, 0, 0, 0].as_slice())
            .await
            .is_err());
        // A record cut short is an error, not a silent end.
        assert!(
            read_report(&mut [1u8, 0, 0, 0, 0, 5, 0, 0, 0, b'a'].as_slice())
                .await
                .is_err()
        );
    }
}
