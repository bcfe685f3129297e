//! A single-producer single-consumer ring of records in shared memory.
//!
//! A record starts on a cache-line boundary with a *word* (a `u64`, never zero) that says
//! what it is and how long its body is; the body follows the word, through as many lines as
//! it needs. The producer writes the body, then the word with `Release`; the consumer polls
//! the word at its position with `Acquire` and, once it is non-zero, reads the body. A small
//! message is therefore one line that moves from the producer's core to the consumer's: there
//! is no separate tail index to read first.
//!
//! Nothing clears a word after it is read, so the consumer must never find a stale one from
//! an earlier lap where the next record will start. The producer sees to that: when it
//! publishes a record, the word of the line right after it (which must be free too) is
//! zero, and the `Release` of the record's word orders that zero before it. A record's
//! length is known only from its word, so stale bytes that happen to look like a word are
//! never read as one.
//!
//! The producer zeroes those words ahead, a few free lines at a time after it publishes,
//! not each one just before the record it follows: a store to a line the consumer read a
//! lap ago must first take it back from the consumer's core, and the record's word, stored
//! after it, would wait for that.
//!
//! Space goes back the usual way: the consumer publishes how far it has read (`head`, a byte
//! count that only grows, on a line of its own) and the producer keeps a cached copy, which
//! it refreshes only when the ring looks short of space. The consumer publishes once an
//! eighth of the ring is read, and whenever it finds no record to read.

use std::sync::Arc;

use crate::sync::{AtomicU64, Ordering};

/// Records start on boundaries of this many bytes (a cache line).
pub(crate) const LINE: usize = 64;

/// Bytes of a record taken by its word.
pub(crate) const WORD: usize = 8;

/// The bytes a record whose body has `body` bytes occupies in the ring.
pub(crate) fn record_size(body: usize) -> usize {
    (WORD + body).div_ceil(LINE) * LINE
}

/// A shared index on a cache line of its own.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) value: AtomicU64,
}

/// The shared part of a ring besides its records: how far the consumer has read.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RingHeader {
    pub(crate) head: Index,
}

/// The ring's record bytes. Implementations give raw access; the ring protocol decides when
/// each byte may be touched.
pub(crate) trait Region: Send + Sync {
    /// Bytes in the region, a power of two and a multiple of [`LINE`].
    fn capacity(&self) -> usize;

    /// The word at `offset`, a multiple of [`LINE`].
    fn word(&self, offset: usize) -> &AtomicU64;

    /// Copies `bytes` to `offset..offset + bytes.len()`.
    ///
    /// # Safety
    /// The range is in bounds, holds no word the consumer may be reading, and no other
    /// party reads or writes it meanwhile.
    unsafe fn write(&self, offset: usize, bytes: &[u8]);

    /// [`Region::write`], for lines other cores have read and will read next, where
    /// writing around the caches costs less (see [`crate::streaming`]).
    ///
    /// # Safety
    /// As for [`Region::write`].
    unsafe fn write_streaming(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { self.write(offset, bytes) }
    }

    /// Copies `offset..offset + len` to `out`.
    ///
    /// # Safety
    /// The range is in bounds and nobody writes it meanwhile; `out` is valid for `len`
    /// bytes of writes (it need not be initialized).
    unsafe fn read(&self, offset: usize, out: *mut u8, len: usize);
}

/// A shared region is a region: tests share a heap region between a fan-out area's writer
/// and its readers, as the segment's mapping is shared in rmpi.
#[cfg(any(test, feature = "loom"))]
impl<R: Region> Region for Arc<R> {
    fn capacity(&self) -> usize {
        (**self).capacity()
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        (**self).word(offset)
    }

    unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { (**self).write(offset, bytes) }
    }

    unsafe fn write_streaming(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { (**self).write_streaming(offset, bytes) }
    }

    unsafe fn read(&self, offset: usize, out: *mut u8, len: usize) {
        // SAFETY: the caller's guarantees, passed on.
        unsafe { (**self).read(offset, out, len) }
    }
}

