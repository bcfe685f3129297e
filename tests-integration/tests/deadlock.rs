//! Deadlock reports: jobs whose ranks wait for each other for ever get, from `rmpirun`, a
//! report naming every rank, what it waits for and where the program called it, and the
//! cycle; on SIGQUIT at any time; and never for a job that is only slow.
//!
//! Each test runs on both transports, so it runs in the build with both: the one-backend
//! builds CI also tests would repeat the same jobs.
#![cfg(all(feature = "tcp", feature = "shm"))]

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

use rmpi_tests_integration::*;

/// The transports every test runs on.
const TRANSPORTS: &[&str] = &["tcp", "shm"];

/// Where the example calls what its ranks wait in.
const RING_CALL: &str = "at crates/rmpi/examples/deadlock.rs:23:40";

/// Starts `deadlock PATTERN` on `ranks` ranks, reporting after `deadlock_after` seconds.
fn start(
    transport: &str,
    ranks: usize,
    pattern: &str,
    deadlock_after: &str,
) -> (Child, Receiver<String>) {
    let mut child = Command::new(rmpirun_path())
        .args(["--timeout", "60", "--transport", transport])
        .args(["--deadlock-after", deadlock_after, "-n", &ranks.to_string()])
        .arg(example("deadlock"))
        .arg(pattern)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rmpirun starts");
    let stderr = lines_from(child.stderr.take().expect("stderr"));
    (child, stderr)
}

/// Ends a job that waits for ever, as a user would with Ctrl-C.
fn interrupt(mut child: Child) {
    send_signal(child.id(), "INT");
    let exit = child.wait().expect("rmpirun ends");
    assert_eq!(exit.code(), Some(130));
}

/// What `rmpirun` prints of a job of `deadlock PATTERN` that deadlocks, up to the cycle,
/// reporting after a second.
fn deadlock_report(transport: &str, ranks: usize, pattern: &str) -> Vec<String> {
    let (child, stderr) = start(transport, ranks, pattern, "1");
    let mut seen = Vec::new();
    read_until(&stderr, &mut seen, |seen| {
        seen.iter().any(|line| line.contains("cycle:"))
    });
    interrupt(child);
    seen
}

#[test]
fn two_and_three_rank_cycles_are_reported_with_what_each_waits_for() {
    for &transport in TRANSPORTS {
        for ranks in [2, 3] {
            let seen = deadlock_report(transport, ranks, "ring");
            let report = seen.join("\n");
            assert!(
                seen[0].starts_with("rmpirun: deadlock: every rank has been waiting"),
                "{transport}: {report}"
            );
            for rank in 0..ranks {
                let next = (rank + 1) % ranks;
                let line = format!(
                    "rmpirun:   rank {rank}: waits in recv from rank {next}, tag 7, on world, \
                     {RING_CALL}"
                );
                assert!(
                    seen.iter().any(|l| l.starts_with(&line)),
                    "{transport}: {line} in\n{report}"
                );
            }
            let cycle: Vec<String> = (0..=ranks).map(|r| format!("rank {}", r % ranks)).collect();
            let cycle = format!(
                "rmpirun:   cycle: {} (each waits for the next)",
                cycle.join(" -> ")
            );
            assert!(seen.contains(&cycle), "{transport}: {cycle} in\n{report}");
        }
    }
}

#[test]
fn a_collective_some_ranks_never_join_is_reported() {
    let transport = TRANSPORTS[0];
    let report = deadlock_report(transport, 4, "collective").join("\n");
    assert!(
        report.contains("rank 0: waits in recv from rank 1, tag 7, on world"),
        "{report}"
    );
    for rank in 1..4 {
        let line =
            format!("rank {rank}: waits in barrier, on world, at crates/rmpi/examples/deadlock.rs");
        assert!(report.contains(&line), "{line} in\n{report}");
    }
    assert!(
        report.contains("cycle: rank 0 -> rank 1 -> rank 0"),
        "{report}"
    );
}

#[test]
fn sigquit_prints_what_each_rank_waits_for_and_the_job_goes_on() {
    for &transport in TRANSPORTS {
        // No deadlock report of its own: only what SIGQUIT asks for.
        let (child, stderr) = start(transport, 2, "ring", "0");
        let mut seen = Vec::new();
        // The ranks say they are stuck after half a second of it: ask until both have.
        let both = |seen: &[String]| {
            let last = seen.iter().rposition(|l| l.contains("(SIGQUIT)"));
            last.is_some_and(|at| {
                seen[at..]
                    .iter()
                    .filter(|l| l.contains(": waits in recv from rank"))
                    .count()
                    == 2
                    && seen[at..].iter().any(|l| l.contains("cycle:"))
            })
        };
        // rmpirun listens for signals before it starts ranks.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while children_of(child.id()).is_empty() {
            assert!(std::time::Instant::now() < deadline, "no ranks started");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        while !both(&seen) {
            assert!(std::time::Instant::now() < deadline, "{}", seen.join("\n"));
            send_signal(child.id(), "QUIT");
            std::thread::sleep(std::time::Duration::from_millis(300));
            seen.extend(stderr.try_iter());
        }
        // Still running: SIGQUIT only asked.
        assert!(alive(child.id()), "{transport}");
        interrupt(child);
        let report = seen.join("\n");
        assert!(!report.contains("deadlock:"), "{transport}: {report}");
        assert!(
            report.contains(&format!(
                "rank 1: waits in recv from rank 0, tag 7, on world, {RING_CALL}"
            )),
            "{report}"
        );
    }
}

#[test]
fn a_slow_rank_is_not_a_deadlock() {
    for &transport in TRANSPORTS {
        // Rank 0 computes for 3 s, a receive of its own pending, while the others wait.
        let (mut child, stderr) = start(transport, 3, "slow", "1");
        let exit = child.wait().expect("rmpirun ends");
        let seen: Vec<String> = stderr.iter().collect();
        assert_eq!(exit.code(), Some(0), "{transport}: {}", seen.join("\n"));
        assert!(
            !seen.iter().any(|line| line.contains("deadlock")),
            "{transport}: {}",
            seen.join("\n")
        );
    }
}
