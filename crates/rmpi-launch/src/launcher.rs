//! Running a job: start the ranks, serve their rendezvous, forward their input and output,
//! and end the job the way mpiexec users expect.
//!
//! The launcher exits with the first non-zero exit code of any rank (128 + N for a rank
//! killed by signal N, as shells report it), or 124 if the job timed out. When a rank fails
//! the others get `kill_after` to notice on their own (they see the rank lost and end with
//! an error naming it), then they are killed; the launcher says which rank failed and how.
//! Those reactions can be noticed before the failure that caused them, so an ending that
//! says more (a signal, or an exit code other than the plain 1) within half a second of the
//! first failure is reported as the cause instead.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::bootstrap::encode_hex;
use crate::env;
use crate::server::PmiServer;

/// Exit code of a job that ran out of time (as `timeout(1)` uses).
pub const TIMED_OUT: i32 = 124;

/// Everything needed to run one job.
#[derive(Debug, Clone)]
pub struct Job {
    /// The program every rank runs.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// How many ranks.
    pub ranks: usize,
    /// Prefix every output line with `[rank] `.
    pub tag_output: bool,
    /// End the job after this long.
    pub timeout: Option<Duration>,
    /// After a rank fails, how long the others may take to end on their own.
    pub kill_after: Duration,
    /// The transport the ranks should use (`tcp`, `shm` or `auto`).
    pub transport: String,
    /// Variables to pass: `(name, Some(value))` sets one, `(name, None)` forwards ours.
    pub env: Vec<(String, Option<String>)>,
    /// The host each rank counts as on (`RMPI_HOST`), from a host list; empty without one.
    pub hosts: Vec<String>,
    /// The core each rank is placed on; empty to leave placement to the scheduler.
    pub cores: Vec<usize>,
    /// Whether ranks stay bound to their cores (`RMPI_CPU`) or only start on them
    /// (`RMPI_START_CPU`).
    pub bind: bool,
}

/// How one rank ended.
#[derive(Debug, Clone, Copy)]
struct Ending {
    rank: usize,
    pid: Option<u32>,
    status: ExitStatus,
}

impl Ending {
    /// The shell's exit code for this ending.
    fn code(&self) -> i32 {
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => 1,
        }
    }

    fn describe(&self) -> String {
        let pid = self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("rank {}{pid} exited with code {code}", self.rank),
            (None, Some(signal)) => format!(
                "rank {}{pid} was killed by signal {signal} ({})",
                self.rank,
                signal_name(signal)
            ),
            (None, None) => format!("rank {}{pid} ended abnormally", self.rank),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "unknown signal",
    }
}

fn say(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "rmpirun: {message}");
}

fn new_secret() -> Result<String, String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for the job secret: {e}"))?;
    Ok(encode_hex(&secret))
}

/// How soon after a rank failed a more telling ending counts as the cause.
const CAUSE_WINDOW: Duration = Duration::from_millis(500);

/// How much an ending says about what went wrong: a signal most, then an exit code of its
/// own, then the plain error code 1 that a rank reacting to a lost peer usually gives.
fn telling(ending: &Ending) -> u8 {
    match (ending.status.signal(), ending.status.code()) {
        (Some(_), _) => 2,
        (None, Some(1)) => 0,
        _ => 1,
    }
}

