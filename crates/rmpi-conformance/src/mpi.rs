//! The check that MPI works through [`Comm`] on a transport.

use rmpi_collectives::{Collectives, Sum};
use rmpi_core::{wait_all, Comm, Error, Result, ANY_SOURCE, ANY_TAG};

use crate::{job, Backend};

/// MPI through [`Comm`] on the transport: a ring of objects, a synchronous send, wildcard
/// receives of every other rank's message, a 3 MiB object, a bcast and an allreduce.
///
/// ```
/// # use rmpi_conformance::{Backend, Joining};
/// # struct Local;
/// # impl Backend for Local {
/// #     fn join(&self, bootstrap: rmpi::transport::InProcess) -> Joining {
/// #         Box::pin(async move { rmpi_conformance::local_endpoint(&bootstrap) })
/// #     }
/// # }
/// rmpi_conformance::mpi_on_top(&Local);
/// ```
pub fn mpi_on_top(backend: &impl Backend) {
    let check = "mpi_on_top";
    let size = 4;
    let results = job(backend, check, size, |_, transport| async move {
        let comm = Comm::from_transport(transport);
        let result: Result<()> = async {
            let (rank, size) = (comm.rank(), comm.size());
            let right = (rank + 1) % size;
            let left = (rank + size - 1) % size;
            let sent = comm.isend(&format!("from {rank}"), right, 1);
            let heard: String = comm.recv(left, 1).await?;
            sent.await?;
            check_eq(&heard, &format!("from {left}"), "ring")?;
            if rank == 0 {
                comm.ssend(&7u64, 1, 2).await?;
            } else if rank == 1 {
                check_eq(&comm.recv::<u64>(0, 2).await?, &7, "ssend")?;
            }
            if rank == 0 {
                let mut from = Vec::new();
                for _ in 1..size {
                    let (value, status) =
                        comm.recv_with_status::<usize>(ANY_SOURCE, ANY_TAG).await?;
                    check_eq(&value, &status.source, "wildcard")?;
                    from.push(value);
                }
                from.sort();
                check_eq(&from, &(1..size).collect::<Vec<_>>(), "wildcards")?;
            } else {
                comm.send(&rank, 0, 3).await?;
            }
            // A window of typed receives waited for together, then one whose message is
            // not a whole number of its elements.
            if rank == 0 {
                for i in 0..16u32 {
                    comm.send_buf(&[i, i * i], 1, 5).await?;
                }
                comm.send_buf(&[1u8, 2, 3, 4, 5, 6], 1, 6).await?;
            } else if rank == 1 {
                let mut inbox = [[0u32; 2]; 16];
                let window: Vec<_> = inbox.iter_mut().map(|b| comm.irecv_into(b, 0, 5)).collect();
                for status in wait_all(window).await? {
                    check_eq(&(status.source, status.bytes), &(0, 8), "window status")?;
                }
                let want: Vec<[u32; 2]> = (0..16).map(|i| [i, i * i]).collect();
                check_eq(&inbox.to_vec(), &want, "window")?;
                let mut odd = [0u32; 2];
                match wait_all([comm.irecv_into(&mut odd, 0, 6)]).await {
                    Err(Error::ElementMismatch {
                        source_rank: 0,
                        message_bytes: 6,
                        element_bytes: 4,
                    }) => {}
                    other => check_eq(
                        &format!("{other:?}"),
                        &"ElementMismatch".into(),
                        "6 bytes as u32",
                    )?,
                }
            }
            let big: Vec<u8> = (0..3 << 20).map(|i: usize| (i % 251) as u8).collect();
            if rank == 2 {
                comm.send(&big, 3, 4).await?;
            } else if rank == 3 {
                check_eq(&comm.recv::<Vec<u8>>(2, 4).await?, &big, "3 MiB object")?;
            }
            let value: u32 = comm.bcast((rank == 1).then_some(41), 1).await?;
            check_eq(&value, &41, "bcast")?;
            let total = comm.allreduce(rank as u64, Sum).await?;
            check_eq(&total, &((size * (size - 1) / 2) as u64), "allreduce")
        }
        .await;
        comm.finalize().await.and(result)
    });
    for (rank, result) in results.into_iter().enumerate() {
        if let Err(error) = result {
            panic!("{check}: rank {rank}: {error}");
        }
    }
}

fn check_eq<T: PartialEq + std::fmt::Debug>(got: &T, want: &T, what: &str) -> Result<()> {
    match got == want {
        true => Ok(()),
        false => Err(Error::InvalidArgument(format!(
            "{what}: got {got:?}, expected {want:?}"
        ))),
    }
}
