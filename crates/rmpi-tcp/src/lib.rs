//! rmpi-tcp: the TCP transport. One connection per pair of ranks, tokio for I/O, socket2 for
//! socket options.
//!
//! [`TcpTransport::establish`] builds a rank's endpoint: it listens (on loopback unless told
//! otherwise, see [`TcpOptions`]), publishes its address through the job's
//! [`Bootstrap`], and connects to every lower rank while accepting every higher one. Each
//! connection starts with a handshake in which both sides prove they know the job's secret
//! without sending it; strangers (port scanners, other jobs, stale ranks) are closed and
//! logged, also after start-up, and the job goes on.
//!
//! Frames travel as a fixed header followed by the payload (see [`rmpi_core::frame`]). A peer
//! that shuts down cleanly says goodbye last, so a connection that ends otherwise, breaks, or
//! carries a malformed frame reports [`Event::PeerLost`] naming the rank, and every pending
//! and later operation involving it fails instead of hanging.
//!
//! Every connection has a reader and a writer task on the rank's tokio runtime, so sends never
//! block and frames arrive while the rank computes. A rank that waits reads its sockets
//! itself too, and a reply leaves from the sending call itself, so a ping-pong's message
//! passes no task in between; a window of sends waits for the writer task, which gathers
//! it into one system call.
//!
//! Programs do not set it up themselves: `rmpi::init` does, when the job's transport is
//! `tcp` (`RMPI_TRANSPORT=tcp`, `rmpirun --transport tcp`) or its ranks are on several hosts.
//!
//! ```no_run
//! // rmpirun -n 4 --transport tcp ./program
//! fn main() -> rmpi::Result<()> {
//!     rmpi::blocking::run(|world| {
//!         let total = world.allreduce(world.rank(), rmpi::prelude::Sum)?;
//!         println!("rank {} sees {total}", world.rank());
//!         Ok(())
//!     })
//! }
//! ```
#![deny(missing_docs)]

mod connection;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod outbox;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rmpi_core::config::Config;
use rmpi_core::lock::unpoisoned as lock;
use rmpi_core::{Bootstrap, Error, Event, FastPaths, Frame, Header, Result, Transport};
use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::{JoinHandle, JoinSet};

use connection::Incoming;
use handshake::Hello;
use outbox::{Outbox, Waits};

/// Where and how a rank listens and connects.
///
/// ```
/// use rmpi::config::Config;
/// use rmpi::tcp::TcpOptions;
/// let config = Config::from_vars([("RMPI_TCP_ADDRESS", "10.1.2.3")])?;
/// assert_eq!(TcpOptions::from_config(&config).address.to_string(), "10.1.2.3");
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// The address to listen on and publish to the other ranks: loopback by default; the
    /// address of an interface that reaches the other hosts for multi-host jobs.
    pub address: IpAddr,
    /// How long a connecting socket has to introduce itself.
    pub handshake_timeout: Duration,
    /// How long start-up may take to connect every pair of ranks.
    pub connect_timeout: Duration,
    /// The largest payload accepted in one frame; a larger announced length is a protocol
    /// error that loses the peer, not an allocation.
    pub max_message: u64,
    /// How long a wait keeps its thread busy, looking at the sockets, before it sleeps
    /// until one is readable; only where the host has a core for each rank (else it sleeps
    /// at once, giving its core to the rank that would send). A thread that sleeps gives
    /// its core back, and on a virtual machine a sleeping core can take tens of
    /// microseconds to wake: a message would cost that much more.
    pub busy_poll: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions::from_config(&Config::default())
    }
}

impl TcpOptions {
    /// The options a job's settings give (`RMPI_TCP_*`), the others at their defaults; the
    /// address is loopback unless the settings name one.
    ///
    /// ```
    /// let options = rmpi::tcp::TcpOptions::from_config(&rmpi::config::Config::default());
    /// assert!(options.address.is_loopback()); // a job on one host stays on loopback
    /// ```
    pub fn from_config(config: &Config) -> TcpOptions {
        TcpOptions {
            address: config
                .tcp
                .address
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(60),
            max_message: 1 << 40,
            busy_poll: config.tcp.busy_poll,
        }
    }
}

