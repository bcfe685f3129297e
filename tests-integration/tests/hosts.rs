//! Jobs across hosts, with the hosts simulated: `--launcher-exec` names a script that runs
//! the proxy's command here, telling its ranks which host they are on (`RMPI_HOST`), as ssh
//! would run it on another machine. Placement, relayed output and input, exit codes, the
//! secret kept off command lines, and a launcher killed mid-job are all checked through the
//! real proxy. (`ssh_hosts.rs` runs jobs over real ssh between network
//! namespaces.)

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rmpi_tests_integration::{
    check_input_goes_to_rank_0, rmpirun_path, script, sorted_lines, text,
};

/// A launch command that starts `COMMAND...` here, as if on `HOST`.
fn fake_ssh() -> PathBuf {
    PathBuf::from(script("fake-ssh"))
}

fn across(hosts: &str) -> Command {
    let mut command = Command::new(rmpirun_path());
    command
        .args(["--timeout", "60", "--host", hosts, "--launcher-exec"])
        .arg(fake_ssh())
        .args(["--launcher-address", "127.0.0.1"]);
    command
}

fn run(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().expect("rmpirun runs")
}

const SHOW: &str = "echo $RMPI_RANK/$RMPI_SIZE on ${RMPI_HOST:-here}";

#[test]
fn ranks_are_placed_by_slots_or_round_robin_and_started_on_their_hosts() {
    let mut job = across("localhost:2,node-a:2,node-b");
    job.args(["sh", "-c", SHOW]);
    let output = run(job);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        sorted_lines(&output.stdout),
        [
            "[0] 0/5 on here",
            "[1] 1/5 on here",
            "[2] 2/5 on node-a",
            "[3] 3/5 on node-a",
            "[4] 4/5 on node-b",
        ]
    );
    let mut job = across("node-a:2,node-b:2");
    job.args(["-n", "5", "--map-by", "node", "sh", "-c", SHOW]);
    let output = run(job);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        sorted_lines(&output.stdout),
        [
            "[0] 0/5 on node-a",
            "[1] 1/5 on node-b",
            "[2] 2/5 on node-a",
            "[3] 3/5 on node-b",
            "[4] 4/5 on node-a",
        ]
    );
}

#[test]
fn a_remote_rank_0_reads_the_input_and_remote_failures_are_named() {
    check_input_goes_to_rank_0(across("node-a,node-b"), 2);

    let mut job = across("node-a,node-b");
    job.args(["sh", "-c", "[ $RMPI_RANK = 1 ] && kill -9 $$; sleep 30"]);
    let started = Instant::now();
    let output = run(job);
    assert_eq!(output.status.code(), Some(137), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("rank 1 (pid ") && stderr.contains("on node-b) was killed by signal 9"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the job was ended"
    );
}

#[test]
fn the_secret_is_on_no_command_line() {
    let mut job = across("localhost,node-a,node-b");
    job.args(["sh", "-c", "echo $RMPI_SECRET; sleep 5"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = job.spawn().expect("rmpirun starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut secrets = Vec::new();
    for _ in 0..3 {
        let line = lines.next().expect("a line").expect("text");
        secrets.push(line.split_once("] ").expect("tagged").1.to_owned());
    }
    assert!(secrets.iter().all(|s| s.len() == 64 && *s == secrets[0]));
    // Every process of the job (launcher, proxies, ranks) runs now.
    let mut seen = 0;
    for entry in std::fs::read_dir("/proc").expect("procfs").flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            seen += 1;
            let cmdline = text(&cmdline);
            assert!(!cmdline.contains(&secrets[0]), "the secret in {cmdline:?}");
        }
    }
    assert!(seen > 5);
    let _ = child.kill();
    let _ = child.wait();
}
