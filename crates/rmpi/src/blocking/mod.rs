//! The blocking API: the same calls as the async one, each returning when it is done, for
//! programs written the way MPI programs usually are (straight-line, one call after another).
//!
//! [`init`] joins the job and gives a [`Universe`] whose [`world`](Universe::world) is the
//! world communicator; dropping the universe finalizes (`MPI_Finalize`), as rsmpi's does.
//! [`run`] does both around a closure and also tells `rmpirun` which rank a failure began at.
//! Point-to-point calls and collectives are methods of [`Comm`], no trait to import;
//! nonblocking calls (`isend`, `irecv_into`, `ibcast`, ...) return a [`Request`] that is
//! [`wait`](Request::wait)ed or [`test`](Request::test)ed.
//!
//! ```no_run
//! // mpi4py: data = comm.gather((rank + 1) ** 2, root=0)
//! fn main() -> rmpi::Result<()> {
//!     let universe = rmpi::blocking::init()?;
//!     let world = universe.world();
//!     let squares = world.gather((world.rank() + 1).pow(2), 0)?;
//!     if let Some(squares) = squares {
//!         println!("{squares:?}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Each rank keeps a single-threaded tokio runtime that the calls run on, so no tokio (and
//! no `async`) appears in the program, and threads or rayon can be used beside it: a
//! [`Comm`] is `Clone + Send`, and several threads may call it at once. Messages progress
//! while some thread of the rank is inside a call, as in most MPI libraries; for progress in
//! the background, use the async API on a runtime of your own. A blocking call must not be
//! made from inside an async task (it would block that task's runtime): tokio refuses it.
//!
//! [`local::run`] runs a job with one thread per rank, for tests and the examples here:
//!
//! ```
//! let sums = rmpi::blocking::local::run(3, |world| {
//!     world.allreduce(world.rank() + 1, rmpi::prelude::Sum)
//! });
//! for sum in sums {
//!     assert_eq!(sum?, 6);
//! }
//! # Ok::<(), rmpi::Error>(())
//! ```

/// Writes blocking methods of [`Comm`], each running its async namesake to completion:
/// `fn name[generics](arguments) -> output;` per method.
macro_rules! blocking_calls {
    ($(
        $(#[$attr:meta])*
        fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),*) -> $out:ty;
    )*) => {$(
        $(#[$attr])*
        #[track_caller]
        pub fn $name<$($generics)*>(&self, $($arg: $ty),*) -> rmpi_core::Result<$out> {
            self.runner.wait(self.inner.$name($($arg),*))
        }
    )*};
}

/// Writes nonblocking methods of [`Comm`] that return a blocking [`Request`], each starting
/// its async namesake in the runtime's context (collectives start tasks there).
macro_rules! request_calls {
    ($(
        $(#[$attr:meta])*
        fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),*) -> $out:ty;
    )*) => {$(
        $(#[$attr])*
        #[track_caller]
        pub fn $name<$($generics)*>(&self, $($arg: $ty),*) -> $crate::blocking::Request<'static, $out> {
            let _context = self.runner.enter();
            $crate::blocking::Request::new(self.inner.$name($($arg),*), &self.runner)
        }
    )*};
}

mod collectives;
mod comm;
pub mod local;
mod persistent;
mod point;
mod request;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rmpi_core::config::Config;
use rmpi_core::Result;

pub use comm::Comm;
pub use persistent::{PersistentRecv, PersistentSend};
pub use request::{test_all, test_any, wait_all, wait_any, wait_some, Request};

/// Joins the job this process was launched into, as [`crate::init`] does, and returns the
/// universe whose [`world`](Universe::world) communicator the program uses. Settings come
/// from the environment ([`Config::from_env`]).
///
/// ```no_run
/// let universe = rmpi::blocking::init()?;
/// let world = universe.world();
/// println!("rank {} of {}", world.rank(), world.size());
/// # Ok::<(), rmpi::Error>(())
/// ```
pub fn init() -> Result<Universe> {
    init_with(Config::from_env()?)
}

