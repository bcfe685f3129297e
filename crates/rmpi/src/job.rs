//! Joining the job this process was launched into: `rmpi::run` and `rmpi::init`, the
//! counterparts of `MPI_Init`/`MPI_Finalize` (which mpi4py calls on import and at exit).
//!
//! Under `rmpirun`, the launcher's environment says which rank this is and how to reach
//! the others; the transport is the one `rmpirun --transport` asked for (by default shared
//! memory among the ranks of a host and TCP between hosts, through a
//! [`Router`](rmpi_core::router::Router) when there are both). Run directly, the
//! process is a singleton: rank 0 of a world of 1, as with MPI.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rmpi_core::config::{Config, TransportChoice};
use rmpi_core::local::LocalTransport;
use rmpi_core::{Bootstrap, Comm, Error, Result, Transport};
pub use rmpi_launch::bootstrap::Launcher;

/// Runs `main` as this process's rank of its job, on a single-threaded tokio runtime (one
/// per rank: ranks already fill the cores), and finalizes afterwards, also when `main`
/// fails, so peers see this rank finish rather than vanish. A failure is also told to
/// `rmpirun`, with the rank it came from ([`Error::peer`]), so that the launcher names the
/// rank where it began.
///
/// ```no_run
/// fn main() -> rmpi::Result<()> {
///     rmpi::run(|world| async move {
///         println!("hello from rank {} of {}", world.rank(), world.size());
///         Ok(())
///     })
/// }
/// ```
pub fn run<T, F, Fut>(main: F) -> Result<T>
where
    F: FnOnce(Comm) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    run_with(Config::from_env()?, main)
}

/// Runs `main` as [`run`] does, with settings made in code instead of read from the
/// environment ([`Config::from_env`] reads them; see [`rmpi_core::config`] for all of them).
///
/// ```no_run
/// use rmpi::config::{BcastAlgorithm, Config};
///
/// fn main() -> rmpi::Result<()> {
///     let mut config = Config::from_env()?;
///     config.algorithms.bcast = Some(BcastAlgorithm::Binomial);
///     rmpi::run_with(config, |world| async move {
///         println!("rank {} forces {:?}", world.rank(), world.config().algorithms.bcast);
///         Ok(())
///     })
/// }
/// ```
pub fn run_with<T, F, Fut>(config: Config, main: F) -> Result<T>
where
    F: FnOnce(Comm) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let world = init_with(config).await?;
        let outcome = main(world.clone()).await;
        if let Err(error) = &outcome {
            // So that rmpirun names the rank where a failure began, not one that reacted.
            rmpi_launch::pmi_client::report_failure(error.peer());
        }
        let finalized = world.finalize().await;
        let value = outcome?;
        finalized?;
        Ok(value)
    })
}

/// Joins the job and returns the world communicator. Call it once, on a tokio runtime with
/// I/O and timers enabled, and call [`Comm::finalize`] at the end; [`run`] does both.
///
/// ```no_run
/// # async fn example() -> rmpi::Result<()> {
/// let world = rmpi::init().await?;
/// println!("rank {} of {}", world.rank(), world.size());
/// world.finalize().await?;
/// # Ok(()) }
/// ```
pub async fn init() -> Result<Comm> {
    init_with(Config::from_env()?).await
}

/// Joins the job as [`init`] does, with settings made in code ([`run_with`] shows how).
///
/// ```no_run
/// # async fn example() -> rmpi::Result<()> {
/// let config = rmpi::config::Config::from_vars([("RMPI_TRANSPORT", "tcp")])?;
/// let world = rmpi::init_with(config).await?;
/// world.finalize().await?;
/// # Ok(()) }
/// ```
pub async fn init_with(config: Config) -> Result<Comm> {
    // Before this process starts threads of its own, while it is cheap.
    rmpi_core::lock::prepare();
    rmpi_launch::init_logging(config.log.as_deref())?;
    rmpi_core::abort::set_launcher_hook(rmpi_launch::pmi_client::abort);
    rmpi_core::pool::set_limit(config.pool_bytes);
    // Counted before binding narrows this rank to one core: transports and collectives ask
    // whether the host's ranks share cores, which binding each to its own does not change.
    rmpi_core::host::cores();
    rmpi_launch::binding::bind_from_env();
    let joined = rmpi_launch::bootstrap::from_env()?;
    let bootstrap = joined.bootstrap;
    let hosts = if bootstrap.size() > 1 {
        let (hosts, cores) = layout_of(&*bootstrap, config.host.as_deref())?;
        rmpi_core::host::agree_ranks_per_core(rmpi_core::host::most_ranks_per_core(&hosts, &cores));
        hosts
    } else {
        Vec::new()
    };
    let _ = LAUNCHER.set(joined.launcher);
    let address = match joined.address {
        Some(address) => Some(address),
        None => reachable_address(&hosts)?,
    };
    let transport = connect(&*bootstrap, &config, &hosts, address).await?;
    // Connecting woke the ranks by turns, which tends to gather them on one core.
    rmpi_launch::binding::start_from_env();
    let mut config = config;
    if config.unexpected_bytes.is_none() {
        // The host's ranks share its memory: each holds its part of half of it at most.
        let me = bootstrap.rank();
        let here = hosts.iter().filter(|&h| Some(h) == hosts.get(me)).count();
        config.unexpected_bytes = Some(rmpi_core::host::unexpected_bytes_default(here.max(1)));
    }
    let world = Comm::with_config(transport, config);
    if rmpi_launch::pmi_client::under_rmpirun() {
        // So that rmpirun can say what each rank waits for when the job is stuck.
        rmpi_launch::stuck::report_to_launcher(world.watch_waits());
    }
    Ok(world)
}

