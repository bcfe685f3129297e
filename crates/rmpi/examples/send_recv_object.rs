//! Sending a Python-style object (here a `range`) with `send`/`recv`, like mpi4py's
//! pickle-based lowercase calls: `cargo rmpirun -n 2 --example send_recv_object`.
//!
//! ```python
//! if rank == 0:
//!     data = range(10)
//!     comm.send(data, dest=1, tag=11)
//!     print("process {} send {}...".format(rank, data))
//! else:
//!     data = comm.recv(source=0, tag=11)
//!     print("process {} recv {}...".format(rank, data))
//! ```
//!
//! With more than two ranks the original leaves ranks 2.. waiting forever; here rank 0
//! sends to every other rank.

use std::ops::Range;

/// Prints a range the way Python does.
fn py(range: &Range<i32>) -> String {
    format!("range({}, {})", range.start, range.end)
}

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let rank = comm.rank();
        if rank == 0 {
            let data = 0..10;
            for dest in 1..comm.size() {
                comm.send(&data, dest, 11).await?;
                println!("process {rank} send {}...", py(&data));
            }
        } else {
            let data: Range<i32> = comm.recv(0, 11).await?;
            println!("process {rank} recv {}...", py(&data));
        }
        Ok(())
    })
}