/// Joins the job as [`init`] does, with settings made in code.
///
/// ```no_run
/// use rmpi::config::{BcastAlgorithm, Config};
///
/// let mut config = Config::from_env()?;
/// config.algorithms.bcast = Some(BcastAlgorithm::Binomial);
/// let universe = rmpi::blocking::init_with(config)?;
/// # Ok::<(), rmpi::Error>(())
/// ```
pub fn init_with(config: Config) -> Result<Universe> {
    let runner = Runner::new()?;
    let world = runner.wait(crate::init_with(config))?;
    Ok(Universe {
        world: Comm::new(world, runner),
        finalized: false,
    })
}

/// Runs `main` as this process's rank of its job and finalizes afterwards, also when `main`
/// fails; a failure is told to `rmpirun` with the rank it came from, so the launcher names
/// the rank where it began. The blocking counterpart of [`crate::run`].
///
/// ```no_run
/// fn main() -> rmpi::Result<()> {
///     rmpi::blocking::run(|world| {
///         println!("hello from rank {} of {}", world.rank(), world.size());
///         Ok(())
///     })
/// }
/// ```
pub fn run<T>(main: impl FnOnce(Comm) -> Result<T>) -> Result<T> {
    let universe = init()?;
    let outcome = main(universe.world());
    if let Err(error) = &outcome {
        rmpi_launch::pmi_client::report_failure(error.peer());
    }
    let finalized = universe.finalize();
    let value = outcome?;
    finalized?;
    Ok(value)
}

/// This process's membership of its job (rsmpi's `Universe`): hands out the world
/// communicator and finalizes when dropped (`MPI_Finalize`), unless the thread is
/// unwinding from a panic, so that peers see a failed rank fail rather than finish.
///
/// ```no_run
/// let universe = rmpi::blocking::init()?;
/// let world = universe.world();
/// world.barrier()?;
/// universe.finalize()?; // or let it drop at the end of main
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug)]
pub struct Universe {
    world: Comm,
    finalized: bool,
}

impl Universe {
    /// The world communicator (`MPI_COMM_WORLD`): every rank of the job.
    ///
    /// ```no_run
    /// let universe = rmpi::blocking::init()?;
    /// let world = universe.world();
    /// println!("rank {} of {}", world.rank(), world.size());
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn world(&self) -> Comm {
        self.world.clone()
    }

    /// Finalizes now and says whether it went well; dropping the universe does the same
    /// but can only log a failure.
    ///
    /// ```no_run
    /// let universe = rmpi::blocking::init()?;
    /// universe.world().barrier()?;
    /// universe.finalize()?;
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn finalize(mut self) -> Result<()> {
        self.finalized = true;
        self.world.finalize()
    }
}

impl Drop for Universe {
    fn drop(&mut self) {
        if self.finalized || std::thread::panicking() {
            return;
        }
        if let Err(error) = self.world.finalize() {
            tracing::warn!(rank = self.world.rank(), %error, "finalize failed");
        }
    }
}

/// The runtime a rank's blocking calls run on.
#[derive(Clone)]
pub(crate) struct Runner(Arc<tokio::runtime::Runtime>);

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runner")
    }
}

impl Runner {
    fn new() -> Result<Runner> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Runner(Arc::new(runtime)))
    }

    /// Runs `operation` to completion. It is polled once first, so an operation that is
    /// already done, or finishes while it is polled (most sends; on shared memory, a
    /// receive whose message comes soon), costs no trip through the runtime.
    fn wait<F: Future>(&self, operation: F) -> F::Output {
        let _context = self.0.enter();
        let mut operation = pin!(operation);
        if let Poll::Ready(done) = operation
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            return done;
        }
        self.0.block_on(operation)
    }

    /// Enters the runtime's context, for starting operations that start tasks.
    fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.0.enter()
    }

    /// Lets the runtime handle what has arrived, without waiting for anything.
    fn progress(&self) {
        self.0.block_on(async {
            // Twice: once to poll the sockets, once to run the tasks they woke.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        });
    }
}