/// A rank's TCP endpoint; see the [crate documentation](crate).
///
/// ```
/// use std::sync::Arc;
/// use rmpi::tcp::{TcpOptions, TcpTransport};
/// use rmpi::transport::Singleton;
/// rmpi::run(|_world| async {
///     // A job of one over a socket of its own (rmpi::init does this for every rank).
///     let tcp = TcpTransport::establish(&Singleton::new(), &TcpOptions::default()).await?;
///     let comm = rmpi::Comm::from_transport(Arc::new(tcp));
///     comm.send(&"over tcp", 0, 0).await?;
///     let text: String = comm.recv(0, 0).await?;
///     assert_eq!(text, "over tcp");
///     comm.finalize().await
/// })?;
/// # Ok::<(), rmpi::Error>(())
/// ```
pub struct TcpTransport {
    rank: usize,
    size: usize,
    /// What is on its way to each peer (`None` for this rank).
    outgoing: Vec<Option<Arc<Outbox>>>,
    inbox: Mutex<Inbox>,
    /// Counts this rank's looks for incoming frames, so that a reply leaves at once; `None`
    /// where replies wait for the writer task (see [`Waits`]).
    waits: Option<Arc<Waits>>,
    /// The receiving side of each connection, which a wait reads at once.
    incoming: Vec<Arc<Incoming>>,
    tasks: Mutex<Tasks>,
    /// How long a wait stays busy ([`TcpOptions::busy_poll`]; zero where ranks outnumber
    /// cores).
    busy_poll: Duration,
}

/// Events from the connections' readers, under one lock with the start of the current wait.
struct Inbox {
    events: UnboundedReceiver<Event>,
    /// The current wait, while it has found nothing.
    waiting: Option<BusyWait>,
}

