//! Fan-out: one payload for several receivers (a broadcast's data), copied once into the
//! sender's fan-out area in the segment and read from there by each, where sending it down
//! every ring would copy it in once per receiver.
//!
//! Every rank has an area of its own that only it writes. A payload takes a block there:
//!
//! ```text
//! [line: readers' bits (u64)][line: bytes written (u64)][payload, padded to whole lines]
//! ```
//!
//! The sender sets bit `r` for every reader `r` and sends each reader a
//! [`Record::Fanned`](crate::record::Record::Fanned) saying where the block is, then copies
//! the payload in, saying after every chunk how far it got: readers copy behind it (on
//! another core, at the same time) instead of waiting for all of it. The sender's copy never
//! waits for anyone, so a reader waits for it only as long as it takes, unless the sender
//! dies, which the reader checks for while it waits. A reader copies the payload out when
//! a receive matches it, or drops it unread, and then clears its bit. Blocks are taken in
//! order, around the area as in a ring, and the sender takes back the oldest once no reader
//! that is still there has its bit set: a reader that died or broke the protocol never
//! holds the area up. With no room, the sender declines and the caller sends the payload
//! another way, so fan-out never waits. Ranks are bits of one word, so areas serve jobs of up to 64
//! ranks on a host.

use std::collections::VecDeque;
use std::time::Instant;

use rmpi_core::{Error, LentPayload, Result};
use rustix::process::Pid;

use crate::long_writes::LongWrites;
use crate::ring::{Region, LINE};
use crate::sync::{self, Ordering};

/// The most ranks a job may have for its ranks to fan out: readers are bits of one word.
pub(crate) const MAX_RANKS: usize = 64;

/// Where a block's count of bytes written is, from its start.
const WRITTEN_AT: usize = LINE;

/// Where a block's payload starts, after its two lines of words.
const PAYLOAD_AT: usize = 2 * LINE;

/// The sender says how far it got after every chunk of this many bytes (a few bytes in the
/// loom model, so that readers catch up with it there). Each time costs the sender a fence
/// that waits for its streaming stores to reach memory, and a store to a line its readers
/// are watching. Smaller chunks cost the root more fences; larger ones keep readers waiting
/// longer to start; 16 KiB gave the quickest 64 KiB bcasts on 4 and 8 ranks.
#[cfg(not(feature = "loom"))]
const FILL_CHUNK: usize = 16 << 10;
#[cfg(feature = "loom")]
const FILL_CHUNK: usize = 16;

/// Payloads of at most this many bytes are written around the caches (see
/// [`crate::streaming`]): up to 64 KiB that costs little where the cores exchange lines
/// quickly and saves much where they do not; at 256 KiB it made no difference; at 1 MiB
/// the readers, reading from memory, took longer than the writer saved.
const STREAMING_UP_TO: usize = 256 << 10;

/// Bytes a block for a payload of `len` bytes takes: its two lines and the payload, padded.
fn block_size(len: usize) -> usize {
    PAYLOAD_AT + len.div_ceil(LINE) * LINE
}

/// A block reserved for a payload and not yet written: where it starts in the area, and
/// the payload's length.
#[derive(Debug)]
pub(crate) struct Block {
    offset: usize,
    len: usize,
}

impl Block {
    /// Where the block starts in the area, as its readers are told.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }
}

/// The sender's side: its area and the blocks in it that readers may still need.
pub(crate) struct FanoutArea<R: Region> {
    region: R,
    /// Where the next block starts, counting from the first byte ever written (so it only
    /// grows); its place in the area is that modulo the capacity.
    head: u64,
    /// Where the oldest block that may still be read starts, counted the same way.
    tail: u64,
    /// Blocks not yet taken back, oldest first: where each starts and where it ends.
    blocks: VecDeque<(u64, u64)>,
    long_writes: LongWrites,
}

impl<R: Region> FanoutArea<R> {
    /// An empty area over `region`, whose bytes nobody reads yet.
    pub(crate) fn new(region: R) -> FanoutArea<R> {
        FanoutArea {
            region,
            head: 0,
            tail: 0,
            blocks: VecDeque::new(),
            long_writes: LongWrites::default(),
        }
    }

    /// The area's memory.
    pub(crate) fn region(&self) -> &R {
        &self.region
    }

