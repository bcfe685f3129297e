//! Threads as ranks: an in-process transport and helpers that run a whole job in one process.
//!
//! For unit tests, doctests and trying rmpi out; real jobs run each rank in its own process
//! through `rmpirun`. Every rank gets its own thread and its own single-threaded tokio runtime,
//! so ranks are as independent as processes would be and a waiting rank parks its thread
//! instead of spinning, which keeps oversubscribed jobs (more ranks than cores) fast.
//!
//! ```
//! let squares = rmpi::local::run(4, |world| async move {
//!     let rank = world.rank();
//!     if rank == 0 {
//!         let mut all = vec![0];
//!         for source in 1..world.size() {
//!             all.push(world.recv::<usize>(source, 0).await?);
//!         }
//!         Ok::<_, rmpi::Error>(all)
//!     } else {
//!         world.send(&(rank * rank), 0, 0).await?;
//!         Ok(vec![])
//!     }
//! });
//! assert_eq!(squares[0].as_ref().unwrap(), &vec![0, 1, 4, 9]);
//! # Ok::<(), rmpi::Error>(())
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::comm::Comm;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::lock;
use crate::transport::{Event, Transport};

/// One rank's mailbox: events from every peer, in arrival order.
#[derive(Debug, Default)]
struct Mailbox {
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// Set once the owner left: `Some(true)` if it was lost, `Some(false)` if it finished.
    departed: Option<bool>,
}

/// An endpoint of an in-process job: frames move between ranks as values, without copies.
///
/// ```
/// use std::sync::Arc;
/// use rmpi::local::{run_on, LocalTransport};
/// let endpoints = LocalTransport::mesh(2).into_iter().map(|t| Arc::new(t) as _).collect();
/// let sizes = run_on(endpoints, |comm| async move { comm.size() });
/// assert_eq!(sizes, [2, 2]);
/// ```
#[derive(Debug)]
pub struct LocalTransport {
    rank: usize,
    mailboxes: Arc<[Mutex<Mailbox>]>,
}

impl LocalTransport {
    /// Endpoints for an `n`-rank job, in rank order.
    ///
    /// ```
    /// let endpoints = rmpi::local::LocalTransport::mesh(3);
    /// assert_eq!(endpoints.len(), 3);
    /// ```
    pub fn mesh(n: usize) -> Vec<LocalTransport> {
        let mailboxes: Arc<[Mutex<Mailbox>]> = (0..n).map(|_| Mutex::default()).collect();
        (0..n)
            .map(|rank| LocalTransport {
                rank,
                mailboxes: mailboxes.clone(),
            })
            .collect()
    }

