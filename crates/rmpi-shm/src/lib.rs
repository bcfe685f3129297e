//! rmpi-shm: the shared-memory transport, for ranks on one host.
//!
//! Every ordered pair of ranks has a single-producer single-consumer byte ring in one
//! segment per job ([`ring`] and the segment module describe them). A frame is its header
//! followed by its payload in the sender's ring to the receiver: one copy in, one copy out.
//! Messages larger than the ring stream through it, the sender writing as the receiver
//! reads, so there is no size limit and no rendezvous round trip.
//!
//! Waiting is where a shared-memory transport wins or loses on a busy machine. A rank with
//! nothing to do spins for a few microseconds (messages usually arrive within that), then
//! yields its core to other ranks for a while (the machine may have more ranks than cores),
//! then sleeps on a futex doorbell in the segment that senders ring only when it sleeps (see
//! [`doorbell`]). A helper thread per rank does the sleeping, so the rank's async runtime
//! stays free for other tasks, and checks that peers are still alive: a peer that dies
//! without saying goodbye is reported lost within a fraction of a second.
//!
//! [`ring`]: crate::ring
//! [`doorbell`]: crate::doorbell
#![deny(missing_docs)]

mod doorbell;
mod ring;
mod segment;
mod sync;

#[cfg(all(test, rmpi_loom))]
mod model;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rmpi_core::frame::HEADER_LEN;
use rmpi_core::{Bootstrap, Error, Event, Frame, FrameKind, Header, Result, Transport};
use rustix::process::{test_kill_process, Pid};

use doorbell::Announcement;
use ring::{Consumer, Producer};
use segment::{Layout, Segment};
use sync::{AtomicU32, Ordering};

/// How a rank's shared-memory endpoint is set up.
#[derive(Debug, Clone)]
pub struct ShmOptions {
    /// Bytes per ring (a power of two); by default it shrinks as the job grows, from 1 MiB
    /// at up to 4 ranks, so the segment stays near 16 MiB.
    pub ring_bytes: Option<usize>,
    /// The largest payload accepted in one frame.
    pub max_message: u64,
    /// How long to spin before yielding the core, when there are cores to spare.
    pub spin: Duration,
    /// How long to keep yielding before sleeping on the doorbell.
    pub yield_for: Duration,
}

impl Default for ShmOptions {
    fn default() -> Self {
        ShmOptions {
            ring_bytes: None,
            max_message: 1 << 40,
            spin: Duration::from_micros(5),
            yield_for: Duration::from_micros(200),
        }
    }
}

impl ShmOptions {
    /// The defaults, changed by `RMPI_SHM_RING_BYTES`, `RMPI_SHM_SPIN_US` and
    /// `RMPI_SHM_YIELD_US` where set.
    pub fn from_env() -> Result<ShmOptions> {
        let mut options = ShmOptions::default();
        let micros = |name: &str| -> Result<Option<Duration>> {
            match std::env::var(name) {
                Err(_) => Ok(None),
                Ok(text) => text
                    .parse()
                    .map(|us| Some(Duration::from_micros(us)))
                    .map_err(|_| {
                        Error::InvalidArgument(format!("{name}={text}: expected microseconds"))
                    }),
            }
        };
        if let Some(spin) = micros("RMPI_SHM_SPIN_US")? {
            options.spin = spin;
        }
        if let Some(yield_for) = micros("RMPI_SHM_YIELD_US")? {
            options.yield_for = yield_for;
        }
        if let Ok(text) = std::env::var("RMPI_SHM_RING_BYTES") {
            let bytes: usize = text
                .parse()
                .ok()
                .filter(|b: &usize| b.is_power_of_two() && *b >= 4096)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "RMPI_SHM_RING_BYTES={text}: expected a power of two of at least 4096"
                    ))
                })?;
            options.ring_bytes = Some(bytes);
        }
        Ok(options)
    }

    fn ring_bytes(&self, ranks: usize) -> usize {
        self.ring_bytes.unwrap_or_else(|| {
            let budget = (16usize << 20) / (ranks * ranks).max(1);
            budget.clamp(64 << 10, 1 << 20).next_power_of_two()
        })
    }
}