/// Where a ring lives: its header and its record region. The region's type is a parameter,
/// not a trait object, so that every look at a word and every copy compiles to a plain
/// access: the segment's mapping in rmpi, heap cells in tests and the loom model.
pub(crate) struct RingMemory<R: Region> {
    header: Arc<dyn HeaderRef>,
    region: Arc<R>,
    /// The region's capacity less one, kept here as every look at a word needs it.
    mask: u64,
}

/// Access to a [`RingHeader`] that lives as long as the holder.
pub(crate) trait HeaderRef: Send + Sync {
    fn get(&self) -> &RingHeader;
}

// Not derived: that would ask `R: Clone`, where only the `Arc` is cloned.
impl<R: Region> Clone for RingMemory<R> {
    fn clone(&self) -> Self {
        RingMemory {
            header: self.header.clone(),
            region: self.region.clone(),
            mask: self.mask,
        }
    }
}

impl<R: Region> RingMemory<R> {
    pub(crate) fn new(header: Arc<dyn HeaderRef>, region: Arc<R>) -> RingMemory<R> {
        let capacity = region.capacity();
        debug_assert!(capacity.is_power_of_two() && capacity >= 4 * LINE);
        RingMemory {
            header,
            region,
            mask: capacity as u64 - 1,
        }
    }

    fn header(&self) -> &RingHeader {
        self.header.get()
    }

    fn word(&self, position: u64) -> &AtomicU64 {
        self.region.word((position & self.mask) as usize)
    }

    /// The largest body a single record can have in this ring: one that fills it but for
    /// the line after it, which the producer clears.
    pub(crate) fn max_body(&self) -> usize {
        self.region.capacity() - LINE - WORD
    }
}

/// Bytes a consumer of a ring of `capacity` bytes hands back at once when it releases
/// lazily (see [`Consumer::release`]).
fn lazy_release(capacity: u64) -> u64 {
    (capacity / 8).min(LAZY_RELEASE)
}

/// Lines whose words the producer zeroes ahead at once (see the module documentation).
const CLEAR_AHEAD: u64 = 8;

/// The writing end. There must be exactly one per ring.
pub(crate) struct Producer<R: Region> {
    memory: RingMemory<R>,
    mask: u64,
    tail: u64,
    cached_head: u64,
    /// Every line that starts after `tail` and before this has a zero word, unwritten since.
    cleared: u64,
}

impl<R: Region> Producer<R> {
    pub(crate) fn new(memory: RingMemory<R>) -> Producer<R> {
        let head = memory.header().head.value.load(Ordering::Acquire);
        let mask = memory.mask;
        Producer {
            memory,
            mask,
            tail: head,
            cached_head: head,
            cleared: head + LINE as u64,
        }
    }

    fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// Bytes written so far (a position that only grows).
    pub(crate) fn written(&self) -> u64 {
        self.tail
    }

    /// Bytes not holding unread records, refreshing the consumer's position only when the
    /// cached one leaves less than `wanted` (the consumer writes that line as it reads).
    fn free(&mut self, wanted: u64) -> u64 {
        let free = self.capacity() - (self.tail - self.cached_head);
        if free >= wanted {
            return free;
        }
        self.cached_head = self.memory.header().head.value.load(Ordering::Acquire);
        self.capacity() - (self.tail - self.cached_head)
    }

    /// Whether the consumer has handed back everything written but for what it may hold
    /// back lazily (see [`Consumer::release`]): it has read all of it.
    pub(crate) fn caught_up(&mut self) -> bool {
        let held_back = lazy_release(self.capacity()).saturating_sub(1);
        let wanted = self.capacity() - held_back;
        self.free(wanted) >= wanted
    }

    /// The largest body a record written now can have (zero if none fits), looking at the
    /// consumer's position only if the cached one leaves less than `wanted`.
    pub(crate) fn room(&mut self, wanted: usize) -> usize {
        let needed = (record_size(wanted) + LINE) as u64;
        (self.free(needed) as usize).saturating_sub(LINE + WORD)
    }

