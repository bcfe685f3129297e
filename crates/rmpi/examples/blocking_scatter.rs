//! Scatter with the blocking API, twin of `scatter`:
//! `cargo rmpirun -n 4 --example blocking_scatter`.
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
//! The root scatters `range(size)`, which is the original at 10 ranks.

fn main() -> rmpi::Result<()> {
    let universe = rmpi::blocking::init()?;
    let comm = universe.world();
    let (rank, size) = (comm.rank(), comm.size());
    let send_data = if rank == 0 {
        println!("process {rank} scatter data range(0, {size}) to other processes");
        Some((0..size).collect::<Vec<usize>>())
    } else {
        None
    };
    let recv_data: usize = comm.scatter(send_data, 0)?;
    println!("process {rank} recv data {recv_data}...");
    Ok(())
}
