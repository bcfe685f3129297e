//! `tcp-stream`: the physical limit for rmpi's TCP transport on a path, measured with OSU's
//! method over one plain TCP connection between two processes, no MPI layer at all.
//!
//! ```sh
//! tcp-stream serve 10.200.0.1:5555 &              # on one host
//! tcp-stream latency 10.200.0.1:5555               # on another: OSU's ping-pong
//! tcp-stream bw 10.200.0.1:5555 --min-size 65536   # windows of 64 messages, then an ack
//! ```
//!
//! The client says which test and sizes to run; the server answers as rank 1 would. Output is
//! OSU's table, so `benches/cross_host.py` reads it like `rmpi-bench`'s and `osu_like`'s.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use clap::{Parser, Subcommand};

/// OSU's bandwidth window.
const WINDOW: usize = 64;
/// OSU's boundary between small and large messages.
const LARGE: usize = 8192;

#[derive(Debug, Parser)]
#[command(
    name = "tcp-stream",
    about = "OSU-style latency and bandwidth over plain TCP"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Answer clients, one at a time, until killed.
    Serve {
        /// Address to listen on.
        address: String,
    },
    /// Half the round trip of a ping-pong, per size.
    Latency(Client),
    /// Windows of 64 messages one way, then a 4-byte acknowledgement, per size.
    Bw(Client),
}

#[derive(Debug, clap::Args)]
struct Client {
    /// The server's address.
    address: String,
    /// Smallest message in bytes.
    #[arg(long, default_value_t = 1)]
    min_size: usize,
    /// Largest message in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    max_size: usize,
}

fn main() -> std::io::Result<()> {
    match Cli::parse().mode {
        Mode::Serve { address } => serve(&address),
        Mode::Latency(client) => run(&client, b'l'),
        Mode::Bw(client) => run(&client, b'b'),
    }
}

/// Small messages go at once (no Nagle), as rmpi's and MPICH's do.
fn connected(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)
}

fn serve(address: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(address)?;
    loop {
        let (stream, _) = listener.accept()?;
        // A client that goes away early only ends its own connection.
        let _ = answer(stream);
    }
}

/// Requests: test (`l` or `b`), size and iterations, 17 bytes; a zero size ends.
fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    connected(&stream)?;
    let mut buffer = Vec::new();
    loop {
        let mut request = [0u8; 17];
        stream.read_exact(&mut request)?;
        let size = u64::from_le_bytes(request[1..9].try_into().expect("8 bytes")) as usize;
        let iterations = u64::from_le_bytes(request[9..17].try_into().expect("8 bytes"));
        if size == 0 {
            return Ok(());
        }
        buffer.resize(size, 0);
        for _ in 0..iterations {
            if request[0] == b'l' {
                stream.read_exact(&mut buffer)?;
                stream.write_all(&buffer)?;
            } else {
                for _ in 0..WINDOW {
                    stream.read_exact(&mut buffer)?;
                }
                stream.write_all(&[0u8; 4])?;
            }
        }
    }
}

fn run(client: &Client, test: u8) -> std::io::Result<()> {
    // The server may still be starting.
    let mut tries = 0;
    let mut stream = loop {
        match TcpStream::connect(&client.address) {
            Ok(stream) => break stream,
            Err(_) if tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(error) => return Err(error),
        }
    };
    connected(&stream)?;
    let (title, column) = match test {
        b'l' => ("Latency", "Latency (us)"),
        _ => ("Bandwidth", "Bandwidth (MB/s)"),
    };
    println!("# tcp-stream {title} Test");
    println!("{:<10}{:>18}", "# Size", column);
    let sizes = (0..63)
        .map(|k| 1usize << k)
        .filter(|&s| s >= client.min_size.max(1) && s <= client.max_size);
    for size in sizes {
        let large = size >= LARGE;
        let (iterations, warmup) = match (test, large) {
            (b'l', true) => (1000, 10),
            (b'l', false) => (10_000, 1000),
            (_, true) => (20, 2),
            (_, false) => (100, 10),
        };
        let mut request = vec![test];
        request.extend_from_slice(&(size as u64).to_le_bytes());
        request.extend_from_slice(&((iterations + warmup) as u64).to_le_bytes());
        stream.write_all(&request)?;
        let mut buffer = vec![1u8; size];
        let mut ack = [0u8; 4];
        let mut started = Instant::now();
        for i in 0..iterations + warmup {
            if i == warmup {
                started = Instant::now();
            }
            if test == b'l' {
                stream.write_all(&buffer)?;
                stream.read_exact(&mut buffer)?;
            } else {
                for _ in 0..WINDOW {
                    stream.write_all(&buffer)?;
                }
                stream.read_exact(&mut ack)?;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let value = if test == b'l' {
            seconds * 1e6 / (2.0 * iterations as f64)
        } else {
            (size * WINDOW * iterations) as f64 / seconds / 1e6
        };
        println!("{size:<10}{value:>18.2}");
    }
    let mut end = vec![test];
    end.extend_from_slice(&[0u8; 16]);
    stream.write_all(&end)
}
