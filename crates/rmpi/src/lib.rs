//! rmpi: MPI-style message passing in pure Rust, the way mpi4py users know it.
//!
//! This is the crate applications depend on: communicators ([`Comm`]), point-to-point in
//! two flavours, requests, collectives ([`collectives`]), settings ([`config`]), joining a
//! job ([`run`], [`init`]) and in-process jobs for tests ([`local`]). The transport backends
//! come by cargo feature (`tcp` and `shm`, both on by default); writing a transport of
//! your own starts at [`transport`].
//!
//! Straight-line programs use [`blocking`], where every call returns when it is done:
//!
//! ```no_run
//! // mpi4py: data = comm.gather((rank + 1) ** 2, root=0)
//! fn main() -> rmpi::Result<()> {
//!     let universe = rmpi::blocking::init()?;
//!     let comm = universe.world();
//!     if let Some(squares) = comm.gather((comm.rank() + 1).pow(2), 0)? {
//!         println!("{squares:?}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! | mpi4py | rmpi (async; [`blocking`] has the same names without `.await`) |
//! |---|---|
//! | `comm.send(obj, dest, tag)`, `comm.recv(source, tag)` | [`Comm::send`], [`Comm::recv`]`::<T>`, [`Comm::recv_with_status`] |
//! | `comm.Send([arr, MPI.INT], dest, tag)`, `comm.Recv(...)` | [`Comm::send_buf`], [`Comm::recv_into`], [`Comm::recv_buf`] |
//! | `isend`, `irecv`, `Isend`, `Irecv`, `Wait*`, `Test*` | [`Comm::isend`], [`Comm::irecv`], [`Comm::isend_buf`], [`Comm::irecv_into`], [`wait_all`], [`wait_any`], [`wait_some`], [`test_any`], [`test_all`], [`Request::cancel`] |
//! | `ssend`, `sendrecv`, `Sendrecv_replace`, `probe`, `iprobe`, `Mprobe` | [`Comm::ssend`], [`Comm::sendrecv`], [`Comm::sendrecv_replace_buf`], [`Comm::probe`], [`Comm::iprobe`], [`Comm::mprobe`] |
//! | `bcast`, `scatter`, `gather`, `allgather`, `alltoall`, `reduce`, `allreduce`, `scan` | the same names, from [`prelude`]'s [`Collectives`](collectives::Collectives) trait; `_buf` for arrays ([`BufferCollectives`](collectives::BufferCollectives)) |
//! | `Dup`, `Split`, `Split_type`, `Get_group`, `Create_group` | [`Comm::dup`], [`Comm::split`], [`Comm::split_type`], [`Comm::group`], [`Comm::create_group`] |
//! | `Compute_dims`, `Create_cart`, `Shift`, `Sub`, `neighbor_allgather` | [`topology::compute_dims`], [`Comm::create_cart`], [`Comm::cart_shift`], [`Comm::cart_sub`], [`NeighborCollectives`](collectives::NeighborCollectives) |
//! | `Send_init`, `Recv_init`, `Start` | [`Comm::send_init`], [`Comm::recv_init`] |
//! | `Create_vector`, `Create_subarray` | [`datatype::Datatype`], [`Comm::send_typed`], [`Comm::recv_typed`] |
//! | `Create_struct` (rsmpi's `Equivalence`) | `#[derive(`[`datatype::Equivalence`]`)]`, [`Comm::send_packed`], [`Comm::recv_packed`] |
//! | `Wtime`, `Wtick`, `Get_processor_name`, `Abort` | [`wtime`], [`wtick`], [`processor_name`], [`Comm::abort`] |
//!
//! What a porter needs to know:
//! - **Name the receive type.** `let data: Vec<u32> = comm.recv(0, 11).await?;` (or
//!   `comm.recv::<Vec<u32>>`). Without it rustc cannot tell what to decode and says so in
//!   terms of "never type fallback". A message sent as another type is an
//!   [`Error::Decode`], never a misreading.
//! - **Your own types**: derive serde's `Serialize` and `Deserialize` for objects (rmpi
//!   re-exports [`serde`]: `#[derive(rmpi::serde::Serialize, rmpi::serde::Deserialize)]`
//!   with `#[serde(crate = "rmpi::serde")]` needs no serde in your `Cargo.toml`), or
//!   bytemuck's `Pod` for typed buffers (re-exported as [`bytemuck`]).
//! - **Errors print their message.** `fn main() -> rmpi::Result<()>` ends with
//!   `Error: invalid rank 99: communicator has 2 ranks`; errors about a peer name its rank.
//! - **A call that may wait is async** (blocking in [`blocking`]); one that never waits is a
//!   plain function in both: `dup`, `iprobe`, `improbe`, `create_group`, `cart_shift`.
//!
//! The async API, for programs that overlap communication with other work, joins its job
//! with [`run`] (or [`init`]). Either way the program is started as N processes by
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

