//! Running a job: start the ranks (here, and on other hosts through their proxies), serve
//! their rendezvous, forward their input and output, and end the job the way mpiexec users
//! expect.
//!
//! The launcher exits with the first non-zero exit code of any rank (128 + N for a rank
//! killed by signal N, as shells report it), or 124 if the job timed out. When a rank fails
//! the others get `kill_after` to notice on their own (they see the rank lost and end with
//! an error naming it), then they are killed; the launcher says which rank failed and how.
//! Those reactions can be noticed before the failure that caused them, so the launcher
//! waits half a second after the first failure for an ending that says more (a signal, an
//! exit code other than the plain 1, a failure the rank told it was its own rather than a
//! reaction to another rank's) and reports that one as the cause.

use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmpi_core::auth::encode_hex;
use tokio::io::AsyncRead;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::deadlock::Board;
use crate::env;
use crate::proxy::ProxyJob;
use crate::remote::{self, Launch};
use crate::say;
use crate::server::{Notice, PmiServer};
use crate::spawn::{self, Binding, Exit, Program, Report, Stream};

mod ending;

use ending::{announce, Ending, CAUSE_WINDOW};

/// How long, after a rank fails, the others may take to end on their own
/// (`rmpirun --kill-after`'s default).
///
/// ```
/// use rmpi_launch::launcher::{Job, KILL_AFTER};
/// assert_eq!(Job::new("./solver", 4).kill_after, KILL_AFTER);
/// ```
pub const KILL_AFTER: Duration = Duration::from_secs(3);

/// How long every rank must be stuck before a deadlock is reported
/// (`rmpirun --deadlock-after`'s default).
///
/// ```
/// use rmpi_launch::launcher::{Job, DEADLOCK_AFTER};
/// let mut job = Job::new("./solver", 4);
/// assert_eq!(job.deadlock_after, Some(DEADLOCK_AFTER));
/// job.deadlock_after = None; // never report (rmpirun --deadlock-after 0)
/// ```
pub const DEADLOCK_AFTER: Duration = Duration::from_secs(10);

/// Exit code of a job that ran out of time (as `timeout(1)` uses).
///
/// ```
/// use rmpi_launch::launcher::{run, Job, TIMED_OUT};
/// let mut job = Job::new("sleep", 1);
/// job.args = vec!["30".into()];
/// job.timeout = Some(std::time::Duration::from_millis(200));
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// assert_eq!(runtime.block_on(run(&job)), Ok(TIMED_OUT));
/// ```
pub const TIMED_OUT: i32 = 124;

/// Everything needed to run one job; [`Job::new`] fills in `rmpirun`'s defaults.
///
/// ```
/// use rmpi_launch::launcher::Job;
/// use rmpi_launch::remote::Launch;
/// // What `rmpirun --launcher-exec "pdsh-like -w" --host a:2,b:2` sets up.
/// let mut job = Job::new("./solver", 4);
/// job.hosts = vec![None, None, Some("b".into()), Some("b".into())];
/// job.launch = Launch { exec: vec!["pdsh-like".into(), "-w".into()], rmpirun: "/opt/rmpi/bin/rmpirun".into() };
/// assert_eq!(Launch::ssh()[0], "ssh");
/// ```
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
    /// How long every rank must have been stuck before the launcher reports a deadlock;
    /// `None`: never.
    pub deadlock_after: Option<Duration>,
    /// The transport the ranks should use (`tcp`, `shm` or `auto`).
    pub transport: String,
    /// Variables to pass: `(name, Some(value))` sets one, `(name, None)` forwards ours.
    pub env: Vec<(String, Option<String>)>,
    /// The host each rank is placed on, `None` for this one; empty: all here.
    pub hosts: Vec<Option<String>>,
    /// How ranks are placed on their host's cores.
    pub binding: Binding,
    /// How proxies start on other hosts.
    pub launch: Launch,
    /// The address ranks on other hosts reach the launcher at; by default the address of
    /// the interface on the route to each host.
    pub address: Option<IpAddr>,
}

