//! `rmpi-bench`: OSU-style micro-benchmarks, run under `rmpirun`, printing OSU's tables so
//! the figures sit beside `osu_latency`'s and the C benchmark's in `benches/compare.py`.
//!
//! ```sh
//! rmpirun -n 2 --transport shm target/release/rmpi-bench latency
//! rmpirun -n 4 target/release/rmpi-bench bcast --max-size 1048576
//! ```
//!
//! Conventions follow OSU: latency is half a ping-pong round trip; bandwidth sends a window
//! of 64 nonblocking messages and waits for a short acknowledgement; collectives time each
//! call between barriers and report the average over ranks. Warm-up iterations are not
//! timed; messages of 8 KiB and more use fewer iterations.

use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use rmpi::prelude::*;

/// OSU's boundary between small and large messages.
const LARGE: usize = 8192;
/// OSU's bandwidth window.
const WINDOW: usize = 64;

#[derive(Debug, Parser)]
#[command(
    name = "rmpi-bench",
    version,
    about = "OSU-style benchmarks for rmpi (run under rmpirun)"
)]
struct Cli {
    #[command(subcommand)]
    test: Test,
    /// Smallest message in bytes.
    #[arg(long, global = true, default_value_t = 0)]
    min_size: usize,
    /// Largest message in bytes (default: 4 MiB point-to-point, 1 MiB collectives).
    #[arg(long, global = true)]
    max_size: Option<usize>,
    /// Timed iterations per size (default: OSU's, fewer for large messages).
    #[arg(long, global = true)]
    iterations: Option<usize>,
    /// Untimed warm-up iterations per size.
    #[arg(long, global = true)]
    warmup: Option<usize>,
    /// Typed buffers (like mpi4py's `Send`) or serde objects (like its `send`).
    #[arg(long, global = true, value_enum, default_value_t = Flavour::Buffer)]
    flavour: Flavour,
    /// Print one JSON object per size instead of OSU's table.
    #[arg(long, global = true)]
    json: bool,
    /// Transport between ranks: tcp, shm or auto (default: rmpirun's `--transport`).
    #[arg(long, global = true)]
    transport: Option<String>,
    /// Force the collective's algorithm (barrier, bcast, allgather, allreduce, alltoall), e.g.
    /// `binomial`, `rabenseifner`, `bruck`; unknown names are an error naming the choices.
    #[arg(long, global = true)]
    algorithm: Option<String>,
    /// For collectives, also print each rank's mean, median, 90th and 99th percentile time
    /// per call (to stderr): on ranks that share cores, where the time goes shows which
    /// ranks wait for a context switch, and the percentiles tell a steady cost from stalls.
    #[arg(long, global = true)]
    per_rank: bool,
    /// For collectives, also print (to stderr) how long after rank 0 started each call the
    /// last rank finished it, and how long after rank 0 the last rank started it: OSU's
    /// figure counts each rank from when it left the barrier before, so it also depends on
    /// the order in which the barrier lets ranks go. Clocks are the host's, so ranks on
    /// other hosts make it meaningless.
    #[arg(long, global = true)]
    span: bool,
    /// Which API the test calls: async (`rmpi::run`, awaiting each call) or blocking
    /// (`rmpi::blocking`, each call returning when done). Blocking runs `latency` only.
    #[arg(long, global = true, value_enum, default_value_t = Api::Async)]
    api: Api,
}

/// The API a test calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Api {
    /// `rmpi::run` and awaited calls.
    Async,
    /// `rmpi::blocking` calls.
    Blocking,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Test {
    /// Ping-pong latency between ranks 0 and 1.
    Latency,
    /// Windowed unidirectional bandwidth from rank 0 to rank 1.
    Bw,
    /// Windowed bidirectional bandwidth between ranks 0 and 1.
    Bibw,
    /// Broadcast from rank 0.
    Bcast,
    /// Allreduce (sum of f32).
    Allreduce,
    /// Reduce to rank 0 (sum of f32).
    Reduce,
    /// Scatter from rank 0 (size bytes per rank).
    Scatter,
    /// Gather to rank 0 (size bytes per rank).
    Gather,
    /// Allgather (size bytes per rank).
    Allgather,
    /// All-to-all (size bytes per pair).
    Alltoall,
    /// Barrier (no sizes).
    Barrier,
}