pub use rmpi_core::host::name as processor_name;
pub use rmpi_core::{codec, config, group, host, local, topology, waits};

/// Derived datatypes: selections of a buffer's elements ([`Datatype`](datatype::Datatype)),
/// and structs sent field by field ([`Equivalence`](datatype::Equivalence), with its
/// derive).
pub mod datatype {
    pub use rmpi_core::datatype::*;
    pub use rmpi_core::equivalence::Equivalence;
    /// Derives [`Equivalence`](trait@Equivalence) for a struct whose fields implement it.
    pub use rmpi_derive::Equivalence;
}
pub use rmpi_core::{
    test_all, test_any, wait_all, wait_any, wait_some, wtick, wtime, Bytes, Comm, Error, Message,
    PersistentRecv, PersistentSend, Request, Result, Source, SplitType, Status, TagFilter,
    ANY_SOURCE, ANY_TAG, TAG_UB,
};

/// For transport authors: the seam a backend implements and what crosses it. A backend
/// implements [`Transport`](transport::Transport) (`rank`, `size`, `send`, `poll_recv`, and
/// `shutdown` if it buffers), and may offer speed-ups through
/// [`FastPaths`](transport::FastPaths), each with a correct default; then
/// [`Comm::from_transport`] or [`local::run_on`] turns one endpoint per rank into a job.
/// The trait's documentation is the contract, with a complete in-memory example.
pub mod transport {
    pub use rmpi_core::bootstrap::{resource_name, Bootstrap, Group, InProcess, Singleton};
    pub use rmpi_core::frame::{Frame, FrameKind, Header, HeaderError, HEADER_LEN};
    pub use rmpi_core::loan::{Loan, Loans};
    pub use rmpi_core::router::{Route, Router};
    pub use rmpi_core::transport::{Event, FastPaths, Placer, Transport};
    pub use rmpi_core::LentPayload;

    /// For authors of collective algorithms: a communicator's collective context, tags and
    /// copy-free sends.
    pub use rmpi_core::CollectiveComm;
}

/// serde, for deriving `Serialize`/`Deserialize` on message types without depending on it.
///
/// ```
/// #[derive(rmpi::serde::Serialize, rmpi::serde::Deserialize, Debug, PartialEq)]
/// #[serde(crate = "rmpi::serde")]
/// struct Particle {
///     id: u32,
///     position: [f64; 3],
/// }
///
/// let got = rmpi::blocking::local::run(2, |comm| {
///     let p = Particle { id: 7, position: [0.5; 3] };
///     if comm.rank() == 0 {
///         comm.send(&p, 1, 0)?;
///         Ok(None)
///     } else {
///         Ok(Some(comm.recv::<Particle>(0, 0)?))
///     }
/// });
/// assert_eq!(got[1].as_ref().unwrap().as_ref().unwrap().id, 7);
/// ```
pub use serde;

/// bytemuck, for deriving `Pod` on plain-data structs sent as typed buffers.
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq, rmpi::bytemuck::Pod, rmpi::bytemuck::Zeroable)]
/// #[bytemuck(crate = "rmpi::bytemuck")]
/// #[repr(C)]
/// struct Cell {
///     temperature: f32,
///     pressure: f32,
/// }
///
/// let got = rmpi::blocking::local::run(2, |comm| {
///     let cells = [Cell { temperature: 1.0, pressure: 2.0 }; 3];
///     if comm.rank() == 0 {
///         comm.send_buf(&cells, 1, 0)?;
///         Ok(Vec::new())
///     } else {
///         Ok(comm.recv_buf::<Cell>(0, 0)?.0)
///     }
/// });
/// assert_eq!(got[1].as_ref().unwrap().len(), 3);
/// ```
pub use bytemuck;

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
        BufferCollectives, Buffers, Collectives, Located, Max, MaxLoc, Min, MinLoc,
        NeighborCollectives, Prod, Sum, TypedCollectives, UserOp,
    };
    pub use rmpi_core::{wait_all, wait_any, Comm, Error, Request, Status, ANY_SOURCE, ANY_TAG};
}
