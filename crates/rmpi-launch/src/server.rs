//! The launcher's side of PMI-1: a key-value space with a barrier, served to the job's ranks.
//!
//! Each rank connects, introduces itself with `initack pmiid=RANK nonce=N`, and the two prove
//! to each other that they know the job's secret ([`crate::pmi::Proofs`]); then the rank
//! puts, fences and gets. A rank may join only once. Anything else that connects (a
//! stranger racing for rank 0, a port scanner) is answered with an error, closed and
//! logged, and the job goes on.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use rmpi_core::auth::Nonce;

use crate::pmi::{Message, Proofs, MAX_LINE};
use crate::stuck::Stuck;

/// What a rank said of its failure before it ended (`rmpi_failed`, an rmpi extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The rank that failed.
    pub rank: usize,
    /// The rank whose failure it reacted to (a lost peer, a collective that failed there);
    /// `None` for a failure of its own.
    pub because_of: Option<usize>,
    /// The exit code of a rank that aborts the job (`comm.abort(code)`).
    pub abort: Option<i32>,
}

/// What ranks tell the launcher besides the key-value traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A rank is failing or aborts the job.
    Failure(Failure),
    /// A rank is stuck in what it lists (`Some`), or moving again (`None`); see
    /// [`crate::stuck`].
    Stuck {
        /// The rank.
        rank: usize,
        /// What it waits for.
        stuck: Option<Stuck>,
    },
}

