//! `rmpirun` as users drive it, with shell one-liners as the ranks: exit codes, timeouts,
//! output tagging, environment, stdin, host lists.

use std::process::{Command, Output, Stdio};

use rmpi_tests_integration::{check_input_goes_to_rank_0, rmpirun_path, sorted_lines, text};

fn rmpirun(args: &[&str]) -> Output {
    Command::new(rmpirun_path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("rmpirun runs")
}

#[test]
fn every_rank_learns_its_rank_and_the_size_and_output_is_tagged() {
    let output = rmpirun(&["-n", "3", "sh", "-c", "echo rank $RMPI_RANK of $RMPI_SIZE"]);
    assert!(output.status.success());
    assert_eq!(
        sorted_lines(&output.stdout),
        ["[0] rank 0 of 3", "[1] rank 1 of 3", "[2] rank 2 of 3"]
    );
    let output = rmpirun(&["-np", "2", "--no-tag-output", "sh", "-c", "echo x >&2"]);
    assert!(output.status.success());
    assert_eq!(sorted_lines(&output.stderr), ["x", "x"]);
}

#[test]
fn the_first_failing_rank_sets_the_exit_code_and_is_named() {
    let output = rmpirun(&[
        "-n",
        "4",
        "--kill-after",
        "0.2",
        "sh",
        "-c",
        r#"if [ "$RMPI_RANK" = 2 ]; then exit 3; fi; sleep 30"#,
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("rank 2 (pid"), "{stderr}");
    assert!(stderr.contains("exited with code 3"), "{stderr}");
    assert!(stderr.contains("terminating ranks 0, 1, 3"), "{stderr}");
}

#[test]
fn a_rank_killed_by_a_signal_is_reported_like_a_shell_does() {
    let output = rmpirun(&[
        "-n",
        "2",
        "--kill-after",
        "0.2",
        "sh",
        "-c",
        r#"if [ "$RMPI_RANK" = 1 ]; then kill -TERM $$; fi; sleep 30"#,
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(128 + 15), "{stderr}");
    assert!(
        stderr.contains("was killed by signal 15 (SIGTERM)"),
        "{stderr}"
    );
}

#[test]
fn a_job_that_runs_too_long_is_ended() {
    let output = rmpirun(&["-n", "2", "--timeout", "0.5", "sleep", "30"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(124), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
}

#[test]
fn environment_variables_can_be_set_and_forwarded() {
    let output = Command::new(rmpirun_path())
        .args(["-n", "2", "-x", "GREETING=hello", "-x", "NAME"])
        .args(["sh", "-c", "echo $GREETING $NAME"])
        .env("NAME", "world")
        .output()
        .expect("rmpirun runs");
    assert!(output.status.success());
    assert_eq!(
        sorted_lines(&output.stdout),
        ["[0] hello world", "[1] hello world"]
    );
}

#[test]
fn stdin_goes_to_rank_0_only() {
    let mut job = Command::new(rmpirun_path());
    job.args(["-n", "3"]);
    check_input_goes_to_rank_0(job, 3);
}

#[test]
fn host_lists_give_the_rank_count() {
    let output = rmpirun(&["--host", "localhost:3", "sh", "-c", "echo $RMPI_SIZE"]);
    assert!(output.status.success());
    assert_eq!(sorted_lines(&output.stdout), ["[0] 3", "[1] 3", "[2] 3"]);
    let output = rmpirun(&["--host", "node-a:zero", "true"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("bad slot count"));
}

#[test]
fn shared_memory_a_job_leaves_behind_is_removed() {
    let output = rmpirun(&[
        "-n",
        "2",
        "sh",
        "-c",
        "touch /dev/shm/rmpi-$RMPI_JOB_ID-shm && echo /dev/shm/rmpi-$RMPI_JOB_ID-shm",
    ]);
    assert!(output.status.success());
    let path = text(&output.stdout)
        .lines()
        .next()
        .and_then(|line| line.split_once("] "))
        .map(|(_, path)| path.to_owned())
        .expect("a rank printed the path");
    assert!(path.starts_with("/dev/shm/rmpi-rmpi-"), "{path}");
    assert!(
        !std::path::Path::new(&path).exists(),
        "{path} was left behind"
    );
}

#[test]
fn ranks_get_cores_round_robin_to_start_on_or_to_stay_on_or_none() {
    let cores = rmpi_launch::binding::available_cores();
    let show = "echo start=${RMPI_START_CPU-unset} bound=${RMPI_CPU-unset}";
    let round_robin = |rank: usize| cores[rank % cores.len()];
    // By default each rank starts on a core of its own, round-robin.
    let output = rmpirun(&["-n", "3", "sh", "-c", show]);
    assert!(output.status.success());
    let expected: Vec<String> = (0..3)
        .map(|rank| format!("[{rank}] start={} bound=unset", round_robin(rank)))
        .collect();
    assert_eq!(sorted_lines(&output.stdout), expected);
    let output = rmpirun(&["-n", "3", "--bind-to", "core", "sh", "-c", show]);
    let expected: Vec<String> = (0..3)
        .map(|rank| format!("[{rank}] start=unset bound={}", round_robin(rank)))
        .collect();
    assert_eq!(sorted_lines(&output.stdout), expected);
    // Without placement the variables are unset, not empty (which a rank would warn about).
    let output = rmpirun(&["-n", "2", "--bind-to", "none", "sh", "-c", show]);
    assert_eq!(
        sorted_lines(&output.stdout),
        ["[0] start=unset bound=unset", "[1] start=unset bound=unset"]
    );
}

#[test]
fn cores_go_round_robin_among_the_ranks_of_each_host() {
    let hosts: Vec<String> = ["a", "a", "b", "a", "b"].map(String::from).to_vec();
    assert_eq!(
        rmpi_launch::binding::cores_for(5, &hosts, &[4, 5]),
        [4, 5, 4, 4, 5]
    );
    assert_eq!(rmpi_launch::binding::cores_for(3, &[], &[0, 1]), [0, 1, 0]);
    assert!(rmpi_launch::binding::cores_for(3, &[], &[]).is_empty());
}

/// What the ignored test `test` prints, run in a child process with `variable` naming the
/// last core this process may use; also returns the cores it may use.
fn in_a_child(test: &str, variable: &str) -> (String, usize, Vec<usize>) {
    let cores = rmpi_launch::binding::available_cores();
    let core = *cores.last().expect("some core");
    let status = Command::new(std::env::current_exe().expect("this test"))
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(variable, core.to_string())
        .output()
        .expect("runs");
    let stdout = text(&status.stdout);
    assert!(status.status.success(), "{stdout}{}", text(&status.stderr));
    (stdout, core, cores)
}

#[test]
fn a_rank_binds_itself_to_the_core_it_is_given() {
    let (stdout, core, _) = in_a_child("binds_in_a_child", "RMPI_CPU");
    assert!(stdout.contains(&format!("allowed [{core}]")), "{stdout}");
}

/// Run by the test above in a child process, so binding does not touch the test runner.
#[test]
#[ignore = "run by a_rank_binds_itself_to_the_core_it_is_given"]
fn binds_in_a_child() {
    rmpi_launch::binding::bind_from_env();
    println!("allowed {:?}", rmpi_launch::binding::available_cores());
}

#[test]
fn a_rank_moves_to_its_start_core_and_is_then_free_to_leave() {
    let (stdout, core, cores) = in_a_child("starts_in_a_child", "RMPI_START_CPU");
    assert!(stdout.contains(&format!("was on Some({core})")), "{stdout}");
    assert!(stdout.contains(&format!("allowed {cores:?}")), "{stdout}");
}

/// Run by the test above in a child process, so moving does not touch the test runner.
#[test]
#[ignore = "run by a_rank_moves_to_its_start_core_and_is_then_free_to_leave"]
fn starts_in_a_child() {
    let on = rmpi_launch::binding::start_from_env();
    println!("was on {on:?}");
    println!("allowed {:?}", rmpi_launch::binding::available_cores());
}
