//! rmpi: MPI-style message passing in pure Rust, the way mpi4py users know it.
//!
//! This is the crate applications depend on. It re-exports [`rmpi_core`] (communicators,
//! point-to-point, requests, the [`Transport`] seam) and the transport backends chosen by
//! cargo features: `tcp` and `shm`, both on by default.
//!
//! A program joins its job with [`run`] (or [`init`]) and is started as N processes by
//! `rmpirun -n N program` (crate `rmpi-launch`); started alone, it is rank 0 of a job of one:
//!
//! ```no_run
//! use rmpi::prelude::*;
//!
//! fn main() -> rmpi::Result<()> {
//!     rmpi::run(|comm| async move {
//!         let squares = comm.gather((comm.rank() + 1).pow(2), 0).await?;
//!         if let Some(squares) = squares {
//!             println!("{squares:?}");
//!         }
//!         Ok(())
//!     })
//! }
//! ```
//!
//! For tests and doctests, [`local::run`] runs the ranks as threads of one process:
//!
//! ```
//! // mpi4py: data = comm.gather((rank + 1) ** 2, root=0)
//! use rmpi::prelude::*;
//! let gathered = rmpi::local::run(4, |comm| async move {
//!     comm.gather((comm.rank() + 1).pow(2), 0).await
//! });
//! assert_eq!(gathered[0].as_ref().unwrap(), &Some(vec![1, 4, 9, 16]));
//! assert_eq!(gathered[1].as_ref().unwrap(), &None);
//! # Ok::<(), rmpi::Error>(())
//! ```
#![deny(missing_docs)]

pub use rmpi_core::*;

mod job;
pub use job::{init, init_with, launcher, run, run_with, Launcher};

/// The TCP transport backend (feature `tcp`).
#[cfg(feature = "tcp")]
pub use rmpi_tcp as tcp;

/// The shared-memory transport backend (feature `shm`).
#[cfg(feature = "shm")]
pub use rmpi_shm as shm;

/// Collective operations (barrier, bcast, scatter, gather, reductions...).
pub use rmpi_collectives as collectives;

/// What most programs need: `use rmpi::prelude::*;`.
pub mod prelude {
    pub use rmpi_collectives::{
        Buffers, Collectives, Located, Max, MaxLoc, Min, MinLoc, Prod, Sum, UserOp,
    };
    pub use rmpi_core::{wait_all, wait_any, Comm, Error, Request, Status, ANY_SOURCE, ANY_TAG};
}
