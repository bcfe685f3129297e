//! Blocking persistent requests: a send or receive set up once and started each iteration.

use bytemuck::Pod;
use rmpi_core::{Source, Status, TagFilter};

use super::{Comm, Request, Runner};

/// A send of one buffer to one destination, started again each time (`comm.Send_init`);
/// it owns the buffer, refilled through [`buf_mut`](PersistentSend::buf_mut).
///
/// ```
/// let got = rmpi::blocking::local::run(2, |comm| {
///     let mut total = 0;
///     if comm.rank() == 0 {
///         let mut send = comm.send_init(vec![0u32; 2], 1, 0);
///         for round in 1..=4 {
///             send.buf_mut().fill(round);
///             send.start().wait()?;
///         }
///     } else {
///         let mut recv = comm.recv_init(vec![0u32; 2], 0, 0);
///         for _ in 0..4 {
///             recv.start().wait()?;
///             total += recv.buf().iter().sum::<u32>();
///         }
///     }
///     Ok(total)
/// });
/// assert_eq!(*got[1].as_ref().unwrap(), 20);
/// ```
#[derive(Debug)]
pub struct PersistentSend<T> {
    inner: rmpi_core::PersistentSend<T>,
    runner: Runner,
}

impl<T: Pod> PersistentSend<T> {
    /// Starts the send of the buffer as it is now (`MPI_Start`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().wait()?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().wait()?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn start(&self) -> Request<'_, ()> {
        Request::new(self.inner.start(), &self.runner)
    }

    /// The buffer, to fill before the next start.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().wait()?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().wait()?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn buf_mut(&mut self) -> &mut [T] {
        self.inner.buf_mut()
    }
}

/// A receive into one buffer, started again each time (`comm.Recv_init`);
/// [`PersistentSend`] shows both.
///
/// ```
/// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
/// if comm.rank() == 0 {
///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
///     send.buf_mut().fill(9);
///     send.start().wait()?;
/// } else {
///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
///     recv.start().wait()?;
///     assert_eq!(recv.buf(), [9; 4]);
/// }
/// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug)]
pub struct PersistentRecv<T> {
    inner: rmpi_core::PersistentRecv<T>,
    runner: Runner,
}

impl<T: Pod> PersistentRecv<T> {
    /// Starts the receive (`MPI_Start`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().wait()?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().wait()?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn start(&mut self) -> Request<'_, Status> {
        Request::new(self.inner.start(), &self.runner)
    }

    /// The buffer, holding what the last completed receive put there.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().wait()?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().wait()?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn buf(&self) -> &[T] {
        self.inner.buf()
    }
}

impl Comm {
    /// Sets up a send of `buf` to `dest` to start again and again (`comm.Send_init`).
    /// [`PersistentSend`] shows it in use.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().wait()?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().wait()?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn send_init<T: Pod>(&self, buf: Vec<T>, dest: usize, tag: i32) -> PersistentSend<T> {
        PersistentSend {
            inner: self.inner.send_init(buf, dest, tag),
            runner: self.runner.clone(),
        }
    }

    /// Sets up a receive into `buf` to start again and again (`comm.Recv_init`).
    /// [`PersistentSend`] shows it in use.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::blocking::local::run(2, |comm| {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().wait()?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().wait()?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn recv_init<T: Pod>(
        &self,
        buf: Vec<T>,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> PersistentRecv<T> {
        PersistentRecv {
            inner: self.inner.recv_init(buf, source, tag),
            runner: self.runner.clone(),
        }
    }
}
