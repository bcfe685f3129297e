//! What a rank is waiting for: the operations its program is blocked in, for deadlock
//! reports.
//!
//! Every operation a program can wait on ([`Comm::recv`](crate::Comm::recv), an `ssend`, a
//! probe, a collective, ...) runs [`Traced`]: while it is pending it stands in this rank's
//! list of waits with what it is (an [`Operation`]), the communicator, and where the program
//! called it (`#[track_caller]`). A [`Watch`] reads that list together with a count of the
//! messages that have reached the rank, so a watcher that sees the same waits and the same
//! count for a while knows the rank is stuck. `rmpirun` starts such a watcher in every rank
//! and prints, when every rank is stuck, what each waits for and the cycle they form.
//!
//! Nothing is tracked until a watch is taken, and even then operations are only listed
//! while the watch is *armed* ([`Watch::arm`]), which a watcher does when nothing has
//! reached the rank for a while: arming wakes the rank's waiting tasks, whose pending
//! operations then list themselves. A rank that is moving pays no more than a flag read
//! per poll. An operation only [tested](crate::Request::test) does not count as waited on;
//! one running inside another (the receives of a collective) counts as the outer one.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use slab::Slab;

use crate::engine::Engine;

/// Whom an operation waits for, as ranks of its communicator.
///
/// ```
/// use rmpi::waits::{Operation, Peer};
/// let op = Operation::point_to_point("ssend", Peer::To(2), Some(0));
/// assert_eq!(op.peer, Peer::To(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The source of a receive or probe.
    From(usize),
    /// The destination of a send that waits for its receiver.
    To(usize),
    /// Any rank (`ANY_SOURCE`).
    Any,
    /// A rooted collective's root; it waits on the other members too.
    Root(usize),
    /// Every other member (a collective without a root).
    Members,
}

/// One operation as a deadlock report names it: `recv from rank 1, tag 11`.
///
/// ```
/// use rmpi::waits::{Operation, Peer};
/// let op = Operation::point_to_point("recv", Peer::From(1), Some(11));
/// assert_eq!((op.name, op.peer, op.tag), ("recv", Peer::From(1), Some(11)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The name the program called it by (`"recv"`, `"bcast"`).
    pub name: &'static str,
    /// Whom it waits for.
    pub peer: Peer,
    /// The tag it receives or sends with; `None` for any tag, or for a collective.
    pub tag: Option<i32>,
}

impl Operation {
    /// A point-to-point operation with a peer (`source` or `dest`) and a tag.
    ///
    /// ```
    /// use rmpi::waits::{Operation, Peer};
    /// let any = Operation::point_to_point("probe", Peer::Any, None);
    /// assert_eq!(any.tag, None); // any tag
    /// ```
    pub fn point_to_point(name: &'static str, peer: Peer, tag: Option<i32>) -> Operation {
        Operation { name, peer, tag }
    }

    /// A collective: rooted if `root` is given.
    ///
    /// ```
    /// use rmpi::waits::{Operation, Peer};
    /// assert_eq!(Operation::collective("bcast", Some(0)).peer, Peer::Root(0));
    /// assert_eq!(Operation::collective("barrier", None).peer, Peer::Members);
    /// ```
    pub fn collective(name: &'static str, root: Option<usize>) -> Operation {
        let peer = root.map_or(Peer::Members, Peer::Root);
        Operation {
            name,
            peer,
            tag: None,
        }
    }
}

