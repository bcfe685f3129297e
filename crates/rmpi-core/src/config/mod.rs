//! Every setting of a job, parsed once into a [`Config`]: from the environment
//! ([`Config::from_env`], which `rmpirun -x NAME=VALUE` and `rmpirun`'s own environment
//! reach), or built in code. A bad value, or an `RMPI_` name that is no setting, is an
//! [`Error::InvalidArgument`] naming the variable and what it expects; nothing is ignored.
//! Each job (and each in-process job of [`crate::local`]) carries its own `Config`.
//!
//! | Variable | Values | Default | What it sets |
//! |---|---|---|---|
//! | `RMPI_TRANSPORT` | `auto`, `tcp`, `shm` | `auto` | How ranks talk: shared memory within a host and TCP between hosts, or one of them for all (`rmpirun --transport`) |
//! | `RMPI_HOST` | a name | the machine and network namespace | The host a rank counts as on: ranks with the same host share memory |
//! | `RMPI_LOG` | a `tracing` filter, e.g. `info` or `rmpi_tcp=debug` | `warn` | What rmpi logs to stderr |
//! | `RMPI_POOL_BYTES` | a byte count | `256MiB` | Memory kept for reuse by message buffers of this process |
//! | `RMPI_UNEXPECTED_BYTES` | a byte count | `1GiB`, less where the host's ranks would hold over half its memory | The most a rank holds of messages no receive has taken yet, counting 256 bytes of bookkeeping each; a sender past it is cut off with [`Error::Flooded`] |
//! | `RMPI_TCP_ADDRESS` | an IP address | the route to the launcher, else loopback | Where a rank listens for TCP peers |
//! | `RMPI_TCP_BUSY_POLL_US` | microseconds | `200` | How long a TCP wait stays busy before sleeping (ranks with cores of their own) |
//! | `RMPI_SHM_RING_BYTES` | a power of two, at least `4KiB` | by ranks per host | Each shared-memory ring's size |
//! | `RMPI_SHM_FANOUT_BYTES` | `0` or a power of two, at least `4KiB` | 16 MiB over the ranks, 256 KiB-2 MiB | The shared-memory broadcast area (`0`: none) |
//! | `RMPI_SHM_SPIN_US` | microseconds | `5` | How long a shared-memory wait spins |
//! | `RMPI_SHM_YIELD_US` | microseconds | `200` | How long it then yields before sleeping |
//! | `RMPI_SHM_SINGLE_COPY` | a byte count, `auto`, `off` | `auto` | From what size shared memory lends payloads instead of copying them through rings |
//! | `RMPI_BARRIER_ALGORITHM` | `auto`, `dissemination`, `flat` | `auto` | Forces barrier's algorithm |
//! | `RMPI_BCAST_ALGORITHM` | `auto`, `binomial`, `scatter_allgather`, `flat` | `auto` | Forces bcast's algorithm |
//! | `RMPI_ALLGATHER_ALGORITHM` | `auto`, `recursive_doubling`, `bruck`, `ring` | `auto` | Forces allgather's algorithm |
//! | `RMPI_ALLREDUCE_ALGORITHM` | `auto`, `recursive_doubling`, `reduce_bcast`, `rabenseifner`, `segment_owners` | `auto` | Forces allreduce's algorithm |
//! | `RMPI_ALLTOALL_ALGORITHM` | `auto`, `bruck`, `scattered`, `pairwise` | `auto` | Forces alltoall's algorithm |
//!
//! Byte counts are plain numbers or take a binary suffix: `64KiB`, `4MiB`, `1GiB` (`K`, `M`,
//! `G` alone mean the same). `rmpirun` sets the variables in [`LAUNCHER_VARIABLES`] for each
//! rank; they are not settings, and users do not set them.
//!
//! ```
//! use rmpi::config::{Config, SingleCopy};
//!
//! let config = Config::from_vars([("RMPI_SHM_SINGLE_COPY", "64KiB"), ("RMPI_LOG", "info")])?;
//! assert_eq!(config.shm.single_copy, SingleCopy::From(64 << 10));
//!
//! let error = Config::from_vars([("RMPI_POOL_BYTES", "lots")]).unwrap_err();
//! assert!(error.to_string().contains("RMPI_POOL_BYTES=lots"));
//! # Ok::<(), rmpi::Error>(())
//! ```

mod algorithms;
mod parse;

use std::net::IpAddr;
use std::time::Duration;

pub use algorithms::{
    Algorithms, AllgatherAlgorithm, AllreduceAlgorithm, AlltoallAlgorithm, BarrierAlgorithm,
    BcastAlgorithm,
};

use crate::error::{Error, Result};
use parse::Vars;

/// The variables `rmpirun` (or rmpi's PMI client) sets for each rank: who it is and how to
/// reach its launcher. Known names, but not settings.
///
/// ```
/// assert!(rmpi::config::LAUNCHER_VARIABLES.contains(&"RMPI_RANK"));
/// ```
pub const LAUNCHER_VARIABLES: &[&str] = &[
    "RMPI_RANK",
    "RMPI_SIZE",
    "RMPI_JOB_ID",
    "RMPI_SECRET",
    "RMPI_PMI_PORT",
    "RMPI_CPU",
    "RMPI_START_CPU",
];

