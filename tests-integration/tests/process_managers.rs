//! rmpi programs started by other process managers: MPICH's Hydra (`mpiexec.mpich`, over
//! the socket it hands down and with `-pmi-port`) and Slurm (`srun --mpi=pmi2` on a
//! one-node cluster started for the test, `slurm-node.sh`); and Open MPI's `mpirun`, which
//! speaks only PMIx, refused with a clear error rather than run as singletons.
//!
//! Each test needs its launcher installed (`.ci/run` installs them from the distribution);
//! without it, the test says why and skips.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use rmpi_tests_integration::*;

const RANKS: usize = 4;

/// Whether `program` can be run; says why the test skips if not.
fn have(program: &str, test: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: {test}: {program} is not installed");
    }
    found
}

/// Output tagged `N: ` (Slurm's `-l`) retagged `[N] `, as rmpirun and Hydra tag it.
fn retagged(output: &str) -> String {
    output
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((rank, rest)) if rank.trim().parse::<usize>().is_ok() => {
                format!("[{}] {rest}\n", rank.trim())
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Runs the seed programs and a stress run through `launch` (a launcher's command line
/// without the program), checking every rank's output; `tags` turns the launcher's output
/// into rmpirun's tagging.
fn run_examples(launch: &dyn Fn() -> Command, tags: fn(&str) -> String, what: &str) {
    let run = |name: &str, args: &[&str]| -> Output {
        launch()
            .arg(example(name))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the launcher runs")
    };
    for name in SEEDS {
        let out = tags(&check_success(&run(name, &[]), &format!("{name} {what}")));
        check_lines(&out, RANKS, name, |rank| expected_lines(name, RANKS, rank));
    }
    let out = tags(&check_success(&run("stress", &["12"]), what));
    check_stress(&out, RANKS, 12, what);
}

#[test]
fn examples_run_under_mpich_mpiexec_in_both_pmi_modes() {
    if !have("mpiexec.mpich", "Hydra") {
        return;
    }
    for (mode, launcher) in [(None, "PmiFd"), (Some("-pmi-port"), "PmiPort")] {
        let launch = || {
            let mut command = Command::new("mpiexec.mpich");
            command.args(mode).args(["-l", "-n", &RANKS.to_string()]);
            command
        };
        run_examples(&launch, str::to_owned, &format!("under mpiexec {mode:?}"));
        let output = launch()
            .args(["-genv", "RMPI_LOG", "debug"])
            .arg(example("gather_squares"))
            .stdin(Stdio::null())
            .output()
            .expect("mpiexec runs");
        check_success(&output, "gather_squares with a debug log");
        let log = text(&output.stderr);
        for rank in 0..RANKS {
            let said = format!("rank {rank} of {RANKS}, started by {launcher}");
            assert!(
                lines_of(&log, rank).iter().any(|l| l.contains(&said)),
                "{log}"
            );
        }
        // Rank 1 aborts with code 7 while the others compute or wait for ever: Hydra, told
        // over PMI, ends them all and exits with 7.
        let output = launch()
            .env("MPIEXEC_TIMEOUT", "60") // should Hydra not end them
            .arg(example("faults"))
            .arg("abort")
            .stdin(Stdio::null())
            .output()
            .expect("mpiexec runs");
        assert_eq!(output.status.code(), Some(7), "{}", text(&output.stderr));
    }
}

/// The one-node cluster, up while it lives.
struct SlurmNode {
    dir: std::path::PathBuf,
}

fn slurm_script() -> String {
    script("slurm-node.sh")
}

impl Drop for SlurmNode {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(slurm_script())
            .arg("down")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn examples_run_under_slurm_srun_with_pmi2() {
    let test = "Slurm";
    let root = Command::new("id").arg("-u").output().expect("id runs");
    if text(&root.stdout).trim() != "0" {
        eprintln!("skipped: {test}: starting Slurm's daemons needs root");
        return;
    }
    if !have("srun", test) || !Path::new("/usr/sbin/slurmctld").exists() || !have("munged", test) {
        eprintln!("skipped: {test}: needs slurm-wlm and munge");
        return;
    }
    let node = SlurmNode {
        dir: std::env::temp_dir().join(format!("rmpi-slurm-{}", std::process::id())),
    };
    let up = Command::new("bash")
        .arg(slurm_script())
        .arg("up")
        .arg(&node.dir)
        .output()
        .expect("bash runs");
    if !up.status.success() {
        eprintln!(
            "skipped: {test}: the node did not start:\n{}",
            text(&up.stderr)
        );
        return;
    }
    let conf = node.dir.join("slurm.conf");
    let srun = |mpi: &str| {
        let mut command = Command::new("srun");
        command.env("SLURM_CONF", &conf).args([
            "--mpi",
            mpi,
            "--overcommit",
            "-l",
            "-n",
            &RANKS.to_string(),
        ]);
        command
    };
    run_examples(&|| srun("pmi2"), retagged, "under srun --mpi=pmi2");

    // Rank 1 aborts while the others compute or wait for ever: told over PMI, Slurm cancels
    // the step at once (and reports its tasks killed, as it does for any MPI's abort).
    let started = std::time::Instant::now();
    let output = srun("pmi2")
        .args(["--time", "2"]) // should Slurm not end them
        .arg(example("faults"))
        .arg("abort")
        .stdin(Stdio::null())
        .output()
        .expect("srun runs");
    let said = text(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("rank 1 called abort with code 7"), "{said}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{said}"
    );

    // Without PMI the ranks cannot find each other: each says what to do instead.
    let output = srun("none")
        .arg(example("gather_squares"))
        .stdin(Stdio::null())
        .output()
        .expect("srun runs");
    assert!(!output.status.success());
    let said = retagged(&text(&output.stderr));
    for rank in 0..RANKS {
        assert!(
            lines_of(&said, rank)
                .iter()
                .any(|l| l.contains("started by srun without PMI") && l.contains("--mpi=pmi2")),
            "rank {rank}:\n{said}"
        );
    }
}

#[test]
fn a_launcher_that_speaks_only_pmix_is_refused_clearly() {
    if !have("mpirun.openmpi", "Open MPI") {
        return;
    }
    let output = Command::new("mpirun.openmpi")
        .args(["--allow-run-as-root", "--oversubscribe", "-n", "2"])
        .arg(example("gather_squares"))
        .stdin(Stdio::null())
        .output()
        .expect("mpirun runs");
    assert!(!output.status.success(), "ran as singletons");
    let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(said.contains("speaks only PMIx"), "{said}");
    assert!(!said.contains("rank = 0 ...receiving"), "{said}");
}
