//! Sending a typed buffer with `send_buf`/`recv_into`, like mpi4py's uppercase `Send`/`Recv`
//! on a numpy array (no serialization; the bytes go as they are):
//! `cargo rmpirun -n 2 --example send_recv_buffer`.
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
//!
//! With more than two ranks the original leaves ranks 2.. waiting forever; here rank 0
//! sends to every other rank.

/// Prints an array the way numpy does: `[0 1 2]`.
fn numpy(data: &[i32]) -> String {
    let items: Vec<String> = data.iter().map(i32::to_string).collect();
    format!("[{}]", items.join(" "))
}

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let rank = comm.rank();
        if rank == 0 {
            let data: Vec<i32> = (0..10).collect();
            for dest in 1..comm.size() {
                comm.send_buf(&data, dest, 11).await?;
            }
            println!("process {rank} Send buffer-like array {}...", numpy(&data));
        } else {
            let mut data = vec![0i32; 10];
            comm.recv_into(&mut data, 0, 11).await?;
            println!("process {rank} recv buffer-like array {}...", numpy(&data));
        }
        Ok(())
    })
}
