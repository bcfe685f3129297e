//! The launcher's side of a host's proxy (`proxy`): starts it with the launch
//! command (`ssh` by default, or `--launcher-exec`), hands it the job on its standard
//! input, and turns what it relays back into [`Report`]s, as if its ranks ran here.

use std::collections::HashSet;
use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command as Process};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::proxy::{read_report, Command, ProxyJob};
use crate::spawn::{Exit, Report};

/// How proxies are started on other hosts.
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
pub struct Launch {
    /// The command and its first arguments; the host and the proxy's command follow, as
    /// with `ssh HOST COMMAND...`.
    pub exec: Vec<String>,
    /// `rmpirun`'s path on the other hosts.
    pub rmpirun: OsString,
}

impl Launch {
    /// The default: `ssh` in batch mode (never a password prompt), with the user's ssh
    /// configuration.
    ///
    /// ```
    /// use rmpi_launch::remote::Launch;
    /// // Never a password prompt: ssh fails at once where a key is missing.
    /// assert!(Launch::ssh().contains(&"BatchMode=yes".to_string()));
    /// ```
    pub fn ssh() -> Vec<String> {
        ["ssh", "-x", "-o", "BatchMode=yes"]
            .map(String::from)
            .to_vec()
    }
}

/// Starts `job` on `host` through its proxy. Input for the job's first rank comes from
/// `stdin`; reports go to `reports`. When `terminate` turns true the proxy is told to end
/// its ranks, and if it has not ended `grace` later it is killed; ranks whose end it never
/// reported end as [`Exit::Lost`]. What the proxy or the launch command print on their own
/// stderr is shown as coming from `host`.
#[doc(hidden)] // rmpirun's own: it starts a proxy job, which is not API
pub fn start(
    launch: &Launch,
    host: &str,
    job: &ProxyJob,
    stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    reports: mpsc::UnboundedSender<Report>,
    terminate: watch::Receiver<bool>,
    grace: Duration,
) -> Result<JoinHandle<()>, String> {
    let (program, first) = launch
        .exec
        .split_first()
        .ok_or("an empty --launcher-exec")?;
    let mut proxy = Process::new(program);
    proxy
        .args(first)
        .arg(host)
        .arg(&launch.rmpirun)
        .arg("--proxy")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Ctrl-C reaches the launcher alone, which ends the job in order.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = proxy
        .spawn()
        .map_err(|e| format!("cannot start {program} for host {host}: {e}"))?;
    let mut spec = serde_json::to_vec(job).map_err(|e| e.to_string())?;
    spec.push(b'\n');
    let (to_proxy, from_proxy, errors) = (
        child.stdin.take().expect("piped"),
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let host = host.to_owned();
    tokio::spawn(show_errors(errors, host.clone()));
    let ranks = job.ranks.clone();
    Ok(tokio::spawn(async move {
        let commanding = tokio::spawn(command(to_proxy, spec, stdin, terminate.clone()));
        let mut ended = HashSet::new();
        let mut from_proxy = from_proxy;
        let relayed = relay(&mut from_proxy, &reports, &mut ended);
        let outcome = tokio::select! {
            outcome = relayed => outcome,
            () = told_to_end_and_waited(terminate, grace) => Err("did not end when told to".into()),
        };
        commanding.abort();
        let status = end(&mut child).await;
        if ended.len() < ranks.len() {
            let why = outcome.err().unwrap_or_else(|| "ended early".into());
            crate::say(&format!("host {host}: the proxy {why} ({status})"));
        }
        for &rank in &ranks {
            if !ended.contains(&rank) {
                let _ = reports.send(Report::Ended {
                    rank,
                    exit: Exit::Lost,
                });
            }
        }
    }))
}

/// Relays reports until the proxy's output ends.
async fn relay(
    from_proxy: &mut (impl AsyncRead + Unpin),
    reports: &mpsc::UnboundedSender<Report>,
    ended: &mut HashSet<usize>,
) -> Result<(), String> {
    loop {
        match read_report(from_proxy).await {
            Ok(Some(report)) => {
                if let Report::Ended { rank, .. } = report {
                    ended.insert(rank);
                }
                let _ = reports.send(report);
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("sent something other than reports: {e}")),
        }
    }
}

/// Returns `grace` after `terminate` turned true; never if it does not.
async fn told_to_end_and_waited(mut terminate: watch::Receiver<bool>, grace: Duration) {
    if terminate.wait_for(|t| *t).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
}

/// Writes the job, then relays the first rank's input, until told to terminate.
async fn command(
    mut to_proxy: ChildStdin,
    spec: Vec<u8>,
    stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    mut terminate: watch::Receiver<bool>,
) {
    if to_proxy.write_all(&spec).await.is_err() {
        return;
    }
    let mut stdin = stdin;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let command = tokio::select! {
            _ = terminate.wait_for(|t| *t) => Command::Terminate,
            read = async { stdin.as_mut()?.read(&mut chunk).await.ok() }, if stdin.is_some() => {
                match read {
                    Some(0) | None => {
                        stdin = None;
                        Command::InputEnd
                    }
                    Some(n) => Command::Input(chunk[..n].to_vec()),
                }
            }
        };
        let last = command == Command::Terminate;
        if to_proxy.write_all(&command.encode()).await.is_err() || last {
            // Keep the pipe open: closing it would also tell the proxy to terminate.
            std::future::pending::<()>().await;
        }
    }
}

/// Ends the proxy's process (it has ended or must) and says how it ended.
async fn end(child: &mut Child) -> String {
    let waited = tokio::time::timeout(Duration::from_millis(200), child.wait()).await;
    let status = match waited {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    match status {
        Ok(status) => status.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Shows what a proxy or its launch command print on their own, naming the host.
async fn show_errors(from: impl AsyncRead + Unpin, host: String) {
    let mut lines = BufReader::new(from).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        crate::say(&format!("{host}: {line}"));
    }
}