    /// Reserves a block for a payload of `len` bytes for the readers whose bits `readers`
    /// has set, none of it written yet; `None` if there is no room for it now. Blocks whose
    /// readers are done, or are among `gone`, are taken back first. Its readers may be told
    /// of it at once; [`FanoutArea::fill`] then writes the payload.
    pub(crate) fn reserve(&mut self, len: usize, readers: u64, gone: u64) -> Option<Block> {
        let capacity = self.region.capacity();
        let size = block_size(len);
        if size > capacity {
            return None;
        }
        // Eagerly: once every block is back, the next starts at the area's start again, in
        // lines still in this core's cache.
        self.take_back(gone);
        let at = self.head as usize % capacity;
        // A block never wraps: one that would starts at the area's start instead.
        let skip = if at + size > capacity {
            capacity - at
        } else {
            0
        };
        if (self.head - self.tail) as usize + skip + size > capacity {
            return None;
        }
        let start = self.head + skip as u64;
        let offset = start as usize % capacity;
        // Readers learn of the block through their rings, whose release orders these before
        // the record that names it.
        self.region.word(offset).store(readers, Ordering::Relaxed);
        self.region
            .word(offset + WRITTEN_AT)
            .store(0, Ordering::Relaxed);
        self.head = start + size as u64;
        self.blocks.push_back((start, self.head));
        Some(Block { offset, len })
    }

    /// Writes `payload` into `block`, reserved for it, chunk by chunk, saying after each how
    /// far it got.
    pub(crate) fn fill(&mut self, block: Block, payload: &[u8]) {
        assert_eq!(
            payload.len(),
            block.len,
            "a block is filled with its payload"
        );
        let offset = block.offset;
        let always_streaming = payload.len() <= STREAMING_UP_TO;
        if !always_streaming {
            self.long_writes.start_block();
        }
        for (i, chunk) in payload.chunks(FILL_CHUNK).enumerate() {
            let at = offset + PAYLOAD_AT + i * FILL_CHUNK;
            let region = &self.region;
            // SAFETY: the block was reserved in this area for this many bytes, so the range
            // lies in the area (a block does not wrap), and readers read only what the count
            // below says is written.
            let write = |streaming| unsafe {
                match streaming {
                    true => region.write_streaming(at, chunk),
                    false => region.write(at, chunk),
                }
            };
            match always_streaming {
                true => write(true),
                false => self.long_writes.write_chunk(chunk.len(), write),
            }
            // Release: the chunk is written before a reader that sees the count copies it.
            self.region
                .word(offset + WRITTEN_AT)
                .store((i * FILL_CHUNK + chunk.len()) as u64, Ordering::Release);
        }
    }

    /// [`FanoutArea::reserve`] and [`FanoutArea::fill`] in one.
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn publish(&mut self, payload: &[u8], readers: u64, gone: u64) -> Option<usize> {
        let block = self.reserve(payload.len(), readers, gone)?;
        let offset = block.offset();
        self.fill(block, payload);
        Some(offset)
    }

    /// Takes back the oldest blocks whose readers are all done or `gone`.
    fn take_back(&mut self, gone: u64) {
        let capacity = self.region.capacity();
        while let Some(&(start, end)) = self.blocks.front() {
            let readers = self.region.word(start as usize % capacity);
            // Acquire: the readers' copies are done before the block is written again.
            if readers.load(Ordering::Acquire) & !gone != 0 {
                break;
            }
            self.blocks.pop_front();
            self.tail = end;
        }
        if self.blocks.is_empty() {
            // Start over at the area's start, where the next large block has the most room.
            self.head = self.head.next_multiple_of(capacity as u64);
            self.tail = self.head;
        }
    }
}

/// A payload a peer fanned out to this rank: it stays in the peer's area until the receive
/// that matches it copies it out, or it is dropped unread; either way this rank then
/// clears its bit, and the peer may take the block back.
pub(crate) struct FannedPayload<R: Region> {
    /// The sender's rank, and its area.
    peer: usize,
    area: R,
    /// Where the block starts in the area, and the payload's length.
    offset: usize,
    len: usize,
    /// This rank's bit.
    bit: u64,
    /// The sender's process, to check on while waiting for it (none in tests).
    writer: Option<Pid>,
    /// Ranks have cores of their own: spin rather than yield while waiting.
    spinning: bool,
    released: bool,
}

