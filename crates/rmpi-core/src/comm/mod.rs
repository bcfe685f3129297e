//! Communicators: a group of ranks with contexts of their own, and point-to-point on them.
//!
//! Each communicator has an id, and each id gives three communication contexts: one for user
//! point-to-point traffic, one for collectives ([`CollectiveComm::collective_view`]) and one for rmpi's
//! own bookkeeping (building communicators). Messages only ever match within one context, so
//! the same tag on two communicators, or on a communicator and its collectives, never crosses.
//!
//! Ids of derived communicators are computed, not negotiated: `dup` and `split` are collective
//! and every member calls them in the same order, so every member derives the same id from the
//! parent's id, a per-parent counter and the colour.
//!
//! Every operation starts when it is called: a receive is posted and a send handed to the
//! transport before the returned future is first polled, so call order is matching order.

mod buffers;
mod collective;
mod derived;
mod objects;
mod packed;
mod persistent;
mod probe;
mod topology;
mod typed;

pub use collective::CollectiveComm;
pub use derived::SplitType;
use objects::encode;
pub use persistent::{PersistentRecv, PersistentSend};
pub use probe::Message;

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::config::Config;
use crate::engine::{Awaited, Engine};
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameKind, Header};
use crate::host;
use crate::loan::Loans;
use crate::matching::Pattern;
use crate::rendezvous::LentSend;
use crate::request::{status_of, Acknowledgement, Receive, Waiting};
use crate::status::{Source, TagFilter};
use crate::topology::Cartesian;
use crate::transport::Transport;
use crate::waits::{CommInfo, Operation, Peer, Site, Traced, Watch};

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
    /// What deadlock reports call it: `world`, `self`, or how it was made.
    name: Arc<str>,
    /// How its operations name it to the engine's list of waits.
    serial: u64,
    rank: usize,
    /// World rank of each member, indexed by rank in this communicator.
    group: Arc<[usize]>,
    /// Counts `dup`/`split` calls, which every member makes in the same order.
    children: AtomicU64,
    /// Counts collective operations, which every member starts in the same order.
    collectives: AtomicU64,
    /// The grid its ranks are laid out on, for a communicator made by `create_cart`.
    topology: Option<Arc<Cartesian>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.engine.waits().remove_comm(self.serial);
    }
}