    /// Writes a record with word `word` (non-zero) and a body of `body` bytes, made of
    /// `parts` (each at its offset in the body; bytes no part covers are left as they are),
    /// if it fits; the consumer may read it as soon as this returns true.
    pub(crate) fn push(&mut self, word: u64, body: usize, parts: &[(usize, &[u8])]) -> bool {
        self.push_as(word, body, parts, false)
    }

    /// [`Producer::push`], writing the parts around the caches if `streaming` (see
    /// [`crate::long_writes`]).
    pub(crate) fn push_as(
        &mut self,
        word: u64,
        body: usize,
        parts: &[(usize, &[u8])],
        streaming: bool,
    ) -> bool {
        debug_assert!(word != 0);
        debug_assert!(parts.iter().all(|(at, part)| at + part.len() <= body));
        let size = record_size(body) as u64;
        // The line after the record is cleared too, so it must be free as well.
        if self.free(size + LINE as u64) < size + LINE as u64 {
            return false;
        }
        for &(at, part) in parts {
            self.copy_in(self.tail + (WORD + at) as u64, part, streaming);
        }
        self.publish(word, size);
        true
    }

    /// Writes a record of `word` and then `body`, whole lines (the body fills all but the
    /// word of them), if it fits: [`Producer::push`] for the smallest records, with one
    /// copy of known length.
    pub(crate) fn push_lines<const N: usize>(&mut self, word: u64, body: &[u8; N]) -> bool {
        const { assert!((WORD + N) % LINE == 0) };
        debug_assert!(word != 0);
        let size = (WORD + N) as u64;
        if self.free(size + LINE as u64) < size + LINE as u64 {
            return false;
        }
        let start = ((self.tail + WORD as u64) & self.mask) as usize;
        if start + N <= self.capacity() as usize {
            // SAFETY: the lines are the record's, between our tail and the consumer's
            // published head plus the ring's size, unread until its word is published, and
            // hold no word but the record's own; this copy does not wrap.
            unsafe { self.memory.region.write(start, body) };
        } else {
            self.copy_in(self.tail + WORD as u64, body, false);
        }
        self.publish(word, size);
        true
    }

    /// Publishes the record of `size` bytes written at the tail, whose word is `word`, and
    /// makes sure that the line after it has a zero word, better ahead than now.
    #[inline]
    fn publish(&mut self, word: u64, size: u64) {
        let next = self.tail + size;
        if next >= self.cleared {
            // Not cleared ahead (a record longer than what was): this one is on the way.
            self.memory.word(next).store(0, Ordering::Relaxed);
            self.cleared = next + LINE as u64;
        }
        self.memory.word(self.tail).store(word, Ordering::Release);
        self.tail = next;
        if self.cleared <= next + LINE as u64 {
            self.clear_ahead();
        }
    }

    /// Zeroes the words of up to [`CLEAR_AHEAD`] lines from `cleared` on, as far as the
    /// consumer has handed them back. They are ordered before the next record's word by its
    /// `Release`, as the word after a record must be.
    #[cold]
    fn clear_ahead(&mut self) {
        let free_until = self.cached_head + self.capacity();
        let until = free_until.min(self.tail + (CLEAR_AHEAD + 1) * LINE as u64);
        while self.cleared < until {
            self.memory.word(self.cleared).store(0, Ordering::Relaxed);
            self.cleared += LINE as u64;
        }
    }

    /// Copies `bytes` to the ring at byte position `at`, wrapping around its end.
    fn copy_in(&self, at: u64, bytes: &[u8], streaming: bool) {
        let start = (at & self.mask) as usize;
        let first = bytes.len().min(self.capacity() as usize - start);
        let region = &self.memory.region;
        // SAFETY: the bytes lie in the record being written, between our tail and the
        // consumer's published head plus the ring's size, which the consumer does not read
        // until the record's word is published; they hold no word but the record's own,
        // which `push` writes separately.
        let write = |offset, bytes| unsafe {
            match streaming {
                true => region.write_streaming(offset, bytes),
                false => region.write(offset, bytes),
            }
        };
        write(start, &bytes[..first]);
        if first < bytes.len() {
            write(0, &bytes[first..]);
        }
    }
}