/// A frame on its way into a ring, possibly in several pieces.
struct Outgoing {
    header: [u8; HEADER_LEN],
    payload: Bytes,
    /// Bytes of header and payload already in the ring.
    written: usize,
}

/// This rank's end of the ring to one peer.
struct Outbound {
    producer: Producer,
    queue: VecDeque<Outgoing>,
    /// The peer finished or died: what is queued for it is dropped.
    closed: bool,
}

impl Outbound {
    /// Writes queued frames as far as the ring allows; true if anything was written.
    fn flush(&mut self) -> bool {
        let mut wrote = false;
        while let Some(front) = self.queue.front_mut() {
            let total = HEADER_LEN + front.payload.len();
            while front.written < total {
                let n = if front.written < HEADER_LEN {
                    self.producer.stage(&front.header[front.written..])
                } else {
                    self.producer
                        .stage(&front.payload[front.written - HEADER_LEN..])
                };
                if n == 0 {
                    break;
                }
                front.written += n;
                wrote = true;
            }
            if front.written < total {
                break;
            }
            self.queue.pop_front();
        }
        if wrote {
            self.producer.publish();
        }
        wrote
    }
}

/// How far this rank got with a peer's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerState {
    Open,
    Finished,
    Gone,
}

/// A frame being read in pieces: `payload` grows to `header.len` bytes.
struct Partial {
    header: Header,
    payload: Vec<u8>,
}

/// This rank's end of the ring from one peer.
struct Inbound {
    consumer: Consumer,
    partial: Option<Partial>,
    state: PeerState,
}

struct Incoming {
    rings: Vec<Option<Inbound>>,
    /// Where the next scan starts, so no peer is starved.
    next: usize,
    /// Events found but not yet handed out.
    ready: VecDeque<Event>,
}

/// What the helper thread and the rank share.
#[derive(Default)]
struct Watch {
    waker: Mutex<Option<Waker>>,
    armed: AtomicBool,
    announcement: AtomicU32,
    stop: AtomicBool,
    /// Peers found dead, not yet reported.
    deaths: Mutex<Vec<usize>>,
    news: AtomicBool,
}

