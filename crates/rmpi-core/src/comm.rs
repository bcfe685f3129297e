//! Communicators: a group of ranks with contexts of their own, and point-to-point on them.
//!
//! Each communicator has an id, and each id gives three communication contexts: one for user
//! point-to-point traffic, one for collectives ([`Comm::collective_view`]) and one for rmpi's
//! own bookkeeping (building communicators). Messages only ever match within one context, so
//! the same tag on two communicators, or on a communicator and its collectives, never crosses.
//!
//! Ids of derived communicators are computed, not negotiated: `dup` and `split` are collective
//! and every member calls them in the same order, so every member derives the same id from the
//! parent's id, a per-parent counter and the colour.
//!
//! Every operation starts when it is called: a receive is posted and a send handed to the
//! transport before the returned future is first polled, so call order is matching order.

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytemuck::Pod;
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{Codec, DefaultCodec};
use crate::config::Config;
use crate::engine::{Arrival, Awaited, Engine};
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameKind, Header};
use crate::loan::Loans;
use crate::matching::Pattern;
use crate::rendezvous::{self, LentSend, SendBuf};
use crate::request::{Acknowledgement, Receive, Request, Waiting};
use crate::status::{Source, Status, TagFilter, TAG_UB};
use crate::transport::Transport;

const WORLD_ID: u64 = 0;
const SELF_ID: u64 = 1;

/// Which of a communicator's contexts an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plane {
    PointToPoint = 0,
    Collective = 1,
    Management = 2,
}

/// What all handles to one communicator share.
#[derive(Debug)]
struct Shared {
    engine: Arc<Engine>,
    /// The job's settings.
    config: Arc<Config>,
    id: u64,
    rank: usize,
    /// World rank of each member, indexed by rank in this communicator.
    group: Arc<[usize]>,
    /// Counts `dup`/`split` calls, which every member makes in the same order.
    children: AtomicU64,
    /// Counts collective operations, which every member starts in the same order.
    collectives: AtomicU64,
}

/// A communicator (`MPI_Comm`): a group of ranks that exchange messages in a context of their
/// own. Cheap to clone; clones are the same communicator.
///
/// ```
/// # rmpi_core::local::run(3, |world| async move {
/// use rmpi_core::{ANY_SOURCE, ANY_TAG};
/// if world.rank() == 0 {
///     for _ in 1..world.size() {
///         let (greeting, status) = world.recv_with_status::<String>(ANY_SOURCE, ANY_TAG).await?;
///         assert_eq!(greeting, format!("hello from {}", status.source));
///     }
/// } else {
///     world.send(&format!("hello from {}", world.rank()), 0, 7).await?;
/// }
/// # Ok::<(), rmpi_core::Error>(())
/// # }).into_iter().collect::<Result<(), _>>().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Comm {
    shared: Arc<Shared>,
    plane: Plane,
}

impl Comm {
    /// The world communicator over one rank's transport endpoint (`MPI_COMM_WORLD`), with
    /// the default settings.
    pub fn from_transport(transport: Arc<dyn Transport>) -> Comm {
        Comm::with_config(transport, Config::default())
    }

    /// The world communicator over one rank's transport endpoint, with the job's settings.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi_core::config::{BcastAlgorithm, Config};
    /// use rmpi_core::local::LocalTransport;
    ///
    /// let mut config = Config::default();
    /// config.algorithms.bcast = Some(BcastAlgorithm::Flat);
    /// let endpoint = LocalTransport::mesh(1).remove(0);
    /// let world = rmpi_core::Comm::with_config(Arc::new(endpoint), config);
    /// assert_eq!(world.config().algorithms.bcast, Some(BcastAlgorithm::Flat));
    /// ```
    pub fn with_config(transport: Arc<dyn Transport>, config: Config) -> Comm {
        let engine = Arc::new(Engine::new(transport));
        let group: Arc<[usize]> = (0..engine.size()).collect();
        let config = Arc::new(config);
        Comm::new(engine.clone(), config, WORLD_ID, engine.rank(), group)
    }

