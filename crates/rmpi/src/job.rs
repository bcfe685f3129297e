//! Joining the job this process was launched into: `rmpi::run` and `rmpi::init`, the
//! counterparts of `MPI_Init`/`MPI_Finalize` (which mpi4py calls on import and at exit).
//!
//! Under `rmpirun`, the launcher's environment says which rank this is and how to reach
//! the others; the transport is the one `rmpirun --transport` asked for. Run directly, the
//! process is a singleton: rank 0 of a world of 1, as with MPI.

use std::future::Future;
use std::sync::Arc;

use rmpi_core::local::LocalTransport;
use rmpi_core::{Bootstrap, Comm, Error, Result, Transport};

/// Runs `main` as this process's rank of its job, on a single-threaded tokio runtime (one
/// per rank: ranks already fill the cores), and finalizes afterwards, also when `main`
/// fails, so peers see this rank finish rather than vanish.
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let world = init().await?;
        let outcome = main(world.clone()).await;
        let finalized = world.finalize().await;
        let value = outcome?;
        finalized?;
        Ok(value)
    })
}

/// Joins the job and returns the world communicator. Call it once, on a tokio runtime with
/// I/O and timers enabled, and call [`Comm::finalize`] at the end; [`run`] does both.
pub async fn init() -> Result<Comm> {
    rmpi_launch::init_logging();
    let bootstrap = rmpi_launch::bootstrap::from_env()?;
    Ok(Comm::from_transport(connect(&*bootstrap).await?))
}

async fn connect(bootstrap: &dyn Bootstrap) -> Result<Arc<dyn Transport>> {
    if bootstrap.size() == 1 {
        let only = LocalTransport::mesh(1).pop().expect("a mesh of one");
        return Ok(Arc::new(only));
    }
    let choice = std::env::var(rmpi_launch::env::TRANSPORT).unwrap_or_default();
    match choice.as_str() {
        "" | "auto" => {
            if cfg!(feature = "shm") && (!cfg!(feature = "tcp") || one_host(bootstrap)?) {
                shm(bootstrap)
            } else {
                tcp(bootstrap).await
            }
        }
        "tcp" => tcp(bootstrap).await,
        "shm" => shm(bootstrap),
        other => Err(Error::InvalidArgument(format!(
            "unknown transport {other:?} (expected tcp, shm or auto)"
        ))),
    }
}

/// Whether every rank runs on this host (same host name and boot), asked of all ranks.
fn one_host(bootstrap: &dyn Bootstrap) -> Result<bool> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let here = format!("{}/{}", host.trim(), boot.trim()).replace(' ', "_");
    let key = |rank: usize| format!("rmpi-host-{rank}");
    bootstrap.put(&key(bootstrap.rank()), &here)?;
    bootstrap.fence()?;
    for rank in 0..bootstrap.size() {
        if bootstrap.get(&key(rank))? != here {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(feature = "shm")]
fn shm(bootstrap: &dyn Bootstrap) -> Result<Arc<dyn Transport>> {
    let options = rmpi_shm::ShmOptions::from_env()?;
    Ok(Arc::new(rmpi_shm::ShmTransport::establish(
        bootstrap, &options,
    )?))
}

#[cfg(not(feature = "shm"))]
fn shm(_: &dyn Bootstrap) -> Result<Arc<dyn Transport>> {
    Err(Error::InvalidArgument(
        "this program was built without rmpi's shm feature".into(),
    ))
}

#[cfg(feature = "tcp")]
async fn tcp(bootstrap: &dyn Bootstrap) -> Result<Arc<dyn Transport>> {
    let options = rmpi_tcp::TcpOptions::from_env()?;
    let transport = rmpi_tcp::TcpTransport::establish(bootstrap, &options).await?;
    Ok(Arc::new(transport))
}

#[cfg(not(feature = "tcp"))]
async fn tcp(_: &dyn Bootstrap) -> Result<Arc<dyn Transport>> {
    Err(Error::InvalidArgument(
        "this program was built without rmpi's tcp feature".into(),
    ))
}