impl Job {
    /// A job of `ranks` copies of `program` on this host, with `rmpirun`'s defaults: output
    /// tagged, no timeout, 3 s to end after a failure, deadlocks reported after 10 s,
    /// transport chosen by placement, each rank started on a core of its own. Set the
    /// fields to change them.
    ///
    /// ```
    /// use rmpi_launch::launcher::{run, Job};
    /// let mut job = Job::new("sh", 2);
    /// job.args = vec!["-c".into(), "exit 3".into()];
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// let code = runtime.block_on(run(&job))?;
    /// assert_eq!(code, 3); // a rank's failure is the job's
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(program: impl Into<OsString>, ranks: usize) -> Job {
        Job {
            program: program.into(),
            args: Vec::new(),
            ranks,
            tag_output: true,
            timeout: None,
            kill_after: KILL_AFTER,
            deadlock_after: Some(DEADLOCK_AFTER),
            transport: "auto".into(),
            env: Vec::new(),
            hosts: Vec::new(),
            binding: Binding::Start,
            launch: Launch {
                exec: Launch::ssh(),
                rmpirun: "rmpirun".into(),
            },
            address: None,
        }
    }

    /// The host of `rank`; `None` for this one.
    fn host_of(&self, rank: usize) -> Option<&str> {
        self.hosts.get(rank).and_then(Option::as_deref)
    }

    /// The job's hosts in order of their first rank, each with its ranks; this host (when
    /// it has ranks) as `None`.
    fn by_host(&self) -> Vec<(Option<&str>, Vec<usize>)> {
        let mut hosts: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for rank in 0..self.ranks {
            let host = self.host_of(rank);
            match hosts.iter_mut().find(|(h, _)| *h == host) {
                Some((_, ranks)) => ranks.push(rank),
                None => hosts.push((host, vec![rank])),
            }
        }
        hosts
    }
}

fn new_secret() -> Result<[u8; 32], String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for the job secret: {e}"))?;
    Ok(secret)
}

/// This machine's address on the route to `host`: where ranks there reach the launcher.
fn address_towards(host: &str) -> Result<IpAddr, String> {
    let unreachable = |why: String| {
        format!(
            "cannot tell which of this machine's addresses host {host} reaches ({why}); \
             name one with --launcher-address"
        )
    };
    let target: SocketAddr = (host, 22)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let any: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // Connecting a datagram socket sends nothing; it only asks the kernel for the route.
    let probe = UdpSocket::bind(any).map_err(|e| unreachable(e.to_string()))?;
    probe
        .connect(target)
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(probe
        .local_addr()
        .map_err(|e| unreachable(e.to_string()))?
        .ip())
}

/// Variables that every rank of the job gets, wherever it runs: the job's own, those the
/// user set or forwarded with `-x`, and, for ranks on other hosts (who do not inherit the
/// launcher's environment), every other `RMPI_*` setting the launcher has.
fn job_variables(job: &Job, job_id: &str, secret: &str) -> Vec<(String, String)> {
    let own = [
        (env::SIZE, job.ranks.to_string()),
        (env::JOB_ID, job_id.to_owned()),
        (env::SECRET, secret.to_owned()),
        (env::TRANSPORT, job.transport.clone()),
    ];
    let reserved = [env::PMI_PORT, env::RANK, env::CPU, env::START_CPU];
    let mut variables: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("RMPI_"))
        .filter(|(name, _)| !reserved.contains(&name.as_str()))
        .filter(|(name, _)| !own.iter().any(|(n, _)| n == name))
        .collect();
    for (name, value) in &job.env {
        let value = match value {
            Some(value) => Some(value.clone()),
            None => std::env::var(name).ok(),
        };
        if let Some(value) = value {
            variables.retain(|(n, _)| n != name);
            variables.push((name.clone(), value));
        }
    }
    variables.extend(own.map(|(name, value)| (name.to_owned(), value)));
    variables
}

