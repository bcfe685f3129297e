//! The launcher's side of PMI-1: a key-value space with a barrier, served to the job's ranks.
//!
//! Each rank connects, introduces itself with `initack pmiid=RANK` (a rank may connect only
//! once), then puts, fences and gets. Anything else that connects is answered with an error
//! and closed, and the job goes on.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pmi::{Message, MAX_LINE};

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
    space: Mutex<Space>,
}

impl PmiServer {
    /// Serves a job of `size` ranks on a loopback port.
    pub async fn start(size: usize, kvsname: &str) -> std::io::Result<PmiServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let job = Arc::new(Job {
            size,
            kvsname: kvsname.to_owned(),
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

    /// Where ranks reach the service.
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
    let read = reader
        .take(MAX_LINE as u64)
        .read_until(b'\n', line)
        .await
        .map_err(|e| e.to_string())?;
    if read == 0 {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|_| "a line that is not UTF-8".to_string())?;
    Message::parse(text.trim_end()).map(Some)
}

/// Serves one connection until it closes.
async fn serve(job: &Job, stream: TcpStream) -> Result<(), String> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    // The introduction decides who this is.
    let Some(first) = read_message(&mut reader, &mut line).await? else {
        return Ok(());
    };
    let rank = match (
        first.cmd.as_str(),
        first.field("pmiid").map(str::parse::<usize>),
    ) {
        ("initack", Some(Ok(rank))) if rank < job.size => rank,
        _ => {
            let refusal =
                Message::new("initack", [("rc", "-1"), ("msg", "not_a_rank_of_this_job")]);
            let _ = writer.write_all(refusal.to_line().as_bytes()).await;
            return Err(format!(
                "refused a connection that introduced itself as {first:?}"
            ));
        }
    };
    if !job
        .space
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .joined
        .insert(rank)
    {
        let refusal = Message::new("initack", [("rc", "-1"), ("msg", "rank_already_joined")]);
        let _ = writer.write_all(refusal.to_line().as_bytes()).await;
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
                    ("keylen_max", "256"),
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
