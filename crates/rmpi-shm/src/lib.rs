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
#![deny(missing_docs)]

mod doorbell;
mod fanout;
mod lent;
mod loan_slot;
mod long_writes;
mod outbound;
mod record;
mod ring;
mod segment;
mod single_copy;
mod streaming;
mod sync;

#[cfg(all(test, rmpi_loom))]
mod model;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rmpi_core::config::Config;
use rmpi_core::frame::HEADER_LEN;
use rmpi_core::host::cores;
use rmpi_core::lock::unpoisoned as lock;
use rmpi_core::pool;
use rmpi_core::{
    Bootstrap, Error, Event, FastPaths, Frame, FrameKind, Header, Loan, Loans, Placer, Result,
    Transport,
};
use rustix::process::Pid;

use doorbell::Announcement;
use lent::PeerPayload;
use outbound::{Lending, Senders};
use record::Record;
use segment::{Consumer, FannedPayload, Glance};
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
    /// Which payloads the receiver copies straight from the sender's memory (where the
    /// kernel allows it) instead of through the ring.
    pub single_copy: SingleCopy,
    /// Bytes of each rank's fan-out area, where a payload for several peers (a broadcast's
    /// data) is copied once for all of them (a power of two, or 0 for none); by default
    /// 2 MiB up to 8 ranks, shrinking as the job grows, and none past 64 ranks.
    pub fanout_bytes: Option<usize>,
}

pub use rmpi_core::config::SingleCopy;

/// The smallest payload lent under `choice`, for a job of `ranks` ranks: with `Auto`,
/// 128 KiB where ranks outnumber cores (every ring's worth would wait for a context switch,
/// and one copy by the receiver wins), none otherwise (sender and receiver stream through
/// the ring at once, the receiver copying straight into its receive's buffer).
fn single_copy_from(choice: SingleCopy, ranks: usize) -> Option<usize> {
    match choice {
        SingleCopy::Auto if ranks > cores() => Some(128 << 10),
        SingleCopy::Auto => None,
        SingleCopy::Off => None,
        SingleCopy::From(bytes) => Some(bytes),
    }
}

/// The smallest region of a caller's memory lent in place (see [`FastPaths::lend`]): with
/// `Auto`, from 32 KiB where ranks have cores of their own (a collective's sender waits for
/// its regions to be read anyway, and one copy beats two).
fn loan_from(choice: SingleCopy, ranks: usize) -> Option<usize> {
    match choice {
        SingleCopy::Auto if ranks <= cores() => Some(32 << 10),
        other => single_copy_from(other, ranks),
    }
}

impl Default for ShmOptions {
    fn default() -> Self {
        ShmOptions::from_config(&Config::default())
    }
}

impl ShmOptions {
    /// The options a job's settings give (`RMPI_SHM_*`), the others at their defaults.
    pub fn from_config(config: &Config) -> ShmOptions {
        let settings = &config.shm;
        ShmOptions {
            ring_bytes: settings.ring_bytes,
            max_message: 1 << 40,
            spin: settings.spin,
            yield_for: settings.yield_for,
            single_copy: settings.single_copy,
            fanout_bytes: settings.fanout_bytes,
        }
    }

    fn fanout_bytes(&self, ranks: usize) -> usize {
        if !(3..=fanout::MAX_RANKS).contains(&ranks) {
            return 0; // too many for the readers' bits, or never more than one reader
        }
        self.fanout_bytes.unwrap_or_else(|| {
            let budget = (16usize << 20) / ranks;
            budget.clamp(256 << 10, 2 << 20).next_power_of_two()
        })
    }

    fn ring_bytes(&self, ranks: usize) -> usize {
        self.ring_bytes.unwrap_or_else(|| {
            let budget = (16usize << 20) / (ranks * ranks).max(1);
            budget.clamp(64 << 10, 1 << 20).next_power_of_two()
        })
    }
}

/// How far this rank got with a peer's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerState {
    Open,
    Finished,
    Gone,
}

/// A frame being read in pieces: `payload` grows to `header.len - skip` bytes, the first
/// `skip` having gone to a receive's buffer (see [`Placer`]).
struct Partial {
    header: Header,
    skip: usize,
    payload: Vec<u8>,
}

impl Partial {
    /// Payload bytes still to come.
    fn left(&self) -> usize {
        self.header.len as usize - self.skip - self.payload.len()
    }
}

/// How long a receive whose payload is being placed waits for the sender's next record
/// before it takes what came and leaves the rest to come into memory of this rank's.
const PLACING_PATIENCE: Duration = Duration::from_micros(100);

