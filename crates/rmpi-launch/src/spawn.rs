//! Starting a host's ranks and watching them: what the launcher does for the ranks on its
//! own host, and a host's proxy for the ranks on another.
//!
//! Each rank is a process in a process group of its own (so ending it ends whatever it
//! started), dies with whoever started it (the parent-death signal), and reports back as
//! [`Report`]s: its output line by line, and how it ended.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;

use rustix::process::{kill_process_group, Pid, Signal};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use crate::env;

/// Longest piece of output reported as one line; longer lines arrive in pieces.
///
/// ```
/// // A rank's line longer than this reaches the launcher in pieces of at most this size.
/// assert!(rmpi_launch::spawn::MAX_LINE >= 4096);
/// ```
pub const MAX_LINE: usize = 64 * 1024;

/// How a rank ended.
///
/// ```
/// use rmpi_launch::spawn::Exit;
/// assert_eq!(Exit::Code(3).code(), 3);
/// assert_eq!(Exit::Signal(9).code(), 137);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// This signal killed it.
    Signal(i32),
    /// Its host's proxy went away before the rank's end was known.
    Lost,
}

impl Exit {
    /// The shell's exit code for this ending: 128 + N for signal N.
    ///
    /// ```
    /// use rmpi_launch::spawn::Exit;
    /// assert_eq!(Exit::Lost.code(), 255);
    /// ```
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
            Exit::Lost => 255,
        }
    }

    fn of(status: std::io::Result<std::process::ExitStatus>) -> Exit {
        match status {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => Exit::Lost,
            },
            Err(_) => Exit::Lost,
        }
    }
}

/// Which of a rank's output streams a line came from.
///
/// ```
/// use rmpi_launch::spawn::{start, Binding, Exit, Program, Report, Stream};
/// let program = Program {
///     path: "echo".into(),
///     args: vec!["hello".into()],
///     dir: None,
///     env: vec![],
///     binding: Binding::None,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let heard = runtime.block_on(async {
///     let (reports, mut incoming) = tokio::sync::mpsc::unbounded_channel();
///     let (_terminate, terminated) = tokio::sync::watch::channel(false);
///     start(&program, &[0, 1], None, &reports, &terminated)?;
///     let (mut lines, mut ended) = (Vec::new(), 0);
///     while ended < 2 {
///         match incoming.recv().await {
///             Some(Report::Output { rank, stream: Stream::Out, line }) => lines.push((rank, line)),
///             Some(Report::Ended { exit, .. }) => {
///                 assert_eq!(exit, Exit::Code(0));
///                 ended += 1;
///             }
///             _ => {}
///         }
///     }
///     lines.sort();
///     Ok::<_, String>(lines)
/// })?;
/// assert_eq!(heard, [(0, b"hello\n".to_vec()), (1, b"hello\n".to_vec())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// What a running rank tells whoever started it.
///
/// ```
/// use rmpi_launch::spawn::{start, Binding, Exit, Program, Report, Stream};
/// let program = Program {
///     path: "echo".into(),
///     args: vec!["hello".into()],
///     dir: None,
///     env: vec![],
///     binding: Binding::None,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let heard = runtime.block_on(async {
///     let (reports, mut incoming) = tokio::sync::mpsc::unbounded_channel();
///     let (_terminate, terminated) = tokio::sync::watch::channel(false);
///     start(&program, &[0, 1], None, &reports, &terminated)?;
///     let (mut lines, mut ended) = (Vec::new(), 0);
///     while ended < 2 {
///         match incoming.recv().await {
///             Some(Report::Output { rank, stream: Stream::Out, line }) => lines.push((rank, line)),
///             Some(Report::Ended { exit, .. }) => {
///                 assert_eq!(exit, Exit::Code(0));
///                 ended += 1;
///             }
///             _ => {}
///         }
///     }
///     lines.sort();
///     Ok::<_, String>(lines)
/// })?;
/// assert_eq!(heard, [(0, b"hello\n".to_vec()), (1, b"hello\n".to_vec())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The rank's process started.
    Started {
        /// The rank.
        rank: usize,
        /// Its process id on its host.
        pid: u32,
    },
    /// One line of its output, newline included.
    Output {
        /// The rank.
        rank: usize,
        /// Which stream.
        stream: Stream,
        /// The line.
        line: Vec<u8>,
    },
    /// It ended.
    Ended {
        /// The rank.
        rank: usize,
        /// How.
        exit: Exit,
    },
}

/// Where ranks are placed on their host's cores (`rmpirun --bind-to`).
///
/// ```
/// use rmpi_launch::launcher::Job;
/// use rmpi_launch::spawn::Binding;
/// let mut job = Job::new("./solver", 8);
/// job.binding = Binding::Core; // rmpirun --bind-to core
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Binding {
    /// Each rank starts on a core of its own, then runs anywhere.
    Start,
    /// Each rank stays bound to a core of its own.
    Core,
    /// No placement.
    None,
}

