//! `rmpirun`'s command line alone: mistakes are errors that name them. (The jobs it runs
//! are tested in `tests-integration`, which runs the `rmpirun` that testing this crate
//! builds.)

use std::process::{Command, Output, Stdio};

fn rmpirun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmpirun"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_answer() {
    for flag in ["--help", "--version"] {
        let output = rmpirun(&[flag]);
        assert!(output.status.success(), "{flag}: {}", text(&output.stderr));
        assert!(text(&output.stdout).contains("rmpirun"), "{flag}");
    }
}

#[test]
fn mistyped_options_and_settings_are_errors_naming_them() {
    let output = rmpirun(&["-n", "2", "--bogus", "true"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("unknown option --bogus"),
        "{}",
        text(&output.stderr)
    );
    for bad in ["=1", "1X=2", "A B"] {
        let output = rmpirun(&["-n", "1", "-x", bad, "true"]);
        assert_eq!(output.status.code(), Some(1));
        assert!(
            text(&output.stderr).contains(&format!("-x {bad}: expected NAME")),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let output = rmpirun(&["-n", "2", "/nonexistent/program"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot start /nonexistent/program"));
}
