//! rmpi-shm: the shared-memory transport, for ranks on one host.
//!
//! Every ordered pair of ranks has a single-producer single-consumer ring of records in one
//! segment per job (`ring` and the segment module describe them). A small frame is one
//! record, its header and payload in the sender's ring to the receiver: one copy in, one copy
//! out, and for up to 16 bytes of payload one cache line from core to core (`record`). A
//! larger one is split into records the receiver copies out while the sender copies the
//! next ones in. Both copies are the only ones: a typed-buffer send copies straight from the
//! caller's memory into the ring for as long as the receiver makes room (`outbound`), and a
//! receive waiting with a buffer has the payload copied straight from the ring into it
//! ([`Placer`]), so sender and receiver copy at once on two cores. Where ranks share cores,
//! that pipeline stalls at every context switch, and a large payload stays where the sender
//! has it instead: the record says where, and the receive that matches it copies it
//! straight out of the sender's memory into its buffer, then says so on its own ring
//! (`single_copy`, `lent`), where the kernel allows it. A large typed-buffer send sent
//! while its receiver is still reading earlier ones (a stream of sends, from memory that is
//! not in cache) is lent the same way, straight from the caller's buffer: the send
//! completes once it is read, and a sender that cannot wait takes its buffer back through a
//! slot in the segment, leaving the receiver a copy (`loan_slot`). There is no size limit
//! either way.
//! A payload for several ranks (a broadcast's data) is copied once into the sender's
//! fan-out area in the segment, and every receiver copies it from there, behind the
//! sender's copy (`fanout`).
//!
//! Waiting is where a shared-memory transport wins or loses on a busy machine. A rank with
//! nothing to do spins for a few microseconds (messages usually arrive within that), then
//! yields its core to other ranks for a while (the machine may have more ranks than cores),
//! then sleeps on a futex doorbell in the segment that senders ring only when it sleeps (see
//! `doorbell`). A helper thread per rank does the sleeping, so the rank's async runtime
//! stays free for other tasks, and checks that peers are still alive: a peer that dies
//! without saying goodbye is reported lost within a fraction of a second.
//!
//! Programs do not set it up themselves: `rmpi::init` does, for the ranks that share a host
//! (`RMPI_TRANSPORT=auto`, the default) or for all ranks (`RMPI_TRANSPORT=shm`).
//!
//! ```no_run
//! // rmpirun -n 4 --transport shm ./program
//! fn main() -> rmpi::Result<()> {
//!     rmpi::blocking::run(|world| {
//!         let mut halo = [0.0f64; 1024];
//!         world.bcast_buf(&mut halo, 0)?;
//!         Ok(())
//!     })
//! }
//! ```
#![deny(missing_docs)]

mod core_sharing;
mod doorbell;
mod fanout;
#[doc(hidden)]
pub mod fuzzing;
mod inbound;
mod lent;
mod loan_slot;
mod long_writes;
mod options;
mod outbound;
mod record;
mod ring;
mod segment;
mod single_copy;
mod streaming;
mod sync;
mod waiting;

#[cfg(all(test, feature = "loom"))]
mod model;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use rmpi_core::host::cores;
use rmpi_core::send_path::{loan_from, single_copy_from};
use rmpi_core::{
    Bootstrap, Error, Event, FastPaths, Frame, Header, Loan, Loans, Placer, Result, Transport,
};
use rustix::process::Pid;

use outbound::{Lending, Senders};
use record::Record;
use segment::{Consumer, Glance};
use segment::{Layout, Segment};
use sync::Ordering;

use inbound::{Inbound, Incoming, PeerState};
pub use options::{ShmOptions, SingleCopy};
use waiting::{watch_over, Watch};

