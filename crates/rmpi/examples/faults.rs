//! What a job does when something goes wrong; the integration tests drive it through
//! `rmpirun`. Every mode ends with an error or a result, never a hang.
//!
//! - `faults exit CODE`: rank 1 exits with CODE while the others wait for a message from it;
//!   `rmpirun` exits with CODE and names rank 1, the others report rank 1 lost.
//! - `faults stall`: every rank prints its pid, then rank 1 waits for a message that never
//!   comes and the others wait for rank 1. Kill rank 1 (`kill -9 PID`) and the others end
//!   with an error naming it.
//! - `faults orphan`: every rank prints its pid, then even ranks compute forever and odd
//!   ranks wait for a message that never comes. Kill `rmpirun` (even `kill -9`) and every
//!   rank ends, busy or waiting, wherever it runs: ranks watch their launcher.
//! - `faults collective`: rank 2, the root of a scatter, gives a vector of the wrong length;
//!   it fails with an invalid argument, the others learn from it that the scatter failed
//!   there, and `rmpirun` names rank 2, not one of those that only reacted.
//! - `faults abort [CODE]`: every rank prints its pid, then rank 1 calls `abort(CODE)` (7
//!   by default) while even ranks compute forever and the others wait for a message from
//!   rank 0 that never comes: `rmpirun` ends them all, names rank 1 and exits with CODE.
//! - `faults flood [MESSAGES]`: rank 1 sends MESSAGES (20,000 by default) 100-byte messages
//!   with tag 1 that rank 0 does not receive yet, then one with tag 2, which rank 0 waits
//!   for before it takes the others in order. Under `RMPI_UNEXPECTED_BYTES` smaller than
//!   what the flood holds, rank 0 cuts rank 1 off and fails with an error saying so,
//!   instead of growing without bound.
//! - `faults stdin`: the ranks pass a token around a ring, then rank 0 reads a line from
//!   its standard input (which `rmpirun` forwards) and broadcasts it, and the ring runs again.
//!   Meanwhile anything may connect to the ranks' ports: strangers are turned away.

use std::io::BufRead;

use rmpi::prelude::*;

async fn ring(comm: &Comm, round: u64) -> rmpi::Result<u64> {
    let (rank, size) = (comm.rank(), comm.size());
    let (left, right) = ((rank + size - 1) % size, (rank + 1) % size);
    if rank == 0 {
        comm.send(&round, right, 0).await?;
        comm.recv(left, 0).await
    } else {
        let token: u64 = comm.recv(left, 0).await?;
        comm.send(&(token + rank as u64), right, 0).await?;
        Ok(token)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = rmpi::run(|comm| async move {
        let rank = comm.rank();
        match args.first().map(String::as_str) {
            Some("exit") => {
                let code: i32 = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(3);
                if rank == 1 {
                    std::process::exit(code);
                }
                let _: u64 = comm.recv(1, 0).await?;
                Ok(())
            }
            Some("stall") => {
                println!("rank {rank} pid {}", std::process::id());
                let from = if rank == 1 { 0 } else { 1 };
                let _: u64 = comm.recv(from, 99).await?;
                Ok(())
            }
            Some("collective") => {
                let values = (rank == 2).then(|| vec![7u32; 3]);
                let mine: u32 = comm.scatter(values, 2).await?;
                println!("rank {rank} got {mine}");
                Ok(())
            }
            Some("orphan") => {
                println!("rank {rank} pid {}", std::process::id());
                if rank % 2 == 0 {
                    let mut x = 0u64;
                    loop {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                }
                let _: u64 = comm.recv(ANY_SOURCE, 99).await?;
                Ok(())
            }
            Some("abort") => {
                println!("rank {rank} pid {}", std::process::id());
                if rank == 1 {
                    let code = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(7);
                    // Let the others get busy or start waiting first.
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    comm.abort(code);
                }
                if rank % 2 == 0 {
                    let mut x = 0u64;
                    loop {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                }
                let _: u64 = comm.recv(0, 99).await?;
                Ok(())
            }
            Some("flood") => {
                let messages: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
                if rank == 1 {
                    for i in 0..messages {
                        comm.send_buf(&[i; 25], 0, 1).await?;
                    }
                    comm.send(&messages, 0, 2).await?;
                } else if rank == 0 {
                    let sent: u32 = comm.recv(1, 2).await?;
                    for i in 0..sent {
                        let (got, _) = comm.recv_buf::<u32>(1, 1).await?;
                        assert_eq!(got, [i; 25], "message {i} of the flood");
                    }
                    println!("rank 0 received all {sent} messages of the flood");
                }
                Ok(())
            }
            Some("stdin") => {
                let first = ring(&comm, 0).await?;
                let line = if rank == 0 {
                    println!("waiting for a line on stdin");
                    // Read on a thread of its own: a blocking read on the rank's runtime
                    // would stop it from turning strangers away meanwhile.
                    let read = tokio::task::spawn_blocking(|| {
                        let mut line = String::new();
                        std::io::stdin().lock().read_line(&mut line).map(|_| line)
                    });
                    let line = read.await.map_err(|e| {
                        rmpi::Error::InvalidArgument(format!("stdin reader: {e}"))
                    })??;
                    Some(line.trim().to_owned())
                } else {
                    None
                };
                let line: String = comm.bcast(line, 0).await?;
                let second = ring(&comm, 1000).await?;
                println!("rank {rank}: tokens {first} and {second}, line {line:?}");
                Ok(())
            }
            _ => Err(rmpi::Error::InvalidArgument(
                "usage: faults exit CODE | stall | collective | orphan | abort [CODE] | stdin"
                    .into(),
            )),
        }
    });
    if let Err(error) = outcome {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
