//! A ring on the heap, for tests and the loom model.

use super::*;

struct Owned(RingHeader);

impl HeaderRef for Owned {
    fn get(&self) -> &RingHeader {
        &self.0
    }
}

/// Outside loom, a region laid out as in the segment: each line's word is its first
/// eight bytes, so stale bytes of earlier laps lie where words are read.
#[cfg(not(feature = "loom"))]
pub(crate) struct Cells {
    words: Box<[AtomicU64]>,
}

/// Under loom, bytes and apart from them one word per line: loom models the protocol,
/// not the aliasing.
#[cfg(feature = "loom")]
pub(crate) struct Cells {
    bytes: Box<[loom::cell::UnsafeCell<u8>]>,
    words: Box<[AtomicU64]>,
}

// SAFETY: the ring protocol gives each byte one writer at a time and orders writes
// before reads through the words (which loom checks, under loom).
unsafe impl Sync for Cells {}
// SAFETY: as above; the cells hold plain bytes.
unsafe impl Send for Cells {}

#[cfg(not(feature = "loom"))]
impl Cells {
    fn new(lines: usize) -> Cells {
        let words = (0..lines * LINE / 8).map(|_| AtomicU64::new(0)).collect();
        Cells { words }
    }

    fn base(&self) -> *mut u8 {
        self.words.as_ptr() as *mut u8
    }
}

#[cfg(not(feature = "loom"))]
impl Region for Cells {
    fn capacity(&self) -> usize {
        self.words.len() * 8
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        &self.words[offset / 8]
    }

    unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: in bounds and exclusively ours, as the caller guarantees; atomics
        // have the layout of plain integers.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base().add(offset), bytes.len())
        }
    }

    /// As the segment writes streaming, so that tests go the same way.
    unsafe fn write_streaming(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: as for `write`.
        unsafe { crate::streaming::copy(bytes, self.base().add(offset)) }
    }

    unsafe fn read(&self, offset: usize, out: *mut u8, len: usize) {
        // SAFETY: in bounds and not written meanwhile, as the caller guarantees.
        unsafe { std::ptr::copy_nonoverlapping(self.base().add(offset), out, len) }
    }
}

#[cfg(feature = "loom")]
impl Cells {
    fn new(lines: usize) -> Cells {
        let bytes = (0..lines * LINE)
            .map(|_| loom::cell::UnsafeCell::new(0))
            .collect();
        let words = (0..lines).map(|_| AtomicU64::new(0)).collect();
        Cells { bytes, words }
    }
}

#[cfg(feature = "loom")]
impl Region for Cells {
    fn capacity(&self) -> usize {
        self.bytes.len()
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        &self.words[offset / LINE]
    }

    unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        for (i, &byte) in bytes.iter().enumerate() {
            // SAFETY: the caller guarantees exclusive access; loom checks it.
            self.bytes[offset + i].with_mut(|cell| unsafe { *cell = byte });
        }
    }

    unsafe fn read(&self, offset: usize, out: *mut u8, len: usize) {
        for i in 0..len {
            // SAFETY: the caller guarantees nobody writes this byte meanwhile and that
            // `out` has room for `len` bytes; loom checks the cell access.
            self.bytes[offset + i].with(|cell| unsafe { out.add(i).write(*cell) });
        }
    }
}

/// A fresh heap region of `lines` cache lines, to share (a fan-out area).
pub(crate) fn region(lines: usize) -> Arc<Cells> {
    Arc::new(Cells::new(lines))
}

/// A producer and consumer sharing a fresh heap ring of `lines` cache lines.
pub(crate) fn ring(lines: usize) -> (Producer<Cells>, Consumer<Cells>) {
    let header: Arc<dyn HeaderRef> = Arc::new(Owned(RingHeader::default()));
    let region = Arc::new(Cells::new(lines));
    let memory = RingMemory::new(header, region);
    (Producer::new(memory.clone()), Consumer::new(memory))
}
