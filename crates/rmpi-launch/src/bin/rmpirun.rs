//! `rmpirun`: run a program as N ranks, like `mpiexec -n N program args...`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rmpi_core::config::Config;
use rmpi_launch::cargo::{self, Target};
use rmpi_launch::hosts::{self, Host, MapBy};
use rmpi_launch::launcher::{self, Job};
use rmpi_launch::remote::Launch;
use rmpi_launch::spawn::Binding;

/// Run a program as N processes that form one rmpi job (like mpiexec).
///
/// Examples:
///   rmpirun -n 4 ./target/release/my_program --its-flag
///   rmpirun -n 4 --example ring          (builds the example first, like cargo run)
///   rmpirun -f hosts ./my_program        (ranks on the hosts listed, started over ssh)
#[derive(Debug, Parser)]
#[command(name = "rmpirun", version, verbatim_doc_comment)]
struct Cli {
    /// Number of ranks (also -np). Defaults to the host list's slots, or 1.
    #[arg(short = 'n', long = "np", value_name = "N")]
    ranks: Option<usize>,

    /// Hosts, one per line: `host`, `host:slots` or `host slots=N`; `#` starts a comment.
    /// Ranks on hosts other than this one start there (see --launcher-exec).
    #[arg(long, short = 'f', value_name = "FILE")]
    hostfile: Option<PathBuf>,

    /// Hosts as a list: `h1,h2:4`.
    #[arg(long, value_name = "HOSTS")]
    host: Option<String>,

    /// How ranks are dealt out to hosts: `slot` fills each host's slots in turn, `node`
    /// gives each host one rank in turn.
    #[arg(long, value_enum, default_value_t = MapChoice::Slot)]
    map_by: MapChoice,

    /// The command that starts rmpirun's proxy on another host, called as
    /// `CMD HOST COMMAND...` (default: `ssh -x -o BatchMode=yes`). Words are split at
    /// spaces.
    #[arg(long, value_name = "CMD")]
    launcher_exec: Option<String>,

    /// The address of this machine that ranks on other hosts reach rmpirun at (default: the
    /// address on the route to each host).
    #[arg(long, value_name = "IP")]
    launcher_address: Option<IpAddr>,

    /// rmpirun's path on the other hosts (default: the same as here).
    #[arg(long, value_name = "PATH")]
    remote_rmpirun: Option<OsString>,

    /// Run as a host's proxy for a launcher on another host (started by rmpirun itself).
    #[arg(long, hide = true, exclusive = true)]
    proxy: bool,

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
    #[arg(long, value_name = "SECS", default_value_t = launcher::KILL_AFTER.as_secs_f64())]
    kill_after: f64,

    /// When every rank has been stuck in an rmpi call this long with no message moving,
    /// print what each waits for and the cycle they form (the job goes on); 0: never. The
    /// same report comes on --timeout and on SIGQUIT (Ctrl-\\).
    #[arg(long, value_name = "SECS", default_value_t = launcher::DEADLOCK_AFTER.as_secs_f64())]
    deadlock_after: f64,

    /// Transport between ranks.
    #[arg(long, value_enum, default_value_t = TransportChoice::Auto)]
    transport: TransportChoice,

