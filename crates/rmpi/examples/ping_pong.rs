//! Ping-pong between ranks 0 and 1 with typed buffers of growing size, checking every byte
//! and printing the one-way latency the way OSU's `osu_latency` does:
//! `cargo rmpirun -n 2 --release --example ping_pong`. Other ranks wait at the barrier.

use std::time::Instant;

use rmpi::prelude::*;

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        if comm.size() < 2 {
            return Err(rmpi::Error::InvalidArgument(
                "ping_pong needs 2 ranks".into(),
            ));
        }
        let rank = comm.rank();
        if rank == 0 {
            println!("# rmpi ping-pong");
            println!("{:<10}{:>18}", "# Size", "Latency (us)");
        }
        let mut size = 1;
        while size <= 1 << 20 {
            let iterations = if size <= 64 * 1024 { 200 } else { 20 };
            let message: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            let mut echo = vec![0u8; size];
            let started = Instant::now();
            for _ in 0..iterations {
                match rank {
                    0 => {
                        comm.send_buf(&message, 1, 1).await?;
                        comm.recv_into(&mut echo, 1, 1).await?;
                    }
                    1 => {
                        comm.recv_into(&mut echo, 0, 1).await?;
                        comm.send_buf(&echo, 0, 1).await?;
                    }
                    _ => {}
                }
            }
            if rank == 0 {
                assert_eq!(echo, message, "the echo differs at {size} bytes");
                let one_way = started.elapsed().as_secs_f64() * 1e6 / (2.0 * iterations as f64);
                println!("{size:<10}{one_way:>18.2}");
            }
            size *= 4;
        }
        comm.barrier().await
    })
}
