//! Copies with streaming (non-temporal) stores, for memory that other cores read next.
//!
//! Writing a line that another core has read since this one last wrote it asks that core to
//! give its copy up first, one line at a time: on virtual machines, where the host places
//! the two cores decides how much that costs, and it can make such a copy many times slower
//! than a plain one. Streaming stores write around the caches and drop every copy of the
//! line without that exchange, and readers then read from memory instead of from the
//! writer's cache: a fan-out's readers, several of them, lose less than its one writer
//! gains.

/// Copies `bytes` to `to` with streaming stores where the processor has them, and makes
/// them visible before returning, as a copy with plain stores would be: a release store
/// after this orders them for readers.
///
/// # Safety
/// `to` is valid for `bytes.len()` bytes of writes, and no one else touches them meanwhile.
pub(crate) unsafe fn copy(bytes: &[u8], to: *mut u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's guarantees, passed on.
    unsafe {
        x86_64::copy(bytes, to)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's guarantees.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), to, bytes.len())
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};

    /// Bytes per step: one cache line, four 16-byte stores, which the processor combines
    /// into one write of the whole line.
    const STEP: usize = 64;

    /// SSE2, which every x86-64 processor has: wider stores move no more lines per second
    /// to memory.
    pub(super) unsafe fn copy(bytes: &[u8], to: *mut u8) {
        let len = bytes.len();
        // Streaming stores need 16-byte aligned destinations: plain ones up to the first.
        let head = (to as usize).wrapping_neg() % 16;
        let head = head.min(len);
        // SAFETY: `to` is valid for `len` bytes (the caller's guarantee), and every access
        // below lies in `0..len` of both; loads are unaligned, stores 16-byte aligned as
        // `head` makes them. SSE2 is part of x86-64.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), to, head);
            let mut at = head;
            while at + STEP <= len {
                let from = bytes.as_ptr().add(at).cast::<__m128i>();
                let into = to.add(at).cast::<__m128i>();
                for i in 0..STEP / 16 {
                    _mm_stream_si128(into.add(i), _mm_loadu_si128(from.add(i)));
                }
                at += STEP;
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(at), to.add(at), len - at);
            // Streaming stores are not ordered with later stores: fence them, so that the
            // caller's release store publishes them.
            _mm_sfence();
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every alignment and length around the step copies exactly.
    #[test]
    fn copies_every_byte_at_every_alignment() {
        let source: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
        for skew in 0..17 {
            for len in [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 200, 1000] {
                let mut out = vec![0u8; len + 32];
                let bytes = &source[skew..skew + len];
                // Every destination alignment, with untouched bytes either side.
                let at = skew % 16 + 1;
                // SAFETY: `out` has room for `len` bytes from `at`.
                unsafe { super::copy(bytes, out.as_mut_ptr().add(at)) };
                assert_eq!(&out[at..at + len], bytes, "skew {skew}, len {len}");
                assert!(out[..at].iter().all(|&b| b == 0), "wrote before");
                assert!(out[at + len..].iter().all(|&b| b == 0), "wrote after");
            }
        }
    }
}