impl Watch {
    fn wake(&self) {
        self.armed.store(false, Ordering::Release);
        if let Some(waker) = lock(&self.waker).take() {
            waker.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A rank's shared-memory endpoint; see the [crate documentation](crate).
pub struct ShmTransport {
    rank: usize,
    size: usize,
    segment: Arc<Segment>,
    outbound: Vec<Option<Mutex<Outbound>>>,
    /// Peers with frames waiting for ring space.
    backlog: AtomicUsize,
    incoming: Mutex<Incoming>,
    watch: Arc<Watch>,
    helper: Mutex<Option<JoinHandle<()>>>,
    max_message: u64,
    spin: Duration,
    yield_for: Duration,
}

impl std::fmt::Debug for ShmTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmTransport")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The bootstrap key under which `rank` publishes its process id.
fn pid_key(rank: usize) -> String {
    format!("rmpi-shm-pid-{rank}")
}

impl ShmTransport {
    /// Maps the job's segment and connects this rank to every other rank of the job, which
    /// must all run on this host.
    pub fn establish(bootstrap: &dyn Bootstrap, options: &ShmOptions) -> Result<ShmTransport> {
        let (rank, size) = (bootstrap.rank(), bootstrap.size());
        let layout = Layout {
            ranks: size,
            capacity: options.ring_bytes(size),
        };
        let path = segment::path_of(bootstrap.job_id());
        bootstrap.put(&pid_key(rank), &std::process::id().to_string())?;
        let created = if rank == 0 {
            Some(Segment::create(&path, layout)?)
        } else {
            None
        };
        bootstrap.fence()?;
        let opened = match created {
            Some(segment) => Ok(segment),
            None => Segment::open(&path, layout),
        };
        // Everyone reaches the second fence, mapped or not, so rank 0 can remove the name.
        bootstrap.fence()?;
        if rank == 0 {
            let _ = std::fs::remove_file(&path);
        }
        let segment = opened?;
        let pids = (0..size)
            .map(|peer| {
                let text = bootstrap.get(&pid_key(peer))?;
                text.parse::<i32>()
                    .ok()
                    .and_then(Pid::from_raw)
                    .ok_or_else(|| Error::Bootstrap(format!("rank {peer} published pid {text:?}")))
            })
            .collect::<Result<Vec<Pid>>>()?;

        let outbound = (0..size)
            .map(|peer| {
                (peer != rank).then(|| {
                    Mutex::new(Outbound {
                        producer: Producer::new(segment.ring(rank, peer)),
                        queue: VecDeque::new(),
                        closed: false,
                    })
                })
            })
            .collect();
        let rings = (0..size)
            .map(|peer| {
                (peer != rank).then(|| Inbound {
                    consumer: Consumer::new(segment.ring(peer, rank)),
                    partial: None,
                    state: PeerState::Open,
                })
            })
            .collect();
        let watch = Arc::new(Watch::default());
        let helper = {
            let (segment, watch) = (segment.clone(), watch.clone());
            std::thread::Builder::new()
                .name(format!("rmpi-shm-{rank}"))
                .spawn(move || watch_over(rank, segment, watch, pids))?
        };
        Ok(ShmTransport {
            rank,
            size,
            segment,
            outbound,
            backlog: AtomicUsize::new(0),
            incoming: Mutex::new(Incoming {
                rings,
                next: 0,
                ready: VecDeque::new(),
            }),
            watch,
            helper: Mutex::new(Some(helper)),
            max_message: options.max_message,
            // With more ranks than cores, spinning only delays the rank that would send
            // what we wait for: yield at once.
            spin: if size > cores() {
                Duration::ZERO
            } else {
                options.spin
            },
            yield_for: options.yield_for,
        })
    }

    /// Queues `frame` for `dest` and writes what fits now.
    fn enqueue(&self, dest: usize, header: Header, payload: Bytes) -> Result<()> {
        let out = self
            .outbound
            .get(dest)
            .and_then(Option::as_ref)
            .ok_or(Error::InvalidRank {
                rank: dest,
                size: self.size,
            })?;
        let mut out = lock(out);
        if out.closed {
            return Ok(()); // the peer is gone; the engine reports that to whoever waits on it
        }
        let had_backlog = !out.queue.is_empty();
        out.queue.push_back(Outgoing {
            header: header.encode(),
            payload,
            written: 0,
        });
        if out.flush() {
            self.segment.doorbell(dest).ring();
        }
        match (had_backlog, out.queue.is_empty()) {
            (false, false) => {
                self.backlog.fetch_add(1, Ordering::Relaxed);
            }
            (true, true) => {
                self.backlog.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes whatever waits for ring space; true if anything moved.
    fn flush_backlog(&self) -> bool {
        if self.backlog.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut moved = false;
        for (peer, out) in self.outbound.iter().enumerate() {
            let Some(out) = out else { continue };
            let mut out = lock(out);
            if out.queue.is_empty() {
                continue;
            }
            if out.flush() {
                moved = true;
                self.segment.doorbell(peer).ring();
            }
            if out.queue.is_empty() {
                self.backlog.fetch_sub(1, Ordering::Relaxed);
            }
        }
        moved
    }

    /// Stops sending to `peer` and drops what waits for it.
    fn close_outbound(&self, peer: usize) {
        if let Some(out) = self.outbound.get(peer).and_then(Option::as_ref) {
            let mut out = lock(out);
            out.closed = true;
            if !out.queue.is_empty() {
                out.queue.clear();
                self.backlog.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Reads what arrived from `peer`: an event, once one is complete.
    fn read_from(&self, peer: usize, inbound: &mut Inbound) -> Option<Event> {
        if inbound.state != PeerState::Open {
            return None;
        }
        if inbound.partial.is_none() {
            let mut bytes = [0u8; HEADER_LEN];
            if !inbound.consumer.peek(&mut bytes) {
                return None;
            }
            inbound.consumer.consume(HEADER_LEN);
            let header = match Header::decode(&bytes, self.max_message) {
                Ok(header) => header,
                Err(error) => {
                    inbound.state = PeerState::Gone;
                    self.close_outbound(peer);
                    tracing::error!("malformed frame from rank {peer}: {error}");
                    return Some(Event::PeerMalformed {
                        rank: peer,
                        reason: error.to_string(),
                    });
                }
            };
            if header.kind == FrameKind::Goodbye {
                inbound.consumer.release();
                self.segment.doorbell(peer).ring();
                inbound.state = PeerState::Finished;
                self.close_outbound(peer);
                return Some(Event::PeerFinished { rank: peer });
            }
            inbound.partial = Some(Partial {
                header,
                payload: Vec::with_capacity(header.len as usize),
            });
        }
        let partial = inbound.partial.as_mut().expect("set above");
        let wanted = partial.header.len as usize - partial.payload.len();
        let spare = &mut partial.payload.spare_capacity_mut()[..wanted];
        let n = inbound.consumer.read_uninit(spare);
        // SAFETY: `read_uninit` initialized the first `n` bytes of the spare capacity.
        unsafe { partial.payload.set_len(partial.payload.len() + n) };
        inbound.consumer.release();
        self.segment.doorbell(peer).ring();
        if partial.payload.len() < partial.header.len as usize {
            return None;
        }
        let Partial {
            header, payload, ..
        } = inbound.partial.take().expect("complete");
        Some(Event::Frame {
            from: peer,
            frame: Frame {
                header,
                payload: Bytes::from(payload),
            },
        })
    }

    /// One pass over everything: backlog, reports of dead peers, every ring. Returns the
    /// next event, if any.
    fn progress(&self) -> Option<Event> {
        self.flush_backlog();
        let mut incoming = lock(&self.incoming);
        if self.watch.news.load(Ordering::Relaxed) && self.watch.news.swap(false, Ordering::AcqRel)
        {
            let deaths = std::mem::take(&mut *lock(&self.watch.deaths));
            for peer in deaths {
                self.bury(peer, &mut incoming);
            }
        }
        if let Some(event) = incoming.ready.pop_front() {
            return Some(event);
        }
        let n = incoming.rings.len();
        for step in 0..n {
            let peer = (incoming.next + step) % n;
            let Some(mut inbound) = incoming.rings[peer].take() else {
                continue;
            };
            let event = self.read_from(peer, &mut inbound);
            incoming.rings[peer] = Some(inbound);
            if let Some(event) = event {
                incoming.next = (peer + 1) % n;
                return Some(event);
            }
        }
        None
    }

    /// A peer died: deliver what it completed, then report it lost (unless it said goodbye).
    fn bury(&self, peer: usize, incoming: &mut Incoming) {
        let Some(mut inbound) = incoming.rings[peer].take() else {
            return;
        };
        while let Some(event) = self.read_from(peer, &mut inbound) {
            incoming.ready.push_back(event);
        }
        if inbound.state == PeerState::Open {
            inbound.state = PeerState::Gone;
            self.close_outbound(peer);
            tracing::warn!("rank {peer} died without saying goodbye");
            incoming.ready.push_back(Event::PeerLost { rank: peer });
        }
        incoming.rings[peer] = Some(inbound);
    }
}

#[async_trait]
impl Transport for ShmTransport {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        self.enqueue(dest, frame.header, frame.payload)
    }

    fn try_recv(&self) -> Option<Event> {
        self.progress()
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        let bell = self.segment.doorbell(self.rank);
        self.watch.armed.store(false, Ordering::Release);
        bell.awake();
        if let Some(event) = self.progress() {
            return Poll::Ready(event);
        }
        // Spin (if there are cores to spare), then yield, then sleep.
        let started = Instant::now();
        let spin = self.spin;
        loop {
            let waited = started.elapsed();
            if waited >= spin + self.yield_for {
                break;
            }
            if waited < spin {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            if let Some(event) = self.progress() {
                return Poll::Ready(event);
            }
        }
        *lock(&self.watch.waker) = Some(cx.waker().clone());
        let Announcement(seen) = bell.announce_sleep();
        if let Some(event) = self.progress() {
            bell.awake();
            return Poll::Ready(event);
        }
        self.watch.announcement.store(seen, Ordering::Release);
        self.watch.armed.store(true, Ordering::Release);
        if let Some(helper) = lock(&self.helper).as_ref() {
            helper.thread().unpark();
        }
        Poll::Pending
    }

    /// Writes everything queued and a goodbye to every peer (dropping what waits for peers
    /// that finished or died meanwhile), then stops the helper thread. Peers read the rest
    /// at their pace: the segment outlives this process.
    async fn shutdown(&self) -> Result<()> {
        for peer in (0..self.size).filter(|&p| p != self.rank) {
            self.enqueue(peer, Header::goodbye(), Bytes::new())?;
        }
        let bell = self.segment.doorbell(self.rank);
        while self.backlog.load(Ordering::Relaxed) > 0 {
            // Keep reading too: a peer that waits for our ring space may wait for its own.
            while self.progress().is_some() {}
            let Announcement(seen) = bell.announce_sleep();
            if self.backlog.load(Ordering::Relaxed) > 0 && !self.flush_backlog() {
                bell.wait(Announcement(seen), Duration::from_millis(10));
            }
            bell.awake();
        }
        self.stop_helper();
        Ok(())
    }
}

impl ShmTransport {
    fn stop_helper(&self) {
        self.watch.stop.store(true, Ordering::Release);
        if let Some(helper) = lock(&self.helper).take() {
            helper.thread().unpark();
            let _ = helper.join();
        }
    }
}

impl Drop for ShmTransport {
    fn drop(&mut self) {
        self.stop_helper();
    }
}

/// The cores this process may run on (read once: it is not cheap).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The helper thread: sleeps on the doorbell for the rank when it is armed, and checks
/// every so often that the peers are alive.
fn watch_over(rank: usize, segment: Arc<Segment>, watch: Arc<Watch>, pids: Vec<Pid>) {
    const PATIENCE: Duration = Duration::from_millis(50);
    let bell = segment.doorbell(rank);
    let mut buried = vec![false; pids.len()];
    buried[rank] = true;
    let mut last_check = Instant::now();
    while !watch.stop.load(Ordering::Acquire) {
        if watch.armed.load(Ordering::Acquire) {
            let seen = Announcement(watch.announcement.load(Ordering::Acquire));
            bell.wait(seen, PATIENCE);
            if bell.rung_since(seen) && watch.armed.load(Ordering::Acquire) {
                watch.wake();
            }
        } else {
            std::thread::park_timeout(PATIENCE);
        }
        if last_check.elapsed() >= PATIENCE {
            last_check = Instant::now();
            let mut found = false;
            for (peer, &pid) in pids.iter().enumerate() {
                if !buried[peer] && test_kill_process(pid).is_err() {
                    buried[peer] = true;
                    lock(&watch.deaths).push(peer);
                    found = true;
                }
            }
            if found {
                watch.news.store(true, Ordering::Release);
                watch.wake();
            }
        }
    }
}