static LAUNCHER: OnceLock<Launcher> = OnceLock::new();

/// Who started this process's job, once [`init`] (or [`run`]) has joined it: `rmpirun`,
/// MPICH's `mpiexec` or Slurm's `srun --mpi=pmi2` (both PMI), or nobody (a singleton).
///
/// ```no_run
/// rmpi::run(|world| async move {
///     if world.rank() == 0 {
///         println!("{} ranks, started by {:?}", world.size(), rmpi::launcher());
///     }
///     Ok(())
/// })
/// # .unwrap();
/// ```
pub fn launcher() -> Option<Launcher> {
    LAUNCHER.get().copied()
}

/// Where the other ranks can reach this one, for a launcher not reached over TCP (`PMI_FD`):
/// loopback (the default) while the job stays on this host, else this host's name's address.
fn reachable_address(hosts: &[String]) -> Result<Option<IpAddr>> {
    if hosts.iter().all(|host| host == &hosts[0]) {
        return Ok(None);
    }
    let name = rmpi_core::host::name();
    let found = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
        .ok()
        .and_then(|mut addresses| addresses.find(|a| !a.ip().is_loopback()));
    match found {
        Some(address) => Ok(Some(address.ip())),
        None => Err(Error::Bootstrap(format!(
            "this job spans hosts, and this host's name {name:?} has no address other ranks \
             could reach: set RMPI_TCP_ADDRESS to this host's address on their network"
        ))),
    }
}

/// Connects this rank to the others; `hosts` says on which host each rank runs, `address`
/// is where the others can reach this rank.
async fn connect(
    bootstrap: &dyn Bootstrap,
    config: &Config,
    hosts: &[String],
    address: Option<IpAddr>,
) -> Result<Arc<dyn Transport>> {
    if bootstrap.size() == 1 {
        let only = LocalTransport::mesh(1).pop().expect("a mesh of one");
        return Ok(Arc::new(only));
    }
    match config.transport {
        TransportChoice::Auto => automatic(bootstrap, config, hosts, address).await,
        TransportChoice::Tcp => tcp(bootstrap, config, address).await,
        TransportChoice::Shm => shm(bootstrap, config),
    }
}

/// Shared memory among the ranks of a host, TCP between hosts; one of them alone where it
/// serves every pair. Every rank sees the same host list, so all make the same choice.
async fn automatic(
    bootstrap: &dyn Bootstrap,
    config: &Config,
    hosts: &[String],
    address: Option<IpAddr>,
) -> Result<Arc<dyn Transport>> {
    if !cfg!(feature = "tcp") {
        return shm(bootstrap, config);
    }
    if !cfg!(feature = "shm") {
        return tcp(bootstrap, config, address).await;
    }
    let (rank, size) = (bootstrap.rank(), bootstrap.size());
    let neighbours: Vec<usize> = (0..size).filter(|&r| hosts[r] == hosts[rank]).collect();
    if neighbours.len() == size {
        return shm(bootstrap, config);
    }
    let distinct: std::collections::HashSet<&String> = hosts.iter().collect();
    if distinct.len() == size {
        return tcp(bootstrap, config, address).await;
    }
    routed(bootstrap, config, neighbours, address).await
}