    /// The settings of the job this communicator belongs to.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    fn new(
        engine: Arc<Engine>,
        config: Arc<Config>,
        id: u64,
        rank: usize,
        group: Arc<[usize]>,
    ) -> Comm {
        Comm {
            shared: Arc::new(Shared {
                engine,
                config,
                id,
                rank,
                group,
                children: AtomicU64::new(0),
                collectives: AtomicU64::new(0),
            }),
            plane: Plane::PointToPoint,
        }
    }

    /// This process's rank in the communicator (`MPI_Comm_rank`).
    pub fn rank(&self) -> usize {
        self.shared.rank
    }

    /// Number of ranks in the communicator (`MPI_Comm_size`).
    pub fn size(&self) -> usize {
        self.shared.group.len()
    }

    /// The world rank of this communicator's `rank`, if there is such a member.
    pub fn world_rank(&self, rank: usize) -> Option<usize> {
        self.shared.group.get(rank).copied()
    }

    /// The communicator holding only this process (`MPI_COMM_SELF`).
    pub fn comm_self(&self) -> Comm {
        let engine = self.shared.engine.clone();
        let me: Arc<[usize]> = Arc::new([engine.rank()]);
        Comm::new(engine, self.shared.config.clone(), SELF_ID, 0, me)
    }

    /// A new communicator with the same group and fresh contexts (`MPI_Comm_dup`): a library
    /// can talk on it without ever matching the caller's messages. Collective: every member
    /// must call it, in the same order relative to other `dup`/`split` calls on this
    /// communicator. It needs no communication.
    pub fn dup(&self) -> Comm {
        let id = derive_id(self.shared.id, self.next_child(), 0);
        Comm::new(
            self.shared.engine.clone(),
            self.shared.config.clone(),
            id,
            self.shared.rank,
            self.shared.group.clone(),
        )
    }

    /// Partitions the communicator (`MPI_Comm_split`): members passing the same `color` form
    /// a new communicator, ranked by `key` and then by rank here. A member passing `None`
    /// (`MPI_UNDEFINED`) gets `None`. Collective, like [`dup`](Comm::dup).
    pub fn split(
        &self,
        color: Option<u32>,
        key: i32,
    ) -> impl Future<Output = Result<Option<Comm>>> + Send + 'static {
        let seq = self.next_child();
        let mgmt = self.on_plane(Plane::Management);
        let tag = (seq & TAG_UB as u64) as i32;
        // Everyone's (colour, key) is gathered at rank 0, which sends the table back to all.
        // The contribution leaves now, so splits started together complete in any order.
        let contributed = if self.rank() == 0 {
            Ok(())
        } else {
            mgmt.start_send(0, tag, encode(&(color, key)))
        };
        let this = self.clone();
        async move {
            contributed?;
            this.split_at(&mgmt, seq, tag, color, key).await
        }
    }

    async fn split_at(
        &self,
        mgmt: &Comm,
        seq: u64,
        tag: i32,
        color: Option<u32>,
        key: i32,
    ) -> Result<Option<Comm>> {
        let table: Vec<(Option<u32>, i32)> = if self.rank() == 0 {
            let mut table = vec![(color, key); self.size()];
            for (rank, entry) in table.iter_mut().enumerate().skip(1) {
                *entry = mgmt.recv(rank, tag).await?;
            }
            for rank in 1..self.size() {
                mgmt.send(&table, rank, tag).await?;
            }
            table
        } else {
            mgmt.recv(0, tag).await?
        };
        if table.len() != self.size() {
            return Err(Error::InvalidArgument(format!(
                "split table has {} entries for {} ranks",
                table.len(),
                self.size()
            )));
        }
        let Some(color) = color else {
            return Ok(None);
        };
        let mut members: Vec<(i32, usize)> = table
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| *c == Some(color))
            .map(|(rank, (_, key))| (*key, rank))
            .collect();
        members.sort_unstable();
        let new_rank = members
            .iter()
            .position(|&(_, rank)| rank == self.rank())
            .expect("this rank is in its own colour");
        let group: Arc<[usize]> = members
            .iter()
            .map(|&(_, rank)| self.shared.group[rank])
            .collect();
        let id = derive_id(self.shared.id, seq, u64::from(color) + 1);
        Ok(Some(Comm::new(
            self.shared.engine.clone(),
            self.shared.config.clone(),
            id,
            new_rank,
            group,
        )))
    }

    /// The same communicator on its collective context. Collective algorithms (rmpi's own and
    /// third parties') exchange their messages here: user point-to-point traffic on the
    /// communicator never matches them, whatever the tags.
    pub fn collective_view(&self) -> Comm {
        self.on_plane(Plane::Collective)
    }

    /// Reserves the tag of the next collective operation on this communicator. Every member
    /// starts collectives in the same order (MPI requires it), so every member gets the same
    /// tag for the same operation, and operations in flight together never match each other's
    /// messages (as long as fewer than 2^31 are in flight at once).
    pub fn next_collective_tag(&self) -> i32 {
        (self.shared.collectives.fetch_add(1, Ordering::Relaxed) & TAG_UB as u64) as i32
    }

    /// Flushes what the transport still buffers and tells the other ranks this one is done
    /// (`MPI_Finalize`). Call once, when the rank has finished communicating.
    pub async fn finalize(&self) -> Result<()> {
        self.shared.engine.shutdown().await
    }

    fn on_plane(&self, plane: Plane) -> Comm {
        Comm {
            shared: self.shared.clone(),
            plane,
        }
    }

    fn next_child(&self) -> u64 {
        self.shared.children.fetch_add(1, Ordering::Relaxed)
    }

    fn context(&self) -> u64 {
        (self.shared.id << 2) | self.plane as u64
    }

    fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    // --- starting operations -------------------------------------------------------------

    fn dest(&self, dest: usize) -> Result<usize> {
        self.world_rank(dest).ok_or_else(|| Error::InvalidRank {
            rank: dest,
            size: self.size(),
        })
    }

    fn frame(&self, tag: i32, payload: Bytes) -> Result<Frame> {
        Ok(Frame::new(self.header(tag)?, payload))
    }

    /// The header of a data message from this rank with `tag` (its length is set later).
    fn header(&self, tag: i32) -> Result<Header> {
        if tag < 0 {
            return Err(Error::InvalidTag { tag });
        }
        Ok(Header {
            kind: FrameKind::Data,
            context: self.context(),
            source: self.rank() as u32,
            tag,
            sync_id: 0,
            len: 0,
        })
    }

    /// Sends `payload`, lending it to the receiver if it is large and the transport can (see
    /// [`rendezvous`](crate::rendezvous)): then the returned send completes once the
    /// receiver has read it. Otherwise a copy is sent, complete already.
    fn start_send_buf<'a>(
        &self,
        dest: usize,
        tag: i32,
        payload: Result<&'a [u8]>,
    ) -> Result<Option<LentSend<'a>>> {
        let payload = payload?;
        let world = self.dest(dest)?;
        let header = self.header(tag)?;
        if payload.len() >= rendezvous::LEND_FROM
            && self.engine().prefers_loan(world, payload.len())
        {
            let loans = Loans::new();
            if self.engine().lend(world, header, payload, &loans)? {
                return Ok(Some(LentSend::new(self.engine().clone(), loans, payload)));
            }
        }
        // A copy, made by the transport where it goes.
        self.engine()
            .send_copy(world, header, payload)
            .map(|()| None)
    }

    fn start_send(&self, dest: usize, tag: i32, payload: Result<Bytes>) -> Result<()> {
        let world = self.dest(dest)?;
        let frame = self.frame(tag, payload?)?;
        self.engine().send(world, frame)
    }

    fn start_ssend(
        &self,
        dest: usize,
        tag: i32,
        payload: Result<Bytes>,
    ) -> Result<Waiting<Acknowledgement>> {
        let world = self.dest(dest)?;
        let frame = self.frame(tag, payload?)?;
        let sync_id = self.engine().start_sync_send(world, frame)?;
        Ok(Waiting::new(self.engine().clone(), sync_id))
    }

    fn pattern(&self, source: Source, tag: TagFilter) -> Result<(Pattern, Awaited)> {
        let (source, source_world) = match source {
            Source::Any => (None, None),
            Source::Rank(rank) => (Some(rank as u32), Some(self.dest(rank)?)),
        };
        let tag = match tag {
            TagFilter::Any => None,
            TagFilter::Tag(tag) if tag < 0 => return Err(Error::InvalidTag { tag }),
            TagFilter::Tag(tag) => Some(tag),
        };
        let pattern = Pattern {
            context: self.context(),
            source,
            tag,
        };
        let awaited = match source_world {
            Some(rank) => Awaited::Rank(rank),
            None => Awaited::AnyOf(self.shared.group.clone()),
        };
        Ok((pattern, awaited))
    }

    fn post(&self, source: Source, tag: TagFilter) -> Result<Waiting<Receive>> {
        self.post_with(source, tag, self.engine().clone())
    }

    /// [`Comm::post`] for a receive that borrows this communicator's engine.
    fn post_borrowing(&self, source: Source, tag: TagFilter) -> Result<Waiting<Receive, &Engine>> {
        self.post_with(source, tag, &**self.engine())
    }

    fn post_with<E: Deref<Target = Engine>>(
        &self,
        source: Source,
        tag: TagFilter,
        engine: E,
    ) -> Result<Waiting<Receive, E>> {
        let (pattern, awaited) = self.pattern(source, tag)?;
        let id = engine.post_recv(pattern, awaited);
        Ok(Waiting::new(engine, id))
    }

    // --- objects (mpi4py's lowercase send/recv) --------------------------------------------

    /// Sends any serde value (`comm.send(obj, dest, tag)`): it is encoded with the
    /// [codec](crate::codec) and the call returns once the transport has it.
    pub fn send<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        std::future::ready(self.start_send(dest, tag, encode(value)))
    }

    /// Nonblocking [`send`](Comm::send) (`comm.isend`).
    pub fn isend<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> Request<'static, ()> {
        Request::new(self.send(value, dest, tag))
    }

    /// Synchronous send (`comm.ssend`): completes only once a receive on `dest` has matched
    /// the message.
    pub fn ssend<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let started = self.start_ssend(dest, tag, encode(value));
        async move { started?.await }
    }

    /// Nonblocking [`ssend`](Comm::ssend) (`comm.issend`).
    pub fn issend<T: Serialize + ?Sized>(
        &self,
        value: &T,
        dest: usize,
        tag: i32,
    ) -> Request<'static, ()> {
        Request::new(self.ssend(value, dest, tag))
    }

    /// Receives a serde value (`comm.recv(source=..., tag=...)`).
    pub fn recv<T: DeserializeOwned>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let incoming = self.recv_with_status(source, tag);
        async move { Ok(incoming.await?.0) }
    }

    /// Receives a serde value and the [`Status`] saying who sent it with which tag.
    pub fn recv_with_status<T: DeserializeOwned>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(T, Status)>> + Send + 'static {
        let incoming = self.post(source.into(), tag.into());
        async move { decode(incoming?.await?) }
    }

    /// Nonblocking [`recv_with_status`](Comm::recv_with_status) (`comm.irecv`).
    pub fn irecv<T: DeserializeOwned + Send + 'static>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Request<'static, (T, Status)> {
        Request::new(self.recv_with_status(source, tag))
    }

    /// Sends `value` to `dest` and receives from `source` at once (`comm.sendrecv`), so two
    /// ranks can exchange without ordering their calls.
    pub fn sendrecv<S: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        value: &S,
        dest: usize,
        send_tag: i32,
        source: impl Into<Source>,
        recv_tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(R, Status)>> + Send + 'static {
        let incoming = self.recv_with_status(source, recv_tag);
        let sent = self.start_send(dest, send_tag, encode(value));
        async move {
            sent?;
            incoming.await
        }
    }

    // --- raw bytes ------------------------------------------------------------------------

    /// Sends bytes as they are; the transport takes the `Bytes` without copying where it can.
    pub fn send_bytes(
        &self,
        payload: Bytes,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        std::future::ready(self.start_send(dest, tag, Ok(payload)))
    }

    /// Receives a message's bytes as they arrived, without copying them.
    pub fn recv_bytes(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(Bytes, Status)>> + Send + 'static {
        let incoming = self.post(source.into(), tag.into());
        async move {
            let arrival = incoming?.await?;
            let status = status_of(&arrival);
            Ok((arrival.payload.into_bytes()?, status))
        }
    }

    // --- typed buffers (mpi4py's uppercase Send/Recv on arrays) ------------------------------

    /// Sends a slice of plain-old-data as its bytes (`comm.Send([array, MPI.INT], ...)`),
    /// without serialisation. The send starts when this is called. A small buffer is
    /// copied into the transport at once; a large one may be lent to a receiver that reads
    /// it straight out of this process's memory (shared memory with cross-memory attach, see
    /// [`rendezvous`](crate::rendezvous)), and then the future completes once the receive
    /// has copied it, or after a short wait with a copy sent instead. Dropping the future
    /// still delivers the message.
    pub fn send_buf<'a, T: Pod>(
        &self,
        buf: &'a [T],
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        SendBuf::of(self.start_send_buf(dest, tag, as_bytes(buf)))
    }

    /// Sends `buf` to each of `dests` (distinct ranks) in one copy that all of them read, if
    /// the transport can (shared memory copies it once into memory they all see, where
    /// separate sends copy it once each): a collective's broadcast. `Ok(false)` says it
    /// cannot, and nothing was sent: send it another way. The caller may write to `buf`
    /// as soon as this returns.
    pub fn fan_out_buf<T: Pod>(&self, buf: &[T], dests: &[usize], tag: i32) -> Result<bool> {
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

    /// Sends `buf` in place, if the transport can lend it to `dest` (see
    /// [`loan`](crate::loan)): the receiver then copies it straight out of this process's
    /// memory, and the caller must not write to `buf` until [`settle`](Comm::settle) on
    /// `loans` returns, or the receiver may read what it wrote. `Ok(false)` says the
    /// transport cannot, and nothing was sent: send it another way
    /// ([`send_buf`](Comm::send_buf) copies it). For algorithms that send a region and leave
    /// it alone for a while, such as a collective's reduction.
    pub fn lend_buf<T: Pod>(
        &self,
        buf: &[T],
        dest: usize,
        tag: i32,
        loans: &Loans,
    ) -> Result<bool> {
        let world = self.dest(dest)?;
        let header = self.header(tag)?;
        self.engine().lend(world, header, as_bytes(buf)?, loans)
    }

    /// Waits until every receiver has read what was lent to it with
    /// [`lend_buf`](Comm::lend_buf) under `loans`; fails if one of them departs first.
    pub fn settle<'a>(&self, loans: &'a Loans) -> impl Future<Output = Result<()>> + Send + 'a {
        let engine = self.engine().clone();
        std::future::poll_fn(move |cx| engine.poll_settled(loans, cx))
    }

    /// Sends a vector of plain-old-data, handing its allocation to the transport without
    /// copying it.
    pub fn send_vec<T: Pod + Send + Sync>(
        &self,
        buf: Vec<T>,
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        std::future::ready(self.start_send(dest, tag, owned_bytes(buf)))
    }

    /// Nonblocking [`send_buf`](Comm::send_buf) (`comm.Isend`). The request borrows `buf`
    /// until it completes.
    pub fn isend_buf<'a, T: Pod>(&self, buf: &'a [T], dest: usize, tag: i32) -> Request<'a, ()> {
        Request::new(self.send_buf(buf, dest, tag))
    }

    /// Synchronous [`send_buf`](Comm::send_buf) (`comm.Ssend`).
    pub fn ssend_buf<T: Pod>(
        &self,
        buf: &[T],
        dest: usize,
        tag: i32,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let started = self.start_ssend(dest, tag, copy_bytes(buf));
        async move { started?.await }
    }

    /// Nonblocking [`ssend_buf`](Comm::ssend_buf) (`comm.Issend`).
    pub fn issend_buf<'a, T: Pod>(&self, buf: &'a [T], dest: usize, tag: i32) -> Request<'a, ()> {
        Request::new(self.ssend_buf(buf, dest, tag))
    }

    /// Receives into a caller's buffer (`comm.Recv([array, MPI.INT], ...)`). A message larger
    /// than the buffer is an [`Error::Truncated`]; a shorter one fills the front, and
    /// [`Status::count`] says how many elements arrived. The future borrows the
    /// communicator as well as the buffer: nothing is counted or shared for it.
    pub fn recv_into<'a, T: Pod>(
        &'a self,
        buf: &'a mut [T],
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        let incoming = self.post_borrowing(source.into(), tag.into());
        let buf = as_bytes_mut(buf);
        async move {
            let (mut incoming, buf) = (incoming?, buf?);
            let arrival = std::future::poll_fn(|cx| incoming.poll_into(buf, cx)).await?;
            copy_into(arrival, buf)
        }
    }

    /// Nonblocking [`recv_into`](Comm::recv_into) (`comm.Irecv`). The request borrows `buf`
    /// mutably until it completes or is dropped.
    pub fn irecv_into<'a, T: Pod>(
        &'a self,
        buf: &'a mut [T],
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Request<'a, Status> {
        Request::new(self.recv_into(buf, source, tag))
    }

    /// Receives a typed-buffer message into a new vector sized to fit it.
    pub fn recv_buf<T: Pod>(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<(Vec<T>, Status)>> + Send + 'static {
        let incoming = self.post(source.into(), tag.into());
        async move { to_vec(incoming?.await?) }
    }

    /// Sends `send` to `dest` and receives into `recv` from `source` at once (`comm.Sendrecv`).
    pub fn sendrecv_buf<'a, S: Pod, R: Pod>(
        &'a self,
        send: &'a [S],
        dest: usize,
        send_tag: i32,
        recv: &'a mut [R],
        source: impl Into<Source>,
        recv_tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'a {
        let incoming = self.recv_into(recv, source, recv_tag);
        let sent = self.start_send_buf(dest, send_tag, as_bytes(send));
        async move {
            let sent = sent?;
            let status = incoming.await?;
            if let Some(lent) = sent {
                lent.await?;
            }
            Ok(status)
        }
    }

    // --- probes ----------------------------------------------------------------------------

    /// Waits until a matching message has arrived and describes it without receiving it
    /// (`MPI_Probe`): the next receive with the same source and the status's tag gets it.
    pub fn probe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> impl Future<Output = Result<Status>> + Send + 'static {
        let started = self.pattern(source.into(), tag.into());
        let engine = self.engine().clone();
        async move {
            let (pattern, awaited) = started?;
            let (envelope, bytes) =
                std::future::poll_fn(|cx| engine.poll_probe(&pattern, &awaited, cx)).await?;
            Ok(Status {
                source: envelope.source as usize,
                tag: envelope.tag,
                bytes,
            })
        }
    }

    /// Describes a matching message if one has arrived, without waiting (`MPI_Iprobe`).
    pub fn iprobe(
        &self,
        source: impl Into<Source>,
        tag: impl Into<TagFilter>,
    ) -> Result<Option<Status>> {
        let (pattern, _) = self.pattern(source.into(), tag.into())?;
        Ok(self
            .engine()
            .iprobe(&pattern)
            .map(|(envelope, bytes)| Status {
                source: envelope.source as usize,
                tag: envelope.tag,
                bytes,
            }))
    }
}

