//! Blocking requests: nonblocking operations that are waited for or tested by blocking calls.

use std::borrow::{Borrow, BorrowMut};

use rmpi_core::Result;

use super::Runner;

/// A nonblocking operation in flight (`MPI_Request`), from a blocking [`Comm`](super::Comm)'s
/// `isend`, `irecv_into`, `ibcast`, ...: [`wait`](Request::wait) for it, [`test`](Request::test)
/// it, or complete several with [`wait_all`], [`wait_any`], [`wait_some`], [`test_any`] or
/// [`test_all`]. A request that borrows a buffer keeps the borrow until it is complete or
/// dropped; dropping a pending receive withdraws it.
///
/// ```
/// let results = rmpi::blocking::local::run(2, |comm| {
///     let peer = 1 - comm.rank();
///     let mut incoming = [0u64; 4];
///     let receive = comm.irecv_into(&mut incoming, peer, 0); // posted now
///     comm.send_buf(&[comm.rank() as u64; 4], peer, 0)?;
///     receive.wait()?;
///     Ok(incoming)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &[1; 4]);
/// ```
#[must_use = "a request does nothing useful unless it is completed"]
#[derive(Debug)]
pub struct Request<'a, T> {
    inner: rmpi_core::Request<'a, T>,
    runner: Runner,
}

impl<'a, T> Request<'a, T> {
    pub(super) fn new(inner: rmpi_core::Request<'a, T>, runner: &Runner) -> Self {
        Request {
            inner,
            runner: runner.clone(),
        }
    }

    /// Waits until the operation is complete (`MPI_Wait`) and returns its outcome.
    ///
    /// ```
    /// let results = rmpi::blocking::local::run(2, |comm| {
    ///     let request = comm.isend(&"hello", 1 - comm.rank(), 0);
    ///     let greeting: String = comm.recv(1 - comm.rank(), 0)?;
    ///     request.wait()?;
    ///     Ok(greeting)
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), "hello");
    /// ```
    pub fn wait(self) -> Result<T> {
        self.runner.wait(self.inner)
    }

    /// Makes progress without waiting (`MPI_Test`): the outcome if the operation is complete,
    /// `None` if not, and `None` again after the outcome was taken.
    ///
    /// ```
    /// let results = rmpi::blocking::local::run(2, |comm| {
    ///     if comm.rank() == 0 {
    ///         comm.send(&42u32, 1, 0)?;
    ///         return Ok(0);
    ///     }
    ///     let mut request = comm.irecv::<u32>(0, 0);
    ///     loop {
    ///         if let Some(outcome) = request.test() {
    ///             return outcome;
    ///         }
    ///         // ...work while the message travels...
    ///     }
    /// });
    /// assert_eq!(results[1].as_ref().unwrap(), &42);
    /// ```
    pub fn test(&mut self) -> Option<Result<T>> {
        self.runner.progress();
        self.inner.test()
    }

    /// Cancels the operation if it has not completed (`MPI_Cancel`): `None` if it was
    /// cancelled (a pending receive is withdrawn, losing no message), its outcome if it
    /// had already completed.
    ///
    /// ```
    /// let got = rmpi::blocking::local::run(1, |comm| {
    ///     let cancelled = comm.irecv::<u8>(0, 0).cancel().is_none();
    ///     comm.send(&1u8, 0, 0)?;
    ///     Ok((cancelled, comm.recv::<u8>(0, 0)?))
    /// });
    /// assert_eq!(got[0].as_ref().unwrap(), &(true, 1));
    /// ```
    pub fn cancel(self) -> Option<Result<T>> {
        self.runner.progress();
        self.inner.cancel()
    }

    /// Whether the outcome was already taken by a test or a wait.
    ///
    /// ```
    /// let taken = rmpi::blocking::local::run(1, |comm| {
    ///     let mut request = comm.isend(&1u8, 0, 0);
    ///     let _ = request.test();
    ///     let taken = request.is_taken();
    ///     comm.recv::<u8>(0, 0)?;
    ///     Ok(taken)
    /// });
    /// assert!(taken[0].as_ref().unwrap());
    /// ```
    pub fn is_taken(&self) -> bool {
        self.inner.is_taken()
    }

    /// The async request under this one, to await in async code.
    ///
    /// ```
    /// let results = rmpi::blocking::local::run(1, |comm| {
    ///     let request = comm.isend(&1u8, 0, 0).into_async();
    ///     comm.recv::<u8>(0, 0)?;
    ///     Ok(request.is_taken())
    /// });
    /// assert!(!results[0].as_ref().unwrap());
    /// ```
    pub fn into_async(self) -> rmpi_core::Request<'a, T> {
        self.inner
    }
}

impl<'a, T> Borrow<rmpi_core::Request<'a, T>> for Request<'a, T> {
    fn borrow(&self) -> &rmpi_core::Request<'a, T> {
        &self.inner
    }
}

