//! Programs that deadlock, to see `rmpirun`'s deadlock report:
//! `cargo rmpirun -n 3 --deadlock-after 2 --example deadlock [ring|collective]`.
//!
//! - `ring` (the default): every rank receives from the next rank before it sends to it,
//!   so each waits for the next, all the way round: a cycle of every rank.
//! - `collective`: rank 0 receives from rank 1 while the others enter a barrier that rank 0
//!   never joins.
//! - `slow`: no deadlock: rank 0 computes for three seconds, with a receive pending in a
//!   task of its own, before it sends to the others, who wait for it. No report comes.
//!
//! The report names each rank, what it waits for, where this program called it, and the
//! cycle; the job then goes on waiting until `--timeout` or Ctrl-C ends it.

use rmpi::prelude::*;

fn main() -> rmpi::Result<()> {
    let pattern = std::env::args().nth(1).unwrap_or_else(|| "ring".into());
    rmpi::run(|world| async move {
        let (rank, size) = (world.rank(), world.size());
        let next = (rank + 1) % size;
        match pattern.as_str() {
            "ring" => {
                let token: u64 = world.recv(next, 7).await?;
                world.send(&token, next, 7).await?;
            }
            "collective" if rank == 0 => {
                let _: u64 = world.recv(1, 7).await?;
            }
            "collective" => world.barrier().await?,
            "slow" if rank == 0 => {
                let reply = tokio::spawn(world.recv::<u64>(next, 8));
                tokio::task::yield_now().await; // the reply's receive is posted and waits
                let started = std::time::Instant::now();
                let mut work = 0u64;
                while started.elapsed() < std::time::Duration::from_secs(3) {
                    work = std::hint::black_box(work.wrapping_mul(31).wrapping_add(1));
                }
                for other in 1..size {
                    world.send(&work, other, 7).await?;
                }
                let echoed = reply.await.expect("the reply task ends")?;
                assert_eq!(echoed, work);
                println!("no deadlock");
            }
            "slow" => {
                let work: u64 = world.recv(0, 7).await?;
                if rank == 1 {
                    world.send(&work, 0, 8).await?;
                }
            }
            other => {
                return Err(rmpi::Error::InvalidArgument(format!(
                    "unknown pattern {other:?}: ring, collective or slow"
                )))
            }
        }
        Ok(())
    })
}
