//! rmpi-launch: `rmpirun` and the bootstrap a rank uses to find its peers.
//!
//! **Stub.** This crate is filled in by the launcher/TCP issue; until then jobs run in one
//! process through `rmpi_core::local`.
#![deny(missing_docs)]
