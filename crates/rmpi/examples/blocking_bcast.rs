//! Broadcast with the blocking API, twin of `bcast`:
//! `cargo rmpirun -n 4 --example blocking_bcast`.
//!
//! ```python
//! if rank == 0:
//!     data = range(10)
//!     print("process {} bcast data {} to other processes".format(rank, data))
//! else:
//!     data = None
//! data = comm.bcast(data, root=0)
//! print("process {} recv data {}...".format(rank, data))
//! ```

use std::ops::Range;

fn main() -> rmpi::Result<()> {
    let universe = rmpi::blocking::init()?;
    let comm = universe.world();
    let rank = comm.rank();
    let data = if rank == 0 {
        println!("process {rank} bcast data range(0, 10) to other processes");
        Some(0..10)
    } else {
        None
    };
    let data: Range<i32> = comm.bcast(data, 0)?;
    println!(
        "process {rank} recv data range({}, {})...",
        data.start, data.end
    );
    Ok(())
}
