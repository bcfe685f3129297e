//! How a rank's shared-memory endpoint is set up: [`ShmOptions`], from the job's settings.

use std::time::Duration;

use rmpi_core::config::Config;
pub use rmpi_core::config::SingleCopy;

use crate::fanout;

/// How a rank's shared-memory endpoint is set up.
///
/// ```
/// use rmpi::shm::ShmOptions;
/// let config = rmpi::config::Config::from_vars([("RMPI_SHM_RING_BYTES", "64KiB")])?;
/// assert_eq!(ShmOptions::from_config(&config).ring_bytes, Some(64 << 10));
/// # Ok::<(), rmpi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShmOptions {
    /// Bytes per ring (a power of two); by default it shrinks as the job grows, from 1 MiB
    /// at up to 4 ranks, so the segment stays near 16 MiB.
    pub ring_bytes: Option<usize>,
    /// The largest payload accepted in one frame.
    pub max_message: u64,
    /// How long to spin before yielding the core, when there are cores to spare.
    pub spin: Duration,
    /// How long to keep yielding before sleeping on the doorbell.
    pub yield_for: Duration,
    /// Which payloads the receiver copies straight from the sender's memory (where the
    /// kernel allows it) instead of through the ring.
    pub single_copy: SingleCopy,
    /// Bytes of each rank's fan-out area, where a payload for several peers (a broadcast's
    /// data) is copied once for all of them (a power of two, or 0 for none); by default
    /// 2 MiB up to 8 ranks, shrinking as the job grows, and none past 64 ranks.
    pub fanout_bytes: Option<usize>,
}

impl Default for ShmOptions {
    fn default() -> Self {
        ShmOptions::from_config(&Config::default())
    }
}

impl ShmOptions {
    /// The options a job's settings give (`RMPI_SHM_*`), the others at their defaults.
    ///
    /// ```
    /// let options = rmpi::shm::ShmOptions::from_config(&rmpi::config::Config::default());
    /// assert_eq!(options.ring_bytes, None); // sized by the job's ranks per host
    /// ```
    pub fn from_config(config: &Config) -> ShmOptions {
        let settings = &config.shm;
        ShmOptions {
            ring_bytes: settings.ring_bytes,
            max_message: 1 << 40,
            spin: settings.spin,
            yield_for: settings.yield_for,
            single_copy: settings.single_copy,
            fanout_bytes: settings.fanout_bytes,
        }
    }

    pub(crate) fn fanout_bytes(&self, ranks: usize) -> usize {
        if !(3..=fanout::MAX_RANKS).contains(&ranks) {
            return 0; // too many for the readers' bits, or never more than one reader
        }
        self.fanout_bytes.unwrap_or_else(|| {
            let budget = (16usize << 20) / ranks;
            budget.clamp(256 << 10, 2 << 20).next_power_of_two()
        })
    }

    pub(crate) fn ring_bytes(&self, ranks: usize) -> usize {
        self.ring_bytes.unwrap_or_else(|| {
            let budget = (16usize << 20) / (ranks * ranks).max(1);
            budget.clamp(64 << 10, 1 << 20).next_power_of_two()
        })
    }
}
