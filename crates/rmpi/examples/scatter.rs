//! Scatter: `cargo rmpirun -n 4 --example scatter`.
//!
//! ```python
//! if rank == 0:
//!     send_data = range(10)
//!     print("process {} scatter data {} to other processes".format(rank, send_data))
//! else:
//!     send_data = None
//! recv_data = comm.scatter(send_data, root=0)
//! print("process {} recv data {}...".format(rank, recv_data))
//! ```
//!
//! Scatter hands one element to each rank, so the original runs only with 10 ranks; here the
//! root scatters `range(size)`, which is the original at 10 ranks.

use rmpi::prelude::*;

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        let send_data = if rank == 0 {
            println!("process {rank} scatter data range(0, {size}) to other processes");
            Some((0..size).collect::<Vec<usize>>())
        } else {
            None
        };
        let recv_data: usize = comm.scatter(send_data, 0).await?;
        println!("process {rank} recv data {recv_data}...");
        Ok(())
    })
}