/// How messages are sent: the two ways mpi4py programs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Flavour {
    /// Typed buffers (`send_buf`/`recv_into`), like mpi4py's `Send`/`Recv` on numpy arrays.
    Buffer,
    /// Serde objects (`send`/`recv`), like mpi4py's pickled `send`/`recv`: point-to-point
    /// tests send a byte string (`serde_bytes`, as pickle sends `bytes`), collectives a
    /// `Vec<f32>`.
    Object,
}

impl Test {
    fn name(self) -> &'static str {
        match self {
            Test::Latency => "Latency",
            Test::Bw => "Bandwidth",
            Test::Bibw => "Bi-Directional Bandwidth",
            Test::Bcast => "Broadcast Latency",
            Test::Allreduce => "Allreduce Latency",
            Test::Reduce => "Reduce Latency",
            Test::Scatter => "Scatter Latency",
            Test::Gather => "Gather Latency",
            Test::Allgather => "Allgather Latency",
            Test::Alltoall => "All-to-all Latency",
            Test::Barrier => "Barrier Latency",
        }
    }

    fn point_to_point(self) -> bool {
        matches!(self, Test::Latency | Test::Bw | Test::Bibw)
    }

    fn column(self) -> &'static str {
        match self {
            Test::Latency => "Latency (us)",
            Test::Bw | Test::Bibw => "Bandwidth (MB/s)",
            _ => "Avg Latency(us)",
        }
    }
}

/// Sizes OSU walks: 0 (point-to-point only), then powers of two.
fn sizes(cli: &Cli) -> Vec<usize> {
    let max = cli.max_size.unwrap_or(if cli.test.point_to_point() {
        4 << 20
    } else {
        1 << 20
    });
    if matches!(cli.test, Test::Barrier) {
        return vec![0];
    }
    let first = if cli.test.point_to_point() && cli.min_size == 0 {
        vec![0]
    } else {
        vec![]
    };
    let floor = cli
        .min_size
        .max(if cli.test.point_to_point() { 1 } else { 4 });
    first
        .into_iter()
        .chain(
            (0..63)
                .map(|k| 1usize << k)
                .filter(|&s| s >= floor && s <= max),
        )
        .collect()
}

/// OSU's iteration and warm-up counts: per window for bandwidth, per call otherwise.
fn counts(cli: &Cli, size: usize) -> (usize, usize) {
    let large = size >= LARGE;
    let (iterations, warmup) = match cli.test {
        Test::Latency if large => (1000, 10),
        Test::Latency => (10_000, 1000),
        Test::Bw | Test::Bibw if large => (20, 2),
        Test::Bw | Test::Bibw => (100, 10),
        _ if large => (100, 10),
        _ => (1000, 100),
    };
    let iterations = cli.iterations.unwrap_or(iterations);
    (iterations, cli.warmup.unwrap_or(warmup.min(iterations)))
}

fn fail(message: &str) -> rmpi::Error {
    rmpi::Error::InvalidArgument(message.into())
}

fn main() -> rmpi::Result<()> {
    let cli = Cli::parse();
    // Both are read when the job starts, from the environment rmpirun also sets; no other
    // thread exists yet.
    if let Some(transport) = &cli.transport {
        // SAFETY: main's opening, before any other thread exists (see above).
        unsafe { std::env::set_var("RMPI_TRANSPORT", transport) };
    }
    if let Some(algorithm) = &cli.algorithm {
        let variable = match cli.test {
            Test::Barrier => "RMPI_BARRIER_ALGORITHM",
            Test::Bcast => "RMPI_BCAST_ALGORITHM",
            Test::Allgather => "RMPI_ALLGATHER_ALGORITHM",
            Test::Allreduce => "RMPI_ALLREDUCE_ALGORITHM",
            Test::Alltoall => "RMPI_ALLTOALL_ALGORITHM",
            other => {
                return Err(fail(&format!(
                    "{} has one algorithm; --algorithm applies to barrier, bcast, allgather, \
                     allreduce and alltoall",
                    other.name()
                )))
            }
        };
        // SAFETY: as above, no other thread exists yet.
        unsafe { std::env::set_var(variable, algorithm) };
    }
    if cli.api == Api::Blocking {
        return blocking_latency(&cli);
    }
    rmpi::run(|comm| async move {
        if cli.test.point_to_point() && comm.size() < 2 {
            return Err(fail("point-to-point tests need at least 2 ranks"));
        }
        if comm.rank() == 0 {
            header(&cli, comm.size());
        }
        for size in sizes(&cli) {
            let (iterations, warmup) = counts(&cli, size);
            let value = match cli.test {
                Test::Latency => latency(&comm, &cli, size, iterations, warmup).await?,
                Test::Bw => bandwidth(&comm, &cli, size, iterations, warmup, false).await?,
                Test::Bibw => bandwidth(&comm, &cli, size, iterations, warmup, true).await?,
                _ => collective(&comm, &cli, size, iterations, warmup).await?,
            };
            if comm.rank() == 0 {
                report(&cli, comm.size(), size, value);
            }
        }
        Ok(())
    })
}