impl<'a, T> BorrowMut<rmpi_core::Request<'a, T>> for Request<'a, T> {
    fn borrow_mut(&mut self) -> &mut rmpi_core::Request<'a, T> {
        &mut self.inner
    }
}

/// Waits until every request is complete (`MPI_Waitall`) and returns their values in order,
/// or the first error once all have finished.
///
/// ```
/// let results = rmpi::blocking::local::run(3, |comm| {
///     if comm.rank() == 0 {
///         let receives = (1..3).map(|source| comm.irecv::<usize>(source, 0));
///         rmpi::blocking::wait_all(receives)
///     } else {
///         comm.send(&comm.rank(), 0, 0)?;
///         Ok(Vec::new())
///     }
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &[1, 2]);
/// ```
pub fn wait_all<'a, T>(requests: impl IntoIterator<Item = Request<'a, T>>) -> Result<Vec<T>> {
    let mut requests = requests.into_iter().peekable();
    let Some(runner) = requests.peek().map(|request| request.runner.clone()) else {
        return Ok(Vec::new());
    };
    runner.wait(rmpi_core::wait_all(requests.map(|request| request.inner)))
}

/// Waits until one of the requests not yet taken completes (`MPI_Waitany`) and returns its
/// index and outcome; it stays in place, taken, so other indices do not change. `None` once
/// every request is taken.
///
/// ```
/// let results = rmpi::blocking::local::run(3, |comm| {
///     let mut seen = Vec::new();
///     if comm.rank() == 0 {
///         let mut receives = vec![comm.irecv::<usize>(1, 0), comm.irecv::<usize>(2, 0)];
///         while let Some((index, outcome)) = rmpi::blocking::wait_any(&mut receives) {
///             seen.push((index, outcome?));
///         }
///         seen.sort();
///     } else {
///         comm.send(&comm.rank(), 0, 0)?;
///     }
///     Ok(seen)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &[(0, 1), (1, 2)]);
/// ```
pub fn wait_any<T>(requests: &mut [Request<'_, T>]) -> Option<(usize, Result<T>)> {
    let runner = requests.first()?.runner.clone();
    runner.wait(rmpi_core::wait_any(requests))
}

/// Waits until at least one request not yet taken completes (`MPI_Waitsome`) and returns
/// every one complete by then with its index; empty once every request is taken.
///
/// ```
/// let results = rmpi::blocking::local::run(2, |comm| {
///     if comm.rank() == 1 {
///         comm.send(&7u8, 0, 0)?;
///         return Ok(Vec::new());
///     }
///     let mut receives = vec![comm.irecv::<u8>(1, 0)];
///     let done = rmpi::blocking::wait_some(&mut receives);
///     Ok(done.into_iter().map(|(index, outcome)| (index, outcome.unwrap())).collect())
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &[(0, 7)]);
/// ```
pub fn wait_some<T>(requests: &mut [Request<'_, T>]) -> Vec<(usize, Result<T>)> {
    let Some(runner) = requests.first().map(|request| request.runner.clone()) else {
        return Vec::new();
    };
    runner.wait(rmpi_core::wait_some(requests))
}

/// Makes progress without waiting (`MPI_Testany`): the index and outcome of one complete
/// request, taking it; `None` if none is complete.
///
/// ```
/// let results = rmpi::blocking::local::run(1, |comm| {
///     let mut sends = vec![comm.isend(&1u8, 0, 0)];
///     let done = rmpi::blocking::test_any(&mut sends).map(|(index, _)| index);
///     comm.recv::<u8>(0, 0)?;
///     Ok(done)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &Some(0));
/// ```
pub fn test_any<T>(requests: &mut [Request<'_, T>]) -> Option<(usize, Result<T>)> {
    requests.first()?.runner.progress();
    rmpi_core::test_any(requests)
}

/// Makes progress without waiting (`MPI_Testall`): every outcome in order if all requests
/// are complete, taking them; otherwise `None`, taking nothing.
///
/// ```
/// let results = rmpi::blocking::local::run(1, |comm| {
///     let mut sends = vec![comm.isend(&1u8, 0, 0), comm.isend(&2u8, 0, 1)];
///     let all = rmpi::blocking::test_all(&mut sends).map(|outcomes| outcomes.len());
///     comm.recv::<u8>(0, 0)?;
///     comm.recv::<u8>(0, 1)?;
///     Ok(all)
/// });
/// assert_eq!(results[0].as_ref().unwrap(), &Some(2));
/// ```
pub fn test_all<T>(requests: &mut [Request<'_, T>]) -> Option<Vec<Result<T>>> {
    if let Some(first) = requests.first() {
        first.runner.progress();
    }
    rmpi_core::test_all(requests)
}