/// A running PMI-1 service for one job.
#[derive(Debug)]
pub struct PmiServer {
    address: SocketAddr,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Space {
    values: HashMap<String, String>,
    /// Ranks that introduced themselves.
    joined: HashSet<usize>,
    /// Ranks waiting in the current barrier.
    waiting: Vec<oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Job {
    size: usize,
    kvsname: String,
    secret: Vec<u8>,
    notices: mpsc::UnboundedSender<Notice>,
    space: Mutex<Space>,
}

impl PmiServer {
    /// Serves a job of `size` ranks whose secret is `secret`, on a port of `address`
    /// (loopback for a job on this host, every interface for a job across hosts). What
    /// ranks tell the launcher goes to `notices`.
    pub async fn start(
        size: usize,
        kvsname: &str,
        secret: &[u8],
        address: IpAddr,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> std::io::Result<PmiServer> {
        let listener = TcpListener::bind((address, 0)).await?;
        let address = listener.local_addr()?;
        let job = Arc::new(Job {
            size,
            kvsname: kvsname.to_owned(),
            secret: secret.to_vec(),
            notices,
            space: Mutex::default(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, from)) = listener.accept().await else {
                    continue;
                };
                let job = job.clone();
                tokio::spawn(async move {
                    if let Err(reason) = serve(&job, stream).await {
                        tracing::warn!("key-value service, connection from {from}: {reason}");
                    }
                });
            }
        });
        Ok(PmiServer { address, task })
    }

    /// Where the service listens (an unspecified address when it listens on every
    /// interface).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for PmiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes as a message; `None` at the end.
async fn read_message(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> Result<Option<Message>, String> {
    line.clear();
    let read = match reader.take(MAX_LINE as u64).read_until(b'\n', line).await {
        Ok(read) => read,
        // A rank that ends without finalizing (killed, aborted) resets its connection: a
        // close like any other; the launcher learns how it ended from its exit.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if read == 0 {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|_| "a line that is not UTF-8".to_string())?;
    Message::parse(text).map(Some)
}

/// Tells a connection it is not let in.
async fn refuse(writer: &mut tokio::net::tcp::OwnedWriteHalf, msg: &str) {
    let refusal = Message::new("initack", [("rc", "-1"), ("msg", msg)]).to_line();
    let _ = writer.write_all(refusal.as_bytes()).await;
}

/// Serves one connection until it closes.
async fn serve(job: &Job, stream: TcpStream) -> Result<(), String> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    // The introduction says who this claims to be; the proofs decide whether it is.
    let Some(first) = read_message(&mut reader, &mut line).await? else {
        return Ok(());
    };
    let claimed = match (
        first.cmd.as_str(),
        first.field("pmiid"),
        first.field("nonce"),
    ) {
        ("initack", Some(rank), Some(nonce)) => rank
            .parse::<usize>()
            .ok()
            .filter(|&rank| rank < job.size)
            .zip(Proofs::nonce_from(nonce)),
        _ => None,
    };
    let Some((rank, theirs)) = claimed else {
        refuse(&mut writer, "not_a_rank_of_this_job").await;
        return Err(format!(
            "refused a connection that introduced itself as {:?}",
            first.to_line().trim_end()
        ));
    };
    let proofs = Proofs::new(
        &job.secret,
        rank,
        theirs,
        Nonce::random().map_err(|e| e.to_string())?,
    );
    let challenge = Message::new(
        "challenge",
        [
            ("nonce", proofs.server_nonce().as_str()),
            ("proof", proofs.server().as_str()),
        ],
    );
    writer
        .write_all(challenge.to_line().as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let answer = read_message(&mut reader, &mut line).await?;
    let proven = answer
        .as_ref()
        .filter(|a| a.cmd == "prove")
        .and_then(|a| a.field("proof"))
        .is_some_and(|proof| proofs.is_client(proof));
    if !proven {
        refuse(&mut writer, "wrong_proof").await;
        return Err(format!("claimed to be rank {rank} without the job secret"));
    }
    if !job
        .space
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .joined
        .insert(rank)
    {
        refuse(&mut writer, "rank_already_joined").await;
        return Err(format!("rank {rank} tried to join twice"));
    }
    let (size, rank_text) = (job.size.to_string(), rank.to_string());
    let welcome = [
        Message::new("initack", []),
        Message::new("set", [("size", size.as_str())]),
        Message::new("set", [("rank", rank_text.as_str())]),
        Message::new("set", [("debug", "0")]),
    ];
    let welcome: String = welcome.iter().map(Message::to_line).collect();
    writer
        .write_all(welcome.as_bytes())
        .await
        .map_err(|e| e.to_string())?;

    while let Some(request) = read_message(&mut reader, &mut line).await? {
        let answer = match request.cmd.as_str() {
            "init" => Message::new(
                "response_to_init",
                [("pmi_version", "1"), ("pmi_subversion", "1"), ("rc", "0")],
            ),
            "get_maxes" => Message::new(
                "maxes",
                [
                    ("kvsname_max", "256"),
                    ("keylen_max", "64"),
                    ("vallen_max", "1024"),
                ],
            ),
            "get_appnum" => Message::new("appnum", [("appnum", "0")]),
            "get_my_kvsname" => Message::new("my_kvsname", [("kvsname", job.kvsname.as_str())]),
            "put" => match (request.field("key"), request.field("value")) {
                (Some(key), Some(value)) => {
                    let mut space = job.space.lock().unwrap_or_else(|e| e.into_inner());
                    space.values.insert(key.to_owned(), value.to_owned());
                    Message::new("put_result", [("rc", "0")])
                }
                _ => Message::new(
                    "put_result",
                    [("rc", "-1"), ("msg", "key_and_value_needed")],
                ),
            },
            "get" => {
                let space = job.space.lock().unwrap_or_else(|e| e.into_inner());
                match request.field("key").and_then(|key| space.values.get(key)) {
                    Some(value) => {
                        Message::new("get_result", [("rc", "0"), ("value", value.as_str())])
                    }
                    None => Message::new("get_result", [("rc", "-1"), ("msg", "key_not_found")]),
                }
            }
            "barrier_in" => {
                let (done, wait) = oneshot::channel();
                {
                    let mut space = job.space.lock().unwrap_or_else(|e| e.into_inner());
                    space.waiting.push(done);
                    if space.waiting.len() == job.size {
                        for waiter in space.waiting.drain(..) {
                            let _ = waiter.send(());
                        }
                    }
                }
                wait.await.map_err(|_| "barrier abandoned".to_string())?;
                Message::new("barrier_out", [])
            }
            "finalize" => Message::new("finalize_ack", []),
            "rmpi_failed" => {
                let because_of = match request.field("because_of") {
                    Some("none") | None => None,
                    Some(text) => text.parse().ok().filter(|&r| r < job.size),
                };
                let _ = job.notices.send(Notice::Failure(Failure {
                    rank,
                    because_of,
                    abort: None,
                }));
                Message::new("rmpi_failed_ack", [])
            }
            "abort" => {
                let code = request.field("exitcode").and_then(|c| c.parse().ok());
                let _ = job.notices.send(Notice::Failure(Failure {
                    rank,
                    because_of: None,
                    abort: Some(code.unwrap_or(1)),
                }));
                Message::new("abort_ack", [])
            }
            "rmpi_waiting" => {
                // A report that does not parse is dropped: the job goes on without it.
                match Stuck::from_message(&request, job.size) {
                    Ok(stuck) => {
                        let stuck = Some(stuck);
                        let _ = job.notices.send(Notice::Stuck { rank, stuck });
                    }
                    Err(reason) => tracing::warn!("rank {rank}'s rmpi_waiting: {reason}"),
                }
                Message::new("rmpi_waiting_ack", [])
            }
            "rmpi_running" => {
                let _ = job.notices.send(Notice::Stuck { rank, stuck: None });
                Message::new("rmpi_running_ack", [])
            }
            other => {
                return Err(format!("rank {rank} sent an unknown command {other:?}"));
            }
        };
        writer
            .write_all(answer.to_line().as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
