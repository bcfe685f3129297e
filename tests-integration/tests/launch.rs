//! Real jobs: every example runs as separate processes under `rmpirun`, talking over TCP on
//! loopback, at 2, 4 and 8 ranks (oversubscribing a small machine), plus what happens when
//! a rank fails, is killed, or strangers connect to the ranks' ports.
//!
//! `rmpirun` and the examples come from the same target directory as this test, so run it
//! through `cargo test --workspace`, which builds both.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rmpi_tests_integration::*;

/// Every transport this build has; tests that are not about one run on each.
const TRANSPORTS: &[&str] = &[
    #[cfg(feature = "tcp")]
    "tcp",
    #[cfg(feature = "shm")]
    "shm",
];

fn rmpirun(transport: &str) -> Command {
    let mut command = Command::new(rmpirun_path());
    // Never hang the test suite, whatever goes wrong.
    command.args(["--timeout", "120", "--transport", transport]);
    command
}

fn run(transport: &str, ranks: usize, name: &str, args: &[&str]) -> Output {
    rmpirun(transport)
        .arg("-n")
        .arg(ranks.to_string())
        .arg(example(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs")
}

#[test]
fn seed_programs_print_what_the_python_originals_print() {
    for (transport, ranks) in TRANSPORTS.iter().flat_map(|t| [(*t, 2), (*t, 4), (*t, 8)]) {
        for &name in SEEDS.iter().chain(&["ring"]) {
            let out = check_success(&run(transport, ranks, name, &[]), name);
            check_lines(&out, ranks, name, |rank| expected_lines(name, ranks, rank));
        }
    }
}

#[test]
fn blocking_twins_of_the_seed_programs_print_the_same() {
    for (transport, ranks) in TRANSPORTS.iter().flat_map(|t| [(*t, 2), (*t, 5)]) {
        for &seed in &SEEDS {
            let twin = format!("blocking_{seed}");
            let out = check_success(&run(transport, ranks, &twin, &[]), &twin);
            check_lines(&out, ranks, &twin, |rank| expected_lines(seed, ranks, rank));
        }
    }
}

#[test]
fn jacobi_on_a_grid_of_ranks_matches_the_serial_plate_bit_for_bit() {
    for transport in TRANSPORTS {
        // 6 ranks both ways: compute_dims' own choice, and the first extent fixed at 2.
        for (ranks, grid, args) in [
            (4, "2x2", &[][..]),
            (6, "3x2", &[][..]),
            (6, "2x3", &["48", "36", "200", "2"][..]),
        ] {
            let out = check_success(&run(transport, ranks, "jacobi", args), "jacobi");
            assert_eq!(
                lines_of(&out, 0),
                [format!(
                    "jacobi: 48x36 plate, 200 steps on a {grid} grid of ranks: centre 0.014788, \
                     matches the serial run bit for bit"
                )],
                "{transport}, {ranks} ranks: {out}"
            );
        }
    }
}

#[test]
fn random_sizes_from_everyone_to_everyone_arrive_intact() {
    for (transport, ranks) in TRANSPORTS.iter().flat_map(|t| [(*t, 3), (*t, 5)]) {
        let out = check_success(&run(transport, ranks, "stress", &["12"]), "stress");
        check_stress(&out, ranks, 12, transport);
    }
}

#[test]
fn async_tasks_overlap_their_communication() {
    for (transport, ranks) in TRANSPORTS.iter().flat_map(|t| [(*t, 2), (*t, 4)]) {
        let out = check_success(
            &run(transport, ranks, "async_overlap", &[]),
            "async_overlap",
        );
        for rank in 0..ranks {
            let lines = lines_of(&out, rank);
            for i in 0..10 {
                assert!(
                    lines.contains(&format!("start {i}th")),
                    "rank {rank}: {lines:?}"
                );
                assert!(
                    lines.contains(&format!("finish {i}th")),
                    "rank {rank}: {lines:?}"
                );
            }
            // Ten one-second waits in sequence would take ten seconds.
            let last = lines.last().expect("a summary line");
            let seconds: f64 = last
                .strip_prefix("10 tasks took ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("rank {rank}: unexpected summary {last:?}"));
            assert!(
                seconds < 8.0,
                "rank {rank}: the waits did not overlap ({seconds} s)"
            );
        }
    }
}

#[test]
fn ping_pong_echoes_every_size() {
    for &transport in TRANSPORTS {
        ping_pong_on(transport);
    }
}

fn ping_pong_on(transport: &str) {
    let out = check_success(&run(transport, 2, "ping_pong", &[]), "ping_pong");
    let lines = lines_of(&out, 0);
    assert_eq!(lines[1], format!("{:<10}{:>18}", "# Size", "Latency (us)"));
    let sizes: Vec<usize> = lines[2..]
        .iter()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let size = fields.next().and_then(|s| s.parse().ok());
            let latency: Option<f64> = fields.next().and_then(|s| s.parse().ok());
            assert!(latency.is_some_and(|l| l > 0.0), "{line:?}");
            size.expect("a size")
        })
        .collect();
    assert_eq!(sizes, (0..11).map(|k| 1 << (2 * k)).collect::<Vec<usize>>());
}

/// Ranks bound each to a core of its own still count the host's cores, so they do not
/// take themselves for ranks sharing one core (and give up spinning while they wait).
#[test]
fn ranks_bound_to_cores_count_the_hosts_cores() {
    let cores = rmpi_launch::binding::available_cores();
    let counted = std::thread::available_parallelism().map_or(1, |n| n.get());
    let output = rmpirun(TRANSPORTS[0])
        .args(["-n", "2", "--bind-to", "core"])
        .arg(example("cores"))
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs");
    let stdout = check_success(&output, "cores --bind-to core");
    for rank in 0..2 {
        let expected = cores[rank % cores.len()];
        assert_eq!(
            lines_of(&stdout, rank),
            [format!(
                "rank {rank} of 2: counts {counted} cores, may run on [{expected}]"
            )],
            "{stdout}"
        );
    }
}

#[test]
fn a_singleton_runs_without_a_launcher() {
    let output = Command::new(example("gather_squares"))
        .env_remove("RMPI_PMI_PORT")
        .output()
        .expect("runs");
    let stdout = check_success(&output, "singleton");
    assert_eq!(stdout, "rank = 0 ...receiving data to other process\n");
}

#[test]
fn a_rank_exit_code_becomes_rmpiruns_and_is_named() {
    for &transport in TRANSPORTS {
        exit_code_on(transport);
    }
}

fn exit_code_on(transport: &str) {
    let output = run(transport, 4, "faults", &["exit", "3"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "stderr:\n{stderr}");
    assert!(stderr.contains("rmpirun: rank 1 (pid"), "{stderr}");
    assert!(stderr.contains("exited with code 3"), "{stderr}");
    for rank in [0, 2, 3] {
        assert!(
            lines_of(&stderr, rank).contains(&"error: lost contact with rank 1".to_string()),
            "rank {rank} should report rank 1 lost:\n{stderr}"
        );
    }
}

#[test]
fn a_rank_killed_mid_receive_fails_the_others_within_seconds() {
    for &transport in TRANSPORTS {
        killed_on(transport, &[]);
    }
    // Rank 1 shares memory with rank 0 and talks to ranks 2 and 3 over TCP.
    #[cfg(all(feature = "tcp", feature = "shm"))]
    killed_on("auto", &on_fake_hosts("a:2,b:2"));
}

/// `rmpirun` on `transport`, placing `ranks` ranks by `placement`, with a `--kill-after`
/// long enough that ranks must end on their own, not by being killed.
fn faults_launch(transport: &str, placement: &[String], ranks: usize) -> Command {
    let mut launch = rmpirun(transport);
    launch
        .args(placement)
        .args(["--kill-after", "60", "-n", &ranks.to_string()]);
    launch
}

fn killed_on(transport: &str, placement: &[String]) {
    let ranks = 4;
    let launch = faults_launch(transport, placement, ranks);
    let KilledRank {
        exit,
        stderr,
        victim,
        took,
    } = kill_a_stalled_rank(launch, ranks);
    assert_eq!(exit.code(), Some(128 + 9), "{stderr}");
    let on = if placement.is_empty() { "" } else { " on a" };
    let named = format!("rmpirun: rank 1 (pid {victim}{on}) was killed by signal 9 (SIGKILL)");
    assert!(stderr.contains(&named), "{stderr}");
    assert!(
        !stderr.contains("terminating ranks"),
        "survivors were killed:\n{stderr}"
    );
    for rank in [0, 2, 3] {
        assert!(
            lines_of(&stderr, rank).contains(&"error: lost contact with rank 1".to_string()),
            "rank {rank} should report rank 1 lost:\n{stderr}"
        );
    }
    assert!(
        took < Duration::from_secs(10),
        "the survivors took {took:?} to notice"
    );
}

/// Receives under `select!` and `timeout`, given up 10,000 times over, lose nothing: the
/// `timeouts` example checks every message's order and bytes.
#[test]
fn receives_given_up_lose_no_message() {
    for &transport in TRANSPORTS {
        let output = run(transport, 2, "timeouts", &["10000"]);
        let out = check_success(&output, &format!("timeouts on {transport}"));
        assert!(
            lines_of(&out, 1)
                .iter()
                .any(|l| l.starts_with("10000 messages arrived in order")),
            "{transport}: {out}"
        );
    }
}

#[test]
fn a_flood_of_unexpected_messages_is_cut_off_at_the_limit_not_out_of_memory() {
    for &transport in TRANSPORTS {
        // 20,000 messages of 100 bytes wait for rank 0: held, then received in order.
        let out = check_success(&run(transport, 2, "faults", &["flood"]), "flood");
        assert!(
            out.contains("[0] rank 0 received all 20000 messages of the flood"),
            "{transport}: {out}"
        );
        // Under a 1 MiB limit rank 0 cuts rank 1 off and says why.
        let output = rmpirun(transport)
            .args(["-x", "RMPI_UNEXPECTED_BYTES=1MiB", "-n", "2"])
            .arg(example("faults"))
            .arg("flood")
            .stdin(Stdio::null())
            .output()
            .expect("rmpirun runs");
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{transport}: {stderr}");
        assert!(
            stderr.contains("[0] error: rank 1 was cut off for sending more than this rank holds")
                && stderr.contains("past the limit of 1048576 bytes (RMPI_UNEXPECTED_BYTES)"),
            "{transport}: {stderr}"
        );
    }
}

#[test]
fn abort_ends_every_rank_with_its_code() {
    for &transport in TRANSPORTS {
        aborted_on(transport, &[]);
    }
    #[cfg(all(feature = "tcp", feature = "shm"))]
    aborted_on("auto", &on_fake_hosts("a:2,b:2"));
}

/// Rank 1 aborts with code 7 while the others compute or wait for ever: all end within
/// seconds, long before `--kill-after`, and `rmpirun` names rank 1 and exits with 7.
fn aborted_on(transport: &str, placement: &[String]) {
    let ranks = 4;
    let launch = faults_launch(transport, placement, ranks);
    let started = std::time::Instant::now();
    let FaultsJob {
        mut child,
        stderr,
        pids,
        ..
    } = start_faults(launch, "abort", ranks);
    let exit = child.wait().expect("rmpirun ends");
    let stderr = stderr.iter().collect::<Vec<_>>().join("\n");
    assert_eq!(exit.code(), Some(7), "{transport}: {stderr}");
    let on = if placement.is_empty() { "" } else { " on a" };
    let named = format!("rmpirun: rank 1{on} called abort with code 7");
    assert!(stderr.contains(&named), "{transport}: {stderr}");
    assert!(
        lines_of(&stderr, 1).contains(&"rmpi: rank 1 called abort with code 7".to_string()),
        "{transport}: {stderr}"
    );
    assert!(
        outliving(&pids, Duration::from_secs(5)).is_empty(),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{transport}: the job took {:?}",
        started.elapsed()
    );
}

#[cfg(feature = "tcp")]
#[test]
fn strangers_on_the_ranks_ports_do_not_disturb_the_job() {
    let ranks = 4;
    let mut child = rmpirun("tcp")
        .args(["-x", "RMPI_LOG=info", "-n", &ranks.to_string()])
        .arg(example("faults"))
        .arg("stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rmpirun starts");
    let stdout = lines_from(child.stdout.take().expect("stdout"));
    let stderr = lines_from(child.stderr.take().expect("stderr"));
    let mut log = Vec::new();
    let listening = |seen: &[String]| seen.iter().filter(|l| l.contains("listening on")).count();
    read_until(&stderr, &mut log, |seen| listening(seen) == ranks);
    let ports: Vec<u16> = log
        .iter()
        .filter_map(|line| line.rsplit_once("listening on 127.0.0.1:"))
        .map(|(_, port)| port.trim().parse().expect("a port"))
        .collect();
    let mut strangers = Vec::new();
    for &port in &ports {
        // Random-looking bytes, like a port scanner's probe.
        let mut garbage = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        let noise: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let _ = garbage.write_all(&noise);
        // The right protocol without the job's secret: a hello, then a guessed proof.
        let mut impostor = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        let mut hello = b"RMPITCP2".to_vec();
        hello.extend_from_slice(&1u32.to_le_bytes());
        hello.extend_from_slice(&(ranks as u32).to_le_bytes());
        hello.extend_from_slice(&[7u8; 16]);
        hello.extend_from_slice(&[9u8; 32]);
        let _ = impostor.write_all(&hello);
        // A connection that never says anything, held open while the job runs.
        let silent = TcpStream::connect(("127.0.0.1", port)).expect("connects");
        strangers.extend([garbage, impostor, silent]);
    }
    let mut out = Vec::new();
    read_until(&stdout, &mut out, |seen| {
        seen.iter().any(|l| l.contains("waiting for a line"))
    });
    // Let every rank see and refuse its strangers before the job goes on.
    read_until(&stderr, &mut log, |seen| {
        let count = |what: &str| seen.iter().filter(|l| l.contains(what)).count();
        count("without the job secret") == ranks
            && count("not speaking rmpi's TCP protocol") == ranks
    });
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"carry on\n").expect("stdin open");
    drop(stdin);
    let exit = child.wait().expect("rmpirun ends");
    out.extend(stdout.iter());
    let out = out.join("\n");
    assert!(exit.success(), "{out}\n{}", log.join("\n"));
    let total: u64 = (0..ranks as u64).sum();
    for rank in 0..ranks {
        let before: u64 = if rank == 0 {
            total
        } else {
            (0..rank as u64).sum()
        };
        let expected = format!(
            "rank {rank}: tokens {before} and {}, line \"carry on\"",
            before + 1000
        );
        assert!(
            lines_of(&out, rank).contains(&expected),
            "rank {rank}:\n{out}"
        );
    }
    drop(strangers);
}

/// Large payloads that the receiver copies straight out of the sender's memory (forced down
/// to 4 KiB here) arrive intact too, and the ranks say whether the kernel let them.
#[cfg(feature = "shm")]
#[test]
fn single_copy_payloads_arrive_intact() {
    for ranks in [2, 3] {
        let output = rmpirun("shm")
            .args([
                "-x",
                "RMPI_SHM_SINGLE_COPY=4096",
                "-x",
                "RMPI_LOG=rmpi_shm=debug",
            ])
            .arg("-n")
            .arg(ranks.to_string())
            .arg(example("stress"))
            .arg("12")
            .stdin(Stdio::null())
            .output()
            .expect("rmpirun runs");
        let out = check_success(&output, "stress with single copies");
        for rank in 0..ranks {
            let lines = lines_of(&out, rank);
            assert!(
                lines.len() == 1 && lines[0].ends_with("every byte checked"),
                "rank {rank}: {out}"
            );
        }
        let log = text(&output.stderr);
        let lenders = format!("{} of {} peers copy large payloads", ranks - 1, ranks - 1);
        assert!(
            log.matches(&lenders).count() == ranks || log.contains("are not allowed"),
            "neither single copies nor a reason why not:\n{log}"
        );
    }
}

/// Ranks placed on several hosts (simulated, see [`on_fake_hosts`]) share memory with the
/// ranks of their host and use TCP for the others, in one job: every byte arrives, the
/// ring's token goes round, and each rank says which way it talks to whom.
#[cfg(all(feature = "tcp", feature = "shm"))]
#[test]
fn ranks_on_several_hosts_share_memory_within_a_host_and_tcp_between() {
    let hosts = "a:2,b:3,c";
    let ranks = 6;
    let groups: [&[usize]; 3] = [&[0, 1], &[2, 3, 4], &[5]];
    let launch = |name: &str, args: &[&str]| {
        rmpirun("auto")
            .args(on_fake_hosts(hosts))
            .args(["-x", "RMPI_LOG=info"])
            .args(["-x", "RMPI_SHM_SINGLE_COPY=4096"])
            .arg(example(name))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("rmpirun runs")
    };
    let output = launch("stress", &["12"]);
    let out = check_success(&output, "stress across hosts");
    let log = text(&output.stderr);
    for group in groups {
        for &rank in group {
            let lines = lines_of(&out, rank);
            assert!(
                lines.len() == 1 && lines[0].ends_with("every byte checked"),
                "rank {rank}: {out}"
            );
            let said = format!("rank {rank}: shared memory with ranks {group:?}, TCP with");
            assert!(
                log.contains(&said),
                "rank {rank} did not say {said:?}:\n{log}"
            );
        }
    }
    let out = check_success(&launch("ring", &[]), "ring across hosts");
    let total: usize = (0..ranks).sum();
    assert!(
        lines_of(&out, 0).contains(&format!(
            "process 0 received token {total} from process {} (expected {total})",
            ranks - 1
        )),
        "{out}"
    );
}

/// `rmpirun` killed with SIGKILL mid-job leaves no rank behind, busy or waiting, on this
/// host or on (simulated) others.
#[test]
fn ranks_do_not_outlive_a_killed_launcher() {
    let mut cases: Vec<(&str, Vec<String>)> = TRANSPORTS.iter().map(|t| (*t, vec![])).collect();
    #[cfg(feature = "tcp")]
    cases.push(("tcp", on_fake_hosts("localhost,a:2,b")));
    #[cfg(all(feature = "tcp", feature = "shm"))]
    cases.push(("auto", on_fake_hosts("a:2,b:2")));
    for (transport, placement) in cases {
        let ranks = 4;
        let mut launch = rmpirun(transport);
        launch
            .args(&placement)
            .args(["--kill-after", "3", "-n", &ranks.to_string()]);
        let mut job = start_faults(launch, "orphan", ranks);
        std::thread::sleep(Duration::from_millis(300));
        job.child.kill().expect("SIGKILL");
        let _ = job.child.wait();
        let left = outliving(&job.pids, Duration::from_secs(3));
        assert!(
            left.is_empty(),
            "{transport} {placement:?}: ranks {left:?} outlived the launcher"
        );
    }
}

/// Strangers that race the real rank 0 to the launcher's rendezvous port, claiming to be
/// rank 0, are refused (one without a proof, one with a guessed one); the real rank 0
/// joins and the job gives the right answer.
#[test]
fn a_stranger_racing_for_rank_0_on_the_rendezvous_port_is_refused() {
    let stranger = r#"
        if [ "$RMPI_RANK" = 0 ]; then
            host=${RMPI_PMI_PORT%:*}; port=${RMPI_PMI_PORT##*:}
            exec 3<>/dev/tcp/$host/$port
            echo "cmd=initack pmiid=0" >&3
            read -r -t 5 reply <&3; echo "stranger 1 got: $reply" >&2
            exec 4<>/dev/tcp/$host/$port
            echo "cmd=initack pmiid=0 nonce=00000000000000000000000000000000" >&4
            read -r -t 5 challenge <&4
            echo "cmd=prove proof=0000000000000000000000000000000000000000000000000000000000000000" >&4
            read -r -t 5 reply <&4; echo "stranger 2 got: $reply" >&2
        fi
        exec "$0" "$@"
    "#;
    let output = rmpirun("auto")
        .args(["-n", "4", "bash", "-c", stranger])
        .arg(example("gather_squares"))
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs");
    let out = check_success(&output, "gather_squares with strangers");
    let err = text(&output.stderr);
    assert!(
        lines_of(&out, 0).contains(&" process 0 receiving 16 from process 3".to_string()),
        "{out}"
    );
    assert!(
        err.contains("[0] stranger 1 got: cmd=initack rc=-1 msg=not_a_rank_of_this_job"),
        "{err}"
    );
    assert!(
        err.contains("[0] stranger 2 got: cmd=initack rc=-1 msg=wrong_proof"),
        "{err}"
    );
    assert!(
        err.contains("claimed to be rank 0 without the job secret"),
        "{err}"
    );
}

/// A collective that fails at its root fails every member, and `rmpirun` names the root,
/// where it began, not a member that only reacted (all of them exit with code 1).
#[test]
fn a_failed_collective_is_blamed_on_the_rank_where_it_began() {
    for &transport in TRANSPORTS {
        for _ in 0..3 {
            let output = run(transport, 5, "faults", &["collective"]);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            let named: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("rmpirun: rank "))
                .collect();
            assert!(
                named.len() == 1 && named[0].starts_with("rmpirun: rank 2 (pid "),
                "{transport}: the root, rank 2, should be named alone:\n{stderr}"
            );
            for rank in [0, 1, 3, 4] {
                assert!(
                    lines_of(&stderr, rank)
                        .iter()
                        .any(|l| l.contains("collective operation failed at rank 2")),
                    "{transport}: rank {rank}:\n{stderr}"
                );
            }
        }
    }
}