impl<R: Region> std::fmt::Debug for FannedPayload<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FannedPayload")
            .field("peer", &self.peer)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<R: Region> FannedPayload<R> {
    /// The payload `peer` fanned out at `offset` of its `area`, for the reader whose bit
    /// is `bit`; an error saying why if the block does not lie inside the area. It waits
    /// for the rest of the payload as [`FannedPayload::waiting_for`] says.
    pub(crate) fn new(
        peer: usize,
        area: R,
        offset: u64,
        len: u64,
        bit: u64,
    ) -> std::result::Result<FannedPayload<R>, String> {
        let capacity = area.capacity() as u64;
        let fits = offset % LINE as u64 == 0
            && offset < capacity
            && len <= capacity
            && offset + block_size(len as usize) as u64 <= capacity;
        if !fits {
            return Err(format!(
                "fanned out {len} bytes at {offset}, outside its {capacity}-byte area"
            ));
        }
        Ok(FannedPayload {
            peer,
            area,
            offset: offset as usize,
            len: len as usize,
            bit,
            writer: None,
            spinning: false,
            released: false,
        })
    }

    /// Waits for the rest of the payload, while `writer` copies it in, spinning if ranks
    /// have cores of their own (else yielding), and checking that `writer` is alive.
    pub(crate) fn waiting_for(mut self, writer: Pid, spinning: bool) -> FannedPayload<R> {
        self.writer = Some(writer);
        self.spinning = spinning;
        self
    }

    fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            // Release: the copy is done before the sender may write the block again.
            self.area
                .word(self.offset)
                .fetch_and(!self.bit, Ordering::Release);
        }
    }

    /// Copies the payload to `out`, valid for `len` bytes of writes, and releases it.
    ///
    /// # Safety
    /// `out` is valid for `self.len` bytes of writes and nobody else touches it meanwhile.
    unsafe fn copy_to(&mut self, out: *mut u8) -> Result<()> {
        if self.released {
            return Err(Error::MalformedFrame {
                rank: self.peer,
                reason: "a fanned-out payload was read twice".into(),
            });
        }
        let written = self.area.word(self.offset + WRITTEN_AT);
        let mut copied = 0;
        let mut waiting_since = None;
        while copied < self.len {
            // Acquire: what the count says is written is there to copy.
            let ready = (written.load(Ordering::Acquire) as usize).min(self.len);
            if ready > copied {
                // SAFETY: the block lies in the area (checked in `new`); the sender wrote this
                // range and does not write it again while this rank's bit is set; `out` is
                // valid as the caller guarantees.
                unsafe {
                    let at = self.offset + PAYLOAD_AT + copied;
                    self.area.read(at, out.add(copied), ready - copied);
                }
                copied = ready;
                waiting_since = None;
                continue;
            }
            // The sender is still copying the rest in; only its death stops it.
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= sync::LIVENESS_CHECK {
                if !self.writer_alive() {
                    self.release();
                    return Err(Error::PeerLost { rank: self.peer });
                }
                waiting_since = None;
            }
            sync::pause(self.spinning);
        }
        self.release();
        Ok(())
    }

    fn writer_alive(&self) -> bool {
        match self.writer {
            Some(pid) => sync::alive(pid),
            None => true,
        }
    }
}

impl<R: Region + 'static> LentPayload for FannedPayload<R> {
    fn len(&self) -> usize {
        self.len
    }

    fn read_into(&mut self, out: &mut [u8]) -> Result<()> {
        assert_eq!(out.len(), self.len, "a lent payload is read whole");
        // SAFETY: `out` is exclusively borrowed for its length, which is `len`.
        unsafe { self.copy_to(out.as_mut_ptr()) }
    }

    fn read_onto(&mut self, out: &mut Vec<u8>) -> Result<()> {
        out.reserve(self.len);
        // SAFETY: the spare capacity is valid for `len` bytes of writes and exclusively ours.
        unsafe { self.copy_to(out.spare_capacity_mut().as_mut_ptr().cast())? };
        // SAFETY: `copy_to` wrote all `len` bytes.
        unsafe { out.set_len(out.len() + self.len) };
        Ok(())
    }
}