/// A communicator (`MPI_Comm`): a group of ranks that exchange messages in a context of their
/// own. Cheap to clone; clones are the same communicator.
///
/// ```
/// # rmpi::local::run(3, |world| async move {
/// use rmpi::{ANY_SOURCE, ANY_TAG};
/// if world.rank() == 0 {
///     for _ in 1..world.size() {
///         let (greeting, status) = world.recv_with_status::<String>(ANY_SOURCE, ANY_TAG).await?;
///         assert_eq!(greeting, format!("hello from {}", status.source));
///     }
/// } else {
///     world.send(&format!("hello from {}", world.rank()), 0, 7).await?;
/// }
/// # Ok::<(), rmpi::Error>(())
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
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi::local::LocalTransport;
    /// let mut endpoints = LocalTransport::mesh(1);
    /// let world = rmpi::Comm::from_transport(Arc::new(endpoints.remove(0)));
    /// assert_eq!((world.rank(), world.size()), (0, 1));
    /// ```
    pub fn from_transport(transport: Arc<dyn Transport>) -> Comm {
        Comm::with_config(transport, Config::default())
    }

    /// The world communicator over one rank's transport endpoint, with the job's settings.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi::config::{BcastAlgorithm, Config};
    /// use rmpi::local::LocalTransport;
    ///
    /// let mut config = Config::default();
    /// config.algorithms.bcast = Some(BcastAlgorithm::Flat);
    /// let endpoint = LocalTransport::mesh(1).remove(0);
    /// let world = rmpi::Comm::with_config(Arc::new(endpoint), config);
    /// assert_eq!(world.config().algorithms.bcast, Some(BcastAlgorithm::Flat));
    /// ```
    pub fn with_config(transport: Arc<dyn Transport>, config: Config) -> Comm {
        let engine = Arc::new(Engine::new(transport));
        let ranks_here = engine.size(); // an in-process job: every rank on this host
        let limit = config.unexpected_bytes;
        engine
            .limit_unexpected(limit.unwrap_or_else(|| host::unexpected_bytes_default(ranks_here)));
        let group: Arc<[usize]> = (0..engine.size()).collect();
        let config = Arc::new(config);
        let name = Arc::from("world");
        Comm::new(
            engine.clone(),
            config,
            (WORLD_ID, name),
            engine.rank(),
            group,
        )
    }

    /// The settings of the job this communicator belongs to.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(1, |comm| async move {
    /// let config = comm.config();
    /// assert_eq!(config.transport, rmpi::config::TransportChoice::Auto);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    fn new(
        engine: Arc<Engine>,
        config: Arc<Config>,
        (id, name): (u64, Arc<str>),
        rank: usize,
        group: Arc<[usize]>,
    ) -> Comm {
        let serial = engine.waits().add_comm(CommInfo {
            name: name.clone(),
            group: group.clone(),
            rank,
            world: id == WORLD_ID,
        });
        Comm {
            shared: Arc::new(Shared {
                engine,
                config,
                id,
                name,
                serial,
                rank,
                group,
                children: AtomicU64::new(0),
                collectives: AtomicU64::new(0),
                topology: None,
            }),
            plane: Plane::PointToPoint,
        }
    }

    /// This process's rank in the communicator (`MPI_Comm_rank`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(3, |comm| async move {
    /// let rank = comm.rank();
    /// assert!(rank < comm.size());
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn rank(&self) -> usize {
        self.shared.rank
    }

    /// Number of ranks in the communicator (`MPI_Comm_size`).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(3, |comm| async move {
    /// assert_eq!(comm.size(), 3);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.shared.group.len()
    }

    /// The world rank of this communicator's `rank`, if there is such a member.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(4, |comm| async move {
    /// let odd_or_even = comm.split(Some(comm.rank() as u32 % 2), 0).await?.unwrap();
    /// // Rank 1 of the odd ranks is world rank 3.
    /// if comm.rank() % 2 == 1 {
    ///     assert_eq!(odd_or_even.world_rank(1), Some(3));
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn world_rank(&self, rank: usize) -> Option<usize> {
        self.shared.group.get(rank).copied()
    }

    /// The communicator's name, as deadlock reports show it (`MPI_Comm_get_name`): `world`,
    /// `self`, or how it was made from its parent, such as `world.dup#0` (the parent's
    /// first `dup` or `split`) or `world.split#1(colour 2)`.
    ///
    /// ```
    /// # rmpi::local::run(2, |world| async move {
    /// assert_eq!(world.name(), "world");
    /// assert_eq!(world.dup().name(), "world.dup#0");
    /// let half = world.split(Some(world.rank() as u32 % 2), 0).await?.unwrap();
    /// assert_eq!(half.name(), format!("world.split#1(colour {})", world.rank() % 2));
    /// # Ok::<(), rmpi::Error>(())
    /// # }).into_iter().collect::<Result<(), _>>().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs `operation` as one call a program can wait in: while it is pending, deadlock
    /// reports list it as `operation` on this communicator, called where the caller of this
    /// (`#[track_caller]`) was called. For layers built on rmpi-core, such as collectives;
    /// rmpi's own operations already do it. See [`waits`](crate::waits).
    ///
    /// ```
    /// use rmpi::waits::{Operation, Peer};
    /// # rmpi::local::run(2, |world| async move {
    /// // A library's "gather to rank 0", reported as such while it waits.
    /// let gathered = world.traced(Operation::collective("my_gather", Some(0)), async {
    ///     if world.rank() == 0 {
    ///         world.recv::<u32>(1, 5).await
    ///     } else {
    ///         world.send(&7u32, 0, 5).await.map(|()| 7)
    ///     }
    /// });
    /// assert_eq!(gathered.await?, 7);
    /// # Ok::<(), rmpi::Error>(())
    /// # }).into_iter().collect::<Result<(), _>>().unwrap();
    /// ```
    #[track_caller]
    pub fn traced<F: Future>(&self, operation: Operation, future: F) -> Traced<F> {
        self.traced_at(operation, std::panic::Location::caller(), future)
    }

    /// [`traced`](Comm::traced) with the caller's location given: for an operation started
    /// where the program called it and run elsewhere, as a collective's rounds are.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(1, |comm| async move {
    /// use rmpi::waits::Operation;
    /// let here = std::panic::Location::caller();
    /// let answer = comm.traced_at(Operation::collective("my_reduce", None), here, async { 42 }).await;
    /// assert_eq!(answer, 42);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn traced_at<F: Future>(
        &self,
        operation: Operation,
        location: &'static std::panic::Location<'static>,
        future: F,
    ) -> Traced<F> {
        let site = Site {
            comm: self.shared.serial,
            operation,
            location,
        };
        Traced::new(future, site)
    }

    /// Lets what this rank's program waits for (on every communicator of the rank) be
    /// recorded, and returns a handle that arms the recording and reads it from any thread:
    /// `rmpirun` uses it for its deadlock reports. See [`waits`](crate::waits).
    ///
    /// ```
    /// # rmpi::local::run(2, |world| async move {
    /// let watch = world.watch_waits();
    /// watch.arm(true); // list pending operations from now on
    /// if world.rank() == 0 {
    ///     let reply = world.recv::<u32>(1, 0);
    ///     // (another thread would call this while the receive waits)
    ///     assert!(watch.snapshot().unwrap().waits.is_empty(), "not waiting until polled");
    ///     reply.await?;
    /// } else {
    ///     world.send(&1u32, 0, 0).await?;
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// # }).into_iter().collect::<Result<(), _>>().unwrap();
    /// ```
    pub fn watch_waits(&self) -> Watch {
        Watch {
            engine: Arc::downgrade(self.engine()),
        }
    }

    /// Ends every rank of the job, at once, with exit code `code` (`comm.Abort(code)`,
    /// `MPI_Abort`), whatever the communicator: `rmpirun` (or Hydra's `mpiexec`) ends the
    /// other ranks, names this one and exits with `code`. Use it where a rank finds that
    /// the job cannot go on and the others may be waiting for it. Exit codes are 0-255.
    ///
    /// ```no_run
    /// # let results = rmpi::local::run(2, |comm| async move {
    /// let settings_ok = std::path::Path::new("settings.toml").exists();
    /// if comm.rank() == 0 && !settings_ok {
    ///     comm.abort(7); // every rank ends; rmpirun exits with 7
    /// }
    /// # Ok::<(), rmpi::Error>(())
    /// # });
    /// ```
    pub fn abort(&self, code: i32) -> ! {
        let world_rank = self.world_rank(self.rank()).unwrap_or(self.rank());
        crate::abort::abort(world_rank, code)
    }

    /// Flushes what the transport still buffers and tells the other ranks this one is done
    /// (`MPI_Finalize`). Call once, when the rank has finished communicating.
    ///
    /// ```no_run
    /// # async fn example() -> rmpi::Result<()> {
    /// let world = rmpi::init().await?;
    /// // ... this rank's work ...
    /// world.finalize().await?;
    /// # Ok(()) }
    /// ```
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

    pub(crate) fn engine(&self) -> &Arc<Engine> {
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
    /// rendezvous): then the returned send completes once the
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
        if payload.len() >= crate::send_path::LEND_FROM
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
}

/// A receive-like operation (a receive, a probe) as deadlock reports name it.
fn receiving(name: &'static str, source: Source, tag: TagFilter) -> Operation {
    let peer = match source {
        Source::Rank(rank) => Peer::From(rank),
        Source::Any => Peer::Any,
    };
    let tag = match tag {
        TagFilter::Tag(tag) => Some(tag),
        TagFilter::Any => None,
    };
    Operation::point_to_point(name, peer, tag)
}

/// A send that waits for its receiver, as deadlock reports name it.
fn sending(name: &'static str, dest: usize, tag: i32) -> Operation {
    Operation::point_to_point(name, Peer::To(dest), Some(tag))
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
