//! rmpi's real-process tests, in `tests/`: jobs of real processes started by `rmpirun`
//! (locally, on simulated hosts, over ssh between network-namespace hosts), by MPICH's
//! `mpiexec` and by Slurm's `srun`. This library is what they share: where the binaries
//! and scripts are, the output the seed programs must print, and reading a running job's
//! output. The programs under test are rmpi's examples and `rmpirun`, which
//! `cargo test --workspace` builds; the `tcp` and `shm` features say which backends the
//! examples were built with.
#![deny(missing_docs)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::Output;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `target/<profile>`, where cargo puts binaries and examples.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps")
        .to_path_buf()
}

/// `path`, which must have been built.
pub fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`, which builds rmpirun and the examples",
        path.display()
    );
    path
}

/// `rmpirun`, built beside this test.
pub fn rmpirun_path() -> PathBuf {
    built(target_dir().join("rmpirun"))
}

/// An example of this crate, built beside this test.
pub fn example(name: &str) -> PathBuf {
    built(target_dir().join("examples").join(name))
}

/// One of the scripts the tests run (`tests-integration/scripts/`).
pub fn script(name: &str) -> String {
    format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The output's lines, sorted: ranks print in any order.
pub fn sorted_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = text(bytes).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// The lines rank `rank` printed, without their `[rank] ` tags, in order.
pub fn lines_of(output: &str, rank: usize) -> Vec<String> {
    let tag = format!("[{rank}] ");
    output
        .lines()
        .filter_map(|line| line.strip_prefix(&tag).map(str::to_owned))
        .collect()
}

/// The job's standard output; fails the test, showing everything, if the job failed.
pub fn check_success(output: &Output, what: &str) -> String {
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed with {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        text(&output.stderr)
    );
    stdout
}

/// Checks that each rank printed exactly `expected(rank)`.
pub fn check_lines(
    output: &str,
    ranks: usize,
    what: &str,
    expected: impl Fn(usize) -> Vec<String>,
) {
    for rank in 0..ranks {
        assert_eq!(
            lines_of(output, rank),
            expected(rank),
            "{what} at {ranks} ranks, rank {rank}; whole output:\n{output}"
        );
    }
}

/// The mpi4py seed programs every launcher must run.
pub const SEEDS: [&str; 6] = [
    "gather_squares",
    "send_recv_object",
    "send_recv_buffer",
    "bcast",
    "scatter",
    "gather",
];

/// The lines `rank` of a job of `ranks` prints running example `name` (a seed or `ring`).
pub fn expected_lines(name: &str, ranks: usize, rank: usize) -> Vec<String> {
    match (name, rank) {
        ("gather_squares", 0) => {
            std::iter::once("rank = 0 ...receiving data to other process".to_string())
                .chain((1..ranks).map(|i| {
                    format!(
                        " process 0 receiving {} from process {i}",
                        (i + 1) * (i + 1)
                    )
                }))
                .collect()
        }
        ("gather_squares", _) => vec![],
        ("send_recv_object", 0) => vec!["process 0 send range(0, 10)...".to_string(); ranks - 1],
        ("send_recv_object", _) => vec![format!("process {rank} recv range(0, 10)...")],
        ("send_recv_buffer", 0) => {
            vec!["process 0 Send buffer-like array [0 1 2 3 4 5 6 7 8 9]...".to_string()]
        }
        ("send_recv_buffer", _) => vec![format!(
            "process {rank} recv buffer-like array [0 1 2 3 4 5 6 7 8 9]..."
        )],
        ("bcast", 0) => vec![
            "process 0 bcast data range(0, 10) to other processes".to_string(),
            "process 0 recv data range(0, 10)...".to_string(),
        ],
        ("bcast", _) => vec![format!("process {rank} recv data range(0, 10)...")],
        ("scatter", 0) => vec![
            format!("process 0 scatter data range(0, {ranks}) to other processes"),
            "process 0 recv data 0...".to_string(),
        ],
        ("scatter", _) => vec![format!("process {rank} recv data {rank}...")],
        ("gather", 0) => vec![
            "process 0 send data 0 to root...".to_string(),
            format!(
                "process 0 gather all data {:?}...",
                (0..ranks).collect::<Vec<_>>()
            ),
        ],
        ("gather", _) => vec![format!("process {rank} send data {rank} to root...")],
        ("ring", 0) => {
            let total: usize = (0..ranks).sum();
            vec![format!(
                "process 0 received token {total} from process {} (expected {total})",
                ranks - 1
            )]
        }
        ("ring", _) => vec![format!(
            "process {rank} received token {} from process {}",
            (0..rank).sum::<usize>(),
            rank - 1
        )],
        _ => panic!("no expected output for example {name}"),
    }
}

/// Checks the `stress` example's output: every rank checked every byte of `rounds`
/// messages from each other rank.
pub fn check_stress(out: &str, ranks: usize, rounds: usize, what: &str) {
    for rank in 0..ranks {
        let lines = lines_of(out, rank);
        assert_eq!(lines.len(), 1, "{what}, rank {rank}: {out}");
        let expected = format!("rank {rank}: {} messages, ", rounds * (ranks - 1));
        assert!(
            lines[0].starts_with(&expected) && lines[0].ends_with("every byte checked"),
            "{what}, rank {rank}: {}",
            lines[0]
        );
    }
}

/// Reads a child's pipe line by line on a thread, so neither pipe can fill up and block it.
pub fn lines_from(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects lines until `done` says so, failing after a minute.
pub fn read_until(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("gave up waiting ({e:?}); saw:\n{}", seen.join("\n")),
        }
    }
}

/// Whether process `pid` still runs (a zombie has ended).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            state != Some(Some('Z'))
        })
        .unwrap_or(false)
}

/// `rmpirun` options that place ranks on `hosts` (`--host` syntax) simulated here: a launch
/// command that runs each host's proxy on this machine, telling its ranks which host they
/// are on (`RMPI_HOST`), as ssh would run it on another machine.
pub fn on_fake_hosts(hosts: &str) -> Vec<String> {
    let script = script("fake-ssh");
    ["--host", hosts, "--launcher-exec", &script]
        .into_iter()
        .chain(["--launcher-address", "127.0.0.1"])
        .map(String::from)
        .collect()
}

/// A running job of the `faults` example, whose ranks each printed their pid.
#[derive(Debug)]
pub struct FaultsJob {
    /// `rmpirun` (or the launcher that `command` started).
    pub child: std::process::Child,
    /// Its output lines, as they come.
    pub stdout: mpsc::Receiver<String>,
    /// Its error lines, as they come.
    pub stderr: mpsc::Receiver<String>,
    /// Each rank's pid, by rank.
    pub pids: Vec<u32>,
}

/// Starts `command` (a launcher's command line without the program) running
/// `faults MODE` as `ranks` ranks, and waits until every rank has printed its pid.
pub fn start_faults(mut command: std::process::Command, mode: &str, ranks: usize) -> FaultsJob {
    use std::process::Stdio;
    let mut child = command
        .arg(example("faults"))
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the launcher starts");
    let stdout = lines_from(child.stdout.take().expect("stdout"));
    let stderr = lines_from(child.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    read_until(&stdout, &mut seen, |seen| seen.len() == ranks);
    let mut pids = vec![0; ranks];
    for line in &seen {
        let said = line.split_once("rank ").and_then(|(_, rest)| {
            let (rank, pid) = rest.split_once(" pid ")?;
            Some((rank.parse::<usize>().ok()?, pid.trim().parse::<u32>().ok()?))
        });
        if let Some((rank, pid)) = said.filter(|(rank, _)| *rank < ranks) {
            pids[rank] = pid;
        }
    }
    assert!(pids.iter().all(|&pid| pid > 0), "{seen:?}");
    FaultsJob {
        child,
        stdout,
        stderr,
        pids,
    }
}

/// Waits up to `within` for every process in `pids` to end; returns those still running.
pub fn outliving(pids: &[u32], within: Duration) -> Vec<u32> {
    let since = Instant::now();
    while pids.iter().any(|&pid| alive(pid)) && since.elapsed() < within {
        std::thread::sleep(Duration::from_millis(20));
    }
    pids.iter().copied().filter(|&pid| alive(pid)).collect()
}

/// Kills process `pid` with SIGKILL.
pub fn kill_9(pid: u32) {
    send_signal(pid, "KILL");
}

/// The processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            // Fields after the command's closing parenthesis: state, then the parent.
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                after.split_whitespace().nth(1) == Some(&pid.to_string())
            })
        })
        .collect()
}

/// Sends signal `name` (`QUIT`, `INT`, ...) to process `pid`.
pub fn send_signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name} {pid}");
}

/// What [`kill_a_stalled_rank`] saw: how the launcher ended, its standard error, the pid
/// of the rank killed, and how long the job took to end after the kill.
#[derive(Debug)]
pub struct KilledRank {
    /// The launcher's exit status.
    pub exit: std::process::ExitStatus,
    /// Everything the job wrote to standard error.
    pub stderr: String,
    /// The pid of the rank killed (rank 1).
    pub victim: u32,
    /// From the kill to the launcher's end.
    pub took: Duration,
}

/// Starts `launch` on the `faults` example's `stall` mode (every rank waits in a receive
/// that rank 1 must answer), kills rank 1 with SIGKILL once all are waiting, and waits for
/// the job to end.
pub fn kill_a_stalled_rank(launch: std::process::Command, ranks: usize) -> KilledRank {
    let FaultsJob {
        mut child,
        stderr,
        pids,
        ..
    } = start_faults(launch, "stall", ranks);
    let victim = pids[1];
    // Everyone is now in (or about to enter) a receive that rank 1 must answer.
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    kill_9(victim);
    let exit = child.wait().expect("the launcher ends");
    let took = killed.elapsed();
    let stderr = stderr.iter().collect::<Vec<_>>().join("\n");
    KilledRank {
        exit,
        stderr,
        victim,
        took,
    }
}

/// Runs `job` (a launcher and its options, without a program) with ranks that read a line
/// and print it, gives it `42` on standard input, and checks that rank 0 alone read it.
pub fn check_input_goes_to_rank_0(mut job: std::process::Command, ranks: usize) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = job
        .args(["sh", "-c", "read line; echo got:$line"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the launcher starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"42\n").expect("written");
    drop(stdin); // the end of the input
    let output = child.wait_with_output().expect("the launcher ends");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut expected = vec!["[0] got:42".to_string()];
    expected.extend((1..ranks).map(|rank| format!("[{rank}] got:")));
    assert_eq!(sorted_lines(&output.stdout), expected);
}