/// An operation that a rank's program is blocked in.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use std::future::Future;
/// let watch = comm.watch_waits();
/// watch.arm(true); // pending operations list themselves from now on
/// if comm.rank() == 0 {
///     // Rank 1 answers only when told to, so the receive is still waiting below.
///     let mut reply = std::pin::pin!(comm.recv::<u32>(1, 11));
///     // Poll the receive once: it is pending, so it stands in the list.
///     std::future::poll_fn(|cx| {
///         let _ = reply.as_mut().poll(cx);
///         std::task::Poll::Ready(())
///     })
///     .await;
///     let snapshot = watch.snapshot().expect("the rank is alive");
///     let wait = &snapshot.waits[0];
///     assert!(wait.to_string().starts_with("recv from rank 1, tag 11, on world"), "{wait}");
///     assert_eq!(wait.awaits, [1]);
///     comm.send(&(), 1, 0).await?; // now answer
///     reply.await?;
/// } else {
///     comm.recv::<()>(0, 0).await?;
///     comm.send(&7u32, 0, 11).await?;
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Wait {
    /// What it is.
    pub operation: Operation,
    /// The communicator's name: `world`, `self`, or how it was made (`world.split#0`).
    pub communicator: Arc<str>,
    /// World ranks it waits for (the peer, or every other member for a wildcard or a
    /// collective), to find cycles among ranks.
    pub awaits: Vec<usize>,
    /// The peer's world rank, when the communicator is not the world.
    pub peer_in_world: Option<usize>,
    /// Where the program called it.
    pub location: &'static Location<'static>,
}

impl fmt::Display for Wait {
    /// `recv from rank 1, tag 11, on world, at src/main.rs:12:9`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = &self.operation;
        write!(f, "{}", op.name)?;
        let named = match op.peer {
            Peer::From(rank) => Some(("from rank", rank)),
            Peer::To(rank) => Some(("to rank", rank)),
            Peer::Root(rank) => Some(("with root", rank)),
            Peer::Any => {
                write!(f, " from any rank")?;
                None
            }
            Peer::Members => None,
        };
        if let Some((how, rank)) = named {
            write!(f, " {how} {rank}")?;
            if let Some(world) = self.peer_in_world {
                write!(f, " (world rank {world})")?;
            }
        }
        match (op.tag, op.peer) {
            (Some(tag), _) => write!(f, ", tag {tag}")?,
            (None, Peer::From(_) | Peer::Any) => write!(f, ", any tag")?,
            (None, _) => {}
        }
        write!(
            f,
            ", on {}, at {}:{}:{}",
            self.communicator,
            self.location.file(),
            self.location.line(),
            self.location.column()
        )
    }
}

/// What a rank is waiting for, and how many messages had reached it, at one moment.
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use std::future::Future;
/// let watch = comm.watch_waits();
/// watch.arm(true); // pending operations list themselves from now on
/// if comm.rank() == 0 {
///     // Rank 1 answers only when told to, so the receive is still waiting below.
///     let mut reply = std::pin::pin!(comm.recv::<u32>(1, 11));
///     // Poll the receive once: it is pending, so it stands in the list.
///     std::future::poll_fn(|cx| {
///         let _ = reply.as_mut().poll(cx);
///         std::task::Poll::Ready(())
///     })
///     .await;
///     let snapshot = watch.snapshot().expect("the rank is alive");
///     let wait = &snapshot.waits[0];
///     assert!(wait.to_string().starts_with("recv from rank 1, tag 11, on world"), "{wait}");
///     assert_eq!(wait.awaits, [1]);
///     comm.send(&(), 1, 0).await?; // now answer
///     reply.await?;
/// } else {
///     comm.recv::<()>(0, 0).await?;
///     comm.send(&7u32, 0, 11).await?;
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Messages (and other transport events) the rank has taken in so far: when it stays
    /// the same while the rank waits, nothing is reaching it.
    pub progress: u64,
    /// The operations its program is blocked in, oldest first.
    pub waits: Vec<Wait>,
}

