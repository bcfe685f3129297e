//! Broadcast: `cargo rmpirun -n 4 --example bcast`.
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

use rmpi::prelude::*;

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let rank = comm.rank();
        let data = if rank == 0 {
            let data = 0..10;
            println!("process {rank} bcast data range(0, 10) to other processes");
            Some(data)
        } else {
            None
        };
        let data: Range<i32> = comm.bcast(data, 0).await?;
        println!(
            "process {rank} recv data range({}, {})...",
            data.start, data.end
        );
        Ok(())
    })
}
