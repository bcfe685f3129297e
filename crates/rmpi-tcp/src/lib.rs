//! rmpi-tcp: the TCP transport (one connection per pair of ranks, tokio + socket2).
//!
//! **Stub.** This crate is filled in by the launcher/TCP issue ("rmpirun and the TCP
//! transport"); until then it only reserves its place in the workspace and the `tcp` feature
//! of the `rmpi` facade.
#![deny(missing_docs)]
