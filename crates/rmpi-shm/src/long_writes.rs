//! Long payloads copied into lines that another core reads next (a ring's records, a
//! fan-out block): with plain stores while those are quick, streaming (see
//! [`crate::streaming`]) for a while once they were slow.
//!
//! Plain stores into lines another core read last must take each line back from that core
//! first, and how long that takes depends on where the host placed the two cores, which
//! changes by the minute on a virtual machine: in slow minutes plain stores took several
//! times as long as streaming ones, in quick minutes less. Where the lines come back
//! quickly plain stores win, as the reader finds the payload in the writer's cache.
//!
//! So the writer times its first plain chunks of each payload, and streams the rest of it,
//! and its next [`STREAMING_BLOCKS`] payloads, once [`SLOW_CHUNKS`] in a row were slow.

use std::time::{Duration, Instant};

/// Chunks of fewer bytes are not timed: a payload's last, or what fitted in a ring.
pub(crate) const TIMED_CHUNK: usize = 16 << 10;

/// A plain chunk of [`TIMED_CHUNK`] bytes slower than this says the lines are coming back
/// from the other core one by one: well above what streaming takes for a chunk, and above
/// the slower plain chunks that still paid off where ranks share cores.
pub(crate) const SLOW_PLAIN_CHUNK: Duration = Duration::from_micros(4);

/// Slow plain chunks in a row that make a payload go on streaming: one alone may be a rank
/// that lost its core midway.
const SLOW_CHUNKS: u32 = 2;

/// Plain chunks timed at the start of each payload; the rest of it goes untimed (reading
/// the clock twice costs some 5 % of a quick chunk here), as the machine's mode changes by
/// the minute, not within a payload.
const TIMED_PER_BLOCK: u32 = 4;

/// Payloads written streaming after slow plain chunks, before plain stores are tried again.
pub(crate) const STREAMING_BLOCKS: u32 = 32;

/// One writer's memory of how its plain stores fared; see the module's doc.
#[derive(Debug, Default)]
pub(crate) struct LongWrites {
    /// Payloads still to be written streaming before plain stores are tried again.
    streaming_for: u32,
    /// The payload being written streams from here on.
    streaming: bool,
    /// Slow plain chunks in a row in the payload being written.
    slow_in_a_row: u32,
    /// Plain chunks of it timed so far.
    timed: u32,
}

impl LongWrites {
    /// A payload's writing starts: whether it streams from its start; counts it.
    pub(crate) fn start_block(&mut self) -> bool {
        self.slow_in_a_row = 0;
        self.timed = 0;
        self.streaming = self.streaming_for > 0;
        self.streaming_for = self.streaming_for.saturating_sub(1);
        self.streaming
    }

    /// Writes the payload's next chunk, `len` bytes, with `write`, telling it whether to
    /// stream, and timing it if plain and among the payload's first.
    pub(crate) fn write_chunk<T>(&mut self, len: usize, write: impl FnOnce(bool) -> T) -> T {
        if self.streaming || self.timed >= TIMED_PER_BLOCK || len < TIMED_CHUNK {
            return write(self.streaming);
        }
        let started = Instant::now();
        let written = write(false);
        self.timed += 1;
        self.plain_was_slow(started.elapsed());
        written
    }

    /// Counts a plain chunk of [`TIMED_CHUNK`] bytes or more that took `took`: after
    /// [`SLOW_CHUNKS`] slow ones in a row the payload goes on streaming, and so do the next
    /// [`STREAMING_BLOCKS`].
    fn plain_was_slow(&mut self, took: Duration) {
        self.slow_in_a_row = if took > SLOW_PLAIN_CHUNK {
            self.slow_in_a_row + 1
        } else {
            0
        };
        if self.slow_in_a_row >= SLOW_CHUNKS {
            self.streaming = true;
            self.streaming_for = STREAMING_BLOCKS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a chunk of `len` bytes whose plain writing takes `took`; whether it streamed.
    fn chunk(writes: &mut LongWrites, len: usize, took: Duration) -> bool {
        writes.write_chunk(len, |streaming| {
            if !streaming {
                std::thread::sleep(took);
            }
            streaming
        })
    }

    /// Slow plain chunks in a row make the rest of their payload, and the next payloads,
    /// stream; plain stores are tried again after them. A quick chunk, one slow chunk
    /// alone, a short one (a payload's last), or one past those timed changes nothing.
    #[test]
    fn long_writes_stream_for_a_while_after_slow_plain_chunks() {
        let quick = Duration::ZERO;
        let slow = SLOW_PLAIN_CHUNK * 2;
        let mut writes = LongWrites::default();
        assert!(!writes.start_block(), "plain stores first");
        assert!(!chunk(&mut writes, TIMED_CHUNK, quick));
        assert!(!chunk(&mut writes, TIMED_CHUNK, slow), "one alone");
        assert!(!chunk(&mut writes, TIMED_CHUNK, quick));
        assert!(!chunk(&mut writes, TIMED_CHUNK / 2, slow));
        assert!(!chunk(&mut writes, TIMED_CHUNK, slow));
        assert!(!chunk(&mut writes, TIMED_CHUNK, quick), "still plain");
        assert!(!chunk(&mut writes, TIMED_CHUNK, slow), "not timed");
        assert!(!chunk(&mut writes, TIMED_CHUNK, slow), "not timed either");
        assert!(!writes.start_block());
        assert!(
            !chunk(&mut writes, TIMED_CHUNK, slow),
            "a new payload counts anew"
        );
        assert!(!chunk(&mut writes, TIMED_CHUNK, slow));
        assert!(chunk(&mut writes, TIMED_CHUNK, quick), "the rest streams");
        for _ in 0..STREAMING_BLOCKS {
            assert!(writes.start_block());
            assert!(chunk(&mut writes, TIMED_CHUNK, quick));
        }
        assert!(!writes.start_block(), "plain stores are tried again");
        assert!(!chunk(&mut writes, TIMED_CHUNK, quick));
    }
}
