//! A token passed once around all ranks, each adding its rank:
//! `cargo rmpirun -n 4 --example ring`.

fn main() -> rmpi::Result<()> {
    rmpi::run(|comm| async move {
        let (rank, size) = (comm.rank(), comm.size());
        let (left, right) = ((rank + size - 1) % size, (rank + 1) % size);
        if rank == 0 {
            comm.send(&0u64, right, 0).await?;
            let token: u64 = comm.recv(left, 0).await?;
            let expected: u64 = (0..size as u64).sum();
            println!("process 0 received token {token} from process {left} (expected {expected})");
        } else {
            let token: u64 = comm.recv(left, 0).await?;
            println!("process {rank} received token {token} from process {left}");
            comm.send(&(token + rank as u64), right, 0).await?;
        }
        Ok(())
    })
}