/// Runs `job` to the end and returns the launcher's exit code. Must run on a tokio runtime
/// with I/O, process and timer support. [`Job::new`] shows it in use.
///
/// ```no_run
/// # async fn example() -> Result<(), String> {
/// // What `rmpirun -n 4 --timeout 60 ./solver` does.
/// let mut job = rmpi_launch::launcher::Job::new("./solver", 4);
/// job.timeout = Some(std::time::Duration::from_secs(60));
/// let code = rmpi_launch::launcher::run(&job).await?;
/// std::process::exit(code);
/// # }
/// ```
pub async fn run(job: &Job) -> Result<i32, String> {
    if job.ranks == 0 {
        return Err("a job needs at least one rank".into());
    }
    let hosts = job.by_host();
    let across_hosts = hosts.iter().any(|(host, _)| host.is_some());
    if across_hosts && job.transport == "shm" {
        return Err("--transport shm needs every rank on this host".into());
    }
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let job_id = format!("rmpi-{}-{}", std::process::id(), started.as_micros());
    let secret = new_secret()?;
    // A job on this host alone keeps its rendezvous on loopback.
    let listen = match (across_hosts, job.address) {
        (false, _) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (true, Some(address)) => address,
        (true, None) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let (notices_tx, mut notices) = mpsc::unbounded_channel();
    let server = PmiServer::start(job.ranks, &job_id, &secret, listen, notices_tx)
        .await
        .map_err(|e| format!("cannot start the rendezvous service: {e}"))?;
    let port = server.address().port();
    let first_remote = hosts.iter().find_map(|(host, _)| *host);
    let reach = |host: Option<&str>| -> Result<SocketAddr, String> {
        let ip = match (job.address, host.or(first_remote)) {
            (Some(address), _) => address,
            (None, Some(host)) => address_towards(host)?,
            (None, None) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        Ok(SocketAddr::new(ip, port))
    };
    let variables = job_variables(job, &job_id, &encode_hex(&secret));

    // Listening before any rank starts, so a signal soon after is never the default action.
    let signals = Signals::new().map_err(|e| format!("cannot listen for signals: {e}"))?;
    let (terminate, terminated) = watch::channel(false);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let mut stdin: Option<Box<dyn AsyncRead + Send + Unpin>> = Some(Box::new(tokio::io::stdin()));
    let mut proxies = Vec::new();
    for (host, ranks) in &hosts {
        let mut env = variables.clone();
        env.push((env::PMI_PORT.to_owned(), reach(*host)?.to_string()));
        let program = Program {
            path: job.program.clone(),
            args: job.args.clone(),
            dir: std::env::current_dir().ok(),
            env,
            binding: job.binding,
        };
        let input = if ranks.contains(&0) {
            stdin.take()
        } else {
            None
        };
        match host {
            None => spawn::start(&program, ranks, input, &reports_tx, &terminated)?,
            Some(host) => {
                let proxy = ProxyJob {
                    job_id: job_id.clone(),
                    program,
                    ranks: ranks.clone(),
                    stdin: input.is_some(),
                };
                proxies.push(remote::start(
                    &job.launch,
                    host,
                    &proxy,
                    input,
                    reports_tx.clone(),
                    terminated.clone(),
                    job.kill_after,
                )?);
            }
        }
    }
    drop(reports_tx);
    let code = supervise(job, signals, &mut reports, &mut notices, &terminate).await?;
    // Proxies end once their ranks have; don't wait long for one that does not.
    for proxy in proxies {
        let _ = tokio::time::timeout(Duration::from_secs(2), proxy).await;
    }
    drop(server);
    crate::leftovers::remove(&job_id);
    Ok(code)
}

/// Prints the ranks' output and watches them end, ending the job on a failure, a timeout
/// or a signal; returns the launcher's exit code.
async fn supervise(
    job: &Job,
    mut signals: Signals,
    reports: &mut mpsc::UnboundedReceiver<Report>,
    notices: &mut mpsc::UnboundedReceiver<Notice>,
    terminate: &watch::Sender<bool>,
) -> Result<i32, String> {
    // What failing ranks said of their failures: reported before they end, so present by
    // the time their ending is seen.
    let mut because_of: Vec<Option<Option<usize>>> = vec![None; job.ranks];
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let timeout_at = job.timeout.map_or(far, |t| Instant::now() + t);
    let mut kill_at = far;
    let mut alive: Vec<bool> = vec![true; job.ranks];
    let mut pids: Vec<Option<u32>> = vec![None; job.ranks];
    // The failure taken for the cause, since when, and whether it was announced: it is
    // announced once no more telling ending has come within the cause window.
    let mut first_failure: Option<(Ending, Instant)> = None;
    let mut announced = false;
    let mut timed_out = false;
    // The launcher has terminated the rest of the job: their endings are not news.
    let mut terminating = false;
    let mut interrupted: Option<i32> = None;
    // The exit code of a rank that aborted the job.
    let mut aborted: Option<i32> = None;
    // What the ranks said they are stuck in.
    let mut board = Board::new(job.ranks);
    while alive.iter().any(|&a| a) {
        let deadlock_at = job
            .deadlock_after
            .filter(|_| !board.reported() && !terminating && !timed_out)
            .and_then(|quiet| board.deadlocked_at(&alive, quiet));
        let report = tokio::select! {
            report = reports.recv() => report,
            // The ranks have process groups of their own, so Ctrl-C reaches only us.
            Some(()) = signals.interrupt.recv(), if interrupted.is_none() => {
                interrupted = Some(128 + 2);
                say(&format!("interrupted; terminating ranks {}", ranks_in(&alive)));
                let _ = terminate.send(true);
                continue;
            }
            Some(()) = signals.terminate.recv(), if interrupted.is_none() => {
                interrupted = Some(128 + 15);
                say(&format!("terminated; terminating ranks {}", ranks_in(&alive)));
                let _ = terminate.send(true);
                continue;
            }
            // Ctrl-\: say what each rank waits for, and go on.
            Some(()) = signals.quit.recv() => {
                say("what each rank is doing (SIGQUIT):");
                print_waits(&board, &alive);
                continue;
            }
            _ = tokio::time::sleep_until(
                deadlock_at.map_or(far, Instant::from_std)
            ), if deadlock_at.is_some() => {
                let quiet = job.deadlock_after.unwrap_or_default();
                for line in board.deadlock_report(&alive, quiet) {
                    say(&line);
                }
                continue;
            }
            Some(notice) = notices.recv() => {
                let failure = match notice {
                    Notice::Failure(failure) => failure,
                    Notice::Stuck { rank, stuck } => {
                        board.tell(rank, stuck, std::time::Instant::now());
                        continue;
                    }
                };
                because_of[failure.rank] = Some(failure.because_of);
                if let (Some(code), None) = (failure.abort, aborted) {
                    aborted = Some(code);
                    terminating = true;
                    let rank = failure.rank;
                    let on = job.host_of(rank).map_or(String::new(), |host| format!(" on {host}"));
                    let others: Vec<bool> =
                        (0..job.ranks).map(|r| alive[r] && r != rank).collect();
                    say(&format!(
                        "rank {rank}{on} called abort with code {code}; terminating ranks {}",
                        ranks_in(&others)
                    ));
                    let _ = terminate.send(true);
                }
                continue;
            }
            _ = tokio::time::sleep_until(timeout_at), if !timed_out => {
                timed_out = true;
                say("what each rank was doing when the job timed out:");
                print_waits(&board, &alive);
                say(&format!(
                    "the job timed out after {:?}; terminating ranks {}",
                    job.timeout.unwrap_or_default(),
                    ranks_in(&alive)
                ));
                let _ = terminate.send(true);
                continue;
            }
            _ = tokio::time::sleep_until(
                first_failure.as_ref().map_or(far, |(_, at)| *at + CAUSE_WINDOW)
            ), if first_failure.is_some() && !announced => {
                announce(&first_failure, &mut announced);
                continue;
            }
            _ = tokio::time::sleep_until(kill_at), if kill_at != far => {
                announce(&first_failure, &mut announced);
                kill_at = far;
                terminating = true;
                say(&format!("terminating ranks {}", ranks_in(&alive)));
                let _ = terminate.send(true);
                continue;
            }
        };
        let Some(report) = report else { break };
        let (rank, exit) = match report {
            Report::Output { rank, stream, line } => {
                print_line(rank, stream, &line, job.tag_output);
                continue;
            }
            Report::Started { rank, pid } => {
                if let Some(slot) = pids.get_mut(rank) {
                    *slot = Some(pid);
                }
                continue;
            }
            Report::Ended { rank, exit } if rank < job.ranks => (rank, exit),
            Report::Ended { rank, .. } => return Err(format!("a report for unknown rank {rank}")),
        };
        alive[rank] = false;
        board.ended(rank, std::time::Instant::now());
        while let Ok(notice) = notices.try_recv() {
            match notice {
                Notice::Failure(failure) => because_of[failure.rank] = Some(failure.because_of),
                Notice::Stuck { rank, stuck } => board.tell(rank, stuck, std::time::Instant::now()),
            }
        }
        let ending = Ending {
            rank,
            pid: pids[rank],
            host: job.host_of(rank).map(str::to_owned),
            exit,
            because_of: because_of[rank],
        };
        if exit == Exit::Code(0) || timed_out || interrupted.is_some() || terminating {
            continue;
        }
        // Ranks that lose a peer end with a plain error (code 1) moments after it failed,
        // and the endings may be noticed in any order: a more telling ending soon after
        // the first failure is taken to be the cause, and is what the job reports.
        let cause = match &first_failure {
            None => true,
            Some((first, _)) => !announced && ending.telling() > first.telling(),
        };
        if cause {
            let at = first_failure
                .as_ref()
                .map_or_else(Instant::now, |(_, at)| *at);
            first_failure = Some((ending, at));
            if alive.iter().any(|&a| a) && kill_at == far {
                kill_at = Instant::now() + job.kill_after;
            }
        }
    }
    if let Some(code) = aborted {
        return Ok(code);
    }
    announce(&first_failure, &mut announced);
    Ok(match first_failure {
        Some((failure, _)) => failure.exit.code(),
        None if interrupted.is_some() => interrupted.unwrap_or(1),
        None if timed_out => TIMED_OUT,
        None => 0,
    })
}

/// The signals the launcher acts on.
struct Signals {
    /// Ctrl-C: end the job.
    interrupt: Signal,
    /// Ctrl-\: say what each rank waits for.
    quit: Signal,
    /// SIGTERM: end the job.
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
}

/// Prints what each live rank waits for, and the cycle they form if there is one.
fn print_waits(board: &Board, alive: &[bool]) {
    for line in board.table(alive) {
        say(&line);
    }
}

fn ranks_in(alive: &[bool]) -> String {
    let ranks: Vec<String> = (0..alive.len())
        .filter(|&r| alive[r])
        .map(|r| r.to_string())
        .collect();
    ranks.join(", ")
}

/// Prints one line of a rank's output, whole and, if asked, tagged.
fn print_line(rank: usize, stream: Stream, line: &[u8], tag: bool) {
    let prefix = if tag {
        format!("[{rank}] ")
    } else {
        String::new()
    };
    let _ = match stream {
        Stream::Err => {
            let mut out = std::io::stderr().lock();
            out.write_all(prefix.as_bytes())
                .and_then(|()| out.write_all(line))
        }
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            out.write_all(prefix.as_bytes())
                .and_then(|()| out.write_all(line))
                .and_then(|()| out.flush())
        }
    };
}
