//! The slot in shared memory where a lender and its borrower settle where a lent region is
//! read from, so that the lender can take its memory back before the borrower has read it
//! (see [`FastPaths::recall`]) without waiting for a borrower that may be busy elsewhere.
//!
//! A rank lending a region of its caller's memory takes a free slot of its own table,
//! marks it [`LENT`] and names it in the record. When a receive needs the payload, the
//! borrower claims the slot (`LENT` → [`READING`]), copies the region out of the lender's
//! memory and marks the slot [`READ`]. A lender that must have its memory back first
//! copies the region aside, publishes where the copy is, and moves the slot `LENT` →
//! [`MOVED`]; a borrower claiming it later reads the copy instead. If the borrower claimed it
//! first, the lender waits for `READ`: a copy under way is the only thing it ever waits for.
//! The slot is the lender's to use again once the borrower's release arrives.
//!
//! [`FastPaths::recall`]: rmpi_core::FastPaths::recall

use crate::sync::{AtomicU64, Ordering};

/// Lent: the region is read where it was lent, unless the lender moves it first.
pub(crate) const LENT: u64 = 1;
/// The borrower is copying the region out of the lender's memory.
pub(crate) const READING: u64 = 2;
/// The borrower has copied the region; the lender may write there again.
pub(crate) const READ: u64 = 3;
/// The lender took its memory back; the borrower reads the copy at `moved_to`.
pub(crate) const MOVED: u64 = 4;

/// Slots in each rank's table: regions one rank can have lent at once. A send that finds
/// none free copies its payload instead.
pub(crate) const SLOTS: usize = 256;

/// One slot; see the [module documentation](self).
#[derive(Debug, Default)]
#[repr(C, align(16))]
pub(crate) struct LoanSlot {
    state: AtomicU64,
    moved_to: AtomicU64,
}

/// Where a borrower reads a lent region from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Where it was lent; the borrower must call [`LoanSlot::finish_reading`] once copied.
    InPlace,
    /// From the lender's copy at this address.
    Moved(u64),
}

/// What became of a lent region the lender recalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recalled {
    /// The borrower will read the copy.
    Moved,
    /// The borrower is reading the region now; wait for [`LoanSlot::is_read`].
    Reading,
    /// The borrower has read it.
    Read,
}

impl LoanSlot {
    /// Lender: marks the slot lent, before the record naming it is published (the ring's
    /// release of the record orders this store before the borrower's claim).
    pub(crate) fn lend(&self) {
        self.state.store(LENT, Ordering::Relaxed);
    }

    /// Borrower: where to read the region from; `Err` with the state found if the slot is
    /// not one lent to it (a peer breaking the protocol).
    pub(crate) fn claim(&self) -> Result<Source, u64> {
        // Acquire on failure too: a slot found moved has its copy's address published.
        match self
            .state
            .compare_exchange(LENT, READING, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => Ok(Source::InPlace),
            Err(MOVED) => Ok(Source::Moved(self.moved_to.load(Ordering::Relaxed))),
            Err(other) => Err(other),
        }
    }

    /// Borrower: the region claimed in place is copied.
    pub(crate) fn finish_reading(&self) {
        // Release: the copy is done before the lender may write the region again.
        self.state.store(READ, Ordering::Release);
    }

    /// Lender: the borrower is to read the copy at `copy` instead, unless it has begun
    /// reading already.
    pub(crate) fn recall(&self, copy: u64) -> Recalled {
        self.moved_to.store(copy, Ordering::Relaxed);
        // Release: the copy's address (and the copy) before the state that points to it;
        // Acquire on failure: a slot found read has its copy done.
        match self
            .state
            .compare_exchange(LENT, MOVED, Ordering::Release, Ordering::Acquire)
        {
            Ok(_) => Recalled::Moved,
            Err(READING) => Recalled::Reading,
            Err(_) => Recalled::Read,
        }
    }

    /// Lender: whether the borrower has not claimed the region yet (it may any moment).
    pub(crate) fn is_lent(&self) -> bool {
        self.state.load(Ordering::Relaxed) == LENT
    }

    /// Lender: whether the borrower has finished copying the region in place.
    pub(crate) fn is_read(&self) -> bool {
        // Acquire: its copy is done before the lender writes the region again.
        self.state.load(Ordering::Acquire) == READ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrower_reads_in_place_unless_the_lender_moved_the_region_first() {
        let slot = LoanSlot::default();
        slot.lend();
        assert_eq!(slot.claim(), Ok(Source::InPlace));
        assert_eq!(slot.recall(0x1000), Recalled::Reading);
        assert!(!slot.is_read());
        slot.finish_reading();
        assert!(slot.is_read());
        assert_eq!(slot.recall(0x1000), Recalled::Read);

        slot.lend();
        assert_eq!(slot.recall(0x2000), Recalled::Moved);
        assert_eq!(slot.claim(), Ok(Source::Moved(0x2000)));
    }

    #[test]
    fn a_slot_that_was_never_lent_cannot_be_claimed() {
        assert_eq!(LoanSlot::default().claim(), Err(0));
        let slot = LoanSlot::default();
        slot.lend();
        slot.claim().unwrap();
        assert_eq!(slot.claim(), Err(READING), "claimed twice");
    }
}
