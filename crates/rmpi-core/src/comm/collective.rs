//! What collective algorithms need from a communicator beyond point-to-point: a context of
//! their own, one tag per operation, and the transport's ways of sending without copies.
//! For implementers of collectives (rmpi-collectives, third parties); programs call the
//! collectives themselves.

use std::future::Future;

use bytemuck::Pod;

use super::buffers::as_bytes;
use super::{Comm, Plane};
use crate::error::{Error, Result};
use crate::loan::Loans;
use crate::status::TAG_UB;

/// A communicator as collective algorithms use it; implemented by [`Comm`].
pub trait CollectiveComm {
    /// The same communicator on its collective context. Collective algorithms (rmpi's own and
    /// third parties') exchange their messages here: user point-to-point traffic on the
    /// communicator never matches them, whatever the tags.
    fn collective_view(&self) -> Comm;

    /// Reserves the tag of the next collective operation on this communicator. Every member
    /// starts collectives in the same order (MPI requires it), so every member gets the same
    /// tag for the same operation, and operations in flight together never match each other's
    /// messages (as long as fewer than 2^31 are in flight at once).
    fn next_collective_tag(&self) -> i32;

    /// Sends `buf` to each of `dests` (distinct ranks) in one copy that all of them read, if
    /// the transport can (shared memory copies it once into memory they all see, where
    /// separate sends copy it once each): a collective's broadcast. `Ok(false)` says it
    /// cannot, and nothing was sent: send it another way. The caller may write to `buf`
    /// as soon as this returns.
    fn fan_out_buf<T: Pod>(&self, buf: &[T], dests: &[usize], tag: i32) -> Result<bool>;

    /// Sends a copy of `buf` to `dest`, made by the transport where it goes, and is done
    /// when it returns: unlike [`Comm::send_buf`] it never lends `buf`, so a short message
    /// built on the stack can be sent without an allocation or an `await`.
    ///
    /// ```
    /// use rmpi::transport::CollectiveComm;
    /// let results = rmpi::local::run(1, |comm| async move {
    ///     let (view, tag) = (comm.collective_view(), comm.next_collective_tag());
    ///     view.send_buf_now(&[1u8, 2], 0, tag)?;
    ///     Ok::<_, rmpi::Error>(view.recv_buf::<u8>(0, tag).await?.0)
    /// });
    /// assert_eq!(results[0].as_ref().unwrap(), &[1, 2]);
    /// ```
    fn send_buf_now<T: Pod>(&self, buf: &[T], dest: usize, tag: i32) -> Result<()>;

    /// Sends `buf` in place, if the transport can lend it to `dest` (see
    /// [`loan`](crate::loan)): the receiver then copies it straight out of this process's
    /// memory, and the caller must not write to `buf` until
    /// [`settle`](CollectiveComm::settle) on `loans` returns, or the receiver may read what
    /// it wrote. `Ok(false)` says the transport cannot, and nothing was sent: send it
    /// another way ([`Comm::send_buf`] copies it). For algorithms that send a region and
    /// leave it alone for a while, such as a collective's reduction.
    fn lend_buf<T: Pod>(&self, buf: &[T], dest: usize, tag: i32, loans: &Loans) -> Result<bool>;

    /// Waits until every receiver has read what was lent to it with
    /// [`lend_buf`](CollectiveComm::lend_buf) under `loans`; fails if one of them departs
    /// first.
    fn settle<'a>(&self, loans: &'a Loans) -> impl Future<Output = Result<()>> + Send + 'a;
}

impl CollectiveComm for Comm {
    fn collective_view(&self) -> Comm {
        self.on_plane(Plane::Collective)
    }

    fn next_collective_tag(&self) -> i32 {
        (self
            .shared
            .collectives
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            & TAG_UB as u64) as i32
    }

    fn fan_out_buf<T: Pod>(&self, buf: &[T], dests: &[usize], tag: i32) -> Result<bool> {
        let world = dests
            .iter()
            .map(|&dest| self.dest(dest))
            .collect::<Result<Vec<usize>>>()?;
        let mut seen = world.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(Error::InvalidArgument(format!(
                "fan_out_buf names a rank twice: {dests:?}"
            )));
        }
        let header = self.header(tag)?;
        self.engine().fan_out(&world, header, as_bytes(buf)?)
    }

    fn send_buf_now<T: Pod>(&self, buf: &[T], dest: usize, tag: i32) -> Result<()> {
        let world = self.dest(dest)?;
        let header = self.header(tag)?;
        self.engine().send_copy(world, header, as_bytes(buf)?)
    }

    fn lend_buf<T: Pod>(&self, buf: &[T], dest: usize, tag: i32, loans: &Loans) -> Result<bool> {
        let world = self.dest(dest)?;
        let header = self.header(tag)?;
        self.engine().lend(world, header, as_bytes(buf)?, loans)
    }

    fn settle<'a>(&self, loans: &'a Loans) -> impl Future<Output = Result<()>> + Send + 'a {
        let engine = self.engine().clone();
        std::future::poll_fn(move |cx| engine.poll_settled(loans, cx))
    }
}
