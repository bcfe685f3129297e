//! rmpi: MPI-style message passing in pure Rust, the way mpi4py users know it.
//!
//! This is the crate applications depend on: communicators ([`Comm`]), point-to-point in
//! two flavours, requests, collectives ([`collectives`]), settings ([`config`]), joining a
//! job ([`run`], [`init`]) and in-process jobs for tests ([`local`]). The transport backends
//! come by cargo feature (`tcp` and `shm`, both on by default); writing a transport of
//! your own starts at [`transport`].
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

pub use rmpi_core::{codec, config, host, local};
pub use rmpi_core::{
    test_all, test_any, wait_all, wait_any, wait_some, Bytes, Comm, Error, Request, Result, Source,
    Status, TagFilter, ANY_SOURCE, ANY_TAG, TAG_UB,
};

/// For transport authors: the seam a backend implements and what crosses it. A backend
/// implements [`Transport`](transport::Transport) (`rank`, `size`, `send`, `poll_recv`, and
/// `shutdown` if it buffers), and may offer speed-ups through
/// [`FastPaths`](transport::FastPaths), each with a correct default; then
/// [`Comm::from_transport`] or [`local::run_on`] turns one endpoint per rank into a job.
/// The trait's documentation is the contract, with a complete in-memory example.
pub mod transport {
    pub use rmpi_core::bootstrap::{Bootstrap, Group, InProcess, Singleton};
    pub use rmpi_core::frame::{Frame, FrameKind, Header, HeaderError, HEADER_LEN};
    pub use rmpi_core::loan::{Loan, Loans};
    pub use rmpi_core::router::{Route, Router};
    pub use rmpi_core::transport::{Event, FastPaths, Placer, Transport};
    pub use rmpi_core::LentPayload;

    /// For authors of collective algorithms: a communicator's collective context, tags and
    /// copy-free sends.
    pub use rmpi_core::CollectiveComm;
}

pub mod blocking;
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
