//! Jobs across real hosts: three network namespaces on a bridge, each with a real `sshd`
//! (`namespace-hosts.sh`), and `rmpirun --hostfile` starting ranks on them over ssh. The
//! namespaces share this machine's host name and `/dev/shm`, so ranks must tell hosts apart
//! by their network to share memory only within one.
//!
//! Needs root, `ip` and `sshd` (Debian's iproute2 and openssh-server; `.ci/run` installs
//! them); without them the test says why and skips.
#![cfg(feature = "tcp")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rmpi_tests_integration::*;

const HOSTS: usize = 3;
/// Ranks per host in the host file: 2, 2 and 1.
const HOSTFILE: &str = "# namespace hosts\n10.200.0.1 slots=2\n10.200.0.2:2\n10.200.0.3\n";

/// The hosts, up while it lives.
struct Hosts {
    dir: PathBuf,
}

fn hosts_script() -> String {
    script("namespace-hosts.sh")
}

impl Hosts {
    /// Starts the hosts, or says why they cannot run here.
    fn start() -> Result<Hosts, String> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if text(&root.stdout).trim() != "0" {
            return Err("network namespaces need root".into());
        }
        for needed in ["/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"] {
            if !Path::new(needed).exists() {
                return Err(format!(
                    "{needed} is missing (apt-get install openssh-server)"
                ));
            }
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err("`ip` is missing (apt-get install iproute2)".into());
        }
        let dir = std::env::temp_dir().join(format!("rmpi-hosts-{}", std::process::id()));
        let hosts = Hosts { dir };
        let up = Command::new("bash")
            .arg(hosts_script())
            .arg("up")
            .arg(&hosts.dir)
            .arg(HOSTS.to_string())
            .output()
            .map_err(|e| e.to_string())?;
        if !up.status.success() {
            return Err(format!(
                "the namespace hosts did not start: {}",
                text(&up.stderr)
            ));
        }
        std::fs::write(hosts.dir.join("hostfile"), HOSTFILE).map_err(|e| e.to_string())?;
        Ok(hosts)
    }

    /// `rmpirun` with the namespace hosts' host file, starting ranks over ssh.
    fn rmpirun(&self) -> Command {
        self.rmpirun_on(&self.dir.join("hostfile"))
    }

    /// `rmpirun` with `hostfile`, starting ranks over ssh.
    fn rmpirun_on(&self, hostfile: &Path) -> Command {
        let mut command = Command::new(rmpirun_path());
        command
            .args(["--timeout", "120", "--hostfile"])
            .arg(hostfile)
            .arg("--launcher-exec")
            .arg(format!("ssh -F {}", self.dir.join("ssh_config").display()));
        command
    }

    fn run(&self, args: &[&str], name: &str, program_args: &[&str]) -> Output {
        self.rmpirun()
            .args(args)
            .arg(example(name))
            .args(program_args)
            .stdin(Stdio::null())
            .output()
            .expect("rmpirun runs")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(hosts_script())
            .arg("down")
            .arg(&self.dir)
            .arg(HOSTS.to_string())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Bytes the namespace behind veth `rmpi-v{host}` has sent and received.
fn traffic(host: usize) -> u64 {
    ["rx_bytes", "tx_bytes"]
        .iter()
        .map(|counter| {
            let path = format!("/sys/class/net/rmpi-v{host}/statistics/{counter}");
            std::fs::read_to_string(path)
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn rmpi_segments() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("rmpi-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Processes whose command line mentions `what`.
fn processes_running(what: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("procfs")
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| text(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(what))
        .collect()
}

#[test]
fn jobs_run_across_hosts_over_ssh() {
    let hosts = match Hosts::start() {
        Ok(hosts) => hosts,
        Err(why) => {
            eprintln!("skipped: jobs across namespace hosts: {why}");
            return;
        }
    };
    let ranks = 5;
    let before = rmpi_segments();

    // The seed programs, each rank on its host.
    for name in SEEDS {
        let out = check_success(&hosts.run(&[], name, &[]), name);
        check_lines(&out, ranks, name, |rank| expected_lines(name, ranks, rank));
    }

    // Every byte of a stress run arrives; ranks of one host share memory, the others talk
    // over TCP on the hosts' own addresses, and the traffic crosses the hosts' links.
    let counted: Vec<u64> = (1..=HOSTS).map(traffic).collect();
    let output = hosts.run(&["-x", "RMPI_LOG=info"], "stress", &["12"]);
    let out = check_success(&output, "stress across hosts");
    check_stress(&out, ranks, 12, "stress across hosts");
    let log = text(&output.stderr);
    let placed: [(usize, &[usize]); 5] = [
        (1, &[0, 1]),
        (1, &[0, 1]),
        (2, &[2, 3]),
        (2, &[2, 3]),
        (3, &[4]),
    ];
    for (rank, (host, group)) in placed.iter().enumerate() {
        let lines = lines_of(&log, rank);
        let listening = format!("INFO rank {rank} listening on 10.200.0.{host}:");
        let sharing = format!("INFO rank {rank}: shared memory with ranks {group:?}, TCP with");
        assert!(
            lines.iter().any(|l| l.contains(&listening)),
            "rank {rank} should listen on host {host}:\n{log}"
        );
        // A build without shared memory talks TCP to everyone.
        assert!(
            !cfg!(feature = "shm") || lines.iter().any(|l| l.contains(&sharing)),
            "rank {rank} should share memory with {group:?}:\n{log}"
        );
    }
    for host in 1..=HOSTS {
        let moved = traffic(host) - counted[host - 1];
        assert!(
            moved > 1 << 20,
            "only {moved} bytes crossed host {host}'s link"
        );
    }

    // Ranks on this machine and on the hosts, in one job.
    let mixed = hosts.dir.join("mixed");
    std::fs::write(&mixed, "localhost:2\n10.200.0.1\n10.200.0.3\n").expect("written");
    let output = hosts
        .rmpirun_on(&mixed)
        .arg(example("gather_squares"))
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs");
    let out = check_success(&output, "gather_squares here and there");
    check_lines(&out, 4, "gather_squares here and there", |rank| {
        expected_lines("gather_squares", 4, rank)
    });

    // A remote rank killed with SIGKILL ends the job, and the report names it and its host.
    let mut launch = hosts.rmpirun();
    launch.args(["--kill-after", "60"]);
    let KilledRank {
        exit,
        stderr,
        victim,
        took,
    } = kill_a_stalled_rank(launch, ranks);
    assert_eq!(exit.code(), Some(137), "{stderr}");
    let named = format!("rank 1 (pid {victim} on 10.200.0.1) was killed by signal 9 (SIGKILL)");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(took < Duration::from_secs(15), "{stderr}");

    // The launcher killed mid-job leaves nothing behind on any host: no rank, busy or
    // waiting, no proxy, nothing in /dev/shm.
    let mut launch = hosts.rmpirun();
    launch.args(["--kill-after", "3"]);
    let mut job = start_faults(launch, "orphan", ranks);
    std::thread::sleep(Duration::from_millis(300));
    job.child.kill().expect("SIGKILL");
    let _ = job.child.wait();
    let left = outliving(&job.pids, Duration::from_secs(3));
    let proxy = format!("{} --proxy", rmpirun_path().display());
    let since = Instant::now();
    while !processes_running(&proxy).is_empty() && since.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(left.is_empty(), "ranks {left:?} outlived the launcher");
    assert_eq!(processes_running(&proxy), Vec::<String>::new());
    assert_eq!(rmpi_segments(), before, "something was left in /dev/shm");
}
