//! Sending a typed buffer with the blocking API, twin of `send_recv_buffer`:
//! `cargo rmpirun -n 2 --example blocking_send_recv_buffer`.
//!
//! ```python
//! if rank == 0:
//!     data = np.arange(10, dtype='i')
//!     comm.Send([data, MPI.INT], dest=1, tag=11)
//!     print("process {} Send buffer-like array {}...".format(rank, data))
//! else:
//!     data = np.empty(10, dtype='i')
//!     comm.Recv([data, MPI.INT], source=0, tag=11)
//!     print("process {} recv buffer-like array {}...".format(rank, data))
//! ```

/// Prints an array the way numpy does: `[0 1 2]`.
fn numpy(data: &[i32]) -> String {
    let items: Vec<String> = data.iter().map(i32::to_string).collect();
    format!("[{}]", items.join(" "))
}

fn main() -> rmpi::Result<()> {
    let universe = rmpi::blocking::init()?;
    let comm = universe.world();
    let rank = comm.rank();
    if rank == 0 {
        let data: Vec<i32> = (0..10).collect();
        for dest in 1..comm.size() {
            comm.send_buf(&data, dest, 11)?;
        }
        println!("process {rank} Send buffer-like array {}...", numpy(&data));
    } else {
        let mut data = vec![0i32; 10];
        comm.recv_into(&mut data, 0, 11)?;
        println!("process {rank} recv buffer-like array {}...", numpy(&data));
    }
    Ok(())
}
