//! Building an example or binary of the current cargo workspace before launching it, so
//! `rmpirun -n 4 --example ring` is one command, like `cargo run --example ring` is for one
//! process.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// What to build.
///
/// ```no_run
/// use rmpi_launch::cargo::{build, Target};
/// // What `rmpirun -n 4 --example ring --release` builds before it launches.
/// let target = Target { example: true, name: "ring".into(), package: None, release: true };
/// let program = build(&target)?;
/// println!("launching {}", program.display());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct Target {
    /// `--example` (true) or `--bin` (false).
    pub example: bool,
    /// The target's name.
    pub name: String,
    /// The package it is in, when the name alone is ambiguous.
    pub package: Option<String>,
    /// Build with `--release`.
    pub release: bool,
}

/// Builds `target` with cargo (its progress on our stderr) and returns the executable.
///
/// ```no_run
/// use rmpi_launch::cargo::{build, Target};
/// let target = Target { example: false, name: "solver".into(), package: Some("cfd".into()), release: false };
/// let program = build(&target)?; // cargo's own errors are shown as they come
/// # Ok::<(), String>(())
/// ```
pub fn build(target: &Target) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--message-format=json-render-diagnostics"]);
    command.arg(if target.example { "--example" } else { "--bin" });
    command.arg(&target.name);
    if let Some(package) = &target.package {
        command.args(["--package", package]);
    }
    if target.release {
        command.arg("--release");
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo could not build {}", target.name));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == target.name.as_str())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built no executable named {}", target.name))
}
