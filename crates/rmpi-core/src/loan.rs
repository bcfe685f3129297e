//! Loans of a caller's memory: a sender lends the bytes it sends, in place, to receivers
//! that read them straight out of its memory, and waits for them to be returned before it
//! writes there again.
//!
//! A typed-buffer send copies its data (into a ring, or into memory of the transport's), so
//! the caller may reuse its buffer at once. An algorithm that will not write a region again
//! for a while (a collective's reduction, which sends each half of its buffer once and
//! receives into the other) can save that copy: [`CollectiveComm::lend_buf`](crate::CollectiveComm::lend_buf)
//! hands the transport only the region's address, and a transport whose receivers can read
//! this process's memory (shared memory with cross-memory attach) lends it; the others
//! decline, and the caller sends a copy as for any send. [`CollectiveComm::settle`](crate::CollectiveComm::settle)
//! then waits until every receiver has read what it was lent.
//!
//! A lender that must write to the region before every receiver has read it (a send's
//! future dropped, or tired of waiting for a receiver) recalls it with
//! [`FastPaths::recall`](crate::FastPaths::recall): receivers that have not begun reading
//! are given a copy instead.
//!
//! Transports only ever see an address and a length, never a reference: they cannot read
//! the memory themselves, so a loan outliving the buffer (an algorithm that failed and
//! returned, or a future forgotten) is no danger to this process. A receiver that reads it
//! then reads whatever is there, as a failed collective's results are undefined in MPI too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::lock;

/// The loans one operation has made, to wait out with [`CollectiveComm::settle`](crate::CollectiveComm::settle)
/// before it writes to what it lent.
///
/// ```
/// let loans = rmpi::transport::Loans::new();
/// assert!(loans.settled()); // nothing lent yet
/// ```
#[derive(Debug, Default)]
pub struct Loans {
    shared: Arc<Shared>,
}

/// One region lent to one peer; a transport keeps it until the peer has read the region (or
/// can no longer read it), then drops it, which returns it.
///
/// ```
/// let loans = rmpi::transport::Loans::new();
/// let loan = loans.lend_to(2);
/// assert!(!loans.settled());
/// drop(loan);
/// assert!(loans.settled());
/// ```
#[derive(Debug)]
pub struct Loan {
    shared: Arc<Shared>,
    borrower: usize,
}

#[derive(Debug, Default)]
struct Shared {
    state: lock::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// How many loans each world rank holds (ranks that held some once stay, at zero), so
    /// a wait can fail when one that holds some departs.
    held: Vec<(usize, usize)>,
    /// The task settling the loans, woken by the last one returned.
    settling: Option<Waker>,
}

impl State {
    fn count(&mut self, borrower: usize) -> &mut usize {
        let at = match self.held.iter().position(|&(rank, _)| rank == borrower) {
            Some(at) => at,
            None => {
                self.held.push((borrower, 0));
                self.held.len() - 1
            }
        };
        &mut self.held[at].1
    }

    fn settled(&self) -> bool {
        self.held.iter().all(|&(_, count)| count == 0)
    }
}

impl Loans {
    /// No loans yet.
    ///
    /// ```
    /// let loans = rmpi::transport::Loans::new();
    /// assert!(loans.settled());
    /// ```
    pub fn new() -> Loans {
        Loans::default()
    }

    /// A loan to world rank `borrower`, counted until it is dropped.
    ///
    /// ```
    /// use rmpi::transport::Loans;
    /// // What CollectiveComm::lend_buf does before it hands the loan to the transport,
    /// // and what a transport's tests can do to check its FastPaths::lend.
    /// let loans = Loans::new();
    /// let loan = loans.lend_to(1);
    /// assert!(loan.is_under(&loans) && !loans.settled());
    /// drop(loan); // the borrower has read the bytes
    /// assert!(loans.settled());
    /// ```
    pub fn lend_to(&self, borrower: usize) -> Loan {
        *self.shared.state.lock().count(borrower) += 1;
        Loan {
            shared: self.shared.clone(),
            borrower,
        }
    }

    /// Whether every loan has been returned.
    ///
    /// ```
    /// let loans = rmpi::transport::Loans::new();
    /// assert!(loans.settled());
    /// ```
    pub fn settled(&self) -> bool {
        self.shared.state.lock().settled()
    }

    /// The world ranks holding loans not yet returned.
    pub(crate) fn holders(&self) -> Vec<usize> {
        let state = self.shared.state.lock();
        state
            .held
            .iter()
            .filter(|&&(_, count)| count > 0)
            .map(|&(rank, _)| rank)
            .collect()
    }

    /// Has `waker` woken when the last loan out is returned.
    pub(crate) fn wake_when_settled(&self, waker: &Waker) {
        let mut state = self.shared.state.lock();
        if !state.settling.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.settling = Some(waker.clone());
        }
    }
}

impl Loan {
    /// Whether this loan was made under `loans`.
    ///
    /// ```
    /// use rmpi::transport::Loans;
    /// // What CollectiveComm::lend_buf does before it hands the loan to the transport,
    /// // and what a transport's tests can do to check its FastPaths::lend.
    /// let loans = Loans::new();
    /// let loan = loans.lend_to(1);
    /// assert!(loan.is_under(&loans) && !loans.settled());
    /// drop(loan); // the borrower has read the bytes
    /// assert!(loans.settled());
    /// ```
    pub fn is_under(&self, loans: &Loans) -> bool {
        Arc::ptr_eq(&self.shared, &loans.shared)
    }
}

/// When a loan was last returned in this process, in microseconds since [`epoch`]; a
/// lender waiting for its borrower takes loans returned to others as a sign that
/// borrowers are busy reading, not gone elsewhere.
static LAST_RETURNED: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// When a loan was last returned in this process, if ever.
pub(crate) fn last_returned() -> Option<Instant> {
    match LAST_RETURNED.load(Ordering::Relaxed) {
        0 => None,
        micros => Some(epoch() + Duration::from_micros(micros)),
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        let micros = epoch().elapsed().as_micros().max(1) as u64;
        LAST_RETURNED.fetch_max(micros, Ordering::Relaxed);
        let mut state = self.shared.state.lock();
        *state.count(self.borrower) -= 1;
        let waker = match state.settled() {
            true => state.settling.take(),
            false => None,
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loans_are_settled_when_every_one_is_returned() {
        let loans = Loans::new();
        assert!(loans.settled());
        let first = loans.lend_to(1);
        let second = loans.lend_to(2);
        let third = loans.lend_to(1);
        assert_eq!(loans.holders(), vec![1, 2]);
        drop(second);
        assert_eq!(loans.holders(), vec![1], "rank 2 returned its loan");
        drop(first);
        assert!(!loans.settled());
        assert_eq!(loans.holders(), vec![1]);
        drop(third);
        assert!(loans.settled());
        assert!(loans.holders().is_empty());
    }

    #[test]
    fn a_loan_knows_the_loans_it_was_made_under() {
        let (mine, others) = (Loans::new(), Loans::new());
        let before = Instant::now();
        let loan = mine.lend_to(1);
        assert!(loan.is_under(&mine));
        assert!(!loan.is_under(&others));
        drop(loan);
        let returned = last_returned().expect("a loan was returned");
        assert!(returned + Duration::from_millis(1) >= before);
    }
}