/// What every rank of a host runs, and with what.
///
/// ```
/// use rmpi_launch::spawn::{start, Binding, Exit, Program, Report, Stream};
/// let program = Program {
///     path: "echo".into(),
///     args: vec!["hello".into()],
///     dir: None,
///     env: vec![],
///     binding: Binding::None,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let heard = runtime.block_on(async {
///     let (reports, mut incoming) = tokio::sync::mpsc::unbounded_channel();
///     let (_terminate, terminated) = tokio::sync::watch::channel(false);
///     start(&program, &[0, 1], None, &reports, &terminated)?;
///     let (mut lines, mut ended) = (Vec::new(), 0);
///     while ended < 2 {
///         match incoming.recv().await {
///             Some(Report::Output { rank, stream: Stream::Out, line }) => lines.push((rank, line)),
///             Some(Report::Ended { exit, .. }) => {
///                 assert_eq!(exit, Exit::Code(0));
///                 ended += 1;
///             }
///             _ => {}
///         }
///     }
///     lines.sort();
///     Ok::<_, String>(lines)
/// })?;
/// assert_eq!(heard, [(0, b"hello\n".to_vec()), (1, b"hello\n".to_vec())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Program {
    /// The program.
    pub path: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The directory it runs in; `None` for the starter's own.
    pub dir: Option<PathBuf>,
    /// Variables every rank gets, beyond the starter's own environment.
    pub env: Vec<(String, String)>,
    /// How ranks are placed on cores.
    pub binding: Binding,
}

/// Starts `ranks` (world ranks, all on this host) running `program`: the first rank's
/// standard input is `stdin`, the others' is empty. Every rank reports to `reports`; when
/// `terminate` turns true, ranks still running are killed (with whatever they started).
/// Returns once every rank has started; an error names the program that did not.
///
/// ```
/// use rmpi_launch::spawn::{start, Binding, Exit, Program, Report, Stream};
/// let program = Program {
///     path: "echo".into(),
///     args: vec!["hello".into()],
///     dir: None,
///     env: vec![],
///     binding: Binding::None,
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// let heard = runtime.block_on(async {
///     let (reports, mut incoming) = tokio::sync::mpsc::unbounded_channel();
///     let (_terminate, terminated) = tokio::sync::watch::channel(false);
///     start(&program, &[0, 1], None, &reports, &terminated)?;
///     let (mut lines, mut ended) = (Vec::new(), 0);
///     while ended < 2 {
///         match incoming.recv().await {
///             Some(Report::Output { rank, stream: Stream::Out, line }) => lines.push((rank, line)),
///             Some(Report::Ended { exit, .. }) => {
///                 assert_eq!(exit, Exit::Code(0));
///                 ended += 1;
///             }
///             _ => {}
///         }
///     }
///     lines.sort();
///     Ok::<_, String>(lines)
/// })?;
/// assert_eq!(heard, [(0, b"hello\n".to_vec()), (1, b"hello\n".to_vec())]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start(
    program: &Program,
    ranks: &[usize],
    mut stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    reports: &mpsc::UnboundedSender<Report>,
    terminate: &watch::Receiver<bool>,
) -> Result<(), String> {
    let cores = match program.binding {
        Binding::None => Vec::new(),
        Binding::Start | Binding::Core => {
            crate::binding::cores_for(ranks.len(), &[], &crate::binding::available_cores())
        }
    };
    for (index, &rank) in ranks.iter().enumerate() {
        let mut command = Command::new(&program.path);
        command
            .args(&program.args)
            .envs(program.env.iter().map(|(k, v)| (k, v)))
            .env(env::RANK, rank.to_string())
            .env_remove(env::CPU)
            .env_remove(env::START_CPU)
            .stdin(if index == 0 && stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so terminating a rank takes whatever it started along.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &program.dir {
            command.current_dir(dir);
        }
        if let Some(core) = cores.get(index) {
            let name = match program.binding {
                Binding::Core => env::CPU,
                _ => env::START_CPU,
            };
            command.env(name, core.to_string());
        }
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed; it makes one prctl system call and touches
        // no memory the parent shares.
        unsafe {
            command.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start {}: {e}",
                PathBuf::from(&program.path).display()
            )
        })?;
        let pid = child.id().unwrap_or_default();
        let _ = reports.send(Report::Started { rank, pid });
        if let (Some(mut into), Some(mut from)) = (child.stdin.take(), stdin.take()) {
            // Detached: reading the input may block until the starter exits.
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from, &mut into).await;
            });
        }
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let forwarding = [
            out.map(|out| tokio::spawn(forward(out, rank, Stream::Out, reports.clone()))),
            err.map(|err| tokio::spawn(forward(err, rank, Stream::Err, reports.clone()))),
        ];
        let (reports, mut terminate) = (reports.clone(), terminate.clone());
        tokio::spawn(async move {
            let ended = tokio::select! {
                status = child.wait() => Some(status),
                _ = terminate.wait_for(|t| *t) => None,
            };
            let status = match ended {
                Some(status) => status,
                None => {
                    if let Some(group) = Pid::from_raw(pid as i32) {
                        let _ = kill_process_group(group, Signal::KILL);
                    }
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Its output drains first, unless something it left running holds the pipes.
            for task in forwarding.into_iter().flatten() {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
            }
            let _ = reports.send(Report::Ended {
                rank,
                exit: Exit::of(status),
            });
        });
    }
    Ok(())
}

/// Reports a rank's output line by line (a line longer than [`MAX_LINE`] in pieces), each
/// ending in a newline.
async fn forward(
    from: impl AsyncRead + Unpin,
    rank: usize,
    stream: Stream,
    reports: mpsc::UnboundedSender<Report>,
) {
    let mut reader = BufReader::new(from);
    loop {
        let mut line = Vec::new();
        let mut limited = (&mut reader).take(MAX_LINE as u64);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        if reports.send(Report::Output { rank, stream, line }).is_err() {
            return;
        }
    }
}