/// Reads what one rank waits for, from any thread; see [`Comm::watch_waits`](crate::Comm::watch_waits).
///
/// ```
/// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
/// use std::future::Future;
/// let watch = comm.watch_waits();
/// watch.arm(true); // pending operations list themselves from now on
/// if comm.rank() == 0 {
///     // Rank 1 answers only when told to, so the receive is still waiting below.
///     let mut reply = std::pin::pin!(comm.recv::<u32>(1, 11));
///     // Poll the receive once: it is pending, so it stands in the list.
///     std::future::poll_fn(|cx| {
///         let _ = reply.as_mut().poll(cx);
///         std::task::Poll::Ready(())
///     })
///     .await;
///     let snapshot = watch.snapshot().expect("the rank is alive");
///     let wait = &snapshot.waits[0];
///     assert!(wait.to_string().starts_with("recv from rank 1, tag 11, on world"), "{wait}");
///     assert_eq!(wait.awaits, [1]);
///     comm.send(&(), 1, 0).await?; // now answer
///     reply.await?;
/// } else {
///     comm.recv::<()>(0, 0).await?;
///     comm.send(&7u32, 0, 11).await?;
/// }
/// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Watch {
    pub(crate) engine: Weak<Engine>,
}

impl Watch {
    /// What the rank waits for now; `None` once the rank's communicators are all gone.
    /// Lists only what waited while the watch was armed.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// use std::future::Future;
    /// let watch = comm.watch_waits();
    /// watch.arm(true); // pending operations list themselves from now on
    /// if comm.rank() == 0 {
    ///     // Rank 1 answers only when told to, so the receive is still waiting below.
    ///     let mut reply = std::pin::pin!(comm.recv::<u32>(1, 11));
    ///     // Poll the receive once: it is pending, so it stands in the list.
    ///     std::future::poll_fn(|cx| {
    ///         let _ = reply.as_mut().poll(cx);
    ///         std::task::Poll::Ready(())
    ///     })
    ///     .await;
    ///     let snapshot = watch.snapshot().expect("the rank is alive");
    ///     let wait = &snapshot.waits[0];
    ///     assert!(wait.to_string().starts_with("recv from rank 1, tag 11, on world"), "{wait}");
    ///     assert_eq!(wait.awaits, [1]);
    ///     comm.send(&(), 1, 0).await?; // now answer
    ///     reply.await?;
    /// } else {
    ///     comm.recv::<()>(0, 0).await?;
    ///     comm.send(&7u32, 0, 11).await?;
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn snapshot(&self) -> Option<Snapshot> {
        let engine = self.engine.upgrade()?;
        Some(Snapshot {
            progress: engine.progress(),
            waits: engine.waits().list(),
        })
    }