/// Bytes a consumer reads before a lazy release hands them back: a producer streaming a
/// large payload into a full ring waits for no more than this, the time it takes to copy
/// it out (a few microseconds), not an eighth of a large ring.
pub(crate) const LAZY_RELEASE: u64 = 16 << 10;

/// The reading end. There must be exactly one per ring.
pub(crate) struct Consumer<R: Region> {
    memory: RingMemory<R>,
    mask: u64,
    head: u64,
    /// The head as last published to the producer.
    released: u64,
    /// The head, for [`Glance`]s, which look without holding the consumer.
    position: Arc<AtomicU64>,
}

impl<R: Region> Consumer<R> {
    pub(crate) fn new(memory: RingMemory<R>) -> Consumer<R> {
        let head = memory.header().head.value.load(Ordering::Relaxed);
        let mask = memory.mask;
        Consumer {
            memory,
            mask,
            head,
            released: head,
            position: Arc::new(AtomicU64::new(head)),
        }
    }

    /// The word of the record at the head, once its producer has published it.
    pub(crate) fn next_word(&self) -> Option<u64> {
        match self.memory.word(self.head).load(Ordering::Acquire) {
            0 => None,
            word => Some(word),
        }
    }

    /// The largest body a record can have in this ring; anything claiming more is garbage.
    pub(crate) fn max_body(&self) -> usize {
        self.memory.max_body()
    }

    /// Copies body bytes `skip..skip + out.len()` of the record at the head into `out`.
    /// The record's word must have been seen, and its body must be at least that long.
    pub(crate) fn read_body(&self, skip: usize, out: &mut [u8]) {
        // SAFETY: `out` is valid for its length.
        unsafe { self.copy_out(skip, out.as_mut_ptr(), out.len()) }
    }

    /// The first `N` body bytes of the record at the head, where `N` leaves the word's
    /// line no more than full: [`Consumer::read_body`] for a record's fixed part, as one
    /// copy of known length (a line never wraps around the ring's end).
    pub(crate) fn read_fixed<const N: usize>(&self) -> [u8; N] {
        const { assert!(WORD + N <= LINE) };
        let mut out = [0u8; N];
        let start = ((self.head + WORD as u64) & self.mask) as usize;
        // SAFETY: the bytes lie in the first line of the record at the head (its published
        // word ordered their writes before this read), which the producer does not touch
        // again until we publish a head past it; `out` is valid for `N` bytes.
        unsafe { self.memory.region.read(start, out.as_mut_ptr(), N) };
        out
    }

    /// Like [`Consumer::read_body`] into memory not yet initialized (a vector's spare
    /// capacity); all of `out` is initialized when it returns.
    pub(crate) fn read_body_uninit(&self, skip: usize, out: &mut [std::mem::MaybeUninit<u8>]) {
        // SAFETY: `out` is valid for its length in bytes of writes.
        unsafe { self.copy_out(skip, out.as_mut_ptr().cast(), out.len()) }
    }

    /// # Safety
    /// `out` is valid for `len` bytes of writes.
    unsafe fn copy_out(&self, skip: usize, out: *mut u8, len: usize) {
        debug_assert!(WORD + skip + len <= self.memory.region.capacity() - LINE);
        let start = ((self.head + (WORD + skip) as u64) & self.mask) as usize;
        let first = len.min(self.mask as usize + 1 - start);
        // SAFETY: the bytes lie in the record at the head (its published word ordered their
        // writes before this read), which the producer does not touch again until we
        // publish a head past it; `out` is valid for `first + (len - first)` bytes.
        unsafe {
            self.memory.region.read(start, out, first);
            if first < len {
                self.memory.region.read(0, out.add(first), len - first);
            }
        }
    }

    /// Moves past the record at the head, whose body has `body` bytes.
    pub(crate) fn advance(&mut self, body: usize) {
        self.head += record_size(body) as u64;
        self.position.store(self.head, Ordering::Relaxed);
    }

