//! The soak's short form: 16 ranks on this small machine exchange a few thousand messages
//! of 0 B - 4 MiB in every pattern (`crates/rmpi/examples/soak.rs` checks each byte and the
//! order per sender), on each transport. The long form (100,000 messages and more) runs by
//! hand; BENCHMARKS.md has the last one. It runs on both transports, so it runs in the
//! build with both: the one-backend builds CI also tests would repeat the same jobs.
#![cfg(all(feature = "tcp", feature = "shm"))]

use std::process::{Command, Stdio};

use rmpi_tests_integration::*;

#[test]
fn sixteen_ranks_lose_duplicate_and_reorder_nothing() {
    for transport in ["tcp", "shm"] {
        let output = Command::new(rmpirun_path())
            .args(["--timeout", "180", "--transport", transport, "-n", "16"])
            .arg(example("soak"))
            .args(["3000", "7"])
            .stdin(Stdio::null())
            .output()
            .expect("rmpirun runs");
        let out = check_success(&output, "soak");
        let summary = lines_of(&out, 0);
        assert!(
            summary
                .iter()
                .any(|line| line.starts_with("soak: ") && line.contains("on 16 ranks")),
            "{transport}: {out}"
        );
    }
}