    /// Arms the watch (`true`: pending operations list themselves, and the rank's waiting
    /// tasks are woken to do so at once) or disarms it (operations already listed stay
    /// until they end). A watcher arms it when the rank seems stuck, and disarms it when
    /// messages move again. Returns `false` once the rank is gone.
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(2, |comm| async move {
    /// use std::future::Future;
    /// let watch = comm.watch_waits();
    /// watch.arm(true); // pending operations list themselves from now on
    /// if comm.rank() == 0 {
    ///     // Rank 1 answers only when told to, so the receive is still waiting below.
    ///     let mut reply = std::pin::pin!(comm.recv::<u32>(1, 11));
    ///     // Poll the receive once: it is pending, so it stands in the list.
    ///     std::future::poll_fn(|cx| {
    ///         let _ = reply.as_mut().poll(cx);
    ///         std::task::Poll::Ready(())
    ///     })
    ///     .await;
    ///     let snapshot = watch.snapshot().expect("the rank is alive");
    ///     let wait = &snapshot.waits[0];
    ///     assert!(wait.to_string().starts_with("recv from rank 1, tag 11, on world"), "{wait}");
    ///     assert_eq!(wait.awaits, [1]);
    ///     comm.send(&(), 1, 0).await?; // now answer
    ///     reply.await?;
    /// } else {
    ///     comm.recv::<()>(0, 0).await?;
    ///     comm.send(&7u32, 0, 11).await?;
    /// }
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    pub fn arm(&self, armed: bool) -> bool {
        let Some(engine) = self.engine.upgrade() else {
            return false;
        };
        if engine.waits().armed.swap(armed, Ordering::Relaxed) != armed {
            if armed {
                ARMED_ANYWHERE.fetch_add(1, Ordering::Relaxed);
                engine.wake_waiting();
            } else {
                ARMED_ANYWHERE.fetch_sub(1, Ordering::Relaxed);
            }
        }
        true
    }
}

/// How many registries in this process are armed: while none is, a traced operation is
/// polled as if it were not traced.
static ARMED_ANYWHERE: AtomicUsize = AtomicUsize::new(0);

/// A communicator as deadlock reports describe it.
#[derive(Debug, Clone)]
pub(crate) struct CommInfo {
    /// Its name ([`Comm::name`](crate::Comm::name)).
    pub(crate) name: Arc<str>,
    /// World rank of each member.
    pub(crate) group: Arc<[usize]>,
    /// This rank's rank in it.
    pub(crate) rank: usize,
    /// Whether it is the world (whose ranks need no translation).
    pub(crate) world: bool,
}

/// The operations a rank's program is blocked in, and its communicators (one per engine).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    armed: AtomicBool,
    /// Listed waits, with the order they began in (slab keys are reused).
    waits: Mutex<Slab<(u64, Site)>>,
    /// Every live communicator handle's description, by serial.
    comms: Mutex<HashMap<u64, CommInfo>>,
    /// Serials of communicators, and the order of waits.
    next: AtomicU64,
}

impl Drop for Registry {
    fn drop(&mut self) {
        if *self.armed.get_mut() {
            ARMED_ANYWHERE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Registry {
    /// Registers a communicator; returns the serial its operations name it by.
    pub(crate) fn add_comm(&self, info: CommInfo) -> u64 {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let mut comms = self.comms.lock().unwrap_or_else(|e| e.into_inner());
        comms.insert(serial, info);
        serial
    }

    /// Forgets a communicator that is gone.
    pub(crate) fn remove_comm(&self, serial: u64) {
        let mut comms = self.comms.lock().unwrap_or_else(|e| e.into_inner());
        comms.remove(&serial);
    }

    /// Notes, for the [`Traced`] operation being polled on this thread, that its wait is
    /// pending on this rank and should be listed if the watch is armed. The engine calls
    /// it whenever a wait returns `Pending`.
    pub(crate) fn note_pending(self: &Arc<Self>) {
        if self.armed.load(Ordering::Relaxed) {
            PENDING_ON.set(Some(self.clone()));
        }
    }

    fn insert(&self, site: Site) -> usize {
        let order = self.next.fetch_add(1, Ordering::Relaxed);
        let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        waits.insert((order, site))
    }

    fn remove(&self, key: usize) {
        let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
        waits.try_remove(key);
    }

    fn list(&self) -> Vec<Wait> {
        let mut listed: Vec<(u64, Site)> = {
            let waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
            waits.iter().map(|(_, entry)| *entry).collect()
        };
        listed.sort_by_key(|(order, _)| *order);
        let comms = self.comms.lock().unwrap_or_else(|e| e.into_inner());
        listed
            .into_iter()
            .filter_map(|(_, site)| Some(site.wait(comms.get(&site.comm)?)))
            .collect()
    }
}

/// How the current thread is polling rmpi operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polling {
    /// Awaiting them: a pending operation is waited on.
    Waiting,
    /// Inside a traced operation: what it runs is part of it.
    Inside,
    /// Testing a request: pending is not waiting.
    Testing,
}

thread_local! {
    static POLLING: Cell<Polling> = const { Cell::new(Polling::Waiting) };
    /// The armed registry of the rank a wait polled on this thread just returned `Pending`
    /// on (see [`Registry::note_pending`]).
    static PENDING_ON: Cell<Option<Arc<Registry>>> = const { Cell::new(None) };
}

/// Sets how this thread polls, and puts back what was there when dropped.
struct Mode(Polling);

impl Mode {
    fn set(polling: Polling) -> Mode {
        Mode(POLLING.replace(polling))
    }
}

impl Drop for Mode {
    fn drop(&mut self) {
        POLLING.set(self.0);
    }
}

/// Polls `poll` as a test: operations pending in it are not waited on.
pub(crate) fn testing<T>(poll: impl FnOnce() -> T) -> T {
    let _mode = Mode::set(Polling::Testing);
    poll()
}

/// What a [`Traced`] operation is, and where it was called: plain data, so tracing costs
/// nothing while no watch is armed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site {
    /// The communicator's serial ([`Registry::add_comm`]).
    pub(crate) comm: u64,
    pub(crate) operation: Operation,
    pub(crate) location: &'static Location<'static>,
}

impl Site {
    /// The wait this is, on the communicator `comm` describes.
    fn wait(&self, comm: &CommInfo) -> Wait {
        let group = &comm.group;
        let me = group.get(comm.rank).copied();
        let others = || group.iter().copied().filter(|&r| Some(r) != me).collect();
        let in_world = |rank: usize| group.get(rank).copied();
        let (awaits, peer) = match self.operation.peer {
            Peer::From(rank) | Peer::To(rank) => {
                (in_world(rank).into_iter().collect(), in_world(rank))
            }
            Peer::Root(rank) => (others(), in_world(rank)),
            Peer::Any | Peer::Members => (others(), None),
        };
        Wait {
            operation: self.operation,
            communicator: comm.name.clone(),
            awaits,
            peer_in_world: peer.filter(|_| !comm.world),
            location: self.location,
        }
    }
}

pin_project_lite::pin_project! {
    /// An operation that stands in its rank's list of waits while it is pending (see the
    /// [module](self)); made by [`Comm::traced`](crate::Comm::traced).
    ///
    /// ```
    /// # use rmpi::prelude::*; rmpi::local::run(1, |comm| async move {
    /// use rmpi::waits::Operation;
    /// // A library's own blocking operation, named in deadlock reports as `my_exchange`.
    /// let traced = comm.traced(Operation::collective("my_exchange", None), async { 1 + 1 });
    /// assert_eq!(traced.await, 2);
    /// # Ok::<_, rmpi::Error>(()) }).into_iter().collect::<rmpi::Result<()>>()?; Ok::<_, rmpi::Error>(())
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Traced<F> {
        #[pin]
        operation: F,
        site: Site,
        // Where it is listed, while it is.
        entry: Option<(Arc<Registry>, usize)>,
    }

    impl<F> PinnedDrop for Traced<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((registry, key)) = this.project().entry.take() {
                registry.remove(key);
            }
        }
    }
}

