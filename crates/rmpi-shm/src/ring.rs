//! A single-producer single-consumer byte ring in shared memory.
//!
//! The producer owns `tail` and the consumer owns `head`, both byte counts that only grow
//! (a `u64` never wraps in practice), on cache lines of their own so that the two sides do
//! not invalidate each other's line with every update. Each side also keeps a private copy
//! of the other's index and reads the shared one only when its copy says the ring is full
//! (or empty), so a steady stream costs one shared read per batch, not per message.
//!
//! Ordering: the producer copies bytes in, then publishes `tail` with `Release`; the consumer
//! reads `tail` with `Acquire` before copying out, then publishes `head` with `Release`; the
//! producer reads `head` with `Acquire` before overwriting. Bytes are therefore never read
//! before they are written nor overwritten before they are read.
//!
//! The ring carries a byte stream: records may wrap around the end and may be written or
//! read in several pieces, which is how messages larger than the ring stream through it.

use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

/// A shared index on a cache line of its own.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) value: AtomicU64,
}

/// The shared part of a ring: producer and consumer positions.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RingHeader {
    pub(crate) tail: Index,
    pub(crate) head: Index,
}

/// The ring's data bytes. Implementations give raw access; the ring protocol decides when
/// each byte may be touched.
pub(crate) trait Region: Send + Sync {
    /// Bytes in the region, a power of two.
    fn capacity(&self) -> usize;

    /// Copies `bytes` to `offset..offset + bytes.len()`.
    ///
    /// # Safety
    /// The range is in bounds and no other party reads or writes it meanwhile.
    unsafe fn write(&self, offset: usize, bytes: &[u8]);

    /// Copies `offset..offset + len` to `out`.
    ///
    /// # Safety
    /// The range is in bounds and nobody writes it meanwhile; `out` is valid for `len`
    /// bytes of writes (it need not be initialized).
    unsafe fn read(&self, offset: usize, out: *mut u8, len: usize);
}

/// Where a ring lives: its header and its data region.
#[derive(Clone)]
pub(crate) struct RingMemory {
    header: Arc<dyn HeaderRef>,
    region: Arc<dyn Region>,
}

/// Access to a [`RingHeader`] that lives as long as the holder.
pub(crate) trait HeaderRef: Send + Sync {
    fn get(&self) -> &RingHeader;
}

impl RingMemory {
    pub(crate) fn new(header: Arc<dyn HeaderRef>, region: Arc<dyn Region>) -> RingMemory {
        debug_assert!(region.capacity().is_power_of_two());
        RingMemory { header, region }
    }

    fn header(&self) -> &RingHeader {
        self.header.get()
    }
}

/// The writing end. There must be exactly one per ring.
pub(crate) struct Producer {
    memory: RingMemory,
    mask: u64,
    tail: u64,
    cached_head: u64,
}

impl Producer {
    pub(crate) fn new(memory: RingMemory) -> Producer {
        let header = memory.header();
        let tail = header.tail.value.load(Ordering::Relaxed);
        let cached_head = header.head.value.load(Ordering::Acquire);
        let mask = memory.region.capacity() as u64 - 1;
        Producer {
            memory,
            mask,
            tail,
            cached_head,
        }
    }

    fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// Bytes that can be written now.
    pub(crate) fn free(&mut self) -> usize {
        let mut free = self.capacity() - (self.tail - self.cached_head);
        if free == 0 || free < self.capacity() / 4 {
            self.cached_head = self.memory.header().head.value.load(Ordering::Acquire);
            free = self.capacity() - (self.tail - self.cached_head);
        }
        free as usize
    }

    /// Copies as much of `bytes` as fits without publishing it; returns how much.
    pub(crate) fn stage(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        let start = (self.tail & self.mask) as usize;
        let first = n.min(self.capacity() as usize - start);
        // SAFETY: `start..start + first` and `0..n - first` lie in the region and between
        // the consumer's published head and our tail plus free space, which the consumer
        // does not read until we publish a tail past them.
        unsafe {
            self.memory.region.write(start, &bytes[..first]);
            self.memory.region.write(0, &bytes[first..n]);
        }
        self.tail += n as u64;
        n
    }

