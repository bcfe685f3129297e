//! rmpi-launch: how rmpi jobs start.
//!
//! - [`bootstrap`]: what a rank calls to join its job ([`bootstrap::from_env`]); without a
//!   launcher a process is a singleton, rank 0 of 1.
//! - `rmpirun` (feature `cli`, on by default): the mpiexec-style launcher, built from
//!   [`launcher`] (start, forward, supervise), [`server`] (the rendezvous), [`hosts`] (host
//!   lists) and [`cargo`] (build an example or binary of the workspace, then launch it).
//!
//! Launcher and ranks meet through a small key-value space with a fence, served by the
//! launcher over PMI-1's wire protocol ([`pmi`]), so the same client can later join jobs
//! started by other PMI launchers.
#![deny(missing_docs)]

pub mod bootstrap;
pub mod env;
pub mod pmi;

#[cfg(feature = "cli")]
pub mod cargo;
#[cfg(feature = "cli")]
pub mod hosts;
#[cfg(feature = "cli")]
pub mod launcher;
#[cfg(feature = "cli")]
pub mod server;