/// Mixes a parent id, a per-parent sequence number and a colour into a child id (62 bits,
/// never the world's or self's). SplitMix64's finaliser: cheap, and the same on every host.
fn derive_id(parent: u64, seq: u64, color: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let id = mix(mix(mix(parent) ^ seq) ^ color) >> 2;
    if id <= SELF_ID {
        id + 2
    } else {
        id
    }
}

fn status_of(arrival: &Arrival) -> Status {
    let header = &arrival.header;
    Status {
        source: header.source as usize,
        tag: header.tag,
        bytes: arrival.payload.len(),
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    DefaultCodec::encode(value)
        .map(Bytes::from)
        .map_err(|reason| Error::Encode { reason })
}

fn decode<T: DeserializeOwned>(arrival: Arrival) -> Result<(T, Status)> {
    let status = status_of(&arrival);
    let payload = arrival.payload.into_bytes()?;
    let value = DefaultCodec::decode(&payload).map_err(|reason| Error::Decode {
        source_rank: status.source,
        tag: status.tag,
        reason,
    })?;
    Ok((value, status))
}

fn zero_sized() -> Error {
    Error::InvalidArgument("zero-sized element types cannot be used as buffers".into())
}

/// A buffer's bytes; zero-sized element types are refused, since their count cannot travel.
fn as_bytes<T: Pod>(buf: &[T]) -> Result<&[u8]> {
    if std::mem::size_of::<T>() == 0 {
        return Err(zero_sized());
    }
    Ok(bytemuck::cast_slice(buf))
}

fn as_bytes_mut<T: Pod>(buf: &mut [T]) -> Result<&mut [u8]> {
    if std::mem::size_of::<T>() == 0 {
        return Err(zero_sized());
    }
    Ok(bytemuck::cast_slice_mut(buf))
}

fn copy_bytes<T: Pod>(buf: &[T]) -> Result<Bytes> {
    as_bytes(buf).map(crate::pool::copy_of)
}

/// A vector of plain-old-data viewed as bytes, so `Bytes` can own it without a copy.
struct PodVec<T>(Vec<T>);

impl<T: Pod> AsRef<[u8]> for PodVec<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

fn owned_bytes<T: Pod + Send + Sync>(buf: Vec<T>) -> Result<Bytes> {
    as_bytes(&buf)?;
    Ok(Bytes::from_owner(PodVec(buf)))
}

fn copy_into(arrival: Arrival, buf: &mut [u8]) -> Result<Status> {
    let status = status_of(&arrival);
    let payload = arrival.payload;
    let Some(front) = buf.get_mut(..payload.len()) else {
        return Err(Error::Truncated {
            source_rank: status.source,
            tag: status.tag,
            message_bytes: payload.len(),
            buffer_bytes: buf.len(),
        });
    };
    payload.copy_to(front)?;
    Ok(status)
}

fn to_vec<T: Pod>(arrival: Arrival) -> Result<(Vec<T>, Status)> {
    let status = status_of(&arrival);
    let Some(count) = status.count::<T>() else {
        return Err(Error::ElementMismatch {
            source_rank: status.source,
            message_bytes: status.bytes,
            element_bytes: std::mem::size_of::<T>(),
        });
    };
    let mut out = vec![T::zeroed(); count];
    arrival
        .payload
        .copy_to(bytemuck::cast_slice_mut::<T, u8>(&mut out))?;
    Ok((out, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_differ_and_avoid_reserved_ones() {
        let mut seen = std::collections::HashSet::new();
        for parent in [WORLD_ID, SELF_ID, 12345] {
            for seq in 0..100 {
                for color in 0..10 {
                    let id = derive_id(parent, seq, color);
                    assert!(id > SELF_ID && id < (1 << 62));
                    assert!(seen.insert(id), "collision");
                }
            }
        }
    }
}