impl<R: Region> Drop for FannedPayload<R> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::ring::heap::region;

    fn read(payload: &mut FannedPayload<impl Region + 'static>) -> Vec<u8> {
        let mut out = Vec::new();
        payload.read_onto(&mut out).unwrap();
        out
    }

    /// Blocks come back once their readers are done, oldest first, and the area is
    /// reused from its start once all are back.
    #[test]
    fn blocks_come_back_when_their_readers_are_done() {
        let memory = region(8); // 512 bytes: two blocks of 100 bytes (256 each) fill it
        let mut area = FanoutArea::new(memory.clone());
        let first = area.publish(&[1; 100], 0b110, 0).unwrap();
        let second = area.publish(&[2; 100], 0b010, 0).unwrap();
        assert_eq!((first, second), (0, 256));
        assert_eq!(area.publish(&[3; 100], 0b010, 0), None, "no room yet");

        let mut a = FannedPayload::new(0, memory.clone(), first as u64, 100, 0b010).unwrap();
        let mut b = FannedPayload::new(0, memory.clone(), first as u64, 100, 0b100).unwrap();
        assert_eq!(read(&mut a), vec![1; 100]);
        assert_eq!(
            area.publish(&[3; 100], 0b010, 0),
            None,
            "one reader is not done"
        );
        drop(b.read_into(&mut [0; 100]));
        assert!(
            b.read_into(&mut [0; 100]).is_err(),
            "a payload is read once"
        );
        // The first block is back: the third goes where it was.
        assert_eq!(area.publish(&[3; 100], 0b010, 0), Some(0));

        // A reader that is gone holds nothing up; once every block is back, the next starts
        // at the area's start.
        drop(FannedPayload::new(0, memory.clone(), second as u64, 100, 0b010).unwrap());
        assert_eq!(area.publish(&[4; 300], 0b010, 0b010), Some(0));
        let mut d = FannedPayload::new(0, memory.clone(), 0, 300, 0b010).unwrap();
        assert_eq!(read(&mut d), vec![4; 300]);
    }

    #[test]
    fn a_payload_larger_than_the_area_is_not_fanned_out() {
        let mut area = FanoutArea::new(region(8));
        assert_eq!(area.publish(&[0; 385], 1, 0), None);
        assert_eq!(area.publish(&[0; 384], 1, 0), Some(0));
    }

    /// A reader told of a block before it is written copies behind the writer, and gets
    /// every byte.
    #[test]
    fn a_reader_copies_behind_the_writer() {
        let memory = region(1 << 12); // 256 KiB
        let mut area = FanoutArea::new(memory.clone());
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let block = area.reserve(payload.len(), 0b10, 0).unwrap();
        let mut reader =
            FannedPayload::new(0, memory.clone(), block.offset() as u64, 200_000, 0b10).unwrap();
        let reading = std::thread::spawn(move || read(&mut reader));
        area.fill(block, &payload);
        assert!(reading.join().unwrap() == payload);
    }

    /// A reader waiting for a writer that died gets `PeerLost`, and lets the block go.
    #[test]
    fn a_reader_waiting_for_a_dead_writer_gets_peer_lost() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = Pid::from_child(&child);
        child.wait().unwrap();
        let memory = region(8);
        let mut area = FanoutArea::new(memory.clone());
        let block = area.reserve(100, 0b10, 0).unwrap(); // never filled
        let reader = FannedPayload::new(4, memory.clone(), block.offset() as u64, 100, 0b10);
        let mut reader = reader.unwrap().waiting_for(dead, false);
        match reader.read_into(&mut [0; 100]) {
            Err(Error::PeerLost { rank: 4 }) => {}
            other => panic!("expected the writer lost, got {other:?}"),
        }
        assert_eq!(memory.word(block.offset()).load(Ordering::Relaxed), 0);
    }

    /// A record naming a block outside the area is refused, not read.
    #[test]
    fn blocks_outside_the_area_are_refused() {
        let memory = region(8);
        for (offset, len) in [
            (1, 10),
            (512, 0),
            (448, 0),
            (384, 1),
            (0, 385),
            (64, u64::MAX),
        ] {
            assert!(
                FannedPayload::new(3, memory.clone(), offset, len, 1).is_err(),
                "{offset} {len}"
            );
        }
        assert!(FannedPayload::new(3, memory, 384, 0, 1).is_ok());
    }
}
