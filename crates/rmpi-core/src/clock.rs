//! MPI's clock (`MPI_Wtime`, `MPI_Wtick`): seconds as an `f64`, for timing code the way
//! ported programs do.

use std::sync::OnceLock;
use std::time::Instant;

/// Seconds since a fixed moment in this process's life (`MPI.Wtime()`): differences time
/// code; the moment itself means nothing, and differs between ranks. Monotonic.
///
/// ```
/// let start = rmpi::wtime();
/// std::thread::sleep(std::time::Duration::from_millis(2));
/// assert!(rmpi::wtime() - start >= 0.002);
/// ```
pub fn wtime() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// The resolution of [`wtime`] in seconds (`MPI.Wtick()`).
///
/// ```
/// assert!(rmpi::wtick() > 0.0 && rmpi::wtick() < 1e-6);
/// ```
pub fn wtick() -> f64 {
    1e-9
}