/// A rank's shared-memory endpoint; see the [crate documentation](crate).
///
/// ```
/// use std::sync::Arc;
/// use rmpi::prelude::*;
/// use rmpi::shm::{ShmOptions, ShmTransport};
/// // Two ranks as threads of this process, through a real shared-memory segment.
/// let options = ShmOptions::from_config(&rmpi::config::Config::default());
/// let endpoints = ShmTransport::mesh(2, &options)?.into_iter().map(|t| Arc::new(t) as _).collect();
/// let sums = rmpi::local::run_on(endpoints, |comm| async move {
///     comm.allreduce(comm.rank() + 1, Sum).await
/// });
/// assert!(sums.into_iter().all(|sum| sum.unwrap() == 3));
/// # Ok::<(), rmpi::Error>(())
/// ```
pub struct ShmTransport {
    rank: usize,
    size: usize,
    segment: Arc<Segment>,
    senders: Arc<Senders>,
    incoming: rmpi_core::lock::Mutex<Incoming>,
    /// A look at each peer's ring to this rank, to skip the lock when nothing came.
    glances: Vec<Glance>,
    /// `incoming.ready` holds events.
    ready: AtomicBool,
    /// `shutdown` ran: peers were told goodbye.
    shut_down: AtomicBool,
    watch: Arc<Watch>,
    helper: Mutex<Option<JoinHandle<()>>>,
    /// Every rank's process, for single-copy reads.
    pids: Vec<Pid>,
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

/// The bootstrap key under which `rank` publishes its process id and the address of its
/// single-copy probe, as `"<pid>:<address>"`.
fn pid_key(rank: usize) -> String {
    format!("rmpi-shm-pid-{rank}")
}

/// The bootstrap key under which `rank` publishes which ranks' memory it can read, one
/// `1` or `0` per rank.
fn readable_key(rank: usize) -> String {
    format!("rmpi-shm-readable-{rank}")
}

/// Reads what `peer` published under [`pid_key`].
fn published_process(bootstrap: &dyn Bootstrap, peer: usize) -> Result<(Pid, u64)> {
    let text = bootstrap.get(&pid_key(peer))?;
    let mut words = text.split(':');
    let pid = words
        .next()
        .and_then(|w| w.parse::<i32>().ok())
        .and_then(Pid::from_raw);
    let probe = words.next().and_then(|w| w.parse::<u64>().ok());
    match (pid, probe, words.next()) {
        (Some(pid), Some(probe), None) => Ok((pid, probe)),
        _ => Err(Error::Bootstrap(format!(
            "rank {peer} published process {text:?}"
        ))),
    }
}

impl ShmTransport {
    /// The endpoints of a job whose ranks are threads of this process (for tests and
    /// benches, as [`LocalTransport::mesh`](rmpi_core::local::LocalTransport::mesh) is, but
    /// through a real segment), in rank order.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi::prelude::*;
    /// use rmpi::shm::{ShmOptions, ShmTransport};
    /// // Two ranks as threads of this process, through a real shared-memory segment.
    /// let options = ShmOptions::from_config(&rmpi::config::Config::default());
    /// let endpoints = ShmTransport::mesh(2, &options)?.into_iter().map(|t| Arc::new(t) as _).collect();
    /// let sums = rmpi::local::run_on(endpoints, |comm| async move {
    ///     comm.allreduce(comm.rank() + 1, Sum).await
    /// });
    /// assert!(sums.into_iter().all(|sum| sum.unwrap() == 3));
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn mesh(ranks: usize, options: &ShmOptions) -> Result<Vec<ShmTransport>> {
        static JOBS: AtomicUsize = AtomicUsize::new(0);
        let job = format!(
            "mesh-{}-{}",
            std::process::id(),
            JOBS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        // Every rank must reach the set-up's fences: they join from threads of their own.
        std::thread::scope(|scope| {
            let joining: Vec<_> = rmpi_core::bootstrap::InProcess::job(ranks, &job)
                .into_iter()
                .map(|bootstrap| scope.spawn(move || ShmTransport::establish(&bootstrap, options)))
                .collect();
            joining
                .into_iter()
                .map(|rank| {
                    rank.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// Maps the job's segment and connects this rank to every other rank of the job, which
    /// must all run on this host.
    ///
    /// ```no_run
    /// use rmpi::shm::{ShmOptions, ShmTransport};
    /// # async fn example() -> rmpi::Result<()> {
    /// // Every rank of a job on one host, with the bootstrap its launcher gave it.
    /// let bootstrap = rmpi::transport::Singleton::new();
    /// let shm = ShmTransport::establish(&bootstrap, &ShmOptions::from_config(&rmpi::config::Config::from_env()?))?;
    /// let world = rmpi::Comm::from_transport(std::sync::Arc::new(shm));
    /// # Ok(()) }
    /// ```
    pub fn establish(bootstrap: &dyn Bootstrap, options: &ShmOptions) -> Result<ShmTransport> {
        let (rank, size) = (bootstrap.rank(), bootstrap.size());
        let layout = Layout {
            ranks: size,
            capacity: options.ring_bytes(size),
            fanout: options.fanout_bytes(size),
        };
        let path = segment::path_of(bootstrap.job_id());
        // Before any message: a process must be registered before its first light barrier.
        #[cfg(not(feature = "loom"))]
        sync::asymmetric::registered();
        bootstrap.put(
            &pid_key(rank),
            &format!("{}:{}", std::process::id(), single_copy::probe_address()),
        )?;
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
        let processes = (0..size)
            .map(|peer| published_process(bootstrap, peer))
            .collect::<Result<Vec<_>>>();
        // Try reading every peer's memory, so senders know whom they may lend payloads to.
        let single_copy_from = single_copy_from(options.single_copy, size);
        let loan_from = loan_from(options.single_copy, size);
        let readable: String = match (&processes, single_copy_from.or(loan_from)) {
            (Ok(processes), Some(_)) => processes
                .iter()
                .enumerate()
                .map(|(peer, &(pid, probe))| {
                    if peer != rank && single_copy::probe(pid, probe) {
                        '1'
                    } else {
                        '0'
                    }
                })
                .collect(),
            _ => "0".repeat(size),
        };
        bootstrap.put(&readable_key(rank), &readable)?;
        // Everyone reaches the second fence, mapped or not, so rank 0 can remove the name.
        bootstrap.fence()?;
        if rank == 0 {
            let _ = std::fs::remove_file(&path);
        }
        let segment = opened?;
        // Where ranks have cores of their own, a page fault is the costliest step a small
        // message can meet; where they share cores, the time is better left to them.
        if size <= cores() {
            segment.fault_in(rank);
        }
        let pids: Vec<Pid> = processes?.into_iter().map(|(pid, _)| pid).collect();
        let lends = (0..size)
            .map(|peer| {
                let text = bootstrap.get(&readable_key(peer))?;
                Ok(text.as_bytes().get(rank) == Some(&b'1'))
            })
            .collect::<Result<Vec<bool>>>()?;
        let lenders = lends.iter().filter(|&&l| l).count();
        tracing::debug!(
            rank,
            "{lenders} of {} peers copy large payloads from here",
            size - 1
        );

        let senders = Arc::new(Senders::new(
            segment.clone(),
            rank,
            &lends,
            Lending {
                payloads_from: single_copy_from.unwrap_or(usize::MAX),
                regions_from: loan_from.unwrap_or(usize::MAX),
                always: matches!(options.single_copy, SingleCopy::From(_)),
            },
            size <= cores(),
            pids.clone(),
        ));
        let rings: Vec<Option<Inbound>> = (0..size)
            .map(|peer| {
                (peer != rank).then(|| Inbound {
                    consumer: Consumer::new(segment.ring(peer, rank)),
                    partial: None,
                    state: PeerState::Open,
                })
            })
            .collect();
        let glances = rings
            .iter()
            .flatten()
            .map(|inbound| inbound.consumer.glance())
            .collect();
        let watch = Arc::new(Watch::default());
        let helper = {
            let (segment, watch, pids) = (segment.clone(), watch.clone(), pids.clone());
            std::thread::Builder::new()
                .name(format!("rmpi-shm-{rank}"))
                .spawn(move || watch_over(rank, segment, watch, pids))?
        };
        Ok(ShmTransport {
            rank,
            size,
            segment,
            senders,
            glances,
            ready: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            incoming: rmpi_core::lock::Mutex::new(Incoming {
                rings,
                next: 0,
                ready: VecDeque::new(),
            }),
            watch,
            helper: Mutex::new(Some(helper)),
            pids,
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
        self.senders.frame(dest, frame.header, frame.payload)
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        self.wait_for(cx, self.spin, self.yield_for, || self.progress(None))
    }

    /// Writes everything queued and a goodbye to every peer (dropping what waits for peers
    /// that finished or died meanwhile), then stops the helper thread. Peers read the rest
    /// at their pace: the segment outlives this process.
    async fn shutdown(&self) -> Result<()> {
        self.shut_down.store(true, Ordering::Relaxed);
        for peer in (0..self.size).filter(|&p| p != self.rank) {
            self.senders.record(
                peer,
                Record::Frame {
                    header: Header::goodbye(),
                    chunk: 0,
                },
            )?;
        }
        let bell = self.segment.doorbell(self.rank);
        // Payloads lent to peers must stay until they are copied: wait for their release.
        while self.senders.backlogged() || self.senders.lending() {
            // Keep reading too: a peer that waits for our ring space may wait for its own,
            // and releases arrive on the peers' rings.
            while self.progress(None).is_some() {}
            let announcement = bell.announce_sleep();
            if (self.senders.backlogged() || self.senders.lending())
                && !self.senders.flush_backlog()
            {
                bell.wait(announcement, Duration::from_millis(10));
            }
            bell.awake();
        }
        self.stop_helper();
        Ok(())
    }

    fn fast_paths(self: Arc<Self>) -> Option<Arc<dyn FastPaths>> {
        Some(self)
    }
}

impl FastPaths for ShmTransport {
    fn send_copy(&self, dest: usize, header: Header, payload: &[u8]) -> Result<()> {
        self.senders.frame_copy(dest, header, payload)
    }

    fn fan_out(&self, dests: &[usize], header: Header, payload: &[u8]) -> Result<bool> {
        self.senders.fan_out_to(dests, header, payload)
    }

    fn lend(&self, dest: usize, header: Header, address: u64, loan: Loan) -> Result<bool> {
        self.senders.lend(dest, header, address, loan)
    }

    fn prefers_loan(&self, dest: usize, _len: usize) -> bool {
        self.senders.prefers_loan(dest)
    }

    fn recall(&self, loans: &Loans, payload: &[u8]) {
        self.senders.recall(loans, payload);
    }

    /// Keeps no waker: the helper thread wakes the waiting task, armed only by a wait.
    fn try_recv(&self, _: &mut Context<'_>) -> Option<Event> {
        self.progress(None)
    }

    fn try_recv_placing(&self, _: &mut Context<'_>, placer: &mut dyn Placer) -> Option<Event> {
        self.progress(Some(placer))
    }

    fn poll_recv_now(&self, cx: &mut Context<'_>) -> Poll<Event> {
        self.wait_for(cx, Duration::ZERO, Duration::ZERO, || self.progress(None))
    }

    /// Spinning is cheapest where the receive itself looks (see
    /// [`FastPaths::spin_budget`]); zero when ranks outnumber cores.
    fn spin_budget(&self) -> Duration {
        self.spin
    }

    /// Waits like `poll_recv` until a record or news arrives, but without spinning first
    /// (the receive spun already: [`FastPaths::spin_budget`]), and leaves it for
    /// `try_recv_placing`, so the receive it is for can have its payload copied straight
    /// into its buffer.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.wait_for(cx, Duration::ZERO, self.yield_for, || {
            self.readable().then_some(None)
        })
    }
}

impl Drop for ShmTransport {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::Relaxed) {
            // A rank failing (a panic, an error returned early) without shutting down: tell
            // the peers now rather than when the process is found gone, or never, when
            // ranks are threads of one process.
            for peer in (0..self.size).filter(|&p| p != self.rank) {
                let _ = self.senders.record(peer, Record::Abandoned);
            }
            self.senders.flush_backlog();
            // For when the records above wait behind others in a full ring.
            self.segment.doorbell(self.rank).abandon();
        }
        // What was lent stays lent for good when the last holder of the sending side goes
        // (see `Senders`' drop): a peer may still be copying it.
        self.stop_helper();
    }
}
