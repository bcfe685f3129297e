//! rmpi-launch: how rmpi jobs start.
//!
//! - [`bootstrap`]: what a rank calls to join its job ([`bootstrap::from_env`]), started by
//!   `rmpirun`, MPICH's `mpiexec` or Slurm's `srun --mpi=pmi2` (`pmi_client`); without a
//!   launcher a process is a singleton, rank 0 of 1. [`binding`]: the core a rank keeps to.
//!   `watch`: a rank ends when its launcher goes away. `stuck`: a rank tells the
//!   launcher when it is stuck, and in what. [`leftovers`]: what a job leaves in
//!   `/dev/shm`, removed by whoever outlives it.
//! - `rmpirun` (feature `cli`, on by default): the mpiexec-style launcher, built from
//!   [`launcher`] (plan, supervise, report), [`spawn`] (start and watch a host's ranks),
//!   `deadlock` (what the ranks wait for, reported when the job is stuck),
//!   [`remote`] and `proxy` (the two ends of a host's proxy, started over ssh or a
//!   command of the user's), `server` (the rendezvous), [`hosts`] (host lists and
//!   placement) and [`cargo`] (build an example or binary of the workspace, then launch it).
//!
//! Launcher and ranks meet through a small key-value space with a fence, served by the
//! launcher over PMI-1's wire protocol ([`pmi`]), with a challenge-response on the job's
//! secret in both directions, so neither a stranger nor a fake launcher gets in.
#![deny(missing_docs)]

// The modules marked `doc(hidden)` are rmpirun's and the rank side's inner parts, public
// only for the `rmpirun` binary and the `rmpi` facade: not API for users.
pub mod binding;
pub mod bootstrap;
#[doc(hidden)]
pub mod env;
#[doc(hidden)]
pub mod fuzzing;
pub mod leftovers;
pub mod pmi;
#[doc(hidden)]
pub mod pmi_client;
#[doc(hidden)]
pub mod stuck;
#[doc(hidden)]
pub mod watch;

/// Sends logs (refused connections, lost peers) to stderr, filtered by `filter` (the job's
/// `RMPI_LOG`; default `warn`, syntax of `tracing_subscriber::EnvFilter`), unless the
/// program installed its own subscriber. Launcher and ranks both call it. A filter that
/// does not parse is an error naming `RMPI_LOG`.
///
/// ```
/// rmpi_launch::init_logging(Some("info"))?;
/// assert!(rmpi_launch::init_logging(Some("info,=")).is_err()); // names RMPI_LOG
/// # Ok::<(), rmpi_core::Error>(())
/// ```
pub fn init_logging(filter: Option<&str>) -> rmpi_core::Result<()> {
    let filter = match filter {
        None => tracing_subscriber::EnvFilter::new("warn"),
        Some(text) => tracing_subscriber::EnvFilter::builder()
            .parse(text)
            .map_err(|error| {
                rmpi_core::Error::InvalidArgument(format!(
                    "RMPI_LOG={text}: expected a log filter such as warn, info or \
                     rmpi_tcp=debug ({error})"
                ))
            })?,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
    Ok(())
}

/// Prints `rmpirun: message` on stderr: how the launcher speaks to its user.
///
/// ```
/// rmpi_launch::say("rank 3 exited with code 1"); // rmpirun: rank 3 exited with code 1
/// ```
#[cfg(feature = "cli")]
pub fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "rmpirun: {message}");
}

#[cfg(feature = "cli")]
pub mod cargo;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod deadlock;
#[cfg(feature = "cli")]
pub mod hosts;
#[cfg(feature = "cli")]
pub mod launcher;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod proxy;
#[cfg(feature = "cli")]
pub mod remote;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod server;
#[cfg(feature = "cli")]
pub mod spawn;
