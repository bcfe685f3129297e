//! rmpi-core: MPI's point-to-point semantics in pure Rust, over any transport.
//!
//! This crate is what makes rmpi an MPI rather than a socket wrapper: communicators with
//! isolated contexts ([`Comm`]), MPI matching by source and tag with wildcards, non-overtaking
//! order and an unexpected-message queue ([`matching`]), probes and [`Status`], and
//! point-to-point in the two flavours mpi4py users know:
//!
//! | mpi4py                         | rmpi                                         |
//! |--------------------------------|----------------------------------------------|
//! | `comm.send(obj, dest, tag)`    | [`Comm::send`] (any serde type)              |
//! | `comm.recv(source, tag)`       | [`Comm::recv`], [`Comm::recv_with_status`]   |
//! | `comm.isend` / `comm.irecv`    | [`Comm::isend`] / [`Comm::irecv`]            |
//! | `comm.Send([arr, MPI.INT], …)` | [`Comm::send_buf`] (any `bytemuck::Pod`)     |
//! | `comm.Recv([arr, MPI.INT], …)` | [`Comm::recv_into`], [`Comm::recv_buf`]      |
//! | `comm.Ssend`, `comm.Sendrecv`  | [`Comm::ssend_buf`], [`Comm::sendrecv_buf`]  |
//! | `MPI.Request.Waitall`          | [`wait_all`], [`wait_any`], [`Request::test`]|
//!
//! Everything is async: operations return futures, and nonblocking ones return a
//! [`Request`]. Backends implement the small [`Transport`] trait; [`local`] runs a job with
//! one thread per rank for tests and examples.
//!
//! ```
//! // mpi4py: comm.send(data, dest=1, tag=11) / data = comm.recv(source=0, tag=11)
//! let results = rmpi::local::run(2, |comm| async move {
//!     if comm.rank() == 0 {
//!         let data: Vec<u32> = (0..10).collect();
//!         comm.send(&data, 1, 11).await?;
//!         Ok(data)
//!     } else {
//!         comm.recv::<Vec<u32>>(0, 11).await
//!     }
//! });
//! for result in results {
//!     assert_eq!(result?, (0..10).collect::<Vec<u32>>());
//! }
//! # Ok::<(), rmpi::Error>(())
//! ```
#![deny(missing_docs)]

// The modules marked `doc(hidden)` are plumbing rmpi's own crates share (tcp, shm, launch,
// collectives): public only because those are separate crates, not API for users.
#[doc(hidden)]
pub mod abort;
#[doc(hidden)]
pub mod auth;
pub mod bootstrap;
mod clock;
pub mod codec;
mod comm;
pub mod config;
pub mod datatype;
mod engine;
pub mod equivalence;
mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod host;
pub mod loan;
pub mod local;
#[doc(hidden)]
pub mod lock;
#[doc(hidden)]
pub mod matching;
mod payload;
#[doc(hidden)]
pub mod pool;
#[doc(hidden)]
pub mod rendezvous;
mod request;
pub mod router;
#[doc(hidden)]
pub mod send_path;
mod status;
mod sync;
pub mod topology;
pub mod transport;
pub mod waits;

pub use bootstrap::Bootstrap;
pub use bytes::Bytes;
pub use clock::{wtick, wtime};
pub use comm::{CollectiveComm, Comm, Message, PersistentRecv, PersistentSend, SplitType};
pub use error::{Error, Result};
pub use frame::{Frame, FrameKind, Header};
pub use loan::{Loan, Loans};
pub use payload::LentPayload;
pub use request::{test_all, test_any, wait_all, wait_any, wait_some, Request};
pub use status::{Source, Status, TagFilter, ANY_SOURCE, ANY_TAG, TAG_UB};
pub use transport::{Event, FastPaths, Placer, Transport};
