//! The environment `rmpirun` gives each rank.

/// `host:port` of the launcher's PMI-1 service.
pub const PMI_PORT: &str = "RMPI_PMI_PORT";
/// This rank's world rank.
pub const RANK: &str = "RMPI_RANK";
/// The number of ranks.
pub const SIZE: &str = "RMPI_SIZE";
/// The job's identifier.
pub const JOB_ID: &str = "RMPI_JOB_ID";
/// The job's secret, hex-encoded; only the launcher and its ranks know it.
pub const SECRET: &str = "RMPI_SECRET";
/// The transport the user asked for: `tcp`, `shm` or `auto`.
pub const TRANSPORT: &str = "RMPI_TRANSPORT";
/// The host a rank counts as on, set by hand to group ranks (ranks with the same host share
/// memory, others talk over TCP); unset, the machine and network namespace it runs in.
pub const HOST: &str = "RMPI_HOST";
/// The core this rank binds itself to (`rmpirun --bind-to core`); unset, it runs anywhere.
pub const CPU: &str = "RMPI_CPU";
/// The core this rank moves to once the job is connected, free to move on afterwards
/// (`rmpirun --bind-to start`, the default); unset, the scheduler places it.
pub const START_CPU: &str = "RMPI_START_CPU";