/// Why `record` may not come now, if so: a frame's payload records come together, and
/// after its goodbye a peer only releases what it was lent.
fn out_of_turn(record: &Record, inbound: &Inbound) -> Option<String> {
    let more = matches!(record, Record::More { .. });
    match (&inbound.partial, more) {
        (Some(partial), false) => {
            return Some(format!(
                "sent {record:?} in the middle of a {}-byte payload",
                partial.header.len
            ))
        }
        (Some(partial), true) => {
            let left = partial.left();
            if record.chunk() > left {
                return Some(format!(
                    "sent {record:?} where {left} payload bytes were left"
                ));
            }
        }
        (None, true) => return Some(format!("sent {record:?} outside a payload")),
        (None, false) => {}
    }
    let after_goodbye = !matches!(record, Record::Released { .. } | Record::Abandoned);
    (inbound.state == PeerState::Finished && after_goodbye)
        .then(|| format!("sent {record:?} after its goodbye"))
}

/// Why `record` may not come in the middle of a placed payload with `left` bytes to come.
fn out_of_place(record: &Record, left: usize) -> Option<String> {
    match record {
        Record::More { chunk } if *chunk <= left => None,
        Record::More { .. } => Some(format!(
            "sent {record:?} where {left} payload bytes were left"
        )),
        _ => Some(format!("sent {record:?} in the middle of a payload")),
    }
}

/// Messages of at least this many bytes have their ring space handed back at once.
const EAGER_RELEASE_FROM: usize = 16 << 10;

/// The payload bytes an event brings (all of them, if they come in parts).
fn payload_len(event: &Event) -> usize {
    match event {
        Event::Frame { frame, .. } => frame.payload.len(),
        Event::Lent { header, .. } | Event::Placed { header, .. } => header.len as usize,
        Event::Rest { payload, .. } => payload.len(),
        _ => 0,
    }
}

