//! rmpi-conformance: the checks every rmpi transport must pass, for built-in backends and
//! third-party ones alike. A transport author implements [`Backend`] (how one rank joins
//! a job of threads) and lets [`tests!`] write one test per check:
//!
//! ```
//! use rmpi::transport::InProcess;
//! use rmpi_conformance::{Backend, Joining};
//!
//! /// The in-process transport, set up whole by rank 0 and shared through a registry.
//! struct Local;
//!
//! impl Backend for Local {
//!     fn join(&self, bootstrap: InProcess) -> Joining {
//!         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
//!     }
//! }
//!
//! rmpi_conformance::check_all(&Local);
//! ```
//!
//! Each check runs a job of a few ranks, one thread and one single-threaded tokio runtime
//! per rank, joined through an in-process [`InProcess`] bootstrap with a job id of its own
//! (so shared resources named after it do not collide). The checks, in the order of the
//! [`Transport`] contract:
//! - [`identity`]: ranks are `0..size` and each endpoint knows its own;
//! - [`order_and_integrity`]: every frame arrives, intact and in order per pair, from empty
//!   payloads to several MiB, every rank sending to every other at once;
//! - [`borrowed_sends`]: the same through [`FastPaths::send_copy`](rmpi_core::FastPaths::send_copy) from memory the sender
//!   reuses at once;
//! - [`many_small_frames`]: a flood of small frames to a slow receiver all arrives;
//! - [`clean_shutdown`]: a peer's frames arrive before its [`Event::PeerFinished`](rmpi_core::Event::PeerFinished);
//! - [`mpi_on_top`]: point-to-point, synchronous sends, wildcards and collectives through
//!   [`Comm`](rmpi_core::Comm) on the transport.
#![deny(missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rmpi_core::bootstrap::InProcess;
use rmpi_core::local::LocalTransport;
use rmpi_core::{Bootstrap, Error, Result, Transport};

mod frames;
mod mpi;

pub use frames::{
    borrowed_sends, clean_shutdown, identity, many_small_frames, order_and_integrity,
};
pub use mpi::mpi_on_top;

/// How long one rank may take over a check before it fails.
const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What [`Backend::join`] returns: the rank's endpoint, once connected.
///
/// ```
/// use rmpi_conformance::Joining;
/// // A transport whose endpoint needs no setup: ready at once.
/// let endpoint = rmpi::local::LocalTransport::mesh(1).remove(0);
/// let joining: Joining = Box::pin(async move { Ok(std::sync::Arc::new(endpoint) as _) });
/// # let _ = joining;
/// ```
pub type Joining = Pin<Box<dyn Future<Output = Result<Arc<dyn Transport>>> + Send>>;

/// How a transport under test makes one rank's endpoint.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// // The in-process transport checks itself the way a plugin would.
/// rmpi_conformance::identity(&Local);
/// ```
pub trait Backend: Sync {
    /// Joins the job `bootstrap` describes as its rank, on that rank's own thread and
    /// tokio runtime (every rank of the job joins at once).
    ///
    /// ```
    /// # use rmpi_conformance::{Backend, Joining};
    /// # struct Local;
    /// # impl Backend for Local {
    /// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
    /// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
    /// #     }
    /// # }
    /// // check_all calls join once per rank, each on its own thread.
    /// rmpi_conformance::identity(&Local);
    /// ```
    fn join(&self, bootstrap: InProcess) -> Joining;
}

/// Writes one `#[test]` per check for `backend`, an expression of a type that implements
/// [`Backend`].
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// // In a transport crate's tests/conformance.rs: one #[test] per check.
/// rmpi_conformance::tests!(Local);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! tests {
    ($backend:expr) => {
        #[test]
        fn conformance_identity() {
            $crate::identity(&$backend);
        }
        #[test]
        fn conformance_order_and_integrity() {
            $crate::order_and_integrity(&$backend);
        }
        #[test]
        fn conformance_borrowed_sends() {
            $crate::borrowed_sends(&$backend);
        }
        #[test]
        fn conformance_many_small_frames() {
            $crate::many_small_frames(&$backend);
        }
        #[test]
        fn conformance_clean_shutdown() {
            $crate::clean_shutdown(&$backend);
        }
        #[test]
        fn conformance_mpi_on_top() {
            $crate::mpi_on_top(&$backend);
        }
    };
}

/// Runs every check in turn; panics at the first that fails, saying which.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::check_all(&Local);
/// ```
pub fn check_all(backend: &impl Backend) {
    identity(backend);
    order_and_integrity(backend);
    borrowed_sends(backend);
    many_small_frames(backend);
    clean_shutdown(backend);
    mpi_on_top(backend);
}

/// A job id no other check of this process uses.
fn job_id(check: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("conformance-{}-{check}-{n}", std::process::id())
}

/// Runs `program` on every rank of a job of `size`, each on its own thread and runtime
/// with its joined endpoint; returns each rank's result. A check fails by panicking with a
/// message naming the rank.
fn job<F, Fut, R>(backend: &impl Backend, check: &str, size: usize, program: F) -> Vec<R>
where
    F: Fn(usize, Arc<dyn Transport>) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    let bootstraps = InProcess::job(size, &job_id(check));
    let program = &program;
    std::thread::scope(|scope| {
        let ranks: Vec<_> = bootstraps
            .into_iter()
            .map(|bootstrap| {
                scope.spawn(move || {
                    let rank = bootstrap.rank();
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime");
                    runtime.block_on(async move {
                        let endpoint = backend
                            .join(bootstrap)
                            .await
                            .unwrap_or_else(|e| panic!("{check}: rank {rank} could not join: {e}"));
                        // A transport that loses a frame would leave its receiver waiting.
                        tokio::time::timeout(TIME_LIMIT, program(rank, endpoint))
                            .await
                            .unwrap_or_else(|_| {
                                panic!(
                                    "{check}: rank {rank} was still waiting after {TIME_LIMIT:?}"
                                )
                            })
                    })
                })
            })
            .collect();
        ranks
            .into_iter()
            .map(|rank| {
                rank.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// The in-process transport's endpoint for `bootstrap`'s rank: rank 0's call of a job makes
/// the whole mesh, the others take their endpoint from it. For checking the in-process
/// transport itself, and as the simplest [`Backend::join`].
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// // Rank 0 builds the whole in-process mesh; every rank takes its own endpoint.
/// rmpi_conformance::mpi_on_top(&Local);
/// ```
pub fn local_endpoint(bootstrap: &InProcess) -> Result<Arc<dyn Transport>> {
    type Meshes = Mutex<HashMap<String, Vec<Option<LocalTransport>>>>;
    static MESHES: OnceLock<Meshes> = OnceLock::new();
    let meshes = MESHES.get_or_init(Meshes::default);
    let endpoint = {
        let mut meshes = meshes.lock().unwrap_or_else(|e| e.into_inner());
        let mesh = meshes
            .entry(bootstrap.job_id().to_owned())
            .or_insert_with(|| {
                LocalTransport::mesh(bootstrap.size())
                    .into_iter()
                    .map(Some)
                    .collect()
            });
        mesh[bootstrap.rank()].take()
    };
    let endpoint = endpoint.ok_or_else(|| Error::Bootstrap("rank joined twice".into()))?;
    Ok(Arc::new(endpoint))
}
