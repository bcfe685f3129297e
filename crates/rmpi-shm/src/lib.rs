//! rmpi-shm: the shared-memory transport (lock-free rings per pair of local ranks).
//!
//! **Stub.** This crate is filled in by the shared-memory issue; until then it only reserves
//! its place in the workspace and the `shm` feature of the `rmpi` facade.
#![deny(missing_docs)]