#[derive(Default)]
struct Tasks {
    writers: Vec<JoinHandle<()>>,
    readers: Vec<JoinHandle<()>>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// How long a busy rank's wait spins on its sockets before the runtime looks at them
/// ([`FastPaths::spin_budget`]): about one message's flight, so that a reply is taken the
/// moment it lands, while the runtime still gets the thread often.
const SPIN: Duration = Duration::from_micros(20);

/// The bootstrap key under which `rank` publishes its address.
fn address_key(rank: usize) -> String {
    format!("rmpi-tcp-{rank}")
}

impl TcpTransport {
    /// Connects this rank to every other rank of the job described by `bootstrap`. Must run
    /// on a tokio runtime with I/O and timers enabled; the connections' tasks run on it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi::tcp::{TcpOptions, TcpTransport};
    /// use rmpi::transport::Singleton;
    /// rmpi::run(|_world| async {
    ///     // A job of one over a socket of its own (rmpi::init does this for every rank).
    ///     let tcp = TcpTransport::establish(&Singleton::new(), &TcpOptions::default()).await?;
    ///     let comm = rmpi::Comm::from_transport(Arc::new(tcp));
    ///     comm.send(&"over tcp", 0, 0).await?;
    ///     let text: String = comm.recv(0, 0).await?;
    ///     assert_eq!(text, "over tcp");
    ///     comm.finalize().await
    /// })?;
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub async fn establish(bootstrap: &dyn Bootstrap, options: &TcpOptions) -> Result<Self> {
        let (rank, size) = (bootstrap.rank(), bootstrap.size());
        let secret: Arc<[u8]> = bootstrap.job_secret().into();
        let listener = listen(options.address)?;
        let address = listener.local_addr()?;
        tracing::info!("rank {rank} listening on {address}");
        bootstrap.put(&address_key(rank), &address.to_string())?;
        bootstrap.fence()?;
        let addresses = (0..size)
            .map(|peer| {
                let text = bootstrap.get(&address_key(peer))?;
                text.parse::<SocketAddr>().map_err(|_| {
                    Error::Bootstrap(format!("rank {peer} published a bad address {text:?}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let (accepted_tx, mut accepted) = mpsc::unbounded_channel();
        let acceptor = tokio::spawn(accept_peers(
            listener,
            rank,
            size,
            secret.clone(),
            options.handshake_timeout,
            accepted_tx,
        ));
        let mut streams: Vec<Option<TcpStream>> = (0..size).map(|_| None).collect();
        let mut connecting = JoinSet::new();
        for (peer, &address) in addresses.iter().enumerate().take(rank) {
            let (secret, timeout) = (secret.clone(), options.handshake_timeout);
            connecting.spawn(async move {
                let stream = connect(peer, address, rank, size, &secret, timeout).await;
                (peer, stream)
            });
        }
        let deadline = tokio::time::Instant::now() + options.connect_timeout;
        let mut missing = size - 1;
        while missing > 0 {
            let arrival = tokio::select! {
                Some(joined) = connecting.join_next() => {
                    let (peer, stream) = joined
                        .map_err(|e| Error::Bootstrap(format!("connecting task failed: {e}")))?;
                    (peer, stream?)
                }
                Some(accepted) = accepted.recv() => accepted,
                _ = tokio::time::sleep_until(deadline) => {
                    let absent: Vec<usize> = (0..size)
                        .filter(|&p| p != rank && streams[p].is_none())
                        .collect();
                    acceptor.abort();
                    return Err(Error::Bootstrap(format!(
                        "rank {rank}: no connection from ranks {absent:?} within {:?}",
                        options.connect_timeout
                    )));
                }
            };
            let (peer, stream) = arrival;
            if streams[peer].replace(stream).is_none() {
                missing -= 1;
            }
        }
        drop(accepted); // later arrivals are strangers or stale: the acceptor closes them

        let (events_tx, events) = mpsc::unbounded_channel();
        let mut tasks = Tasks {
            acceptor: Some(acceptor),
            ..Tasks::default()
        };
        let mut outgoing = Vec::with_capacity(size);
        let busy_poll = match size <= rmpi_core::host::cores() {
            true => options.busy_poll,
            false => Duration::ZERO,
        };
        // Replies leave at once only from a rank with a core of its own (see `Waits`).
        let waits = (!busy_poll.is_zero()).then(|| Arc::new(Waits::default()));
        let mut incoming = Vec::with_capacity(size);
        for (peer, stream) in streams.into_iter().enumerate() {
            let Some(stream) = stream else {
                outgoing.push(None);
                continue;
            };
            let (read, write) = stream.into_split();
            let outbox = Outbox::new(write, waits.clone());
            tasks
                .writers
                .push(tokio::spawn(outbox::write_frames(peer, outbox.clone())));
            let reading = Arc::new(Incoming::new(
                peer,
                read,
                events_tx.clone(),
                options.max_message,
            ));
            tasks
                .readers
                .push(tokio::spawn(connection::read_frames(reading.clone())));
            incoming.push(reading);
            outgoing.push(Some(outbox));
        }
        tracing::debug!(rank, size, "TCP transport connected");
        Ok(TcpTransport {
            rank,
            size,
            outgoing,
            inbox: Mutex::new(Inbox {
                events,
                waiting: None,
            }),
            waits,
            incoming,
            tasks: Mutex::new(tasks),
            busy_poll,
        })
    }
}

#[async_trait]
impl Transport for TcpTransport {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        match self.outbox(dest)?.send(frame) {
            true => Ok(()),
            false => Err(Error::PeerLost { rank: dest }),
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        self.poll_inbox(cx, false, false)
    }

    /// Says goodbye to every peer after everything queued for it, then waits until every
    /// peer has said goodbye or gone, so nothing sent either way is lost by closing early.
    async fn shutdown(&self) -> Result<()> {
        for outbox in self.outgoing.iter().flatten() {
            outbox.goodbye();
        }
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks.writers.into_iter().chain(tasks.readers) {
            let _ = task.await;
        }
        if let Some(acceptor) = tasks.acceptor {
            acceptor.abort();
        }
        Ok(())
    }

    fn fast_paths(self: Arc<Self>) -> Option<Arc<dyn FastPaths>> {
        Some(self)
    }
}

impl FastPaths for TcpTransport {
    /// Writes a large payload straight from the caller's memory when the connection is
    /// idle, copying only what the socket does not take at once.
    fn send_copy(&self, dest: usize, header: Header, payload: &[u8]) -> Result<()> {
        match self.outbox(dest)?.send_borrowed(header, payload) {
            true => Ok(()),
            false => Err(Error::PeerLost { rank: dest }),
        }
    }

    /// Waits as `poll_recv` does, but keeps the thread busy for a while first (see
    /// [`TcpOptions::busy_poll`]).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.poll_inbox(cx, true, false).map(Some)
    }

    /// Takes what has arrived; a rank that keeps its thread busy asks the kernel directly,
    /// so that a wait spinning here sees a message the moment it lands.
    fn try_recv(&self, cx: &mut Context<'_>) -> Option<Event> {
        match self.poll_inbox(cx, false, !self.busy_poll.is_zero()) {
            Poll::Ready(event) => Some(event),
            Poll::Pending => None,
        }
    }

    /// A rank that keeps its thread busy ([`TcpOptions::busy_poll`]) spins on its sockets
    /// for about one message's flight before it lets the runtime look at them, unless frames wait for a
    /// connection's writer task (which runs only when the wait lets the runtime go on) or
    /// a large payload is streaming in.
    fn spin_budget(&self) -> Duration {
        let busy = !self.busy_poll.is_zero()
            && self.outgoing.iter().flatten().all(|o| o.is_idle())
            && !self.incoming.iter().any(|i| i.is_streaming());
        match busy {
            true => SPIN.min(self.busy_poll),
            false => Duration::ZERO,
        }
    }
}

impl TcpTransport {
    /// The frames on their way to `dest`.
    fn outbox(&self, dest: usize) -> Result<&Outbox> {
        self.outgoing
            .get(dest)
            .and_then(Option::as_deref)
            .ok_or(Error::InvalidRank {
                rank: dest,
                size: self.size,
            })
    }

    /// The next event, or `Pending` with `cx` registered; with `busy`, a wait that finds
    /// nothing stays busy while it is younger than the busy-poll time.
    fn poll_inbox(&self, cx: &mut Context<'_>, busy: bool, ask: bool) -> Poll<Event> {
        if let Some(waits) = &self.waits {
            waits.note();
        }
        let mut inbox = lock(&self.inbox);
        if inbox.events.is_empty() {
            for incoming in &self.incoming {
                incoming.read_now(ask);
            }
        }
        match inbox.events.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                inbox.waiting = None;
                Poll::Ready(event)
            }
            // Every reader has ended and reported its peer; nothing more will arrive.
            Poll::Ready(None) | Poll::Pending => {
                if busy {
                    self.stay_busy(&mut inbox.waiting, cx);
                }
                Poll::Pending
            }
        }
    }

    /// While the wait that just found nothing (found nothing since `waiting`) is younger
    /// than the busy-poll time, has the task that polled woken again as soon as the runtime
    /// has looked at the sockets (without sleeping), instead of when one is readable.
    fn stay_busy(&self, waiting: &mut Option<BusyWait>, cx: &mut Context<'_>) {
        if self.busy_poll.is_zero() {
            return;
        }
        let wait = waiting.get_or_insert_with(|| BusyWait {
            since: Instant::now(),
            looks: 0,
            over: false,
        });
        wait.looks = wait.looks.wrapping_add(1);
        // Reading the clock costs as much as a look: only every 16th look.
        if wait.looks % 16 == 0 && wait.since.elapsed() >= self.busy_poll {
            wait.over = true;
        }
        if !wait.over {
            // Its first poll asks the runtime to wake `cx` after its next look at I/O.
            let yielded = std::pin::pin!(tokio::task::yield_now());
            let _ = yielded.poll(cx);
        }
    }
}

/// A wait that has found nothing so far, while it stays busy.
struct BusyWait {
    since: Instant,
    /// How many times it has looked.
    looks: u32,
    /// It has stayed busy as long as it may: it sleeps until a socket is readable.
    over: bool,
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        // Without a shutdown the connections just close, and peers see this rank lost.
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks.writers.iter().chain(&tasks.readers) {
            task.abort();
        }
        if let Some(acceptor) = tasks.acceptor {
            acceptor.abort();
        }
    }
}

/// A listening socket on `address` with a port the kernel picks.
fn listen(address: IpAddr) -> Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(SocketAddr::new(address, 0)),
        Type::STREAM,
        None,
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(address, 0).into())?;
    socket.listen(1024)?;
    Ok(TcpListener::from_std(socket.into())?)
}

fn configure(stream: &TcpStream) -> std::io::Result<()> {
    // Messages are latency-bound; never hold small writes back.
    SockRef::from(stream).set_tcp_nodelay(true)
}

/// Connects to a lower rank and proves to each other that both belong to the job.
async fn connect(
    peer: usize,
    address: SocketAddr,
    rank: usize,
    size: usize,
    secret: &[u8],
    timeout: Duration,
) -> Result<TcpStream> {
    let fail = |reason: String| {
        Error::Bootstrap(format!("connecting to rank {peer} at {address}: {reason}"))
    };
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| fail(e.to_string()))?;
    configure(&stream)?;
    let hello = Hello::new(rank, size)?;
    match handshake::connect(&mut stream, &hello, size, secret, timeout)
        .await
        .map_err(fail)?
    {
        answered if answered == peer => Ok(stream),
        answered => Err(fail(format!("rank {answered} answered instead"))),
    }
}

