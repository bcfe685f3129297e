//! The sending side: this rank's ends of the rings to its peers, what waits for ring space,
//! and the payloads lent to peers until they release them.
//!
//! It is shared (behind an `Arc`) between the transport and the lent payloads the engine
//! holds for peers' messages: whichever thread drops or reads one of those sends its release
//! through here.

mod lending;

pub(crate) use lending::Lending;
use lending::{Held, Lent};

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rmpi_core::lock::Mutex;
use rmpi_core::send_path::FANOUT_FROM;
use rmpi_core::{Error, Header, Result};
use rustix::process::Pid;

use crate::fanout;
use crate::loan_slot;
use crate::long_writes::LongWrites;
use crate::record::Record;
use crate::ring::{Region, LINE, WORD};
use crate::segment::Segment;
use crate::segment::{FanoutArea, Producer};
use crate::sync::{self, AtomicU64, Ordering};

/// Payload bytes per record at most: a large frame goes in several records, so the
/// receiver copies one out while the sender copies the next in.
const CHUNK: usize = 16 << 10;

/// Payload bytes per record at most for payloads of up to [`CHUNK`] bytes where ranks have
/// cores of their own: more records than one, so the receiver copies the first out while
/// the sender copies the next in, but not so many that their words cost more than the
/// overlap saves: 2 KiB gave the lowest 4 KiB ping-pong latency of the sizes tried. Where
/// ranks share cores the receiver is rarely running while the sender writes, and more
/// records only cost more.
const SMALL_CHUNK: usize = 2 << 10;

/// Payload bytes per record at most for a payload of `len` bytes; `overlapping` if the
/// receiver may copy out while the sender copies in (ranks have cores of their own).
fn chunk_for(len: usize, overlapping: bool) -> usize {
    if overlapping && len <= CHUNK {
        SMALL_CHUNK
    } else {
        CHUNK
    }
}

/// How long a sender copying a payload straight into a full ring waits for the receiver to
/// make room before it copies the rest aside and returns.
const STREAM_PATIENCE: Duration = Duration::from_micros(100);

/// A frame's payload is not split into records smaller than this (or than what is left of
/// it): a sender that finds less room waits for the receiver to release more.
const MIN_CHUNK: usize = 1 << 10;

/// A record on its way into a ring.
pub(crate) enum Outgoing {
    /// A frame whose payload goes through the ring: `sent` payload bytes have, once its
    /// first record has (`None` before).
    Frame {
        header: Header,
        payload: Bytes,
        sent: Option<usize>,
    },
    /// A record without payload bytes.
    Bare(Record),
}

impl Outgoing {
    /// Writes as much of this as the ring takes now; true once all of it is written.
    fn write(
        &mut self,
        producer: &mut Producer,
        long_writes: &mut LongWrites,
        overlapping: bool,
    ) -> bool {
        match self {
            Outgoing::Bare(record) => {
                let (word, fixed) = record.encode();
                let body = record.body_len();
                producer.push(word, body, &[(0, &fixed[..body])])
            }
            Outgoing::Frame {
                header,
                payload,
                sent,
            } => write_frame(producer, long_writes, header, payload, sent, overlapping),
        }
    }
}

/// Writes as much of a frame of `header` whose payload is `payload` as the ring takes now,
/// `sent` saying how far it got (`None` before its first record, then how many bytes of
/// `payload` are written), in records [`chunk_for`] its length; true once all of it is
/// written.
fn write_frame(
    producer: &mut Producer,
    long_writes: &mut LongWrites,
    header: &Header,
    payload: &[u8],
    sent: &mut Option<usize>,
    overlapping: bool,
) -> bool {
    loop {
        let at = sent.unwrap_or(0);
        let left = payload.len() - at;
        if sent.is_some() && left == 0 {
            return true;
        }
        let first = sent.is_none();
        let wanted = left.min(chunk_for(payload.len(), overlapping));
        let record = |chunk| match first {
            true => Record::Frame {
                header: *header,
                chunk,
            },
            false => Record::More { chunk },
        };
        let room = producer.room(record(wanted).body_len());
        let chunk = if record(wanted).body_len() <= room {
            wanted
        } else {
            // What fits after the fixed part and padding of a record that pads.
            wanted.min(room.saturating_sub(LINE - WORD))
        };
        if chunk < wanted.min(MIN_CHUNK) || record(chunk).body_len() > room {
            return false;
        }
        let bytes = &payload[at..at + chunk];
        // Payloads of several records are written streaming where plain stores are slow.
        let pushed = match payload.len() > CHUNK {
            true => {
                if first {
                    long_writes.start_block();
                }
                long_writes.write_chunk(chunk, |streaming| {
                    push_frame(producer, &record(chunk), bytes, streaming)
                })
            }
            false => push_frame(producer, &record(chunk), bytes, false),
        };
        debug_assert!(pushed, "the room was there");
        *sent = Some(at + chunk);
    }
}

