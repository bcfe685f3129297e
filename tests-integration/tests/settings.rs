//! Bad settings fail loudly, wherever they are given: in `rmpirun`'s environment, with
//! `rmpirun -x`, or to a program started alone. The error names the variable and what it
//! expects, and no rank runs the user's program.

use std::process::{Command, Output};

use rmpi_tests_integration::{example, rmpirun_path, text};

/// Settings that are wrong, each with what its error must say.
const BAD: [(&str, &str, &str); 6] = [
    (
        "RMPI_POOL_BYTES",
        "lots",
        "RMPI_POOL_BYTES=lots: expected a byte count",
    ),
    (
        "RMPI_LOG",
        "garbage[[",
        "RMPI_LOG=garbage[[: expected a log filter",
    ),
    (
        "RMPI_TRANSPORT",
        "udp",
        "RMPI_TRANSPORT=udp: expected one of auto, tcp, shm",
    ),
    (
        "RMPI_SHM_RING_BYTES",
        "5000",
        "RMPI_SHM_RING_BYTES=5000: expected a power of two",
    ),
    (
        "RMPI_BCAST_ALGORITHM",
        "fastest",
        "RMPI_BCAST_ALGORITHM=fastest: expected auto or one of",
    ),
    (
        "RMPI_SHM_RING_BYTE",
        "4096",
        "did you mean RMPI_SHM_RING_BYTES?",
    ),
];

fn check_refused(output: &Output, expected: &str, how: &str) {
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert!(
        !output.status.success(),
        "{how}: a bad setting was accepted\n{out}{err}"
    );
    assert!(
        err.contains(expected),
        "{how}: stderr does not say {expected:?}:\n{err}"
    );
    assert!(
        !out.contains("rank"),
        "{how}: the program ran anyway:\n{out}"
    );
}

#[test]
fn rmpirun_refuses_a_bad_setting_from_its_environment_before_starting_ranks() {
    for (name, value, expected) in BAD {
        let output = Command::new(rmpirun_path())
            .env(name, value)
            .args(["-n", "2"])
            .arg(example("gather_squares"))
            .output()
            .expect("rmpirun runs");
        check_refused(
            &output,
            expected,
            &format!("{name}={value} in rmpirun's environment"),
        );
        assert!(
            text(&output.stderr).starts_with("rmpirun: "),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn rmpirun_refuses_a_bad_setting_given_with_x() {
    for (name, value, expected) in BAD {
        let output = Command::new(rmpirun_path())
            .args(["-x", &format!("{name}={value}"), "-n", "2"])
            .arg(example("gather_squares"))
            .output()
            .expect("rmpirun runs");
        check_refused(&output, expected, &format!("-x {name}={value}"));
    }
    // `-x NAME` forwards the launcher's own value, which is checked the same way.
    let output = Command::new(rmpirun_path())
        .env("RMPI_SHM_SPIN_US", "soon")
        .args(["-x", "RMPI_SHM_SPIN_US", "-n", "2"])
        .arg(example("gather_squares"))
        .output()
        .expect("rmpirun runs");
    check_refused(
        &output,
        "RMPI_SHM_SPIN_US=soon: expected microseconds",
        "-x NAME",
    );
}

#[test]
fn a_program_started_alone_refuses_a_bad_setting() {
    for (name, value, expected) in BAD {
        let output = Command::new(example("gather_squares"))
            .env(name, value)
            .output()
            .expect("the example runs");
        check_refused(&output, expected, &format!("{name}={value}, no launcher"));
    }
}

#[test]
fn good_settings_in_every_form_are_taken() {
    let output = Command::new(rmpirun_path())
        .env("RMPI_POOL_BYTES", "64MiB")
        .env("RMPI_SHM_SINGLE_COPY", "off")
        .args([
            "-x",
            "RMPI_BCAST_ALGORITHM=flat",
            "-x",
            "RMPI_LOG=warn",
            "-n",
            "3",
        ])
        .arg(example("gather_squares"))
        .output()
        .expect("rmpirun runs");
    let out = rmpi_tests_integration::check_success(&output, "good settings");
    assert!(out.contains("rank"), "{out}");
}

#[test]
fn the_readme_lists_every_setting() {
    let readme = include_str!("../../README.md");
    for name in rmpi::config::SETTINGS {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not list {name}"
        );
    }
}