    /// Makes everything staged visible to the consumer.
    pub(crate) fn publish(&mut self) {
        self.memory
            .header()
            .tail
            .value
            .store(self.tail, Ordering::Release);
    }
}

/// The reading end. There must be exactly one per ring.
pub(crate) struct Consumer {
    memory: RingMemory,
    mask: u64,
    head: u64,
    cached_tail: u64,
}

impl Consumer {
    pub(crate) fn new(memory: RingMemory) -> Consumer {
        let header = memory.header();
        let head = header.head.value.load(Ordering::Relaxed);
        let cached_tail = header.tail.value.load(Ordering::Acquire);
        let mask = memory.region.capacity() as u64 - 1;
        Consumer {
            memory,
            mask,
            head,
            cached_tail,
        }
    }

    /// Bytes that can be read now.
    pub(crate) fn available(&mut self) -> usize {
        if self.cached_tail == self.head {
            self.cached_tail = self.memory.header().tail.value.load(Ordering::Acquire);
        }
        (self.cached_tail - self.head) as usize
    }

    /// Bytes readable now, looking at the producer's index even if the cached one says some.
    pub(crate) fn available_fresh(&mut self) -> usize {
        self.cached_tail = self.memory.header().tail.value.load(Ordering::Acquire);
        (self.cached_tail - self.head) as usize
    }

    /// Copies exactly `out.len()` bytes out if that many are available; they stay in the
    /// ring (see [`Consumer::consume`]).
    pub(crate) fn peek(&mut self, out: &mut [u8]) -> bool {
        if self.available() < out.len() && self.available_fresh() < out.len() {
            return false;
        }
        // SAFETY: `out` is valid for its length.
        unsafe { self.copy_to(out.as_mut_ptr(), out.len()) };
        true
    }

    /// Copies up to `out.len()` bytes out and consumes them; returns how many.
    #[cfg(any(test, rmpi_loom))]
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.available());
        // SAFETY: `out` is valid for `n <= out.len()` bytes.
        unsafe { self.copy_to(out.as_mut_ptr(), n) };
        self.head += n as u64;
        n
    }

    /// Like [`Consumer::read`] into memory not yet initialized (a vector's spare capacity):
    /// the first `n` bytes of `out` are initialized when it returns `n`.
    pub(crate) fn read_uninit(&mut self, out: &mut [std::mem::MaybeUninit<u8>]) -> usize {
        let n = out.len().min(self.available());
        // SAFETY: `out` is valid for `n <= out.len()` bytes of writes.
        unsafe { self.copy_to(out.as_mut_ptr().cast(), n) };
        self.head += n as u64;
        n
    }

    /// Consumes `n` bytes already looked at with [`Consumer::peek`].
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n as u64 <= self.cached_tail - self.head);
        self.head += n as u64;
    }

    /// Copies the `n` bytes at the head to `out`.
    ///
    /// # Safety
    /// `out` is valid for `n` bytes of writes, and `n` bytes are available.
    unsafe fn copy_to(&self, out: *mut u8, n: usize) {
        let start = (self.head & self.mask) as usize;
        let first = n.min(self.mask as usize + 1 - start);
        // SAFETY: the bytes lie between our head and the producer's published tail, which
        // the producer does not overwrite until we publish a head past them; `out` is valid
        // for `first + (n - first)` bytes.
        unsafe {
            self.memory.region.read(start, out, first);
            self.memory.region.read(0, out.add(first), n - first);
        }
    }

    /// Hands everything consumed back to the producer.
    pub(crate) fn release(&mut self) {
        self.memory
            .header()
            .head
            .value
            .store(self.head, Ordering::Release);
    }
}

/// A look at a ring from outside its consumer, without its lock: whether it holds bytes the
/// consumer has not released yet. A hint for deciding whether to look closer: it may say
/// yes while the consumer is between reading and releasing, never no while bytes wait.
#[derive(Clone)]
pub(crate) struct Glance {
    memory: RingMemory,
}

impl Glance {
    pub(crate) fn new(memory: RingMemory) -> Glance {
        Glance { memory }
    }

    pub(crate) fn unreleased(&self) -> bool {
        let header = self.memory.header();
        header.tail.value.load(Ordering::Acquire) != header.head.value.load(Ordering::Relaxed)
    }
}