/// Rank 0's table heading (none for JSON).
fn header(cli: &Cli, ranks: usize) {
    if !cli.json {
        println!(
            "# rmpi {} Test ({} ranks, {:?} flavour, {:?} API)",
            cli.test.name(),
            ranks,
            cli.flavour,
            cli.api
        );
        println!("{:<10}{:>18}", "# Size", cli.test.column());
    }
}

/// Rank 0's line for one size: a table row, or a JSON object.
fn report(cli: &Cli, ranks: usize, size: usize, value: f64) {
    if cli.json {
        let record = serde_json::json!({
            "test": format!("{:?}", cli.test).to_lowercase(),
            "ranks": ranks,
            "flavour": format!("{:?}", cli.flavour).to_lowercase(),
            "api": format!("{:?}", cli.api).to_lowercase(),
            "size": size,
            "value": value,
            "unit": if cli.test.column().contains("MB/s") { "MB/s" } else { "us" },
        });
        println!("{record}");
    } else {
        println!("{size:<10}{value:>18.2}");
    }
}

/// The latency test through the blocking API: the same ping-pong as [`latency`], each
/// call returning when it is done, so the two APIs' costs can be set side by side.
fn blocking_latency(cli: &Cli) -> rmpi::Result<()> {
    if !matches!(cli.test, Test::Latency) || cli.flavour != Flavour::Buffer {
        return Err(fail(
            "--api blocking runs the latency test with buffers only",
        ));
    }
    let universe = rmpi::blocking::init()?;
    let comm = universe.world();
    if comm.size() < 2 {
        return Err(fail("point-to-point tests need at least 2 ranks"));
    }
    if comm.rank() == 0 {
        header(cli, comm.size());
    }
    for size in sizes(cli) {
        let (iterations, warmup) = counts(cli, size);
        let message = vec![b'a'; size];
        let mut reply = vec![0u8; size];
        comm.barrier()?;
        let mut started = Instant::now();
        for i in 0..iterations + warmup {
            if i == warmup {
                started = Instant::now();
            }
            match comm.rank() {
                0 => {
                    comm.send_buf(&message, 1, 1)?;
                    comm.recv_into(&mut reply, 1, 1)?;
                }
                1 => {
                    comm.recv_into(&mut reply, 0, 1)?;
                    comm.send_buf(&reply, 0, 1)?;
                }
                _ => {}
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        comm.barrier()?;
        if comm.rank() == 0 {
            report(
                cli,
                comm.size(),
                size,
                elapsed * 1e6 / (2.0 * iterations as f64),
            );
        }
    }
    universe.finalize()
}

/// How one flavour sends and receives in a ping-pong. The flavour is chosen once per test,
/// so the timed loop awaits each call directly, as a program of that flavour would (a
/// `match` on the flavour around every call would time the benchmark's own dispatch too).
trait PingPong {
    /// What a receive returns.
    type Received;
    /// Sends `data` to `peer` with `tag`.
    fn send<'a>(
        comm: &'a Comm,
        data: &'a [u8],
        peer: usize,
        tag: i32,
    ) -> impl Future<Output = rmpi::Result<()>> + 'a;
    /// Receives `peer`'s message with `tag` into `into`.
    fn recv<'a>(
        comm: &'a Comm,
        into: &'a mut [u8],
        peer: usize,
        tag: i32,
    ) -> impl Future<Output = rmpi::Result<Self::Received>> + 'a;
}

/// Typed buffers: `send_buf` and `recv_into` (`Send`/`Recv`), their own futures awaited.
struct Buffers;

impl PingPong for Buffers {
    type Received = rmpi::Status;