impl<F> fmt::Debug for Traced<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traced")
            .field("operation", &self.site.operation)
            .field("listed", &self.entry.is_some())
            .finish_non_exhaustive()
    }
}

impl<F: Future> Traced<F> {
    pub(crate) fn new(operation: F, site: Site) -> Traced<F> {
        Traced {
            operation,
            site,
            entry: None,
        }
    }

    /// The operation itself.
    pub(crate) fn operation(&self) -> &F {
        &self.operation
    }

    /// The operation itself, which needs no pinning.
    pub(crate) fn operation_mut(&mut self) -> &mut F
    where
        F: Unpin,
    {
        &mut self.operation
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let watched = ARMED_ANYWHERE.load(Ordering::Relaxed) > 0;
        let outcome = if watched && POLLING.get() == Polling::Waiting {
            let _mode = Mode::set(Polling::Inside);
            drop(PENDING_ON.take());
            let outcome = this.operation.poll(cx);
            if let (Poll::Pending, None, Some(registry)) =
                (&outcome, this.entry.as_ref(), PENDING_ON.take())
            {
                let key = registry.insert(*this.site);
                *this.entry = Some((registry, key));
            }
            outcome
        } else {
            this.operation.poll(cx)
        };
        if outcome.is_ready() {
            if let Some((registry, key)) = this.entry.take() {
                registry.remove(key);
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Runs a two-rank job where rank 0 calls `wait` (which must wait for rank 1) and rank 1
    /// calls `release` once a watcher has seen rank 0 waiting; returns what it saw.
    fn seen_while_waiting<W, R>(wait: W, release: R) -> Snapshot
    where
        W: Fn(crate::Comm) -> futures_like::Boxed + Sync,
        R: Fn(crate::Comm) -> futures_like::Boxed + Sync,
    {
        let seen: Mutex<Option<Snapshot>> = Mutex::new(None);
        let results = local::run(2, |world| {
            let seen = &seen;
            let (wait, release) = (&wait, &release);
            async move {
                if world.rank() == 0 {
                    let watch = world.watch_waits();
                    watch.arm(true);
                    let watcher = std::thread::spawn(move || loop {
                        let snapshot = watch.snapshot().expect("the rank is alive");
                        if !snapshot.waits.is_empty() {
                            return snapshot;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    });
                    let waited = wait(world.clone());
                    let joined = async {
                        while !watcher.is_finished() {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        *seen.lock().unwrap() = Some(watcher.join().unwrap());
                    };
                    let (outcome, ()) = tokio::join!(waited, joined);
                    outcome?;
                    let after = world.watch_waits().snapshot().unwrap();
                    assert!(after.waits.is_empty(), "{:?}", after.waits);
                } else {
                    while seen.lock().unwrap().is_none() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    release(world.clone()).await?;
                }
                Ok::<(), crate::Error>(())
            }
        });
        for result in results {
            result.unwrap();
        }
        seen.into_inner().unwrap().unwrap()
    }

    mod futures_like {
        pub type Boxed = std::pin::Pin<
            Box<dyn std::future::Future<Output = crate::Result<()>> + Send + 'static>,
        >;
    }

    #[test]
    fn a_pending_receive_is_listed_with_its_callers_location() {
        let line = line!() + 3;
        let seen = seen_while_waiting(
            |world| {
                let incoming = world.recv::<u32>(1, 11);
                Box::pin(async move { incoming.await.map(drop) })
            },
            |world| Box::pin(world.send(&5u32, 0, 11)),
        );
        assert_eq!(seen.waits.len(), 1);
        let wait = &seen.waits[0];
        assert_eq!(wait.location.file(), file!());
        assert_eq!(wait.location.line(), line);
        assert_eq!(wait.awaits, vec![1]);
        let text = wait.to_string();
        assert!(
            text.starts_with("recv from rank 1, tag 11, on world, at "),
            "{text}"
        );
    }

    #[test]
    fn a_synchronous_send_on_a_derived_communicator_names_both_ranks() {
        let seen = seen_while_waiting(
            |world| {
                let dup = world.dup();
                Box::pin(async move { dup.ssend(&1u8, 1, 4).await })
            },
            |world| {
                let dup = world.dup();
                Box::pin(async move { dup.recv::<u8>(0, 4).await.map(drop) })
            },
        );
        let text = seen.waits[0].to_string();
        assert!(
            text.starts_with("ssend to rank 1 (world rank 1), tag 4, on world.dup#0, at"),
            "{text}"
        );
    }

    #[test]
    fn a_tested_request_is_not_a_wait_and_an_operation_inside_another_is_not_listed() {
        let seen = seen_while_waiting(
            |world| {
                Box::pin(async move {
                    let mut tested = world.irecv::<u8>(1, 1);
                    assert!(tested.test().is_none());
                    // A receive inside another traced operation counts as that one.
                    let outer = Operation::collective("my_collective", Some(1));
                    world.traced(outer, world.recv::<u8>(1, 2)).await?;
                    tested.await.map(drop)
                })
            },
            |world| {
                Box::pin(async move {
                    world.send(&2u8, 0, 2).await?;
                    world.send(&1u8, 0, 1).await
                })
            },
        );
        let listed: Vec<String> = seen.waits.iter().map(|w| w.to_string()).collect();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].starts_with("my_collective with root 1, on world"));
    }
}
