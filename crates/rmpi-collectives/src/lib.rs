//! rmpi-collectives: barrier, bcast, scatter, gather, reductions and the rest of MPI's
//! collectives, as algorithms over rmpi-core's point-to-point layer.
//!
//! **Stub.** This crate is filled in by the collectives issue; collectives will run on each
//! communicator's collective context (`Comm::collective_view`), so they never match user
//! point-to-point traffic.
#![deny(missing_docs)]