    /// Hands the space of every record moved past back to the producer; true if there was
    /// any (the producer may be waiting for it). With `lazily`, only once [`LAZY_RELEASE`]
    /// bytes or an eighth of the ring (if less) wait to go back: the producer reads the line
    /// this writes, and a line that moves between cores with every message costs both
    /// sides. A consumer that releases lazily must release eagerly before it stops reading
    /// (when it finds no record), so the producer never waits for more than that.
    #[inline]
    pub(crate) fn release(&mut self, lazily: bool) -> bool {
        let held = self.head - self.released;
        let enough = lazy_release(self.mask + 1);
        if held == 0 || lazily && held < enough {
            return false;
        }
        self.memory
            .header()
            .head
            .value
            .store(self.head, Ordering::Release);
        self.released = self.head;
        true
    }

    /// A look at this ring for others.
    pub(crate) fn glance(&self) -> Glance<R> {
        Glance {
            memory: self.memory.clone(),
            position: self.position.clone(),
        }
    }
}

/// A look at a ring from outside its consumer, without holding it: whether a record waits
/// at the consumer's position. A hint for deciding whether to look closer: it may say yes
/// for a record being read, never no for one published before the look.
pub(crate) struct Glance<R: Region> {
    memory: RingMemory<R>,
    position: Arc<AtomicU64>,
}

impl<R: Region> Glance<R> {
    pub(crate) fn waiting(&self) -> bool {
        let at = self.position.load(Ordering::Relaxed);
        self.memory.word(at).load(Ordering::Relaxed) != 0
    }
}