    /// Delivers `event` to `dest`'s mailbox unless `dest` has left.
    fn deliver(&self, dest: usize, event: Event) -> Result<()> {
        let mailbox = self.mailboxes.get(dest).ok_or(Error::InvalidRank {
            rank: dest,
            size: self.mailboxes.len(),
        })?;
        let waker = {
            let mut mailbox = lock::unpoisoned(mailbox);
            match mailbox.departed {
                Some(true) => return Err(Error::PeerLost { rank: dest }),
                Some(false) => return Err(Error::PeerFinished { rank: dest }),
                None => {}
            }
            mailbox.events.push_back(event);
            mailbox.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Tells every peer this rank left; only the first call counts.
    fn depart(&self, lost: bool) {
        {
            let mut own = lock::unpoisoned(&self.mailboxes[self.rank]);
            if own.departed.is_some() {
                return;
            }
            own.departed = Some(lost);
        }
        let rank = self.rank;
        for peer in (0..self.mailboxes.len()).filter(|&p| p != rank) {
            let event = if lost {
                Event::PeerLost { rank }
            } else {
                Event::PeerFinished { rank }
            };
            // A peer that already left needs no news.
            let _ = self.deliver(peer, event);
        }
    }
}

#[async_trait::async_trait]
impl Transport for LocalTransport {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.mailboxes.len()
    }

    fn send(&self, dest: usize, frame: Frame) -> Result<()> {
        self.deliver(
            dest,
            Event::Frame {
                from: self.rank,
                frame,
            },
        )
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Event> {
        let mut mailbox = lock::unpoisoned(&self.mailboxes[self.rank]);
        match mailbox.events.pop_front() {
            Some(event) => Poll::Ready(event),
            None => {
                if !mailbox
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    mailbox.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    async fn shutdown(&self) -> Result<()> {
        self.depart(false);
        Ok(())
    }
}

impl Drop for LocalTransport {
    fn drop(&mut self) {
        // Unwinding means the rank's program panicked: its peers must not wait for it.
        self.depart(std::thread::panicking());
    }
}

/// Runs an `n`-rank job in this process, one thread per rank, and returns each rank's result
/// in rank order. A rank that panics is reported to its peers as lost (their operations with
/// it fail with [`Error::PeerLost`] instead of hanging), and the panic is resumed here once
/// every rank has ended. The job has the default settings ([`Config::default`]); the
/// environment is not read ([`run_on_with`] takes settings).
///
/// ```
/// let ranks = rmpi::local::run(3, |comm| async move { comm.rank() });
/// assert_eq!(ranks, [0, 1, 2]);
/// ```
pub fn run<F, Fut, R>(n: usize, program: F) -> Vec<R>
where
    F: Fn(Comm) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    let endpoints = LocalTransport::mesh(n)
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect();
    run_on(endpoints, program)
}

/// Runs a job on the given endpoints (one per rank, in rank order, of any [`Transport`]), one
/// thread and one single-threaded runtime per rank, and returns each rank's result. Each rank
/// is finalized when its program returns. Panics are handled as in [`run`].
///
/// ```
/// use std::sync::Arc;
/// use rmpi::local::{run_on, LocalTransport};
/// let endpoints = LocalTransport::mesh(2).into_iter().map(|t| Arc::new(t) as _).collect();
/// let ranks = run_on(endpoints, |comm| async move { comm.rank() });
/// assert_eq!(ranks, [0, 1]);
/// ```
pub fn run_on<F, Fut, R>(endpoints: Vec<Arc<dyn Transport>>, program: F) -> Vec<R>
where
    F: Fn(Comm) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    run_on_with(endpoints, &Config::default(), program)
}

/// Runs a job as [`run_on`] does, every rank with the settings `config`.
///
/// ```
/// use std::sync::Arc;
/// use rmpi::config::{Config, TransportChoice};
/// use rmpi::local::{run_on_with, LocalTransport};
///
/// let config = Config::from_vars([("RMPI_TRANSPORT", "shm")])?;
/// let endpoints = LocalTransport::mesh(2).into_iter().map(|t| Arc::new(t) as _).collect();
/// let seen = run_on_with(endpoints, &config, |comm| async move { comm.config().transport });
/// assert_eq!(seen, [TransportChoice::Shm, TransportChoice::Shm]);
/// # Ok::<(), rmpi::Error>(())
/// ```
pub fn run_on_with<F, Fut, R>(
    endpoints: Vec<Arc<dyn Transport>>,
    config: &Config,
    program: F,
) -> Vec<R>
where
    F: Fn(Comm) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    let program = &program;
    std::thread::scope(|scope| {
        let ranks: Vec<_> = endpoints
            .into_iter()
            .map(|endpoint| {
                std::thread::Builder::new()
                    .name(format!("rmpi-rank-{}", endpoint.rank()))
                    .spawn_scoped(scope, move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a single-threaded tokio runtime can be built");
                        let world = Comm::with_config(endpoint, config.clone());
                        runtime.block_on(async {
                            let result = program(world.clone()).await;
                            if let Err(error) = world.finalize().await {
                                tracing::warn!(rank = world.rank(), %error, "finalize failed");
                            }
                            result
                        })
                    })
                    .expect("a rank thread can be spawned")
            })
            .collect();
        let mut results = Vec::with_capacity(ranks.len());
        let mut panic = None;
        for rank in ranks {
            match rank.join() {
                Ok(result) => results.push(result),
                Err(payload) => {
                    panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        results
    })
}