/// Copies the payload bytes of `record`, the record at the head, onto the end of `payload`,
/// and moves past the record.
fn take_chunk(consumer: &mut Consumer, payload: &mut Vec<u8>, record: &Record) {
    let chunk = record.chunk();
    let spare = &mut payload.spare_capacity_mut()[..chunk];
    consumer.read_body_uninit(record.payload_at(), spare);
    // SAFETY: `read_body_uninit` initialized these `chunk` bytes of the spare capacity.
    unsafe { payload.set_len(payload.len() + chunk) };
    consumer.advance(record.body_len());
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
    /// The announcement fenced every ringer (see [`Announcement::certain`]).
    certain: AtomicBool,
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

/// A rank's shared-memory endpoint; see the [crate documentation](crate).
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
    pub fn establish(bootstrap: &dyn Bootstrap, options: &ShmOptions) -> Result<ShmTransport> {
        let (rank, size) = (bootstrap.rank(), bootstrap.size());
        let layout = Layout {
            ranks: size,
            capacity: options.ring_bytes(size),
            fanout: options.fanout_bytes(size),
        };
        let path = segment::path_of(bootstrap.job_id());
        // Before any message: a process must be registered before its first light barrier.
        #[cfg(not(rmpi_loom))]
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

    /// Reads what arrived from `peer`: an event, once one is complete. Hands the space read
    /// back to the peer before returning.
    fn read_from(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
    ) -> Option<Event> {
        let event = self.read_records(peer, inbound, placer);
        // Lazily while small messages come; eagerly once there are none, or after a large
        // one (one line written per large message is nothing), so that a sender finds the
        // ring empty when this rank has read everything it sent (see
        // `Senders::prefers_loan`).
        let lazily = event
            .as_ref()
            .is_some_and(|event| payload_len(event) < EAGER_RELEASE_FROM);
        self.give_back(peer, &mut inbound.consumer, lazily);
        event
    }

    /// Hands the space read from `peer`'s ring back to it (see [`Consumer::release`]), and
    /// rings its doorbell if any went back: it may be waiting for it.
    #[inline]
    fn give_back(&self, peer: usize, consumer: &mut Consumer, lazily: bool) {
        if consumer.release(lazily) {
            self.segment.doorbell(peer).ring();
        }
    }

    fn read_records(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
    ) -> Option<Event> {
        loop {
            if inbound.state == PeerState::Gone {
                return None;
            }
            let word = inbound.consumer.next_word()?;
            if inbound.partial.is_none() && inbound.state == PeerState::Open {
                if let Some(event) = self.read_line(peer, inbound, placer, word) {
                    return Some(event);
                }
            }
            let fixed = inbound.consumer.read_fixed();
            let max_body = inbound.consumer.max_body();
            // Borrowed, not moved: a record is most of a line, and this path is every
            // message's.
            let decoded = Record::decode(word, &fixed, self.max_message, max_body);
            let record = match &decoded {
                Ok(record) => record,
                Err(error) => return Some(self.drop_peer(peer, inbound, error.to_string())),
            };
            if let Some(reason) = out_of_turn(record, inbound) {
                return Some(self.drop_peer(peer, inbound, reason));
            }
            match *record {
                Record::Frame { header, .. } if header.kind == FrameKind::Goodbye => {
                    inbound.consumer.advance(record.body_len());
                    // Its ring stays open both ways: while it shuts down it may still wait
                    // for our goodbye and for payloads it lent us, and release ours.
                    inbound.state = PeerState::Finished;
                    return Some(Event::PeerFinished { rank: peer });
                }
                Record::Frame { ref header, .. } => {
                    let place = placer.as_mut().and_then(|p| p.place(peer, header));
                    if let Some(buf) = place {
                        return Some(self.place(peer, inbound, header, record, buf));
                    }
                    let mut payload = pool::vec_with_capacity(header.len as usize);
                    take_chunk(&mut inbound.consumer, &mut payload, record);
                    inbound.partial = Some(Partial {
                        header: *header,
                        skip: 0,
                        payload,
                    });
                }
                Record::More { .. } => {
                    let partial = inbound.partial.as_mut()?;
                    take_chunk(&mut inbound.consumer, &mut partial.payload, record);
                }
                Record::Lent {
                    header,
                    address,
                    slot,
                } => {
                    inbound.consumer.advance(record.body_len());
                    // Copied later, by the receive that matches it, into its buffer.
                    return Some(Event::Lent {
                        from: peer,
                        header,
                        payload: Box::new(PeerPayload {
                            peer,
                            pid: self.pids[peer],
                            address,
                            len: header.len as usize,
                            slot,
                            senders: self.senders.clone(),
                            released: false,
                        }),
                    });
                }
                Record::Fanned { header, offset } => {
                    inbound.consumer.advance(record.body_len());
                    let area = self.segment.fanout(peer);
                    let bit = 1u64.checked_shl(self.rank as u32).unwrap_or(0);
                    // Copied later, by the receive that matches it, as a lent one is.
                    return Some(
                        match FannedPayload::new(peer, area, offset, header.len, bit) {
                            Ok(payload) => Event::Lent {
                                from: peer,
                                header,
                                payload: Box::new(
                                    payload.waiting_for(self.pids[peer], !self.spin.is_zero()),
                                ),
                            },
                            Err(reason) => self.drop_peer(peer, inbound, reason),
                        },
                    );
                }
                Record::Abandoned => {
                    inbound.consumer.advance(record.body_len());
                    let was_open = inbound.state == PeerState::Open;
                    inbound.state = PeerState::Gone;
                    self.senders.close(peer);
                    if !was_open {
                        return None; // it had said goodbye: nothing is lost
                    }
                    tracing::warn!("rank {peer} went away without shutting down");
                    return Some(Event::PeerLost { rank: peer });
                }
                Record::Released { address, len } => {
                    inbound.consumer.advance(record.body_len());
                    if let Err(reason) = self.senders.take_back(peer, address, len) {
                        return Some(self.drop_peer(peer, inbound, reason));
                    }
                    // Nothing for the engine: look for the next record.
                }
            }
            if inbound.partial.as_ref().is_some_and(|p| p.left() == 0) {
                let Partial {
                    header,
                    skip,
                    payload,
                } = inbound.partial.take()?;
                let payload = pool::into_bytes(payload);
                return Some(match skip {
                    0 => Event::Frame {
                        from: peer,
                        frame: Frame { header, payload },
                    },
                    _ => Event::Rest {
                        from: peer,
                        payload,
                    },
                });
            }
            // A long payload may fill the ring: hand space back while reading it.
            self.give_back(peer, &mut inbound.consumer, true);
        }
    }

    /// Reads the record at the head, whose word is `word`, if it is a whole frame in one
    /// line (a small message, every message's path) and passes [`Record::decode_line`]'s
    /// checks: its payload goes straight to the placer's buffer if the receive waiting there
    /// takes it, else into a frame. `None` leaves the record to the general path.
    #[inline]
    fn read_line(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        placer: &mut Option<&mut dyn Placer>,
        word: u64,
    ) -> Option<Event> {
        // Any other record's first line is copied out by the general path only.
        Record::line_chunk(word)?;
        let line = inbound.consumer.read_fixed::<{ record::LINE_BODY }>();
        let (header, len) = Record::decode_line(word, &line, self.max_message)?;
        let payload = &line[HEADER_LEN..HEADER_LEN + len];
        inbound.consumer.advance(HEADER_LEN + len);
        Some(match placer.as_mut().and_then(|p| p.place(peer, &header)) {
            Some(buf) => {
                buf.copy_from_slice(payload);
                Event::Placed {
                    from: peer,
                    header,
                    placed: len,
                }
            }
            None => Event::Frame {
                from: peer,
                frame: Frame {
                    header,
                    payload: pool::copy_of(payload),
                },
            },
        })
    }

    /// Copies the payload of the frame whose first record, `first`, is at the head straight
    /// into `buf`, the buffer of the receive that matched it, record by record as the sender
    /// writes them. If the sender falls behind for longer than [`PLACING_PATIENCE`], what
    /// is left comes into memory of this rank's as usual, to be reported as an
    /// [`Event::Rest`].
    fn place(
        &self,
        peer: usize,
        inbound: &mut Inbound,
        header: &Header,
        first: &Record,
        buf: &mut [u8],
    ) -> Event {
        let len = header.len as usize;
        debug_assert_eq!(buf.len(), len);
        if first.chunk() == len {
            // All of it in this record: a small message, every message's path.
            inbound.consumer.read_body(first.payload_at(), buf);
            inbound.consumer.advance(first.body_len());
            return Event::Placed {
                from: peer,
                header: *header,
                placed: len,
            };
        }
        let mut placed = 0;
        let mut waiting_since = None;
        let mut next = None;
        loop {
            let record = next.as_ref().unwrap_or(first);
            let chunk = record.chunk();
            let consumer = &mut inbound.consumer;
            consumer.read_body(record.payload_at(), &mut buf[placed..placed + chunk]);
            consumer.advance(record.body_len());
            placed += chunk;
            if placed == len {
                break;
            }
            // The sender may be waiting for room: hand back what was read.
            self.give_back(peer, consumer, true);
            let word = loop {
                if let Some(word) = inbound.consumer.next_word() {
                    break Some(word);
                }
                let since = *waiting_since.get_or_insert_with(|| {
                    self.give_back(peer, &mut inbound.consumer, false);
                    Instant::now()
                });
                if since.elapsed() >= PLACING_PATIENCE {
                    break None;
                }
                sync::pause(!self.spin.is_zero());
            };
            let Some(word) = word else {
                tracing::debug!(
                    peer,
                    len,
                    placed,
                    "sender fell behind; the rest comes later"
                );
                inbound.partial = Some(Partial {
                    header: *header,
                    skip: placed,
                    payload: pool::vec_with_capacity(len - placed),
                });
                break;
            };
            waiting_since = None;
            let fixed = inbound.consumer.read_fixed();
            let max_body = inbound.consumer.max_body();
            let record = match Record::decode(word, &fixed, self.max_message, max_body) {
                Ok(record) => next.insert(record),
                Err(error) => return self.drop_peer(peer, inbound, error.to_string()),
            };
            if let Some(reason) = out_of_place(record, len - placed) {
                return self.drop_peer(peer, inbound, reason);
            }
        }
        Event::Placed {
            from: peer,
            header: *header,
            placed,
        }
    }

    /// `peer` broke the protocol: stop talking to it.
    fn drop_peer(&self, peer: usize, inbound: &mut Inbound, reason: String) -> Event {
        inbound.state = PeerState::Gone;
        self.senders.close(peer);
        tracing::error!("malformed record from rank {peer}: {reason}");
        Event::PeerMalformed { rank: peer, reason }
    }

    /// One pass over everything: backlog, reports of dead peers, every ring. Returns the
    /// next event, if any.
    fn progress(&self, mut placer: Option<&mut dyn Placer>) -> Option<Event> {
        // Most looks find nothing: find that out without taking the lock.
        if !self.readable() {
            return None;
        }
        let mut incoming = self.incoming.lock();
        if self.watch.news.load(Ordering::Relaxed) && self.watch.news.swap(false, Ordering::AcqRel)
        {
            let deaths = std::mem::take(&mut *lock(&self.watch.deaths));
            for peer in deaths {
                self.bury(peer, &mut incoming);
            }
        }
        // Under this lock `ready` says whether `incoming.ready` holds events: looking at it
        // first spares moving an empty event out of the queue at every look.
        if self.ready.load(Ordering::Relaxed) {
            if let Some(event) = incoming.ready.pop_front() {
                self.ready
                    .store(!incoming.ready.is_empty(), Ordering::Relaxed);
                return Some(event);
            }
        }
        let n = incoming.rings.len();
        let mut peer = incoming.next;
        for _ in 0..n {
            let next = if peer + 1 == n { 0 } else { peer + 1 };
            if let Some(inbound) = incoming.rings[peer].as_mut() {
                let event = self.read_from(peer, inbound, &mut placer);
                if event.is_some() {
                    incoming.next = next;
                    return event;
                }
            }
            peer = next;
        }
        None
    }

    /// Writes what waits for ring space, and says whether there may be something to read
    /// (without taking the lock, so it may say yes when the lock holder is reading it).
    #[inline]
    fn readable(&self) -> bool {
        self.senders.flush_backlog();
        self.watch.news.load(Ordering::Relaxed)
            || self.ready.load(Ordering::Relaxed)
            || self.glances.iter().any(Glance::waiting)
    }

    /// A peer died: deliver what it completed, then report it lost (unless it said goodbye).
    fn bury(&self, peer: usize, incoming: &mut Incoming) {
        let Some(mut inbound) = incoming.rings[peer].take() else {
            return;
        };
        while let Some(event) = self.read_from(peer, &mut inbound, &mut None) {
            incoming.ready.push_back(event);
        }
        if inbound.state == PeerState::Open {
            tracing::warn!("rank {peer} died without saying goodbye");
            incoming.ready.push_back(Event::PeerLost { rank: peer });
        }
        inbound.state = PeerState::Gone;
        self.senders.close(peer);
        incoming.rings[peer] = Some(inbound);
        self.ready
            .store(!incoming.ready.is_empty(), Ordering::Relaxed);
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

impl ShmTransport {
    /// Looks for something with `look`, spinning for `spin` and then yielding for
    /// `yield_for` while there is nothing (spinning only when there are cores to spare),
    /// then arranges for the helper thread to sleep on the doorbell and wake `cx`.
    fn wait_for<T>(
        &self,
        cx: &mut Context<'_>,
        spin: Duration,
        yield_for: Duration,
        mut look: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        let bell = self.segment.doorbell(self.rank);
        self.watch.armed.store(false, Ordering::Release);
        bell.awake();
        if let Some(found) = look() {
            return Poll::Ready(found);
        }
        let started = Instant::now();
        let mut spinning = !spin.is_zero();
        for round in 0u32.. {
            // Reading the clock costs as much as a look at the rings: while spinning, only
            // every 16th round does.
            if !spinning || round % 16 == 0 {
                let waited = started.elapsed();
                if waited >= spin + yield_for {
                    break;
                }
                spinning = waited < spin;
            }
            if spinning {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            if let Some(found) = look() {
                return Poll::Ready(found);
            }
        }
        *lock(&self.watch.waker) = Some(cx.waker().clone());
        let announcement = bell.announce_sleep();
        if let Some(found) = look() {
            bell.awake();
            return Poll::Ready(found);
        }
        self.watch
            .certain
            .store(announcement.certain, Ordering::Relaxed);
        self.watch
            .announcement
            .store(announcement.seen, Ordering::Release);
        self.watch.armed.store(true, Ordering::Release);
        if let Some(helper) = lock(&self.helper).as_ref() {
            helper.thread().unpark();
        }
        Poll::Pending
    }

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
            let seen = Announcement {
                seen: watch.announcement.load(Ordering::Acquire),
                certain: watch.certain.load(Ordering::Relaxed),
            };
            bell.wait(seen, PATIENCE);
            // An uncertain announcement may have missed a ring: the rank looks again anyway.
            let look = bell.rung_since(seen) || !seen.certain;
            if look && watch.armed.load(Ordering::Acquire) {
                watch.wake();
            }
        } else {
            std::thread::park_timeout(PATIENCE);
        }
        if last_check.elapsed() >= PATIENCE {
            last_check = Instant::now();
            let mut found = false;
            for (peer, &pid) in pids.iter().enumerate() {
                let gone = || !sync::alive(pid) || segment.doorbell(peer).abandoned();
                if !buried[peer] && gone() {
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
