//! One transport made of several: each peer is reached through the first transport that
//! serves it, so a job can use shared memory between the ranks of a host and TCP between
//! hosts, or put a third-party transport in front of the built-in ones for the peers it can
//! reach.
//!
//! Each [`Route`] is a transport and the world ranks it serves, in its own rank order (a
//! shared-memory transport among the ranks of one host numbers them `0..k`; the router maps
//! those back to world ranks in both directions). A transport may also serve peers that an
//! earlier route already serves; what it reports about them is ignored, so a TCP mesh over
//! every rank can back a shared-memory transport over some.
//!
//! ```
//! use std::sync::Arc;
//! use rmpi::local::LocalTransport;
//! use rmpi::transport::{Route, Router, Transport};
//! use rmpi::Comm;
//!
//! // Four ranks; ranks 0 and 1 share one transport, ranks 2 and 3 another, and a third one
//! // joins everybody. Each rank routes its pair's traffic through the pair's transport.
//! let mut pairs = vec![LocalTransport::mesh(2), LocalTransport::mesh(2)];
//! let mut everybody = LocalTransport::mesh(4);
//! let mut endpoints: Vec<Arc<dyn Transport>> = Vec::new();
//! for rank in (0..4).rev() {
//!     let pair = pairs[rank / 2].pop().unwrap();
//!     let members = vec![rank / 2 * 2, rank / 2 * 2 + 1];
//!     let routes = vec![
//!         Route { transport: Arc::new(pair), members },
//!         Route { transport: Arc::new(everybody.pop().unwrap()), members: (0..4).collect() },
//!     ];
//!     endpoints.insert(0, Arc::new(Router::new(rank, 4, routes)?));
//! }
//! let sums = rmpi::local::run_on(endpoints, |world: Comm| async move {
//!     let right = (world.rank() + 1) % 4;
//!     let left = (world.rank() + 3) % 4;
//!     world.send(&world.rank(), right, 0).await?;
//!     world.recv::<usize>(left, 0).await
//! });
//! assert_eq!(sums.into_iter().collect::<Result<Vec<_>, _>>()?, vec![3, 0, 1, 2]);
//! # Ok::<(), rmpi::Error>(())
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::frame::{Frame, Header};
use crate::loan::{Loan, Loans};
use crate::transport::{with_fast_paths, Event, FastPaths, Placer, Transport};

/// A transport and the world ranks it serves: `members[r]` is the world rank of its rank
/// `r`.
///
/// ```
/// use std::sync::Arc;
/// use rmpi::local::LocalTransport;
/// use rmpi::transport::{Route, Router};
/// // Rank 0 of two, reaching rank 1 through a two-rank transport.
/// let route = Route { transport: Arc::new(LocalTransport::mesh(2).remove(0)), members: vec![0, 1] };
/// let router = Router::new(0, 2, vec![route])?;
/// assert_eq!(router.routes_to(), [None, Some(0)]); // none needed for itself
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Clone)]
pub struct Route {
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// The world rank of each of its ranks, in its rank order.
    pub members: Vec<usize>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

/// Several transports as one; see the [module documentation](self).
///
/// ```
/// use std::sync::Arc;
/// use rmpi::local::LocalTransport;
/// use rmpi::transport::{Route, Router};
/// let route = Route { transport: Arc::new(LocalTransport::mesh(1).remove(0)), members: vec![0] };
/// // A route that does not reach every rank is an error naming the ranks.
/// assert!(Router::new(0, 2, vec![route]).is_err());
/// ```
pub struct Router {
    rank: usize,
    size: usize,
    routes: Vec<Route>,
    /// Each route's transport with its fast paths (or the plain path for each).
    paths: Vec<Arc<dyn FastPaths>>,
    /// For each world rank: the route that reaches it, and its rank there.
    way: Vec<Option<(usize, usize)>>,
    /// Where the next look for events starts, so no route is starved.
    next: AtomicUsize,
    /// How long a wait keeps looking before it arms every route.
    patience: Duration,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Routes world rank `rank` of `size` to its peers through `routes`, earlier routes first.
    /// Every route must count this rank among its members, at the transport's own rank, and
    /// every peer must be served by some route.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi::local::LocalTransport;
    /// use rmpi::transport::{Route, Router};
    /// let route = Route { transport: Arc::new(LocalTransport::mesh(1).remove(0)), members: vec![0] };
    /// let router = Router::new(0, 1, vec![route])?;
    /// let world = rmpi::Comm::from_transport(Arc::new(router));
    /// assert_eq!(world.size(), 1);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn new(rank: usize, size: usize, routes: Vec<Route>) -> Result<Router> {
        let mut way = vec![None; size];
        for (index, route) in routes.iter().enumerate() {
            let transport = &route.transport;
            if route.members.len() != transport.size()
                || route.members.get(transport.rank()) != Some(&rank)
            {
                return Err(Error::InvalidArgument(format!(
                    "route {index} has {} members for a transport of {} ranks, and must have \
                     world rank {rank} at its rank {}",
                    route.members.len(),
                    transport.size(),
                    transport.rank()
                )));
            }
            for (local, &world) in route.members.iter().enumerate() {
                let slot = way
                    .get_mut(world)
                    .ok_or(Error::InvalidRank { rank: world, size })?;
                if slot.is_none() && world != rank {
                    *slot = Some((index, local));
                }
            }
        }
        if let Some(peer) = (0..size).find(|&p| p != rank && way[p].is_none()) {
            return Err(Error::InvalidArgument(format!(
                "no route reaches rank {peer}"
            )));
        }
        let paths = routes
            .iter()
            .map(|route| with_fast_paths(route.transport.clone()))
            .collect();
        Ok(Router {
            rank,
            size,
            routes,
            paths,
            way,
            next: AtomicUsize::new(0),
            patience: Duration::ZERO,
        })
    }

