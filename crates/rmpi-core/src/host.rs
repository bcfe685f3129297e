//! What rmpi needs to know about the machine a rank runs on.

use std::sync::OnceLock;

/// The cores this process may run on, read once (it is not cheap). Transports and
/// collectives compare it with the number of ranks: with more ranks than cores, waiting
/// must give the core away, and algorithms that send many messages lose. The first call
/// counts: `rmpi::init` makes it before a rank binds itself to one core.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
