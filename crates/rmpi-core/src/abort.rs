//! Ending the whole job at once ([`Comm::abort`](crate::Comm::abort), `MPI_Abort`).
//!
//! The core cannot reach the launcher itself: whoever started the job (the `rmpi` facade,
//! for jobs started by a launcher) registers how to tell it with [`set_launcher_hook`].
//! Without one, as in a job of threads in one process ([`crate::local`]), aborting ends the
//! process, which is the whole job.

use std::io::Write;
use std::sync::OnceLock;

/// Tells the launcher that this rank aborts the job with an exit code; returns once the
/// launcher has heard, after which the process exits with that code.
pub type LauncherHook = fn(code: i32);

static HOOK: OnceLock<LauncherHook> = OnceLock::new();

/// Registers how [`Comm::abort`](crate::Comm::abort) tells this process's launcher; the
/// first registration stands.
pub fn set_launcher_hook(hook: LauncherHook) {
    let _ = HOOK.set(hook);
}

/// Reports the abort on standard error, tells the launcher, and ends the process with
/// `code`.
pub(crate) fn abort(world_rank: usize, code: i32) -> ! {
    eprintln!("rmpi: rank {world_rank} called abort with code {code}");
    let _ = std::io::stdout().flush();
    if let Some(hook) = HOOK.get() {
        hook(code);
    }
    std::process::exit(code)
}