    /// Keeps looking at every route for `patience` before a wait arms them all and gives the
    /// thread back: worth a few microseconds when a route (shared memory) delivers that fast
    /// and waking this thread from elsewhere costs more, as long as there are cores to spare.
    /// Events that need this thread to arrive (TCP) wait as long at most.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use rmpi::local::LocalTransport;
    /// use rmpi::transport::{Route, Router};
    /// let route = Route { transport: Arc::new(LocalTransport::mesh(1).remove(0)), members: vec![0] };
    /// let router = Router::new(0, 1, vec![route])?.with_patience(Duration::from_millis(50));
    /// # let _ = router;
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn with_patience(mut self, patience: Duration) -> Router {
        self.patience = patience;
        self
    }

    /// Which route reaches each world rank (`None` for this rank).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rmpi::local::LocalTransport;
    /// use rmpi::transport::{Route, Router};
    /// let route = Route { transport: Arc::new(LocalTransport::mesh(2).remove(1)), members: vec![0, 1] };
    /// assert_eq!(Router::new(1, 2, vec![route])?.routes_to(), [Some(0), None]);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn routes_to(&self) -> Vec<Option<usize>> {
        self.way.iter().map(|w| w.map(|(route, _)| route)).collect()
    }

    /// Rewrites an event from route `index` in world ranks; `None` if it is about a peer
    /// this route does not serve for us.
    fn translate(&self, index: usize, event: Event) -> Option<Event> {
        let world = |local: usize| self.world_of(index, local);
        Some(match event {
            Event::Frame { from, frame } => Event::Frame {
                from: world(from)?,
                frame,
            },
            Event::Lent {
                from,
                header,
                payload,
            } => Event::Lent {
                from: world(from)?,
                header,
                payload,
            },
            Event::Placed {
                from,
                header,
                placed,
            } => Event::Placed {
                from: world(from)?,
                header,
                placed,
            },
            Event::Rest { from, payload } => Event::Rest {
                from: world(from)?,
                payload,
            },
            Event::PeerFinished { rank } => Event::PeerFinished { rank: world(rank)? },
            Event::PeerLost { rank } => Event::PeerLost { rank: world(rank)? },
            Event::PeerMalformed { rank, reason } => Event::PeerMalformed {
                rank: world(rank)?,
                reason,
            },
        })
    }

    /// The world rank of rank `local` of route `index`, if the route serves it for us.
    fn world_of(&self, index: usize, local: usize) -> Option<usize> {
        let world = *self.routes[index].members.get(local)?;
        (self.way[world].map(|(route, _)| route) == Some(index)).then_some(world)
    }

    /// The next event from any route, as `look` takes it from the route's transport, in
    /// world ranks; the routes take turns at being looked at first.
    fn take(&self, mut look: impl FnMut(usize, &dyn FastPaths) -> Option<Event>) -> Option<Event> {
        let n = self.routes.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for step in 0..n {
            let index = (start + step) % n;
            while let Some(event) = look(index, &*self.paths[index]) {
                if let Some(event) = self.translate(index, event) {
                    return Some(event);
                }
            }
        }
        None
    }

    /// Which route serves world rank `dest`, and `dest`'s rank on it.
    fn way_to(&self, dest: usize) -> Result<(usize, usize)> {
        self.way
            .get(dest)
            .copied()
            .flatten()
            .ok_or(Error::InvalidRank {
                rank: dest,
                size: self.size,
            })
    }
}