/// Accepts connections for the life of the transport: introduced higher ranks go to
/// `accepted` while start-up waits for them; everything else is closed and logged.
async fn accept_peers(
    listener: TcpListener,
    rank: usize,
    size: usize,
    secret: Arc<[u8]>,
    timeout: Duration,
    accepted: UnboundedSender<(usize, TcpStream)>,
) {
    loop {
        let (mut stream, from) = match listener.accept().await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!("rank {rank}: accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (secret, accepted) = (secret.clone(), accepted.clone());
        tokio::spawn(async move {
            let introduced = async {
                let hello = Hello::new(rank, size).map_err(|e| e.to_string())?;
                let approve = |peer: usize| {
                    if peer <= rank {
                        return Err(format!("rank {peer} must be connected to, not from"));
                    }
                    if accepted.is_closed() {
                        return Err(format!("rank {peer} connected after start-up"));
                    }
                    Ok(())
                };
                let peer =
                    handshake::accept(&mut stream, &hello, size, &secret, timeout, approve).await?;
                configure(&stream).map_err(|e| e.to_string())?;
                Ok::<usize, String>(peer)
            };
            match introduced.await {
                Ok(peer) => {
                    if accepted.send((peer, stream)).is_err() {
                        tracing::warn!(
                            "rank {rank}: rank {peer} connected from {from} after start-up; closed"
                        );
                    }
                }
                Err(reason) => {
                    tracing::warn!("rank {rank}: closed a connection from {from}: {reason}");
                }
            }
        });
    }
}
