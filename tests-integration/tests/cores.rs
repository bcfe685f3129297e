//! Ranks that begin on one core, on a host with cores to spare, move apart over shared
//! memory (instead of taking turns on it until the scheduler moves one). Alone in its test
//! binary: other jobs running beside it would crowd the cores themselves.

#![cfg(feature = "shm")]

use std::process::{Command, Stdio};

use rmpi_tests_integration::*;

/// Exchanges the ranks make; a few hundred of them pass before the scheduler alone
/// separates two ranks that take turns on one core.
const EXCHANGES: usize = 5000;

#[test]
fn two_ranks_begun_on_one_core_move_apart() {
    if rmpi_launch::binding::available_cores().len() < 2 {
        eprintln!("skipped: this test may run on one core only, so ranks cannot move apart");
        return;
    }
    let output = Command::new(rmpirun_path())
        .args(["--timeout", "120", "--transport", "shm", "-n", "2"])
        .arg(example("cores"))
        .args(["together", &EXCHANGES.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs");
    let stdout = check_success(&output, "cores together");
    let line = lines_of(&stdout, 1)
        .into_iter()
        .find(|line| line.starts_with("on one core for "))
        .unwrap_or_else(|| panic!("rank 1 says how many exchanges shared a core: {stdout}"));
    let shared: usize = line["on one core for ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {line:?}"));
    // The first exchanges share the core until one rank's wait gives it away; a move then
    // ends it.
    assert!(
        shared <= EXCHANGES / 200,
        "ranks shared a core for {shared} of {EXCHANGES} exchanges: {stdout}"
    );
}