/// The settings' names, in the order of the table above.
///
/// ```
/// // A misspelt RMPI_ name is an error that names the closest setting.
/// assert!(rmpi::config::SETTINGS.contains(&"RMPI_TRANSPORT"));
/// assert!(rmpi::config::Config::from_vars([("RMPI_TRANSPROT", "tcp")]).is_err());
/// ```
pub const SETTINGS: &[&str] = &[
    "RMPI_TRANSPORT",
    "RMPI_HOST",
    "RMPI_LOG",
    "RMPI_POOL_BYTES",
    "RMPI_UNEXPECTED_BYTES",
    "RMPI_TCP_ADDRESS",
    "RMPI_TCP_BUSY_POLL_US",
    "RMPI_SHM_RING_BYTES",
    "RMPI_SHM_FANOUT_BYTES",
    "RMPI_SHM_SPIN_US",
    "RMPI_SHM_YIELD_US",
    "RMPI_SHM_SINGLE_COPY",
    "RMPI_BARRIER_ALGORITHM",
    "RMPI_BCAST_ALGORITHM",
    "RMPI_ALLGATHER_ALGORITHM",
    "RMPI_ALLREDUCE_ALGORITHM",
    "RMPI_ALLTOALL_ALGORITHM",
];

/// How ranks talk to each other (`RMPI_TRANSPORT`).
///
/// ```
/// use rmpi::config::{Config, TransportChoice};
/// let config = Config::from_vars([("RMPI_TRANSPORT", "tcp")])?;
/// assert_eq!(config.transport, TransportChoice::Tcp);
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TransportChoice {
    /// Shared memory among the ranks of a host, TCP between hosts.
    #[default]
    Auto,
    /// TCP between every pair of ranks.
    Tcp,
    /// Shared memory between every pair (one host only).
    Shm,
}

/// From what size shared memory lends a payload in place of copying it through the rings
/// (`RMPI_SHM_SINGLE_COPY`).
///
/// ```
/// use rmpi::config::{Config, SingleCopy};
/// let config = Config::from_vars([("RMPI_SHM_SINGLE_COPY", "off")])?;
/// assert_eq!(config.shm.single_copy, SingleCopy::Off);
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SingleCopy {
    /// Decided by the job's shape (where ranks outnumber cores, lending starts lower).
    #[default]
    Auto,
    /// From this many bytes.
    From(usize),
    /// Never: everything goes through the rings.
    Off,
}

/// The TCP transport's settings.
///
/// ```
/// let config = rmpi::config::Config::from_vars([("RMPI_TCP_BUSY_POLL_US", "50")])?;
/// assert_eq!(config.tcp.busy_poll, std::time::Duration::from_micros(50));
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpSettings {
    /// Where to listen (`RMPI_TCP_ADDRESS`); `None`: on the route to the launcher, or
    /// loopback for a job on one host.
    pub address: Option<IpAddr>,
    /// How long a wait stays busy before it sleeps (`RMPI_TCP_BUSY_POLL_US`).
    pub busy_poll: Duration,
}

impl Default for TcpSettings {
    fn default() -> Self {
        TcpSettings {
            address: None,
            busy_poll: Duration::from_micros(200),
        }
    }
}

/// The shared-memory transport's settings.
///
/// ```
/// let config = rmpi::config::Config::from_vars([("RMPI_SHM_RING_BYTES", "1MiB")])?;
/// assert_eq!(config.shm.ring_bytes, Some(1 << 20));
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShmSettings {
    /// Each ring's size in bytes (`RMPI_SHM_RING_BYTES`); `None`: by ranks per host.
    pub ring_bytes: Option<usize>,
    /// The broadcast area's size (`RMPI_SHM_FANOUT_BYTES`); `None`: by ranks per host,
    /// `Some(0)`: no area.
    pub fanout_bytes: Option<usize>,
    /// How long a wait spins (`RMPI_SHM_SPIN_US`).
    pub spin: Duration,
    /// How long a wait then yields its core before it sleeps (`RMPI_SHM_YIELD_US`).
    pub yield_for: Duration,
    /// From what size payloads are lent (`RMPI_SHM_SINGLE_COPY`).
    pub single_copy: SingleCopy,
}

impl Default for ShmSettings {
    fn default() -> Self {
        ShmSettings {
            ring_bytes: None,
            fanout_bytes: None,
            spin: Duration::from_micros(5),
            yield_for: Duration::from_micros(200),
            single_copy: SingleCopy::Auto,
        }
    }
}