/// Writes a frame record (`Frame` or `More`) and its payload bytes `chunk`, if it fits,
/// streaming them if `streaming`.
fn push_frame(producer: &mut Producer, record: &Record, chunk: &[u8], streaming: bool) -> bool {
    let (word, fixed) = record.encode();
    let parts = [
        (0, &fixed[..record.fixed_len()]),
        (record.payload_at(), chunk),
    ];
    producer.push_as(word, record.body_len(), &parts, streaming)
}

/// This rank's end of the ring to one peer.
pub(crate) struct Outbound {
    pub(crate) producer: Producer,
    /// How plain stores into the ring fared for long payloads.
    pub(crate) long_writes: LongWrites,
    pub(crate) queue: VecDeque<Outgoing>,
    /// Payloads lent to the peer and not yet released.
    pub(crate) lent: VecDeque<Lent>,
    /// The peer can copy payloads out of this process's memory.
    pub(crate) lends: bool,
    /// The last typed-buffer send asked about found the peer still reading earlier ones
    /// (see [`Senders::prefers_loan`]).
    pub(crate) behind: bool,
    /// The peer finished or died: what is queued for it is dropped.
    pub(crate) closed: bool,
}

impl Outbound {
    /// Writes queued records as far as the ring allows, `overlapping` as for
    /// [`chunk_for`]; true if anything was written.
    fn flush(&mut self, overlapping: bool) -> bool {
        let mut wrote = false;
        while let Some(front) = self.queue.front_mut() {
            let before = self.producer.written();
            let done = front.write(&mut self.producer, &mut self.long_writes, overlapping);
            wrote |= self.producer.written() != before;
            if !done {
                break;
            }
            self.queue.pop_front();
        }
        wrote
    }
}

/// Every ring this rank writes; see the [module documentation](self).
pub(crate) struct Senders {
    pub(crate) segment: Arc<Segment>,
    pub(crate) outbound: Vec<Option<Mutex<Outbound>>>,
    /// Peers with records waiting for ring space.
    pub(crate) backlog: AtomicUsize,
    /// What is lent, and when.
    pub(crate) lending: Lending,
    /// Ranks have cores of their own: a sender waiting for room spins rather than yields.
    pub(crate) spinning: bool,
    /// This rank's fan-out area, if it has one.
    pub(crate) fanout: Option<Mutex<FanoutArea>>,
    /// Peers closed for good, one bit each: they will not read what was fanned out to them.
    pub(crate) gone: AtomicU64,
    /// This rank's loan slots not lent now.
    pub(crate) free_slots: Mutex<Vec<u16>>,
    /// The peers' processes, to stop waiting for one that died.
    pub(crate) pids: Vec<Pid>,
    /// This rank, whose loan table the slots are in.
    pub(crate) rank: usize,
}

impl Senders {
    /// The sending side of `rank`, lending to the peers for which `lends` is true.
    pub(crate) fn new(
        segment: Arc<Segment>,
        rank: usize,
        lends: &[bool],
        lending: Lending,
        spinning: bool,
        pids: Vec<Pid>,
    ) -> Senders {
        let outbound = (0..lends.len())
            .map(|peer| {
                (peer != rank).then(|| {
                    Mutex::new(Outbound {
                        producer: Producer::new(segment.ring(rank, peer)),
                        long_writes: LongWrites::default(),
                        queue: VecDeque::new(),
                        lent: VecDeque::new(),
                        lends: lends[peer],
                        behind: false,
                        closed: false,
                    })
                })
            })
            .collect();
        let fanout = (lends.len() <= fanout::MAX_RANKS && segment.fanout(rank).capacity() > 0)
            .then(|| Mutex::new(FanoutArea::new(segment.fanout(rank))));
        Senders {
            segment,
            outbound,
            backlog: AtomicUsize::new(0),
            lending,
            spinning,
            fanout,
            gone: AtomicU64::new(0),
            free_slots: Mutex::new((0..loan_slot::SLOTS as u16).rev().collect()),
            pids,
            rank,
        }
    }

