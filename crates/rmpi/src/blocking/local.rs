//! In-process jobs for the blocking API: one thread per rank, for tests and examples.

use std::sync::Arc;

use rmpi_core::local::LocalTransport;
use rmpi_core::{Result, Transport};

use super::{Comm, Runner};

/// Runs `program` as a job of `n` ranks, each a thread of this process with its own
/// runtime, over the in-process transport, and returns each rank's result in rank order;
/// each rank finalizes after its program returns. A panic in any rank is resumed here.
/// The program returns a [`Result`], so `?` works in it without naming the error type.
///
/// ```
/// let squares = rmpi::blocking::local::run(4, |world| world.gather((world.rank() + 1).pow(2), 0));
/// assert_eq!(squares[0].as_ref().unwrap(), &Some(vec![1, 4, 9, 16]));
/// ```
pub fn run<R: Send>(n: usize, program: impl Fn(Comm) -> Result<R> + Sync) -> Vec<Result<R>> {
    let program = &program;
    std::thread::scope(|scope| {
        let ranks: Vec<_> = LocalTransport::mesh(n)
            .into_iter()
            .map(|endpoint| {
                let endpoint: Arc<dyn Transport> = Arc::new(endpoint);
                std::thread::Builder::new()
                    .name(format!("rmpi-rank-{}", endpoint.rank()))
                    .spawn_scoped(scope, move || {
                        let runner = Runner::new().expect("a single-threaded runtime can be built");
                        let world = Comm::new(rmpi_core::Comm::from_transport(endpoint), runner);
                        let result = program(world.clone());
                        if let Err(error) = world.finalize() {
                            tracing::warn!(rank = world.rank(), %error, "finalize failed");
                        }
                        result
                    })
                    .expect("a rank thread can be spawned")
            })
            .collect();
        let mut results = Vec::with_capacity(n);
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