    fn send<'a>(
        comm: &'a Comm,
        data: &'a [u8],
        peer: usize,
        tag: i32,
    ) -> impl Future<Output = rmpi::Result<()>> + 'a {
        comm.send_buf(data, peer, tag)
    }

    fn recv<'a>(
        comm: &'a Comm,
        into: &'a mut [u8],
        peer: usize,
        tag: i32,
    ) -> impl Future<Output = rmpi::Result<rmpi::Status>> + 'a {
        comm.recv_into(into, peer, tag)
    }
}

/// Serde objects: a byte string through `send` and `recv` (pickled `send`/`recv`), copied
/// into the receiving buffer as a program would use it.
struct Objects;

impl PingPong for Objects {
    type Received = ();

    async fn send(comm: &Comm, data: &[u8], peer: usize, tag: i32) -> rmpi::Result<()> {
        comm.send(serde_bytes::Bytes::new(data), peer, tag).await
    }

    async fn recv(comm: &Comm, into: &mut [u8], peer: usize, tag: i32) -> rmpi::Result<()> {
        let data: serde_bytes::ByteBuf = comm.recv(peer, tag).await?;
        into.copy_from_slice(&data);
        Ok(())
    }
}

/// Half the average round trip between ranks 0 and 1, in microseconds.
async fn latency(
    comm: &Comm,
    cli: &Cli,
    size: usize,
    iterations: usize,
    warmup: usize,
) -> rmpi::Result<f64> {
    match cli.flavour {
        Flavour::Buffer => ping_pong::<Buffers>(comm, size, iterations, warmup).await,
        Flavour::Object => ping_pong::<Objects>(comm, size, iterations, warmup).await,
    }
}

