//! Joining a job from inside a rank: [`from_env`] finds out who started this process.
//!
//! In order: `rmpirun` (its own variables), a PMI-1 launcher (`PMI_FD`, as MPICH's Hydra
//! and Slurm's `srun --mpi=pmi2` hand down, or Hydra's `-pmi-port` with `PMI_PORT` and
//! `PMI_ID`), Slurm without PMI (an error saying to use `--mpi=pmi2`), a launcher that
//! speaks only PMIx (an error: rmpi would otherwise run as N singletons), and otherwise a
//! [`Singleton`]: rank 0 of 1, as MPI does.

use std::net::IpAddr;

use rmpi_core::auth;
use rmpi_core::bootstrap::Singleton;
use rmpi_core::{Bootstrap, Error, Result};

use crate::env;
use crate::pmi_client::PmiClient;

/// Who started this process.
///
/// ```
/// use rmpi_launch::bootstrap::{from_env, Launcher};
/// // Started by nobody (as this example is): a singleton.
/// let joined = from_env()?;
/// assert_eq!(joined.launcher, Launcher::Singleton);
/// # Ok::<(), rmpi_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Launcher {
    /// `rmpirun`, through its own rendezvous service.
    Rmpirun,
    /// A PMI-1 launcher through a socket it handed down (`PMI_FD`): MPICH's `mpiexec`, or
    /// Slurm's `srun --mpi=pmi2`.
    PmiFd,
    /// A PMI-1 launcher at a TCP port (`PMI_PORT`): `mpiexec -pmi-port`.
    PmiPort,
    /// Nobody: a job of one.
    Singleton,
}

/// The job this process joined, and how.
///
/// ```
/// let joined = rmpi_launch::bootstrap::from_env()?;
/// assert_eq!((joined.bootstrap.rank(), joined.bootstrap.size()), (0, 1));
/// assert_eq!(joined.address, None); // no launcher reached over TCP
/// # Ok::<(), rmpi_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Joined {
    /// The key-value space and fence the transports find each other through.
    pub bootstrap: Box<dyn Bootstrap>,
    /// Who started the job.
    pub launcher: Launcher,
    /// This host's address on a TCP connection to the launcher: one the job's other hosts
    /// can reach (loopback when the launcher is on this host and the job stays here);
    /// `None` where the launcher is not reached over TCP.
    pub address: Option<IpAddr>,
}

/// The job this process was started into.
///
/// ```
/// let joined = rmpi_launch::bootstrap::from_env()?;
/// println!("rank {} of {}, started by {:?}", joined.bootstrap.rank(), joined.bootstrap.size(), joined.launcher);
/// # Ok::<(), rmpi_core::Error>(())
/// ```
pub fn from_env() -> Result<Joined> {
    let set = |name: &str| std::env::var_os(name).is_some();
    let (client, launcher) = if let Ok(address) = std::env::var(env::PMI_PORT) {
        let secret = auth::decode_hex(&var(env::SECRET)?)
            .ok_or_else(|| Error::Bootstrap(format!("{} is not hex", env::SECRET)))?;
        let client = PmiClient::rmpirun(
            &address,
            number(env::RANK)?,
            number(env::SIZE)?,
            var(env::JOB_ID)?,
            secret,
        )?;
        (client, Launcher::Rmpirun)
    } else if let Ok(fd) = std::env::var("PMI_FD") {
        let fd = fd
            .parse()
            .map_err(|_| Error::Bootstrap(format!("PMI_FD={fd} is not a number")))?;
        let client = PmiClient::inherited(fd, number("PMI_RANK")?, number("PMI_SIZE")?)?;
        (client, Launcher::PmiFd)
    } else if let Ok(address) = std::env::var("PMI_PORT") {
        (
            PmiClient::port(&address, &var("PMI_ID")?)?,
            Launcher::PmiPort,
        )
    } else if set("SLURM_PROCID") && number("SLURM_STEP_NUM_TASKS").is_ok_and(|n| n > 1) {
        return Err(Error::Bootstrap(
            "started by srun without PMI, so the ranks cannot find each other: run \
             `srun --mpi=pmi2 ...`"
                .into(),
        ));
    } else if set("PMIX_RANK") || set("OMPI_COMM_WORLD_SIZE") {
        return Err(Error::Bootstrap(
            "started by a launcher that speaks only PMIx (such as Open MPI's mpirun), which \
             rmpi cannot join: use rmpirun, MPICH's mpiexec, or srun --mpi=pmi2"
                .into(),
        ));
    } else {
        tracing::debug!("started without a launcher: a job of one");
        return Ok(Joined {
            bootstrap: Box::new(Singleton::new()),
            launcher: Launcher::Singleton,
            address: None,
        });
    };
    client.stay_joined()?;
    tracing::debug!(
        "rank {} of {}, started by {launcher:?}",
        client.rank(),
        client.size()
    );
    Ok(Joined {
        address: client.local_address(),
        bootstrap: Box::new(client),
        launcher,
    })
}

fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::Bootstrap(format!("{name} is not set")))
}

fn number(name: &str) -> Result<usize> {
    let text = var(name)?;
    text.parse()
        .map_err(|_| Error::Bootstrap(format!("{name}={text} is not a number")))
}