    /// Queues a frame for `dest`, lending its payload if it is large and `dest` can copy it
    /// from here, and writes what fits now.
    pub(crate) fn frame(&self, dest: usize, header: Header, payload: Bytes) -> Result<()> {
        self.enqueue(dest, |out| {
            if self.lends(out, payload.len()) {
                let address = payload.as_ptr() as u64;
                out.lent.push_back(Lent {
                    address,
                    len: payload.len(),
                    slot: None,
                    held: Held::Owned(payload),
                });
                Outgoing::Bare(Record::Lent {
                    header,
                    address,
                    slot: None,
                })
            } else {
                Outgoing::Frame {
                    header,
                    payload,
                    sent: None,
                }
            }
        })
        .map(drop)
    }

    /// The segment this rank's rings and loan table are in.
    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// Like [`Senders::frame`] for a payload lent for the call. If nothing waits for the
    /// ring, it is copied straight into it from the caller's memory, record by record as
    /// the receiver makes room, for as long as the receiver keeps up (a small message then
    /// costs no allocation, and a large one no extra copy when its receive is waiting);
    /// what is left after [`STREAM_PATIENCE`] without room is copied and queued.
    pub(crate) fn frame_copy(&self, dest: usize, header: Header, payload: &[u8]) -> Result<()> {
        let header = Header {
            len: payload.len() as u64,
            ..header
        };
        let mut out = self.outbound(dest)?.lock();
        if out.closed {
            return Ok(());
        }
        if self.lends(&out, payload.len()) || !out.queue.is_empty() {
            drop(out);
            return self.frame(dest, header, rmpi_core::pool::copy_of(payload));
        }
        let bell = self.segment.doorbell(dest);
        // A small frame goes in whole, its lines in one copy of known length.
        let pushed = match Record::encode_line(&header, payload) {
            Some((word, line)) => out.producer.push_lines(word, &line),
            None => Record::encode_two_lines(&header, payload)
                .is_some_and(|(word, lines)| out.producer.push_lines(word, &lines)),
        };
        if pushed {
            bell.ring();
            return Ok(());
        }
        // Borrowed once, so that the producer and its record of long writes go separately.
        let out = &mut *out;
        let mut sent = None;
        let mut waiting_since = None;
        loop {
            let before = out.producer.written();
            let done = write_frame(
                &mut out.producer,
                &mut out.long_writes,
                &header,
                payload,
                &mut sent,
                self.spinning,
            );
            if out.producer.written() != before {
                bell.ring();
                waiting_since = None;
            }
            if done {
                return Ok(());
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= STREAM_PATIENCE {
                break;
            }
            sync::pause(self.spinning);
        }
        // The receiver is not reading: the rest waits here, in memory of this rank's.
        tracing::debug!(
            dest,
            len = payload.len(),
            written = sent.unwrap_or(0),
            "receiver not making room; copying the rest aside"
        );
        let rest = match sent {
            None => Outgoing::Frame {
                header,
                payload: rmpi_core::pool::copy_of(payload),
                sent: None,
            },
            Some(at) => Outgoing::Frame {
                header,
                payload: rmpi_core::pool::copy_of(&payload[at..]),
                sent: Some(0),
            },
        };
        out.queue.push_back(rest);
        self.backlog.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sends a frame of `header` with `payload` to each of `dests` (distinct peers) in one
    /// copy into this rank's fan-out area that they all read, if it has room and the payload
    /// is long enough to be worth it; `false` if not, and nothing was sent. A peer closed
    /// meanwhile is skipped.
    pub(crate) fn fan_out_to(
        &self,
        dests: &[usize],
        header: Header,
        payload: &[u8],
    ) -> Result<bool> {
        let Some(fanout) = &self.fanout else {
            return Ok(false);
        };
        if dests.len() < 2 || payload.len() < FANOUT_FROM {
            return Ok(false);
        }
        let mut readers = 0u64;
        for &dest in dests {
            self.outbound(dest)?; // a peer of this job
            readers |= 1 << dest;
        }
        let gone = self.gone.load(Ordering::Acquire);
        let mut area = fanout.lock();
        let Some(block) = area.reserve(payload.len(), readers, gone) else {
            return Ok(false);
        };
        let offset = block.offset();
        // Readers hear of it first, so they copy behind this rank's copy, not after it.
        let record = Record::Fanned {
            header,
            offset: offset as u64,
        };
        for &dest in dests {
            // The block is filled whatever happens here: a reader told of it waits for that.
            if !matches!(self.enqueue(dest, |_| Outgoing::Bare(record)), Ok(true)) {
                // It will never read the block: its bit must not hold it up.
                area.region()
                    .word(offset)
                    .fetch_and(!(1 << dest), Ordering::Relaxed);
            }
        }
        area.fill(block, payload);
        Ok(true)
    }

    /// Queues a record without payload bytes for `dest`.
    pub(crate) fn record(&self, dest: usize, record: Record) -> Result<()> {
        self.enqueue(dest, |_| Outgoing::Bare(record)).map(drop)
    }

    /// Queues the record `make` returns for `dest` (made under the ring's lock, so lent
    /// payloads are queued in the order their records are written), and writes what fits.
    /// False if `dest` is closed: then nothing was made or queued.
    pub(crate) fn enqueue(
        &self,
        dest: usize,
        make: impl FnOnce(&mut Outbound) -> Outgoing,
    ) -> Result<bool> {
        let mut out = self.outbound(dest)?.lock();
        if out.closed {
            return Ok(false); // the peer is gone; the engine reports that to whoever waits on it
        }
        let had_backlog = !out.queue.is_empty();
        let outgoing = make(&mut out);
        out.queue.push_back(outgoing);
        if out.flush(self.spinning) {
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
        Ok(true)
    }

    /// Whether a payload of `len` bytes to the peer of `out` is lent rather than copied.
    fn lends(&self, out: &Outbound, len: usize) -> bool {
        out.lends && len >= self.lending.payloads_from
    }

    /// This rank's end of the ring to `dest`.
    pub(crate) fn outbound(&self, dest: usize) -> Result<&Mutex<Outbound>> {
        // Not `ok_or`: that would build (and drop) the error on every send.
        match self.outbound.get(dest) {
            Some(Some(outbound)) => Ok(outbound),
            _ => Err(Error::InvalidRank {
                rank: dest,
                size: self.outbound.len(),
            }),
        }
    }

    /// Whether records wait for ring space.
    pub(crate) fn backlogged(&self) -> bool {
        self.backlog.load(Ordering::Relaxed) > 0
    }

    /// Writes whatever waits for ring space; true if anything moved.
    #[inline]
    pub(crate) fn flush_backlog(&self) -> bool {
        self.backlogged() && self.flush_queues()
    }

    /// [`Senders::flush_backlog`] when something waits.
    fn flush_queues(&self) -> bool {
        let mut moved = false;
        for (peer, out) in self.outbound.iter().enumerate() {
            let Some(out) = out else { continue };
            let mut out = out.lock();
            if out.queue.is_empty() {
                continue;
            }
            if out.flush(self.spinning) {
                moved = true;
                self.segment.doorbell(peer).ring();
            }
            if out.queue.is_empty() {
                self.backlog.fetch_sub(1, Ordering::Relaxed);
            }
        }
        moved
    }

    /// Stops sending to `peer` and drops what waits for it. What was lent to it stays: it
    /// may still be reading (a caller settling a loan to it learns from the engine that it
    /// is gone).
    pub(crate) fn close(&self, peer: usize) {
        if peer < fanout::MAX_RANKS {
            self.gone.fetch_or(1 << peer, Ordering::Release);
        }
        if let Some(out) = self.outbound.get(peer).and_then(Option::as_ref) {
            let mut out = out.lock();
            out.closed = true;
            if !out.queue.is_empty() {
                out.queue.clear();
                self.backlog.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Senders {
    /// Leaves every payload still lent where it is, for good: a peer may still copy it
    /// (a rank dropped without shutting down, or a peer finishing while it reads).
    fn drop(&mut self) {
        for out in self.outbound.iter().flatten() {
            for lent in out.lock().lent.drain(..) {
                if let Held::Owned(payload) = lent.held {
                    std::mem::forget(payload);
                }
            }
        }
    }
}
