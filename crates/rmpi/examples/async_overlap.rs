//! Awaiting communication overlaps with other work, as `asyncio` tasks overlap their sleeps:
//! `cargo rmpirun -n 2 --example async_overlap`.
//!
//! ```python
//! async def myfun(i):
//!     print('start {}th'.format(i))
//!     await asyncio.sleep(1)
//!     print('finish {}th'.format(i))
//!
//! loop.run_until_complete(asyncio.gather(*(myfun(i) for i in range(10))))
//! ```
//!
//! Here each of ten tasks on every rank waits for a message from its left neighbour that
//! arrives a second later (the neighbour's task works for a second before sending it). The
//! ten waits overlap, so each rank is done in about one second, not ten.

use std::time::{Duration, Instant};

async fn myfun(comm: rmpi::Comm, i: i32) -> rmpi::Result<()> {
    let (rank, size) = (comm.rank(), comm.size());
    let (left, right) = ((rank + size - 1) % size, (rank + 1) % size);
    println!("start {i}th");
    let incoming = comm.irecv::<i32>(left, i); // posted now, completed later
    tokio::time::sleep(Duration::from_secs(1)).await; // a second of "work"
    comm.send(&i, right, i).await?;
    let value = incoming.await?;
    assert_eq!(value, i);
    println!("finish {i}th");
    Ok(())
}

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..10 {
            tasks.spawn(myfun(comm.clone(), i));
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| rmpi::Error::InvalidArgument(format!("task failed: {e}")))??;
        }
        println!(
            "10 tasks took {:.1} s; one after another they would take 10 s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