/// Every setting of one job; see the [module documentation](self) for the table.
///
/// ```
/// let config = rmpi::config::Config::from_vars([("RMPI_LOG", "debug")])?;
/// assert_eq!(config.log.as_deref(), Some("debug"));
/// assert_eq!(config.transport, rmpi::config::Config::default().transport);
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How ranks talk to each other.
    pub transport: TransportChoice,
    /// The host this rank counts as on; `None`: the machine and network namespace.
    pub host: Option<String>,
    /// The log filter; `None`: warnings and errors.
    pub log: Option<String>,
    /// Memory kept for reuse by message buffers of this process.
    pub pool_bytes: usize,
    /// The most a rank holds of messages no receive has taken (see
    /// [`Error::Flooded`]); `None`: [`crate::host::unexpected_bytes_default`].
    pub unexpected_bytes: Option<usize>,
    /// Collective algorithms forced for the job.
    pub algorithms: Algorithms,
    /// The TCP transport's settings.
    pub tcp: TcpSettings,
    /// The shared-memory transport's settings.
    pub shm: ShmSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            transport: TransportChoice::Auto,
            host: None,
            log: None,
            pool_bytes: 256 << 20,
            unexpected_bytes: None,
            algorithms: Algorithms::default(),
            tcp: TcpSettings::default(),
            shm: ShmSettings::default(),
        }
    }
}

impl Config {
    /// The settings in this process's environment, every other one at its default.
    ///
    /// ```
    /// // RMPI_* from the environment; a bad value or an unknown RMPI_ name is an error.
    /// let config = rmpi::config::Config::from_env()?;
    /// # let _ = config;
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn from_env() -> Result<Config> {
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|name| name.starts_with("RMPI_")) else {
                continue;
            };
            let value = value.into_string().map_err(|value| {
                Error::InvalidArgument(format!("{name}={value:?}: expected UTF-8 text"))
            })?;
            vars.push((name.to_string(), value));
        }
        Config::from_vars(vars)
    }

    /// The settings given as `(name, value)` pairs, every other one at its default. Names
    /// that do not start with `RMPI_` are not rmpi's and are passed over.
    ///
    /// ```
    /// let config = rmpi::config::Config::from_vars([("RMPI_POOL_BYTES", "16MiB")])?;
    /// assert_eq!(config.pool_bytes, 16 << 20);
    /// # Ok::<(), rmpi::Error>(())
    /// ```
    pub fn from_vars<N, V>(vars: impl IntoIterator<Item = (N, V)>) -> Result<Config>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let vars = Vars::new(vars)?;
        let defaults = Config::default();
        Ok(Config {
            transport: vars
                .choice(
                    "RMPI_TRANSPORT",
                    &[
                        ("auto", TransportChoice::Auto),
                        ("tcp", TransportChoice::Tcp),
                        ("shm", TransportChoice::Shm),
                    ],
                )?
                .unwrap_or_default(),
            host: vars
                .get("RMPI_HOST")
                .filter(|h| !h.is_empty())
                .map(str::to_string),
            log: vars.get("RMPI_LOG").map(str::to_string),
            pool_bytes: vars
                .bytes("RMPI_POOL_BYTES")?
                .unwrap_or(defaults.pool_bytes),
            unexpected_bytes: vars.bytes("RMPI_UNEXPECTED_BYTES")?,
            algorithms: Algorithms {
                barrier: vars.algorithm("RMPI_BARRIER_ALGORITHM", BarrierAlgorithm::ALL, |a| {
                    a.name()
                })?,
                bcast: vars.algorithm("RMPI_BCAST_ALGORITHM", BcastAlgorithm::ALL, |a| a.name())?,
                allgather: vars.algorithm(
                    "RMPI_ALLGATHER_ALGORITHM",
                    AllgatherAlgorithm::ALL,
                    |a| a.name(),
                )?,
                allreduce: vars.algorithm(
                    "RMPI_ALLREDUCE_ALGORITHM",
                    AllreduceAlgorithm::ALL,
                    |a| a.name(),
                )?,
                alltoall: vars.algorithm(
                    "RMPI_ALLTOALL_ALGORITHM",
                    AlltoallAlgorithm::ALL,
                    |a| a.name(),
                )?,
            },
            tcp: TcpSettings {
                address: vars.address("RMPI_TCP_ADDRESS")?,
                busy_poll: vars
                    .micros("RMPI_TCP_BUSY_POLL_US")?
                    .unwrap_or(defaults.tcp.busy_poll),
            },
            shm: ShmSettings {
                ring_bytes: vars.power_of_two("RMPI_SHM_RING_BYTES", false)?,
                fanout_bytes: vars.power_of_two("RMPI_SHM_FANOUT_BYTES", true)?,
                spin: vars
                    .micros("RMPI_SHM_SPIN_US")?
                    .unwrap_or(defaults.shm.spin),
                yield_for: vars
                    .micros("RMPI_SHM_YIELD_US")?
                    .unwrap_or(defaults.shm.yield_for),
                single_copy: vars.single_copy("RMPI_SHM_SINGLE_COPY")?,
            },
        })
    }
}

#[cfg(test)]
mod tests;