/// A ring on the heap, for tests and the loom model (itself a test).
#[cfg(test)]
pub(crate) mod heap;

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::heap::ring;
    use super::*;

    /// Reads the record at the head, if any: its word and body (whose length the test's
    /// words carry in their upper half).
    fn take(consumer: &mut Consumer<impl Region>) -> Option<(u64, Vec<u8>)> {
        let word = consumer.next_word()?;
        let mut body = vec![0; (word >> 32) as usize];
        consumer.read_body(0, &mut body);
        consumer.advance(body.len());
        Some((word, body))
    }

    fn word(tag: u64, len: usize) -> u64 {
        tag | (len as u64) << 32
    }

    #[test]
    fn records_come_out_whole_and_in_order_across_the_wrap_however_written() {
        let (mut producer, mut consumer) = ring(8);
        let mut expected = std::collections::VecDeque::new();
        let mut next = 0u8;
        for round in 1..400u64 {
            let body: Vec<u8> = (0..(round as usize * 7) % 150)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            let (head, tail) = body.split_at(body.len() / 3);
            let parts = [(0, head), (head.len(), tail)];
            // Every other record that fits one or two lines goes in whole, as small frames
            // do (two lines may wrap); every fifth other one is written around the caches,
            // as long payloads may be.
            let (mut line, mut lines) = ([0u8; LINE - WORD], [0u8; 2 * LINE - WORD]);
            let one = body.len() <= line.len();
            let whole = round % 2 == 0 && body.len() <= lines.len();
            match (whole, one) {
                (true, true) => line[..body.len()].copy_from_slice(&body),
                (true, false) => lines[..body.len()].copy_from_slice(&body),
                _ => {}
            }
            let streaming = round % 5 == 0;
            let push = |producer: &mut Producer<_>| match (whole, one) {
                (true, true) => producer.push_lines(word(round, body.len()), &line),
                (true, false) => producer.push_lines(word(round, body.len()), &lines),
                _ => producer.push_as(word(round, body.len()), body.len(), &parts, streaming),
            };
            while !push(&mut producer) {
                let (w, got) = take(&mut consumer).expect("a full ring holds records");
                assert_eq!(Some((w, got)), expected.pop_front());
                consumer.release(false);
            }
            expected.push_back((word(round, body.len()), body));
            if round % 3 == 0 {
                let (w, got) = take(&mut consumer).expect("one was pushed");
                assert_eq!(Some((w, got)), expected.pop_front());
                consumer.release(false);
            }
        }
        while let Some(record) = take(&mut consumer) {
            assert_eq!(Some(record), expected.pop_front());
        }
        assert!(expected.is_empty());
    }

    #[test]
    fn a_full_ring_takes_nothing_until_released() {
        let (mut producer, mut consumer) = ring(4);
        assert_eq!(producer.room(1), 3 * LINE - WORD);
        assert!(
            !producer.push(word(1, 3 * LINE), 3 * LINE, &[(0, &[1; 3 * LINE])]),
            "too big"
        );
        assert!(producer.push(word(1, 100), 100, &[(0, &[1; 100])]));
        assert_eq!(producer.room(LINE), LINE - WORD);
        assert!(!producer.push(word(2, LINE), LINE, &[(0, &[2; LINE])]));
        let glance = consumer.glance();
        assert!(glance.waiting());
        assert_eq!(take(&mut consumer).map(|(w, _)| w), Some(word(1, 100)));
        assert!(!glance.waiting());
        assert!(
            !producer.push(word(2, LINE), LINE, &[(0, &[2; LINE])]),
            "not released yet"
        );
        assert!(consumer.release(false));
        assert!(!consumer.release(false), "nothing more to release");
        assert!(producer.push(word(2, LINE), LINE, &[(0, &[2; LINE])]));
        assert_eq!(take(&mut consumer), Some((word(2, LINE), vec![2; LINE])));
    }

    /// A producer sees its consumer caught up once everything written was read and handed
    /// back, or all but what the consumer may hold back lazily.
    #[test]
    fn a_consumer_is_caught_up_once_it_hands_back_what_it_read() {
        let lines = 4 * LAZY_RELEASE as usize / LINE;
        let (mut producer, mut consumer) = ring(lines);
        assert!(producer.caught_up(), "nothing written");
        let big = vec![1u8; LAZY_RELEASE as usize];
        assert!(producer.push(word(1, big.len()), big.len(), &[(0, &big)]));
        assert!(!producer.caught_up(), "unread");
        assert!(take(&mut consumer).is_some());
        assert!(!producer.caught_up(), "read, not handed back");
        assert!(consumer.release(false));
        assert!(producer.caught_up());
        assert!(producer.push(word(2, 8), 8, &[(0, &[2; 8])]));
        assert!(take(&mut consumer).is_some());
        assert!(!consumer.release(true), "held back lazily");
        assert!(producer.caught_up(), "what is held back lazily is read");
    }

    #[test]
    fn a_stale_word_from_an_earlier_lap_is_never_read() {
        // Bodies full of bytes that look like words, so that any line of an earlier lap
        // would read as a record if the producer did not clear the next record's word.
        let (mut producer, mut consumer) = ring(8);
        let lookalike = word(9, 1).to_le_bytes().repeat(32);
        for size in [150, 10, 70, 200, 1, 130, 60, 5, 190] {
            assert!(producer.push(word(1, size), size, &[(0, &lookalike[..size])]));
            assert_eq!(
                take(&mut consumer),
                Some((word(1, size), lookalike[..size].to_vec()))
            );
            assert_eq!(consumer.next_word(), None);
            consumer.release(false);
        }
    }

    #[test]
    fn words_cleared_ahead_hide_a_large_records_lookalike_bytes() {
        // A record as large as the ring leaves lookalike words on every line; then small
        // records come, their following words cleared ahead while space is handed back
        // (eagerly) and just in time while it is not (lazily, so the producer's view of the
        // free space stays short).
        let (mut producer, mut consumer) = ring(16);
        let lookalike = word(9, 1).to_le_bytes().repeat(16 * 8);
        for lazily in [false, true] {
            let big = consumer.max_body();
            assert!(producer.push(word(1, big), big, &[(0, &lookalike[..big])]));
            assert!(take(&mut consumer).is_some());
            consumer.release(false);
            for round in 0..40u8 {
                if !producer.push(word(2, 1), 1, &[(0, &[round])]) {
                    consumer.release(false);
                    assert!(producer.push(word(2, 1), 1, &[(0, &[round])]));
                }
                assert_eq!(take(&mut consumer), Some((word(2, 1), vec![round])));
                assert_eq!(consumer.next_word(), None, "round {round}");
                consumer.release(lazily);
            }
            consumer.release(false);
        }
    }
}
