//! Helpers shared by the integration tests.

use rmpi_core::Result;

/// Unwraps every rank's result, naming the rank that failed.
pub fn all_ok<R>(results: Vec<Result<R>>) -> Vec<R> {
    results
        .into_iter()
        .enumerate()
        .map(|(rank, r)| r.unwrap_or_else(|e| panic!("rank {rank} failed: {e}")))
        .collect()
}
