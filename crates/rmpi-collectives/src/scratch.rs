//! A receive buffer for short collective messages, which each thread keeps for reuse.
//!
//! A collective that receives a short message into memory of its own, across an `await`,
//! would otherwise hold that memory in its future: every future around it grows by as much,
//! and each is copied whole when it is created and awaited. A [`Scratch`] is a pointer in
//! the future instead, taken from the thread's spare and given back when dropped, so a
//! steady stream of short collectives allocates nothing.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};

thread_local! {
    static SPARE: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

/// A buffer of at least the length asked for, the thread's spare while it is free.
pub(crate) struct Scratch(Box<[u8]>);

impl Scratch {
    /// This thread's spare, if it is free and holds `len` bytes; else a new buffer. Its
    /// bytes are whatever was left there.
    pub(crate) fn take(len: usize) -> Scratch {
        let spare = SPARE.try_with(Cell::take).ok().flatten();
        Scratch(match spare {
            Some(spare) if spare.len() >= len => spare,
            _ => vec![0; len].into_boxed_slice(),
        })
    }
}

impl Deref for Scratch {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Scratch {
    /// Becomes the spare of the thread it is dropped on (a future may move between
    /// threads), in place of the one that thread had.
    fn drop(&mut self) {
        // An empty box in its place allocates nothing.
        let buf = std::mem::take(&mut self.0);
        let _ = SPARE.try_with(|spare| spare.set(Some(buf)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_the_next_one_taken() {
        let mut first = Scratch::take(64);
        first[0] = 7;
        let address = first.as_ptr();
        drop(first);
        let again = Scratch::take(32);
        assert_eq!((again.as_ptr(), again[0]), (address, 7));
        // Taken: the next one is new, and long enough.
        let other = Scratch::take(128);
        assert_ne!(other.as_ptr(), address);
        assert!(other.len() >= 128);
    }

    #[test]
    fn a_spare_too_short_is_replaced() {
        drop(Scratch::take(8));
        let longer = Scratch::take(1024);
        assert_eq!(longer.len(), 1024);
    }
}
