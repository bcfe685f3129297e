//! The gather-of-squares seed program, run with its ranks as threads of one process.
//!
//! ```python
//! data = comm.gather((rank + 1) ** 2, root=0)
//! if rank == 0:
//!     for i in range(1, size):
//!         print(" process %s receiving %s from process %s" % (rank, data[i], i))
//! ```
//!
//! Run: `cargo run -p rmpi --example threads_gather -- 4` (the argument is the rank count).
//! The same program as processes: `cargo rmpirun -n 4 --example gather_squares`.

use rmpi::prelude::*;

fn main() {
    let ranks = match std::env::args().nth(1).map(|n| n.parse::<usize>()) {
        None => 4,
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: threads_gather [RANKS]  (RANKS is a positive number)");
            std::process::exit(2);
        }
    };
    let outcomes = rmpi::local::run(ranks, |comm| async move {
        let rank = comm.rank();
        let data = comm.gather((rank + 1).pow(2), 0).await?;
        if let Some(data) = data {
            println!("rank = {rank} ...receiving data to other process");
            for (source, value) in data.iter().enumerate().skip(1) {
                println!(" process {rank} receiving {value} from process {source}");
            }
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
