//! Sending an object with the blocking API, twin of `send_recv_object`:
//! `cargo rmpirun -n 2 --example blocking_send_recv_object`.
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

use std::ops::Range;

fn main() -> rmpi::Result<()> {
    let universe = rmpi::blocking::init()?;
    let comm = universe.world();
    let rank = comm.rank();
    if rank == 0 {
        let data = 0..10;
        for dest in 1..comm.size() {
            comm.send(&data, dest, 11)?;
            println!("process {rank} send range({}, {})...", data.start, data.end);
        }
    } else {
        let data: Range<i32> = comm.recv(0, 11)?;
        println!("process {rank} recv range({}, {})...", data.start, data.end);
    }
    Ok(())
}
