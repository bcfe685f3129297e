//! Persistent requests (`MPI_Send_init`, `MPI_Recv_init`, `MPI_Start`): a send or receive
//! set up once and started again each iteration, as ported solvers do.

use bytemuck::Pod;

use super::Comm;
use crate::request::Request;
use crate::status::{Source, Status, TagFilter};

/// A send of one buffer to one destination, started again each time with
/// [`start`](PersistentSend::start) (`comm.Send_init`). It owns its buffer, so the data can
/// change between starts through [`buf_mut`](PersistentSend::buf_mut), as MPI programs
/// refill theirs.
///
/// ```
/// let results = rmpi::local::run(2, |comm| async move {
///     let mut total = 0;
///     if comm.rank() == 0 {
///         let mut send = comm.send_init(vec![0u32; 3], 1, 0);
///         for round in 1..=3 {
///             send.buf_mut().fill(round);
///             send.start().await?;
///         }
///     } else {
///         let mut recv = comm.recv_init(vec![0u32; 3], 0, 0);
///         for _ in 0..3 {
///             recv.start().await?;
///             total += recv.buf().iter().sum::<u32>();
///         }
///     }
///     Ok::<_, rmpi::Error>(total)
/// });
/// assert_eq!(*results[1].as_ref().unwrap(), 18);
/// ```
#[derive(Debug)]
pub struct PersistentSend<T> {
    comm: Comm,
    buf: Vec<T>,
    dest: usize,
    tag: i32,
}

impl<T: Pod> PersistentSend<T> {
    /// Starts the send of the buffer as it is now (`MPI_Start`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().await?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().await?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn start(&self) -> Request<'_, ()> {
        self.comm.isend_buf(&self.buf, self.dest, self.tag)
    }

    /// The buffer, to fill before the next start.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().await?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().await?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn buf_mut(&mut self) -> &mut [T] {
        &mut self.buf
    }
}

/// A receive into one buffer, started again each time with
/// [`start`](PersistentRecv::start) (`comm.Recv_init`); [`PersistentSend`] shows both.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// if comm.rank() == 0 {
///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
///     send.buf_mut().fill(9);
///     send.start().await?;
/// } else {
///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
///     recv.start().await?;
///     assert_eq!(recv.buf(), [9; 4]);
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug)]
pub struct PersistentRecv<T> {
    comm: Comm,
    buf: Vec<T>,
    source: Source,
    tag: TagFilter,
}

impl<T: Pod> PersistentRecv<T> {
    /// Starts the receive (`MPI_Start`); the buffer is the request's until it completes.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().await?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().await?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[track_caller]
    pub fn start(&mut self) -> Request<'_, Status> {
        self.comm.irecv_into(&mut self.buf, self.source, self.tag)
    }

    /// The buffer, holding what the last completed receive put there.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().await?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().await?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn buf(&self) -> &[T] {
        &self.buf
    }
}

impl Comm {
    /// Sets up a send of `buf` to `dest` to start again and again (`comm.Send_init`).
    /// [`PersistentSend`] shows it in use.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().await?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().await?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn send_init<T: Pod>(&self, buf: Vec<T>, dest: usize, tag: i32) -> PersistentSend<T> {
        PersistentSend {
            comm: self.clone(),
            buf,
            dest,
            tag,
        }
    }

    /// Sets up a receive into `buf` to start again and again (`comm.Recv_init`).
    /// [`PersistentSend`] shows it in use.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// if comm.rank() == 0 {
    ///     let mut send = comm.send_init(vec![0u8; 4], 1, 0);
    ///     send.buf_mut().fill(9);
    ///     send.start().await?;
    /// } else {
    ///     let mut recv = comm.recv_init(vec![0u8; 4], 0, 0);
    ///     recv.start().await?;
    ///     assert_eq!(recv.buf(), [9; 4]);
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn recv_init<T: Pod>(
        &self,
        buf: Vec<T>,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> PersistentRecv<T> {
        PersistentRecv {
            comm: self.clone(),
            buf,
            source: source.into(),
            tag: tag.into(),
        }
    }
}