/// Shared memory with `neighbours` (this rank's host's ranks), TCP with everyone else.
#[cfg(all(feature = "shm", feature = "tcp"))]
async fn routed(
    bootstrap: &dyn Bootstrap,
    config: &Config,
    neighbours: Vec<usize>,
    address: Option<IpAddr>,
) -> Result<Arc<dyn Transport>> {
    use rmpi_core::bootstrap::Group;
    use rmpi_core::router::{Route, Router};
    use std::time::Duration;

    // Named after its first member, so every host's group has its own segment. Groups of
    // one set up shared memory too: the job's fences must stay in step.
    let group_size = neighbours.len();
    let group = Group::new(
        bootstrap,
        neighbours.clone(),
        &format!("host{}", neighbours[0]),
    )?;
    let local = shm(&group, config)?;
    let everyone = tcp(bootstrap, config, address).await?;
    tracing::info!(
        "rank {}: shared memory with ranks {neighbours:?}, TCP with the others",
        bootstrap.rank()
    );
    let routes = vec![
        Route {
            transport: local,
            members: neighbours,
        },
        Route {
            transport: everyone,
            members: (0..bootstrap.size()).collect(),
        },
    ];
    // Shared memory answers within microseconds where ranks have cores of their own; a
    // wake-up through the shm helper thread costs more than looking a little longer.
    let patience = if group_size <= rmpi_core::host::cores() {
        Duration::from_micros(5)
    } else {
        Duration::ZERO
    };
    let router = Router::new(bootstrap.rank(), bootstrap.size(), routes)?;
    Ok(Arc::new(router.with_patience(patience)))
}

#[cfg(not(all(feature = "shm", feature = "tcp")))]
async fn routed(
    _: &dyn Bootstrap,
    _: &Config,
    _: Vec<usize>,
    _: Option<IpAddr>,
) -> Result<Arc<dyn Transport>> {
    Err(Error::InvalidArgument(
        "ranks on several hosts need rmpi's shm and tcp features".into(),
    ))
}

/// The host each rank counts as on, and the cores each sees, asked of all ranks: so that
/// every rank makes the same choices from them. A rank's host is `RMPI_HOST` where set (to
/// group ranks by hand), otherwise the machine and network namespace it really runs in:
/// containers or namespaces on one machine share its name, and may not share memory.
fn layout_of(bootstrap: &dyn Bootstrap, host: Option<&str>) -> Result<(Vec<String>, Vec<usize>)> {
    let here = rmpi_core::host::identity(host);
    let key = |rank: usize| format!("rmpi-host-{rank}");
    let mine = format!("{}/{here}", rmpi_core::host::cores());
    bootstrap.put(&key(bootstrap.rank()), &mine)?;
    bootstrap.fence()?;
    let mut hosts = Vec::with_capacity(bootstrap.size());
    let mut cores = Vec::with_capacity(bootstrap.size());
    for rank in 0..bootstrap.size() {
        let value = bootstrap.get(&key(rank))?;
        let parsed = value
            .split_once('/')
            .and_then(|(n, host)| Some((n.parse::<usize>().ok()?, host.to_string())));
        let (n, host) = parsed
            .ok_or_else(|| Error::Bootstrap(format!("rank {rank} said it runs on {value:?}")))?;
        cores.push(n);
        hosts.push(host);
    }
    Ok((hosts, cores))
}

#[cfg(feature = "shm")]
fn shm(bootstrap: &dyn Bootstrap, config: &Config) -> Result<Arc<dyn Transport>> {
    let options = rmpi_shm::ShmOptions::from_config(config);
    Ok(Arc::new(rmpi_shm::ShmTransport::establish(
        bootstrap, &options,
    )?))
}

#[cfg(not(feature = "shm"))]
fn shm(_: &dyn Bootstrap, _: &Config) -> Result<Arc<dyn Transport>> {
    Err(Error::InvalidArgument(
        "this program was built without rmpi's shm feature".into(),
    ))
}

/// TCP with every rank, listening on `RMPI_TCP_ADDRESS` if set, else on `address` (the
/// route to the launcher), else on loopback.
#[cfg(feature = "tcp")]
async fn tcp(
    bootstrap: &dyn Bootstrap,
    config: &Config,
    address: Option<IpAddr>,
) -> Result<Arc<dyn Transport>> {
    let mut options = rmpi_tcp::TcpOptions::from_config(config);
    if config.tcp.address.is_none() {
        if let Some(address) = address {
            options.address = address;
        }
    }
    let transport = rmpi_tcp::TcpTransport::establish(bootstrap, &options).await?;
    Ok(Arc::new(transport))
}

#[cfg(not(feature = "tcp"))]
async fn tcp(_: &dyn Bootstrap, _: &Config, _: Option<IpAddr>) -> Result<Arc<dyn Transport>> {
    Err(Error::InvalidArgument(
        "this program was built without rmpi's tcp feature".into(),
    ))
}
