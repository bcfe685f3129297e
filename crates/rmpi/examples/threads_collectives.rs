//! The bcast, scatter and gather seed programs, run with their ranks as threads of one process.
//!
//! ```python
//! data = comm.bcast(range(10) if rank == 0 else None, root=0)
//! recv_data = comm.scatter(range(size) if rank == 0 else None, root=0)
//! recv_data = comm.gather(rank, root=0)
//! ```
//!
//! Run: `cargo run -p rmpi --example threads_collectives -- 4`.

use rmpi::prelude::*;

fn main() {
    let ranks = match std::env::args().nth(1).map(|n| n.parse::<usize>()) {
        None => 4,
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: threads_collectives [RANKS]  (RANKS is a positive number)");
            std::process::exit(2);
        }
    };
    let outcomes = rmpi::local::run(ranks, |comm| async move {
        let (rank, size) = (comm.rank(), comm.size());

        // Broadcast.
        let data = (rank == 0).then(|| (0..10).collect::<Vec<i32>>());
        if let Some(data) = &data {
            println!("process {rank} bcast data {data:?} to other processes");
        }
        let data = comm.bcast(data, 0).await?;
        println!("process {rank} recv data {data:?}...");
        comm.barrier().await?;

        // Scatter.
        let send_data = (rank == 0).then(|| (0..size).collect::<Vec<usize>>());
        if let Some(send_data) = &send_data {
            println!("process {rank} scatter data {send_data:?} to other processes");
        }
        let recv_data = comm.scatter(send_data, 0).await?;
        println!("process {rank} recv data {recv_data}...");
        comm.barrier().await?;

        // Gather.
        println!("process {rank} send data {rank} to root...");
        if let Some(all) = comm.gather(rank, 0).await? {
            println!("process {rank} gather all data {all:?}...");
        }
        Ok::<(), Error>(())
    });
    for (rank, outcome) in outcomes.into_iter().enumerate() {
        if let Err(error) = outcome {
            eprintln!("rank {rank}: {error}");
            std::process::exit(1);
        }
    }
}