/// A ring on the heap, for tests and the loom model.
#[cfg(any(test, rmpi_loom))]
pub(crate) mod heap {
    use super::*;

    struct Owned(RingHeader);

    impl HeaderRef for Owned {
        fn get(&self) -> &RingHeader {
            &self.0
        }
    }

    #[cfg(not(rmpi_loom))]
    struct Cells(Box<[std::cell::UnsafeCell<u8>]>);

    #[cfg(rmpi_loom)]
    struct Cells(Box<[loom::cell::UnsafeCell<u8>]>);

    // SAFETY: the ring protocol gives each byte one writer at a time and orders writes
    // before reads through the indices (which loom checks, under loom).
    unsafe impl Sync for Cells {}
    // SAFETY: as above; the cells hold plain bytes.
    unsafe impl Send for Cells {}

    impl Region for Cells {
        fn capacity(&self) -> usize {
            self.0.len()
        }

        unsafe fn write(&self, offset: usize, bytes: &[u8]) {
            for (i, &byte) in bytes.iter().enumerate() {
                #[cfg(not(rmpi_loom))]
                // SAFETY: the caller guarantees exclusive access to this byte.
                unsafe {
                    *self.0[offset + i].get() = byte;
                }
                #[cfg(rmpi_loom)]
                // SAFETY: the caller guarantees exclusive access; loom checks it.
                self.0[offset + i].with_mut(|cell| unsafe { *cell = byte });
            }
        }

        unsafe fn read(&self, offset: usize, out: *mut u8, len: usize) {
            for i in 0..len {
                #[cfg(not(rmpi_loom))]
                // SAFETY: the caller guarantees nobody writes this byte meanwhile and that
                // `out` has room for `len` bytes.
                unsafe {
                    out.add(i).write(*self.0[offset + i].get());
                }
                #[cfg(rmpi_loom)]
                // SAFETY: as above; loom checks the cell access.
                self.0[offset + i].with(|cell| unsafe { out.add(i).write(*cell) });
            }
        }
    }

    /// A producer and consumer sharing a fresh heap ring of `capacity` bytes.
    pub(crate) fn ring(capacity: usize) -> (Producer, Consumer) {
        let header: Arc<dyn HeaderRef> = Arc::new(Owned(RingHeader::default()));
        #[cfg(not(rmpi_loom))]
        let cells = (0..capacity)
            .map(|_| std::cell::UnsafeCell::new(0))
            .collect();
        #[cfg(rmpi_loom)]
        let cells = (0..capacity)
            .map(|_| loom::cell::UnsafeCell::new(0))
            .collect();
        let region: Arc<dyn Region> = Arc::new(Cells(cells));
        let memory = RingMemory::new(header, region);
        (Producer::new(memory.clone()), Consumer::new(memory))
    }
}

#[cfg(all(test, not(rmpi_loom)))]
mod tests {
    use super::heap::ring;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let (mut producer, mut consumer) = ring(16);
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut next = 0u8;
        for round in 0..200 {
            let chunk: Vec<u8> = (0..(round % 13 + 1))
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            let mut sent = 0;
            while sent < chunk.len() {
                sent += producer.stage(&chunk[sent..]);
                producer.publish();
                let mut out = [0u8; 5];
                let n = consumer.read(&mut out);
                got.extend_from_slice(&out[..n]);
                consumer.release();
            }
            expected.extend_from_slice(&chunk);
        }
        loop {
            let mut out = [0u8; 16];
            let n = consumer.read(&mut out);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&out[..n]);
            consumer.release();
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn a_full_ring_takes_nothing_until_released() {
        let (mut producer, mut consumer) = ring(8);
        assert_eq!(producer.stage(&[1; 10]), 8);
        producer.publish();
        assert_eq!(producer.stage(&[2; 1]), 0);
        let mut out = [0u8; 3];
        assert!(consumer.peek(&mut out));
        consumer.consume(3);
        assert_eq!(producer.stage(&[2; 1]), 0, "not released yet");
        consumer.release();
        assert_eq!(producer.stage(&[2; 5]), 3);
    }
}