/// [`latency`] in one flavour: rank 0 sends and waits for the reply; rank 1 sends back the
/// buffer it received into, as `osu_like.c` (what MPICH and Open MPI run here) does.
async fn ping_pong<F: PingPong>(
    comm: &Comm,
    size: usize,
    iterations: usize,
    warmup: usize,
) -> rmpi::Result<f64> {
    let message = vec![b'a'; size];
    let mut reply = vec![0u8; size];
    comm.barrier().await?;
    let mut started = Instant::now();
    for i in 0..iterations + warmup {
        if i == warmup {
            started = Instant::now();
        }
        match comm.rank() {
            0 => {
                F::send(comm, &message, 1, 1).await?;
                F::recv(comm, &mut reply, 1, 1).await?;
            }
            1 => {
                F::recv(comm, &mut reply, 0, 1).await?;
                F::send(comm, &reply, 0, 1).await?;
            }
            _ => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    comm.barrier().await?;
    Ok(elapsed * 1e6 / (2.0 * iterations as f64))
}

/// Windowed bandwidth in MB/s (10^6 bytes), OSU's way.
async fn bandwidth(
    comm: &Comm,
    cli: &Cli,
    size: usize,
    iterations: usize,
    warmup: usize,
    both_ways: bool,
) -> rmpi::Result<f64> {
    let message = vec![b'a'; size];
    let mut inbox = vec![vec![0u8; size]; WINDOW];
    let mut ack = [0u8; 4];
    comm.barrier().await?;
    let mut started = Instant::now();
    for i in 0..iterations + warmup {
        if i == warmup {
            started = Instant::now();
        }
        let rank = comm.rank();
        if rank > 1 {
            continue;
        }
        let peer = 1 - rank;
        let sending = rank == 0 || both_ways;
        let receiving = rank == 1 || both_ways;
        // Room for a window, as OSU's request arrays have.
        let (mut requests, mut objects) = (Vec::with_capacity(WINDOW), Vec::new());
        if receiving {
            match cli.flavour {
                Flavour::Buffer => {
                    for slot in inbox.iter_mut() {
                        requests.push(comm.irecv_into(slot, peer, 2));
                    }
                }
                Flavour::Object => {
                    objects = (0..WINDOW)
                        .map(|_| comm.irecv::<serde_bytes::ByteBuf>(peer, 2))
                        .collect();
                }
            }
        }
        // Sends go out as a window of nonblocking ones, as OSU's do: a large typed-buffer
        // send completes only once its receiver has read it.
        let mut sends = Vec::with_capacity(WINDOW);
        if sending {
            for _ in 0..WINDOW {
                match cli.flavour {
                    Flavour::Buffer => sends.push(comm.isend_buf(&message, peer, 2)),
                    Flavour::Object => {
                        comm.send(serde_bytes::Bytes::new(&message), peer, 2)
                            .await?
                    }
                }
            }
        }
        wait_all(sends).await?;
        wait_all(requests).await?;
        wait_all(objects).await?;
        if rank == 1 {
            comm.send_buf(&ack, 0, 3).await?;
        } else {
            comm.recv_into(&mut ack, 1, 3).await?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    comm.barrier().await?;
    let moved = (size * WINDOW * iterations) as f64 * if both_ways { 2.0 } else { 1.0 };
    Ok(moved / elapsed / 1e6)
}

/// Microseconds on a clock every process of the host reads alike (`CLOCK_REALTIME`).
fn host_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1e6)
}

/// Gathers every rank's start and end of each call (`moments`, in pairs) to rank 0, which
/// prints the means over calls of when the last rank finished and when the last started,
/// both counted from rank 0's start.
async fn print_span(comm: &Comm, size: usize, moments: Vec<f64>) -> rmpi::Result<()> {
    let Some(all) = comm.gather(moments, 0).await? else {
        return Ok(());
    };
    let calls = all[0].len() / 2;
    let (mut last_end, mut last_start) = (0.0, 0.0);
    for call in 0..calls {
        let root = all[0][2 * call];
        let latest = |at: usize| {
            all.iter()
                .map(|m| m[2 * call + at] - root)
                .fold(0.0, f64::max)
        };
        last_start += latest(0);
        last_end += latest(1);
    }
    let calls = calls.max(1) as f64;
    eprintln!(
        "span size {size}: last rank done {:.2} us after rank 0 started, last started {:.2} us after it",
        last_end / calls,
        last_start / calls
    );
    Ok(())
}

/// Average over ranks of each rank's mean time per call, in microseconds.
async fn collective(
    comm: &Comm,
    cli: &Cli,
    size: usize,
    iterations: usize,
    warmup: usize,
) -> rmpi::Result<f64> {
    let n = comm.size();
    let floats = size / 4;
    let send = vec![1.0f32; floats];
    let mut recv = vec![0.0f32; floats];
    let mut wide = vec![0.0f32; floats * n];
    let wide_send = vec![1.0f32; floats * n];
    let mut times = Vec::with_capacity(iterations);
    let mut moments = Vec::with_capacity(if cli.span { 2 * iterations } else { 0 });
    for i in 0..iterations + warmup {
        comm.barrier().await?;
        let started = Instant::now();
        let began = cli.span.then(host_clock);
        match (cli.test, cli.flavour) {
            (Test::Bcast, Flavour::Buffer) => comm.bcast_buf(&mut recv, 0).await?,
            (Test::Bcast, Flavour::Object) => {
                let data = (comm.rank() == 0).then(|| send.clone());
                recv = comm.bcast(data, 0).await?;
            }
            (Test::Allreduce, Flavour::Buffer) => comm.allreduce_buf(&send, &mut recv, Sum).await?,
            (Test::Allreduce, Flavour::Object) => {
                recv = comm
                    .allreduce(
                        send.clone(),
                        UserOp::commutative(|a: &Vec<f32>, b: &Vec<f32>| {
                            a.iter().zip(b).map(|(x, y)| x + y).collect()
                        }),
                    )
                    .await?;
            }
            (Test::Reduce, _) => comm.reduce_buf(&send, &mut recv, Sum, 0).await?,
            (Test::Scatter, _) => comm.scatter_buf(&wide_send, &mut recv, 0).await?,
            (Test::Gather, _) => comm.gather_buf(&send, &mut wide, 0).await?,
            (Test::Allgather, _) => comm.allgather_buf(&send, &mut wide).await?,
            (Test::Alltoall, _) => comm.alltoall_buf(&wide_send, &mut wide).await?,
            (Test::Barrier, _) => comm.barrier().await?,
            _ => unreachable!("point-to-point tests are handled elsewhere"),
        }
        if i >= warmup {
            times.push(started.elapsed().as_secs_f64() * 1e6);
            if let Some(began) = began {
                moments.extend([began, host_clock()]);
            }
        }
    }
    if cli.span {
        print_span(comm, size, moments).await?;
    }
    let mine = times.iter().sum::<f64>() / iterations as f64;
    if cli.per_rank && !times.is_empty() {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        eprintln!(
            "rank {} size {size}: mean {mine:.2} us, median {:.2}, 90th {:.2}, 99th {:.2}",
            comm.rank(),
            at(0.5),
            at(0.9),
            at(0.99)
        );
    }
    let sum = comm.reduce(mine, Sum, 0).await?;
    Ok(sum.map_or(0.0, |s| s / n as f64))
}
