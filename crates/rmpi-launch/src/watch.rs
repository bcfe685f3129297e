//! A rank does not outlive its launcher.
//!
//! A rank keeps its connection to the launcher's rendezvous service open for its whole life,
//! and a thread of its own waits for that connection to close: that happens only when the
//! launcher is gone (killed, even with SIGKILL, or its host lost), because a live launcher
//! closes the service only after every rank has ended. The rank then removes what its job
//! left in `/dev/shm` on this host and exits, busy or waiting, wherever it runs. The waiting
//! thread asks the kernel only for the hang-up, so it never takes the service's replies
//! away from the rank's own requests.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;

/// Exit code of a rank that ended because its launcher went away.
///
/// ```
/// // A rank whose launcher died exits with this code.
/// assert_ne!(rmpi_launch::watch::LAUNCHER_LOST, 0);
/// ```
pub const LAUNCHER_LOST: i32 = 1;

/// Watches `connection` from a thread of its own and ends this process when it closes,
/// unless `finalizing` says the process is already on its way out.
pub fn end_with_launcher(
    connection: impl AsFd + Send + 'static,
    rank: usize,
    job_id: String,
    finalizing: &'static AtomicBool,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("rmpi-launcher-watch".into())
        .spawn(move || {
            if hang_up(&connection) && !finalizing.load(Ordering::SeqCst) {
                eprintln!("rmpi: rank {rank}: the launcher is gone; ending");
                crate::leftovers::remove(&job_id);
                std::process::exit(LAUNCHER_LOST);
            }
        })?;
    Ok(())
}

/// Waits until the other end closes `connection`; `false` if it cannot be watched.
fn hang_up(connection: &impl AsFd) -> bool {
    let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
    loop {
        let mut fds = [PollFd::new(connection, PollFlags::RDHUP)];
        match poll(&mut fds, None) {
            Ok(_) if fds[0].revents().intersects(gone) => return true,
            Ok(_) | Err(Errno::INTR) => continue,
            Err(error) => {
                tracing::warn!("cannot watch the launcher's connection: {error}");
                return false;
            }
        }
    }
}
