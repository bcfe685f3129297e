//! Gather: `cargo rmpirun -n 4 --example gather`.
//!
//! ```python
//! send_data = rank
//! print "process {} send data {} to root...".format(rank, send_data)
//! recv_data = comm.gather(send_data, root=0)
//! if rank == 0:
//!     print "process {} gather all data {}...".format(rank, recv_data)
//! ```

use rmpi::prelude::*;

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let rank = comm.rank();
        let send_data = rank;
        println!("process {rank} send data {send_data} to root...");
        if let Some(recv_data) = comm.gather(send_data, 0).await? {
            println!("process {rank} gather all data {recv_data:?}...");
        }
        Ok(())
    })
}
