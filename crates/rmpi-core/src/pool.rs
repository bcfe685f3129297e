//! Recycled memory for large payloads.
//!
//! A message of a megabyte allocated fresh for every send and every receive costs more in
//! page faults than in copying: the allocator hands large blocks back to the kernel when
//! they are freed, and the kernel zeroes every page again on first touch. Payloads of at
//! least [`POOLED_FROM`] bytes therefore come from this pool and return to it when their
//! last [`Bytes`] handle is dropped, so a steady stream of large messages reuses the same
//! warm pages, as an MPI library's preallocated buffers do.
//!
//! Blocks are kept per power-of-two size, up to a limit in all (the job's `pool_bytes`,
//! `RMPI_POOL_BYTES`: 256 MiB unless set; `0` turns the pool off); beyond that, blocks of
//! other sizes go back to the allocator to make room for the size being freed. The pool
//! is memory of the process, like the allocator's: a process running several jobs (tests,
//! [`crate::local`]) shares one pool, whose limit the last job to start set.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

use crate::lock;

/// Payloads smaller than this are allocated normally: the allocator serves them from
/// memory it keeps anyway.
pub const POOLED_FROM: usize = 64 << 10;

/// Size classes: powers of two from `POOLED_FROM` to 2^CLASSES times that.
const CLASSES: usize = 12;

struct Pool {
    free: Mutex<Shelves>,
    limit: AtomicUsize,
}

struct Shelves {
    by_class: [Vec<Vec<u8>>; CLASSES],
    bytes: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        free: Mutex::new(Shelves {
            by_class: Default::default(),
            bytes: 0,
        }),
        limit: AtomicUsize::new(crate::config::Config::default().pool_bytes),
    })
}

/// Keeps at most `bytes` for reuse from now on (a job's `pool_bytes`).
pub fn set_limit(bytes: usize) {
    pool().limit.store(bytes, Ordering::Relaxed);
}

/// The class whose blocks hold `len` bytes, if such blocks are pooled.
fn class_of(len: usize) -> Option<usize> {
    if len < POOLED_FROM {
        return None;
    }
    let class = len.next_power_of_two().trailing_zeros() - POOLED_FROM.trailing_zeros();
    (class < CLASSES as u32).then_some(class as usize)
}

/// An empty vector with room for `len` bytes, recycled where possible.
pub fn vec_with_capacity(len: usize) -> Vec<u8> {
    let Some(class) = class_of(len) else {
        return Vec::with_capacity(len);
    };
    let pool = pool();
    let mut shelves = lock::unpoisoned(&pool.free);
    match shelves.by_class[class].pop() {
        Some(block) => {
            shelves.bytes -= block.capacity();
            block
        }
        None => Vec::with_capacity(POOLED_FROM << class),
    }
}

/// Turns a vector into [`Bytes`] that return its block to the pool when dropped.
pub fn into_bytes(vec: Vec<u8>) -> Bytes {
    if class_of(vec.capacity()).is_some() && vec.capacity().is_power_of_two() {
        Bytes::from_owner(Pooled(vec))
    } else {
        Bytes::from(vec)
    }
}

/// A copy of `bytes` in (possibly recycled) memory.
pub fn copy_of(bytes: &[u8]) -> Bytes {
    let mut vec = vec_with_capacity(bytes.len());
    vec.extend_from_slice(bytes);
    into_bytes(vec)
}

/// A pooled block inside [`Bytes`]; gives the block back on drop.
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut block = std::mem::take(&mut self.0);
        let Some(class) = class_of(block.capacity()) else {
            return;
        };
        block.clear();
        let pool = pool();
        let evicted =
            lock::unpoisoned(&pool.free).shelve(class, block, pool.limit.load(Ordering::Relaxed));
        drop(evicted); // back to the allocator, outside the lock
    }
}

impl Shelves {
    /// Keeps `block` (of size class `class`) for reuse, making room within `limit` bytes by
    /// giving up blocks of other sizes, smallest first: the size being freed now is the one
    /// in use, and a program that moves on to larger messages should not find the pool full
    /// of the sizes it used before. Returns what it gave up (with `block` itself if the pool
    /// holds only its size, or it is larger than the limit).
    fn shelve(&mut self, class: usize, block: Vec<u8>, limit: usize) -> Vec<Vec<u8>> {
        let size = block.capacity();
        if size > limit {
            return vec![block];
        }
        let mut evicted = Vec::new();
        for other in (0..CLASSES).filter(|&c| c != class) {
            while self.bytes + size > limit {
                let Some(old) = self.by_class[other].pop() else {
                    break;
                };
                self.bytes -= old.capacity();
                evicted.push(old);
            }
        }
        if self.bytes + size <= limit {
            self.bytes += size;
            self.by_class[class].push(block);
        } else {
            evicted.push(block); // the rest of the pool is blocks of this size
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_payloads_are_not_pooled() {
        assert_eq!(class_of(100), None);
        assert_eq!(class_of(POOLED_FROM - 1), None);
        assert_eq!(class_of(POOLED_FROM), Some(0));
        assert_eq!(class_of(POOLED_FROM + 1), Some(1));
    }

    #[test]
    fn a_full_pool_makes_room_for_the_size_in_use() {
        let mut shelves = Shelves {
            by_class: Default::default(),
            bytes: 0,
        };
        let block = |class: usize| Vec::<u8>::with_capacity(POOLED_FROM << class);
        let limit = 4 * POOLED_FROM;
        assert!(shelves.shelve(0, block(0), limit).is_empty());
        assert!(shelves.shelve(0, block(0), limit).is_empty());
        assert!(shelves.shelve(1, block(1), limit).is_empty());
        // Full: a class-1 block pushes out both class-0 blocks, not itself.
        let evicted = shelves.shelve(1, block(1), limit);
        assert_eq!(evicted.len(), 2);
        assert!(evicted.iter().all(|b| b.capacity() == POOLED_FROM));
        assert_eq!(shelves.by_class[1].len(), 2);
        assert_eq!(shelves.bytes, limit);
        // A block larger than the whole pool is not kept, and nothing is given up for it.
        let evicted = shelves.shelve(3, block(3), limit);
        assert_eq!(evicted.len(), 1);
        assert_eq!(shelves.bytes, limit);
    }

    #[test]
    fn blocks_come_back() {
        let len = (3 << 20) + 5;
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let first = copy_of(&data);
        assert_eq!(&first[..], &data[..]);
        drop(first);
        let again = copy_of(&data[..len - 7]);
        assert_eq!(&again[..], &data[..len - 7]);
        let clone = again.clone();
        drop(again);
        assert_eq!(clone.len(), len - 7);
    }
}
