//! `rmpirun`: run a program as N ranks, like `mpiexec -n N program args...`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rmpi_launch::cargo::{self, Target};
use rmpi_launch::hosts::{self, Host};
use rmpi_launch::launcher::{self, Job};

/// Run a program as N processes that form one rmpi job (like mpiexec).
///
/// Examples:
///   rmpirun -n 4 ./target/release/my_program --its-flag
///   rmpirun -n 4 --example ring          (builds the example first, like cargo run)
#[derive(Debug, Parser)]
#[command(name = "rmpirun", version, verbatim_doc_comment)]
struct Cli {
    /// Number of ranks (also -np). Defaults to the host list's slots, or 1.
    #[arg(short = 'n', long = "np", value_name = "N")]
    ranks: Option<usize>,

    /// Hosts, one per line: `host`, `host:slots` or `host slots=N`.
    #[arg(long, short = 'f', value_name = "FILE")]
    hostfile: Option<PathBuf>,

    /// Hosts as a list: `h1,h2:4`.
    #[arg(long, value_name = "HOSTS")]
    host: Option<String>,

    /// Prefix each output line with `[rank] ` (the default).
    #[arg(long, short = 'l', overrides_with = "no_tag_output")]
    tag_output: bool,

    /// Print the ranks' output lines as they are.
    #[arg(long)]
    no_tag_output: bool,

    /// End the job (exit code 124) if it runs longer than this.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,

    /// After a rank fails, how long the other ranks may take to end on their own before
    /// they are killed.
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    kill_after: f64,

    /// Transport between ranks.
    #[arg(long, value_enum, default_value_t = TransportChoice::Auto)]
    transport: TransportChoice,

    /// Place each rank (an rmpi program) on a core, round-robin over the cores rmpirun may
    /// use among the ranks of a host: `start` (the default) moves each rank there once the
    /// job is connected and leaves it free to move on; `core` keeps it bound there; `none`
    /// leaves placement to the scheduler, as MPICH does.
    #[arg(long, value_enum, default_value_t = Binding::Start)]
    bind_to: Binding,

    /// Pass an environment variable to the ranks: `-x NAME` forwards ours, `-x NAME=VALUE`
    /// sets it. (Ranks on this host inherit the whole environment anyway.)
    #[arg(short = 'x', long = "export", value_name = "NAME[=VALUE]")]
    export: Vec<String>,

    /// Build this example of the current cargo workspace and run it.
    #[arg(long, value_name = "NAME", conflicts_with = "bin")]
    example: Option<String>,

    /// Build this binary of the current cargo workspace and run it.
    #[arg(long, value_name = "NAME")]
    bin: Option<String>,

    /// The package of --example/--bin.
    #[arg(short = 'p', long, value_name = "PACKAGE")]
    package: Option<String>,

    /// Build --example/--bin with optimizations.
    #[arg(long)]
    release: bool,

    /// The program and its arguments (with --example/--bin: just the arguments).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM [ARGS]"
    )]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Binding {
    /// Each rank starts on a core of its own, then runs anywhere.
    Start,
    /// Each rank stays bound to a core of its own.
    Core,
    /// No placement.
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportChoice {
    /// Shared memory between ranks on one host, TCP between hosts.
    Auto,
    /// TCP sockets everywhere.
    Tcp,
    /// Shared memory (every rank on this host).
    Shm,
}

fn fail(message: &str) -> ! {
    eprintln!("rmpirun: {message}");
    std::process::exit(1);
}

fn seconds(what: &str, secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or_else(|_| fail(&format!("bad {what}: {secs}")))
}

fn main() {
    // mpiexec spells it -np; clap's short options are one letter.
    let args = std::env::args_os().map(|arg| if arg == "-np" { "--np".into() } else { arg });
    let cli = Cli::parse_from(args);
    rmpi_launch::init_logging();

    let mut hosts: Vec<Host> = Vec::new();
    if let Some(path) = &cli.hostfile {
        hosts.extend(hosts::read_hostfile(path).unwrap_or_else(|e| fail(&e)));
    }
    if let Some(list) = &cli.host {
        hosts.extend(hosts::parse_host_list(list).unwrap_or_else(|e| fail(&e)));
    }
    if let Some(remote) = hosts.iter().find(|h| !hosts::is_local(&h.name)) {
        eprintln!(
            "rmpirun: launching on other hosts ({}) is not supported yet; every rank runs here, \
             and ranks placed on different hosts talk over TCP",
            remote.name
        );
    }
    let slots: usize = hosts.iter().map(|h| h.slots).sum();
    let ranks = cli.ranks.unwrap_or(if slots > 0 { slots } else { 1 });

    let mut command = cli.command.into_iter();
    let (program, args) = match (&cli.example, &cli.bin) {
        (Some(name), _) | (_, Some(name)) => {
            let target = Target {
                example: cli.example.is_some(),
                name: name.clone(),
                package: cli.package.clone(),
                release: cli.release,
            };
            let program = cargo::build(&target).unwrap_or_else(|e| fail(&e));
            (program.into_os_string(), command.collect())
        }
        (None, None) => match command.next() {
            Some(program) => (program, command.collect()),
            None => fail("no program given (see rmpirun --help)"),
        },
    };

    let env = cli
        .export
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (entry.clone(), None),
        })
        .collect();
    let placed = hosts::place(&hosts, ranks);
    let job = Job {
        program,
        args,
        ranks,
        tag_output: !cli.no_tag_output,
        timeout: cli.timeout.map(|t| seconds("--timeout", t)),
        kill_after: seconds("--kill-after", cli.kill_after),
        transport: match cli.transport {
            TransportChoice::Auto => "auto",
            TransportChoice::Tcp => "tcp",
            TransportChoice::Shm => "shm",
        }
        .into(),
        env,
        cores: match cli.bind_to {
            Binding::None => Vec::new(),
            Binding::Start | Binding::Core => rmpi_launch::binding::cores_for(
                ranks,
                &placed,
                &rmpi_launch::binding::available_cores(),
            ),
        },
        bind: cli.bind_to == Binding::Core,
        hosts: placed,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let code = runtime
        .block_on(launcher::run(&job))
        .unwrap_or_else(|e| fail(&e));
    // The stdin forwarder may still be blocked reading; don't wait for it.
    std::process::exit(code);
}
