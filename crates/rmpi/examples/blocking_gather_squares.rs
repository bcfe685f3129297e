//! Gather of squares with the blocking API, twin of `gather_squares`:
//! `cargo rmpirun -n 4 --example blocking_gather_squares`.
//!
//! ```python
//! data = (rank+1)**2
//! data = comm.gather(data, root=0)
//! if rank == 0:
//!     print ("rank = %s " %rank + "...receiving data to other process")
//!     for i in range(1, size):
//!         value = data[i]
//!         print(" process %s receiving %s from process %s" % (rank , value , i))
//! ```

fn main() -> rmpi::Result<()> {
    let universe = rmpi::blocking::init()?;
    let comm = universe.world();
    let rank = comm.rank();
    let data = comm.gather((rank + 1).pow(2), 0)?;
    if let Some(data) = data {
        println!("rank = {rank} ...receiving data to other process");
        for (i, value) in data.iter().enumerate().skip(1) {
            println!(" process {rank} receiving {value} from process {i}");
        }
    }
    Ok(())
}