#[async_trait::async_trait]
impl Transport for Router {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        let (index, local) = self.way_to(dest)?;
        self.paths[index].send(local, frame)
    }

    /// Looks at every route once more, then registers `cx` with each without letting any
    /// of them wait first ([`FastPaths::poll_recv_now`]): a transport whose events come from
    /// tasks on this thread (TCP) would otherwise wait for another's patience to run out.
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        if let Some(event) = self.try_recv(cx) {
            return Poll::Ready(event);
        }
        if !self.patience.is_zero() {
            let started = Instant::now();
            for round in 0u32.. {
                if round % 16 == 0 && started.elapsed() >= self.patience {
                    break;
                }
                std::hint::spin_loop();
                if let Some(event) = self.try_recv(cx) {
                    return Poll::Ready(event);
                }
            }
        }
        for (index, path) in self.paths.iter().enumerate() {
            while let Poll::Ready(event) = path.poll_recv_now(cx) {
                if let Some(event) = self.translate(index, event) {
                    return Poll::Ready(event);
                }
            }
        }
        Poll::Pending
    }

    async fn shutdown(&self) -> Result<()> {
        let mut outcome = Ok(());
        for route in &self.routes {
            if let Err(error) = route.transport.shutdown().await {
                outcome = outcome.and(Err(error));
            }
        }
        outcome
    }

    fn fast_paths(self: Arc<Self>) -> Option<Arc<dyn FastPaths>> {
        Some(self)
    }
}

impl FastPaths for Router {
    fn send_copy(&self, dest: usize, header: Header, payload: &[u8]) -> Result<()> {
        let (index, local) = self.way_to(dest)?;
        self.paths[index].send_copy(local, header, payload)
    }

    /// Fans out only where one route reaches every destination.
    fn fan_out(&self, dests: &[usize], header: Header, payload: &[u8]) -> Result<bool> {
        let mut locals = Vec::with_capacity(dests.len());
        let mut route = None;
        for &dest in dests {
            let (index, local) = self.way_to(dest)?;
            if *route.get_or_insert(index) != index {
                return Ok(false);
            }
            locals.push(local);
        }
        match route {
            Some(index) => self.paths[index].fan_out(&locals, header, payload),
            None => Ok(false),
        }
    }

    fn lend(&self, dest: usize, header: Header, address: u64, loan: Loan) -> Result<bool> {
        let (index, local) = self.way_to(dest)?;
        self.paths[index].lend(local, header, address, loan)
    }

    fn prefers_loan(&self, dest: usize, len: usize) -> bool {
        self.way_to(dest)
            .is_ok_and(|(index, local)| self.paths[index].prefers_loan(local, len))
    }

    /// Every route is asked: each takes back only what it lent.
    fn recall(&self, loans: &Loans, payload: &[u8]) {
        for path in &self.paths {
            path.recall(loans, payload);
        }
    }

    fn try_recv(&self, cx: &mut Context<'_>) -> Option<Event> {
        self.take(|_, transport| transport.try_recv(cx))
    }

    fn try_recv_placing(&self, cx: &mut Context<'_>, placer: &mut dyn Placer) -> Option<Event> {
        self.take(|index, transport| {
            let mut placer = RoutePlacer {
                router: self,
                index,
                placer: &mut *placer,
            };
            transport.try_recv_placing(cx, &mut placer)
        })
    }
}

/// A placer for one route's transport: asks the engine's with the sender's world rank, and
/// only about peers the route serves for us.
struct RoutePlacer<'a> {
    router: &'a Router,
    index: usize,
    placer: &'a mut dyn Placer,
}

impl Placer for RoutePlacer<'_> {
    fn place(&mut self, from: usize, header: &Header) -> Option<&mut [u8]> {
        let world = self.router.world_of(self.index, from)?;
        self.placer.place(world, header)
    }
}