/// Runs `job` to the end and returns the launcher's exit code. Must run on a tokio runtime
/// with I/O, process and timer support.
pub async fn run(job: &Job) -> Result<i32, String> {
    if job.ranks == 0 {
        return Err("a job needs at least one rank".into());
    }
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let job_id = format!("rmpi-{}-{}", std::process::id(), started.as_micros());
    let secret = new_secret()?;
    let server = PmiServer::start(job.ranks, &job_id)
        .await
        .map_err(|e| format!("cannot start the rendezvous service: {e}"))?;

    let (terminate, terminated) = watch::channel(false);
    let mut running = JoinSet::new();
    let mut forwarding = JoinSet::new();
    for rank in 0..job.ranks {
        let mut command = Command::new(&job.program);
        command
            .args(&job.args)
            .env(env::PMI_PORT, server.address().to_string())
            .env(env::RANK, rank.to_string())
            .env(env::SIZE, job.ranks.to_string())
            .env(env::JOB_ID, &job_id)
            .env(env::SECRET, &secret)
            .env(env::TRANSPORT, &job.transport)
            .env(env::HOST, job.hosts.get(rank).map_or("", String::as_str))
            .stdin(if rank == 0 {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so terminating a rank takes whatever it started along.
            .process_group(0)
            .kill_on_drop(true);
        command.env_remove(env::CPU).env_remove(env::START_CPU);
        if let Some(core) = job.cores.get(rank) {
            let name = if job.bind { env::CPU } else { env::START_CPU };
            command.env(name, core.to_string());
        }
        for (name, value) in &job.env {
            match value {
                Some(value) => command.env(name, value),
                None => match std::env::var_os(name) {
                    Some(value) => command.env(name, value),
                    None => &mut command,
                },
            };
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", job.program.to_string_lossy()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // Detached: reading our stdin may block until the launcher exits.
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut stdin).await;
            });
        }
        if let Some(stdout) = child.stdout.take() {
            forwarding.spawn(forward(stdout, rank, false, job.tag_output));
        }
        if let Some(stderr) = child.stderr.take() {
            forwarding.spawn(forward(stderr, rank, true, job.tag_output));
        }
        let mut terminated = terminated.clone();
        running.spawn(async move {
            let pid = child.id();
            let ended = tokio::select! {
                status = child.wait() => Some(status),
                _ = terminated.wait_for(|t| *t) => None,
            };
            let status = match ended {
                Some(status) => status,
                None => {
                    if let Some(group) = pid.and_then(|p| Pid::from_raw(p as i32)) {
                        let _ = kill_process_group(group, Signal::KILL);
                    }
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            (rank, pid, status)
        });
    }

    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let timeout_at = job.timeout.map_or(far, |t| Instant::now() + t);
    let mut kill_at = far;
    let mut alive: Vec<bool> = vec![true; job.ranks];
    let mut first_failure: Option<(Ending, Instant)> = None;
    let mut timed_out = false;
    // The launcher has terminated the rest of the job: their endings are not news.
    let mut terminating = false;
    let mut interrupted: Option<i32> = None;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut termination = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    loop {
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            // The ranks have process groups of their own, so Ctrl-C reaches only us.
            Some(()) = interrupt.recv(), if interrupted.is_none() => {
                interrupted = Some(128 + 2);
                say(&format!("interrupted; terminating ranks {}", ranks_in(&alive)));
                let _ = terminate.send(true);
                continue;
            }
            Some(()) = termination.recv(), if interrupted.is_none() => {
                interrupted = Some(128 + 15);
                say(&format!("terminated; terminating ranks {}", ranks_in(&alive)));
                let _ = terminate.send(true);
                continue;
            }
            _ = tokio::time::sleep_until(timeout_at), if !timed_out => {
                timed_out = true;
                say(&format!(
                    "the job timed out after {:?}; terminating ranks {}",
                    job.timeout.unwrap_or_default(),
                    ranks_in(&alive)
                ));
                let _ = terminate.send(true);
                continue;
            }
            _ = tokio::time::sleep_until(kill_at), if kill_at != far => {
                kill_at = far;
                terminating = true;
                say(&format!("terminating ranks {}", ranks_in(&alive)));
                let _ = terminate.send(true);
                continue;
            }
        };
        let Some(joined) = joined else { break };
        let (rank, pid, status) = joined.map_err(|e| format!("a rank's watcher failed: {e}"))?;
        let status = status.map_err(|e| format!("cannot wait for rank {rank}: {e}"))?;
        alive[rank] = false;
        let ending = Ending { rank, pid, status };
        if status.success() || timed_out || interrupted.is_some() || terminating {
            continue;
        }
        // Ranks that lose a peer end with a plain error (code 1) moments after it failed,
        // and the endings may be noticed in any order: a more telling ending soon after
        // the first failure is taken to be the cause, and is what the job reports.
        let cause = match &first_failure {
            None => true,
            Some((first, at)) => at.elapsed() < CAUSE_WINDOW && telling(&ending) > telling(first),
        };
        if cause {
            say(&ending.describe());
            first_failure = Some((ending, Instant::now()));
            if alive.iter().any(|&a| a) && kill_at == far {
                kill_at = Instant::now() + job.kill_after;
            }
        }
    }
    // Every rank has ended and its pipes drain, unless something a rank left running
    // still holds them open.
    let drained = async { while forwarding.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(2), drained).await;
    drop(server);
    remove_leftovers(&job_id);
    Ok(match first_failure {
        Some((failure, _)) => failure.code(),
        None if interrupted.is_some() => interrupted.unwrap_or(1),
        None if timed_out => TIMED_OUT,
        None => 0,
    })
}

/// Removes what the job's ranks shared on this host and left behind (a rank killed at the
/// wrong moment cannot clean up after itself): every `/dev/shm` entry named for the job.
fn remove_leftovers(job_id: &str) {
    let prefix = rmpi_core::bootstrap::resource_name(job_id, "-");
    let Ok(entries) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!("removed {}", entry.path().display()),
                Err(e) => say(&format!("cannot remove {}: {e}", entry.path().display())),
            }
        }
    }
}

fn ranks_in(alive: &[bool]) -> String {
    let ranks: Vec<String> = (0..alive.len())
        .filter(|&r| alive[r])
        .map(|r| r.to_string())
        .collect();
    ranks.join(", ")
}

/// Copies a rank's output to ours line by line, each line whole and, if asked, tagged.
async fn forward(stream: impl AsyncRead + Unpin, rank: usize, to_stderr: bool, tag: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let prefix = if tag {
        format!("[{rank}] ")
    } else {
        String::new()
    };
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        let _ = if to_stderr {
            let mut out = std::io::stderr().lock();
            out.write_all(prefix.as_bytes())
                .and_then(|()| out.write_all(&line))
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(prefix.as_bytes())
                .and_then(|()| out.write_all(&line))
                .and_then(|()| out.flush())
        };
    }
}
