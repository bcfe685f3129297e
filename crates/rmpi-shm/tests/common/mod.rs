//! What the shared-memory tests share: a job of thread ranks over a real segment, and how a
//! rank reports what it found wrong.

use std::future::Future;
use std::sync::Arc;

use rmpi_core::{Comm, Error, Result, Transport};
use rmpi_shm::{ShmOptions, ShmTransport};

/// Runs `rank` on every rank of a job of `ranks` threads over a real segment, and checks
/// that every rank succeeded.
pub fn run_mesh<F, Fut>(ranks: usize, options: &ShmOptions, rank: F)
where
    F: Fn(Comm) -> Fut + Sync,
    Fut: Future<Output = Result<()>>,
{
    let endpoints = ShmTransport::mesh(ranks, options).expect("joins");
    let endpoints = endpoints
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect();
    let results = rmpi_core::local::run_on(endpoints, rank);
    for (rank, result) in results.into_iter().enumerate() {
        assert!(result.is_ok(), "rank {rank}: {result:?}");
    }
}

/// A rank's problems as its result. Ranks collect problems instead of asserting: a panicking
/// rank would leave its peer waiting for a goodbye that never comes (both ranks are threads
/// of one process).
pub fn verdict(problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidArgument(problems.join("; ")))
    }
}