    /// Place each rank (an rmpi program) on a core, round-robin over the cores rmpirun may
    /// use among the ranks of a host: `start` (the default) moves each rank there once the
    /// job is connected and leaves it free to move on; `core` keeps it bound there; `none`
    /// leaves placement to the scheduler, as MPICH does.
    #[arg(long, value_enum, default_value_t = BindChoice::Start)]
    bind_to: BindChoice,

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
enum BindChoice {
    /// Each rank starts on a core of its own, then runs anywhere.
    Start,
    /// Each rank stays bound to a core of its own.
    Core,
    /// No placement.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MapChoice {
    /// Fill each host's slots in turn.
    Slot,
    /// One rank per host in turn.
    Node,
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

/// Fails, naming the variable, if a setting the ranks would get (from this environment or
/// `-x`) is not one or has a bad value: better now than once from every rank.
fn check_settings(exported: &[(String, Option<String>)]) {
    let mut settings: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("RMPI_"))
        .collect();
    for (name, value) in exported {
        if let Some(value) = value.clone().or_else(|| std::env::var(name).ok()) {
            settings.insert(name.clone(), value);
        }
    }
    if let Err(error) = Config::from_vars(settings) {
        fail(&error.to_string());
    }
}

fn seconds(what: &str, secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or_else(|_| fail(&format!("bad {what}: {secs}")))
}

fn main() {
    // mpiexec spells it -np; clap's short options are one letter.
    let args = std::env::args_os().map(|arg| if arg == "-np" { "--np".into() } else { arg });
    let cli = Cli::parse_from(args);
    let config = Config::from_env().unwrap_or_else(|e| fail(&e.to_string()));
    rmpi_launch::init_logging(config.log.as_deref()).unwrap_or_else(|e| fail(&e.to_string()));
    if cli.proxy {
        std::process::exit(runtime().block_on(rmpi_launch::proxy::serve()));
    }

    let mut hosts: Vec<Host> = Vec::new();
    if let Some(path) = &cli.hostfile {
        hosts.extend(hosts::read_hostfile(path).unwrap_or_else(|e| fail(&e)));
    }
    if let Some(list) = &cli.host {
        hosts.extend(hosts::parse_host_list(list).unwrap_or_else(|e| fail(&e)));
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
            // Flags go before the program: one that looks like a flag is a mistyped one.
            Some(flag) if flag.to_string_lossy().starts_with('-') => fail(&format!(
                "unknown option {} (options go before the program; see rmpirun --help)",
                flag.to_string_lossy()
            )),
            Some(program) => (program, command.collect()),
            None => fail("no program given (see rmpirun --help)"),
        },
    };

    let env: Vec<(String, Option<String>)> = cli
        .export
        .iter()
        .map(|entry| {
            let (name, value) = match entry.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (entry.as_str(), None),
            };
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                fail(&format!(
                    "-x {entry}: expected NAME or NAME=VALUE, with a variable name of \
                     letters, digits and _"
                ));
            }
            (name.to_owned(), value)
        })
        .collect();
    check_settings(&env);
    let map_by = match cli.map_by {
        MapChoice::Slot => MapBy::Slot,
        MapChoice::Node => MapBy::Node,
    };
    let placed = hosts::place(&hosts, ranks, map_by)
        .into_iter()
        .map(|host| (!hosts::is_local(&host)).then_some(host))
        .collect();
    let launch = Launch {
        exec: match &cli.launcher_exec {
            Some(exec) => exec.split_whitespace().map(String::from).collect(),
            None => Launch::ssh(),
        },
        rmpirun: cli.remote_rmpirun.unwrap_or_else(|| {
            std::env::current_exe()
                .map(PathBuf::into_os_string)
                .unwrap_or_else(|e| fail(&format!("cannot find rmpirun's own path: {e}")))
        }),
    };
    if launch.exec.is_empty() {
        fail("--launcher-exec needs a command");
    }
    let job = Job {
        program,
        args,
        ranks,
        tag_output: !cli.no_tag_output,
        timeout: cli.timeout.map(|t| seconds("--timeout", t)),
        kill_after: seconds("--kill-after", cli.kill_after),
        deadlock_after: Some(seconds("--deadlock-after", cli.deadlock_after))
            .filter(|quiet| !quiet.is_zero()),
        transport: match cli.transport {
            TransportChoice::Auto => "auto",
            TransportChoice::Tcp => "tcp",
            TransportChoice::Shm => "shm",
        }
        .into(),
        env,
        hosts: placed,
        binding: match cli.bind_to {
            BindChoice::Start => Binding::Start,
            BindChoice::Core => Binding::Core,
            BindChoice::None => Binding::None,
        },
        launch,
        address: cli.launcher_address,
    };
    let code = runtime()
        .block_on(launcher::run(&job))
        .unwrap_or_else(|e| fail(&e));
    // The stdin forwarder may still be blocked reading; don't wait for it.
    std::process::exit(code);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")))
}
