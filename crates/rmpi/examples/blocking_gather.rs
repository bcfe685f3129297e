//! Gather with the blocking API, twin of `gather`:
//! `cargo rmpirun -n 4 --example blocking_gather`.
//!
//! ```python
//! send_data = rank
//! print "process {} send data {} to root...".format(rank, send_data)
//! recv_data = comm.gather(send_data, root=0)
//! if rank == 0:
//!     print "process {} gather all data {}...".format(rank, recv_data)
//! ```

fn main() -> rmpi::Result<()> {
    rmpi::blocking::run(|comm| {
        let rank = comm.rank();
        println!("process {rank} send data {rank} to root...");
        if let Some(recv_data) = comm.gather(rank, 0)? {
            println!("process {rank} gather all data {recv_data:?}...");
        }
        Ok(())
    })
}
