//! What a job leaves on a host: `/dev/shm` entries named for it.
//!
//! A rank killed at the wrong moment cannot clean up after itself, so whoever outlives it on
//! its host (the launcher, a host's proxy, or the rank that finds its launcher gone) removes
//! every entry named for the job ([`rmpi_core::bootstrap::resource_name`]).

/// Removes every `/dev/shm` entry named for `job_id`; failures are logged.
///
/// ```
/// // rmpirun calls it with its job's id once every rank has ended.
/// rmpi_launch::leftovers::remove("0123abcd");
/// ```
pub fn remove(job_id: &str) {
    let prefix = rmpi_core::bootstrap::resource_name(job_id, "-");
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("removed {}", entry.path().display()),
                // Another process of the job may have removed it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}
